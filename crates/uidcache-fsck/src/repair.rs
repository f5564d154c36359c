//! `repair`: under the writer lock, rebuild the state, publish it as a new checkpoint, remove
//! dead files, and verify the result with `check`.

use std::collections::BTreeSet;
use std::path::Path;

use uidcache_format::IndexImage;

use crate::error::Result;
use crate::layout;
use crate::rebuild::{next_generation, rebuild, reset};
use crate::report::{Problem, RepairAction, Report, Severity};
use crate::survey::{survey, Survey};
use crate::write;

/// Writes `image` as a checkpoint, then unlinks every block file it does not name and every
/// temporary file (the order of FORMAT.md 7.2: nothing durable names an unlinked block).
fn publish(
    dir: &Path,
    s: &Survey,
    image: &IndexImage,
    actions: &mut Vec<RepairAction>,
) -> Result<()> {
    // Blocks that so far lived only in journal frames need their files before the journal
    // is replaced.
    let files = layout::scan(dir)?;
    let named: BTreeSet<u64> = image
        .placed
        .iter()
        .chain(&image.unplaced)
        .map(|e| e.block_id.get())
        .collect();
    for id in named {
        if !files.blocks.contains_key(&id) {
            if let Some(records) = s.blocks.records(id) {
                write::block(dir, id, records, image.cache_id)?;
            }
        }
    }
    write::checkpoint(dir, image)?;
    actions.push(RepairAction::WroteCheckpoint {
        generation: image.generation,
    });
    let live: BTreeSet<u64> = image
        .placed
        .iter()
        .chain(&image.unplaced)
        .map(|e| e.block_id.get())
        .collect();
    let now = layout::scan(dir)?;
    for (id, rel) in &now.blocks {
        if !live.contains(id) {
            write::remove(dir, rel)?;
            actions.push(RepairAction::RemovedFile {
                file: rel.clone(),
                reason: "no entry of the repaired state uses it".into(),
            });
        }
    }
    for rel in &now.temp_files {
        write::remove(dir, rel)?;
        actions.push(RepairAction::RemovedFile {
            file: rel.clone(),
            reason: "leftover temporary file".into(),
        });
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
pub(crate) fn run(dir: &Path) -> Result<Report> {
    let _lock = crate::lock::take(dir)?;
    let s = survey(dir)?;
    let mut report = report_of(dir, &s);
    // Leftovers (notes) are cleaned up like damage, by a new checkpoint; a lock-only
    // directory is an empty cache and stays as it is.
    if report.problems.iter().all(kept_header_note) || s.is_empty() {
        return Ok(report);
    }
    let generation = next_generation(&s);
    let image = rebuild(dir, &s, generation, &mut report.repairs);
    publish(dir, &s, &image, &mut report.repairs)?;
    let after = survey(dir)?;
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
