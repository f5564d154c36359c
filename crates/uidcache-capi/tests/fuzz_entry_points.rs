//! A proptest over the extern functions: random sequences of calls with random handle
//! states, sequence numbers, UIDs, lengths and NULL pointers (where the header allows
//! them and where it does not). Every call must return a status and none may be
//! `UIDCACHE_ERR_PANIC` (a panic caught at the boundary is a bug); a panic that escaped
//! would abort this test process. The handles are released at the end, which must
//! succeed.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: a panic is a failure report"
)]

use std::ffi::{c_void, CString};
use std::ptr::{null, null_mut};

use proptest::prelude::*;
use uidcache_capi::cursor::*;
use uidcache_capi::open::*;
use uidcache_capi::read::*;
use uidcache_capi::txn::*;
use uidcache_capi::types::*;
use uidcache_capi::{UidcacheCache, UidcacheCursor, UidcacheStatus, UidcacheTxn};

/// One call, with its arguments.
#[derive(Debug, Clone)]
enum Call {
    Open {
        reader: bool,
        flags: u32,
        with_options: bool,
    },
    Close {
        reader: bool,
    },
    Begin,
    Commit(u32),
    Abort,
    LearnRange {
        seq: u32,
        uids: Vec<u32>,
        null_uids: bool,
    },
    Learn {
        seq: u32,
        uid: u32,
        update: Option<Upd>,
    },
    UpdateSeq {
        seq: u32,
        update: Option<Upd>,
    },
    UpdateUid {
        uid: u32,
        update: Option<Upd>,
    },
    Expunge(u32),
    RemoveUids(Vec<(u32, u32)>),
    Unplace(u32, u32),
    SetExists(u32),
    SetUidvalidity(Option<u32>),
    SetHighestmodseq(Option<u64>),
    RecordSelect {
        fields: u32,
        uidvalidity: u32,
        exists: u32,
        vanished: Vec<(u32, u32)>,
    },
    TxnPosition(u32),
    MessageAt {
        reader: bool,
        seq: u32,
        null_out: bool,
    },
    Position {
        reader: bool,
        uid: u32,
    },
    Unplaced(u32),
    Range {
        reader: bool,
        first: u32,
        last: u32,
        stop_after: u32,
    },
    ChangedSince(u64),
    Segments,
    FetchPlan(u32, u32),
    FlagNames(u32),
    HasFlag {
        flag_set: u32,
        has_flags: bool,
        name: Vec<u8>,
    },
    Qresync(usize),
    Counters {
        reader: bool,
        null_out: bool,
    },
    CursorOpen(u32, u32),
    CursorNext(usize),
    CursorClose,
    Refresh {
        reader: bool,
    },
    WrongKind,
}

/// A `uidcache_update`'s contents.
#[derive(Debug, Clone)]
struct Upd {
    flags: Option<Vec<Vec<u8>>>,
    modseq: Option<u64>,
    null_names: bool,
}

fn small() -> impl Strategy<Value = u32> {
    prop_oneof![8 => 0u32..40, 1 => Just(u32::MAX), 1 => any::<u32>()]
}

fn update() -> impl Strategy<Value = Option<Upd>> {
    let name = prop_oneof![
        Just(b"\\Seen".to_vec()),
        Just(b"\\Recent".to_vec()),
        Just(b"$Label".to_vec()),
        Just(Vec::new()),
        proptest::collection::vec(any::<u8>(), 0..6),
    ];
    proptest::option::of(
        (
            proptest::option::of(proptest::collection::vec(name, 0..4)),
            proptest::option::of(0u64..300),
            proptest::bool::weighted(0.1),
        )
            .prop_map(|(flags, modseq, null_names)| Upd {
                flags,
                modseq,
                null_names,
            }),
    )
}

fn ranges() -> impl Strategy<Value = Vec<(u32, u32)>> {
    proptest::collection::vec((small(), small()), 0..4)
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        3 => (any::<bool>(), prop_oneof![4 => Just(4u32), 1 => any::<u32>(), 1 => 0u32..128], any::<bool>())
            .prop_map(|(reader, flags, with_options)| Call::Open { reader, flags, with_options }),
        1 => any::<bool>().prop_map(|reader| Call::Close { reader }),
        3 => Just(Call::Begin),
        2 => prop_oneof![Just(2u32), 0u32..4, any::<u32>()].prop_map(Call::Commit),
        1 => Just(Call::Abort),
        4 => (small(), proptest::collection::vec(small(), 0..12), proptest::bool::weighted(0.1))
            .prop_map(|(seq, uids, null_uids)| Call::LearnRange { seq, uids, null_uids }),
        3 => (small(), small(), update()).prop_map(|(seq, uid, update)| Call::Learn { seq, uid, update }),
        2 => (small(), update()).prop_map(|(seq, update)| Call::UpdateSeq { seq, update }),
        2 => (small(), update()).prop_map(|(uid, update)| Call::UpdateUid { uid, update }),
        2 => small().prop_map(Call::Expunge),
        2 => ranges().prop_map(Call::RemoveUids),
        1 => (small(), small()).prop_map(|(a, b)| Call::Unplace(a, b)),
        3 => prop_oneof![0u32..40, any::<u32>()].prop_map(Call::SetExists),
        1 => proptest::option::of(small()).prop_map(Call::SetUidvalidity),
        1 => proptest::option::of(0u64..500).prop_map(Call::SetHighestmodseq),
        2 => (0u32..32, 1u32..4, 0u32..40, ranges())
            .prop_map(|(fields, uidvalidity, exists, vanished)| Call::RecordSelect { fields, uidvalidity, exists, vanished }),
        1 => small().prop_map(Call::TxnPosition),
        3 => (any::<bool>(), small(), proptest::bool::weighted(0.1))
            .prop_map(|(reader, seq, null_out)| Call::MessageAt { reader, seq, null_out }),
        2 => (any::<bool>(), small()).prop_map(|(reader, uid)| Call::Position { reader, uid }),
        1 => small().prop_map(Call::Unplaced),
        2 => (any::<bool>(), small(), small(), 0u32..4)
            .prop_map(|(reader, first, last, stop_after)| Call::Range { reader, first, last, stop_after }),
        1 => prop_oneof![0u64..300, Just(u64::MAX)].prop_map(Call::ChangedSince),
        1 => Just(Call::Segments),
        1 => (small(), small()).prop_map(|(a, b)| Call::FetchPlan(a, b)),
        1 => prop_oneof![0u32..4, any::<u32>()].prop_map(Call::FlagNames),
        1 => (prop_oneof![0u32..4, any::<u32>()], any::<bool>(), proptest::collection::vec(any::<u8>(), 0..8))
            .prop_map(|(flag_set, has_flags, name)| Call::HasFlag { flag_set, has_flags, name }),
        1 => prop_oneof![Just(0usize), 0usize..64, Just(4096usize)].prop_map(Call::Qresync),
        1 => (any::<bool>(), proptest::bool::weighted(0.1)).prop_map(|(reader, null_out)| Call::Counters { reader, null_out }),
        1 => (small(), small()).prop_map(|(a, b)| Call::CursorOpen(a, b)),
        2 => prop_oneof![0usize..3, Just(16usize)].prop_map(Call::CursorNext),
        1 => Just(Call::CursorClose),
        1 => any::<bool>().prop_map(|reader| Call::Refresh { reader }),
        1 => Just(Call::WrongKind),
    ]
}

/// The handles a sequence of calls holds.
struct Handles {
    dir: CString,
    writer: *mut UidcacheCache,
    reader: *mut UidcacheCache,
    txn: *mut UidcacheTxn,
    cursors: Vec<*mut UidcacheCursor>,
}

/// Goes on while the context is NULL, stops at the first row otherwise (the context is
/// never read).
extern "C" fn row_cb(ctx: *mut c_void, _row: *const UidcacheRow) -> i32 {
    i32::from(!ctx.is_null())
}

extern "C" fn name_cb(_ctx: *mut c_void, _name: *const u8, _len: usize) -> i32 {
    0
}

extern "C" fn segment_cb(_ctx: *mut c_void, _kind: u32, _first: u32, _last: u32) -> i32 {
    0
}

fn update_ptrs(u: &Upd, names: &mut Vec<UidcacheBytes>) -> UidcacheUpdate {
    names.clear();
    if let Some(flags) = &u.flags {
        for f in flags {
            names.push(UidcacheBytes {
                ptr: if f.is_empty() { null() } else { f.as_ptr() },
                len: f.len(),
            });
        }
    }
    UidcacheUpdate {
        flags: if u.null_names { null() } else { names.as_ptr() },
        flag_count: names.len(),
        modseq: u.modseq.unwrap_or(0),
        set_flags: u8::from(u.flags.is_some()),
        set_modseq: u8::from(u.modseq.is_some()),
    }
}

fn pick(h: &Handles, reader: bool) -> *mut UidcacheCache {
    if reader {
        h.reader
    } else {
        h.writer
    }
}

fn apply(h: &mut Handles, call: &Call) -> UidcacheStatus {
    let mut names = Vec::new();
    let upd =
        |u: &Option<Upd>, names: &mut Vec<UidcacheBytes>| u.as_ref().map(|u| update_ptrs(u, names));
    match call {
        Call::Open {
            reader,
            flags,
            with_options,
        } => {
            let slot = if *reader { h.reader } else { h.writer };
            if !slot.is_null() {
                return UidcacheStatus::UidcacheOk;
            }
            let mut o = UidcacheOpenOptions {
                size: 0,
                flags: 0,
                lock_wait_ms: 0,
                journal_limit: 0,
            };
            assert_eq!(
                uidcache_open_options_init(&mut o),
                UidcacheStatus::UidcacheOk
            );
            o.flags = if *reader {
                flags | UIDCACHE_OPEN_READ_ONLY
            } else {
                *flags & !UIDCACHE_OPEN_READ_ONLY
            };
            let mut out = null_mut();
            let s = uidcache_open(
                h.dir.as_ptr(),
                if *with_options || *reader { &o } else { null() },
                &mut out,
            );
            if *reader {
                h.reader = out
            } else {
                h.writer = out
            }
            s
        }
        Call::Close { reader } => {
            let s = uidcache_close(pick(h, *reader));
            if s != UidcacheStatus::UidcacheErrBusy {
                if *reader {
                    h.reader = null_mut()
                } else {
                    h.writer = null_mut()
                }
            }
            s
        }
        Call::Begin => {
            if !h.txn.is_null() {
                let mut second = null_mut();
                let s = uidcache_begin(h.writer, &mut second);
                assert!(second.is_null());
                return s;
            }
            uidcache_begin(h.writer, &mut h.txn)
        }
        Call::Commit(d) => {
            let s = uidcache_txn_commit(h.txn, *d);
            if s != UidcacheStatus::UidcacheErrArgument || h.txn.is_null() {
                h.txn = null_mut();
            }
            s
        }
        Call::Abort => {
            let s = uidcache_txn_abort(h.txn);
            h.txn = null_mut();
            s
        }
        Call::LearnRange {
            seq,
            uids,
            null_uids,
        } => {
            let p = if *null_uids { null() } else { uids.as_ptr() };
            uidcache_txn_learn_range(h.txn, *seq, p, uids.len())
        }
        Call::Learn { seq, uid, update } => {
            let u = upd(update, &mut names);
            uidcache_txn_learn(h.txn, *seq, *uid, u.as_ref().map_or(null(), |u| u))
        }
        Call::UpdateSeq { seq, update } => {
            let u = upd(update, &mut names);
            uidcache_txn_update_seq(h.txn, *seq, u.as_ref().map_or(null(), |u| u))
        }
        Call::UpdateUid { uid, update } => {
            let u = upd(update, &mut names);
            uidcache_txn_update_uid(h.txn, *uid, u.as_ref().map_or(null(), |u| u))
        }
        Call::Expunge(seq) => uidcache_txn_expunge(h.txn, *seq),
        Call::RemoveUids(r) => {
            let r: Vec<UidcacheUidRange> = r
                .iter()
                .map(|&(first, last)| UidcacheUidRange { first, last })
                .collect();
            let mut removed = UidcacheRemoved::default();
            uidcache_txn_remove_uids(h.txn, r.as_ptr(), r.len(), &mut removed)
        }
        Call::Unplace(a, b) => uidcache_txn_unplace(h.txn, *a, *b),
        Call::SetExists(n) => uidcache_txn_set_exists(h.txn, *n),
        Call::SetUidvalidity(v) => {
            uidcache_txn_set_uidvalidity(h.txn, v.as_ref().map_or(null(), |v| v))
        }
        Call::SetHighestmodseq(v) => {
            uidcache_txn_set_highestmodseq(h.txn, v.as_ref().map_or(null(), |v| v))
        }
        Call::RecordSelect {
            fields,
            uidvalidity,
            exists,
            vanished,
        } => {
            let v: Vec<UidcacheUidRange> = vanished
                .iter()
                .map(|&(first, last)| UidcacheUidRange { first, last })
                .collect();
            let s = UidcacheSelect {
                fields: *fields,
                uidvalidity: *uidvalidity,
                exists: *exists,
                uidnext: exists + 100,
                vanished: v.as_ptr(),
                vanished_count: v.len(),
            };
            let mut outcome = UidcacheSelectOutcome::default();
            uidcache_txn_record_select(h.txn, &s, &mut outcome)
        }
        Call::TxnPosition(uid) => {
            let mut p = UidcachePosition::default();
            uidcache_txn_position_of_uid(h.txn, *uid, &mut p)
        }
        Call::MessageAt {
            reader,
            seq,
            null_out,
        } => {
            let mut m = UidcacheMessage::default();
            let mut found = false;
            let out: *mut UidcacheMessage = if *null_out { null_mut() } else { &mut m };
            uidcache_message_at(pick(h, *reader), *seq, out, &mut found)
        }
        Call::Position { reader, uid } => {
            let mut p = UidcachePosition::default();
            uidcache_position_of_uid(pick(h, *reader), *uid, &mut p)
        }
        Call::Unplaced(uid) => {
            let mut m = UidcacheMessage::default();
            let mut found = false;
            uidcache_unplaced_message(h.writer, *uid, &mut m, &mut found)
        }
        Call::Range {
            reader,
            first,
            last,
            stop_after,
        } => {
            // 0: no callback (an error); 1: stop at the first row; else read them all.
            let cb: UidcacheRowFn = if *stop_after == 0 { None } else { Some(row_cb) };
            let ctx = if *stop_after == 1 {
                std::ptr::NonNull::<c_void>::dangling().as_ptr()
            } else {
                null_mut()
            };
            uidcache_range(pick(h, *reader), *first, *last, cb, ctx)
        }
        Call::ChangedSince(m) => uidcache_changed_since(h.writer, *m, Some(row_cb), null_mut()),
        Call::Segments => uidcache_segments(h.writer, Some(segment_cb), null_mut()),
        Call::FetchPlan(seq, max) => {
            let (mut a, mut b, mut found) = (0, 0, false);
            uidcache_fetch_plan(h.writer, *seq, *max, &mut a, &mut b, &mut found)
        }
        Call::FlagNames(id) => uidcache_flag_names(h.writer, *id, Some(name_cb), null_mut()),
        Call::HasFlag {
            flag_set,
            has_flags,
            name,
        } => {
            let m = UidcacheMessage {
                uid: 1,
                flag_set: *flag_set,
                modseq: 0,
                has_flags: *has_flags,
                has_modseq: false,
            };
            let mut out = 0;
            uidcache_has_flag(
                h.writer,
                &m,
                if name.is_empty() {
                    null()
                } else {
                    name.as_ptr()
                },
                name.len(),
                &mut out,
            )
        }
        Call::Qresync(cap) => {
            let mut buf = vec![0u8; *cap];
            let mut len = 0;
            let p = if *cap == 0 {
                null_mut()
            } else {
                buf.as_mut_ptr()
            };
            let s = uidcache_qresync_param(h.writer, p, *cap, &mut len);
            if s == UidcacheStatus::UidcacheOk && *cap > 0 {
                assert_eq!(buf[len], 0, "NUL-terminated");
            }
            s
        }
        Call::Counters { reader, null_out } => {
            let mut k = UidcacheCounters::default();
            let out: *mut UidcacheCounters = if *null_out { null_mut() } else { &mut k };
            uidcache_get_counters(pick(h, *reader), out)
        }
        Call::CursorOpen(a, b) => {
            let mut c = null_mut();
            let s = uidcache_cursor_open(h.writer, *a, *b, &mut c);
            if !c.is_null() {
                h.cursors.push(c);
            }
            s
        }
        Call::CursorNext(cap) => {
            let c = h.cursors.last().copied().unwrap_or(null_mut());
            let mut rows = vec![UidcacheRow::default(); *cap];
            let mut n = usize::MAX;
            let p = if *cap == 0 {
                null_mut()
            } else {
                rows.as_mut_ptr()
            };
            let s = uidcache_cursor_next(c, p, *cap, &mut n);
            if s == UidcacheStatus::UidcacheOk {
                assert!(n <= *cap);
                assert!(rows[..n].windows(2).all(|w| w[0].seq < w[1].seq));
            }
            s
        }
        Call::CursorClose => uidcache_cursor_close(h.cursors.pop().unwrap_or(null_mut())),
        Call::Refresh { reader } => uidcache_refresh(pick(h, *reader)),
        Call::WrongKind => {
            if h.txn.is_null() {
                return UidcacheStatus::UidcacheOk;
            }
            let mut k = UidcacheCounters::default();
            let s = uidcache_get_counters(h.txn.cast::<UidcacheCache>(), &mut k);
            assert_eq!(s, UidcacheStatus::UidcacheErrArgument);
            s
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn no_call_panics_and_every_handle_is_released(
        exists in 0u32..40,
        calls in proptest::collection::vec(call(), 1..80),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut h = Handles {
            dir: CString::new(dir.path().join("INBOX").to_str().unwrap()).unwrap(),
            writer: null_mut(),
            reader: null_mut(),
            txn: null_mut(),
            cursors: Vec::new(),
        };
        // Most of the surface needs an open writer with a transaction and some messages.
        let prefix = [
            Call::Open { reader: false, flags: UIDCACHE_OPEN_NO_SYNC, with_options: true },
            Call::Begin,
            Call::SetExists(exists),
        ];
        for (k, c) in prefix.iter().chain(&calls).enumerate() {
            let s = apply(&mut h, c);
            prop_assert_ne!(s, UidcacheStatus::UidcacheErrPanic, "call {} {:?}", k, c);
        }
        // Release in the order the borrows demand; each must succeed.
        prop_assert_eq!(uidcache_txn_abort(h.txn), UidcacheStatus::UidcacheOk);
        for c in h.cursors.drain(..) {
            prop_assert_eq!(uidcache_cursor_close(c), UidcacheStatus::UidcacheOk);
        }
        let closed = uidcache_close(h.writer);
        prop_assert!(closed != UidcacheStatus::UidcacheErrBusy && closed != UidcacheStatus::UidcacheErrPanic, "{:?}", closed);
        let closed = uidcache_close(h.reader);
        prop_assert!(closed != UidcacheStatus::UidcacheErrBusy && closed != UidcacheStatus::UidcacheErrPanic, "{:?}", closed);
    }
}
