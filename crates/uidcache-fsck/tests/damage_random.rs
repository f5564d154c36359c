//! Random damage of larger caches (issue 3): several bytes flipped, random truncations,
//! zeroed ranges, deleted and misdirected block files. `UIDCACHE_FSCK_CASES` sets the number
//! of cases (default 2000); `UIDCACHE_FSCK_LONG=1` runs 50 000.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use common::{caches, committed_states, frame_ends, run_case, scratch, Damage, Snapshot, Tally};

/// xorshift64*: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn random_damage(rng: &mut Rng, snap: &Snapshot) -> Vec<Damage> {
    let files: Vec<_> = snap.files.iter().filter(|(_, b)| !b.is_empty()).collect();
    let (file, bytes) = files[rng.below(files.len())];
    let file = file.clone();
    let len = bytes.len();
    match rng.below(6) {
        0 | 1 => (0..1 + rng.below(4))
            .map(|_| Damage::Flip {
                file: file.clone(),
                at: rng.below(len),
                mask: 1 << rng.below(8),
            })
            .collect(),
        2 => vec![Damage::Truncate {
            file,
            len: rng.below(len),
        }],
        3 => vec![Damage::ZeroTail {
            file,
            from: rng.below(len),
        }],
        4 => vec![Damage::Delete { file }],
        _ => {
            let other = files[rng.below(files.len())].0.clone();
            if other == file || !other.starts_with("blocks") || !file.starts_with("blocks") {
                vec![Damage::AppendZeros {
                    file,
                    len: 1 + rng.below(5000),
                }]
            } else {
                vec![Damage::CopyOver { file, other }]
            }
        }
    }
}

#[test]
fn random_damage_of_large_caches_is_detected_and_repaired() {
    let cases: u64 = if std::env::var_os("UIDCACHE_FSCK_LONG").is_some() {
        50_000
    } else {
        std::env::var("UIDCACHE_FSCK_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2000)
    };
    let original = scratch();
    caches::large(original.path(), 3000);
    let snap = Snapshot::take(original.path());
    let report = uidcache_fsck::check(original.path()).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    let states = committed_states(original.path());
    let ends = frame_ends(&snap);
    let work = scratch();
    let mut rng = Rng(0x005E_ED0F_F5C4);
    let mut tally = Tally::default();
    let mut failures = Vec::new();
    while tally.cases < cases {
        let damages = random_damage(&mut rng, &snap);
        // Several flips are applied together; run_case applies the first after restoring.
        let combined = Combined(damages);
        if let Err(e) = combined.run(&snap, &states, &ends, work.path(), &mut tally) {
            failures.push(e);
        }
    }
    eprintln!("random: {tally:?}");
    assert!(
        failures.is_empty(),
        "{} failures, first: {}",
        failures.len(),
        failures[0]
    );
    assert_eq!(tally.panics, 0);
    assert!(tally.detected * 10 > tally.cases * 9, "{tally:?}");
}

struct Combined(Vec<Damage>);

impl Combined {
    fn run(
        &self,
        snap: &Snapshot,
        states: &[common::Dump],
        ends: &[u64],
        work: &std::path::Path,
        tally: &mut Tally,
    ) -> Result<(), String> {
        // Apply all but the last to a copy of the snapshot, then let run_case apply the last.
        let (last, rest) = self.0.split_last().unwrap();
        if rest.is_empty() {
            return run_case(snap, states, ends, work, last, tally);
        }
        snap.restore(work);
        for d in rest {
            d.apply(work);
        }
        let damaged = Snapshot::take(work);
        run_case(&damaged, states, ends, work, last, tally)
    }
}
