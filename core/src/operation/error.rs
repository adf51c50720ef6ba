//! Why an operation was refused. Nothing changes when an operation fails.

use automerge::AutomergeError;

use crate::id::{CareEntryId, DocumentId, HouseholdId, PersonId, RequestId, TaskId};
use crate::permission::Rule;
use crate::role::Role;
use crate::schema::review::ConflictSubject;
use crate::schema::vocabulary::DocKind;

/// An operation that was refused or failed; the documents are unchanged.
#[derive(Debug, thiserror::Error)]
pub enum OperationError {
    /// The role may not do this.
    #[error("a {role} may not {action}: {rule}", role = role.as_str())]
    Forbidden {
        /// The actor's role.
        role: Role,
        /// What they tried.
        action: &'static str,
        /// The rule that forbids it.
        rule: Rule,
    },
    /// The compound lacks a document this operation needs (e.g. a volunteer has no care ledger).
    #[error("this device does not hold the compound's {0} document; sync first")]
    MissingDocument(DocKind),
    /// No such round on this device.
    #[error("no round {0} on this device")]
    UnknownRound(DocumentId),
    /// No such household.
    #[error("no household {0} in the roster")]
    UnknownHousehold(HouseholdId),
    /// No such task.
    #[error("no task {task} in round {round}")]
    UnknownTask {
        /// The round.
        round: DocumentId,
        /// The task.
        task: TaskId,
    },
    /// No such request.
    #[error("no request {0}")]
    UnknownRequest(RequestId),
    /// No such care entry.
    #[error("no care-ledger entry {0}")]
    UnknownCareEntry(CareEntryId),
    /// The round is closed.
    #[error("round {0} is closed: {rule}", rule = Rule::ClosedRoundsAreFinal)]
    RoundClosed(DocumentId),
    /// The round is open already (a reopen of an open round).
    #[error("round {0} is already open")]
    RoundOpen(DocumentId),
    /// The task was cancelled by a coordinator.
    #[error("task {0} was cancelled by a coordinator; ask them before delivering")]
    TaskCancelled(TaskId),
    /// Someone else has the task.
    #[error("task {task} is already assigned to {to}: {rule}", rule = Rule::VolunteersClaimOnlyFreeTasks)]
    AlreadyAssigned {
        /// The task.
        task: TaskId,
        /// Who has it.
        to: PersonId,
    },
    /// There is no such conflict (any more) to review: it was settled, or its round closed.
    #[error("there is no {kind} conflict on {entity} to review (settled meanwhile, or not open); sync and look again", kind = .0.kind(), entity = .0.entity())]
    NoSuchConflict(ConflictSubject),
    /// A round's selection matched no household.
    #[error("the selection matches no household; nothing to deliver")]
    EmptySelection,
    /// A household already exists at this address.
    #[error("a household already exists at {0}")]
    DuplicateAddress(String),
    /// A roster file had rows that could not be read and the caller did not accept the rest.
    #[error(
        "rows of the file that cannot be imported: {rows} (first: {first}); nothing was imported. Fix them, or accept the good rows"
    )]
    ImportHasErrors {
        /// How many rows have errors.
        rows: usize,
        /// The first error.
        first: String,
    },
    /// A field's value is not acceptable.
    #[error("{field}: {reason}")]
    Invalid {
        /// Which field.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The Automerge document rejected the write (a bug, or a corrupt document).
    #[error("document write failed: {0}")]
    Automerge(#[from] AutomergeError),
    /// Creating a document failed.
    #[error(transparent)]
    Document(#[from] crate::document::DocumentError),
}

impl OperationError {
    pub(crate) fn forbidden(role: Role, action: &'static str, rule: Rule) -> Self {
        OperationError::Forbidden { role, action, rule }
    }
}
