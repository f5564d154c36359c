//! `uidcache.Transaction`: changes that become visible and durable together at commit.

use std::ops::RangeInclusive;

use pyo3::prelude::*;
use pyo3::types::PyTuple;
use uidcache::{Durability, SelectResult, Transaction, Update};

use crate::cache::PyCache;
use crate::errors;
use crate::records::flag_list;
use crate::state::Refused;
use crate::values::{removal, PyRemoved, PySelectOutcome};

/// A transaction on a writer's cache, from `Cache.transaction()`. As a context manager it
/// commits when the block ends normally and discards its changes when the block raises.
/// A transaction dropped without `commit` is discarded.
#[pyclass(name = "Transaction", module = "uidcache")]
pub struct PyTransaction {
    cache: Py<PyCache>,
    serial: u64,
    durability: Option<Durability>,
    done: bool,
}

/// FLAGS and MODSEQ arguments, owned, lent to the engine as an [`Update`].
struct Change {
    flags: Option<Vec<Vec<u8>>>,
    modseq: Option<u64>,
}

impl Change {
    fn new(flags: Option<&Bound<'_, PyAny>>, modseq: Option<u64>) -> PyResult<Change> {
        Ok(Change {
            flags: flag_list(flags)?,
            modseq,
        })
    }

    fn apply<T>(&self, f: impl FnOnce(Update<'_>) -> T) -> T {
        let names: Vec<&[u8]> = self.flags.iter().flatten().map(Vec::as_slice).collect();
        f(Update {
            flags: self.flags.as_ref().map(|_| names.as_slice()),
            modseq: self.modseq,
        })
    }
}

impl PyTransaction {
    /// The Python handle of transaction number `serial` of `cache`.
    pub fn new(cache: Py<PyCache>, serial: u64, durability: Option<Durability>) -> Self {
        PyTransaction {
            cache,
            serial,
            durability,
            done: false,
        }
    }

    /// Runs `change` on this transaction (the GIL released with `release`); `E` carries
    /// what the caller maps to a Python exception.
    pub fn with_tx<T: Send, E: Send + From<Refused>>(
        &self,
        py: Python<'_>,
        release: bool,
        change: impl FnOnce(&mut Transaction<'_>) -> Result<T, E> + Send,
    ) -> PyResult<Result<T, E>> {
        let mut cache = self.cache.bind(py).try_borrow_mut()?;
        if self.done || cache.serial != self.serial {
            return Err(errors::transaction(py, "this transaction has ended"));
        }
        cache.changed();
        let state = &mut cache.state;
        Ok(if release {
            py.allow_threads(|| state.change(change))
        } else {
            state.change(change)
        })
    }

    /// [`PyTransaction::with_tx`] for engine calls.
    fn engine<T: Send>(
        &self,
        py: Python<'_>,
        release: bool,
        change: impl FnOnce(&mut Transaction<'_>) -> uidcache::Result<T> + Send,
    ) -> PyResult<T> {
        self.with_tx(py, release, |tx| change(tx).map_err(Refused::Engine))?
            .map_err(|r| PyCache::refused(py, r))
    }

    /// Commits (`Some(durability)`) or discards (`None`) the transaction.
    fn end(&mut self, py: Python<'_>, commit: Option<Option<Durability>>) -> PyResult<()> {
        let mut cache = self.cache.bind(py).try_borrow_mut()?;
        if self.done || cache.serial != self.serial {
            return Err(errors::transaction(py, "this transaction has ended"));
        }
        self.done = true;
        cache.changed();
        let state = &mut cache.state;
        py.allow_threads(|| state.end(commit))
            .map_err(|r| PyCache::refused(py, r))
    }
}

impl Drop for PyTransaction {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        Python::with_gil(|py| {
            if let Ok(mut cache) = self.cache.bind(py).try_borrow_mut() {
                if cache.serial == self.serial {
                    cache.changed();
                    // Discarding rereads the committed state; a failure poisons the handle,
                    // which its next call reports.
                    let _ = cache.state.end(None);
                }
            }
        });
    }
}

#[pymethods]
impl PyTransaction {
    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Commits when the block ended normally, discards when it raised (the exception then
    /// propagates). Does nothing when the block already committed or aborted.
    #[pyo3(signature = (exc_type, *_rest))]
    fn __exit__(
        &mut self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        _rest: &Bound<'_, PyTuple>,
    ) -> PyResult<bool> {
        if !self.done {
            if exc_type.is_some_and(|t| !t.is_none()) {
                self.end(py, None)?;
            } else {
                self.end(py, Some(self.durability))?;
            }
        }
        Ok(false)
    }

    /// Whether `commit` or `abort` ended the transaction.
    #[getter]
    fn done(&self) -> bool {
        self.done
    }

    /// The cache this transaction changes (its reads see the transaction's changes).
    #[getter]
    fn cache(&self, py: Python<'_>) -> Py<PyCache> {
        self.cache.clone_ref(py)
    }

    /// Makes the changes visible to other handles and durable: fsynced unless
    /// `durable=False` (`None`: the transaction's or the cache's setting).
    #[pyo3(signature = (durable = None))]
    fn commit(&mut self, py: Python<'_>, durable: Option<bool>) -> PyResult<()> {
        let d = durable
            .map(|d| {
                if d {
                    Durability::Durable
                } else {
                    Durability::NoSync
                }
            })
            .or(self.durability);
        self.end(py, Some(d))
    }

    /// Discards every change; the cache reads its last commit again.
    fn abort(&mut self, py: Python<'_>) -> PyResult<()> {
        self.end(py, None)
    }

    /// Records a SELECT/EXAMINE response with the reconnect rule: a new UIDVALIDITY drops
    /// everything; a plain SELECT (`vanished=None`) keeps no position; a QRESYNC SELECT
    /// (`vanished`: its `VANISHED (EARLIER)` UIDs as `(first, last)` ranges, `[]` when none)
    /// keeps the known run from sequence number 1 minus those UIDs.
    #[pyo3(signature = (*, uidvalidity = None, exists = None, uidnext = None, vanished = None))]
    fn record_select(
        &self,
        py: Python<'_>,
        uidvalidity: Option<u32>,
        exists: Option<u32>,
        uidnext: Option<u32>,
        vanished: Option<Vec<(u32, u32)>>,
    ) -> PyResult<PySelectOutcome> {
        let ranges: Option<Vec<RangeInclusive<u32>>> =
            vanished.map(|v| v.into_iter().map(|(a, b)| a..=b).collect());
        self.engine(py, false, |tx| {
            let mut select = SelectResult::new();
            if let Some(v) = uidvalidity {
                select = select.uidvalidity(v);
            }
            if let Some(n) = exists {
                select = select.exists(n);
            }
            if let Some(n) = uidnext {
                select = select.uidnext(n);
            }
            if let Some(r) = &ranges {
                select = select.qresync(r);
            }
            tx.record_select(&select)
        })
        .map(PySelectOutcome::from)
    }

    /// Records `[UIDVALIDITY v]`: a different value drops every record. Returns whether it did.
    fn record_uidvalidity(&self, py: Python<'_>, value: u32) -> PyResult<bool> {
        self.engine(py, false, |tx| tx.record_uidvalidity(value))
    }

    /// Sets UIDVALIDITY as it is (`None`: unknown); see `record_uidvalidity` for the rule.
    fn set_uidvalidity(&self, py: Python<'_>, value: Option<u32>) -> PyResult<()> {
        self.engine(py, false, |tx| tx.set_uidvalidity(value))
    }

    /// Sets UIDNEXT (`None`: unknown).
    fn set_uidnext(&self, py: Python<'_>, value: Option<u32>) -> PyResult<()> {
        self.engine(py, false, |tx| tx.set_uidnext(value))
    }

    /// Sets HIGHESTMODSEQ (`None`: unknown). It claims every change up to it is cached.
    fn set_highestmodseq(&self, py: Python<'_>, value: Option<u64>) -> PyResult<()> {
        self.engine(py, false, |tx| tx.set_highestmodseq(value))
    }

    /// Sets the message count (EXISTS); a smaller count drops the positions above it.
    fn set_exists(&self, py: Python<'_>, count: u32) -> PyResult<()> {
        self.engine(py, true, |tx| tx.set_exists(count))
    }

    /// Forgets every record and counter.
    fn clear(&self, py: Python<'_>) -> PyResult<()> {
        self.engine(py, true, |tx| tx.clear())
    }

    /// Learns the UIDs of sequence numbers `seq, seq+1, ...` (strictly increasing).
    fn learn_range(&self, py: Python<'_>, seq: u32, uids: Vec<u32>) -> PyResult<()> {
        self.engine(py, true, |tx| tx.learn_range(seq, &uids))
    }

    /// Learns that `seq` holds `uid`, with its FLAGS (an iterable of names) and MODSEQ
    /// when given.
    #[pyo3(signature = (seq, uid, flags = None, modseq = None))]
    fn learn(
        &self,
        py: Python<'_>,
        seq: u32,
        uid: u32,
        flags: Option<&Bound<'_, PyAny>>,
        modseq: Option<u64>,
    ) -> PyResult<()> {
        let change = Change::new(flags, modseq)?;
        self.engine(py, false, |tx| change.apply(|u| tx.learn(seq, uid, u)))
    }

    /// Sets the FLAGS and/or MODSEQ of the known message at `seq`.
    #[pyo3(signature = (seq, flags = None, modseq = None))]
    fn update_seq(
        &self,
        py: Python<'_>,
        seq: u32,
        flags: Option<&Bound<'_, PyAny>>,
        modseq: Option<u64>,
    ) -> PyResult<()> {
        let change = Change::new(flags, modseq)?;
        self.engine(py, false, |tx| change.apply(|u| tx.update_seq(seq, u)))
    }

    /// Sets the FLAGS and/or MODSEQ of the known message with `uid`.
    #[pyo3(signature = (uid, flags = None, modseq = None))]
    fn update_uid(
        &self,
        py: Python<'_>,
        uid: u32,
        flags: Option<&Bound<'_, PyAny>>,
        modseq: Option<u64>,
    ) -> PyResult<()> {
        let change = Change::new(flags, modseq)?;
        self.engine(py, false, |tx| change.apply(|u| tx.update_uid(uid, u)))
    }

    /// `* seq EXPUNGE`: removes the message at `seq`; later ones shift down.
    fn expunge(&self, py: Python<'_>, seq: u32) -> PyResult<()> {
        self.engine(py, false, |tx| tx.expunge(seq))
    }

    /// Removes the message with `uid` (`VANISHED`): `("placed", seq)`, `("hole", seq)`,
    /// `("unplaced", None)` or `("absent", None)`.
    fn remove_uid(&self, py: Python<'_>, uid: u32) -> PyResult<(&'static str, Option<u32>)> {
        self.engine(py, false, |tx| tx.remove_uid(uid)).map(removal)
    }

    /// Removes every message whose UID is in one of `ranges` (`(first, last)` pairs, as
    /// `VANISHED 3:5,9` says); costs what the ranges meet, not their width.
    fn remove_uids(&self, py: Python<'_>, ranges: Vec<(u32, u32)>) -> PyResult<PyRemoved> {
        let ranges: Vec<RangeInclusive<u32>> = ranges.into_iter().map(|(a, b)| a..=b).collect();
        self.engine(py, true, |tx| tx.remove_uids(&ranges))
            .map(PyRemoved::from)
    }

    /// Drops the unplaced record with `uid`; returns whether there was one.
    fn forget_uid(&self, py: Python<'_>, uid: u32) -> PyResult<bool> {
        self.engine(py, false, |tx| tx.forget_uid(uid))
    }

    /// Takes the positions of `first..=last` away (the records stay, known by UID).
    fn unplace(&self, py: Python<'_>, first: u32, last: u32) -> PyResult<()> {
        self.engine(py, true, |tx| tx.unplace(first, last))
    }

    fn __repr__(&self) -> String {
        let state = if self.done { "ended" } else { "open" };
        format!("<uidcache.Transaction #{} ({state})>", self.serial)
    }
}
