//! Test support shared by the integration tests of `uidcache-cli` (`mod support;`): the
//! throwaway Dovecot and Cyrus servers, and the [`server::Server`] interface to both.
// Each test binary uses a different part of it.
#![allow(
    dead_code,
    reason = "each test binary uses only part of the support code"
)]

pub mod cyrus;
pub mod dovecot;
pub mod fixture;
pub mod server;
