//! The questions a volunteer and a coordinator ask, forwarded to `doorstep_core::query` and the
//! compound's readers. Everything is computed from the documents on the device, offline.

use doorstep_core::id::{CompoundId, DocumentId, PersonId};
use doorstep_core::query;
use doorstep_core::schema::task::RoundInfo;

use crate::error::DoorstepError;
use crate::records::{Conflict, ConflictState, Counts, DeliveryTask, Door, Household, Request};
use crate::replica::Replica;

#[uniffi::export]
impl Replica {
    /// The signed-in volunteer's doors with tasks still to do, in climbing order (building →
    /// unit → floor → flat), each door's tasks most urgent first: one visit, several jobs.
    pub fn my_doors(&self, compound: CompoundId) -> Result<Vec<Door>, DoorstepError> {
        let me = self.me()?;
        self.doors(compound, Some(me))
    }

    /// The doors with tasks still to do for `assignee`, or for anyone with `None` (unassigned
    /// tasks included), in climbing order.
    pub fn doors(
        &self,
        compound: CompoundId,
        assignee: Option<PersonId>,
    ) -> Result<Vec<Door>, DoorstepError> {
        self.read_tasks(compound, |c, set_aside| {
            query::doors_for(c, assignee).into_iter().map(|d| Door::from(d).marked(set_aside)).collect()
        })
    }

    /// Every household, in climbing order.
    pub fn households(&self, compound: CompoundId) -> Result<Vec<Household>, DoorstepError> {
        self.read(compound, |c| query::households_in_order(c).into_iter().map(Household::from).collect())
    }

    /// The household at an address as people type it: "17号楼3单元702", "17栋3单元702室",
    /// "17-3-702".
    pub fn find_household(&self, compound: CompoundId, address: String) -> Result<Household, DoorstepError> {
        Ok(self.read(compound, |c| query::find_household(c, &address))??.into())
    }

    /// The special-needs ledger: households with a need tag, in climbing order.
    pub fn special_needs(&self, compound: CompoundId) -> Result<Vec<Household>, DoorstepError> {
        self.read(compound, |c| query::special_needs(c).into_iter().map(Household::from).collect())
    }

    /// The coordinator's overview numbers.
    pub fn counts(&self, compound: CompoundId) -> Result<Counts, DoorstepError> {
        self.read(compound, |c| query::counts(c).into())
    }

    /// Double deliveries, competing assignments and concurrent status edits to review.
    pub fn conflicts(&self, compound: CompoundId) -> Result<Vec<Conflict>, DoorstepError> {
        self.read(compound, |c| query::conflicts(c).into_iter().map(Conflict::from).collect())
    }

    /// Every conflict with its review state: reviewed ones carry who reviewed them, when and
    /// their note; a conflict that gained a value after its review reads as unreviewed again.
    pub fn conflict_states(&self, compound: CompoundId) -> Result<Vec<ConflictState>, DoorstepError> {
        self.read(compound, |c| query::conflict_reviews(c).into_iter().map(ConflictState::from).collect())
    }

    /// The rounds on this device (open ones, and closed ones until the next sync drops them).
    pub fn rounds(&self, compound: CompoundId) -> Result<Vec<RoundInfo>, DoorstepError> {
        self.read(compound, |c| c.round_infos())
    }

    /// Every task with its attempts, of one round or (with `None`) of every round held.
    pub fn tasks(
        &self,
        compound: CompoundId,
        round: Option<DocumentId>,
    ) -> Result<Vec<DeliveryTask>, DoorstepError> {
        self.read_tasks(compound, |c, set_aside| {
            c.tasks()
                .into_iter()
                .filter(|t| round.is_none_or(|r| t.round == r))
                .map(|t| DeliveryTask::from(t).marked(set_aside))
                .collect()
        })
    }

    /// Every resident request, whoever took it down.
    pub fn requests(&self, compound: CompoundId) -> Result<Vec<Request>, DoorstepError> {
        self.read(compound, |c| c.requests().into_iter().map(Request::from).collect())
    }
}
