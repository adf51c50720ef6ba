//! Checking what arrives at the relay (DESIGN §5). A phone can be lost, stolen or modified, so the
//! relay does not trust that a change was made through [`operation`](crate::operation): it applies
//! each incoming batch to a copy of its document, finds from Automerge's patches which entities
//! the batch touched, reads just those entities before and after as their typed structs, and
//! keeps the batch only if the author's role allows the effect and every touched entity still
//! follows the schema. Nothing of a rejected batch is stored, and the violation names the
//! document, the change and the rule so the phone can say what went wrong.
//!
//! Sans-IO like the rest of core: the relay decodes the message, calls [`changes_in`] and
//! [`check_and_apply`], and persists what was applied.

mod batch_ops;
mod canonical;
mod changes;
mod check;
pub(crate) mod contain;
mod element_deletes;
mod first_change;
mod history;
mod inflate;
mod op_order;
mod op_rows;
mod op_shapes;
mod removed;
mod roster_at_hand;
mod rules;
mod schema;
mod touched;
mod violation;

/// How an Automerge chunk starts, and the chunk type of a whole document (the sync engine reads both).
pub(crate) use changes::MAGIC as CHUNK_MAGIC;
pub use changes::{changes_in, check_received, load_received_document, stored_chunk_changes};
pub use check::{Violation, ViolationKind, check_and_apply, check_and_apply_against, check_and_apply_within};
pub use first_change::new_document_header;
pub(crate) use inflate::DOCUMENT as DOCUMENT_CHUNK;
pub use roster_at_hand::{HeldRoster, Known, RosterAtHand, may_name_households};
