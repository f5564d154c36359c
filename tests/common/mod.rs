//! Helpers shared by the integration tests.
#![allow(dead_code, reason = "each test binary uses a different part")]

pub mod faultfs;
pub mod simfs;

/// SplitMix64: a tiny, seedable, well-mixed generator, so test cases replay from a seed
/// without a dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

/// The files of a cache directory (`name → bytes`, names ending in `index`, `journal`,
/// `<id>.ucb`) rewritten as a format-v1 cache would have written them: no identity, v1
/// versions, CRCs without the identity. What users have on disk from before format v2.
pub fn to_format_v1(
    files: &std::collections::BTreeMap<std::path::PathBuf, Vec<u8>>,
) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    use uidcache_format::{
        encode_block, encode_frame, encode_journal_header, parse_block, scan_journal, IndexImage,
        NO_IDENTITY,
    };
    let index = files
        .iter()
        .find(|(p, _)| p.ends_with("index"))
        .map(|(_, b)| IndexImage::decode(b).unwrap())
        .unwrap();
    let id = index.cache_id;
    files
        .iter()
        .map(|(path, bytes)| {
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            let out = if name == "index" {
                IndexImage {
                    cache_id: NO_IDENTITY,
                    ..index.clone()
                }
                .encode()
            } else if name == "journal" {
                let scan = scan_journal(bytes, id).unwrap();
                let mut out = encode_journal_header(scan.salt, scan.generation, NO_IDENTITY);
                for f in &scan.frames {
                    out.extend(encode_frame(
                        scan.salt,
                        NO_IDENTITY,
                        f.frame_seq,
                        f.flags,
                        f.payload,
                    ));
                }
                out
            } else if let Some(hex) = name.strip_suffix(".ucb") {
                let block = u64::from_str_radix(hex, 16).unwrap();
                encode_block(block, parse_block(bytes, block, id).unwrap(), NO_IDENTITY)
            } else {
                bytes.clone()
            };
            (path.clone(), out)
        })
        .collect()
}

/// A closed (checkpointed) cache in `dir` of `messages` messages, UID `uid_of(seq)`, learned
/// `block` records at a time, so that each run is one block file of its own.
pub fn fill_in_blocks(dir: &std::path::Path, messages: u32, block: u32, uid_of: fn(u32) -> u32) {
    let mut cache = uidcache::OpenOptions::new()
        .create(true)
        .durability(uidcache::Durability::NoSync)
        .open(dir)
        .unwrap();
    let mut tx = cache.transaction().unwrap();
    tx.set_exists(messages).unwrap();
    for first in (1..=messages).step_by(block as usize) {
        let uids: Vec<u32> = (first..(first + block).min(messages + 1))
            .map(uid_of)
            .collect();
        tx.learn_range(first, &uids).unwrap();
    }
    tx.commit().unwrap();
    cache.close().unwrap();
}

/// `/NAME` of every block file of the cache in `dir`, sorted: the suffixes that
/// `faultfs::FaultVfs` counts reads and mappings by.
pub fn block_file_suffixes(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join(uidcache::tools::BLOCKS_DIR))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".ucb"))
        .map(|name| format!("/{name}"))
        .collect();
    names.sort();
    names
}

/// Where each UID `uid_of(1..=messages)` stands once the sorted UIDs `gone` are removed:
/// `(uid, position)` in the order of the old sequence numbers.
pub fn positions_after_removal(
    messages: u32,
    uid_of: fn(u32) -> u32,
    gone: &[u32],
) -> Vec<(u32, uidcache::UidPosition)> {
    let mut seq = 0;
    (1..=messages)
        .map(uid_of)
        .map(|uid| {
            let at = if gone.binary_search(&uid).is_ok() {
                uidcache::UidPosition::Absent
            } else {
                seq += 1;
                uidcache::UidPosition::Placed(seq)
            };
            (uid, at)
        })
        .collect()
}
