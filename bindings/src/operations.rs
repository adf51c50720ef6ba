//! What a volunteer and a coordinator do, as typed calls. Each builds one
//! `doorstep_core::Operation` and forwards it; core checks the role's permission and the
//! documents' state, and the replica makes the change durable before the call returns.
//! Operations without a typed call here (the roster and care-ledger edits coordinators make on
//! the dashboard) go through [`Replica::apply_operation_json`].

use doorstep_core::Operation;
use doorstep_core::id::{CompoundId, DocumentId, HouseholdId, PersonId, RequestId, TaskId};
use doorstep_core::operation::Selection;
use doorstep_core::schema::control_status::ControlStatus;
use doorstep_core::schema::need_tag::NeedTag;
use doorstep_core::schema::review::ConflictSubject;
use doorstep_core::schema::vocabulary::{
    Category, Channel, Outcome, Priority, RequestStatus, TaskKind, Urgency,
};

use crate::error::{DoorstepError, Error};
use crate::replica::Replica;

/// Which households a new round covers.
#[uniffi::remote(Enum)]
pub enum Selection {
    /// Every household.
    All,
    /// One building.
    Building {
        /// Estate name ("" for a single-estate compound).
        estate: String,
        /// Building label.
        building: String,
    },
    /// Households with a control status.
    Status {
        /// The status.
        status: ControlStatus,
    },
    /// Households with a need tag.
    Need {
        /// The tag.
        need: NeedTag,
    },
    /// Named households.
    Households {
        /// Their IDs.
        ids: Vec<HouseholdId>,
    },
}

/// A delivery round a coordinator plans.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RoundPlan {
    /// "蔬菜包 第3轮".
    pub title: String,
    /// What it delivers.
    pub kind: TaskKind,
    /// The day, written YYYY-MM-DD ("2026-11-23"), or empty; another is refused.
    pub date: String,
    /// Which households get a task.
    pub selection: Selection,
    /// What each task carries.
    pub items: String,
    /// The tasks' priority.
    pub priority: Priority,
}

/// One task a coordinator adds to an open round.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct NewTask {
    /// The door.
    pub household: HouseholdId,
    /// What to bring.
    pub kind: TaskKind,
    /// Items.
    pub items: String,
    /// Priority.
    pub priority: Priority,
    /// The request it answers, linked both ways.
    pub request: Option<RequestId>,
}

/// What an operation changed (for `apply_operation_json`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Applied {
    /// Documents that got a new change.
    pub changed: Vec<DocumentId>,
    /// Documents the operation created (a new round).
    pub created: Vec<DocumentId>,
    /// The ID of the entity created, if any (household, task, request, care entry).
    pub new_entity: Option<String>,
}

#[uniffi::export]
impl Replica {
    /// Takes an unassigned task.
    pub fn claim_task(
        &self,
        compound: CompoundId,
        round: DocumentId,
        task: TaskId,
    ) -> Result<(), DoorstepError> {
        self.apply(compound, &Operation::ClaimTask { round, task }).map(drop)
    }

    /// Gives a task back (volunteers: their own; coordinators: any).
    pub fn release_task(
        &self,
        compound: CompoundId,
        round: DocumentId,
        task: TaskId,
    ) -> Result<(), DoorstepError> {
        self.apply(compound, &Operation::UnassignTask { round, task }).map(drop)
    }

    /// Records what happened at the door. Attempts are appended, never edited: two volunteers
    /// who both deliver offline both keep their attempt.
    pub fn record_attempt(
        &self,
        compound: CompoundId,
        round: DocumentId,
        task: TaskId,
        outcome: Outcome,
        note: String,
    ) -> Result<(), DoorstepError> {
        self.apply(compound, &Operation::RecordAttempt { round, task, outcome, note }).map(drop)
    }

    /// Takes down a resident's request; returns its ID.
    pub fn add_request(
        &self,
        compound: CompoundId,
        household: HouseholdId,
        channel: Channel,
        category: Category,
        text: String,
        urgency: Urgency,
    ) -> Result<RequestId, DoorstepError> {
        let applied =
            self.apply(compound, &Operation::AddRequest { household, channel, category, text, urgency })?;
        created_entity(applied.new_entity)
    }

    /// Replaces a household's notes; concurrent edits merge.
    pub fn edit_notes(
        &self,
        compound: CompoundId,
        household: HouseholdId,
        notes: String,
    ) -> Result<(), DoorstepError> {
        self.apply(compound, &Operation::EditNotes { household, notes }).map(drop)
    }

    /// Plans a round with one task per selected household (coordinators); returns the round.
    pub fn create_round(&self, compound: CompoundId, plan: RoundPlan) -> Result<DocumentId, DoorstepError> {
        let RoundPlan { title, kind, date, selection, items, priority } = plan;
        let applied =
            self.apply(compound, &Operation::CreateRound { title, kind, date, selection, items, priority })?;
        applied.created.first().copied().ok_or_else(|| {
            Error::Invalid("the round was planned but no round document was created".to_owned()).into()
        })
    }

    /// Adds one task to an open round (coordinators); returns the task.
    pub fn add_task(
        &self,
        compound: CompoundId,
        round: DocumentId,
        task: NewTask,
    ) -> Result<TaskId, DoorstepError> {
        let NewTask { household, kind, items, priority, request } = task;
        let applied =
            self.apply(compound, &Operation::AddTask { round, household, kind, items, priority, request })?;
        created_entity(applied.new_entity)
    }

    /// Assigns a task, or settles a competing assignment (coordinators).
    pub fn assign_task(
        &self,
        compound: CompoundId,
        round: DocumentId,
        task: TaskId,
        volunteer: PersonId,
    ) -> Result<(), DoorstepError> {
        self.apply(compound, &Operation::AssignTask { round, task, volunteer }).map(drop)
    }

    /// Assigns every open task of a building to a volunteer (coordinators).
    pub fn assign_building(
        &self,
        compound: CompoundId,
        round: DocumentId,
        estate: String,
        building: String,
        volunteer: PersonId,
    ) -> Result<(), DoorstepError> {
        self.apply(compound, &Operation::AssignBuilding { round, estate, building, volunteer }).map(drop)
    }

    /// Cancels a task (coordinators).
    pub fn cancel_task(
        &self,
        compound: CompoundId,
        round: DocumentId,
        task: TaskId,
        reason: String,
    ) -> Result<(), DoorstepError> {
        self.apply(compound, &Operation::CancelTask { round, task, reason }).map(drop)
    }

    /// Closes a round (coordinators); it leaves volunteers' phones at their next sync.
    pub fn close_round(&self, compound: CompoundId, round: DocumentId) -> Result<(), DoorstepError> {
        self.apply(compound, &Operation::CloseRound { round }).map(drop)
    }

    /// Triages a request (coordinators).
    pub fn triage_request(
        &self,
        compound: CompoundId,
        request: RequestId,
        status: RequestStatus,
        urgency: Option<Urgency>,
    ) -> Result<(), DoorstepError> {
        self.apply(compound, &Operation::TriageRequest { request, status, urgency }).map(drop)
    }

    /// Links a request to the task that answers it (coordinators).
    pub fn link_request(
        &self,
        compound: CompoundId,
        request: RequestId,
        round: DocumentId,
        task: TaskId,
    ) -> Result<(), DoorstepError> {
        self.apply(compound, &Operation::LinkRequest { request, round, task }).map(drop)
    }

    /// Sets a household's control status (coordinators).
    pub fn set_control_status(
        &self,
        compound: CompoundId,
        household: HouseholdId,
        status: ControlStatus,
    ) -> Result<(), DoorstepError> {
        self.apply(compound, &Operation::SetControlStatus { household, status }).map(drop)
    }

    /// Sets a household's need tags (coordinators).
    pub fn set_need_tags(
        &self,
        compound: CompoundId,
        household: HouseholdId,
        needs: Vec<NeedTag>,
    ) -> Result<(), DoorstepError> {
        let needs = needs.into_iter().collect();
        self.apply(compound, &Operation::SetNeedTags { household, needs }).map(drop)
    }

    /// Marks a conflict reviewed with an optional note (coordinators). Both attempts of a double
    /// delivery stay; a delivery that arrives later shows the conflict again.
    pub fn review_conflict(
        &self,
        compound: CompoundId,
        conflict: ConflictSubject,
        note: String,
    ) -> Result<(), DoorstepError> {
        self.apply(compound, &Operation::ReviewConflict { conflict, note }).map(drop)
    }

    /// Any operation, as the JSON `doorstep_core::Operation` serializes to
    /// (`{"op":"add_household","draft":{...}}`), for the operations without a typed call.
    pub fn apply_operation_json(
        &self,
        compound: CompoundId,
        operation: String,
    ) -> Result<Applied, DoorstepError> {
        let operation: Operation = serde_json::from_str(&operation)?;
        let applied = self.apply(compound, &operation)?;
        Ok(Applied { changed: applied.changed, created: applied.created, new_entity: applied.new_entity })
    }
}

/// The ID core reports for a created entity.
fn created_entity<T: std::str::FromStr<Err = doorstep_core::id::BadId>>(
    new_entity: Option<String>,
) -> Result<T, DoorstepError> {
    let id = new_entity.ok_or_else(|| {
        DoorstepError::from(Error::Invalid("the operation reported no new entity".to_owned()))
    })?;
    Ok(id.parse::<T>()?)
}
