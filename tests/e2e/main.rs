//! End-to-end tests: the real `doorstep` relay process on 127.0.0.1 with a fresh SQLite file (or
//! several relays on a scratch PostgreSQL database), driven by command-line phones (the same
//! replica and HTTP transport the mobile bindings use).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod balancer;
mod cancelled_meanwhile;
mod contained_panics;
mod damaged_copy;
mod durability;
mod encryption;
mod fault_window;
mod harness;
mod hostile_relay;
mod in_flight;
#[path = "../../replica/tests/support/leaks.rs"]
mod leaks;
mod lost_sign_in;
mod mission;
mod quarantine;
mod raw_http;
mod relay_restored;
mod removed_household;
mod replayed_answer;
mod restored;
mod reviews;
mod scale_out;
mod security;
mod set_aside_crash;
mod set_aside_inbox;
mod shared_phone;
mod wipe;
mod words;
