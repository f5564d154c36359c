//! Helpers shared by the test binaries and the bench.
pub mod cbuild;
