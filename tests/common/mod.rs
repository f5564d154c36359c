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
