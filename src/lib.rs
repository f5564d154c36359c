//! uidcache: an IMAP client's mailbox state on disk.
//!
//! This facade re-exports [`uidcache_engine`], the crate to embed.
pub use uidcache_engine::*;
