//! `uidcache demo`: plays the shared demo session (`uidcache_bench::demo`) in a fresh
//! directory with progress bars, prints its steps, then checks the files with uidcache-fsck.

use std::path::Path;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use uidcache_bench::demo::{self, DemoError, Plan, Progress, Row};

use crate::failure::Failure;
use crate::stdout::outln;

/// A progress bar per long step, and each step's line as it ends.
#[derive(Default)]
struct Bars {
    bar: Option<ProgressBar>,
    /// The first failure to write stdout (a closed pipe), reported after the run.
    failed: Option<Failure>,
}

impl Bars {
    fn print(&self, row: &Row) -> Result<(), Failure> {
        outln!("  {:<28} {}, {:?}", row.step, row.detail, row.time);
        Ok(())
    }
}

impl Progress for Bars {
    fn start(&mut self, step: &str, steps: u64) {
        let bar = ProgressBar::new(steps);
        if let Ok(style) =
            ProgressStyle::with_template("  {msg:<28} [{bar:40}] {pos}/{len} {elapsed}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(step.to_string());
        self.bar = Some(bar);
    }

    fn advance(&mut self) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }

    fn row(&mut self, row: &Row) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if self.failed.is_none() {
            self.failed = self.print(row).err();
        }
    }
}

fn demo_failure(e: DemoError) -> Failure {
    match e {
        DemoError::Engine { context, source } => Failure::engine(context, *source),
        other => Failure::Input(other.to_string()),
    }
}

/// Runs the demo in `dir` (a new or empty directory), or in a temporary one.
pub fn run(dir: Option<&Path>, messages: u32, seed: u64) -> Result<(), Failure> {
    let temp;
    let dir = match dir {
        Some(d) => {
            if d.exists() && std::fs::read_dir(d).map_or(true, |mut e| e.next().is_some()) {
                return Err(Failure::Io(format!(
                    "{}: the demo needs a new or empty directory",
                    d.display()
                )));
            }
            d
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("uidcache-demo-")
                .tempdir()
                .map_err(|e| Failure::Io(format!("temporary directory: {e}")))?;
            temp.path()
        }
    };
    let total = Instant::now();
    outln!(
        "uidcache demo: {messages} messages, seed {seed}, cache in {}",
        dir.display()
    );
    let mut bars = Bars::default();
    let outcome = demo::run(dir, &Plan::new(messages, seed), &mut bars).map_err(demo_failure)?;
    if let Some(failed) = bars.failed {
        return Err(failed);
    }
    outln!();
    outln!(
        "commits {}, fsyncs {}, compactions {}, index entries {}, blocks {}",
        outcome.stats.commits,
        outcome.stats.fsyncs,
        outcome.stats.compactions,
        outcome.layout.placed_entries,
        outcome.layout.blocks,
    );
    outln!(
        "responses applied {}, total {:?}",
        outcome.responses,
        total.elapsed()
    );
    // The files themselves, as uidcache-fsck sees them once the writer has closed.
    let t = Instant::now();
    let report = uidcache_fsck::check(dir).map_err(|e| Failure::Io(format!("fsck: {e}")))?;
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
    match outcome.verdict {
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
