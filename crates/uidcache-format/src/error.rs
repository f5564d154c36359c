//! The one error type of the format crate: where a structure failed to parse and why.

use std::fmt;

/// What kind of problem a [`FormatError`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatErrorKind {
    /// The bytes end before the structure does.
    Truncated,
    /// The magic number is not the one this structure starts with.
    BadMagic,
    /// The structure was written by an older format version that this code cannot read.
    UpgradeRequired,
    /// The version is newer than this code knows, or not a version at all.
    UnknownVersion,
    /// The stored checksum does not match the bytes it covers.
    BadChecksum,
    /// A field holds a value the spec does not allow.
    Invalid,
    /// The file belongs to another cache: its identity (or its format version) is not the
    /// index's. New in format v2.
    Foreign,
}

/// A structure in a uidcache file that does not match the format specification (FORMAT.md).
///
/// Offsets are relative to the start of the byte slice that was handed to the parser, which
/// the engine makes the start of the file, so `offset` is a file offset there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatError {
    /// What went wrong.
    pub kind: FormatErrorKind,
    /// The structure being read, spelled as in the spec (`BlockHeader`, `JournalFrame`, ...).
    pub structure: &'static str,
    /// The field, spelled as in the spec.
    pub field: &'static str,
    /// Byte offset of the field.
    pub offset: u64,
    /// What the spec requires there.
    pub expected: String,
    /// What the bytes hold.
    pub found: String,
}

impl FormatError {
    /// Builds an error; `expected` and `found` are rendered with `Display`.
    pub fn new(
        kind: FormatErrorKind,
        structure: &'static str,
        field: &'static str,
        offset: u64,
        expected: impl fmt::Display,
        found: impl fmt::Display,
    ) -> Self {
        FormatError {
            kind,
            structure,
            field,
            offset,
            expected: expected.to_string(),
            found: found.to_string(),
        }
    }

    /// A structure that needs `need` bytes at `offset` where only `have` remain.
    pub fn truncated(structure: &'static str, offset: u64, need: usize, have: usize) -> Self {
        Self::new(
            FormatErrorKind::Truncated,
            structure,
            "length",
            offset,
            format_args!("{need} bytes"),
            format_args!("{have} bytes"),
        )
    }
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} in {}.{} at byte {}: expected {}, found {}",
            self.kind, self.structure, self.field, self.offset, self.expected, self.found
        )
    }
}

impl std::error::Error for FormatError {}
