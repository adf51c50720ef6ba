//! The typed schema: what the four documents hold, as Rust types. How they map onto Automerge
//! is in [`document`](crate::document).

pub mod address;
pub mod control_status;
pub mod household;
pub(crate) mod labelled_enum;
pub mod ledger_field;
pub mod need_tag;
pub mod request;
pub mod review;
pub mod task;
pub mod utc_offset;
pub mod vocabulary;

pub use labelled_enum::UnknownValue;

/// The schema version written into every document. Older documents are migrated on load.
pub const SCHEMA_VERSION: u64 = 1;
