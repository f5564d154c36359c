//! Disk use stays bounded under any sequence of operations (issue 12): a long random storm
//! of appends, expunges of random ranges, flag updates, VANISHED removals and reopens, with
//! the space the cache directory takes on disk (`du`: allocated blocks, not file lengths)
//! checked against the bound of FORMAT.md 11.5 every few thousand operations:
//!
//! `du <= 2 × live record bytes + 4 KiB × live block files + index + journal
//!        + max(journal_limit, index) + STEP_MAX_RECORDS × 16 + 64 KiB`
//!
//! (a block file stays while at least half of its records are live; a file's last page is
//! allocated whole; the journal is at most its limit plus one frame; block files that no
//! slice uses any more wait for a checkpoint, which is due once they take more than the
//! journal limit or the index, whichever is larger (the engine's estimate of the next
//! index: 32 bytes an entry, 16 an overlay entry, the flag tables within the slack), plus
//! what one step wrote since; the directories, lock and marker take a
//! few pages). After a close, with nothing waiting, the same without the last two terms.
//! The live block files are bounded by the live records: at most one per 256, plus 64.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: a panic is a failure report"
)]

mod common;

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;

use common::Rng;
use uidcache::tools::{BlockBytes, LockGuard, PathKind, StdVfs, Vfs, VfsFile};
use uidcache::{Cache, Durability, OpenOptions, Update};

/// The real file system without fsyncs: this test measures space, and on a shared machine
/// the checkpoints' fsyncs would take most of its time.
#[derive(Debug)]
struct NoFsync(StdVfs);

struct NoFsyncFile(Box<dyn VfsFile>);

impl VfsFile for NoFsyncFile {
    fn write_at(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        self.0.write_at(bytes, offset)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn sync_data(&self) -> io::Result<()> {
        Ok(())
    }
}

impl Vfs for NoFsync {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.0.read(path)
    }
    fn exists(&self, path: &Path) -> bool {
        self.0.exists(path)
    }
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.0.create_dir_all(path)
    }
    fn write_file(&self, path: &Path, bytes: &[u8]) -> io::Result<Box<dyn VfsFile>> {
        Ok(Box::new(NoFsyncFile(self.0.write_file(path, bytes)?)))
    }
    fn open_file(&self, path: &Path) -> io::Result<Box<dyn VfsFile>> {
        Ok(Box::new(NoFsyncFile(self.0.open_file(path)?)))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.0.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.0.remove_file(path)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        self.0.list_dir(path)
    }
    fn sync_dir(&self, _path: &Path) -> io::Result<()> {
        Ok(())
    }
    fn file_len(&self, path: &Path) -> io::Result<u64> {
        self.0.file_len(path)
    }
    fn map_block(&self, path: &Path) -> io::Result<Box<dyn BlockBytes>> {
        self.0.map_block(path)
    }
    fn try_lock(&self, path: &Path) -> io::Result<Option<LockGuard>> {
        self.0.try_lock(path)
    }
    fn is_symlink(&self, path: &Path) -> bool {
        self.0.is_symlink(path)
    }
    fn kind(&self, path: &Path) -> io::Result<PathKind> {
        self.0.kind(path)
    }
}

/// Operations in the storm (each append, expunge, flag update or removal is one).
const OPS: u64 = 1_000_000;
/// Operations between two checks of the bound.
const CHECK_EVERY: u64 = 5_000;
/// Operations between two reopens.
const REOPEN_EVERY: u64 = 97_000;

/// The default journal limit, stated here because the bound uses it.
const JOURNAL_LIMIT: u64 = 1 << 20;

fn options() -> OpenOptions {
    OpenOptions::new()
        .durability(Durability::NoSync)
        .journal_limit(JOURNAL_LIMIT)
        .vfs(Arc::new(NoFsync(StdVfs)))
        // The syncer inline: the same files, but none renamed while `du` lists them.
        .background_sync(false)
}

/// Bytes allocated on disk under `dir`, and the number of block files.
fn du(dir: &Path) -> (u64, u64) {
    let mut bytes = 0;
    let mut blocks = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        bytes += std::fs::metadata(&d).unwrap().blocks() * 512;
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                bytes += meta.blocks() * 512;
                if entry.file_name().to_string_lossy().ends_with(".ucb") {
                    blocks += 1;
                }
            }
        }
    }
    (bytes, blocks)
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

struct Storm {
    rng: Rng,
    uids: Vec<u32>,
    next_uid: u32,
    modseq: u64,
    ops: u64,
}

impl Storm {
    /// One commit of a few random operations.
    fn commit(&mut self, cache: &mut Cache) {
        let mut tx = cache.transaction().unwrap();
        for _ in 0..1 + self.rng.below(12) {
            let n = self.uids.len() as u64;
            let roll = self.rng.below(100);
            // Keep the mailbox between about 20,000 and 60,000 messages.
            let grow = n < 20_000 || (n < 60_000 && roll < 30);
            if grow {
                let count = if self.rng.below(20) == 0 {
                    300 + self.rng.below(1800)
                } else {
                    1 + self.rng.below(64)
                };
                let first = self.uids.len() as u32 + 1;
                let new: Vec<u32> = (0..count)
                    .map(|_| {
                        self.next_uid += 1 + self.rng.below(2) as u32;
                        self.next_uid
                    })
                    .collect();
                tx.set_exists(first - 1 + count as u32).unwrap();
                tx.learn_range(first, &new).unwrap();
                self.uids.extend_from_slice(&new);
            } else if roll < 55 {
                // Expunge a random range, highest first.
                let len = 1 + self.rng.below(32).min(n - 1);
                let start = 1 + self.rng.below(n - len + 1);
                for seq in (start..start + len).rev() {
                    tx.expunge(seq as u32).unwrap();
                }
                self.uids
                    .drain(start as usize - 1..(start + len) as usize - 1);
            } else if roll < 85 {
                let seq = 1 + self.rng.below(n) as u32;
                self.modseq += 1;
                let flags: &[&[u8]] = if self.rng.below(2) == 0 {
                    &[b"\\Seen"]
                } else {
                    &[b"\\Flagged", b"$Junk"]
                };
                tx.update_seq(
                    seq,
                    Update {
                        flags: Some(flags),
                        modseq: Some(self.modseq),
                    },
                )
                .unwrap();
            } else {
                let i = self.rng.below(n) as usize;
                let uid = self.uids.remove(i);
                tx.remove_uid(uid).unwrap();
            }
            self.ops += 1;
        }
        tx.commit().unwrap();
    }
}

/// Checks the bound; `settled`: right after an open that followed a close (no block file
/// waits for a checkpoint). Returns the ratio of disk use to live record bytes + index.
fn check_bound(dir: &Path, cache: &Cache, ops: u64, settled: bool) -> f64 {
    let layout = cache.layout();
    let live = (layout.placed_records + layout.unplaced_records) * 16;
    let (used, files) = du(dir);
    let index = file_len(&dir.join("index"));
    let journal = file_len(&dir.join("journal"));
    let live_files = layout.blocks as u64;
    let next_index =
        32 * (layout.placed_entries + layout.unplaced_entries) as u64 + 16 * layout.overlay as u64;
    let waiting = if settled {
        0
    } else {
        JOURNAL_LIMIT.max(next_index) + uidcache::STEP_MAX_RECORDS * 16
    };
    let bound = 2 * live + 4096 * live_files + index + journal + waiting + (64 << 10);
    assert!(
        used <= bound,
        "after {ops} ops: {used} bytes on disk, bound {bound} (live {live}, {files} block \
         files, {live_files} live, index {index}, journal {journal}); layout {layout:?}"
    );
    let live_records = live / 16;
    assert!(
        live_files <= live_records / 256 + 64,
        "after {ops} ops: {live_files} block files for {live_records} live records; {layout:?}"
    );
    used as f64 / (live + index) as f64
}

#[test]
fn disk_use_stays_bounded_through_a_million_random_operations() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mbox");
    let mut cache = Cache::open_with(&path, options()).unwrap();
    let mut storm = Storm {
        rng: Rng::new(12),
        uids: Vec::new(),
        next_uid: 0,
        modseq: 1,
        ops: 0,
    };
    let mut checks = 0;
    let mut next_check = CHECK_EVERY;
    let mut next_reopen = REOPEN_EVERY;
    let ops: u64 = std::env::var("UIDCACHE_STORM_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(OPS);
    while storm.ops < ops {
        storm.commit(&mut cache);
        if storm.ops >= next_reopen {
            next_reopen += REOPEN_EVERY;
            cache.close().unwrap();
            cache = Cache::open_with(&path, options()).unwrap();
            assert_eq!(cache.view().exists(), Some(storm.uids.len() as u32));
            check_bound(&path, &cache, storm.ops, true);
        }
        if storm.ops >= next_check {
            next_check += CHECK_EVERY;
            check_bound(&path, &cache, storm.ops, false);
            if std::env::var("UIDCACHE_STORM_DEBUG").is_ok() {
                eprintln!("{} {:?} {:?}", storm.ops, cache.stats(), cache.layout());
            }
            checks += 1;
        }
    }
    // The model agrees with the cache at the end (a sample of positions).
    let view = cache.view();
    for k in (0..storm.uids.len()).step_by(97) {
        let m = view.message_at(k as u32 + 1).unwrap().unwrap();
        assert_eq!(m.uid, storm.uids[k], "seq {}", k + 1);
    }
    let stats = cache.stats();
    cache.close().unwrap();
    let cache = Cache::open_with(&path, options()).unwrap();
    let ratio = check_bound(&path, &cache, storm.ops, true);
    eprintln!(
        "after the storm: disk use {ratio:.2}x (live records + index), {:?}, {stats:?}",
        cache.layout()
    );
    assert!(checks >= ops / CHECK_EVERY, "{checks} checks");
}
