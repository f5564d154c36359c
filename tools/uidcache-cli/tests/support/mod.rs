//! Test support shared by the integration tests of `uidcache-cli` (`mod support;`).
// Each test binary uses a different part of it.
#![allow(
    dead_code,
    reason = "each test binary uses only part of the support code"
)]

pub mod dovecot;
