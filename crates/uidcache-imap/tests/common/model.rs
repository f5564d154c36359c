//! An independent model of the replay contract (issue 6), written from its text: a vector
//! of slots for sequence numbers and a map of unplaced records, pruned globally after every
//! change. It understands the responses the simulated server writes.

use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq)]
pub struct Rec {
    pub uid: u32,
    pub flags: Option<BTreeSet<Vec<u8>>>,
    pub modseq: Option<u64>,
}

#[derive(Debug)]
struct Search {
    tag: String,
    a: Option<u32>,
    b: Option<u32>,
    esearch: bool,
    answer: Option<(Vec<u32>, u32)>,
    tainted: bool,
}

#[derive(Debug, Default)]
pub struct Model {
    pub uidvalidity: Option<u32>,
    pub uidnext: Option<u32>,
    pub hms: Option<u64>,
    pub exists: Option<u32>,
    pub slots: Vec<Option<Rec>>,
    pub unplaced: BTreeMap<u32, Rec>,
    select: Option<(String, bool, Vec<String>)>,
    searches: Vec<Search>,
    code: Option<Option<u64>>,
    max_fetch: Option<u64>,
    /// Tags of SELECT, NOOP, IDLE, CHECK, EXPUNGE and UID EXPUNGE not yet completed: the
    /// commands whose completion makes the FETCH MODSEQs seen so far safe to store.
    releasing: BTreeSet<String>,
    /// After a plain SELECT of a cache with records: the value from before it, which nothing
    /// may raise until a `FETCH 1:* (FLAGS) (CHANGEDSINCE m)` (m at most it) completes.
    hold: Option<Option<u64>>,
    /// The last SELECT's `[HIGHESTMODSEQ]`, stored when the hold ends.
    selected: Option<u64>,
    /// Outstanding flag catch-ups: tag and CHANGEDSINCE value.
    catch_ups: BTreeMap<String, u64>,
}

fn num(s: &str) -> Option<u32> {
    if s == "*" {
        None
    } else {
        s.parse().ok()
    }
}

fn uid_set(s: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for part in s.split(',') {
        let mut ab = part.split(':');
        let a: u32 = ab.next().unwrap().parse().unwrap();
        let b: u32 = ab.next().map_or(a, |b| b.parse().unwrap());
        out.extend(a.min(b)..=a.max(b));
    }
    out
}

fn paren(s: &str, key: &str) -> Option<String> {
    let i = s.find(&format!("{key} ("))? + key.len() + 2;
    let j = s[i..].find(')')? + i;
    Some(s[i..j].to_string())
}

impl Model {
    pub fn line(&mut self, line: &str) -> Result<(), String> {
        if line.trim().is_empty() || line.starts_with('#') {
            return Ok(());
        }
        if let Some(c) = line.strip_prefix("C: ") {
            let w: Vec<&str> = c.split(' ').collect();
            match (w.get(1).copied(), w.get(2).copied()) {
                (Some("NOOP" | "IDLE" | "CHECK" | "EXPUNGE"), _)
                | (Some("UID"), Some("EXPUNGE")) => {
                    self.releasing.insert(w[0].to_string());
                }
                (Some("FETCH"), Some("1:*")) | (Some("UID"), Some("FETCH"))
                    if c.contains("1:* ") && c.contains("FLAGS") =>
                {
                    let since = c
                        .split("(CHANGEDSINCE ")
                        .nth(1)
                        .map_or(0, |v| v.split(')').next().unwrap().parse().unwrap());
                    self.catch_ups.insert(w[0].to_string(), since);
                }
                (Some("SELECT"), _) => {
                    self.catch_ups.clear();
                    self.releasing.insert(w[0].to_string());
                    self.select = Some((w[0].to_string(), c.contains("(QRESYNC "), Vec::new()))
                }
                (Some("UID"), Some("SEARCH")) => {
                    let esearch = w.get(3) == Some(&"RETURN");
                    let range = w.last().unwrap();
                    let mut ab = range.split(':');
                    let a = num(ab.next().unwrap());
                    let b = ab.next().map_or(a, num);
                    self.searches.push(Search {
                        tag: w[0].into(),
                        a,
                        b,
                        esearch,
                        answer: None,
                        tainted: false,
                    });
                }
                _ => {}
            }
            return Ok(());
        }
        let s = line.strip_prefix("S: ").ok_or("bad line")?;
        let tagged = !s.starts_with("* ");
        if let Some((tag, _, held)) = &mut self.select {
            if tagged && s.starts_with(&format!("{tag} ")) {
                let (_, qresync, held) = self.select.take().unwrap();
                self.start(qresync, held)?;
            } else {
                held.push(s.to_string());
                return Ok(());
            }
        }
        self.response(s)
    }

    pub fn finish(&mut self) -> Result<(), String> {
        if let Some((_, qresync, held)) = self.select.take() {
            self.start(qresync, held)?;
        }
        Ok(())
    }

    fn start(&mut self, qresync: bool, held: Vec<String>) -> Result<(), String> {
        self.max_fetch = None;
        for s in held.iter().rev() {
            if let Some(v) = s.strip_prefix("* OK [UIDVALIDITY ") {
                let v: u32 = v.split(']').next().unwrap().parse().unwrap();
                if self.uidvalidity.is_some_and(|u| u != v) {
                    self.clear();
                }
                break;
            }
        }
        let had_records = self.slots.iter().any(Option::is_some) || !self.unplaced.is_empty();
        self.hold = (had_records && !qresync).then_some(self.hms);
        self.selected = held.iter().rev().find_map(|s| {
            s.strip_prefix("* OK [HIGHESTMODSEQ ")
                .map(|v| v.split(']').next().unwrap().parse().unwrap())
        });
        let mut vanished = BTreeSet::new();
        for s in &held {
            if let Some(set) = s.strip_prefix("* VANISHED (EARLIER) ") {
                vanished.extend(uid_set(set));
            }
        }
        let k = if qresync {
            self.slots.iter().take_while(|s| s.is_some()).count()
        } else {
            0
        };
        let mut prefix: Vec<Rec> = Vec::new();
        for slot in std::mem::take(&mut self.slots).into_iter().enumerate() {
            if let (i, Some(r)) = slot {
                if i < k {
                    if !vanished.contains(&r.uid) {
                        prefix.push(r);
                    }
                } else {
                    self.unplaced.insert(r.uid, r);
                }
            }
        }
        let first_exists = held.iter().position(|s| s.ends_with(" EXISTS"));
        let n = match first_exists {
            Some(i) => held[i][2..held[i].len() - 7].parse::<u32>().unwrap(),
            None => self.exists.unwrap_or(0),
        };
        if prefix.len() > n as usize {
            return Err("qresync count below the known run".into());
        }
        self.slots = prefix.into_iter().map(Some).collect();
        self.slots.resize(n as usize, None);
        if first_exists.is_some() || self.exists.is_some() {
            self.exists = Some(n);
        }
        self.prune();
        self.searches.clear();
        for (i, s) in held.iter().enumerate() {
            if Some(i) != first_exists {
                self.response(s)?;
            }
        }
        Ok(())
    }

    fn clear(&mut self) {
        self.slots = vec![None; self.slots.len()];
        self.unplaced.clear();
        self.hms = None;
        self.max_fetch = None;
        self.hold = None;
    }

    fn count(&self) -> u32 {
        self.slots.len() as u32
    }

    fn response(&mut self, s: &str) -> Result<(), String> {
        let w: Vec<&str> = s.split(' ').collect();
        if w[0] != "*" {
            let tag = w[0];
            let ok = w[1] == "OK";
            if ok {
                if let Some(v) = s.split("[HIGHESTMODSEQ ").nth(1) {
                    self.code = Some(Some(v.split(']').next().unwrap().parse().unwrap()));
                }
            }
            if let Some(i) = self.searches.iter().position(|x| x.tag == tag) {
                let x = self.searches.remove(i);
                if let (true, false, Some((uids, count))) = (ok, x.tainted, x.answer) {
                    let a = x.a.unwrap_or(count);
                    let b = x.b.unwrap_or(count);
                    let (lo, hi) = (a.min(b), a.max(b).min(count));
                    let expected = if lo > count || lo == 0 {
                        0
                    } else {
                        hi - lo + 1
                    };
                    // A count that does not fit: an expunge held back; not learned.
                    if uids.len() as u32 == expected {
                        for (k, uid) in uids.into_iter().enumerate() {
                            self.learn(lo + k as u32, uid, None, None)?;
                        }
                    }
                }
            }
            let releases = self.releasing.remove(tag) && ok;
            if let (Some(since), Some(cap)) = (self.catch_ups.remove(tag), self.hold) {
                if ok && since <= cap.unwrap_or(0) {
                    self.hold = None;
                    if self.hms == cap && self.selected.is_some_and(|n| cap.is_none_or(|c| n > c)) {
                        self.hms = self.selected;
                    }
                }
            }
            match self.code.take() {
                Some(v) => {
                    self.hms = match (v, self.hold) {
                        (Some(v), Some(cap)) => cap.map(|c| v.min(c)),
                        (v, _) => v,
                    };
                    self.max_fetch = None;
                }
                None if releases && self.hold.is_some() => self.max_fetch = None,
                None if releases => {
                    if let Some(m) = self.max_fetch.take() {
                        if self.hms.is_none_or(|h| m > h) {
                            self.hms = Some(m);
                        }
                    }
                }
                None => {}
            }
            return Ok(());
        }
        if let Some(v) = s.strip_prefix("* OK [UIDVALIDITY ") {
            let v: u32 = v.split(']').next().unwrap().parse().unwrap();
            if self.uidvalidity.is_some_and(|u| u != v) {
                self.clear();
            }
            self.uidvalidity = Some(v);
        } else if let Some(v) = s.strip_prefix("* OK [UIDNEXT ") {
            self.uidnext = Some(v.split(']').next().unwrap().parse().unwrap());
        } else if let Some(v) = s.strip_prefix("* OK [HIGHESTMODSEQ ") {
            self.code = Some(Some(v.split(']').next().unwrap().parse().unwrap()));
        } else if let Some(set) = s.strip_prefix("* VANISHED (EARLIER) ") {
            for uid in uid_set(set) {
                if let Some(i) = self
                    .slots
                    .iter()
                    .position(|r| r.as_ref().is_some_and(|r| r.uid == uid))
                {
                    self.slots[i] = None;
                }
                self.unplaced.remove(&uid);
            }
        } else if let Some(set) = s.strip_prefix("* VANISHED ") {
            for uid in uid_set(set) {
                self.vanish(uid);
            }
            self.taint();
        } else if w[1] == "SEARCH" {
            let count = self.count();
            let uids = w[2..].iter().map(|u| u.parse().unwrap()).collect();
            if let Some(x) = self
                .searches
                .iter_mut()
                .find(|x| !x.esearch && x.answer.is_none())
            {
                x.answer = Some((uids, count));
            }
        } else if w[1] == "ESEARCH" {
            let count = self.count();
            let tag = w[3].trim_matches(|c| c == '"' || c == ')');
            let uids = if w.len() > 6 {
                uid_set(w[6])
            } else {
                Vec::new()
            };
            if let Some(x) = self
                .searches
                .iter_mut()
                .find(|x| x.esearch && x.tag == tag && x.answer.is_none())
            {
                x.answer = Some((uids, count));
            }
        } else if w.len() >= 3 && w[2] == "EXISTS" {
            let n: u32 = w[1].parse().unwrap();
            if n < self.count() {
                return Err("exists shrank".into());
            }
            self.slots.resize(n as usize, None);
            self.exists = Some(n);
        } else if w.len() >= 3 && w[2] == "EXPUNGE" {
            let n: u32 = w[1].parse().unwrap();
            if n == 0 || n > self.count() {
                return Err("expunge range".into());
            }
            self.slots.remove(n as usize - 1);
            self.exists = Some(self.count());
            self.taint();
            self.prune();
        } else if w.len() >= 3 && w[2] == "FETCH" {
            let n: u32 = w[1].parse().unwrap();
            if n == 0 || n > self.count() {
                return Err("fetch range".into());
            }
            let uid = s
                .split("UID ")
                .nth(1)
                .map(|v| v.split([' ', ')']).next().unwrap().parse::<u32>().unwrap());
            let flags = paren(s, "FLAGS").map(|f| {
                f.split(' ')
                    .filter(|x| !x.is_empty() && *x != "\\Recent")
                    .map(|x| x.as_bytes().to_vec())
                    .collect::<BTreeSet<_>>()
            });
            let modseq = paren(s, "MODSEQ").map(|m| m.parse::<u64>().unwrap());
            if let Some(m) = modseq {
                self.max_fetch = Some(self.max_fetch.map_or(m, |x| x.max(m)));
            }
            // A flag change at an unknown position may be an unplaced record's: held again.
            let unknown = self.slots[n as usize - 1].is_none();
            if uid.is_none() && flags.is_some() && unknown && !self.unplaced.is_empty() {
                self.hold = Some(self.hold.unwrap_or(self.hms));
                self.catch_ups.clear();
            }
            match uid {
                Some(uid) => self.learn(n, uid, flags, modseq)?,
                None => {
                    if let Some(r) = self.slots[n as usize - 1].as_mut() {
                        if flags.is_some() {
                            r.flags = flags;
                        }
                        if modseq.is_some() {
                            r.modseq = modseq;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn taint(&mut self) {
        for x in &mut self.searches {
            x.tainted = true;
        }
    }

    fn learn(
        &mut self,
        seq: u32,
        uid: u32,
        flags: Option<BTreeSet<Vec<u8>>>,
        modseq: Option<u64>,
    ) -> Result<(), String> {
        let i = seq as usize - 1;
        if let Some(r) = &mut self.slots[i] {
            if r.uid != uid {
                return Err("conflict".into());
            }
            if flags.is_some() {
                r.flags = flags;
            }
            if modseq.is_some() {
                r.modseq = modseq;
            }
            return Ok(());
        }
        // Room for the sequence numbers between this and its known neighbours.
        for (j, r) in self.slots.iter().enumerate() {
            if let Some(r) = r {
                let ok = if j < i {
                    u64::from(uid) >= u64::from(r.uid) + (i - j) as u64
                } else {
                    u64::from(r.uid) >= u64::from(uid) + (j - i) as u64
                };
                if !ok {
                    return Err("uid order".into());
                }
            }
        }
        let mut rec = self.unplaced.remove(&uid).unwrap_or(Rec {
            uid,
            flags: None,
            modseq: None,
        });
        if flags.is_some() {
            rec.flags = flags;
        }
        if modseq.is_some() {
            rec.modseq = modseq;
        }
        self.slots[i] = Some(rec);
        self.prune();
        Ok(())
    }

    fn vanish(&mut self, uid: u32) {
        if let Some(i) = self
            .slots
            .iter()
            .position(|r| r.as_ref().is_some_and(|r| r.uid == uid))
        {
            self.slots.remove(i);
        } else {
            // The hole between the known neighbours that must hold it, if any.
            let below = self
                .slots
                .iter()
                .rposition(|r| r.as_ref().is_some_and(|r| r.uid < uid));
            let above = self
                .slots
                .iter()
                .position(|r| r.as_ref().is_some_and(|r| r.uid > uid));
            let lo = below.map_or(0, |b| b + 1);
            let hi = above.unwrap_or(self.slots.len());
            if lo < hi {
                self.unplaced.remove(&uid);
                self.slots.remove(lo);
            } else {
                self.unplaced.remove(&uid);
            }
        }
        self.exists = Some(self.count());
        self.prune();
    }

    /// Drops unplaced records that placed knowledge proves gone.
    fn prune(&mut self) {
        let n = self.slots.len();
        let uid_at = |i: usize| self.slots.get(i).and_then(|r| r.as_ref().map(|r| r.uid));
        let mut dead = Vec::new();
        for &u in self.unplaced.keys() {
            // Adjacent known pairs (including the ends) that enclose u.
            let mut gone = false;
            for g in 0..=n {
                let lower = if g == 0 {
                    Some(0u64)
                } else {
                    uid_at(g - 1).map(u64::from)
                };
                let upper = if g == n {
                    Some(1u64 << 32)
                } else {
                    uid_at(g).map(u64::from)
                };
                if let (Some(l), Some(h)) = (lower, upper) {
                    if l < u64::from(u) && u64::from(u) < h {
                        gone = true;
                    }
                }
            }
            if gone && self.exists.is_some() {
                dead.push(u);
            }
        }
        for u in dead {
            self.unplaced.remove(&u);
        }
    }

    pub fn dump(&self) -> String {
        let o = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
        let mut out = format!(
            "uidvalidity {}\nuidnext {}\nhighestmodseq {}\nexists {}\n",
            o(self.uidvalidity.map(u64::from)),
            o(self.uidnext.map(u64::from)),
            o(self.hms),
            o(self.exists.map(u64::from))
        );
        let rec = |r: &Rec| {
            let f = match &r.flags {
                None => "-".to_string(),
                Some(f) => format!(
                    "({})",
                    f.iter()
                        .map(|x| String::from_utf8_lossy(x).into_owned())
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            };
            format!("{} {} {}\n", r.uid, f, o(r.modseq))
        };
        for (i, r) in self.slots.iter().enumerate() {
            if let Some(r) = r {
                out += &format!("{} {}", i + 1, rec(r));
            }
        }
        for r in self.unplaced.values() {
            out += &format!("- {}", rec(r));
        }
        out
    }
}
