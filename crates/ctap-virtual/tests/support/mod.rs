//! Test-support code shared by integration tests of this crate.

pub(crate) mod features_host;
