//! replay, dump, stat, needed, qresync: open the cache, call the library, print.

use crate::stdout::outln;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use uidcache_engine::tools::{StdVfs, Vfs};
use uidcache_engine::{Cache, Durability, ErrorKind, OpenOptions, Segment};
use uidcache_imap::{Error, LineError};

use crate::failure::Failure;

/// Opens `dir` as a reader. The engine answers a directory without an index itself: the
/// empty state when a writer created it and committed nothing yet (exit 0), corruption when
/// a journal or block files remain (exit 1, the cache needs `uidcache-fsck --repair`), and
/// a `NotFound` error naming the index when no writer ever opened it ("no cache here",
/// exit 2).
fn open_reader(dir: &Path) -> Result<Cache, Failure> {
    open_reader_with(dir, None)
}

/// [`open_reader`] through `vfs` (tests inject read failures there).
fn open_reader_with(dir: &Path, vfs: Option<Arc<dyn Vfs>>) -> Result<Cache, Failure> {
    let index = dir.join(uidcache_engine::tools::INDEX_FILE);
    let probe = vfs.clone().unwrap_or_else(|| Arc::new(StdVfs));
    let mut options = OpenOptions::new().read_only(true);
    if let Some(vfs) = vfs {
        options = options.vfs(vfs);
    }
    Cache::open_with(dir, options).map_err(|e| match e.kind() {
        ErrorKind::Io { path, source, .. }
            if *path == index && source.kind() == std::io::ErrorKind::NotFound =>
        {
            // A directory that can be searched but not listed (mode -wx) answers "no such
            // file" for the index whether or not there is a cache: the real error is the one
            // that keeps us from looking.
            match probe.list_dir(dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Failure::Io(format!("list {}: {e}", dir.display()))
                }
                _ => Failure::Io(format!("{}: no cache here", dir.display())),
            }
        }
        _ => Failure::engine(&dir.display().to_string(), e),
    })
}

/// `uidcache replay`.
pub fn replay(dir: &Path, transcript: Option<&Path>, no_fsync: bool) -> Result<(), Failure> {
    let input = match transcript {
        Some(p) if p != Path::new("-") => {
            std::fs::read(p).map_err(|e| Failure::Io(format!("read {}: {e}", p.display())))?
        }
        _ => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| Failure::Io(format!("read stdin: {e}")))?;
            buf
        }
    };
    let durability = if no_fsync {
        Durability::NoSync
    } else {
        Durability::Durable
    };
    let options = OpenOptions::new().durability(durability);
    let mut cache = Cache::open_with(dir, options)
        .map_err(|e| Failure::engine(&dir.display().to_string(), e))?;
    uidcache_imap::replay(&mut cache, &input, durability).map_err(line_failure)?;
    Ok(())
}

fn line_failure(e: LineError) -> Failure {
    let message = e.to_string();
    match e.source {
        Error::Engine(e) if matches!(e.kind(), ErrorKind::Io { .. }) => Failure::Io(message),
        _ => Failure::Input(message),
    }
}

/// `uidcache dump`.
pub fn dump(dir: &Path) -> Result<(), Failure> {
    let out = dump_with(dir, None)?;
    crate::stdout::write(&out)
}

/// The dump of the cache in `dir`, read through `vfs`.
fn dump_with(dir: &Path, vfs: Option<Arc<dyn Vfs>>) -> Result<Vec<u8>, Failure> {
    let mut cache = open_reader_with(dir, vfs)?;
    // `read` starts over on the newest snapshot if the writer unlinks a block under us.
    cache
        .read(|view| {
            let mut out = Vec::new();
            uidcache_imap::dump(view, &mut out).map(|()| out)
        })
        .map_err(|e| read_failure(dir, e))
}

/// Classifies an error of reading the state after the open: `uidcache_imap::dump` wraps the
/// engine's error in an `io::Error`; unwrapped, a failed read (EIO, EACCES) is exit 2 like
/// any I/O error, and only a damaged file is exit 1. Writing to a `Vec` cannot fail, so an
/// error without an engine error inside is a finding about the cache too.
fn read_failure(dir: &Path, e: std::io::Error) -> Failure {
    let context = dir.display().to_string();
    let is_engine = e
        .get_ref()
        .is_some_and(|inner| inner.is::<uidcache_engine::Error>());
    if is_engine {
        if let Some(Ok(engine)) = e
            .into_inner()
            .map(|inner| inner.downcast::<uidcache_engine::Error>())
        {
            return Failure::engine(&context, *engine);
        }
        return Failure::Input(context);
    }
    Failure::Input(format!("{context}: {e}"))
}

/// `uidcache stat`.
pub fn stat(dir: &Path) -> Result<(), Failure> {
    let cache = open_reader(dir)?;
    let view = cache.view();
    let layout = cache.layout();
    let segments = view.segments();
    let holes: Vec<(u32, u32)> = segments
        .iter()
        .filter_map(|s| match s {
            Segment::Hole(a, b) => Some((*a, *b)),
            Segment::Known(..) => None,
        })
        .collect();
    let hole_positions: u64 = holes.iter().map(|(a, b)| u64::from(b - a) + 1).sum();
    let (block_files, block_bytes) = dir_size(&dir.join(uidcache_engine::tools::BLOCKS_DIR));
    let journal = std::fs::metadata(dir.join(uidcache_engine::tools::JOURNAL_FILE));
    let index = std::fs::metadata(dir.join(uidcache_engine::tools::INDEX_FILE));
    let size = |m: &std::io::Result<std::fs::Metadata>| m.as_ref().map_or(0, |m| m.len());
    let opt = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
    let mut out = String::new();
    out += &format!("cache          {}\n", dir.display());
    out += &format!(
        "mailbox        uidvalidity {}, uidnext {}, highestmodseq {}, exists {}\n",
        opt(view.uidvalidity().map(u64::from)),
        opt(view.uidnext().map(u64::from)),
        opt(view.highestmodseq()),
        opt(view.exists().map(u64::from))
    );
    out += &format!(
        "records        {} placed in {} index entries, {} unplaced in {} entries, {} flag overrides\n",
        layout.placed_records, layout.placed_entries, layout.unplaced_records, layout.unplaced_entries, layout.overlay
    );
    out += &format!(
        "holes          {} ({} sequence numbers unknown)",
        holes.len(),
        hole_positions
    );
    if let Some((a, b)) = holes.first() {
        out += &format!(", first {a}:{b}");
    }
    out += "\n";
    out += &format!(
        "blocks         {} referenced, {} files, {} bytes ({} per file on average)\n",
        layout.blocks,
        block_files,
        block_bytes,
        block_bytes.checked_div(block_files).unwrap_or(0)
    );
    out += &format!(
        "journal        {} bytes, index {} bytes, generation {}\n",
        size(&journal),
        size(&index),
        layout.generation
    );
    out += &format!(
        "disk use       {} bytes\n",
        block_bytes + size(&journal) + size(&index)
    );
    let last = journal
        .ok()
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.elapsed().ok())
        .map_or("-".to_string(), |d| {
            format!("{}s ago (journal written)", d.as_secs())
        });
    out += &format!("last commit    {last}\n");
    crate::stdout::write(out.as_bytes())
}

fn dir_size(dir: &Path) -> (u64, u64) {
    let mut files = 0;
    let mut bytes = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if let Ok(m) = entry.metadata() {
                files += 1;
                bytes += m.len();
            }
        }
    }
    (files, bytes)
}

/// `uidcache needed`.
pub fn needed(dir: &Path, seq: u32, max: u32) -> Result<(), Failure> {
    let cache = open_reader(dir)?;
    let view = cache.view();
    let count = view.exists().unwrap_or(0);
    if seq == 0 || seq > count {
        return Err(Failure::Input(format!(
            "sequence number {seq} is outside 1..={count}"
        )));
    }
    if let Some(range) = view.fetch_plan(seq, max) {
        outln!("{}:{}", range.start(), range.end());
    }
    Ok(())
}

/// `uidcache qresync`.
pub fn qresync(dir: &Path) -> Result<(), Failure> {
    let cache = open_reader(dir)?;
    match uidcache_imap::qresync_param(&cache.view()) {
        Ok(Some(p)) => {
            outln!("{p}");
            Ok(())
        }
        Ok(None) => Err(Failure::Input(
            "QRESYNC needs UIDVALIDITY and HIGHESTMODSEQ, and the cache lacks one".into(),
        )),
        Err(e) => Err(Failure::Input(e.to_string())),
    }
}

#[cfg(test)]
#[path = "../../../tests/common/faultfs.rs"]
mod faultfs;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::faultfs::{FaultVfs, EACCES, EIO};
    use super::*;

    /// A cache with a block file (300 records: above the inline limit), checkpointed.
    fn cache_with_block(dir: &Path) -> std::path::PathBuf {
        let mut cache = Cache::open(dir).unwrap();
        let mut tx = cache.transaction().unwrap();
        tx.set_exists(300).unwrap();
        let uids: Vec<u32> = (1..=300).collect();
        tx.learn_range(1, &uids).unwrap();
        tx.commit().unwrap();
        cache.checkpoint().unwrap();
        drop(cache);
        uidcache_engine::tools::block_path(dir, 1)
    }

    /// Defect: `dump` reported a failed block read (EIO, EACCES) as a cache error (exit 1);
    /// it is an I/O error (exit 2).
    #[test]
    fn dump_reports_a_failed_block_read_as_an_io_error() {
        for errno in [EIO, EACCES] {
            let d = tempfile::tempdir().unwrap();
            let block = cache_with_block(d.path());
            assert!(dump_with(d.path(), None).is_ok());
            let vfs = FaultVfs::new();
            vfs.fail_reads(block.to_str().unwrap(), errno);
            let failure = dump_with(d.path(), Some(vfs)).unwrap_err();
            assert_eq!(failure.exit_code(), 2, "{errno}: {failure}");
            assert!(
                failure.to_string().contains(block.to_str().unwrap()),
                "{failure}"
            );
        }
    }

    /// Defect: for a directory that cannot be listed, `dump` said "no cache here"; it says
    /// why it cannot look (exit 2).
    #[test]
    fn dump_of_an_unlistable_directory_reports_the_real_error() {
        let d = tempfile::tempdir().unwrap();
        let vfs = FaultVfs::new();
        vfs.fail_reads(d.path().to_str().unwrap(), EACCES);
        let failure = dump_with(d.path(), Some(vfs)).unwrap_err();
        assert_eq!(failure.exit_code(), 2);
        let text = failure.to_string();
        assert!(
            text.contains("Permission denied") && !text.contains("no cache here"),
            "{text}"
        );
        // A directory that lists fine and holds nothing is still "no cache here".
        let failure = dump_with(d.path(), None).unwrap_err();
        assert!(failure.to_string().contains("no cache here"), "{failure}");
    }

    /// A damaged block file stays a cache error (exit 1).
    #[test]
    fn dump_reports_a_damaged_block_as_a_cache_error() {
        let d = tempfile::tempdir().unwrap();
        let block = cache_with_block(d.path());
        std::fs::write(&block, b"junk").unwrap();
        assert_eq!(dump_with(d.path(), None).unwrap_err().exit_code(), 1);
    }
}
