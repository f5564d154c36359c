//! The `uidcache` Python package's native module (`uidcache._native`): the embedder's API of
//! the `uidcache` crate through PyO3. The Python side (`python/uidcache/`) re-exports it,
//! defines the exception classes and carries the type stub.
//!
//! Disk work (open, commit, abort, close, refresh, sync, reads of many records) runs with
//! the GIL released. A `Cache` is used by one thread at a time: a second thread calling it
//! while a call runs gets `RuntimeError` (PyO3's borrow check); open one handle per thread.

mod cache;
mod errors;
mod iter;
mod records;
mod session;
mod state;
mod txn;
mod values;

use pyo3::prelude::*;

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<cache::PyCache>()?;
    m.add_class::<txn::PyTransaction>()?;
    m.add_class::<records::PyMessage>()?;
    m.add_class::<iter::Columns>()?;
    m.add_class::<iter::Batches>()?;
    m.add_class::<values::PyPosition>()?;
    m.add_class::<values::PyQresyncParam>()?;
    m.add_class::<values::PySelectOutcome>()?;
    m.add_class::<values::PyRemoved>()?;
    m.add_class::<session::PySession>()?;
    m.add("MAX_MESSAGES", uidcache::MAX_MESSAGES)?;
    Ok(())
}
