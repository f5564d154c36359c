//! Fine-grained lookup costs on a 100,000-message cache: sequence number → record (through
//! `message_at`, and through `peek_message_at` first) and UID → sequence number, against the
//! same lookups in a plain `Vec` (the floor).
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs,
    reason = "a benchmark"
)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use uidcache::{Cache, Durability, OpenOptions, UidPosition};

const N: u32 = 100_000;

fn filled() -> (tempfile::TempDir, Cache, Vec<u32>) {
    let dir = tempfile::tempdir().unwrap();
    let options = OpenOptions::new().durability(Durability::NoSync);
    let mut cache = Cache::open_with(dir.path(), options).unwrap();
    let uids: Vec<u32> = (1..=N).map(|i| i * 2).collect();
    let mut tx = cache.transaction().unwrap();
    tx.set_exists(N).unwrap();
    for (k, chunk) in uids.chunks(2_000).enumerate() {
        tx.learn_range(k as u32 * 2_000 + 1, chunk).unwrap();
    }
    tx.commit().unwrap();
    (dir, cache, uids)
}

fn lookups(c: &mut Criterion) {
    let (_dir, cache, uids) = filled();
    let mut seq = 1u32;
    c.bench_function("seq_to_record", |b| {
        b.iter(|| {
            seq = seq.wrapping_mul(7_919).wrapping_add(13) % N + 1;
            black_box(cache.view().message_at(seq).unwrap())
        })
    });
    // As a loop of lookups should call it: the in-memory answer, `message_at` only on `None`.
    c.bench_function("seq_to_record_peek", |b| {
        b.iter(|| {
            seq = seq.wrapping_mul(7_919).wrapping_add(13) % N + 1;
            let view = cache.view();
            black_box(match view.peek_message_at(seq) {
                Some(m) => Some(m),
                None => view.message_at(seq).unwrap(),
            })
        })
    });
    let mut i = 0usize;
    c.bench_function("uid_to_seq", |b| {
        b.iter(|| {
            i = (i.wrapping_mul(7_919) + 13) % uids.len();
            black_box(matches!(
                cache.view().position_of_uid(uids[i]).unwrap(),
                UidPosition::Placed(_)
            ))
        })
    });
    let mut j = 0usize;
    c.bench_function("floor_seq_to_record", |b| {
        b.iter(|| {
            j = (j.wrapping_mul(7_919) + 13) % uids.len();
            black_box(uids[j])
        })
    });
}

criterion_group!(benches, lookups);
criterion_main!(benches);
