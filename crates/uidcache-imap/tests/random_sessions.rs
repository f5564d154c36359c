//! Thousands of random sessions from the simulated server: the cache's dump must equal the
//! independent model's, and replaying in chunks split at commit points must change nothing
//! but, at most, lower HIGHESTMODSEQ (a continuing replay starts held, format-spec 9.1);
//! the stored HIGHESTMODSEQ never covers an expunge the server has not reported.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]

mod common;

use uidcache_imap::sim::Rng;

const SESSIONS: u64 = 2000;

#[test]
fn cache_matches_model() {
    let tmp = tempfile::tempdir().unwrap();
    for seed in 0..SESSIONS {
        let text = common::random_session(seed);
        let expected =
            common::model_dump(&text).unwrap_or_else(|e| panic!("seed {seed}: model: {e}\n{text}"));
        let dir = tmp.path().join(format!("s{seed}"));
        let got =
            common::replay_dump(&dir, &text).unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text}"));
        assert_eq!(got, expected, "seed {seed}\n{text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn chunks_split_at_commit_points_give_the_same_dump() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(99);
    for seed in 0..SESSIONS / 4 {
        let text = common::random_session(seed);
        let whole = common::replay_dump(&tmp.path().join(format!("w{seed}")), &text).unwrap();
        let points = common::release_points(&text);
        let lines: Vec<&str> = text.lines().collect();
        let dir = tmp.path().join(format!("c{seed}"));
        let mut start = 0;
        for p in points {
            if rng.chance(30) {
                let chunk = lines[start..p].join("\n") + "\n";
                common::replay_dump(&dir, &chunk).unwrap();
                start = p;
            }
        }
        let rest = lines[start..].join("\n") + "\n";
        let chunked = common::replay_dump(&dir, &rest).unwrap();
        // A replay that continues a cache with records cannot know that a plain SELECT's
        // records were refetched since, so it holds the stored HIGHESTMODSEQ (format-spec
        // 9.1): it may end lower than one replay of the whole, never higher; all else agrees.
        let hms = |d: &str| -> u64 {
            let line = d.lines().nth(2).unwrap();
            line.strip_prefix("highestmodseq ")
                .unwrap()
                .parse()
                .unwrap_or(0)
        };
        assert!(
            hms(&chunked) <= hms(&whole),
            "seed {seed}\n{chunked}\n{whole}"
        );
        let rest_of = |d: &str| -> Vec<String> {
            d.lines()
                .filter(|l| !l.starts_with("highestmodseq"))
                .map(str::to_string)
                .collect()
        };
        assert_eq!(rest_of(&chunked), rest_of(&whole), "seed {seed}");
    }
}

/// The safe HIGHESTMODSEQ rule against a server that holds expunges back during FETCH while
/// it reports other clients' flag changes with higher MODSEQs (Cyrus ends such a FETCH with a
/// plain OK, Dovecot with a lower `[HIGHESTMODSEQ]`): after every commit, the stored value
/// never exceeds the MODSEQ up to which the server has reported every expunge.
#[test]
fn stored_highestmodseq_never_covers_an_unreported_expunge() {
    use uidcache_imap::sim::SimServer;
    use uidcache_imap::Session;
    let tmp = tempfile::tempdir().unwrap();
    let mut held_back = 0;
    for seed in 0..400u64 {
        let mut rng = Rng::new(seed ^ 0x5afe);
        let mut server = SimServer::new(seed, 1 + rng.below(30) as u32);
        let dir = tmp.path().join(format!("h{seed}"));
        let mut cache = common::open(&dir);
        let mut session = Session::new();
        let mut out = Vec::new();
        server.connect(&mut out, "c", rng.chance(50));
        server.select(&mut out, "cs", None);
        let mut fed = 0;
        for k in 0..25 {
            let tag = format!("c{k}");
            let count = server.messages.len() as u32;
            let a = 1 + rng.below(u64::from(count.max(1))) as u32;
            let b = (a + rng.below(6) as u32).min(count);
            match rng.below(5) {
                _ if a > count => server.noop(&mut out, &tag, 1),
                0 | 1 => server.fetch_with_changes(&mut out, &tag, a, b, rng.chance(30)),
                2 => server.fetch(&mut out, &tag, a, b),
                3 => server.uid_search(&mut out, &tag, a, Some(b), rng.chance(50), false),
                _ => server.noop(&mut out, &tag, rng.below(3) as u32),
            }
            if !server.held.is_empty() {
                held_back += 1;
            }
            fed = feed(&mut session, &mut cache, &out, fed, seed);
            let stored = cache.view().highestmodseq().unwrap_or(0);
            assert!(
                stored <= server.reported_modseq(),
                "seed {seed}: HIGHESTMODSEQ {stored} covers an expunge not yet reported \
                 (safe up to {})\n{}",
                server.reported_modseq(),
                out.join("\n")
            );
        }
        drop(cache);
        std::fs::remove_dir_all(&dir).unwrap();
    }
    assert!(
        held_back > 400,
        "only {held_back} commands left an expunge held back"
    );
}

/// The hold (format-spec 9.1) against the simulated server: a first connection learns the
/// mailbox, another client changes flags while we are away, and a later connection SELECTs
/// without QRESYNC, then fetches some ranges, NOOPs, and sometimes catches up with
/// `FETCH 1:* (FLAGS) (CHANGEDSINCE m)`. After every commit, every cached record whose
/// flags differ from the server's has a MODSEQ on the server above the stored
/// HIGHESTMODSEQ: the next QRESYNC from it reports the change. A final QRESYNC reconnect
/// then leaves no record stale.
#[test]
fn stored_highestmodseq_never_covers_a_flag_change_it_missed() {
    use std::collections::BTreeMap;
    use uidcache_imap::sim::SimServer;
    use uidcache_imap::Session;
    let tmp = tempfile::tempdir().unwrap();
    let mut caught_up = 0;
    for seed in 0..300u64 {
        let mut rng = Rng::new(seed ^ 0xf1a9);
        let mut server = SimServer::new(seed, 1 + rng.below(30) as u32);
        let dir = tmp.path().join(format!("f{seed}"));
        let mut cache = common::open(&dir);
        let mut out = Vec::new();
        let mut fed = 0;
        // Feeds what the server said since the last call; checks the claim after it.
        let mut check = |session: &mut Session,
                         cache: &mut uidcache_engine::Cache,
                         out: &Vec<String>,
                         server: &SimServer| {
            fed = feed(session, cache, out, fed, seed);
            let view = cache.view();
            let stored = view.highestmodseq().unwrap_or(0);
            let mut cached = BTreeMap::new();
            for (_, m) in view.placed_messages().unwrap() {
                cached.insert(m.uid, m);
            }
            for m in view.unplaced_messages().unwrap() {
                cached.insert(m.uid, m);
            }
            for m in &server.messages {
                let Some(flags) = cached.get(&m.uid).and_then(|c| c.flags) else {
                    continue;
                };
                let mut have: Vec<&[u8]> = view.flag_names(flags).unwrap();
                have.sort_unstable();
                let mut want: Vec<&[u8]> = m.flags.iter().map(|f| f.as_bytes()).collect();
                want.sort_unstable();
                assert!(
                    have == want || m.modseq > stored,
                    "seed {seed}: HIGHESTMODSEQ {stored} claims UID {}'s flags, changed at {} \
                     and never fetched\n{}",
                    m.uid,
                    m.modseq,
                    out.join("\n")
                );
            }
        };
        server.connect(&mut out, "a", false);
        server.select(&mut out, "as", None);
        let n = server.messages.len() as u32;
        server.fetch(&mut out, "af", 1, n);
        server.noop(&mut out, "an", 0);
        check(&mut Session::new(), &mut cache, &out, &server);
        for _ in 0..1 + rng.below(4) {
            server.change_flags_one(None);
        }
        let mut session = Session::new();
        server.connect(&mut out, "b", false);
        server.select(&mut out, "bs", None);
        check(&mut session, &mut cache, &out, &server);
        let old = cache.view().highestmodseq();
        for k in 0..6 {
            let tag = format!("bx{k}");
            let count = server.messages.len() as u32;
            let a = 1 + rng.below(u64::from(count.max(1))) as u32;
            let b = (a + rng.below(4) as u32).min(count);
            match rng.below(4) {
                _ if a > count => server.noop(&mut out, &tag, 1),
                0 => server.fetch(&mut out, &tag, a, b),
                1 => server.noop(&mut out, &tag, rng.below(3) as u32),
                2 if rng.chance(50) => {
                    // The catch-up: every flag changed since the value held.
                    server.fetch_changed_since(&mut out, &tag, old.unwrap_or(0));
                    caught_up += 1;
                }
                _ => server.fetch_with_changes(&mut out, &tag, a, b, false),
            }
            check(&mut session, &mut cache, &out, &server);
        }
        // The reconnect the stored value is for.
        let param = uidcache_imap::qresync_param(&cache.view()).unwrap();
        let v = cache.view();
        let since = param
            .as_deref()
            .map(|p| (p, v.uidvalidity().unwrap(), v.highestmodseq().unwrap()));
        server.connect(&mut out, "c", since.is_some());
        server.select(&mut out, "cs", since);
        server.noop(&mut out, "cn", 0);
        check(&mut Session::new(), &mut cache, &out, &server);
        drop(cache);
        std::fs::remove_dir_all(&dir).unwrap();
    }
    assert!(caught_up > 50, "only {caught_up} catch-ups");
}

/// Feeds the transcript lines `out[from..]` through `session`, committing at each commit
/// point; returns how far the transcript is fed.
fn feed(
    session: &mut uidcache_imap::Session,
    cache: &mut uidcache_engine::Cache,
    out: &[String],
    from: usize,
    seed: u64,
) -> usize {
    let mut tx = cache.transaction().unwrap();
    for (i, line) in out[from..].iter().enumerate() {
        let pos = (from + i + 1) as u64;
        if let Some(c) = line.strip_prefix("C: ") {
            session.command(&mut tx, c.as_bytes()).unwrap();
        } else if let Some(r) = line.strip_prefix("S: ") {
            let step = session.response(&mut tx, pos, r.as_bytes());
            let step = step.unwrap_or_else(|e| panic!("seed {seed}: {e}\n{}", out.join("\n")));
            if step == uidcache_imap::Step::Commit {
                tx.commit().unwrap();
                tx = cache.transaction().unwrap();
            }
        }
    }
    drop(tx);
    out.len()
}
