//! The state rules, each written once. They are predicates over what the author of a change
//! knew when they made it: the phone asks them about its own documents before it writes, and
//! the relay asks them about the document as of the change's dependencies (what the author had
//! seen), so an honest phone that was offline is judged by what it could know, and a modified
//! phone that saw the state is refused.

use crate::id::PersonId;
use crate::limits;
use crate::permission::Rule;
use crate::role::{Actor, Role};
use crate::schema::task::Attempt;
use crate::time::{CLOCK_OFF_BY_MS, Timestamp};

/// What a change writes into a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundWrite {
    /// The round's facts: its header, tasks, assignments, cancellations, attempts.
    Facts,
    /// Only reviews of its conflicts: a coordinator's record beside them, changing none of the
    /// round's facts (who may add one is the table's `REVIEW` entity).
    Reviews,
}

/// A round its author knew to be closed takes no change, except a coordinator reopening it and
/// a review of its conflicts: closing a round settles none of them, and a late double delivery
/// makes one after the close.
pub fn require_open_round(closed_as_the_author_saw_it: bool, writes: RoundWrite) -> Result<(), Rule> {
    if closed_as_the_author_saw_it && writes == RoundWrite::Facts {
        Err(Rule::ClosedRoundsAreFinal)
    } else {
        Ok(())
    }
}

/// How long after a round's close a late attempt may be dated and still be kept. The close is
/// dated by the coordinator's clock and the attempt by the volunteer's; each may be
/// [`CLOCK_OFF_BY_MS`] from the relay's without its phone being told so, so two honest clocks may
/// disagree by twice that (a delivery made a minute before the close, on a phone three minutes
/// fast, was refused).
pub const LATE_ATTEMPT_GRACE_MS: i64 = 2 * CLOCK_OFF_BY_MS;

/// A late field fact: an attempt on a round closed meanwhile (the author had not seen the close)
/// is kept if it was made no later than the close, as far as two clocks can tell
/// ([`LATE_ATTEMPT_GRACE_MS`]). A round closed without a recorded time (an older document) takes
/// no late attempts.
pub fn require_made_before_close(at: Timestamp, closed_at: Option<Timestamp>) -> Result<(), Rule> {
    match closed_at {
        Some(closed) if at.as_millis() <= closed.as_millis().saturating_add(LATE_ATTEMPT_GRACE_MS) => Ok(()),
        _ => Err(Rule::ClosedRoundsAreFinal),
    }
}

/// A task its author knew to be cancelled takes no attempt.
pub fn require_live_task(cancelled_as_the_author_saw_it: bool) -> Result<(), Rule> {
    if cancelled_as_the_author_saw_it { Err(Rule::CancelledTasksTakeNoAttempts) } else { Ok(()) }
}

/// A size a merge can take past its limit though every change kept it (a text's characters, a
/// round's tasks): a change keeps within `limit` when it leaves the size (`after`, as its author
/// saw it) within the limit or no larger than it found it (`before`). The phone asks it before
/// an edit, the relay of each change; the merged size has a ceiling of its own.
pub fn keeps_within(limit: usize, before: usize, after: usize) -> bool {
    after <= limit || after <= before
}

/// A time written into a document lies within [`limits::TIME_BEHIND`] before and
/// [`limits::TIME_AHEAD`] after the relay's clock `now`.
pub fn require_time_near(at: Timestamp, now: Timestamp) -> Result<(), Rule> {
    let (at, now) = (at.as_millis(), now.as_millis());
    if at < now.saturating_sub(limits::TIME_BEHIND) || at > now.saturating_add(limits::TIME_AHEAD) {
        Err(Rule::TimesFollowTheRelaysClock)
    } else {
        Ok(())
    }
}

/// Who may write a task's assignee: coordinators anyone; others only from nobody to themselves
/// (a claim) or from themselves to nobody (a release). `overwritten` is the value the write
/// replaces, `written` the new one; `None` is nobody.
pub fn require_claim(
    role: Role,
    me: PersonId,
    overwritten: Option<PersonId>,
    written: Option<PersonId>,
) -> Result<(), Rule> {
    let mine_or_nobody = |v: Option<PersonId>| v.is_none() || v == Some(me);
    if role.is_coordinating() || (mine_or_nobody(overwritten) && mine_or_nobody(written)) {
        Ok(())
    } else {
        Err(Rule::VolunteersClaimOnlyFreeTasks)
    }
}

/// Attempts are recorded in one's own name; only a coordinator records one for someone else's
/// knock (naming the knocker beside their own name: applying a knock the relay set aside).
pub fn require_own_attempt(me: &Actor, attempt: &Attempt) -> Result<(), Rule> {
    let for_someone = attempt.knocked_by.is_some() || attempt.knocked_at.is_some();
    if me.person != attempt.by || (for_someone && !me.role.is_coordinating()) {
        Err(Rule::AttemptsAreAppendOnly)
    } else {
        Ok(())
    }
}

/// Reviews are recorded in one's own name.
pub fn require_own_review(me: PersonId, by: PersonId) -> Result<(), Rule> {
    if me == by { Ok(()) } else { Err(Rule::ConflictsAreReviewedByCoordinators) }
}
