//! A message list as a UI draws it: many lookups by sequence number, most of them in blocks
//! already read. `View::peek_message_at` answers those from memory with no system call
//! and no error to handle; `None` sends the row to `View::message_at`, which is kept in a
//! function of its own so that the common path stays a few instructions long.
//!
//! `cargo run --release --example message_list`

use uidcache::{Cache, Durability, Message, OpenOptions, View};

/// The complete answer, out of line (its `Result` is large: see `peek_message_at`).
#[inline(never)]
fn row_slow(view: &View<'_>, seq: u32) -> Result<Option<Message>, uidcache::Error> {
    view.message_at(seq)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let options = OpenOptions::new().durability(Durability::NoSync);
    let count = 100_000u32;
    {
        let mut cache = Cache::open_with(dir.path(), options.clone())?;
        let mut tx = cache.transaction()?;
        tx.set_exists(count)?;
        let uids: Vec<u32> = (1..=count).map(|s| 3 * s).collect();
        tx.learn_range(1, &uids)?;
        tx.commit()?;
    }

    // A new handle, as when the client starts: nothing is read yet.
    let cache = Cache::open_with(dir.path(), options)?;
    let view = cache.view();
    let (mut from_memory, mut complete) = (0u32, 0u32);
    // The user scrolls: 2,000 screens of 40 rows, back and forth over the newest mail.
    for screen in 0..2_000u32 {
        let top = count - 40 - (screen * 7919) % 5_000;
        for seq in top..top + 40 {
            let row = match view.peek_message_at(seq) {
                Some(m) => {
                    from_memory += 1;
                    Some(m)
                }
                None => {
                    complete += 1;
                    row_slow(&view, seq)?
                }
            };
            let uid = row.map(|m| m.uid);
            assert_eq!(uid, Some(3 * seq), "row {seq}");
        }
    }
    println!("{from_memory} rows answered from memory, {complete} by message_at");
    Ok(())
}
