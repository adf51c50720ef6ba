//! A phone's offline replica: the documents of its compounds in a local SQLite file.
//!
//! Every operation is durable when it returns: its Automerge change is appended to SQLite as an
//! incremental chunk in one transaction, so killing the app at any instant loses nothing that
//! was acknowledged. Chunks are folded into a compacted snapshot now and then, during normal
//! use. Sync is driven from outside (see [`SyncRun`]): this crate builds request bytes and
//! consumes response bytes; a transport (the command-line phone, the mobile bindings) carries
//! them.
//!
//! ```
//! use doorstep_replica::Replica;
//! let dir = tempfile::tempdir().unwrap();
//! let replica = Replica::open(dir.path().join("phone.sqlite")).unwrap();
//! assert_eq!(replica.unsynced_changes(), 0);
//! ```

mod actor_rotation;
mod cipher;
pub mod copy_fetch;
mod damaged_copy;
mod derived_operation;
pub mod device_clock;
mod error;
mod file_lock;
mod handed_over;
#[cfg(feature = "http")]
pub mod http;
mod journal;
mod known_grants;
mod let_go;
pub mod link_rate;
mod lost_sign_in;
mod past_actors;
mod pending_wipe_report;
mod quarantine;
mod raw_change_words;
mod relay_reads;
mod replica;
pub mod request_budget;
pub mod request_in_pieces;
mod retry;
mod review;
mod set_aside;
mod store;
mod sync_run;
mod sync_unfinished;

pub use cipher::{KEY_LEN, ReplicaKey};
pub use damaged_copy::CarriedOutAgain;
pub use error::{NOT_FROM_THE_RELAY, ReplicaError};
pub use let_go::{LET_GO, LET_GO_SYNCED, is_let_go};
pub use lost_sign_in::SIGN_IN_LOST;
pub use pending_wipe_report::PendingWipeReport;
pub use quarantine::QuarantinedChange;
pub use replica::{Identity, Replica};
pub use retry::RetryPolicy;
pub use review::{AnswerLearned, ReviewState};
pub use set_aside::{DOCUMENT_WITHDRAWN, NOT_REAPPLIED};
pub use sync_run::{SyncReport, SyncRun};
