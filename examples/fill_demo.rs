//! The provisional "main job" from the README: fill a cache the way a mail client would,
//! churn it, reopen it, and check every record against an in-memory model.
//!
//! ```text
//! cargo run --release --example fill_demo [-- DIR] [--messages N]
//! ```
//!
//! DIR must not already hold a cache; without it a temporary directory is used and
//! removed at the end. N defaults to 1,000,000.

#![allow(
    clippy::indexing_slicing,
    reason = "the model's indices are in range by construction; `get` would add error paths that cannot happen"
)]

use std::error::Error;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use uidcache::{Cache, Durability, Removal, Stats, Update, View};

/// Messages per `UID SEARCH`/`FETCH` range, as a client walking a big mailbox asks for them.
const RANGE: u32 = 2_000;
const MAX_EXPUNGES: u32 = 10_000;
/// Expunges committed durably before switching to NoSync: enough to measure the durable
/// cost per commit without spending minutes in fsync on a slow disk.
const DURABLE_EXPUNGES: u32 = 1_000;
const STORM_PER_COMMIT: u32 = 1_000;

/// Flag lists as a server sends them: `\Recent` and duplicates included, which the cache
/// normalizes away.
const PALETTE: &[&[&[u8]]] = &[
    &[],
    &[b"\\Seen"],
    &[b"\\Seen", b"\\Flagged"],
    &[b"\\Answered", b"$Junk", b"\\Seen"],
    &[b"\\Recent", b"\\Seen"],
    &[b"\\Deleted", b"\\Deleted"],
    &[b"$Forwarded", b"\\Draft"],
];

/// A verification failure; `Debug` is the message because `main` prints errors with it.
struct Failed(String);

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for Failed {}

fn fail(msg: impl Into<String>) -> Box<dyn Error> {
    Box::new(Failed(msg.into()))
}

/// SplitMix64 with a fixed seed, so that two runs do the same work.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u32) -> u32 {
        (self.next() % u64::from(n.max(1))) as u32
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i as u32 + 1) as usize);
        }
    }
}

/// What the demo believes one message is.
#[derive(Clone, Copy)]
struct Entry {
    uid: u32,
    /// Index into `PALETTE`, or `None` when FLAGS were never set.
    flags: Option<usize>,
    modseq: Option<u64>,
    live: bool,
}

/// All messages ever created, in UID order, with a Fenwick tree over the live ones so that
/// "sequence number → entry" and back stay O(log n): a plain `Vec::remove` per expunge
/// would make the model, not the cache, dominate the timings at a million messages.
struct Model {
    entries: Vec<Entry>,
    tree: Vec<u32>,
    live: u32,
}

impl Model {
    fn new(uids: &[u32]) -> Model {
        let entries: Vec<Entry> = uids
            .iter()
            .map(|&uid| Entry {
                uid,
                flags: None,
                modseq: None,
                live: true,
            })
            .collect();
        let mut tree = vec![0u32; entries.len() + 1];
        for i in 1..tree.len() {
            tree[i] += 1;
            let parent = i + (i & i.wrapping_neg());
            if parent < tree.len() {
                tree[parent] += tree[i];
            }
        }
        Model {
            live: entries.len() as u32,
            entries,
            tree,
        }
    }

    /// Index of the entry at sequence number `seq` (1-based, among live entries).
    fn index_of_seq(&self, seq: u32) -> usize {
        let mut pos = 0;
        let mut rest = seq;
        let mut step = (self.tree.len() - 1).next_power_of_two();
        while step > 0 {
            if let Some(&count) = self.tree.get(pos + step) {
                if count < rest {
                    pos += step;
                    rest -= count;
                }
            }
            step /= 2;
        }
        pos
    }

    /// Sequence number of live entry `index`.
    fn seq_of_index(&self, index: usize) -> u32 {
        let mut i = index + 1;
        let mut sum = 0;
        while i > 0 {
            sum += self.tree[i];
            i &= i - 1;
        }
        sum
    }

    fn kill(&mut self, index: usize) {
        self.entries[index].live = false;
        self.live -= 1;
        let mut i = index + 1;
        while i < self.tree.len() {
            self.tree[i] -= 1;
            i += i & i.wrapping_neg();
        }
    }
}

fn normalized(flags: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = flags
        .iter()
        .filter(|f| !f.eq_ignore_ascii_case(b"\\Recent"))
        .map(|f| f.to_vec())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// FLAGS as IMAP writes them, for failure messages.
fn show_flags(flags: &Option<Vec<Vec<u8>>>) -> String {
    match flags {
        None => "unknown".to_owned(),
        Some(names) => {
            let names: Vec<_> = names.iter().map(|n| String::from_utf8_lossy(n)).collect();
            format!("({})", names.join(" "))
        }
    }
}

struct Args {
    dir: Option<PathBuf>,
    messages: u32,
}

const USAGE: &str = "usage: fill_demo [DIR] [--messages N]   (N >= 100, default 1000000)";

fn parse_args() -> Result<Args, Box<dyn Error>> {
    let mut args = Args {
        dir: None,
        messages: 1_000_000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let count = if arg == "--messages" {
            Some(
                it.next()
                    .ok_or_else(|| fail(format!("--messages needs a value\n{USAGE}")))?,
            )
        } else {
            arg.strip_prefix("--messages=").map(str::to_owned)
        };
        if let Some(count) = count {
            args.messages = count
                .replace('_', "")
                .parse()
                .map_err(|e| fail(format!("--messages {count}: {e}\n{USAGE}")))?;
        } else if arg == "-h" || arg == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        } else if arg.starts_with('-') || args.dir.is_some() {
            return Err(fail(format!("unexpected argument {arg:?}\n{USAGE}")));
        } else {
            args.dir = Some(PathBuf::from(arg));
        }
    }
    if args.messages < 100 {
        return Err(fail(format!("--messages must be at least 100\n{USAGE}")));
    }
    Ok(args)
}

/// One line of the timing table.
struct Row {
    step: String,
    ops: u64,
    commits: u64,
    fsyncs: u64,
    time: Duration,
}

/// Measures one step: time and the handle's counters before and after.
struct Step {
    start: Instant,
    before: Stats,
}

impl Step {
    fn begin(cache: &Cache) -> Step {
        Step {
            start: Instant::now(),
            before: cache.stats(),
        }
    }

    fn end(self, cache: &Cache, rows: &mut Vec<Row>, step: impl Into<String>, ops: u64) {
        let after = cache.stats();
        rows.push(Row {
            step: step.into(),
            ops,
            commits: after.commits - self.before.commits,
            fsyncs: after.fsyncs - self.before.fsyncs,
            time: self.start.elapsed(),
        });
    }
}

fn fmt_duration(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.1} ms", s * 1e3)
    } else if s >= 1e-6 {
        format!("{:.1} µs", s * 1e6)
    } else {
        format!("{} ns", d.as_nanos())
    }
}

fn fmt_count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn fmt_bytes(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / f64::from(1u32 << 20))
    } else if n >= 1 << 10 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{n} B")
    }
}

fn print_rows(rows: &[Row]) {
    println!(
        "{:<34} {:>10} {:>8} {:>8} {:>13} {:>10} {:>11}",
        "step", "ops", "commits", "fsyncs", "fsyncs/commit", "time", "per op"
    );
    println!("{}", "-".repeat(100));
    for r in rows {
        let per_commit = if r.commits == 0 {
            "-".to_owned()
        } else {
            format!("{:.2}", r.fsyncs as f64 / r.commits as f64)
        };
        let per_op = if r.ops == 0 {
            "-".to_owned()
        } else {
            fmt_duration(r.time / r.ops as u32)
        };
        println!(
            "{:<34} {:>10} {:>8} {:>8} {:>13} {:>10} {:>11}",
            r.step,
            fmt_count(r.ops),
            fmt_count(r.commits),
            fmt_count(r.fsyncs),
            per_commit,
            fmt_duration(r.time),
            per_op
        );
    }
}

/// Apparent sizes of the index, journal and block files.
#[derive(Default)]
struct DiskUsage {
    index: u64,
    journal: u64,
    block_files: u64,
    blocks: u64,
    other: u64,
}

fn disk_usage(dir: &Path) -> Result<DiskUsage, Box<dyn Error>> {
    let mut usage = DiskUsage::default();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        let name = entry.file_name();
        if name == uidcache::tools::BLOCKS_DIR && meta.is_dir() {
            for block in std::fs::read_dir(entry.path())? {
                usage.block_files += 1;
                usage.blocks += block?.metadata()?.len();
            }
        } else if name == uidcache::tools::INDEX_FILE {
            usage.index += meta.len();
        } else if name == uidcache::tools::JOURNAL_FILE {
            usage.journal += meta.len();
        } else {
            usage.other += meta.len();
        }
    }
    Ok(usage)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = parse_args()?;
    // Kept alive until the end of main: dropping it removes the directory.
    let mut temp = None;
    let dir = match args.dir {
        Some(dir) => {
            if dir.join(uidcache::tools::INDEX_FILE).exists() {
                return Err(fail(format!(
                    "{} already holds a cache; give an empty or new directory",
                    dir.display()
                )));
            }
            dir
        }
        None => temp.insert(tempfile::tempdir()?).path().to_path_buf(),
    };
    let n = args.messages;
    let storm = (n / 100).max(1);
    let expunges = MAX_EXPUNGES.min(n / 4);
    let durable_expunges = DURABLE_EXPUNGES.min(expunges);
    let vanished = (n / 100).max(1);
    println!(
        "fill_demo: {} messages in {}",
        fmt_count(u64::from(n)),
        dir.display()
    );
    println!();

    let mut rng = Rng(0xF111_DE30_0000_0001);
    // Strictly increasing UIDs with gaps, like a mailbox that has seen deletions.
    let mut uid = 0u32;
    let uids: Vec<u32> = (0..n)
        .map(|_| {
            uid += 1 + rng.below(3);
            uid
        })
        .collect();
    let uidnext = uid + 1;
    let mut model = Model::new(&uids);
    let mut rows = Vec::new();

    let step_start = Instant::now();
    let mut cache = Cache::open(&dir)?;
    rows.push(Row {
        step: "open (create)".into(),
        ops: 1,
        commits: 0,
        fsyncs: cache.stats().fsyncs,
        time: step_start.elapsed(),
    });

    let step = Step::begin(&cache);
    let mut tx = cache.transaction()?;
    tx.set_uidvalidity(Some(1_700_000_000))?;
    tx.set_uidnext(Some(uidnext))?;
    tx.set_exists(n)?;
    tx.commit()?;
    step.end(&cache, &mut rows, "SELECT: UIDVALIDITY, UIDNEXT, EXISTS", 1);

    let mut starts: Vec<u32> = (0..n.div_ceil(RANGE)).map(|r| r * RANGE).collect();
    rng.shuffle(&mut starts);
    let step = Step::begin(&cache);
    for start in &starts {
        let end = (start + RANGE).min(n);
        let mut tx = cache.transaction()?;
        tx.learn_range(start + 1, &uids[*start as usize..end as usize])?;
        tx.commit()?;
    }
    step.end(
        &cache,
        &mut rows,
        format!("fill: {RANGE}-UID ranges, random order"),
        u64::from(n),
    );

    let mut modseq = 1u64;
    let step = Step::begin(&cache);
    let mut done = 0;
    while done < storm {
        let mut tx = cache.transaction()?;
        for _ in 0..STORM_PER_COMMIT.min(storm - done) {
            let seq = rng.below(model.live) + 1;
            let pick = rng.below(PALETTE.len() as u32) as usize;
            modseq += 1;
            tx.update_seq(
                seq,
                Update {
                    flags: Some(PALETTE[pick]),
                    modseq: Some(modseq),
                },
            )?;
            let index = model.index_of_seq(seq);
            let entry = &mut model.entries[index];
            entry.flags = Some(pick);
            entry.modseq = Some(modseq);
            done += 1;
        }
        tx.set_highestmodseq(Some(modseq))?;
        tx.commit()?;
    }
    step.end(
        &cache,
        &mut rows,
        "flag storm: FLAGS+MODSEQ on 1%",
        u64::from(storm),
    );

    for (count, durability, label) in [
        (
            durable_expunges,
            Durability::Durable,
            "EXPUNGE, commit each, durable",
        ),
        (
            expunges - durable_expunges,
            Durability::NoSync,
            "EXPUNGE, commit each, NoSync",
        ),
    ] {
        let step = Step::begin(&cache);
        for _ in 0..count {
            let seq = rng.below(model.live) + 1;
            let mut tx = cache.transaction()?;
            tx.expunge(seq)?;
            tx.commit_with(durability)?;
            model.kill(model.index_of_seq(seq));
        }
        step.end(&cache, &mut rows, label, u64::from(count));
    }

    // A VANISHED response names UIDs, some of which this client already saw expunged.
    let mut picks: Vec<usize> = (0..uids.len()).collect();
    rng.shuffle(&mut picks);
    picks.truncate(vanished as usize);
    let step = Step::begin(&cache);
    let mut absent = 0;
    let mut tx = cache.transaction()?;
    for &index in &picks {
        let entry = model.entries[index];
        let got = tx.remove_uid(entry.uid)?;
        let want = if entry.live {
            Removal::Placed(model.seq_of_index(index))
        } else {
            Removal::Absent
        };
        if got != want {
            return Err(fail(format!(
                "remove_uid({}) returned {got:?}, expected {want:?}",
                entry.uid
            )));
        }
        if entry.live {
            model.kill(index);
        } else {
            absent += 1;
        }
    }
    tx.commit()?;
    step.end(
        &cache,
        &mut rows,
        "VANISHED: remove_uid 1%, one commit",
        u64::from(vanished),
    );

    // Before compaction the journal holds every commit since creation, so a reader's open
    // replays all of them: the path a crash before the next checkpoint would take.
    let start = Instant::now();
    let reader = Cache::open_read_only(&dir)?;
    rows.push(Row {
        step: "read-only open (journal replay)".into(),
        ops: cache.layout().journal_frames,
        commits: 0,
        fsyncs: reader.stats().fsyncs,
        time: start.elapsed(),
    });
    let start = Instant::now();
    let checked = verify(&reader.view(), &model, uidnext, modseq)?;
    rows.push(Row {
        step: "verify every record (reader)".into(),
        ops: checked,
        commits: 0,
        fsyncs: 0,
        time: start.elapsed(),
    });
    drop(reader);

    let before_compact = cache.layout();
    let step = Step::begin(&cache);
    let compacted = cache.compact()?;
    step.end(&cache, &mut rows, "compact", 1);
    let after_compact = cache.layout();
    let totals = cache.stats();
    drop(cache);

    let start = Instant::now();
    let cache = Cache::open(&dir)?;
    rows.push(Row {
        step: "reopen".into(),
        ops: 1,
        commits: 0,
        fsyncs: cache.stats().fsyncs,
        time: start.elapsed(),
    });

    let start = Instant::now();
    let checked = verify(&cache.view(), &model, uidnext, modseq)?;
    let layout = cache.layout();
    if layout.placed_records != u64::from(model.live) || layout.unplaced_records != 0 {
        return Err(fail(format!(
            "layout after reopen does not match the model ({} messages): {layout:?}",
            model.live
        )));
    }
    rows.push(Row {
        step: "verify every record".into(),
        ops: checked,
        commits: 0,
        fsyncs: 0,
        time: start.elapsed(),
    });

    print_rows(&rows);
    println!();
    println!(
        "durable commits for fill, flag storm, the first {} expunges and VANISHED; NoSync for the other {} expunges",
        fmt_count(u64::from(durable_expunges)),
        fmt_count(u64::from(expunges - durable_expunges))
    );
    println!(
        "VANISHED: {} UIDs, {} of them already expunged (Absent); compaction: {} blocks written, {} records rewritten, {} overlay entries folded",
        fmt_count(u64::from(vanished)),
        fmt_count(absent),
        fmt_count(compacted.blocks_written as u64),
        fmt_count(compacted.records_rewritten),
        fmt_count(compacted.overlay_folded as u64)
    );
    println!(
        "writer handle before reopen: {} commits, {} fsyncs, {} checkpoints, {} compactions (automatic ones included)",
        fmt_count(totals.commits),
        fmt_count(totals.fsyncs),
        fmt_count(totals.checkpoints),
        fmt_count(totals.compactions)
    );
    println!();

    println!(
        "{:<20} {:>16} {:>16} {:>16}",
        "layout", "before compact", "after compact", "after reopen"
    );
    println!("{}", "-".repeat(71));
    type Figure = fn(&uidcache::LayoutInfo) -> u64;
    let layout_rows: [(&str, Figure); 9] = [
        ("placed records", |l| l.placed_records),
        ("placed entries", |l| l.placed_entries as u64),
        ("unplaced records", |l| l.unplaced_records),
        ("unplaced entries", |l| l.unplaced_entries as u64),
        ("block files used", |l| l.blocks as u64),
        ("overlay entries", |l| l.overlay as u64),
        ("journal frames", |l| l.journal_frames),
        ("journal bytes", |l| l.journal_bytes),
        ("index generation", |l| l.generation),
    ];
    for (name, get) in layout_rows {
        println!(
            "{name:<20} {:>16} {:>16} {:>16}",
            fmt_count(get(&before_compact)),
            fmt_count(get(&after_compact)),
            fmt_count(get(&layout))
        );
    }
    println!();

    let usage = disk_usage(&dir)?;
    let total = usage.index + usage.journal + usage.blocks + usage.other;
    println!("{:<20} {:>16}", "disk usage", "bytes");
    println!("{}", "-".repeat(37));
    println!("{:<20} {:>16}", "index", fmt_bytes(usage.index));
    println!("{:<20} {:>16}", "journal", fmt_bytes(usage.journal));
    println!(
        "{:<20} {:>16}",
        format!("blocks ({} files)", usage.block_files),
        fmt_bytes(usage.blocks)
    );
    println!("{:<20} {:>16}", "other (lock)", fmt_bytes(usage.other));
    println!("{:<20} {:>16}", "total", fmt_bytes(total));
    println!(
        "{:<20} {:>16}",
        "per message",
        format!("{:.1} B", total as f64 / f64::from(model.live.max(1)))
    );
    println!();
    println!(
        "verified: {} messages, all records match the model",
        fmt_count(checked)
    );
    drop(temp);
    Ok(())
}

/// Compares the header and every placed record with the model; returns how many records
/// were checked. Reports up to a few mismatches, so one bug does not flood the terminal.
fn verify(
    view: &View<'_>,
    model: &Model,
    uidnext: u32,
    modseq: u64,
) -> Result<u64, Box<dyn Error>> {
    let header = (view.exists(), view.uidnext(), view.highestmodseq());
    if header != (Some(model.live), Some(uidnext), Some(modseq)) {
        return Err(fail(format!(
            "verification failed: EXISTS, UIDNEXT, HIGHESTMODSEQ are {header:?}, expected {:?}",
            (model.live, uidnext, modseq)
        )));
    }
    let unplaced = view.unplaced_messages()?.len();
    if unplaced != 0 {
        return Err(fail(format!(
            "verification failed: {unplaced} unplaced records, expected none"
        )));
    }
    let placed = view.placed_messages()?;
    let mut live = model.entries.iter().filter(|e| e.live);
    let mut problems = Vec::new();
    let mut wrong = 0u64;
    for (k, (seq, m)) in placed.iter().enumerate() {
        let Some(want) = live.next() else {
            wrong += 1;
            problems.push(format!(
                "seq {seq}: UID {} is beyond the model's {} messages",
                m.uid, model.live
            ));
            break;
        };
        let flags = match m.flags {
            Some(id) => Some(
                view.flag_names(id)
                    .ok_or_else(|| fail(format!("seq {seq}: flag set {id:?} has no names")))?
                    .into_iter()
                    .map(<[u8]>::to_vec)
                    .collect::<Vec<_>>(),
            ),
            None => None,
        };
        let want_flags = want.flags.map(|i| normalized(PALETTE[i]));
        if *seq != k as u32 + 1
            || m.uid != want.uid
            || flags != want_flags
            || m.modseq != want.modseq
        {
            wrong += 1;
            if problems.len() < 5 {
                problems.push(format!(
                    "seq {seq}: got UID {} FLAGS {} MODSEQ {:?}; expected seq {} UID {} FLAGS {} MODSEQ {:?}",
                    m.uid,
                    show_flags(&flags),
                    m.modseq,
                    k + 1,
                    want.uid,
                    show_flags(&want_flags),
                    want.modseq
                ));
            }
        }
    }
    let missing = live.count();
    if missing > 0 {
        wrong += missing as u64;
        problems.push(format!(
            "{missing} messages of the model have no placed record"
        ));
    }
    if wrong > 0 {
        return Err(fail(format!(
            "verification failed: {wrong} wrong records\n  {}",
            problems.join("\n  ")
        )));
    }
    Ok(placed.len() as u64)
}
