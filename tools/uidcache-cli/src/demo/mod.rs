//! `uidcache demo`: a simulated server plays a realistic session against a fresh cache,
//! then the cache is checked record by record against the server's truth.

mod check;
mod feed;

use crate::stdout::outln;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use uidcache_engine::Cache;
use uidcache_imap::sim::{Rng, SimServer};
use uidcache_imap::Session;

use crate::failure::Failure;
use feed::Feeder;

/// Sequence numbers per `UID SEARCH RETURN (ALL) a:b` while filling the cache.
const BLOCK: u32 = 2048;

fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("  {msg:<28} [{bar:40}] {pos}/{len} {elapsed}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}

/// Runs the demo in `dir` (or a temporary directory).
pub fn run(dir: Option<&Path>, messages: u32, seed: u64) -> Result<(), Failure> {
    let tmp;
    let dir: PathBuf = match dir {
        Some(d) => {
            if d.exists() && std::fs::read_dir(d).map_or(true, |mut e| e.next().is_some()) {
                return Err(Failure::Io(format!(
                    "{}: the demo needs a new or empty directory",
                    d.display()
                )));
            }
            d.to_path_buf()
        }
        None => {
            tmp = TempDir::new()?;
            tmp.0.clone()
        }
    };
    let total = Instant::now();
    outln!(
        "uidcache demo: {messages} messages, seed {seed}, cache in {}",
        dir.display()
    );
    let mut server = SimServer::new(seed, messages);
    let mut cache = Cache::open(&dir).map_err(|e| Failure::engine("open", e))?;
    let mut rng = Rng::new(seed ^ 0x5eed);
    let mut feeder = Feeder::default();

    // 1. Connect and select.
    let t = Instant::now();
    let mut session = Session::new();
    let mut lines = Vec::new();
    server.connect(&mut lines, "a", false);
    server.select(&mut lines, "a3", None);
    feeder.feed(&mut cache, &mut session, &lines)?;
    outln!(
        "  select                       {} EXISTS, {:?}",
        server.messages.len(),
        t.elapsed()
    );

    // 2. Fill positions with UID SEARCH RETURN (ALL) over blocks in random order.
    let t = Instant::now();
    let blocks = server.messages.len().div_ceil(BLOCK as usize) as u32;
    let mut order: Vec<u32> = (0..blocks).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let progress = bar(u64::from(blocks), "fill (random-order blocks)");
    for (k, b) in order.iter().enumerate() {
        let mut lines = Vec::new();
        let a = b * BLOCK + 1;
        server.uid_search(
            &mut lines,
            &format!("f{k}"),
            a,
            Some(a + BLOCK - 1),
            true,
            false,
        );
        feeder.feed(&mut cache, &mut session, &lines)?;
        progress.inc(1);
    }
    progress.finish_and_clear();
    let fill = t.elapsed();
    outln!(
        "  fill                         {blocks} searches of {BLOCK}, {fill:?} ({:.0} messages/s)",
        f64::from(messages) / fill.as_secs_f64().max(1e-9)
    );

    // 3. Another client changes flags, expunges and delivers while we idle with NOOPs.
    let t = Instant::now();
    let noops = 200;
    let progress = bar(noops, "flag changes and expunges");
    for k in 0..noops {
        let mut lines = Vec::new();
        server.noop(&mut lines, &format!("n{k}"), 20);
        feeder.feed(&mut cache, &mut session, &lines)?;
        progress.inc(1);
    }
    progress.finish_and_clear();
    outln!(
        "  live changes                 {noops} NOOPs with 20 unsolicited changes each, {:?}",
        t.elapsed()
    );
    let mut lines = Vec::new();
    server.logout(&mut lines, "a9");
    feeder.feed(&mut cache, &mut session, &lines)?;

    // 4. Offline changes, then a reconnect with QRESYNC.
    for _ in 0..500 {
        server.change_flags_one(None);
    }
    for _ in 0..300 {
        server.expunge_silently();
    }
    server.append(100);
    let t = Instant::now();
    let view = cache.view();
    let param = uidcache_imap::qresync_param(&view).map_err(|e| Failure::Input(e.to_string()))?;
    let (uidvalidity, modseq) = (
        view.uidvalidity().unwrap_or(0),
        view.highestmodseq().unwrap_or(0),
    );
    let param = param.ok_or_else(|| {
        Failure::Input("no QRESYNC parameter: UIDVALIDITY or HIGHESTMODSEQ unknown".into())
    })?;
    let mut session = Session::new();
    let mut lines = Vec::new();
    server.connect(&mut lines, "b", true);
    server.select(&mut lines, "b3", Some((&param, uidvalidity, modseq)));
    let reconnect_lines = lines.len();
    feeder.feed(&mut cache, &mut session, &lines)?;
    outln!("  reconnect with QRESYNC       {} response lines (500 flag changes, 300 expunges, 100 new offline), {:?}", reconnect_lines, t.elapsed());

    // 5. Fetch what is still unknown (the new tail), as a client would.
    let t = Instant::now();
    let mut fetched = 0;
    loop {
        let view = cache.view();
        let hole = view.segments().into_iter().find_map(|s| match s {
            uidcache_engine::Segment::Hole(a, _) => Some(a),
            uidcache_engine::Segment::Known(..) => None,
        });
        let Some(range) = hole.and_then(|a| view.fetch_plan(a, 500)) else {
            break;
        };
        let mut lines = Vec::new();
        server.fetch(
            &mut lines,
            &format!("t{fetched}"),
            *range.start(),
            *range.end(),
        );
        fetched += 1;
        feeder.feed(&mut cache, &mut session, &lines)?;
    }
    outln!(
        "  fetch unknown positions      {fetched} FETCH commands, {:?}",
        t.elapsed()
    );

    // 6. The verdict.
    let t = Instant::now();
    let verdict = check::deep_check(&cache, &server);
    let layout = cache.layout();
    outln!("  deep check                   {:?}", t.elapsed());
    outln!();
    outln!(
        "commits {}, fsyncs {}, index entries {}, blocks {}, journal {} bytes",
        cache.stats().commits,
        cache.stats().fsyncs,
        layout.placed_entries,
        layout.blocks,
        layout.journal_bytes
    );
    outln!(
        "responses applied {}, total {:?}",
        feeder.responses,
        total.elapsed()
    );
    // The files themselves, as uidcache-fsck sees them once the writer has closed.
    let t = Instant::now();
    cache.close().map_err(|e| Failure::engine("close", e))?;
    let report = uidcache_fsck::check(&dir).map_err(|e| Failure::Io(format!("fsck: {e}")))?;
    outln!(
        "uidcache-fsck on {}: {} findings, {:?}",
        dir.display(),
        report.problems.len(),
        t.elapsed()
    );
    for p in report.problems.iter().take(20) {
        outln!("  {p}");
    }
    // Notes (a leftover, a UIDNEXT the simulated server let go stale) are not a failure.
    if report.has_damage() {
        return Err(Failure::Input(format!(
            "fsck verdict: damage in the files ({} findings)",
            report.problems.len()
        )));
    }
    match verdict {
        Ok(summary) => {
            outln!("fsck verdict: OK — {summary}; the files pass uidcache-fsck");
            Ok(())
        }
        Err(problems) => {
            for p in problems.iter().take(20) {
                outln!("  {p}");
            }
            Err(Failure::Input(format!(
                "fsck verdict: {} problems",
                problems.len()
            )))
        }
    }
}

/// A temporary directory removed on drop (no extra dependency for one directory).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir, Failure> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path =
            std::env::temp_dir().join(format!("uidcache-demo-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path)
            .map_err(|e| Failure::Io(format!("{}: {e}", path.display())))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
