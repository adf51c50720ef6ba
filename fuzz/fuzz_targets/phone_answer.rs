//! Any bytes as the relay's answer to a volunteer's first sync, through the phone's real replica
//! on a SQLite file (see `fuzz/src/targets.rs`): no panic, the file opens again, and the delivery
//! recorded offline is still on the phone.
#![no_main]

// Each binary runs one of the shared targets; the others are compiled in unused.
#[path = "../src/targets.rs"]
#[allow(dead_code)]
mod targets;

// Automerge's panics on hostile input are contained where the phone reads a reply; libFuzzer's
// hook would abort on each contained panic first, so the default hook is restored. A panic that
// escapes the target is still reported as a crash.
libfuzzer_sys::fuzz_target!(init: { let _ = std::panic::take_hook(); }, |data: &[u8]| targets::phone_answer(data));
