//! `uidcache-fsck [--repair] [--json] [--strict] DIR`: exit 0 when the cache has no damage
//! (notes about crash leftovers and stale header values are printed but do not fail), 1 when
//! it has damage (with `--strict`: any finding at all), 2 usage or I/O error. Findings are
//! printed one a line, `note: ...` or `damage: ...`.
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Check (and optionally repair) a uidcache mailbox directory.
#[derive(Debug, Parser)]
#[command(name = "uidcache-fsck", version)]
struct Args {
    /// Repair the cache (takes the writer lock; drops what is damaged).
    #[arg(long)]
    repair: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Also exit 1 on notes (crash leftovers, stale header values), not only on damage.
    #[arg(long)]
    strict: bool,
    /// The mailbox directory.
    dir: PathBuf,
}

fn try_main(args: &Args) -> Result<bool, String> {
    let report = if args.repair {
        uidcache_fsck::repair(&args.dir)
    } else {
        uidcache_fsck::check(&args.dir)
    }
    .map_err(|e| e.to_string())?;
    let mut text = String::new();
    if args.json {
        text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        text.push('\n');
    } else {
        for p in &report.problems {
            text += &format!("{p}\n");
        }
        for r in &report.repairs {
            text += &format!("repair: {r}\n");
        }
    }
    // A reader that stopped early (`| head`) wants no more output; the verdict (the exit
    // code) still stands. `println!` would panic on the closed pipe.
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            return Err(format!("writing to stdout: {e}"))
        }
        _ => {}
    }
    // Notes describe a consistent cache (the state after a crash, or a server's stale
    // UIDNEXT): failing on them would teach users to repair after every crash.
    Ok(if args.strict {
        report.is_clean()
    } else {
        !report.has_damage()
    })
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match try_main(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("uidcache-fsck: {e}");
            ExitCode::from(2)
        }
    }
}
