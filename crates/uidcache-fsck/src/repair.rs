//! `repair`: under the writer lock, rebuild the state, publish it as a new checkpoint, remove
//! dead files, and verify the result with `check`. Every file operation goes through the
//! [`Vfs`] and the engine's own protocol (`uidcache_engine::tools`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use uidcache_engine::tools::{self, NotARegularFile, Vfs, BLOCKS_DIR, INDEX_FILE, JOURNAL_FILE};
use uidcache_format::IndexImage;

use crate::error::{FsckError, Result};
use crate::layout::{self, Layout};
use crate::rebuild::{next_generation, rebuild, reset};
use crate::report::{Problem, RepairAction, Report, Severity};
use crate::survey::{survey, Survey};
use crate::write;

/// Makes room for the files a checkpoint writes, and returns the regular files of the
/// directory: whatever is not a regular file where the index, the journal, a block file or a
/// temporary file belongs (a directory, FIFO, device or symbolic link) is renamed aside to
/// `NAME.damaged`, and a `blocks` that is not a directory too, after which `blocks/` is
/// created. Renamed, not deleted: repair never read them, so it cannot prove them dead (a
/// directory may hold someone's files), and the rename never follows a link.
fn make_room(vfs: &dyn Vfs, dir: &Path, actions: &mut Vec<RepairAction>) -> Result<Layout> {
    let mut aside = |rel: &Path, found: NotARegularFile, needs: &str| -> Result<()> {
        let to = write::set_aside(vfs, dir, rel)?;
        actions.push(RepairAction::RenamedAside {
            file: rel.to_path_buf(),
            to,
            reason: format!("a {} where the cache needs {needs}", found.kind),
        });
        Ok(())
    };
    if let Some(found) = layout::blocks_not_dir(vfs, dir)? {
        aside(Path::new(BLOCKS_DIR), found, "its directory of block files")?;
    }
    write::blocks_dir(vfs, dir)?;
    let mut files = layout::scan(vfs, dir)?;
    let mut gone = BTreeSet::new();
    let tops = [PathBuf::from(INDEX_FILE), PathBuf::from(JOURNAL_FILE)];
    for rel in tops
        .iter()
        .chain(files.blocks.values())
        .chain(&files.temp_files)
    {
        let path = dir.join(rel);
        let kind = vfs.kind(&path).map_err(FsckError::io("stat", &path))?;
        if let Some(found) = kind.not_a_file() {
            aside(rel, found, "a regular file")?;
            gone.insert(rel.clone());
        }
    }
    files.blocks.retain(|_, rel| !gone.contains(rel));
    files.temp_files.retain(|rel| !gone.contains(rel));
    Ok(files)
}

/// Refuses a `blocks/` that is a symbolic link: its files may be another cache's, and a
/// repair that unlinked "orphans" there would delete that cache's data.
fn refuse_linked_blocks(vfs: &dyn Vfs, dir: &Path) -> Result<()> {
    let path = dir.join(BLOCKS_DIR);
    if !vfs.is_symlink(&path) {
        return Ok(());
    }
    Err(FsckError::Refused {
        path,
        reason: "blocks is a symbolic link, not the cache's own directory (its files may be another cache's); replace it with a directory holding this cache's blocks, or remove it".into(),
    })
}

/// Writes `image` as a checkpoint, then unlinks every block file it does not name that the
/// survey read, and every temporary file (the order of FORMAT.md 7.2: nothing durable names
/// an unlinked block).
fn publish(
    dir: &Path,
    s: &Survey,
    image: &IndexImage,
    actions: &mut Vec<RepairAction>,
) -> Result<()> {
    let vfs = &s.vfs;
    // The clean marker promises no leftover file, which a crash from here on may leave.
    tools::leave_clean(vfs, dir)?;
    let files = make_room(vfs.as_ref(), dir, actions)?;
    let live: BTreeSet<u64> = image
        .placed
        .iter()
        .chain(&image.unplaced)
        .map(|e| e.block_id.get())
        .collect();
    // Blocks that so far lived only in journal frames need their files before the journal
    // is replaced.
    let unwritten = live
        .iter()
        .filter(|id| !files.blocks.contains_key(id))
        .filter_map(|&id| Some((id, s.blocks.records(id)?)));
    write::blocks(vfs, dir, unwritten, image.cache_id)?;
    tools::write_checkpoint(vfs, dir, image)?;
    actions.push(RepairAction::WroteCheckpoint {
        generation: image.generation,
    });
    // Only block files the survey read (and found dead or damaged) go.
    let dead = files
        .blocks
        .iter()
        .filter(|(id, _)| !live.contains(id) && s.layout.blocks.contains_key(id))
        .map(|(_, rel)| (rel, "no entry of the repaired state uses it"));
    let leftovers = files
        .temp_files
        .iter()
        .map(|rel| (rel, "leftover temporary file"));
    for (rel, reason) in dead.chain(leftovers) {
        // A leftover at the name of a file just written went with that write's rename.
        if write::remove(vfs.as_ref(), dir, rel)? {
            actions.push(RepairAction::RemovedFile {
                file: rel.clone(),
                reason: reason.into(),
            });
        }
    }
    Ok(())
}

fn report_of(dir: &Path, s: &Survey) -> Report {
    Report {
        dir: dir.to_path_buf(),
        problems: s.problems.clone(),
        repairs: Vec::new(),
    }
}

/// Whether `p` is a note about a header value the server gave (stale UIDNEXT, low
/// HIGHESTMODSEQ): repair keeps those values, so such a note neither calls for a repair
/// nor fails the check after one.
fn kept_header_note(p: &Problem) -> bool {
    p.severity == Severity::Note
        && p.structure == "IndexHeader"
        && matches!(p.field.as_str(), "uidnext" | "highestmodseq")
}

/// Repairs the cache in `dir`; see the crate docs.
pub(crate) fn run(dir: &Path, vfs: Arc<dyn Vfs>) -> Result<Report> {
    let _lock = tools::lock(vfs.as_ref(), dir)?;
    refuse_linked_blocks(vfs.as_ref(), dir)?;
    let s = survey(dir, Arc::clone(&vfs))?;
    let mut report = report_of(dir, &s);
    // Leftovers (notes) are cleaned up like damage, by a new checkpoint; a lock-only
    // directory is an empty cache and stays as it is.
    if report.problems.iter().all(kept_header_note)
        || (s.is_empty() && s.layout.blocks_not_dir.is_none())
    {
        return Ok(report);
    }
    let generation = next_generation(&s);
    let image = rebuild(dir, &s, generation, &mut report.repairs)?;
    publish(dir, &s, &image, &mut report.repairs)?;
    let after = survey(dir, vfs)?;
    if let Some(first) = after.problems.iter().find(|p| !kept_header_note(p)) {
        let reason = format!("the rebuilt cache still had a problem: {first}");
        let image = reset(
            &s,
            generation.saturating_add(1),
            reason,
            &mut report.repairs,
        );
        publish(dir, &s, &image, &mut report.repairs)?;
    }
    Ok(report)
}
