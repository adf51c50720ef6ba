//! One document's sync message through the relay's real validator, `work::read` then
//! `work::apply`, against a seeded round or roster (see `fuzz/src/targets.rs`).
#![no_main]

#[path = "../src/targets.rs"]
mod targets;

libfuzzer_sys::fuzz_target!(|data: &[u8]| targets::relay_document(data));
