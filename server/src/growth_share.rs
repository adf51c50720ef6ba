//! What one person may add to one document in a day.
//!
//! Automerge keeps every change for good: a document only grows, and a document at the most it
//! may hold (`Limits::max_document_bytes`) refuses everyone's work from then on, honest or not
//! (`document_full`). Without a share, one member's modified phone could fill a compound's
//! roster in minutes: the notes of every household rewritten at 4,000 characters again and
//! again, every change within the rules (the relay took about 230 KB of such notes a second,
//! SECURITY.md). The roster would then take no coordinator's edit and no volunteer's note again,
//! and every new phone would have to fetch all of it over a stairwell's link.
//!
//! So the bytes of the changes each person's sync messages carry are counted per document, in a
//! token bucket that holds a day's share and refills over a day: `Limits::growth_share` for
//! volunteers and medics, four times that for coordinators and admins (who build rounds and
//! edit the roster in bulk from their phones). An honest volunteer's long day offline is
//! 150–350 KiB (BENCHMARKS.md §3b), a twentieth of the default share of 8 MiB. A message past
//! what is left is refused as `document_full`, which every phone already treats as transient:
//! it keeps the work and sends it again later, never setting it aside; the reason says whose
//! share, how much and when. Filling a 64 MiB document now takes eight volunteers' phones a
//! day, or one of them eight days; the relay logs each refusal with the person and the
//! document, and the coordinators' members page shows it beside the person ([`ShareRefusals`]),
//! so that those who can revoke them see it.
//!
//! The buckets are the relay's [`Throttles`]: in the database when relays share PostgreSQL, so
//! spreading requests over relays or waiting for a restart gains nothing. A message is counted
//! whole when it arrives, changes the relay already holds included (a phone sending its work
//! again after a lost answer pays twice); the share is set far enough above an honest day for
//! that not to matter.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use doorstep_core::id::{DocumentId, PersonId};
use doorstep_core::schema::vocabulary::DocKind;
use doorstep_core::{Role, Timestamp};
use serde::Serialize;

use crate::secret;
use crate::storage::StorageError;
use crate::throttle::{Allowance, Throttles};

/// The time over which a share refills.
pub const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// How many times a volunteer's share coordinators and admins get.
pub const COORDINATORS_TIMES: usize = 4;

/// The bytes `role` may add to one document in a day, when volunteers may add `share`.
pub fn share_of(role: Role, share: usize) -> usize {
    match role {
        Role::Admin | Role::Coordinator => share.saturating_mul(COORDINATORS_TIMES),
        Role::Medic | Role::Volunteer => share,
    }
}

/// A message that would take a person past their share of a document's growth.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "this message adds {adding} bytes to document {doc}, more than is left of the {share} bytes one {role} may add to a \
     document in a day; nothing of it was taken, and this phone keeps the work and sends it again in about \
     {retry_after_minutes} minutes. If this phone did not make that much, tell a coordinator \
     (此文档今天由你添加的数据已达上限，工作保留在手机上，稍后自动重发)"
)]
pub struct OverShare {
    /// The document.
    pub doc: DocumentId,
    /// The bytes of changes the message carries.
    pub adding: usize,
    /// The day's share of the sender's role.
    pub share: usize,
    /// The sender's role, as a word.
    pub role: &'static str,
    /// When enough of the share is back.
    pub retry_after_minutes: u64,
}

/// Counts `adding` bytes against `person`'s share of `doc` (as `role`; volunteers' share is
/// `share`), or refuses them, taking nothing.
pub async fn take(
    throttles: &dyn Throttles,
    person: PersonId,
    role: Role,
    doc: DocumentId,
    adding: usize,
    share: usize,
) -> Result<Result<(), OverShare>, StorageError> {
    let share = share_of(role, share).max(1);
    let allowance = Allowance { per_second: share as f64 / DAY.as_secs_f64(), burst: share as f64 };
    let key = secret::hash_token(&format!("growth {person} {doc}"));
    Ok(throttles.take_some(key, allowance, adding as f64).await?.map_err(|wait| OverShare {
        doc,
        adding,
        share,
        role: role.as_str(),
        retry_after_minutes: (wait.as_secs_f64() / 60.0).ceil().max(1.0) as u64,
    }))
}

/// What the members page shows of a person's refusals for a used-up share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ShareRefused {
    /// Messages refused.
    pub times: u64,
    /// When the last was.
    pub last_at: Timestamp,
    /// The document of the last, and its kind.
    pub document: DocumentId,
    /// The kind of that document.
    pub kind: DocKind,
}

/// The refusals for a used-up share this relay made since it started, per person: what the
/// coordinators' members page shows beside the person, so that a phone filling a document is
/// seen by those who can revoke it, not only in the relay's log. Kept in this relay's memory:
/// a restart forgets them, and relays sharing PostgreSQL each show their own.
#[derive(Debug, Default)]
pub struct ShareRefusals {
    // A std mutex: held for one map lookup, never across an `.await`. One entry per person
    // refused, so bounded by the members.
    by_person: Mutex<HashMap<PersonId, ShareRefused>>,
}

impl ShareRefusals {
    /// Records that a message of `person` for `document` was refused at `at`.
    pub fn record(&self, person: PersonId, document: DocumentId, kind: DocKind, at: Timestamp) {
        let mut map = self.by_person.lock().unwrap_or_else(PoisonError::into_inner);
        let times = map.get(&person).map_or(0, |earlier| earlier.times) + 1;
        map.insert(person, ShareRefused { times, last_at: at, document, kind });
    }

    /// `person`'s refusals, if any.
    pub fn of(&self, person: PersonId) -> Option<ShareRefused> {
        self.by_person.lock().unwrap_or_else(PoisonError::into_inner).get(&person).copied()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::throttle::MemoryThrottles;

    #[tokio::test]
    async fn a_share_is_per_person_and_document_and_coordinators_have_four() {
        let throttles = MemoryThrottles::new();
        let id = |n: u128| uuid::Uuid::from_u128(n);
        let (alice, bob) = (PersonId::from_uuid(id(1)), PersonId::from_uuid(id(2)));
        let (roster, round) = (DocumentId::from_uuid(id(3)), DocumentId::from_uuid(id(4)));
        let take = |person, role, doc, bytes| take(&throttles, person, role, doc, bytes, 1000);
        assert!(take(alice, Role::Volunteer, roster, 600).await.unwrap().is_ok());
        let over = take(alice, Role::Volunteer, roster, 600).await.unwrap().unwrap_err();
        assert_eq!((over.adding, over.share, over.role), (600, 1000, "volunteer"));
        // 200 bytes short, at 1,000 a day: 288 minutes (less the moments since the first take).
        assert!((287..=288).contains(&over.retry_after_minutes), "{over}");
        assert!(over.to_string().contains("more than is left of the 1000 bytes one volunteer"), "{over}");
        assert!(take(alice, Role::Volunteer, roster, 400).await.unwrap().is_ok(), "the refusal took nothing");
        assert!(take(alice, Role::Volunteer, round, 600).await.unwrap().is_ok(), "another document");
        assert!(take(bob, Role::Volunteer, roster, 600).await.unwrap().is_ok(), "another person");
        assert!(take(bob, Role::Coordinator, round, 3900).await.unwrap().is_ok(), "four shares");
    }
}
