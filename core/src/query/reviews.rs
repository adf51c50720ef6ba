//! Which conflicts a coordinator has reviewed. A review covers a conflict while the conflict's
//! values are all among the ones the reviewer saw; a new value (a third delivery synced from an
//! offline phone, a third assignee) makes the conflict unreviewed again, so nothing is hidden;
//! the review it outgrew is still shown with it, so the earlier note is not lost.

use automerge::Automerge;
use serde::Serialize;

use super::conflicts::{Conflict, conflicts, round_conflicts};
use crate::Compound;
use crate::document::reviews;
use crate::id::DocumentId;
use crate::schema::review::Review;
use crate::schema::vocabulary::DocKind;

/// A conflict and the latest review that covers it, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConflictReview {
    /// The conflict, as [`conflicts`] reports it (`kind` says which).
    #[serde(flatten)]
    pub conflict: Conflict,
    /// The latest review that covers every one of its values; `None` while it waits for one.
    pub review: Option<Review>,
    /// While no review covers it, the latest review of the conflict made before a new value
    /// reopened it (it saw two deliveries; a third arrived): what was noted then.
    pub earlier_review: Option<Review>,
}

impl ConflictReview {
    /// Whether a coordinator has reviewed the conflict as it stands.
    pub fn is_reviewed(&self) -> bool {
        self.review.is_some()
    }
}

/// Every review held in the compound's roster and rounds (closed ones too).
pub fn all_reviews(compound: &Compound) -> Vec<Review> {
    compound
        .rounds()
        .chain(compound.single(DocKind::Roster))
        .flat_map(|doc| reviews::reviews(doc.id(), doc.automerge()))
        .collect()
}

/// Every conflict with its review state, in the order of [`conflicts`].
pub fn conflict_reviews(compound: &Compound) -> Vec<ConflictReview> {
    with_reviews(conflicts(compound), &all_reviews(compound))
}

/// One round's conflicts with their review state, from the round alone (a task's conflicts are
/// reviewed in their round): what the dashboard reads of a closed round it does not hold.
pub fn round_conflict_reviews(round: DocumentId, doc: &Automerge) -> Vec<ConflictReview> {
    with_reviews(round_conflicts(round, doc), &reviews::reviews(round, doc))
}

fn with_reviews(conflicts: Vec<Conflict>, reviews: &[Review]) -> Vec<ConflictReview> {
    conflicts
        .into_iter()
        .map(|conflict| {
            let (subject, values) = (conflict.subject(), conflict.values());
            let latest = |covering: bool| {
                reviews
                    .iter()
                    .filter(|r| r.subject == subject && r.covers(&subject, &values) == covering)
                    .max_by_key(|r| (r.at, r.id))
                    .cloned()
            };
            let review = latest(true);
            let earlier_review = if review.is_none() { latest(false) } else { None };
            ConflictReview { conflict, review, earlier_review }
        })
        .collect()
}

/// The conflicts no review covers: what still waits for a coordinator.
pub fn unreviewed_conflicts(compound: &Compound) -> Vec<Conflict> {
    conflict_reviews(compound).into_iter().filter(|c| !c.is_reviewed()).map(|c| c.conflict).collect()
}
