//! The sync request decoder: CBOR `SyncRequest`, then each message through the checker and
//! Automerge (see `fuzz/src/targets.rs`).
#![no_main]

#[path = "../src/targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::sync_request(data));
