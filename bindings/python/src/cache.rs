//! `uidcache.Cache`: one mailbox's cache directory, opened as the writer or as a reader.

use std::path::PathBuf;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyTuple;
use uidcache::{Durability, OpenOptions, Segment, UidPosition, View};

use crate::errors;
use crate::iter::{self, Batches, Columns};
use crate::records::{note_flags, FlagTuples, NewFlagSets, PyMessage};
use crate::state::{Refused, State};
use crate::txn::PyTransaction;
use crate::values::{PyPosition, PyQresyncParam};

/// A mailbox's cache directory: `Cache.open(path)` as the one writer (it takes the lock),
/// `Cache.open(path, readonly=True)` as one of any number of readers. A context manager:
/// leaving the `with` block closes it.
#[pyclass(name = "Cache", module = "uidcache")]
pub struct PyCache {
    pub(crate) state: State,
    /// Bumped by every change this handle makes to what it reads (a transaction's calls,
    /// commit, abort, refresh): iterators stop on it.
    pub(crate) epoch: u64,
    /// Bumped whenever the snapshot read may differ (the above, and a reader's refresh after
    /// a stale read): flag-set IDs are then to be looked up again.
    pub(crate) snapshot: u64,
    /// Transactions begun; names the open one, so that a finished `Transaction` cannot act
    /// on a later one.
    pub(crate) serial: u64,
    pub(crate) flags: FlagTuples,
    readonly: bool,
    path: PathBuf,
    repairs: Option<Vec<String>>,
}

impl PyCache {
    /// The Python exception for a refusal.
    pub(crate) fn refused(py: Python<'_>, r: Refused) -> PyErr {
        match r {
            Refused::Closed => errors::closed(py),
            Refused::NoTransaction => errors::transaction(
                py,
                "no transaction is open on this cache (or another one is)",
            ),
            Refused::Engine(e) => errors::engine(py, e),
        }
    }

    /// Notes a change made by this handle.
    pub(crate) fn changed(&mut self) {
        self.epoch += 1;
        self.new_snapshot();
    }

    fn new_snapshot(&mut self) {
        self.snapshot += 1;
        self.flags.clear();
    }

    /// Runs `read` on the view, collecting the names of flag sets it meets that the tuple
    /// cache lacks, then adds them. With `release`, the GIL is released while it runs (reads
    /// of many records, which may fault in pages of block files).
    pub(crate) fn read_with<T: Send>(
        &mut self,
        py: Python<'_>,
        release: bool,
        mut read: impl FnMut(&View<'_>, &FlagTuples, &mut NewFlagSets) -> uidcache::Result<T> + Send,
    ) -> PyResult<T> {
        let mut new = NewFlagSets::new();
        let mut runs = 0u32;
        let empty = FlagTuples::default();
        let (state, flags) = (&mut self.state, &self.flags);
        let mut run = || {
            state.read(|view| {
                runs += 1;
                new.clear();
                // A second run means the handle refreshed: the IDs known so far may now
                // name other sets.
                let known = if runs > 1 { &empty } else { flags };
                read(view, known, &mut new)
            })
        };
        let out = if release {
            py.allow_threads(run)
        } else {
            run()
        };
        if runs > 1 {
            self.new_snapshot();
        }
        let out = out.map_err(|r| Self::refused(py, r))?;
        self.flags.add(py, new)?;
        Ok(out)
    }

    /// The message `find` reads, as a Python `Message`.
    fn one_message(
        &mut self,
        py: Python<'_>,
        find: impl Fn(&View<'_>) -> uidcache::Result<Option<uidcache::Message>> + Send + Sync,
    ) -> PyResult<Option<PyMessage>> {
        let m = self.read_with(py, false, |v, known, new| {
            let m = find(v)?;
            if let Some(m) = &m {
                note_flags(v, m, known, new);
            }
            Ok(m)
        })?;
        Ok(m.map(|m| PyMessage::new(py, &m, &self.flags)))
    }

    fn read_plain<T: Send>(
        &mut self,
        py: Python<'_>,
        mut read: impl FnMut(&View<'_>) -> uidcache::Result<T> + Send,
    ) -> PyResult<T> {
        self.read_with(py, false, |v, _, _| read(v))
    }
}

#[pymethods]
impl PyCache {
    /// Opens the cache in `path`. See the stub (`uidcache/_native.pyi`) for the options.
    #[staticmethod]
    #[pyo3(signature = (path, readonly = false, *, create = true, durable = true,
        lock_wait = None, journal_limit = None, auto_compact = true, compact_on_drop = false,
        repair = false))]
    #[allow(
        clippy::too_many_arguments,
        reason = "keyword arguments of one Python call"
    )]
    fn open(
        py: Python<'_>,
        path: PathBuf,
        readonly: bool,
        create: bool,
        durable: bool,
        lock_wait: Option<f64>,
        journal_limit: Option<u64>,
        auto_compact: bool,
        compact_on_drop: bool,
        repair: bool,
    ) -> PyResult<PyCache> {
        let wait = match lock_wait {
            Some(s) if !(s.is_finite() && s >= 0.0) => {
                return Err(pyo3::exceptions::PyValueError::new_err(
                    "lock_wait must be a non-negative number of seconds",
                ))
            }
            Some(s) => Some(Duration::from_secs_f64(s)),
            None => None,
        };
        let mut options = OpenOptions::new()
            .read_only(readonly)
            .lock_wait(wait)
            .durability(if durable {
                Durability::Durable
            } else {
                Durability::NoSync
            })
            .auto_compact(auto_compact)
            .compact_on_drop(compact_on_drop);
        if !readonly {
            options = options.create(create);
        }
        if let Some(bytes) = journal_limit {
            options = options.journal_limit(bytes);
        }
        let dir = path.clone();
        let (cache, repairs) = if repair && !readonly {
            let opened = py.allow_threads(|| uidcache::open_repairing(&dir, options));
            match opened {
                Ok((cache, report)) => {
                    let repairs = report.map(|r| {
                        r.problems
                            .iter()
                            .map(ToString::to_string)
                            .chain(r.repairs.iter().map(ToString::to_string))
                            .collect()
                    });
                    (cache, repairs)
                }
                Err(uidcache::RepairingError::Open(e)) => return Err(errors::engine(py, e)),
                Err(e) => return Err(errors::raise(py, "RepairError", e.to_string(), &[])),
            }
        } else {
            let opened = py.allow_threads(|| options.open(&dir));
            (opened.map_err(|e| errors::engine(py, e))?, None)
        };
        Ok(PyCache {
            state: State::Idle(Box::new(cache)),
            epoch: 0,
            snapshot: 0,
            serial: 0,
            flags: FlagTuples::default(),
            readonly,
            path,
            repairs,
        })
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_exc))]
    fn __exit__(&mut self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    /// Closes the handle: discards an open transaction, checkpoints a writer's journal and
    /// compacts a fragmented layout, releases the lock. Closing twice does nothing.
    fn close(&mut self, py: Python<'_>) -> PyResult<()> {
        self.changed();
        let state = &mut self.state;
        py.allow_threads(|| state.close())
            .map_err(|r| Self::refused(py, r))
    }

    /// Whether the handle is closed.
    #[getter]
    fn closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// Whether the handle was opened read-only.
    #[getter]
    fn readonly(&self) -> bool {
        self.readonly
    }

    /// The cache directory.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// What `open(..., repair=True)` found and repaired, or `None` when no repair ran.
    #[getter]
    fn repairs(&self) -> Option<Vec<String>> {
        self.repairs.clone()
    }

    /// Whether a transaction is open on this handle.
    #[getter]
    fn in_transaction(&self) -> bool {
        matches!(self.state, State::InTx(_))
    }

    /// Starts a transaction (a context manager: commits when its block ends normally,
    /// discards it when the block raises).
    #[pyo3(signature = (durable = None))]
    fn transaction(slf: Bound<'_, Self>, durable: Option<bool>) -> PyResult<PyTransaction> {
        let py = slf.py();
        let mut this = slf.borrow_mut();
        this.state.begin().map_err(|r| match r {
            Refused::NoTransaction => {
                errors::transaction(py, "a transaction is already open on this cache")
            }
            r => Self::refused(py, r),
        })?;
        this.serial += 1;
        this.changed();
        Ok(PyTransaction::new(
            slf.clone().unbind(),
            this.serial,
            durable.map(|d| {
                if d {
                    Durability::Durable
                } else {
                    Durability::NoSync
                }
            }),
        ))
    }

    /// A reader: moves to the newest committed state. A writer: rereads its own.
    fn refresh(&mut self, py: Python<'_>) -> PyResult<()> {
        self.changed();
        let state = &mut self.state;
        py.allow_threads(|| state.idle().and_then(|c| Ok(c.refresh()?)))
            .map_err(|r| Self::refused(py, r))
    }

    /// fsyncs what commits with `durable=False` left unsynced.
    fn sync(&mut self, py: Python<'_>) -> PyResult<()> {
        let state = &mut self.state;
        py.allow_threads(|| state.idle().and_then(|c| Ok(c.sync()?)))
            .map_err(|r| Self::refused(py, r))
    }

    /// UIDVALIDITY, or `None` when unknown.
    #[getter]
    fn uidvalidity(&mut self, py: Python<'_>) -> PyResult<Option<u32>> {
        self.read_plain(py, |v| Ok(v.uidvalidity()))
    }

    /// UIDNEXT, or `None` when unknown.
    #[getter]
    fn uidnext(&mut self, py: Python<'_>) -> PyResult<Option<u32>> {
        self.read_plain(py, |v| Ok(v.uidnext()))
    }

    /// HIGHESTMODSEQ, or `None` when unknown.
    #[getter]
    fn highestmodseq(&mut self, py: Python<'_>) -> PyResult<Option<u64>> {
        self.read_plain(py, |v| Ok(v.highestmodseq()))
    }

    /// The message count (EXISTS), or `None` when unknown.
    #[getter]
    fn exists(&mut self, py: Python<'_>) -> PyResult<Option<u32>> {
        self.read_plain(py, |v| Ok(v.exists()))
    }

    /// How many records the cache holds, placed and unplaced.
    #[getter]
    fn record_count(&mut self, py: Python<'_>) -> PyResult<u64> {
        self.read_plain(py, |v| Ok(v.record_count()))
    }

    /// How many records are unplaced (known by UID, without a position).
    #[getter]
    fn unplaced_count(&mut self, py: Python<'_>) -> PyResult<u64> {
        self.read_plain(py, |v| Ok(v.unplaced_count()))
    }

    /// The message at sequence number `seq`, or `None` when it is unknown.
    fn message_at(&mut self, py: Python<'_>, seq: u32) -> PyResult<Option<PyMessage>> {
        self.one_message(py, |v| v.message_at(seq))
    }

    /// The unplaced record with `uid`, or `None`.
    fn unplaced_message(&mut self, py: Python<'_>, uid: u32) -> PyResult<Option<PyMessage>> {
        self.one_message(py, |v| v.unplaced_message(uid))
    }

    /// Where `uid` stands.
    fn position_of_uid(&mut self, py: Python<'_>, uid: u32) -> PyResult<PyPosition> {
        let p: UidPosition = self.read_plain(py, |v| v.position_of_uid(uid))?;
        Ok(PyPosition::from(p))
    }

    /// The known messages with sequence numbers `first..=last` (inclusive, as in IMAP;
    /// `last=None`: to the end), ascending, as `(seq, uid, flags, modseq)` tuples.
    #[pyo3(signature = (first = 1, last = None))]
    fn range<'py>(
        slf: Bound<'py, Self>,
        first: u32,
        last: Option<u32>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let batches = Batches::new(slf.clone().unbind(), slf.borrow().epoch, first, last);
        iter::chain(slf.py(), batches)
    }

    /// Every known message, ascending: `range(1, None)`.
    fn messages<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        Self::range(slf, 1, None)
    }

    /// The messages whose MODSEQ is known and above `modseq`, as `(seq, uid, flags, modseq)`
    /// tuples: placed ones ascending by sequence number, then unplaced ones (seq `None`)
    /// ascending by UID.
    fn changed_since<'py>(
        &mut self,
        py: Python<'py>,
        modseq: u64,
    ) -> PyResult<Vec<Bound<'py, PyTuple>>> {
        let rows = self.read_with(py, true, |v, known, new| {
            let mut rows = Vec::new();
            for r in v.changed_since(modseq) {
                let (seq, m) = r?;
                note_flags(v, &m, known, new);
                rows.push((seq, m));
            }
            Ok(rows)
        })?;
        rows.iter()
            .map(|(seq, m)| iter::record(py, *seq, m, &self.flags))
            .collect()
    }

    /// Columns of the known messages in `first..=last`, as `array.array`s (the fast bulk
    /// read): see `Columns`.
    #[pyo3(signature = (first = 1, last = None))]
    fn columns(&mut self, py: Python<'_>, first: u32, last: Option<u32>) -> PyResult<Columns> {
        Columns::read(self, py, first, last.unwrap_or(u32::MAX))
    }

    /// Known runs and holes covering `1..=exists`, in order: `(known, first, last)`.
    fn segments(&mut self, py: Python<'_>) -> PyResult<Vec<(bool, u32, u32)>> {
        let segments = self.read_plain(py, |v| Ok(v.segments()))?;
        Ok(segments
            .into_iter()
            .map(|s| match s {
                Segment::Known(a, b) => (true, a, b),
                Segment::Hole(a, b) => (false, a, b),
            })
            .collect())
    }

    /// The range to fetch next to learn `seq`: at most `max` sequence numbers, aligned to
    /// multiples of `max`, never overlapping what is known. `None` when `seq` is known or
    /// out of range.
    #[pyo3(signature = (seq, max = 1000))]
    fn fetch_plan(&mut self, py: Python<'_>, seq: u32, max: u32) -> PyResult<Option<(u32, u32)>> {
        let plan = self.read_plain(py, |v| Ok(v.fetch_plan(seq, max)))?;
        Ok(plan.map(|r| (*r.start(), *r.end())))
    }

    /// The `(QRESYNC (...))` parameter of a SELECT for the cached state (`str()` of it is
    /// what follows the mailbox name), or `None` when UIDVALIDITY or HIGHESTMODSEQ is unknown.
    fn qresync_param(&mut self, py: Python<'_>) -> PyResult<Option<PyQresyncParam>> {
        let p = self.read_with(py, true, |v, _, _| v.qresync_param())?;
        Ok(p.map(PyQresyncParam::from))
    }

    /// The cache in the `uidcache dump` text format (header lines, then one line per
    /// record), as the CLI prints it: for comparing with a server's state.
    fn dump(&mut self, py: Python<'_>) -> PyResult<String> {
        self.read_with(py, true, |v, _, _| {
            uidcache::imap::dump_to_string(v).map_err(|e| {
                uidcache::Error::from(uidcache::ErrorKind::Io {
                    op: "dump",
                    path: PathBuf::new(),
                    source: e,
                })
            })
        })
    }

    fn __repr__(&self) -> String {
        let mode = if self.readonly { "reader" } else { "writer" };
        let state = match self.state {
            State::Idle(_) => "open",
            State::InTx(_) => "in a transaction",
            State::Closed => "closed",
        };
        format!("<uidcache.Cache {} ({mode}, {state})>", self.path.display())
    }
}
