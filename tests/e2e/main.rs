//! End-to-end tests: the real `doorstep` relay process on 127.0.0.1 with a fresh SQLite file,
//! driven by command-line phones (the same replica and HTTP transport the mobile bindings use).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod durability;
mod fault_window;
mod harness;
mod in_flight;
mod mission;
mod quarantine;
mod security;
