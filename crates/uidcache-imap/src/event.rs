//! What a server response means to the cache: the [`Event`]s that [`crate::parse_response`]
//! produces and [`crate::Session`] applies. A client with its own IMAP parser builds them
//! itself and feeds them to [`crate::Session::event`].

/// A response code that matters to the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheCode {
    /// `[UIDVALIDITY n]`.
    UidValidity(u32),
    /// `[UIDNEXT n]`.
    UidNext(u32),
    /// `[HIGHESTMODSEQ n]`.
    HighestModseq(u64),
    /// `[NOMODSEQ]`.
    NoModseq,
    /// `[CLOSED]` (RFC 7162 3.2.11): the previous mailbox's responses end here.
    Closed,
}

/// How a command completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// `OK`.
    Ok,
    /// `NO`.
    No,
    /// `BAD`.
    Bad,
}

/// One server response, reduced to what the cache needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `* n EXISTS`.
    Exists(u32),
    /// `* n EXPUNGE`.
    Expunge(u32),
    /// `* VANISHED [(EARLIER)] uid-set`, as inclusive UID ranges.
    Vanished {
        /// Whether `(EARLIER)` was given.
        earlier: bool,
        /// The UIDs.
        uids: Vec<(u32, u32)>,
    },
    /// `* n FETCH (...)`: the items the cache stores.
    Fetch {
        /// The sequence number.
        seq: u32,
        /// `UID u`.
        uid: Option<u32>,
        /// `FLAGS (...)`, bytes as received (`\Recent` included; the engine drops it).
        flags: Option<Vec<Vec<u8>>>,
        /// `MODSEQ (m)`.
        modseq: Option<u64>,
    },
    /// `* SEARCH n...`.
    Search(Vec<u32>),
    /// `* ESEARCH [(TAG "t")] [UID] ...` (RFC 4731).
    Esearch {
        /// The correlator tag.
        tag: Option<String>,
        /// Whether the numbers are UIDs.
        uid: bool,
        /// The `ALL` set, if given.
        all: Option<Vec<(u32, u32)>>,
    },
    /// An untagged `OK` with a code the cache uses.
    Code(CacheCode),
    /// A tagged completion: a commit point.
    Tagged {
        /// The tag.
        tag: String,
        /// OK, NO or BAD.
        status: Completion,
        /// A code the cache uses, if any.
        code: Option<CacheCode>,
    },
    /// Anything else (FLAGS, CAPABILITY, BYE, greetings, codes the cache does not use, ...).
    Ignored,
}
