//! Disk use of a store: the bytes of every file under its directory.

use std::fs;
use std::path::Path;

/// The sum of the lengths of every file under `dir`, recursively (symbolic links are not
/// followed; a store has none).
pub(crate) fn bytes_under(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            total += bytes_under(&entry.path())?;
        } else if kind.is_file() {
            total += entry.metadata()?.len();
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_files_in_subdirectories() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        fs::write(dir.path().join("a"), [0u8; 100])?;
        fs::create_dir(dir.path().join("sub"))?;
        fs::write(dir.path().join("sub").join("b"), [0u8; 23])?;
        assert_eq!(bytes_under(dir.path())?, 123);
        Ok(())
    }
}
