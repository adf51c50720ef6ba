//! The relay's side of sync, sans-IO: what the relay does with the sync messages phones send it
//! for one document, given everything it looked up — in the style of samod-core, whose hub takes
//! events and returns what to do. The axum layer and the storage (`server/src/sync/`) only drive
//! it: they authenticate the caller, decide which documents they may sync, look up the owners
//! of the actors a message's changes were made under and the device's stored sync state, hold
//! the document's lock, and commit what comes out. The in-memory network of the convergence
//! property tests (`core/tests/network/hub.rs`) drives the same functions, so what those tests
//! prove of "no honest work refused" is proved of the relay's code.
//!
//! The steps, for a document the relay holds:
//!
//! 1. [`read`]: check the message's bytes (before Automerge sees them) and decode it and its
//!    changes; needs no document. Its [`Incoming::actors`] are whose owners the caller looks up.
//! 2. [`sync_batch`]: the messages queued for the document, each [`take`]n in turn (its new
//!    changes bound to its author — an actor bound to someone else refuses it — and checked and
//!    applied by [`validate::check_and_apply`](crate::validate::check_and_apply) against the
//!    author's role and the relay's clock `now`), then each [`answer`]ed from the document with
//!    the whole batch in. Out come the chunk to commit, each accepted message's actor bindings
//!    and sync state, the replies and the rejections.
//!
//! A batch that leaves the document with many heads is mended before it is answered
//! ([`TakenBatch::mend_heads`], `heads_mend.rs`): one empty change that depends on every head,
//! stored in the batch's chunk and carried by its replies. A batch that closes a round and
//! leaves it with more than one head gets the same shape of change ([`TakenBatch::mark_close`],
//! `close_mark.rs`): the relay's record of what it held when it took the close, which late
//! attempts are counted from.
//!
//! Before any of it, the caller decides whether the person may sync the document at all
//! ([`may_sync`]; which documents they hold is [`holds`]).
//!
//! [`apply`] is the two for a single message. A document the relay does not hold yet is a round
//! created offline ([`create`]): answered from nothing while its message carries no changes,
//! made whole from them once it does.
//!
//! Nothing here reads a clock, locks, blocks or stores: `now` comes in as an argument, and the
//! deadline and cancellation of a message's work come in as a [`Budget`] the engine asks before
//! each step. Every refusal is a [`Rejection`](crate::sync::Rejection) with a code from
//! [`rejection`].

mod access;
mod answer;
mod apply;
mod batch;
mod budget;
mod close_mark;
mod create;
mod heads_mend;
mod incoming;
pub mod rejection;
mod take;

pub use access::{holds, may_sync};
pub use answer::{answer, answer_turned};
pub use apply::{Accepted, Refused, apply};
pub use batch::{BatchOutcome, Queued, TakenBatch, Verdict, answer_batch, sync_batch, take_batch};
pub use budget::{Budget, OverBudget, Unlimited};
pub use close_mark::mark_close;
pub use create::{Created, answer_unheld, create, header_of};
pub use heads_mend::{MEND_AT_HEADS, mend_heads};
pub use incoming::{Incoming, read};
pub use take::{Taken, Turned, take};
