//! Doorstep's client core for Android and iOS, exported through uniffi (proc-macros, no UDL).
//!
//! This crate is a translation layer and holds no domain logic (ARCHITECTURE: "`bindings`
//! contains no logic"): the exported [`Replica`] holds a `doorstep_replica::Replica` as
//! `inner` and forwards to it; queries come from `doorstep_core::query`; operations are
//! `doorstep_core::Operation`s; errors are mapped once, in [`error`]. What it adds is what only
//! a host boundary needs: a tokio runtime owned by the library for the HTTP transport
//! (`runtime`), listeners the host implements (`listener`), the replica key the host keeps
//! (`key_provider`), and log forwarding (`logging`).
//!
//! Kotlin and Swift are generated from the built library by the workspace's `uniffi-bindgen`
//! (`scripts/generate-bindings`); `android/` and `ios/` wrap them in idiomatic APIs.

uniffi::setup_scaffolding!();

mod error;
mod ids;
mod key_provider;
mod listener;
mod logging;
mod operations;
mod queries;
mod records;
mod replica;
mod runtime;
mod sync_report;
mod vocabulary;

pub use error::DoorstepError;
pub use key_provider::{KeyProviderError, ReplicaKeyProvider};
pub use listener::{ChangeOrigin, DocumentChange, ListenerRegistration, ReplicaListener, SyncStatus};
pub use logging::{LogLevel, LogRecord, LogSink, set_logger};
pub use operations::{Applied, NewTask, RoundPlan};
pub use records::{
    CompoundInfo, Conflict, ConflictState, Counts, DeliveryTask, Door, Household, Request, Review, TaskRef,
};
pub use replica::{Joined, Replica};
pub use sync_report::{SyncReport, SyncState};
