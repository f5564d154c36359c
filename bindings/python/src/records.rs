//! Messages and flag names as Python values: flag names are `str` (the bytes the server sent,
//! decoded as UTF-8 with `surrogateescape`, so that any byte round-trips), a message's flags
//! a tuple of them, shared by every message with the same flag set.

use std::collections::HashMap;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};
use uidcache::{Message, View};

/// One flag name as `str`.
pub fn flag_str<'py>(py: Python<'py>, name: &[u8]) -> PyResult<Bound<'py, PyString>> {
    match std::str::from_utf8(name) {
        Ok(s) => Ok(PyString::new(py, s)),
        Err(_) => PyBytes::new(py, name)
            .call_method1("decode", ("utf-8", "surrogateescape"))?
            .downcast_into::<PyString>()
            .map_err(PyErr::from),
    }
}

/// One flag name from Python: `bytes` as they are, `str` encoded as UTF-8 (with
/// `surrogateescape`, the inverse of [`flag_str`]).
pub fn flag_bytes(value: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(b) = value.downcast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    let s = value.downcast::<PyString>()?;
    match s.to_cow() {
        Ok(s) => Ok(s.as_bytes().to_vec()),
        Err(_) => Ok(s
            .call_method1("encode", ("utf-8", "surrogateescape"))?
            .downcast_into::<PyBytes>()?
            .as_bytes()
            .to_vec()),
    }
}

/// A FLAGS argument: `None` (leave the stored flags) or an iterable of names.
pub fn flag_list(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Vec<Vec<u8>>>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    if value.is_instance_of::<PyString>() || value.is_instance_of::<PyBytes>() {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "flags must be an iterable of names, not a single str or bytes",
        ));
    }
    value
        .try_iter()?
        .map(|v| flag_bytes(&v?))
        .collect::<PyResult<Vec<_>>>()
        .map(Some)
}

/// What a read copies out of the cache for one message, before any Python object exists
/// (so that it can run without the GIL).
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// Sequence number (0 for an unplaced record).
    pub seq: u32,
    /// The message.
    pub message: Message,
}

/// The names of flag sets a read met that the tuple cache does not hold yet.
pub type NewFlagSets = Vec<(u32, Vec<Vec<u8>>)>;

/// Notes the names of `message`'s flag set in `new` unless `known` or `new` has it.
pub fn note_flags(view: &View<'_>, message: &Message, known: &FlagTuples, new: &mut NewFlagSets) {
    if let Some(id) = message.flags {
        if !known.map.contains_key(&id.0) && !new.iter().any(|(k, _)| *k == id.0) {
            let names = view.flag_names(id).unwrap_or_default();
            new.push((id.0, names.into_iter().map(<[u8]>::to_vec).collect()));
        }
    }
}

/// Flag-set tuples by flag-set ID, valid for one snapshot of the cache (a checkpoint may
/// give a freed ID to another set): the cache clears it whenever what it reads changes.
#[derive(Default)]
pub struct FlagTuples {
    map: HashMap<u32, Py<PyTuple>>,
}

impl FlagTuples {
    /// Forgets every tuple.
    pub fn clear(&mut self) {
        self.map.clear();
    }

    /// Adds the sets a read met.
    pub fn add(&mut self, py: Python<'_>, new: NewFlagSets) -> PyResult<()> {
        for (id, names) in new {
            let items = names
                .iter()
                .map(|n| flag_str(py, n))
                .collect::<PyResult<Vec<_>>>()?;
            self.map.insert(id, PyTuple::new(py, items)?.unbind());
        }
        Ok(())
    }

    /// The tuple of `message`'s flags (`None` when never learned). Its set must have been
    /// added ([`note_flags`] then [`FlagTuples::add`]); an unknown set reads as empty.
    pub fn of<'py>(&self, py: Python<'py>, message: &Message) -> Option<Bound<'py, PyTuple>> {
        let id = message.flags?;
        Some(match self.map.get(&id.0) {
            Some(t) => t.bind(py).clone(),
            None => PyTuple::empty(py),
        })
    }
}

/// One message as the cache knows it: `uid`, `flags` (a tuple of names, or `None` when
/// FLAGS were never learned) and `modseq` (`None` when never learned).
#[pyclass(name = "Message", module = "uidcache", frozen, eq)]
#[derive(Debug)]
pub struct PyMessage {
    /// The UID.
    #[pyo3(get)]
    pub uid: u32,
    /// The flag names, or `None`.
    #[pyo3(get)]
    pub flags: Option<Py<PyTuple>>,
    /// The MODSEQ, or `None`.
    #[pyo3(get)]
    pub modseq: Option<u64>,
}

impl PartialEq for PyMessage {
    fn eq(&self, other: &Self) -> bool {
        Python::with_gil(|py| {
            self.uid == other.uid
                && self.modseq == other.modseq
                && match (&self.flags, &other.flags) {
                    (Some(a), Some(b)) => a.bind(py).eq(b.bind(py)).unwrap_or(false),
                    (None, None) => true,
                    _ => false,
                }
        })
    }
}

#[pymethods]
impl PyMessage {
    /// Whether the message has the flag `name`, compared ASCII-case-insensitively as IMAP
    /// atoms are (`\SEEN` is `\Seen`); `None` when its FLAGS were never learned.
    fn has_flag(&self, py: Python<'_>, name: &Bound<'_, PyAny>) -> PyResult<Option<bool>> {
        let want = flag_bytes(name)?;
        let Some(flags) = &self.flags else {
            return Ok(None);
        };
        for f in flags.bind(py).iter() {
            if flag_bytes(&f)?.eq_ignore_ascii_case(&want) {
                return Ok(Some(true));
            }
        }
        Ok(Some(false))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let flags = match &self.flags {
            Some(f) => f.bind(py).repr()?.to_string(),
            None => "None".to_string(),
        };
        let modseq = self.modseq.map_or("None".to_string(), |m| m.to_string());
        Ok(format!(
            "Message(uid={}, flags={flags}, modseq={modseq})",
            self.uid
        ))
    }
}

impl PyMessage {
    /// A `Message` for `message`, its flags from `tuples`.
    pub fn new(py: Python<'_>, message: &Message, tuples: &FlagTuples) -> PyMessage {
        PyMessage {
            uid: message.uid,
            flags: tuples.of(py, message).map(Bound::unbind),
            modseq: message.modseq,
        }
    }
}
