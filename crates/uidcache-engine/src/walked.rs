//! A per-thread count of the records that whole-mailbox reads walked, so that tests can
//! prove that a path which should cost O(changes) did not read every record. Single
//! lookups (`message_at`, `position_of_uid`) are not counted: only the reads that go
//! through records one after another (the iterators, `placed_messages`,
//! `unplaced_messages`, the unknown-flags scan, and the records the QRESYNC parameter reads
//! to bisect slices with gaps).

use std::cell::Cell;

thread_local! {
    static WALKED: Cell<u64> = const { Cell::new(0) };
}

/// Adds `n` records to this thread's count.
#[inline]
pub(crate) fn add(n: usize) {
    WALKED.with(|w| w.set(w.get().saturating_add(n as u64)));
}

/// How many records this thread's whole-mailbox reads have walked so far (see the module
/// docs); compare two readings around the code to measure.
pub fn records_walked() -> u64 {
    WALKED.with(Cell::get)
}
