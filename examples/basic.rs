//! A tour of the library as a mail client uses it: first sync, a session's changes, a
//! reconnect that could not prove positions, and the planning calls.
//!
//! `cargo run --example basic [DIR]`

use uidcache::{Cache, Removal, Segment, Update};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let temp = tempfile::tempdir()?;
    let dir = std::env::args()
        .nth(1)
        .map_or_else(|| temp.path().to_path_buf(), Into::into);
    let mut cache = Cache::open(&dir)?;

    // SELECT said: UIDVALIDITY 42, 10 EXISTS, UIDNEXT 31, HIGHESTMODSEQ 900.
    let mut tx = cache.transaction()?;
    if tx.view().uidvalidity() != Some(42) {
        tx.clear()?;
        tx.set_uidvalidity(Some(42))?;
    }
    tx.set_exists(10)?;
    tx.set_uidnext(Some(31))?;
    tx.commit()?;

    // Learn the UID map piecemeal, in any order: UID SEARCH 6:10 then UID SEARCH 1:3.
    let mut tx = cache.transaction()?;
    tx.learn_range(6, &[20, 22, 25, 28, 30])?;
    tx.learn_range(1, &[3, 5, 8])?;
    println!("after two searches: {:?}", tx.view().segments());
    if let Some(next) = tx.view().fetch_plan(4, 500) {
        println!("to learn sequence 4, fetch {}:{}", next.start(), next.end());
    }
    // FETCH answers with flags and MODSEQ.
    tx.learn(
        4,
        11,
        Update {
            flags: Some(&[b"\\Seen", b"$Work"]),
            modseq: Some(880),
        },
    )?;
    tx.update_seq(
        1,
        Update {
            flags: Some(&[b"\\Flagged"]),
            modseq: Some(890),
        },
    )?;
    tx.set_highestmodseq(Some(900))?;
    tx.commit()?;

    // An EXPUNGE, then a VANISHED for a UID that was never learned but must lie in the hole.
    let mut tx = cache.transaction()?;
    tx.expunge(2)?;
    let removal = tx.remove_uid(15)?;
    assert_eq!(removal, Removal::Hole(4));
    tx.commit()?;
    let view = cache.view();
    println!(
        "after EXPUNGE 2 and VANISHED 15: exists {:?}, {:?}",
        view.exists(),
        view.segments()
    );

    // A reconnect that cannot prove positions past sequence 3: those records lose them but
    // keep UID, flags and MODSEQ, and get them back when a search names their UID.
    let mut tx = cache.transaction()?;
    tx.unplace(4, u32::MAX)?;
    println!(
        "unplaced: {:?}",
        tx.view()
            .unplaced_messages()?
            .iter()
            .map(|m| m.uid)
            .collect::<Vec<_>>()
    );
    tx.learn_range(4, &[20, 22])?;
    tx.commit()?;

    let view = cache.view();
    for row in view.messages() {
        let (seq, m) = row?;
        let flags = m.flags.and_then(|f| view.flag_names(f)).unwrap_or_default();
        let flags: Vec<_> = flags.iter().map(|f| String::from_utf8_lossy(f)).collect();
        println!(
            "{seq:>3} uid {:>3} flags {:?} modseq {:?}",
            m.uid, flags, m.modseq
        );
    }
    let changed = view
        .changed_since(885)
        .map(|r| r.map(|(s, m)| (s, m.uid)))
        .collect::<Result<Vec<_>, _>>()?;
    println!("changed since 885: {changed:?}");
    let holes = view
        .segments()
        .iter()
        .filter(|s| matches!(s, Segment::Hole(..)))
        .count();
    println!("holes left: {holes}; layout: {:?}", cache.layout());
    Ok(())
}
