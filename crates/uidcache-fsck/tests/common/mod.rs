//! Shared helpers of the damage tests: caches built with the engine, snapshots of a
//! directory, a dump of what the engine reads, damage, and the subset comparison.
#![allow(dead_code, clippy::unwrap_used, clippy::indexing_slicing)]

pub mod caches;

use std::collections::BTreeSet;
use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use uidcache_engine::{Cache, FlagSetId, View};

/// A scratch directory, in memory when the machine has /dev/shm (repair fsyncs).
pub fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(dir) = tempfile::tempdir_in(shm) {
            return dir;
        }
    }
    tempfile::tempdir().unwrap()
}

/// Every file of a cache directory, by relative path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub files: Vec<(PathBuf, Vec<u8>)>,
}

impl Snapshot {
    pub fn take(dir: &Path) -> Snapshot {
        let mut files = Vec::new();
        for sub in ["", "blocks"] {
            let Ok(entries) = fs::read_dir(dir.join(sub)) else {
                continue;
            };
            for entry in entries.flatten() {
                if entry.file_type().unwrap().is_file() {
                    let rel = Path::new(sub).join(entry.file_name());
                    files.push((rel, fs::read(entry.path()).unwrap()));
                }
            }
        }
        files.sort();
        Snapshot { files }
    }

    /// Makes `dir` hold exactly these files.
    pub fn restore(&self, dir: &Path) {
        for sub in ["blocks", ""] {
            if let Ok(entries) = fs::read_dir(dir.join(sub)) {
                for entry in entries.flatten() {
                    if entry.file_type().unwrap().is_file() {
                        fs::remove_file(entry.path()).unwrap();
                    }
                }
            }
        }
        fs::create_dir_all(dir.join("blocks")).unwrap();
        for (rel, bytes) in &self.files {
            fs::write(dir.join(rel), bytes).unwrap();
        }
    }
}

/// A message as compared across damage: flags by name, so flag-set IDs do not matter.
pub type Flags = Option<Vec<Vec<u8>>>;

/// What the engine reads from a cache.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dump {
    pub uidvalidity: Option<u32>,
    pub uidnext: Option<u32>,
    pub highestmodseq: Option<u64>,
    pub exists: Option<u32>,
    /// (seq, uid, flags, modseq)
    pub placed: BTreeSet<(u32, u32, Flags, Option<u64>)>,
    /// (uid, flags, modseq)
    pub unplaced: BTreeSet<(u32, Flags, Option<u64>)>,
}

fn names(view: &View<'_>, id: Option<FlagSetId>) -> Flags {
    id.map(|id| {
        view.flag_names(id)
            .unwrap_or_default()
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect()
    })
}

/// Opens `dir` read-only with the engine and reads everything: `Err` is the engine's typed
/// error rendered, a panic is caught and reported as `Err("PANIC ...")`.
pub fn dump(dir: &Path) -> Result<Dump, String> {
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<Dump, String> {
        let cache = Cache::open_read_only(dir).map_err(|e| e.to_string())?;
        let view = cache.view();
        let mut d = Dump {
            uidvalidity: view.uidvalidity(),
            uidnext: view.uidnext(),
            highestmodseq: view.highestmodseq(),
            exists: view.exists(),
            ..Dump::default()
        };
        for (seq, m) in view.placed_messages().map_err(|e| e.to_string())? {
            d.placed
                .insert((seq, m.uid, names(&view, m.flags), m.modseq));
        }
        for m in view.unplaced_messages().map_err(|e| e.to_string())? {
            d.unplaced.insert((m.uid, names(&view, m.flags), m.modseq));
        }
        let _ = view.segments();
        for changed in view.changed_since(0) {
            changed.map_err(|e| e.to_string())?;
        }
        Ok(d)
    }));
    match result {
        Ok(r) => r,
        Err(_) => Err("PANIC in the engine".to_string()),
    }
}

/// Whether `small` holds nothing that `big` does not hold identically.
pub fn is_subset(small: &Dump, big: &Dump) -> bool {
    small.placed.is_subset(&big.placed)
        && small.unplaced.is_subset(&big.unplaced)
        && (small.uidvalidity.is_none() || small.uidvalidity == big.uidvalidity)
}

/// The dumps of every committed state of a cache: after 0, 1, ... journal frames.
pub fn committed_states(dir: &Path) -> Vec<Dump> {
    let snap = Snapshot::take(dir);
    let journal = snap
        .files
        .iter()
        .find(|(p, _)| p == Path::new("journal"))
        .unwrap()
        .1
        .clone();
    let scan = uidcache_format::scan_journal(&journal, snap_cache_id(&snap)).unwrap();
    let mut ends = vec![uidcache_format::JOURNAL_HEADER_SIZE as u64];
    ends.extend(scan.frames.iter().map(|f| f.end()));
    let work = scratch();
    let mut out = Vec::new();
    for end in ends {
        snap.restore(work.path());
        fs::write(work.path().join("journal"), &journal[..end as usize]).unwrap();
        out.push(dump(work.path()).unwrap());
    }
    out
}

/// One way to damage a cache directory.
#[derive(Debug, Clone)]
pub enum Damage {
    /// XOR one byte of a file.
    Flip { file: PathBuf, at: usize, mask: u8 },
    /// Cut a file to `len` bytes.
    Truncate { file: PathBuf, len: usize },
    /// Delete a file.
    Delete { file: PathBuf },
    /// Overwrite bytes `from..` with zeros.
    ZeroTail { file: PathBuf, from: usize },
    /// Append zeros.
    AppendZeros { file: PathBuf, len: usize },
    /// Overwrite `file` with the bytes of `other` (a misdirected write).
    CopyOver { file: PathBuf, other: PathBuf },
}

impl Damage {
    pub fn apply(&self, dir: &Path) {
        match self {
            Damage::Flip { file, at, mask } => {
                let mut b = fs::read(dir.join(file)).unwrap();
                b[*at] ^= mask;
                fs::write(dir.join(file), b).unwrap();
            }
            Damage::Truncate { file, len } => {
                let b = fs::read(dir.join(file)).unwrap();
                fs::write(dir.join(file), &b[..*len]).unwrap();
            }
            Damage::Delete { file } => fs::remove_file(dir.join(file)).unwrap(),
            Damage::ZeroTail { file, from } => {
                let mut b = fs::read(dir.join(file)).unwrap();
                for x in &mut b[*from..] {
                    *x = 0;
                }
                fs::write(dir.join(file), b).unwrap();
            }
            Damage::AppendZeros { file, len } => {
                let mut b = fs::read(dir.join(file)).unwrap();
                b.extend(std::iter::repeat_n(0u8, *len));
                fs::write(dir.join(file), b).unwrap();
            }
            Damage::CopyOver { file, other } => {
                fs::copy(dir.join(other), dir.join(file)).unwrap();
            }
        }
    }

    /// Damage the format cannot see by design: the journal cut exactly after a frame is a
    /// valid earlier journal (what a crash before an append leaves).
    pub fn is_frame_boundary_cut(&self, frame_ends: &[u64]) -> bool {
        matches!(self, Damage::Truncate { file, len } if file == Path::new("journal") && frame_ends.contains(&(*len as u64)))
    }
}

/// Figures of a damage run.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub cases: u64,
    pub detected: u64,
    pub undetected_harmless: u64,
    pub frame_boundary_cuts: u64,
    pub repaired: u64,
    pub panics: u64,
}

/// Runs one damage case against `snap` (original, whose committed states are `states`) in
/// `work`, checking every promise; returns `Err` describing the first broken one.
pub fn run_case(
    snap: &Snapshot,
    states: &[Dump],
    frame_ends: &[u64],
    work: &Path,
    damage: &Damage,
    tally: &mut Tally,
) -> Result<(), String> {
    snap.restore(work);
    damage.apply(work);
    tally.cases += 1;
    let report = match catch_unwind(AssertUnwindSafe(|| uidcache_fsck::check(work))) {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(format!("{damage:?}: check failed: {e}")),
        Err(_) => {
            tally.panics += 1;
            return Err(format!("{damage:?}: check panicked"));
        }
    };
    let read = dump(work);
    if matches!(&read, Err(e) if e.starts_with("PANIC")) {
        tally.panics += 1;
        return Err(format!("{damage:?}: engine panicked"));
    }
    let original = states.last().unwrap();
    if report.is_clean() {
        if damage.is_frame_boundary_cut(frame_ends) {
            tally.frame_boundary_cuts += 1;
            return Ok(());
        }
        if read.as_ref() != Ok(original) {
            return Err(format!(
                "{damage:?}: undetected and the dump changed: {read:?}"
            ));
        }
        tally.undetected_harmless += 1;
        return Ok(());
    }
    tally.detected += 1;
    let repaired = match catch_unwind(AssertUnwindSafe(|| uidcache_fsck::repair(work))) {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return Err(format!("{damage:?}: repair failed: {e}")),
        Err(_) => {
            tally.panics += 1;
            return Err(format!("{damage:?}: repair panicked"));
        }
    };
    let after = uidcache_fsck::check(work).map_err(|e| e.to_string())?;
    if !after.is_clean() {
        return Err(format!(
            "{damage:?}: not clean after repair: {:?}\nrepairs: {:?}\nbefore: {:?}",
            after.problems, repaired.repairs, report.problems
        ));
    }
    let got = dump(work).map_err(|e| format!("{damage:?}: repaired cache does not open: {e}"))?;
    if !states.iter().any(|s| is_subset(&got, s)) {
        return Err(format!("{damage:?}: repaired content is not a subset of any committed state: {got:?}\nrepairs: {:?}", repaired.repairs));
    }
    tally.repaired += 1;
    Ok(())
}

/// The cache identity in the index of `snap`, which its journal's frames carry.
pub fn snap_cache_id(snap: &Snapshot) -> u64 {
    let index = &snap
        .files
        .iter()
        .find(|(p, _)| p == Path::new("index"))
        .unwrap()
        .1;
    uidcache_format::IndexImage::decode(index).unwrap().cache_id
}

/// Offsets just past each frame of the journal in `snap` (and the header's end).
pub fn frame_ends(snap: &Snapshot) -> Vec<u64> {
    let journal = &snap
        .files
        .iter()
        .find(|(p, _)| p == Path::new("journal"))
        .unwrap()
        .1;
    let scan = uidcache_format::scan_journal(journal, snap_cache_id(snap)).unwrap();
    let mut ends = vec![uidcache_format::JOURNAL_HEADER_SIZE as u64];
    ends.extend(scan.frames.iter().map(|f| f.end()));
    ends
}
