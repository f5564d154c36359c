//! Brings a cache up to date with a mailbox once and prints what changed.
//!
//! ```sh
//! UIDCACHE_PASSWORD=... cargo run --release -p uidcache-sync --example sync_once -- \
//!     imaps://alice@mail.example.org/INBOX /tmp/alice-inbox [CA.pem]
//! ```

use uidcache_engine::Cache;
use uidcache_sync::{sync, SyncOptions, Target};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(dir)) = (args.next(), args.next()) else {
        return Err("usage: sync_once URL DIR [CA.pem]".into());
    };
    let password = std::env::var("UIDCACHE_PASSWORD").map_err(|_| "set UIDCACHE_PASSWORD")?;
    let mut options = SyncOptions::new(Target::parse(&url)?, password);
    options.ca_file = args.next().map(Into::into);
    options.on_progress = Some(Box::new(|p| eprint!("\r{}/{} messages", p.known, p.total)));
    let mut cache = Cache::open(&dir)?;
    let summary = sync(&mut cache, &mut options)?;
    eprintln!();
    println!("{summary}");
    // What the cache now answers without the server: the newest message.
    let view = cache.view();
    if let Some(last) = view.exists().filter(|n| *n > 0) {
        if let Some(m) = view.message_at(last)? {
            println!("message {last}: UID {}, MODSEQ {:?}", m.uid, m.modseq);
        }
    }
    Ok(())
}
