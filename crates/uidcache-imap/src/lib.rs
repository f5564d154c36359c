//! The IMAP layer of uidcache: turns what an IMAP server says (RFC 3501/9051, RFC 7162
//! CONDSTORE/QRESYNC, RFC 4731 ESEARCH) into changes of a [`uidcache_engine::Cache`].
//!
//! A [`Session`] follows one connection: feed it the client's command lines and the
//! server's response lines in order, applying them to an engine transaction, and commit
//! whenever it returns [`Step::Commit`] (a tagged completion). [`replay`] does that for a
//! whole transcript; [`dump`] prints a cache in the `uidcache dump` format; [`qresync_param`]
//! builds the `SELECT ... (QRESYNC ...)` parameter from a cache. The on-disk format and the
//! HIGHESTMODSEQ rule are in the format specification (`FORMAT.md`).
//!
//! # Feeding responses
//!
//! Three ways, from the most done for you to the least:
//! - **Raw responses through [`Session::response`]**: one call per server response, without
//!   its final CRLF. A response that carries literals is passed whole, as one unit: the
//!   text up to each `{n}`, the CRLF after it, the literal's `n` bytes, and the rest of the
//!   response (`b"* 1 FETCH (UID 3 BODY[] {5}\r\nhello FLAGS ())"`), which is what a
//!   framing reader (imap-codec's `Fragmentizer`, or any that waits out literals) delivers.
//! - **Your own parser through [`Session::event`]**: build the [`Event`]s yourself; the
//!   session still applies the SELECT rule, the HIGHESTMODSEQ rule and search bookkeeping.
//!   After a SELECT/EXAMINE without QRESYNC of a cache holding records, the session keeps the
//!   old HIGHESTMODSEQ until `FETCH 1:* (FLAGS) (CHANGEDSINCE m)` completes or you call
//!   [`Session::flags_caught_up`] ([`Session::holding_modseq`]; FORMAT.md section 9.1).
//! - **The engine directly**: [`uidcache_engine::Transaction::record_select`] records a
//!   SELECT/EXAMINE with the reconnect rule; the rest is `learn`, `update_seq`, `expunge`
//!   and `remove_uid`, and the HIGHESTMODSEQ rule is then yours (FORMAT.md section 9.1).
//!
//! Only what the cache uses must parse: in a FETCH response every item but UID, FLAGS and
//! MODSEQ is skipped by its shape (`X-GM-LABELS`, `EMAILID`, `PREVIEW`, `BODY[...]` literals,
//! ...), and response codes the cache does not use are ignored. Responses are parsed with
//! imap-codec; ESEARCH, which it does not parse, is read narrowly by this crate.
//!
//! # Example
//! ```
//! use uidcache_engine::Cache;
//! use uidcache_imap::{Session, Step};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let mut cache = Cache::open(dir.path()).unwrap();
//! let mut session = Session::new();
//! let mut tx = cache.transaction().unwrap();
//! session.command(&mut tx, b"a1 SELECT INBOX").unwrap();
//! for (n, line) in [&b"* 2 EXISTS"[..], b"* OK [UIDVALIDITY 7] ok", b"a1 OK done"].into_iter().enumerate() {
//!     if session.response(&mut tx, n as u64 + 1, line).unwrap() == Step::Commit {
//!         tx.commit().unwrap();
//!         tx = cache.transaction().unwrap();
//!     }
//! }
//! drop(tx);
//! assert_eq!(cache.view().exists(), Some(2));
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod apply;
mod command;
mod dump;
mod error;
mod esearch;
mod event;
mod fetchline;
mod qresync;
mod replay;
mod response;
pub mod seqset;
mod session;
#[cfg(feature = "sim")]
pub mod sim;
mod start;

pub use command::{parse_command, Command};
pub use dump::{dump, dump_to_string};
pub use error::{Error, LineError, Result};
pub use event::{CacheCode, Completion, Event};
pub use qresync::qresync_param;
pub use replay::{replay, ReplayStats};
pub use response::{parse_response, MAX_FLAG_LIST_BYTES};
pub use session::{Session, Step};
