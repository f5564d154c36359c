//! Fine-grained commit costs: one flag change, one append and one expunge per commit,
//! durable and not, on a 100,000-message cache.
#![allow(clippy::unwrap_used, missing_docs, reason = "a benchmark")]

use criterion::{criterion_group, criterion_main, Criterion};
use uidcache::{Cache, Durability, OpenOptions, Update};

const N: u32 = 100_000;

fn cache(durability: Durability) -> (tempfile::TempDir, Cache) {
    let dir = tempfile::tempdir().unwrap();
    let options = OpenOptions::new().durability(durability);
    let mut cache = Cache::open_with(dir.path(), options).unwrap();
    let uids: Vec<u32> = (1..=N).collect();
    let mut tx = cache.transaction().unwrap();
    tx.set_exists(N).unwrap();
    for (k, chunk) in uids.chunks(2_000).enumerate() {
        tx.learn_range(k as u32 * 2_000 + 1, chunk).unwrap();
    }
    tx.commit().unwrap();
    (dir, cache)
}

fn commits(c: &mut Criterion) {
    for (name, durability) in [
        ("durable", Durability::Durable),
        ("nosync", Durability::NoSync),
    ] {
        let (_dir, mut cache) = cache(durability);
        let mut seq = 1u32;
        c.bench_function(&format!("flag_commit_{name}"), |b| {
            b.iter(|| {
                seq = seq % 50_000 + 1;
                let mut tx = cache.transaction().unwrap();
                let update = Update {
                    flags: Some(&[b"\\Seen"]),
                    modseq: Some(u64::from(seq)),
                };
                tx.update_seq(seq, update).unwrap();
                tx.commit().unwrap();
            })
        });
        let mut next_uid = N + 1;
        c.bench_function(&format!("append_commit_{name}"), |b| {
            b.iter(|| {
                let mut tx = cache.transaction().unwrap();
                let count = tx.view().exists().unwrap() + 1;
                tx.set_exists(count).unwrap();
                tx.learn_range(count, &[next_uid]).unwrap();
                tx.commit().unwrap();
                next_uid += 1;
            })
        });
        // A cache of N messages holds N expunges, and criterion may ask for more iterations
        // than that: refill between timed stretches, outside the measured time.
        c.bench_function(&format!("expunge_commit_{name}"), |b| {
            b.iter_custom(|iters| {
                let mut spent = std::time::Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let count = cache.view().exists().unwrap();
                    if count < N / 2 {
                        let mut tx = cache.transaction().unwrap();
                        let uids: Vec<u32> = (next_uid..next_uid + N / 2).collect();
                        tx.set_exists(count + N / 2).unwrap();
                        tx.learn_range(count + 1, &uids).unwrap();
                        tx.commit().unwrap();
                        next_uid += N / 2;
                    }
                    let batch = left.min(u64::from(N / 4));
                    let start = std::time::Instant::now();
                    for k in 0..batch {
                        let mut tx = cache.transaction().unwrap();
                        tx.expunge(1 + (k as u32 * 7_919) % (N / 4)).unwrap();
                        tx.commit().unwrap();
                    }
                    spent += start.elapsed();
                    left -= batch;
                }
                spent
            })
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = commits
}
criterion_main!(benches);
