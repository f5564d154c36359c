//! Shared test helpers: the model, the session generator, and replay helpers.
#![allow(dead_code, reason = "each test file uses a part")]

pub mod model;

use uidcache_engine::{Cache, Durability, OpenOptions};
use uidcache_imap::sim::{Rng, SimServer};

/// Opens a fresh no-fsync cache in `dir`.
pub fn open(dir: &std::path::Path) -> Cache {
    Cache::open_with(dir, OpenOptions::new().durability(Durability::NoSync)).unwrap()
}

/// Replays `text` into the cache in `dir`; returns the dump or the error.
pub fn replay_dump(dir: &std::path::Path, text: &str) -> Result<String, String> {
    let mut cache = open(dir);
    let r = uidcache_imap::replay(&mut cache, text.as_bytes(), Durability::NoSync);
    let dump = uidcache_imap::dump_to_string(&cache.view()).unwrap();
    r.map(|_| dump).map_err(|e| e.to_string())
}

/// The dump of a cache directory.
pub fn dump_dir(dir: &std::path::Path) -> String {
    let cache = Cache::open_read_only(dir).unwrap();
    uidcache_imap::dump_to_string(&cache.view()).unwrap()
}

/// The model's dump after `text`.
pub fn model_dump(text: &str) -> Result<String, String> {
    let mut m = model::Model::default();
    for (i, line) in text.lines().enumerate() {
        m.line(line).map_err(|e| format!("line {}: {e}", i + 1))?;
    }
    m.finish()?;
    Ok(m.dump())
}

/// A random session transcript for `seed`: connections with or without QRESYNC, searches in
/// random blocks (plain and ESEARCH, some disturbed by an EXPUNGE), FETCHes (some while another
/// client expunges, held back until a NOOP, and changes flags), NOOPs with unsolicited changes, and offline changes between connections (sometimes a new
/// UIDVALIDITY). `model` follows along to build the QRESYNC parameter the client would send.
pub fn random_session(seed: u64) -> String {
    let mut rng = Rng::new(seed ^ 0xabcdef);
    let size = rng.below(40) as u32;
    let mut server = SimServer::new(seed, size);
    let mut out = Vec::new();
    let mut model = model::Model::default();
    let mut fed = 0;
    for conn in 0..1 + rng.below(3) {
        let p = format!("c{conn}x");
        let qresync = rng.chance(50);
        server.connect(&mut out, &p, qresync);
        for line in &out[fed..] {
            model.line(line).unwrap();
        }
        fed = out.len();
        let param = match (qresync, model.uidvalidity, model.hms) {
            (true, Some(v), Some(h)) => Some((format!("(QRESYNC ({v} {h}))"), v, h)),
            _ => None,
        };
        server.select(
            &mut out,
            &format!("{p}s"),
            param.as_ref().map(|(t, v, h)| (t.as_str(), *v, *h)),
        );
        for k in 0..2 + rng.below(10) {
            let tag = format!("{p}{k}");
            let count = server.messages.len() as u32;
            match rng.below(6) {
                0 | 1 => {
                    let block = 1 + rng.below(12) as u32;
                    let a = 1 + rng.below(u64::from(count / block + 2)) as u32 * block;
                    let b = if rng.chance(20) {
                        None
                    } else {
                        Some(a + block - 1)
                    };
                    let during = rng.chance(10);
                    server.uid_search(&mut out, &tag, a, b, rng.chance(50), during);
                }
                2 => {
                    let a = 1 + rng.below(u64::from(count.max(1))) as u32;
                    let b = a + rng.below(8) as u32;
                    if a > count {
                    } else if rng.chance(30) {
                        let lower_code = rng.chance(50);
                        server.fetch_with_changes(&mut out, &tag, a, b.min(count), lower_code);
                    } else {
                        server.fetch(&mut out, &tag, a, b.min(count));
                    }
                }
                _ => {
                    let n = rng.below(4) as u32;
                    server.noop(&mut out, &tag, n);
                }
            }
            for line in &out[fed..] {
                model.line(line).unwrap();
            }
            fed = out.len();
        }
        server.logout(&mut out, &format!("{p}z"));
        // Offline changes by other clients.
        for _ in 0..rng.below(4) {
            server.change_flags_one(None);
        }
        for _ in 0..rng.below(3) {
            server.expunge_silently();
        }
        server.append(rng.below(3) as u32);
        if rng.chance(5) {
            server.uidvalidity += 1;
            server.expunged.clear();
        }
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

/// The line numbers (1-based) of tagged completions: commit points.
pub fn commit_points(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("S: ") && !l.starts_with("S: * "))
        .map(|(i, _)| i + 1)
        .collect()
}

/// The commit points where a session keeps no pending FETCH MODSEQ: completions of SELECT
/// and NOOP. A replay that stops elsewhere and a new one that goes on may store a lower
/// HIGHESTMODSEQ than one replay of the whole (a new session drops the pending maximum).
pub fn release_points(text: &str) -> Vec<usize> {
    let mut releasing = std::collections::BTreeSet::new();
    let mut points = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let words: Vec<&str> = l.split(' ').collect();
        match words.as_slice() {
            ["C:", tag, "SELECT" | "NOOP", ..] => {
                releasing.insert(tag.to_string());
            }
            ["S:", tag, ..] if *tag != "*" && releasing.remove(*tag) => points.push(i + 1),
            _ => {}
        }
    }
    points
}
