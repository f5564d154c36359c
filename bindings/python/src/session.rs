//! `uidcache.Session`: the IMAP layer, for clients that speak IMAP themselves (imaplib):
//! feed it each command line the client sends and each response the server returns, in
//! order, and commit whenever it says so.

use pyo3::prelude::*;
use uidcache::imap::{LineError, Session, Step};

use crate::cache::PyCache;
use crate::errors;
use crate::state::Refused;
use crate::txn::PyTransaction;
use crate::values::PySelectOutcome;

/// What the IMAP layer failed on: the transaction's state, or a response.
enum Failed {
    Refused(Refused),
    Line(LineError),
}

impl From<Refused> for Failed {
    fn from(r: Refused) -> Failed {
        Failed::Refused(r)
    }
}

fn to_py(py: Python<'_>, f: Failed) -> PyErr {
    match f {
        Failed::Refused(r) => PyCache::refused(py, r),
        Failed::Line(e) => errors::imap(py, e),
    }
}

fn step(s: Step) -> &'static str {
    match s {
        Step::Continue => "continue",
        Step::Commit => "commit",
        Step::Discard => "discard",
    }
}

/// One IMAP connection as the cache follows it. `command(tx, line)` for each command the
/// client sends, `response(tx, line)` for each response (without its CRLF; a response with
/// literals whole, literals included) returning `"continue"`, `"commit"` (a command
/// completed: commit now) or `"discard"`; `finish()` at the end of the connection.
#[pyclass(name = "Session", module = "uidcache")]
pub struct PySession {
    inner: Session,
    /// Responses fed so far: the `line` that errors report.
    responses: u64,
}

#[pymethods]
impl PySession {
    #[new]
    fn new() -> Self {
        PySession {
            inner: Session::new(),
            responses: 0,
        }
    }

    /// The client sent `line` (a command line without CRLF, tag first).
    fn command(
        &mut self,
        py: Python<'_>,
        tx: PyRef<'_, PyTransaction>,
        line: &[u8],
    ) -> PyResult<()> {
        let inner = &mut self.inner;
        tx.with_tx(py, false, |t| inner.command(t, line).map_err(Failed::Line))?
            .map_err(|f| to_py(py, f))
    }

    /// The server sent `line` (one response without its final CRLF). Returns `"continue"`,
    /// `"commit"` or `"discard"`.
    fn response(
        &mut self,
        py: Python<'_>,
        tx: PyRef<'_, PyTransaction>,
        line: &[u8],
    ) -> PyResult<&'static str> {
        self.responses += 1;
        let (inner, pos) = (&mut self.inner, self.responses);
        let line = line.to_vec();
        tx.with_tx(py, true, |t| {
            inner.response(t, pos, &line).map_err(Failed::Line)
        })?
        .map(step)
        .map_err(|f| to_py(py, f))
    }

    /// The connection ended: `"commit"` when what was applied since the last commit point
    /// stands, `"discard"` when it ended inside a SELECT whose completion never came.
    fn finish(&mut self) -> &'static str {
        step(self.inner.finish())
    }

    /// Whether the stored HIGHESTMODSEQ is held back until the flags are caught up (after
    /// a plain SELECT of a cache that held records): `FETCH 1:* (FLAGS) (CHANGEDSINCE m)`
    /// ends the hold, or `flags_caught_up` after refetching every message's flags.
    #[getter]
    fn holding_modseq(&self) -> bool {
        self.inner.holding_modseq()
    }

    /// Ends the hold: every message's flags were fetched since the last SELECT.
    fn flags_caught_up(&mut self, py: Python<'_>, tx: PyRef<'_, PyTransaction>) -> PyResult<()> {
        let inner = &mut self.inner;
        tx.with_tx(py, false, |t| {
            inner
                .flags_caught_up(t)
                .map_err(|source| Failed::Line(LineError { line: 0, source }))
        })?
        .map_err(|f| to_py(py, f))
    }

    /// The `[HIGHESTMODSEQ n]` of the last SELECT/EXAMINE, if any.
    #[getter]
    fn selected_modseq(&self) -> Option<u64> {
        self.inner.selected_modseq()
    }

    /// The highest FETCH MODSEQ not yet stored (a `NOOP` releases it).
    #[getter]
    fn pending_modseq(&self) -> Option<u64> {
        self.inner.pending_modseq()
    }

    /// What the last SELECT/EXAMINE kept of the cache, once resolved.
    #[getter]
    fn last_select(&self) -> Option<PySelectOutcome> {
        self.inner.last_select().map(PySelectOutcome::from)
    }
}
