//! Thousands of random sessions from the simulated server: the cache's dump must equal the
//! independent model's, and replaying in chunks split at commit points must change nothing.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]

mod common;

use uidcache_imap::sim::Rng;

const SESSIONS: u64 = 2000;

#[test]
fn cache_matches_model() {
    let tmp = tempfile::tempdir().unwrap();
    for seed in 0..SESSIONS {
        let text = common::random_session(seed);
        let expected =
            common::model_dump(&text).unwrap_or_else(|e| panic!("seed {seed}: model: {e}\n{text}"));
        let dir = tmp.path().join(format!("s{seed}"));
        let got =
            common::replay_dump(&dir, &text).unwrap_or_else(|e| panic!("seed {seed}: {e}\n{text}"));
        assert_eq!(got, expected, "seed {seed}\n{text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn chunks_split_at_commit_points_give_the_same_dump() {
    let tmp = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(99);
    for seed in 0..SESSIONS / 4 {
        let text = common::random_session(seed);
        let whole = common::replay_dump(&tmp.path().join(format!("w{seed}")), &text).unwrap();
        let points = common::commit_points(&text);
        let lines: Vec<&str> = text.lines().collect();
        let dir = tmp.path().join(format!("c{seed}"));
        let mut start = 0;
        for p in points {
            if rng.chance(30) {
                let chunk = lines[start..p].join("\n");
                common::replay_dump(&dir, &chunk).unwrap();
                start = p;
            }
        }
        let rest = lines[start..].join("\n");
        let chunked = common::replay_dump(&dir, &rest).unwrap();
        assert_eq!(chunked, whole, "seed {seed}");
    }
}
