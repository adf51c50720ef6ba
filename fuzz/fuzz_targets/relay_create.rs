//! A message for a document the relay does not hold (a round created offline) through the
//! relay's real engine: core's `relay_engine::read`, then `answer_unheld` or `header_of` and
//! `create` (see `fuzz/src/targets.rs`).
#![no_main]

// Each binary runs one of the shared targets; the others are compiled in unused.
#[path = "../src/targets.rs"]
#[allow(dead_code)]
mod targets;

// The relay contains Automerge's panics on hostile input (`doorstep_core::validate::contain`)
// and refuses the message; libFuzzer's hook would abort on each contained panic first, so the
// default hook is restored. A panic that escapes the target is still reported as a crash.
libfuzzer_sys::fuzz_target!(init: { let _ = std::panic::take_hook(); }, |data: &[u8]| targets::relay_create(data));
