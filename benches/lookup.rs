//! Fine-grained lookup costs on a 100,000-message cache: sequence number → record (through
//! `message_at`, and through `peek_message_at` first) and UID → sequence number, against the
//! same lookups in a plain `Vec` (the floor).
//!
//! `uid_to_seq/*` (issue 12): 1,000,000 random UID → sequence number lookups per iteration
//! on mailboxes of 1M and 10M messages, uidcache against a binary search of a `Vec<u32>` of
//! the UIDs (the SQLite peer's in-memory map). Each mailbox is built once per process, and
//! only when a selected benchmark needs it (`cargo bench --bench lookup -- uid_to_seq/1M`).
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    missing_docs,
    reason = "a benchmark"
)]

use std::cell::OnceCell;

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

/// A mailbox as `uidcache bench` builds it: UIDs rising by 1 to 3 (a seeded xorshift),
/// learned 2,000 at a time, a commit every 100 ranges.
struct Mailbox {
    _dir: tempfile::TempDir,
    cache: Cache,
    uids: Vec<u32>,
    /// Probe UIDs: one in eight is a UID + 1 (in a gap, or the next UID).
    probes: Vec<u32>,
}

/// xorshift64*: the same keys on every run, without a dependency.
fn rng(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

fn mailbox(n: u32) -> Mailbox {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = 0u32;
    let uids: Vec<u32> = (0..n)
        .map(|_| {
            next += 1 + (rng(&mut state) % 3) as u32;
            next
        })
        .collect();
    let probes = (0..1_000_000)
        .map(|_| {
            let u = uids[(rng(&mut state) % u64::from(n)) as usize];
            u + u32::from(rng(&mut state).is_multiple_of(8))
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let options = OpenOptions::new().durability(Durability::NoSync);
    let mut cache = Cache::open_with(dir.path(), options).unwrap();
    for (c, group) in uids.chunks(200_000).enumerate() {
        let mut tx = cache.transaction().unwrap();
        if c == 0 {
            tx.set_exists(n).unwrap();
        }
        for (k, chunk) in group.chunks(2_000).enumerate() {
            let seq = (c * 200_000 + k * 2_000) as u32 + 1;
            tx.learn_range(seq, chunk).unwrap();
        }
        tx.commit().unwrap();
    }
    Mailbox {
        _dir: dir,
        cache,
        uids,
        probes,
    }
}

fn seq_of(cache: &Cache, uid: u32) -> u64 {
    match cache.view().position_of_uid(uid).unwrap() {
        UidPosition::Placed(seq) => u64::from(seq),
        _ => 0,
    }
}

fn vec_seq_of(uids: &[u32], uid: u32) -> u64 {
    uids.binary_search(&uid).map_or(0, |i| i as u64 + 1)
}

fn uid_to_seq_at_scale(c: &mut Criterion) {
    let mut group = c.benchmark_group("uid_to_seq");
    group.sample_size(10);
    for (name, n) in [("1M", 1_000_000), ("10M", 10_000_000)] {
        let built = OnceCell::new();
        let get = || {
            built.get_or_init(|| {
                let m = mailbox(n);
                // Both sides must give the same answers before their speed means anything.
                let ours: u64 = m.probes.iter().map(|&u| seq_of(&m.cache, u)).sum();
                let floor: u64 = m.probes.iter().map(|&u| vec_seq_of(&m.uids, u)).sum();
                assert_eq!(ours, floor, "answers differ at {name}");
                m
            })
        };
        group.bench_function(format!("{name}/uidcache"), |b| {
            let m = get();
            b.iter(|| m.probes.iter().map(|&u| seq_of(&m.cache, u)).sum::<u64>())
        });
        group.bench_function(format!("{name}/vec_u32"), |b| {
            let m = get();
            b.iter(|| {
                m.probes
                    .iter()
                    .map(|&u| vec_seq_of(&m.uids, u))
                    .sum::<u64>()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, lookups, uid_to_seq_at_scale);
criterion_main!(benches);
