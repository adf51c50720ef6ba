//! Typed operations: everything a person can do to a compound's documents. Each is checked
//! against the actor's role and the documents' state *before* anything changes, then written as
//! one Automerge change per document touched. The replica makes that change durable; the relay
//! checks its effects again when it arrives.

mod apply;
mod error;
mod import_plan;
mod import_roster;
mod selection;

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

pub(crate) use apply::draft_problems;
pub use error::OperationError;
pub use import_plan::{FieldChanges, ImportPlan, PlanSummary};
pub use import_roster::{ImportPolicy, ImportSummary};
pub use selection::Selection;

use crate::Timestamp;
use crate::id::{CareEntryId, DocumentId, HouseholdId, PersonId, RequestId, TaskId};
use crate::schema::control_status::ControlStatus;
use crate::schema::household::{HouseholdDraft, HouseholdEdit};
use crate::schema::need_tag::NeedTag;
use crate::schema::request::CareDraft;
use crate::schema::review::ConflictSubject;
use crate::schema::vocabulary::{
    Category, Channel, DocKind, Outcome, Priority, RequestStatus, TaskKind, Urgency,
};

/// One thing a person does. Serializable, so that the dashboard, the command-line phone and the
/// bindings all speak the same operations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Operation {
    /// Sets the compound's time zone, a fixed offset from UTC (coordinators):
    /// `{"op": "set_utc_offset", "minutes": 480}`.
    SetUtcOffset {
        /// Minutes east of UTC: whole quarter hours from −720 to 840.
        minutes: i64,
    },
    /// Adds a building (coordinators).
    AddBuilding {
        /// Estate (小区) name; empty for a single-estate compound.
        estate: String,
        /// Building number or name.
        label: String,
        /// Whether it has a lift.
        lift: bool,
    },
    /// Adds a household; its building is found by estate and label, and created if new
    /// (coordinators).
    AddHousehold {
        /// The household's fields.
        draft: HouseholdDraft,
    },
    /// Edits ledger fields (coordinators).
    EditHousehold {
        /// Which household.
        household: HouseholdId,
        /// The fields to change.
        edit: HouseholdEdit,
    },
    /// Replaces a household's notes; concurrent edits merge (everyone in the compound).
    EditNotes {
        /// Which household.
        household: HouseholdId,
        /// The new notes.
        notes: String,
    },
    /// Sets the control status (coordinators).
    SetControlStatus {
        /// Which household.
        household: HouseholdId,
        /// The new status.
        status: ControlStatus,
    },
    /// Sets the need tags (coordinators).
    SetNeedTags {
        /// Which household.
        household: HouseholdId,
        /// The tags it has from now on.
        needs: BTreeSet<NeedTag>,
    },
    /// Removes a household from the roster (coordinators).
    RemoveHousehold {
        /// Which household.
        household: HouseholdId,
    },
    /// Creates a round with one task per selected household (coordinators).
    CreateRound {
        /// "蔬菜包 第3轮".
        title: String,
        /// What the round delivers.
        kind: TaskKind,
        /// The day, as written ("2026-11-23").
        date: String,
        /// Which households get a task.
        selection: Selection,
        /// What each task carries.
        items: String,
        /// Priority of the tasks.
        priority: Priority,
    },
    /// Adds one task to an open round (coordinators).
    AddTask {
        /// The round.
        round: DocumentId,
        /// The door.
        household: HouseholdId,
        /// What to bring.
        kind: TaskKind,
        /// Items.
        items: String,
        /// Priority.
        priority: Priority,
        /// The request it answers, linked both ways.
        request: Option<RequestId>,
    },
    /// Assigns a task to a volunteer, or settles a competing assignment (coordinators).
    AssignTask {
        /// The round.
        round: DocumentId,
        /// The task.
        task: TaskId,
        /// The volunteer.
        volunteer: PersonId,
    },
    /// Assigns every open task of a building to a volunteer (coordinators).
    AssignBuilding {
        /// The round.
        round: DocumentId,
        /// Estate of the building.
        estate: String,
        /// Building label.
        building: String,
        /// The volunteer.
        volunteer: PersonId,
    },
    /// Takes an unassigned task (anyone).
    ClaimTask {
        /// The round.
        round: DocumentId,
        /// The task.
        task: TaskId,
    },
    /// Releases a task (coordinators: any; others: their own).
    UnassignTask {
        /// The round.
        round: DocumentId,
        /// The task.
        task: TaskId,
    },
    /// Cancels a task (coordinators).
    CancelTask {
        /// The round.
        round: DocumentId,
        /// The task.
        task: TaskId,
        /// Why.
        reason: String,
    },
    /// Records what happened at the door (anyone).
    RecordAttempt {
        /// The round.
        round: DocumentId,
        /// The task.
        task: TaskId,
        /// What happened.
        outcome: Outcome,
        /// A note.
        note: String,
    },
    /// Records a volunteer's knock for them (coordinators): a knock of theirs the relay set
    /// aside, applied from the review inbox. The attempt is the coordinator's record, naming
    /// the knocker and the knock's time, so the delivery is credited to who made it.
    RecordAttemptFor {
        /// The round.
        round: DocumentId,
        /// The task.
        task: TaskId,
        /// What happened.
        outcome: Outcome,
        /// Their note.
        note: String,
        /// Who knocked.
        knocked_by: PersonId,
        /// When, by their phone's clock.
        knocked_at: Timestamp,
    },
    /// Closes a round (coordinators). Attempts made offline before the close still arrive, and
    /// show as late.
    CloseRound {
        /// The round.
        round: DocumentId,
    },
    /// Reopens a closed round (coordinators), so that it takes changes again.
    ReopenRound {
        /// The round.
        round: DocumentId,
    },
    /// Takes down a resident's request (anyone).
    AddRequest {
        /// Who asks.
        household: HouseholdId,
        /// How it reached us.
        channel: Channel,
        /// What it is about.
        category: Category,
        /// What they asked for.
        text: String,
        /// How urgent.
        urgency: Urgency,
    },
    /// Triages a request (coordinators).
    TriageRequest {
        /// Which request.
        request: RequestId,
        /// New status.
        status: RequestStatus,
        /// New urgency, if changed.
        urgency: Option<Urgency>,
    },
    /// Links a request to an existing task (coordinators).
    LinkRequest {
        /// The request.
        request: RequestId,
        /// The task's round.
        round: DocumentId,
        /// The task.
        task: TaskId,
    },
    /// Adds a care-ledger entry (coordinators, medics).
    AddCareEntry {
        /// Its fields.
        draft: CareDraft,
    },
    /// Replaces a care-ledger entry's fields (coordinators, medics).
    EditCareEntry {
        /// Which entry.
        entry: CareEntryId,
        /// Its new fields.
        draft: CareDraft,
    },
    /// Marks a conflict reviewed (coordinators): an append-only record of who, when and an
    /// optional note, covering the conflicting values as they stand now. Every value stays; a
    /// value that arrives later (a third delivery) shows the conflict as unreviewed again.
    ReviewConflict {
        /// Which conflict.
        conflict: ConflictSubject,
        /// What the coordinator found or did ("已核实，第二份转给 2-1-302"); may be empty.
        #[serde(default)]
        note: String,
    },
}

impl Operation {
    /// The door the operation is about, when it names one itself (an operation on a task names
    /// its task instead: [`Operation::task`]). Read from the typed operation, never from the
    /// JSON it came in: a field the operation does not have is ignored on the way in, so a
    /// `"household"` beside a task would name a door the operation does not touch.
    pub fn household(&self) -> Option<HouseholdId> {
        match self {
            Operation::EditHousehold { household, .. }
            | Operation::EditNotes { household, .. }
            | Operation::SetControlStatus { household, .. }
            | Operation::SetNeedTags { household, .. }
            | Operation::RemoveHousehold { household }
            | Operation::AddTask { household, .. }
            | Operation::AddRequest { household, .. } => Some(*household),
            Operation::AddCareEntry { draft } | Operation::EditCareEntry { draft, .. } => {
                Some(draft.household)
            }
            _ => None,
        }
    }

    /// The document the operation writes, by kind, and which round for an operation on one;
    /// `None` where that depends on what it names (a conflict's review) or it makes a new one (a
    /// round created). The review inbox holds an operation under the document whose change it
    /// made: one held under another is not a phone's.
    pub fn document(&self) -> Option<(DocKind, Option<DocumentId>)> {
        match self {
            Operation::SetUtcOffset { .. }
            | Operation::AddBuilding { .. }
            | Operation::AddHousehold { .. }
            | Operation::EditHousehold { .. }
            | Operation::EditNotes { .. }
            | Operation::SetControlStatus { .. }
            | Operation::SetNeedTags { .. }
            | Operation::RemoveHousehold { .. } => Some((DocKind::Roster, None)),
            Operation::AddTask { round, .. }
            | Operation::AssignTask { round, .. }
            | Operation::AssignBuilding { round, .. }
            | Operation::ClaimTask { round, .. }
            | Operation::UnassignTask { round, .. }
            | Operation::CancelTask { round, .. }
            | Operation::RecordAttempt { round, .. }
            | Operation::RecordAttemptFor { round, .. }
            | Operation::CloseRound { round }
            | Operation::ReopenRound { round } => Some((DocKind::Round, Some(*round))),
            Operation::AddRequest { .. }
            | Operation::TriageRequest { .. }
            | Operation::LinkRequest { .. } => Some((DocKind::Requests, None)),
            Operation::AddCareEntry { .. } | Operation::EditCareEntry { .. } => Some((DocKind::Care, None)),
            Operation::CreateRound { .. } | Operation::ReviewConflict { .. } => None,
        }
    }

    /// The task the operation is about, if it is about one.
    pub fn task(&self) -> Option<TaskId> {
        match self {
            Operation::AssignTask { task, .. }
            | Operation::ClaimTask { task, .. }
            | Operation::UnassignTask { task, .. }
            | Operation::CancelTask { task, .. }
            | Operation::RecordAttempt { task, .. }
            | Operation::RecordAttemptFor { task, .. }
            | Operation::LinkRequest { task, .. } => Some(*task),
            _ => None,
        }
    }
}

/// What an operation changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Every document that got a new change (already existing ones first).
    pub changed: Vec<DocumentId>,
    /// Documents the operation created (a new round).
    pub created: Vec<DocumentId>,
    /// The ID of the entity created, if any (household, task, request, care entry).
    pub new_entity: Option<String>,
}
