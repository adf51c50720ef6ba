//! Doorstep's core: the Automerge documents of a compound (roster, rounds, requests, care
//! ledger), the operations people make on them with their permission rules, the queries a
//! volunteer and a coordinator ask, the roster spreadsheet importer, the sans-IO sync engine,
//! and the relay's side of it ([`relay_engine`]).
//!
//! Core does no IO: no sockets, no files, no SQLite, no clock, no random numbers of its own.
//! Time and randomness come in through [`Env`]; bytes come in and go out as values. The
//! replica (`doorstep-replica`) persists documents; the relay (`doorstep-server`) serves them.

pub mod compound;
pub mod csv_cell;
pub mod document;
pub mod env;
pub mod expected_panic;
pub mod id;
pub mod import;
pub mod join_link;
pub mod limits;
pub mod operation;
pub mod permission;
pub mod query;
pub mod relay_engine;
pub mod role;
pub mod rulebook;
pub mod schema;
pub mod sync;
pub mod time;
pub mod validate;

pub use compound::Compound;
pub use env::{Entropy, Env};
pub use operation::{
    Applied, ImportPolicy, ImportSummary, Operation, OperationError, PlanSummary, Selection,
};
pub use role::{Actor, Role};
pub use time::Timestamp;
