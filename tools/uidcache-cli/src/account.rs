//! `uidcache sync URL DIR` with no mailbox in the URL: every mailbox of the account
//! (`uidcache_sync::account`), a bar across mailboxes, a line per mailbox and totals.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use uidcache_sync::account::{Account, AccountOptions, AccountSummary, Outcome};
use uidcache_sync::{Error, SyncOptions};

use crate::failure::Failure;
use crate::stdout::outln;
use crate::sync::Args;

/// Whether `url` names no mailbox (`imaps://user@host/` or `imaps://user@host`).
pub fn is_account_url(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split_once('/').is_none_or(|(_, path)| path.is_empty())
}

/// Syncs (or watches) the account into DIR.
pub fn run(args: &Args, mut sync: SyncOptions) -> Result<(), Failure> {
    let bar = bar(args.quiet || args.json);
    sync.on_event = crate::sync::events(args.quiet, bar.clone());
    let mut opts = AccountOptions::new(sync);
    if !args.mailbox.is_empty() {
        opts.patterns.clone_from(&args.mailbox);
    }
    opts.jobs = args.jobs.max(1);
    if let Some(bar) = bar.clone() {
        opts.on_mailbox = Some(Box::new(move |m, done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            bar.set_message(m.name.clone());
        }));
    }
    let dir = args.dir.display().to_string();
    let mut account = Account::open(&args.dir).map_err(|e| account_failure(&dir, e))?;
    let result = if args.watch {
        account.watch(&mut opts)
    } else {
        account.sync(&mut opts)
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let summary = result.map_err(|e| account_failure(&dir, e))?;
    if args.json {
        outln!("{}", crate::json::account(&summary));
    } else if !args.quiet {
        print(&summary)?;
    }
    let failed = summary.failures();
    if summary.interrupted {
        return Err(Failure::Interrupted(
            "interrupted; what was received is committed: run the same command to continue".into(),
        ));
    }
    if failed > 0 {
        return Err(Failure::Partial(format!(
            "{failed} of {} mailboxes failed (the others are current)",
            summary.mailboxes.len()
        )));
    }
    Ok(())
}

fn account_failure(dir: &str, e: Error) -> Failure {
    match e {
        Error::AccountFile { .. } => Failure::Input(format!("{dir}: {e}")),
        other => crate::sync::failure(other),
    }
}

/// A line per mailbox that was synced or failed, then the totals.
fn print(s: &AccountSummary) -> Result<(), Failure> {
    let mut unchanged = 0;
    for m in &s.mailboxes {
        match &m.outcome {
            Outcome::Unchanged => unchanged += 1,
            Outcome::Synced(x) => outln!(
                "{:<24} {:<9} {} messages, {} new, {} expunged, {} with new flags",
                m.name,
                m.outcome.method_name(),
                m.messages,
                x.changes.new,
                x.changes.gone,
                x.changes.changed
            ),
            Outcome::Failed(e) => outln!("{:<24} error     {e}", m.name),
        }
    }
    for (old, new) in &s.renamed {
        outln!("renamed     {old} -> {new} (cache moved)");
    }
    for name in &s.removed {
        outln!("removed     {name} (gone from the server)");
    }
    let t = s.traffic;
    outln!(
        "account     {} mailboxes: {} synced, {unchanged} unchanged, {} failed",
        s.mailboxes.len(),
        s.mailboxes.len() - unchanged - s.failures(),
        s.failures()
    );
    outln!(
        "traffic     {} round trips ({} after the listing's login, {} on the critical path), {} commands, {} bytes sent, {} bytes received",
        t.round_trips,
        t.round_trips.saturating_sub(s.login_round_trips),
        s.critical_round_trips,
        t.commands,
        t.bytes_out,
        t.bytes_in
    );
    outln!("time        {:.2} s", s.elapsed.as_secs_f64());
    Ok(())
}

/// Mailboxes done out of those behind, on stderr when it is a terminal.
fn bar(quiet: bool) -> Option<ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(0);
    let style = ProgressStyle::with_template("{spinner} {pos}/{len} mailboxes [{bar:30}] {msg}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    Some(bar)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_urls() {
        assert!(is_account_url("imaps://a@h/"));
        assert!(is_account_url("imaps://a@h:993"));
        assert!(!is_account_url("imaps://a@h/INBOX"));
    }
}
