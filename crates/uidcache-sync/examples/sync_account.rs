//! Keeps every mailbox of an account current, one cache per mailbox, and prints what each
//! run did.
//!
//! ```sh
//! UIDCACHE_PASSWORD=... cargo run --release -p uidcache-sync --example sync_account -- \
//!     imaps://alice@mail.example.org/ /tmp/alice [CA.pem]
//! ```

use uidcache_sync::account::{Account, AccountOptions, Outcome};
use uidcache_sync::{SyncOptions, Target};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(dir)) = (args.next(), args.next()) else {
        return Err("usage: sync_account URL DIR [CA.pem]".into());
    };
    let password = std::env::var("UIDCACHE_PASSWORD").map_err(|_| "set UIDCACHE_PASSWORD")?;
    let mut sync = SyncOptions::new(Target::parse(&url)?, password);
    sync.ca_file = args.next().map(Into::into);
    let mut options = AccountOptions::new(sync);
    options.on_mailbox = Some(Box::new(|m, done, total| {
        eprintln!("[{done}/{total}] {}", m.name);
    }));
    let mut account = Account::open(&dir)?;
    // What is behind, without syncing anything (one connection, one LIST-STATUS).
    let plan = account.check(&options)?;
    let behind = plan.mailboxes.iter().filter(|p| p.behind.is_some()).count();
    println!("{behind} of {} mailboxes behind", plan.mailboxes.len());
    let summary = account.sync(&mut options)?;
    for m in &summary.mailboxes {
        match &m.outcome {
            Outcome::Unchanged => {}
            Outcome::Synced(s) => {
                println!("{}: {} ({} messages)", m.name, s.method.name(), m.messages)
            }
            Outcome::Failed(e) => println!("{}: failed: {e}", m.name),
        }
    }
    println!(
        "{} round trips, {} bytes in, {:.2} s",
        summary.traffic.round_trips,
        summary.traffic.bytes_in,
        summary.elapsed.as_secs_f64()
    );
    Ok(())
}
