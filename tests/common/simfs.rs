//! A simulated file system for crash tests: it counts file operations, can "crash" after
//! any of them, and turns what was written into the images that a power loss may leave:
//! data not yet fsynced lost, kept, partly written (torn at 512-byte sectors) or kept out of
//! order, and directory entries (creates, renames, unlinks) not followed by a directory
//! fsync undone.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use uidcache::tools::{BlockBytes, LockGuard, PathKind, Vfs, VfsFile};

use super::Rng;

const SECTOR: usize = 512;

#[derive(Debug, Clone)]
enum Change {
    Write { offset: u64, bytes: Vec<u8> },
    SetLen(u64),
}

#[derive(Debug, Clone, Default)]
struct Inode {
    durable: Vec<u8>,
    current: Vec<u8>,
    unsynced: Vec<Change>,
}

fn apply(data: &mut Vec<u8>, change: &Change) {
    match change {
        Change::Write { offset, bytes } => {
            let end = *offset as usize + bytes.len();
            if data.len() < end {
                data.resize(end, 0);
            }
            data[*offset as usize..end].copy_from_slice(bytes);
        }
        Change::SetLen(len) => data.resize(*len as usize, 0),
    }
}

#[derive(Debug, Clone)]
enum NameOp {
    Link(PathBuf, u64),
    Unlink(PathBuf),
}

#[derive(Debug, Clone, Default)]
struct Inner {
    inodes: HashMap<u64, Inode>,
    next_ino: u64,
    names: BTreeMap<PathBuf, u64>,
    durable_names: BTreeMap<PathBuf, u64>,
    /// Name changes not yet made durable by an fsync of their directory, oldest first.
    name_log: Vec<NameOp>,
    ops: u64,
    crash_after: Option<u64>,
    /// Operation number that fails with an I/O error, and whether every later one does too.
    fail_at: Option<(u64, bool)>,
}

/// How unsynced data fares in a crash image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// Everything not fsynced is gone.
    All,
    /// Nothing is lost (a crash of the process only).
    None,
    /// Each file keeps a random prefix of its unsynced writes, the last one torn at a
    /// sector boundary; a random prefix of the unsynced directory changes survives.
    TornPrefix(u64),
    /// Each file keeps a random subset of its unsynced writes (POSIX promises no order);
    /// directory changes as in `TornPrefix`.
    Reordered(u64),
    /// Exactly the unsynced writes whose bit is set in the mask survive (numbered over all
    /// files in inode order, then write order); directory changes all survive or none do
    /// (bit 63). For enumerating every subset of a small crash.
    Subset(u64),
}

impl Loss {
    /// The six images every crash point is checked under: unsynced data all lost, all kept,
    /// torn twice and reordered twice (seeded from the crash point `k`, so a failure replays).
    pub fn each_at(k: u64) -> [Loss; 6] {
        [
            Loss::All,
            Loss::None,
            Loss::TornPrefix(k * 7 + 1),
            Loss::TornPrefix(k * 7 + 2),
            Loss::Reordered(k * 7 + 3),
            Loss::Reordered(k * 7 + 4),
        ]
    }
}

/// The simulated file system.
#[derive(Debug, Default)]
pub struct SimFs(Mutex<Inner>);

struct SimFile {
    fs: Arc<SimFs>,
    ino: u64,
}

struct Bytes(Vec<u8>);

// SAFETY: the bytes are owned by the value and no method changes them; every call returns
// the same slice, valid until the value is dropped.
unsafe impl BlockBytes for Bytes {
    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

fn crashed() -> io::Error {
    io::Error::other("simulated crash")
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} not found", path.display()),
    )
}

impl SimFs {
    /// A file system that fails every operation after the first `n`.
    pub fn crashing_after(n: u64) -> Arc<SimFs> {
        let fs = SimFs::default();
        fs.lock().crash_after = Some(n);
        Arc::new(fs)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts an operation; fails when the crash point is passed.
    fn tick(&self) -> io::Result<std::sync::MutexGuard<'_, Inner>> {
        let mut inner = self.lock();
        inner.ops += 1;
        match (inner.crash_after, inner.fail_at) {
            (Some(n), _) if inner.ops > n => Err(crashed()),
            (_, Some((n, forever))) if inner.ops == n || (forever && inner.ops > n) => {
                Err(io::Error::other("injected I/O error"))
            }
            _ => Ok(inner),
        }
    }

    /// A file system whose operation `n` fails with an I/O error (and every later one too,
    /// when `forever`), starting from a copy of `self`.
    pub fn failing_at(&self, n: u64, forever: bool) -> Arc<SimFs> {
        let copy = self.snapshot();
        {
            let mut inner = copy.lock();
            inner.ops = 0;
            inner.fail_at = Some((n, forever));
        }
        copy
    }

    /// The same files, crashing after `n` more operations.
    pub fn crashing_copy(&self, n: u64) -> Arc<SimFs> {
        let copy = self.snapshot();
        copy.lock().crash_after = Some(n);
        copy
    }

    /// How many writes are not yet fsynced (over all files).
    pub fn unsynced_writes(&self) -> usize {
        self.lock().inodes.values().map(|i| i.unsynced.len()).sum()
    }

    /// File operations so far.
    pub fn ops(&self) -> u64 {
        self.lock().ops
    }

    /// The files as a power loss after the last operation could leave them.
    pub fn image(&self, loss: Loss) -> Arc<SimFs> {
        let inner = self.lock();
        let mut rng = match loss {
            Loss::TornPrefix(seed) | Loss::Reordered(seed) => Rng::new(seed),
            _ => Rng::new(0),
        };
        let mut names = match loss {
            Loss::None => inner.names.clone(),
            Loss::Subset(mask) if mask & (1 << 63) != 0 => inner.names.clone(),
            _ => inner.durable_names.clone(),
        };
        let mut write_no = 0;
        let mut inos: Vec<&u64> = inner.inodes.keys().collect();
        inos.sort();
        if matches!(loss, Loss::TornPrefix(_) | Loss::Reordered(_)) {
            let keep = rng.below(inner.name_log.len() as u64 + 1) as usize;
            for op in &inner.name_log[..keep] {
                match op {
                    NameOp::Link(name, ino) => {
                        names.insert(name.clone(), *ino);
                    }
                    NameOp::Unlink(name) => {
                        names.remove(name);
                    }
                }
            }
        }
        let mut inodes = HashMap::new();
        for ino in inos {
            let inode = &inner.inodes[ino];
            let mut data = inode.durable.clone();
            match loss {
                Loss::All => {}
                Loss::None => data = inode.current.clone(),
                Loss::TornPrefix(_) => {
                    let keep = rng.below(inode.unsynced.len() as u64 + 1) as usize;
                    for (i, change) in inode.unsynced[..keep].iter().enumerate() {
                        match change {
                            Change::Write { offset, bytes }
                                if i + 1 == keep && bytes.len() > SECTOR =>
                            {
                                let sectors = bytes.len().div_ceil(SECTOR);
                                let cut =
                                    (rng.below(sectors as u64) as usize * SECTOR).min(bytes.len());
                                apply(
                                    &mut data,
                                    &Change::Write {
                                        offset: *offset,
                                        bytes: bytes[..cut].to_vec(),
                                    },
                                );
                            }
                            other => apply(&mut data, other),
                        }
                    }
                }
                Loss::Reordered(_) => {
                    for change in &inode.unsynced {
                        if rng.below(2) == 0 {
                            apply(&mut data, change);
                        }
                    }
                }
                Loss::Subset(mask) => {
                    for change in &inode.unsynced {
                        if write_no < 63 && mask & (1 << write_no) != 0 {
                            apply(&mut data, change);
                        }
                        write_no += 1;
                    }
                }
            }
            inodes.insert(
                *ino,
                Inode {
                    durable: data.clone(),
                    current: data,
                    unsynced: Vec::new(),
                },
            );
        }
        let image = Inner {
            inodes,
            next_ino: inner.next_ino,
            durable_names: names.clone(),
            names,
            name_log: Vec::new(),
            ops: 0,
            crash_after: None,
            fail_at: None,
        };
        Arc::new(SimFs(Mutex::new(image)))
    }

    /// A copy of the files as they are now, with everything durable.
    pub fn snapshot(&self) -> Arc<SimFs> {
        self.image(Loss::None)
    }

    /// Writes every file, as it is now, under `root` (a simulated `/mbox/x` becomes
    /// `root/mbox/x`), for tools that read real directories.
    pub fn materialize(&self, root: &Path) -> io::Result<()> {
        for (name, bytes) in self.files() {
            let rel = name.strip_prefix("/").unwrap_or(&name);
            let path = root.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, bytes)?;
        }
        Ok(())
    }

    /// Names and contents of every file.
    pub fn files(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let inner = self.lock();
        inner
            .names
            .iter()
            .map(|(n, ino)| (n.clone(), inner.inodes[ino].current.clone()))
            .collect()
    }
}

impl VfsFile for SimFile {
    fn write_at(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        let mut inner = self.fs.tick()?;
        let inode = inner.inodes.get_mut(&self.ino).ok_or_else(crashed)?;
        let change = Change::Write {
            offset,
            bytes: bytes.to_vec(),
        };
        apply(&mut inode.current, &change);
        inode.unsynced.push(change);
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut inner = self.fs.tick()?;
        let inode = inner.inodes.get_mut(&self.ino).ok_or_else(crashed)?;
        let change = Change::SetLen(len);
        apply(&mut inode.current, &change);
        inode.unsynced.push(change);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut inner = self.fs.tick()?;
        let inode = inner.inodes.get_mut(&self.ino).ok_or_else(crashed)?;
        inode.durable = inode.current.clone();
        inode.unsynced.clear();
        Ok(())
    }
}

/// A handle on a shared `SimFs`, as the engine's `Vfs`.
#[derive(Debug, Clone)]
pub struct Sim(pub Arc<SimFs>);

impl Vfs for Sim {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let inner = self.0.tick()?;
        let ino = inner.names.get(path).ok_or_else(|| not_found(path))?;
        Ok(inner.inodes[ino].current.clone())
    }

    fn exists(&self, path: &Path) -> bool {
        let inner = self.0.lock();
        inner.names.contains_key(path) || inner.names.keys().any(|n| n.starts_with(path))
    }

    fn create_dir_all(&self, _path: &Path) -> io::Result<()> {
        // Directories are implied by the paths of their files.
        Ok(())
    }

    fn write_file(&self, path: &Path, bytes: &[u8]) -> io::Result<Box<dyn VfsFile>> {
        let mut inner = self.0.tick()?;
        inner.next_ino += 1;
        let ino = inner.next_ino;
        let change = Change::Write {
            offset: 0,
            bytes: bytes.to_vec(),
        };
        let mut inode = Inode::default();
        apply(&mut inode.current, &change);
        inode.unsynced.push(change);
        inner.inodes.insert(ino, inode);
        inner.names.insert(path.to_path_buf(), ino);
        inner.name_log.push(NameOp::Link(path.to_path_buf(), ino));
        Ok(Box::new(SimFile {
            fs: Arc::clone(&self.0),
            ino,
        }))
    }

    fn open_file(&self, path: &Path) -> io::Result<Box<dyn VfsFile>> {
        let inner = self.0.tick()?;
        let ino = *inner.names.get(path).ok_or_else(|| not_found(path))?;
        Ok(Box::new(SimFile {
            fs: Arc::clone(&self.0),
            ino,
        }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut inner = self.0.tick()?;
        let ino = inner.names.remove(from).ok_or_else(|| not_found(from))?;
        inner.names.insert(to.to_path_buf(), ino);
        inner.name_log.push(NameOp::Unlink(from.to_path_buf()));
        inner.name_log.push(NameOp::Link(to.to_path_buf(), ino));
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut inner = self.0.tick()?;
        inner.names.remove(path).ok_or_else(|| not_found(path))?;
        inner.name_log.push(NameOp::Unlink(path.to_path_buf()));
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let inner = self.0.tick()?;
        // A file's name, or the first component of a path below: the implied directories
        // (`blocks`) are entries too.
        let names: std::collections::BTreeSet<String> = inner
            .names
            .keys()
            .filter_map(|n| n.strip_prefix(path).ok()?.components().next())
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        Ok(names.into_iter().collect())
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let mut inner = self.0.tick()?;
        // Make this directory's entries durable: replay its logged changes, keep the others.
        let log = std::mem::take(&mut inner.name_log);
        for op in log {
            let in_dir = match &op {
                NameOp::Link(n, _) | NameOp::Unlink(n) => n.parent() == Some(path),
            };
            if !in_dir {
                inner.name_log.push(op);
                continue;
            }
            match op {
                NameOp::Link(n, ino) => {
                    inner.durable_names.insert(n, ino);
                }
                NameOp::Unlink(n) => {
                    inner.durable_names.remove(&n);
                }
            }
        }
        Ok(())
    }

    fn file_len(&self, path: &Path) -> io::Result<u64> {
        let inner = self.0.tick()?;
        let ino = inner.names.get(path).ok_or_else(|| not_found(path))?;
        Ok(inner.inodes[ino].current.len() as u64)
    }

    fn map_block(&self, path: &Path) -> io::Result<Box<dyn BlockBytes>> {
        Ok(Box::new(Bytes(self.read(path)?)))
    }

    fn kind(&self, path: &Path) -> io::Result<PathKind> {
        let inner = self.0.tick()?;
        Ok(if inner.names.contains_key(path) {
            PathKind::File
        } else if inner.names.keys().any(|n| n.starts_with(path)) {
            PathKind::Directory
        } else {
            PathKind::Missing
        })
    }

    fn try_lock(&self, _path: &Path) -> io::Result<Option<LockGuard>> {
        // One simulated writer at a time; locking itself is tested on the real file system.
        Ok(Some(Box::new(())))
    }
}
