//! The scale test the issue asks for: the demo session (`uidcache demo`, one implementation
//! in `uidcache_bench::demo`) at 1,000,000 messages — a random-order block fill, flag and
//! MODSEQ changes, over 10,000 expunges, a compaction, a QRESYNC reconnect — then the
//! reopened cache is checked here again, record by record, against the server's truth.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: a panic is a failure report, and the truth's indices are in range by construction"
)]

use std::collections::BTreeSet;
use std::time::Instant;

use uidcache::{Cache, Durability, Segment, UidPosition};
use uidcache_bench::demo::{self, Plan, Quiet};

const MESSAGES: u32 = 1_000_000;

#[test]
fn million_messages_demo_session_then_every_record_after_reopen() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    // NoSync keeps CI fast; the demo itself commits durably, and so covers the fsync path.
    let plan = Plan {
        durability: Durability::NoSync,
        ..Plan::new(MESSAGES, 0x5EED_0001)
    };
    let outcome = demo::run(dir.path(), &plan, &mut Quiet).unwrap();
    let played = started.elapsed();
    let server = &outcome.server;
    let count = server.messages.len() as u32;
    let summary = outcome.verdict.unwrap();
    assert_eq!((summary.count, summary.placed), (count, u64::from(count)));
    assert_eq!(summary.unplaced, 0);
    assert!(
        summary.flags_known > 0 && summary.modseq_known > 0,
        "{summary}"
    );
    assert!(outcome.stats.compactions >= 1, "{:?}", outcome.stats);
    assert!(server.expunged.len() >= 10_000, "{}", server.expunged.len());

    // The demo's own check is not trusted alone: the same truth, checked another way.
    let cache = Cache::open(dir.path()).unwrap();
    let view = cache.view();
    assert_eq!(view.exists(), Some(count));
    assert_eq!(view.uidvalidity(), Some(server.uidvalidity));
    assert!(view.highestmodseq().unwrap() <= server.modseq);
    let placed = view.placed_messages().unwrap();
    assert_eq!(placed.len(), server.messages.len());
    let (mut with_flags, mut with_modseq) = (0u64, 0u64);
    for (k, ((seq, m), truth)) in placed.iter().zip(&server.messages).enumerate() {
        assert_eq!(*seq, k as u32 + 1);
        assert_eq!(m.uid, truth.uid, "UID at seq {seq}");
        // What the cache learned must be the server's; what it never heard stays unknown.
        if let Some(id) = m.flags {
            with_flags += 1;
            let have: BTreeSet<&[u8]> = view.flag_names(id).unwrap().into_iter().collect();
            let want: BTreeSet<&[u8]> = truth.flags.iter().map(|f| f.as_bytes()).collect();
            assert_eq!(have, want, "FLAGS at seq {seq}");
        }
        if let Some(modseq) = m.modseq {
            with_modseq += 1;
            assert_eq!(modseq, truth.modseq, "MODSEQ at seq {seq}");
        }
    }
    assert_eq!(
        (with_flags, with_modseq),
        (summary.flags_known, summary.modseq_known)
    );
    assert!(view.unplaced_messages().unwrap().is_empty());

    // The point lookups agree with the scan, at every 500th position.
    for seq in (1..=count).step_by(500) {
        let truth = &server.messages[seq as usize - 1];
        assert_eq!(view.message_at(seq).unwrap().unwrap().uid, truth.uid);
        assert_eq!(
            view.position_of_uid(truth.uid).unwrap(),
            UidPosition::Placed(seq)
        );
    }
    // Every position is known, so an expunged UID or one in a gap has nowhere to be.
    for (uid, _) in server.expunged.iter().step_by(20) {
        assert_eq!(
            view.position_of_uid(*uid).unwrap(),
            UidPosition::Absent,
            "expunged UID {uid}"
        );
    }
    let gap = server
        .messages
        .windows(2)
        .find(|w| w[1].uid > w[0].uid + 1)
        .unwrap();
    for uid in gap[0].uid + 1..gap[1].uid {
        assert_eq!(
            view.position_of_uid(uid).unwrap(),
            UidPosition::Absent,
            "gap UID {uid}"
        );
    }
    assert_eq!(view.message_at(count + 1).unwrap(), None);
    assert_eq!(view.segments(), vec![Segment::Known(1, count)]);
    let layout = cache.layout();
    assert_eq!(layout.placed_records, u64::from(count));
    assert_eq!((layout.unplaced_entries, layout.unplaced_records), (0, 0));
    eprintln!(
        "million: session {played:?}, total {:?}; {:?}; reopened {layout:?}",
        started.elapsed(),
        outcome.stats
    );
}
