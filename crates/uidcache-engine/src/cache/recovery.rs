//! Reading a cache back: the index, then the journal frames that continue it (a torn or
//! unsynced tail ends the journal), for a writer's open, a reader and `Cache::refresh`;
//! and the leftovers that a crash can leave.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use uidcache_format::{
    scan_journal, FormatError, FormatErrorKind, IndexImage, Op, Record, FRAME_DURABLE,
    JOURNAL_GENERATION_OFFSET, NO_IDENTITY,
};

use crate::blocks::BlockStore;
use crate::dirfs::{block_id_of, Fs, BLOCKS_DIR, INDEX_FILE, JOURNAL_FILE, LOCK_FILE};
use crate::error::{Error, ErrorKind, Result};
use crate::image::from_image;
use crate::state::State;

/// What the index and journal hold, read without changing anything.
pub(super) struct Loaded {
    pub(super) state: State,
    pub(super) generation: u64,
    /// `(salt, next frame seq, valid end, file length)` of a journal that continues the index.
    pub(super) journal: Option<(u32, u64, u64, u64)>,
    /// Every block the index or a replayed frame names: what a replay of these files needs.
    pub(super) named: HashSet<u64>,
}

/// The committed state as the writer reads it (`writer`: it holds the lock, so a journal
/// ahead of the index is damage) or as a reader does (retrying across a checkpoint).
pub(super) fn read_state(dir: &Path, fs: &Fs, store: &BlockStore, writer: bool) -> Result<Loaded> {
    if writer {
        load(dir, fs, store)
    } else {
        load_as_reader(dir, fs, store)
    }
}

/// What remains of a cache whose `index` is missing, as corruption naming the index; `None`
/// when nothing remains (a new cache, or a first open that stopped before its index).
///
/// A writer's first open publishes the index before the journal and before any block file
/// (FORMAT.md 8.1), and no later step removes it, so a journal or block file beside no index
/// means the index was lost: starting a fresh cache there would unlink those blocks and
/// replace the journal, losing what they still prove. The caller fails instead, and
/// `uidcache-fsck --repair` rebuilds what it can.
pub(super) fn lost_index(dir: &Path, fs: &Fs) -> Result<Option<Error>> {
    let journal = fs.vfs.exists(&dir.join(JOURNAL_FILE));
    let blocks_dir = dir.join(BLOCKS_DIR);
    let blocks = match fs.vfs.list_dir(&blocks_dir) {
        Ok(names) => names.iter().filter(|n| block_id_of(n).is_some()).count(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(Error::io("list", &blocks_dir)(e)),
    };
    if !journal && blocks == 0 {
        return Ok(None);
    }
    let files = |n: usize| {
        if n == 1 {
            "1 block file".to_string()
        } else {
            format!("{n} block files")
        }
    };
    let what = match (journal, blocks) {
        (true, 0) => "the journal remains".to_string(),
        (true, n) => format!("the journal and {} remain", files(n)),
        (false, n) => format!("{} remain", files(n)),
    };
    Ok(Some(Error::corrupt(
        dir.join(INDEX_FILE),
        FormatError::new(
            FormatErrorKind::Truncated,
            "IndexHeader",
            "file",
            0,
            "an index beside the journal and block files",
            format_args!(
                "no index file, but {what} (the index was lost; run uidcache-fsck --repair)"
            ),
        ),
    )))
}

/// How many times a reader starts over when a checkpoint replaced files under it.
const READER_ATTEMPTS: usize = 20;

/// `load` for a reader, which takes no lock: a checkpoint between its reads of the index
/// and the journal shows up as a journal newer than the index ([`JournalAhead`]), or a
/// block already unlinked. Both mean "read again"; anything else is an answer (damage
/// included: an older journal is never a race, so it is reported at once).
fn load_as_reader(dir: &Path, fs: &Fs, store: &BlockStore) -> Result<Loaded> {
    let index_path = dir.join(INDEX_FILE);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let retry = attempt < READER_ATTEMPTS;
        let loaded = match load_checked(dir, fs, store) {
            Err(e) if not_found_at(&e).is_some_and(|p| p == index_path) => no_index(dir, fs, store),
            other => other,
        };
        match loaded {
            Ok(Ok(loaded)) => return Ok(loaded),
            Ok(Err(_)) if retry => {}
            Ok(Err(ahead)) => return Err(ahead.into_error()),
            // A missing index is an answer (no cache there), a missing block a race.
            Err(e) if retry && not_found_at(&e).is_some_and(|p| p != index_path) => {}
            Err(e) => return Err(e),
        }
        std::thread::sleep(std::time::Duration::from_millis(attempt as u64));
    }
}

/// The path of a failed file operation that found nothing there.
fn not_found_at(e: &Error) -> Option<&Path> {
    match e.kind() {
        ErrorKind::Io { source, path, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            Some(path)
        }
        _ => None,
    }
}

/// A journal of a later generation than the index read before it. For a reader that is
/// a checkpoint that ran between its two reads (read again); for the writer, who holds
/// the lock, it is damage.
struct JournalAhead {
    path: PathBuf,
    index: u64,
    journal: u64,
}

impl JournalAhead {
    fn into_error(self) -> Error {
        Error::corrupt(
            &self.path,
            FormatError::new(
                FormatErrorKind::Invalid,
                "JournalHeader",
                "generation",
                JOURNAL_GENERATION_OFFSET as u64,
                format_args!("at most {} (the index's)", self.index),
                self.journal,
            ),
        )
    }
}

/// A reader's answer for a directory without an index: the empty state when a writer
/// created the directory (its `lock` exists) and nothing was committed yet; corruption when
/// a journal or block files remain; otherwise "no cache here" (a `NotFound` I/O error
/// naming the index).
fn no_index(dir: &Path, fs: &Fs, store: &BlockStore) -> Result<Result<Loaded, JournalAhead>> {
    let index_path = dir.join(INDEX_FILE);
    let lost = lost_index(dir, fs)?;
    // A writer initializing meanwhile publishes the index before the journal: if the index
    // is there now, what was listed was a new cache being created, so read it.
    if fs.vfs.exists(&index_path) {
        return load_checked(dir, fs, store);
    }
    if let Some(lost) = lost {
        return Err(lost);
    }
    if !fs.vfs.exists(&dir.join(LOCK_FILE)) {
        return Err(Error::io("read index", &index_path)(std::io::Error::from(
            std::io::ErrorKind::NotFound,
        )));
    }
    let image = IndexImage {
        next_block_id: 1,
        ..IndexImage::default()
    };
    Ok(Ok(Loaded {
        state: from_image(image, &index_path)?,
        generation: 0,
        journal: None,
        named: HashSet::new(),
    }))
}

/// Reads the index, then replays the journal that continues it (the writer's `load`:
/// a journal ahead of the index is damage).
fn load(dir: &Path, fs: &Fs, store: &BlockStore) -> Result<Loaded> {
    load_checked(dir, fs, store)?.map_err(JournalAhead::into_error)
}

/// [`load`], with a journal ahead of the index told apart from other damage.
fn load_checked(dir: &Path, fs: &Fs, store: &BlockStore) -> Result<Result<Loaded, JournalAhead>> {
    let index_path = dir.join(INDEX_FILE);
    let bytes = fs.read(&index_path, "read index")?;
    let image = IndexImage::decode(&bytes).map_err(|e| Error::corrupt(&index_path, e))?;
    let generation = image.generation;
    let cache_id = image.cache_id;
    // Every block read from here on must carry this cache's identity (FORMAT.md 1.5).
    store.set_cache_id(cache_id);
    let mut named: HashSet<u64> = image
        .placed
        .iter()
        .chain(&image.unplaced)
        .map(|e| e.block_id.get())
        .collect();
    let mut state = from_image(image, &index_path)?;
    let journal_path = dir.join(JOURNAL_FILE);
    let bytes = match fs.vfs.read(&journal_path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            missing_journal(generation, cache_id, &journal_path)?;
            return Ok(Ok(Loaded {
                state,
                generation,
                journal: None,
                named,
            }));
        }
        Err(e) => return Err(Error::io("read journal", &journal_path)(e)),
    };
    let scan = match scan_journal(&bytes, cache_id) {
        Ok(scan) => scan,
        // The one v1 journal a v2 index may sit beside: the one an upgrade's checkpoint
        // was about to replace (FORMAT.md 1.2). Its generation says so.
        Err(e) if cache_id != NO_IDENTITY => match scan_journal(&bytes, NO_IDENTITY) {
            Ok(v1) if v1.generation.checked_add(1) == Some(generation) => {
                return Ok(Ok(Loaded {
                    state,
                    generation,
                    journal: None,
                    named,
                }));
            }
            _ => return Err(Error::corrupt(&journal_path, e)),
        },
        Err(e) => return Err(Error::corrupt(&journal_path, e)),
    };
    if scan.generation < generation {
        // A checkpoint was interrupted after its index was renamed into place: the old
        // journal's frames are all in the index already. That checkpoint wrote the index
        // of the generation after the journal's; any older journal is not this one's
        // predecessor but a restored or copied file, and commits may be missing.
        if scan.generation + 1 != generation {
            return Err(Error::corrupt(
                &journal_path,
                FormatError::new(
                    FormatErrorKind::Invalid,
                    "JournalHeader",
                    "generation",
                    JOURNAL_GENERATION_OFFSET as u64,
                    format_args!(
                        "{generation} or {} (the index's, or the one an interrupted checkpoint left)",
                        generation - 1
                    ),
                    format_args!("{} (an older journal: commits may be lost)", scan.generation),
                ),
            ));
        }
        return Ok(Ok(Loaded {
            state,
            generation,
            journal: None,
            named,
        }));
    }
    if scan.generation > generation {
        return Ok(Err(JournalAhead {
            path: journal_path,
            index: generation,
            journal: scan.generation,
        }));
    }
    // Frames after the last durable one were never fsynced: after power loss their blocks
    // may be missing or stale even though the frame itself survived. Such a frame ends the
    // journal like a torn write (its commit was allowed to be lost), instead of failing.
    let durable_upto = scan
        .frames
        .iter()
        .rposition(|f| f.flags & FRAME_DURABLE != 0)
        .map_or(0, |i| i + 1);
    let mut end = scan.end;
    let mut next = scan.frames.last().map_or(1, |f| f.frame_seq + 1);
    for (i, frame) in scan.frames.iter().enumerate() {
        let ops = Op::decode_all(frame.payload, frame.payload_offset)
            .map_err(|e| Error::corrupt(&journal_path, e))?;
        if i >= durable_upto && !blocks_intact(&ops, store)? {
            end = frame.offset;
            next = frame.frame_seq;
            break;
        }
        for op in &ops {
            if let Op::Learn { block_id: id, .. } | Op::InlineBlock { id, .. } = op {
                named.insert(*id);
            }
            state.replay(op, store).map_err(|e| match e.into_kind() {
                ErrorKind::Invalid(why) => Error::corrupt(
                    &journal_path,
                    FormatError::new(
                        FormatErrorKind::Invalid,
                        "JournalFrame",
                        "ops",
                        frame.offset,
                        "ops that fit the state",
                        why,
                    ),
                ),
                other => other.into(),
            })?;
        }
    }
    Ok(Ok(Loaded {
        state,
        generation,
        journal: Some((scan.salt, next, end, bytes.len() as u64)),
        named,
    }))
}

/// The answer for an index whose journal does not exist (FORMAT.md 8.3).
///
/// Every checkpoint renames its new journal over the old one, so from the first checkpoint
/// on a journal always exists: without one, the commits made since that checkpoint (if
/// any) are gone, which is damage, not something a writer may paper over by starting an
/// empty journal. Only an index of generation 0 may lack its journal: the first open
/// publishes the index before the journal. A format-v1 cache keeps the v1 rule (a writer
/// creates the journal).
fn missing_journal(generation: u64, cache_id: u64, journal_path: &Path) -> Result<()> {
    if generation == 0 || cache_id == NO_IDENTITY {
        return Ok(());
    }
    Err(Error::corrupt(
        journal_path,
        FormatError::new(
            FormatErrorKind::Truncated,
            "JournalHeader",
            "file",
            0,
            format_args!("the journal of generation {generation}"),
            "no journal file (commits since the last checkpoint may be lost; run uidcache-fsck --repair)",
        ),
    ))
}

/// Whether every block a frame's `Learn` ops name exists, is sound and holds the named UIDs
/// (the frame's own `InlineBlock` ops count as sound blocks).
///
/// A block that is missing or whose bytes are wrong is what a power loss leaves of an
/// unsynced commit: `false`, and the frame ends the journal. A read that fails (EIO,
/// EACCES, ...) proves nothing about the block: that is an error, never a torn tail, or a
/// writer's open would cut the journal there and unlink the intact block as unnamed.
fn blocks_intact(ops: &[Op], store: &BlockStore) -> Result<bool> {
    let inline: Vec<(u64, &[Record])> = ops
        .iter()
        .filter_map(|op| match op {
            Op::InlineBlock { id, records } => Some((*id, records.as_slice())),
            _ => None,
        })
        .collect();
    for op in ops {
        let Op::Learn {
            block_id,
            first_record,
            len,
            first_uid,
            last_uid,
            ..
        } = op
        else {
            continue;
        };
        let from_file;
        let records: &[Record] = match inline.iter().find(|(id, _)| id == block_id) {
            Some((_, records)) => records,
            None => match crate::blocks::RecordSource::records(store, *block_id) {
                Ok(r) => {
                    from_file = r;
                    &from_file
                }
                Err(e) if e.io_kind() == Some(std::io::ErrorKind::NotFound) => return Ok(false),
                Err(e) if e.is_corruption() => return Ok(false),
                Err(e) => return Err(e),
            },
        };
        let first = records.get(*first_record as usize).map(|r| r.uid.get());
        let last = (*first_record as usize)
            .checked_add(*len as usize)
            .and_then(|end| end.checked_sub(1));
        let last = last.and_then(|k| records.get(k)).map(|r| r.uid.get());
        if first != Some(*first_uid) || last != Some(*last_uid) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Unlinks the engine's own temporary files and every block file whose ID is not in
/// `named`, in the directory and in `blocks/`.
///
/// At a checkpoint `named` is the committed state's blocks. At a writer's open it is every
/// block the index or a replayed frame names, so what goes is what a crash can leave: blocks
/// of commits that never happened and dead blocks an interrupted checkpoint did not unlink.
/// No replay of the files on disk can need them; a reader holding an older snapshot
/// refreshes, as after any checkpoint.
pub(super) fn remove_unnamed(
    fs: &Fs,
    dir: &Path,
    named: &HashSet<u64>,
    store: &BlockStore,
) -> Result<()> {
    for (d, holds_blocks) in [(dir.to_path_buf(), false), (dir.join(BLOCKS_DIR), true)] {
        let names = fs.vfs.list_dir(&d).map_err(Error::io("list", &d))?;
        for name in names {
            // Every writer's open runs this over every block file (listing them is most of a
            // reopen's time): test the directory once, not per name.
            let id = if holds_blocks {
                block_id_of(&name)
            } else {
                None
            };
            if crate::safeopen::is_own_tmp(&name, holds_blocks)
                || id.is_some_and(|id| !named.contains(&id))
            {
                if let Some(id) = id {
                    store.evict(id);
                }
                let path = d.join(&name);
                fs.vfs
                    .remove_file(&path)
                    .map_err(Error::io("remove", &path))?;
            }
        }
    }
    Ok(())
}
