//! Engine errors as Python exceptions. The classes live in `uidcache/errors.py` (so that
//! they can inherit from `ValueError` or `OSError` as well as from `uidcache.Error`); this
//! module picks the class from the error's kind and attaches its details as attributes.

use pyo3::prelude::*;
use pyo3::types::PyType;
use uidcache::{Error, ErrorKind};

/// Builds an instance of `uidcache.errors.<class>` with `message`, then sets `attrs`.
pub fn raise(py: Python<'_>, class: &str, message: String, attrs: &[(&str, PyObject)]) -> PyErr {
    let made = (|| -> PyResult<PyErr> {
        let module = py.import("uidcache.errors")?;
        let class = module.getattr(class)?.downcast_into::<PyType>()?;
        let value = class.call1((message.clone(),))?;
        for (name, v) in attrs {
            value.setattr(*name, v)?;
        }
        Ok(PyErr::from_value(value))
    })();
    // Only a broken installation lacks the module; the original message still reaches the user.
    made.unwrap_or_else(|e| e)
}

/// The class of an engine error, by kind.
fn class_of(e: &Error) -> &'static str {
    match e.kind() {
        ErrorKind::Locked { .. } => "LockedError",
        ErrorKind::Corrupt { .. } if e.is_upgrade_required() => "UpgradeRequiredError",
        ErrorKind::Corrupt { .. } => "CorruptError",
        ErrorKind::NotACache { .. } => "NotACacheError",
        ErrorKind::Poisoned | ErrorKind::AfterCommit(_) => "PoisonedError",
        ErrorKind::ReadOnly => "ReadOnlyError",
        ErrorKind::Invalid(_) => "InvalidOperationError",
        ErrorKind::Invariant(_) => "InvariantError",
        ErrorKind::Io { .. } => "CacheIOError",
        _ => "Error",
    }
}

/// An engine error as the matching `uidcache` exception. Corruption carries `path`,
/// `offset`, `structure` and `field`; I/O carries `path`, `errno` and `op`; a lock carries
/// `path`.
pub fn engine(py: Python<'_>, e: Error) -> PyErr {
    let class = class_of(&e);
    let message = e.to_string();
    let mut attrs: Vec<(&str, PyObject)> = Vec::new();
    let path = |p: &std::path::Path| p.to_string_lossy().into_owned();
    let obj = |v: Bound<'_, PyAny>| v.unbind();
    let result = (|| -> PyResult<()> {
        match e.kind() {
            ErrorKind::Corrupt { path: p, detail } => {
                attrs.push(("path", obj(path(p).into_pyobject(py)?.into_any())));
                attrs.push(("offset", obj(detail.offset.into_pyobject(py)?.into_any())));
                attrs.push((
                    "structure",
                    obj(detail.structure.into_pyobject(py)?.into_any()),
                ));
                attrs.push(("field", obj(detail.field.into_pyobject(py)?.into_any())));
            }
            ErrorKind::Io {
                op,
                path: p,
                source,
            } => {
                attrs.push(("path", obj(path(p).into_pyobject(py)?.into_any())));
                attrs.push(("op", obj(op.into_pyobject(py)?.into_any())));
                attrs.push(("errno", source.raw_os_error().into_pyobject(py)?.unbind()));
            }
            ErrorKind::Locked { path: p } | ErrorKind::NotACache { path: p, .. } => {
                attrs.push(("path", obj(path(p).into_pyobject(py)?.into_any())));
            }
            _ => {}
        }
        Ok(())
    })();
    if let Err(err) = result {
        return err;
    }
    raise(py, class, message, &attrs)
}

/// `uidcache.ClosedError`: a call on a closed cache.
pub fn closed(py: Python<'_>) -> PyErr {
    raise(py, "ClosedError", "the cache is closed".to_string(), &[])
}

/// `uidcache.TransactionError`: a transaction used out of turn.
pub fn transaction(py: Python<'_>, message: &str) -> PyErr {
    raise(py, "TransactionError", message.to_string(), &[])
}

/// An error of the IMAP layer, with the line it came from: engine errors keep their own
/// class (with `line` added), the others are `uidcache.ImapError`.
pub fn imap(py: Python<'_>, e: uidcache::imap::LineError) -> PyErr {
    let line = e.line;
    let message = e.to_string();
    let err = match e.source {
        uidcache::imap::Error::Engine(inner) => engine(py, inner),
        other => {
            let class = match other {
                uidcache::imap::Error::UnreportedExpunge { .. } => "UnreportedExpungeError",
                _ => "ImapError",
            };
            raise(py, class, message, &[])
        }
    };
    // The exception was built above; failing to attach the line loses only the line.
    let _ = err.value(py).setattr("line", line);
    err
}
