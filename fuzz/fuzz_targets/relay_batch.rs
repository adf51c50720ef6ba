//! Several phones' messages for one document through the relay's group commit (core's
//! `relay_engine::take_batch`, `TakenBatch::push_turned`, `answer_batch`), against a seeded round
//! or roster (see `fuzz/src/targets.rs`).
#![no_main]

// Each binary runs one of the shared targets; the others are compiled in unused.
#[path = "../src/targets.rs"]
#[allow(dead_code)]
mod targets;

// As in `relay_document`: the relay contains Automerge's panics on hostile input, so the default
// hook is restored; a panic that escapes the target is still a crash.
libfuzzer_sys::fuzz_target!(init: { let _ = std::panic::take_hook(); }, |data: &[u8]| targets::relay_batch(data));
