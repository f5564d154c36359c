//! The writer's background syncer (issue 12, FORMAT.md 7.4): fdatasyncs the block files that
//! a later checkpoint or durable commit will need durable (compaction steps' blocks, NoSync
//! commits' blocks), writes inline blocks out to their files, and fsyncs the directory after
//! a checkpoint's journal rename, soon after each is created, so that the checkpoint or
//! commit that needs them usually finds them done instead of paying one fsync each.
//!
//! Jobs run in submission order and get increasing tickets; a ticket counts as done once its
//! job ran. The `blocks/` fsync that block jobs also need is one job of its own, queued only
//! when someone waits for them (a checkpoint, a durable commit after NoSync blocks): each
//! directory fsync is a whole file-system journal commit, which the committing thread's own
//! fsyncs would queue behind, so there is one per wait, not one per batch. Waiting is the
//! only way the foreground depends on the syncer, so every ordering rule of FORMAT.md 7 is
//! kept by waiting before the step that needs it. With `OpenOptions::background_sync(false)`
//! (crash tests, whose simulated file system must see one deterministic order) each job runs
//! at once on the calling thread, a schedule the thread could also have taken.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use uidcache_format::Record;

use crate::blocks::publish_block;
use crate::dirfs::{block_path, Fs, BLOCKS_DIR};
use crate::error::{Error, Result};
use crate::vfs::Vfs;

/// One piece of background work.
pub(crate) enum Job {
    /// Write an inline block's records to its file (of cache identity `cache_id`), with
    /// fdatasync.
    Write {
        id: u64,
        records: Arc<Vec<Record>>,
        cache_id: u64,
    },
    /// fdatasync block `id`, written without; a missing file was replaced since and is fine.
    Sync(u64),
    /// fsync the mailbox directory (a journal renamed into place by a checkpoint).
    SyncDir,
    /// Remove the `clean` marker that a writer's open trusted, and fsync the directory
    /// (FORMAT.md 8.5): before this writer's first block or temporary file.
    LeaveClean,
    /// fsync `blocks/`: the names of the blocks written before it durable.
    SyncBlocksDir,
}

impl Job {
    fn touches_blocks(&self) -> bool {
        matches!(self, Job::Write { .. } | Job::Sync(_))
    }

    fn run(self, fs: &Fs, dir: &Path) -> Result<()> {
        match self {
            Job::Write {
                id,
                records,
                cache_id,
            } => publish_block(fs, dir, id, &records, cache_id, true),
            Job::Sync(id) => {
                let path = block_path(dir, id);
                match fs.vfs.open_file(&path) {
                    Ok(file) => fs.sync_file(file.as_ref(), &path),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    Err(e) => Err(Error::io("open block", &path)(e)),
                }
            }
            Job::SyncDir => fs.sync_dir(dir),
            Job::LeaveClean => fs.leave_clean(dir),
            Job::SyncBlocksDir => fs.sync_dir(&dir.join(BLOCKS_DIR)),
        }
    }
}

#[derive(Default)]
struct Progress {
    queue: VecDeque<(u64, Job)>,
    /// Every ticket up to this one is done.
    done: u64,
    /// The first failure, until a waiter takes it; `failed` stays set after.
    error: Option<Error>,
    failed: bool,
    stop: bool,
}

struct Shared {
    progress: Mutex<Progress>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Progress> {
        // The worker never panics while holding the lock (plain queue operations).
        self.progress
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// See the module docs. Owned by a writer; dropping it finishes the queued jobs and joins
/// the thread.
pub(crate) struct Syncer {
    shared: Arc<Shared>,
    /// The syncer's own view of the file system: its fsyncs are counted apart from the
    /// committing thread's (`Stats::background_fsyncs`).
    fs: Arc<Fs>,
    dir: PathBuf,
    /// The last ticket handed out.
    submitted: u64,
    /// The last ticket that a durable commit must see done first (NoSync blocks, a journal
    /// rename): a durable frame makes every earlier frame durable (FORMAT.md 7.3).
    barrier: u64,
    /// Blocks that a `Write` job was submitted for since the last checkpoint.
    written: std::collections::HashSet<u64>,
    /// Block jobs were queued since the last `SyncBlocksDir`; `barrier_blocks`: barrier ones.
    blocks_dirty: bool,
    barrier_blocks: bool,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Syncer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Syncer")
            .field("submitted", &self.submitted)
            .field("background", &self.thread.is_some())
            .finish_non_exhaustive()
    }
}

impl Syncer {
    /// A syncer for the cache in `dir`; `background`: on its own thread, else inline.
    pub(crate) fn new(vfs: Arc<dyn Vfs>, dir: &Path, background: bool) -> Syncer {
        let shared = Arc::new(Shared {
            progress: Mutex::new(Progress::default()),
            changed: Condvar::new(),
        });
        let fs = Arc::new(Fs::new(vfs));
        let thread = background
            .then(|| {
                let (shared, fs, dir) = (Arc::clone(&shared), Arc::clone(&fs), dir.to_owned());
                std::thread::Builder::new()
                    .name("uidcache-sync".into())
                    .spawn(move || work(&shared, &fs, &dir))
                    .ok()
            })
            .flatten();
        Syncer {
            shared,
            fs,
            dir: dir.to_owned(),
            submitted: 0,
            barrier: 0,
            written: Default::default(),
            blocks_dirty: false,
            barrier_blocks: false,
            thread,
        }
    }

    /// fsyncs made by the syncer.
    pub(crate) fn syncs(&self) -> u64 {
        self.fs.syncs()
    }

    /// Queues `job` and returns its ticket; `barrier`: a durable commit must wait for it.
    /// Inline, runs it now.
    pub(crate) fn submit(&mut self, job: Job, barrier: bool) -> Result<u64> {
        self.submitted += 1;
        if barrier {
            self.barrier = self.submitted;
        }
        if let Job::Write { id, .. } = &job {
            self.written.insert(*id);
        }
        if job.touches_blocks() {
            self.blocks_dirty = true;
            self.barrier_blocks |= barrier;
        }
        if self.thread.is_none() {
            job.run(&self.fs, &self.dir)?;
            self.shared.lock().done = self.submitted;
            return Ok(self.submitted);
        }
        let mut progress = self.shared.lock();
        progress.queue.push_back((self.submitted, job));
        self.shared.changed.notify_all();
        Ok(self.submitted)
    }

    /// Whether a `Write` job for block `id` was submitted since the last checkpoint.
    pub(crate) fn wrote(&self, id: u64) -> bool {
        self.written.contains(&id)
    }

    /// Waits until every job a durable commit depends on is done, `blocks/` included.
    pub(crate) fn wait_barrier(&mut self) -> Result<()> {
        if self.barrier_blocks {
            self.sync_blocks_dir(true)?;
        }
        self.wait_for(self.barrier)
    }

    /// Waits until every job submitted so far is done, `blocks/` included (a checkpoint,
    /// before its index names any of their blocks), and starts the next checkpoint's list
    /// of written blocks.
    pub(crate) fn wait_all(&mut self) -> Result<()> {
        if self.blocks_dirty {
            self.sync_blocks_dir(false)?;
        }
        self.wait_for(self.submitted)?;
        self.written.clear();
        Ok(())
    }

    /// Queues what [`Syncer::wait_all`] would wait for (the `blocks/` fsync) without
    /// waiting, and returns the ticket that `wait_all` would wait for: a non-durable
    /// commit's due checkpoint is postponed until [`Syncer::is_done`] says so.
    pub(crate) fn start_all(&mut self) -> Result<u64> {
        if self.blocks_dirty {
            self.sync_blocks_dir(false)?;
        }
        Ok(self.submitted)
    }

    /// Whether job `ticket` (and every one before) is done, or a job failed (the next
    /// wait reports it).
    pub(crate) fn is_done(&self, ticket: u64) -> bool {
        let progress = self.shared.lock();
        progress.failed || progress.done >= ticket
    }

    /// Whether jobs run on the syncer's own thread (else inline: nothing is ever waited for).
    pub(crate) fn background(&self) -> bool {
        self.thread.is_some()
    }

    /// Queues the `blocks/` fsync that makes every block job before it complete.
    fn sync_blocks_dir(&mut self, barrier: bool) -> Result<()> {
        self.submit(Job::SyncBlocksDir, barrier)?;
        self.blocks_dirty = false;
        self.barrier_blocks = false;
        Ok(())
    }

    /// Waits until job `ticket` (and every one before it) is done.
    pub(crate) fn wait_for(&self, ticket: u64) -> Result<()> {
        let mut progress = self.shared.lock();
        loop {
            if progress.failed {
                return Err(progress.error.take().unwrap_or_else(|| {
                    Error::io("background sync", &self.dir)(std::io::Error::other(
                        "an earlier background fsync failed",
                    ))
                }));
            }
            if progress.done >= ticket {
                return Ok(());
            }
            progress = self
                .shared
                .changed
                .wait(progress)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.shared.lock().stop = true;
            self.shared.changed.notify_all();
            let _ = thread.join();
        }
    }
}

/// The thread: takes every queued job, runs them, and marks the batch done. After a failure it runs nothing more (the writer is poisoned at its
/// next wait), but still marks tickets done so that no waiter hangs.
fn work(shared: &Shared, fs: &Fs, dir: &Path) {
    loop {
        let (batch, failed) = {
            let mut progress = shared.lock();
            while progress.queue.is_empty() && !progress.stop {
                progress = shared
                    .changed
                    .wait(progress)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
            if progress.queue.is_empty() {
                return;
            }
            (std::mem::take(&mut progress.queue), progress.failed)
        };
        let last = batch.back().map_or(0, |(ticket, _)| *ticket);
        let result = if failed {
            Ok(())
        } else {
            run_batch(batch, fs, dir)
        };
        let mut progress = shared.lock();
        if let Err(e) = result {
            progress.failed = true;
            progress.error.get_or_insert(e);
        }
        progress.done = last;
        shared.changed.notify_all();
    }
}

fn run_batch(batch: VecDeque<(u64, Job)>, fs: &Fs, dir: &Path) -> Result<()> {
    for (_, job) in batch {
        job.run(fs, dir)?;
    }
    Ok(())
}
