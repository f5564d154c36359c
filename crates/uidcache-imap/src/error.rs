//! Typed errors: what in a server's responses cannot be applied, and where.

/// Result of this crate's calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a response cannot be applied to the cache. The transaction it was applied to must be
/// dropped: the cache then stays at its last commit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A transcript line is neither `C: `, `S: `, blank nor a `#` comment.
    #[error("not a transcript line (expected `C: `, `S: `, `#` or a blank line)")]
    BadLine,
    /// The input's last line has no line terminator: it was cut short, and is not applied.
    #[error("torn input: the last line has no line terminator (not applied)")]
    TornLine,
    /// A FETCH's `FLAGS (...)` list is longer than one message's flags may be
    /// ([`crate::MAX_FLAG_LIST_BYTES`]); refused before it is parsed.
    #[error(
        "a FLAGS list of {bytes} bytes: one message's flags may take at most {} bytes",
        crate::MAX_FLAG_LIST_BYTES
    )]
    FlagListTooLong {
        /// The list's length between its parentheses.
        bytes: usize,
    },
    /// A response that would change the cache does not parse.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// `* n EXISTS` with `n` below the current count.
    #[error("EXISTS {given} is below the current count {count}")]
    ExistsShrank {
        /// The count in the response.
        given: u32,
        /// The count the cache has.
        count: u32,
    },
    /// `* n EXPUNGE` or `* n FETCH` with `n` above the count (or the count unknown).
    #[error("sequence number {seq} is above the message count {}", count.map_or("-".to_string(), |c| c.to_string()))]
    SeqOutOfRange {
        /// The sequence number in the response.
        seq: u32,
        /// The count the cache has, if known.
        count: Option<u32>,
    },
    /// A UID that breaks the ordering with known neighbours, or contradicts a known position:
    /// the engine's refusal ([`uidcache_engine::InvalidOp::UidOrder`],
    /// [`uidcache_engine::InvalidOp::ZeroUid`] or [`uidcache_engine::InvalidOp::Conflict`]).
    #[error("UID order broken: {0}")]
    UidOrder(uidcache_engine::InvalidOp),
    /// After a QRESYNC SELECT, the server has fewer messages than the cache knows in a row
    /// from 1: the engine's [`uidcache_engine::InvalidOp::UnreportedExpunge`], kept as its
    /// own kind because a client answers it by resynchronizing.
    #[error("{}", uidcache_engine::InvalidOp::UnreportedExpunge { exists: *exists, known: *known })]
    UnreportedExpunge {
        /// The SELECT's EXISTS.
        exists: u32,
        /// The known run from sequence number 1, after the reported expunges.
        known: u32,
    },
    /// The storage engine failed (I/O, corruption, or a value it cannot hold).
    #[error("cache: {0}")]
    Engine(uidcache_engine::Error),
}

impl From<uidcache_engine::Error> for Error {
    fn from(e: uidcache_engine::Error) -> Error {
        match e.invalid_op() {
            Some(&uidcache_engine::InvalidOp::UnreportedExpunge { exists, known }) => {
                Error::UnreportedExpunge { exists, known }
            }
            _ => Error::Engine(e),
        }
    }
}

impl uidcache_engine::StaleSnapshot for Error {
    fn is_stale_snapshot(&self) -> bool {
        matches!(self, Error::Engine(e) if e.is_stale())
    }
}

impl Error {
    /// Maps an engine refusal of position knowledge to the contract's error kinds.
    pub(crate) fn from_learn(e: uidcache_engine::Error) -> Error {
        use uidcache_engine::InvalidOp;
        match e.invalid_op() {
            Some(
                why @ (InvalidOp::UidOrder { .. }
                | InvalidOp::ZeroUid { .. }
                | InvalidOp::Conflict { .. }),
            ) => Error::UidOrder(why.clone()),
            _ => e.into(),
        }
    }
}

/// An [`Error`] with the 1-based number of the transcript line that caused it.
#[derive(Debug, thiserror::Error)]
#[error("line {line}: {source}")]
pub struct LineError {
    /// The line number, counting from 1.
    pub line: u64,
    /// What went wrong.
    #[source]
    pub source: Error,
}
