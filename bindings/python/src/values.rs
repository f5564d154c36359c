//! Small result values: where a UID stands, the QRESYNC parameter, what a SELECT kept,
//! what a removal removed.

use pyo3::prelude::*;
use uidcache::{QresyncParam, Removal, Removed, SelectOutcome, UidPosition};

/// Where a UID stands: `kind` is `"placed"` (at `seq`), `"hole"` (unknown, but if it
/// exists it is in `hole`, a `(first, last)` range of sequence numbers), `"unplaced"`
/// (known by UID without a position; `hole` is where it must lie if it exists) or
/// `"absent"` (placed knowledge proves no message has it).
#[pyclass(name = "Position", module = "uidcache", frozen, eq)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyPosition {
    /// `"placed"`, `"hole"`, `"unplaced"` or `"absent"`.
    #[pyo3(get)]
    kind: &'static str,
    /// The sequence number, when placed.
    #[pyo3(get)]
    seq: Option<u32>,
    /// The hole's `(first, last)`, when in a hole (or unplaced beside one).
    #[pyo3(get)]
    hole: Option<(u32, u32)>,
}

impl From<UidPosition> for PyPosition {
    fn from(p: UidPosition) -> PyPosition {
        let (kind, seq, hole) = match p {
            UidPosition::Placed(s) => ("placed", Some(s), None),
            UidPosition::InHole { first, last } => ("hole", None, Some((first, last))),
            UidPosition::Unplaced { hole } => ("unplaced", None, hole),
            UidPosition::Absent => ("absent", None, None),
        };
        PyPosition { kind, seq, hole }
    }
}

#[pymethods]
impl PyPosition {
    fn __repr__(&self) -> String {
        let seq = self.seq.map_or("None".to_string(), |s| s.to_string());
        let hole = self
            .hole
            .map_or("None".to_string(), |(a, b)| format!("({a}, {b})"));
        format!("Position(kind={:?}, seq={seq}, hole={hole})", self.kind).replace('"', "'")
    }
}

/// The values of `SELECT mailbox (QRESYNC (...))` for the cached state; `str()` of it is
/// the parameter itself.
#[pyclass(name = "QresyncParam", module = "uidcache", frozen)]
#[derive(Debug)]
pub struct PyQresyncParam {
    inner: QresyncParam,
}

impl From<QresyncParam> for PyQresyncParam {
    fn from(inner: QresyncParam) -> Self {
        PyQresyncParam { inner }
    }
}

#[pymethods]
impl PyQresyncParam {
    /// The cached UIDVALIDITY.
    #[getter]
    fn uidvalidity(&self) -> u32 {
        self.inner.uidvalidity
    }

    /// The cached HIGHESTMODSEQ.
    #[getter]
    fn modseq(&self) -> u64 {
        self.inner.modseq
    }

    /// The known UIDs as an IMAP sequence set (`1:3,5`), empty when none.
    #[getter]
    fn known_uids(&self) -> String {
        self.inner.known_uids.to_string()
    }

    /// `(seq, uid)` pairs of placed messages the server can check positions against.
    #[getter]
    fn sample(&self) -> Vec<(u32, u32)> {
        self.inner.sample.clone()
    }

    fn __str__(&self) -> String {
        self.inner.to_string()
    }

    fn __repr__(&self) -> String {
        format!("QresyncParam({:?})", self.inner.to_string())
    }
}

/// What `Transaction.record_select` did: `cleared` (a new UIDVALIDITY dropped every
/// record), `kept` (sequence numbers `1..=kept` stayed placed) and `unproven_flags` (a plain
/// SELECT kept records whose flags may be stale: HIGHESTMODSEQ must not be raised until
/// they are refetched).
#[pyclass(name = "SelectOutcome", module = "uidcache", frozen, eq)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PySelectOutcome {
    /// Every record was dropped.
    #[pyo3(get)]
    cleared: bool,
    /// `1..=kept` stayed placed.
    #[pyo3(get)]
    kept: u32,
    /// Kept records' flags are unproven.
    #[pyo3(get)]
    unproven_flags: bool,
}

impl From<SelectOutcome> for PySelectOutcome {
    fn from(o: SelectOutcome) -> Self {
        PySelectOutcome {
            cleared: o.cleared,
            kept: o.kept,
            unproven_flags: o.unproven_flags,
        }
    }
}

#[pymethods]
impl PySelectOutcome {
    fn __repr__(&self) -> String {
        format!(
            "SelectOutcome(cleared={}, kept={}, unproven_flags={})",
            py_bool(self.cleared),
            self.kept,
            py_bool(self.unproven_flags)
        )
    }
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// What `Transaction.remove_uids` removed: `placed` records, unknown messages
/// `from_holes` (the ranges met holes, which shrank), and `unplaced` records.
#[pyclass(name = "Removed", module = "uidcache", frozen, eq)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyRemoved {
    /// Placed records removed.
    #[pyo3(get)]
    placed: u64,
    /// Unknown messages removed from holes.
    #[pyo3(get)]
    from_holes: u64,
    /// Unplaced records removed.
    #[pyo3(get)]
    unplaced: u64,
}

impl From<Removed> for PyRemoved {
    fn from(r: Removed) -> Self {
        PyRemoved {
            placed: r.placed,
            from_holes: r.from_holes,
            unplaced: r.unplaced,
        }
    }
}

#[pymethods]
impl PyRemoved {
    fn __repr__(&self) -> String {
        format!(
            "Removed(placed={}, from_holes={}, unplaced={})",
            self.placed, self.from_holes, self.unplaced
        )
    }
}

/// `Transaction.remove_uid`'s answer: `("placed", seq)`, `("hole", seq)`,
/// `("unplaced", None)` or `("absent", None)`.
pub fn removal(r: Removal) -> (&'static str, Option<u32>) {
    match r {
        Removal::Placed(s) => ("placed", Some(s)),
        Removal::Hole(s) => ("hole", Some(s)),
        Removal::Unplaced => ("unplaced", None),
        Removal::Absent => ("absent", None),
    }
}
