//! Review rules, for the round and the roster alike: only coordinators add a review, in their
//! own name, and nobody changes or removes one (the table's [`REVIEW`] entity says so); a
//! review names a conflict kind its document holds (a task's conflicts in a round, a concurrent
//! status in the roster).

use super::{Effect, entities};
use crate::document::reviews;
use crate::id::ReviewId;
use crate::rulebook::state;
use crate::rulebook::table::REVIEW;
use crate::schema::vocabulary::DocKind;
use crate::validate::schema;
use crate::validate::violation::Problem;

pub(super) fn check(e: &Effect<'_>) -> Result<(), Problem> {
    schema::check_collection(e.after, reviews::REVIEWS)?;
    for present in entities::check(e, reviews::REVIEWS, &REVIEW, |_| false)? {
        let label = &present.label;
        let id: ReviewId = schema::parse_key(&present.key, "review")?;
        let review = reviews::read_review(e.after, e.header.id, id, &present.obj)
            .map_err(|err| Problem::schema(format!("{label}: {err}")))?;
        let fits = match review.subject.round() {
            Some(_) => e.header.kind == DocKind::Round,
            None => e.header.kind == DocKind::Roster,
        };
        if !fits {
            return Err(Problem::schema(format!(
                "{label}: a {} review does not belong in a {} document",
                review.subject.kind(),
                e.header.kind
            )));
        }
        if present.added {
            state::require_own_review(e.author.person, review.by).map_err(|rule| {
                Problem::forbidden(
                    rule,
                    format!("{} may not record {label} in the name of {}", e.who(), review.by),
                )
            })?;
        }
    }
    Ok(())
}
