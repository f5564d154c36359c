//! Reading many records: `Cache.range` streams `(seq, uid, flags, modseq)` tuples, built a
//! batch at a time so that Python's per-record cost is that of iterating a list;
//! `Cache.columns` copies them into `array.array`s.

use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple, PyType};
use uidcache::Message;

use crate::cache::PyCache;
use crate::errors;
use crate::records::{note_flags, FlagTuples, Row};

/// The first batch is small, so that `next()` on a fresh iterator is quick; each next one
/// is four times larger, up to [`MAX_BATCH`].
const FIRST_BATCH: usize = 256;
/// The largest batch: 1024 tuples (with their ints, about 130 KB), so that a batch stays in
/// the CPU cache and the next one reuses its memory.
const MAX_BATCH: usize = 1024;

/// One record as the tuple the iterators yield: `(seq, uid, flags, modseq)`, with `seq`
/// `None` for an unplaced record (which has none).
pub fn record<'py>(
    py: Python<'py>,
    seq: Option<u32>,
    m: &Message,
    flags: &FlagTuples,
) -> PyResult<Bound<'py, PyTuple>> {
    PyTuple::new(
        py,
        [
            seq.into_pyobject(py)?.into_any(),
            m.uid.into_pyobject(py)?.into_any(),
            flags.of(py, m).into_pyobject(py)?.into_any(),
            m.modseq.into_pyobject(py)?.into_any(),
        ],
    )
}

static CHAIN: GILOnceCell<Py<PyType>> = GILOnceCell::new();

/// `itertools.chain.from_iterable(batches)`: the iterator `Cache.range` returns.
pub fn chain(py: Python<'_>, batches: Batches) -> PyResult<Bound<'_, PyAny>> {
    let chain = CHAIN.import(py, "itertools", "chain")?;
    chain.call_method1("from_iterable", (batches,))
}

/// The lists of record tuples behind `Cache.range`, read from the cache one at a time.
#[pyclass(module = "uidcache")]
pub struct Batches {
    cache: Py<PyCache>,
    /// The cache's epoch when the iterator was made: a change by the handle ends it.
    epoch: u64,
    /// The next sequence number to read (`u64`: it can pass `u32::MAX`).
    next: u64,
    last: u32,
    size: usize,
}

impl Batches {
    /// The batches of `first..=last` (`None`: to the end).
    pub fn new(cache: Py<PyCache>, epoch: u64, first: u32, last: Option<u32>) -> Batches {
        Batches {
            cache,
            epoch,
            next: u64::from(first.max(1)),
            last: last.unwrap_or(u32::MAX),
            size: FIRST_BATCH,
        }
    }
}

#[pymethods]
impl Batches {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyList>>> {
        let Ok(first) = u32::try_from(self.next) else {
            return Ok(None);
        };
        if first > self.last {
            return Ok(None);
        }
        let mut cache = self.cache.bind(py).try_borrow_mut()?;
        if cache.epoch != self.epoch {
            return Err(errors::raise(
                py,
                "ChangedDuringIteration",
                "the cache changed during iteration (a transaction call, commit, abort or \
                 refresh on this handle)"
                    .to_string(),
                &[],
            ));
        }
        let (last, size) = (self.last, self.size);
        let rows = cache.read_with(py, true, |v, known, new| {
            let mut rows = Vec::with_capacity(size.min(1 << 16));
            for r in v.range(first..=last).take(size) {
                let (seq, message) = r?;
                note_flags(v, &message, known, new);
                rows.push(Row { seq, message });
            }
            Ok(rows)
        })?;
        let Some(end) = rows.last().map(|r| r.seq) else {
            self.next = u64::from(u32::MAX) + 1;
            return Ok(None);
        };
        self.next = u64::from(end) + 1;
        self.size = (self.size * 4).min(MAX_BATCH);
        let tuples = rows
            .iter()
            .map(|r| record(py, Some(r.seq), &r.message, &cache.flags))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(Some(PyList::new(py, tuples)?))
    }
}

static ARRAY: GILOnceCell<Py<PyType>> = GILOnceCell::new();

/// An `array.array` of `typecode` holding `bytes` (native byte order, one copy).
fn array<'py>(py: Python<'py>, typecode: &str, bytes: &[u8]) -> PyResult<PyObject> {
    let array = ARRAY.import(py, "array", "array")?;
    Ok(array.call1((typecode, PyBytes::new(py, bytes)))?.unbind())
}

/// The known messages of a range as four parallel `array.array`s (the bulk read, without
/// a Python object per record): `seqs` and `uids` (`'I'`), `flags` (`'I'`: the flag-set ID,
/// `0xFFFFFFFF` when FLAGS were never learned; `flag_sets[id]` is its names, valid for this
/// read only, since a later commit may reuse an ID) and `modseqs` (`'Q'`, 0 when unknown:
/// IMAP MODSEQs are positive).
#[pyclass(module = "uidcache", frozen)]
pub struct Columns {
    /// Sequence numbers, ascending.
    #[pyo3(get)]
    seqs: PyObject,
    /// UIDs.
    #[pyo3(get)]
    uids: PyObject,
    /// Flag-set IDs.
    #[pyo3(get)]
    flags: PyObject,
    /// MODSEQs.
    #[pyo3(get)]
    modseqs: PyObject,
    /// The names of each flag-set ID in `flags`.
    #[pyo3(get)]
    flag_sets: Py<PyDict>,
}

impl Columns {
    /// Reads `first..=last` of `cache`.
    pub fn read(cache: &mut PyCache, py: Python<'_>, first: u32, last: u32) -> PyResult<Columns> {
        type Cols = (Vec<u32>, Vec<u32>, Vec<u32>, Vec<u64>);
        let (seqs, uids, flags, modseqs): Cols = cache.read_with(py, true, |v, known, new| {
            let mut cols: Cols = Default::default();
            for r in v.range(first.max(1)..=last) {
                let (seq, m) = r?;
                note_flags(v, &m, known, new);
                cols.0.push(seq);
                cols.1.push(m.uid);
                cols.2.push(m.flags.map_or(u32::MAX, |f| f.0));
                cols.3.push(m.modseq.unwrap_or(0));
            }
            Ok(cols)
        })?;
        let flag_sets = PyDict::new(py);
        let mut ids: Vec<u32> = flags.iter().copied().filter(|f| *f != u32::MAX).collect();
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            let m = Message {
                uid: 0,
                flags: Some(uidcache::FlagSetId(id)),
                modseq: None,
            };
            flag_sets.set_item(id, cache.flags.of(py, &m))?;
        }
        let bytes32 = |v: &[u32]| v.iter().flat_map(|x| x.to_ne_bytes()).collect::<Vec<u8>>();
        let bytes64 = |v: &[u64]| v.iter().flat_map(|x| x.to_ne_bytes()).collect::<Vec<u8>>();
        Ok(Columns {
            seqs: array(py, "I", &bytes32(&seqs))?,
            uids: array(py, "I", &bytes32(&uids))?,
            flags: array(py, "I", &bytes32(&flags))?,
            modseqs: array(py, "Q", &bytes64(&modseqs))?,
            flag_sets: flag_sets.unbind(),
        })
    }
}

#[pymethods]
impl Columns {
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.seqs.bind(py).len()
    }
}
