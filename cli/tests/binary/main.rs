//! The real `doorstep` binary (Cargo builds it before these tests): `serve --demo`, the admin
//! commands, a damaged database at start, and the terminal phone over HTTPS. The in-process
//! relays and phones come from the relay's own test harness.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, missing_debug_implementations)]

mod binary;
mod damage;
mod disk_full;
#[path = "../../../server/tests/relay/harness.rs"]
#[allow(dead_code)]
mod harness;
mod start_errors;
#[cfg(feature = "tls")]
mod tls;
