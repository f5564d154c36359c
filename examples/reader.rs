//! A reader beside a writer: the reader takes no lock, never blocks the writer, and sees
//! each committed state when it refreshes (in a real client the two are separate processes,
//! e.g. a sync daemon and a UI).
//!
//! `cargo run --example reader`

use uidcache::{Cache, Durability};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let mut writer = Cache::open(dir.path())?;
    let mut tx = writer.transaction()?;
    tx.set_exists(0)?;
    tx.commit()?;

    let mut reader = Cache::open_read_only(dir.path())?;
    let mut next_uid = 1;
    for round in 1..=5u32 {
        let mut tx = writer.transaction()?;
        let count = round * 1000;
        tx.set_exists(count)?;
        let uids: Vec<u32> = (0..1000).map(|k| next_uid + 2 * k).collect();
        next_uid += 2000;
        tx.learn_range(count - 999, &uids)?;
        tx.commit_with(Durability::NoSync)?;
        if round == 3 {
            writer.compact()?;
        }
        reader.refresh()?;
        let view = reader.view();
        let last = view.message_at(count)?.map(|m| m.uid);
        println!(
            "round {round}: reader sees {:?} messages, last UID {last:?}",
            view.exists()
        );
    }
    Ok(())
}
