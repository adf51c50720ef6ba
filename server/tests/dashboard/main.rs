//! The coordinators' dashboard end to end: an in-process relay on 127.0.0.1:0 with a tempfile
//! SQLite database, real HTTP with a session cookie as a browser holds it, real phones syncing
//! with core's `ClientSession`, real spreadsheets (the 857-household sample ledger, workbooks
//! written with rust_xlsxwriter).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, missing_debug_implementations)]

mod bombs;
mod cancelled_deliveries;
mod closed_rounds;
mod compact_requests;
mod concurrent_edits;
mod document_list;
mod events;
mod exports;
mod harness;
mod history;
mod imports;
mod late_after_phone_close;
mod login;
mod map;
mod members;
mod odd_values;
mod operations;
mod overview;
mod print;
mod removed_assignees;
mod removed_households;
mod set_aside;
mod streams;

// The relay tests' harness: phones that sync over HTTP, invites, the six-household roster.
#[allow(dead_code, unused_imports)]
#[path = "../relay/harness.rs"]
mod relay_harness;
