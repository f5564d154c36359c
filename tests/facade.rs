//! The facade an embedder depends on: the engine's types by name, fsck, `open_repairing`'s
//! error chain, and with the `imap` feature the IMAP session over the same `Cache`.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: a panic is a failure report"
)]

use std::error::Error as _;

use uidcache::{OpenOptions, RepairingError};

/// Opening through the facade when the directory is not a cache but a plain file: the
/// error says so, and its source is the engine's error, so callers that walk the chain
/// (anyhow, `{:#}` reports) see the cause.
#[test]
fn a_repairing_error_chains_to_the_engine_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let err = uidcache::open_repairing(&file, OpenOptions::default()).unwrap_err();
    assert!(matches!(err, RepairingError::Open(_)), "{err:?}");
    let source = err.source().expect("a source");
    assert!(
        source.downcast_ref::<uidcache::Error>().is_some(),
        "{source:?}"
    );
}

/// The `imap` feature's session feeds the facade's own `Cache`: one engine, not two
/// copies of its types.
#[cfg(feature = "imap")]
#[test]
fn the_imap_feature_feeds_the_facades_cache() {
    use uidcache::imap::{Session, Step};
    use uidcache::Cache;
    let dir = tempfile::tempdir().unwrap();
    let mut cache = Cache::open(dir.path()).unwrap();
    let mut session = Session::new();
    let mut tx = cache.transaction().unwrap();
    session.command(&mut tx, b"a1 SELECT INBOX").unwrap();
    let lines: [&[u8]; 4] = [
        b"* 3 EXISTS",
        b"* OK [UIDVALIDITY 7] ok",
        b"* OK [UIDNEXT 40] ok",
        b"a1 OK [READ-WRITE] done",
    ];
    for (n, line) in lines.into_iter().enumerate() {
        if session.response(&mut tx, n as u64 + 1, line).unwrap() == Step::Commit {
            tx.commit().unwrap();
            tx = cache.transaction().unwrap();
        }
    }
    drop(tx);
    let view = cache.view();
    assert_eq!(
        (view.exists(), view.uidvalidity(), view.uidnext()),
        (Some(3), Some(7), Some(40))
    );
}
