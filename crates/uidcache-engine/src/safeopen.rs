//! What a writer may take as its directory: it creates files there and, after a crash,
//! removes its own leftovers, so it must never mistake another program's directory for a
//! cache.

use std::path::Path;

use crate::dirfs::{Fs, BLOCKS_DIR, CLEAN_FILE, INDEX_FILE, JOURNAL_FILE, LOCK_FILE, TMP_SUFFIX};
use crate::error::{Error, ErrorKind, Result};

/// The names whose presence says "a cache lives here" (a writer creates `blocks/` and
/// `lock` before anything else, so even an interrupted first open left them).
const CACHE_NAMES: [&str; 5] = [INDEX_FILE, JOURNAL_FILE, BLOCKS_DIR, LOCK_FILE, CLEAN_FILE];

/// Accepts a missing or empty directory (a new cache), or one that holds a file of a cache
/// (its own temporary names included: a first open that crashed may have left only
/// `index.tmp`); refuses anything else with [`ErrorKind::NotACache`] before anything is
/// created there.
pub(crate) fn check_writer_dir(dir: &Path, fs: &Fs) -> Result<()> {
    let names = match fs.vfs.list_dir(dir) {
        Ok(names) => names,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("list", dir)(e)),
    };
    if names.is_empty()
        || names
            .iter()
            .any(|n| CACHE_NAMES.contains(&n.as_str()) || is_own_tmp(n, false))
    {
        return Ok(());
    }
    let mut names = names;
    names.sort_unstable();
    Err(ErrorKind::NotACache {
        path: dir.to_path_buf(),
        found: names.swap_remove(0),
    }
    .into())
}

/// Whether `name` is a temporary file this engine writes (and so may remove after a
/// crash): `index.tmp` and `journal.tmp` in the cache directory, `<block name>.tmp` in
/// `blocks/`. Any other `*.tmp` belongs to someone else and stays.
pub(crate) fn is_own_tmp(name: &str, in_blocks: bool) -> bool {
    let Some(base) = name.strip_suffix(TMP_SUFFIX) else {
        return false;
    };
    if in_blocks {
        crate::dirfs::block_id_of(base).is_some()
    } else {
        base == INDEX_FILE || base == JOURNAL_FILE
    }
}

#[cfg(test)]
mod tests {
    use super::is_own_tmp;

    #[test]
    fn only_the_engines_own_temporary_names_are_its_own() {
        assert!(is_own_tmp("index.tmp", false));
        assert!(is_own_tmp("journal.tmp", false));
        assert!(is_own_tmp("00000000000000a1.ucb.tmp", true));
        for (name, in_blocks) in [
            ("index.tmp", true),
            ("00000000000000a1.ucb.tmp", false),
            ("notes.tmp", false),
            ("x.ucb.tmp", true),
            ("00000000000000A1.ucb.tmp", true),
            ("index", false),
            ("index.tmp.tmp", false),
        ] {
            assert!(!is_own_tmp(name, in_blocks), "{name} in_blocks={in_blocks}");
        }
    }
}
