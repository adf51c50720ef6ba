//! What one person may add to one document, and to all of a compound's documents, in a day.
//!
//! Automerge keeps every change for good: a document only grows, and a document at the most it
//! may hold (`Limits::max_document_bytes`) refuses everyone's work from then on, honest or not
//! (`document_full`). Without a share, one member's modified phone could fill a compound's
//! roster in minutes: the notes of every household rewritten at 4,000 characters again and
//! again, every change within the rules (the relay took about 230 KB of such notes a second,
//! SECURITY.md). The roster would then take no coordinator's edit and no volunteer's note again,
//! and every new phone would have to fetch all of it over a stairwell's link.
//!
//! So the bytes of the changes each person's sync messages carry are taken from two token
//! buckets, each holding a day's share and refilling over a day: one for the document
//! (`Limits::growth_share` for volunteers and medics, four times that for coordinators and
//! admins, who build rounds and edit the roster in bulk from their phones), and one for all of
//! the compound's documents together, rounds created offline included ([`COMPOUND_TIMES`] the
//! document's). The second bounds what one person adds to the relay's disk: a round created by
//! sync is a new document with a share of its own, so without it a modified coordinator's phone
//! could make rounds without end. An honest volunteer's long day offline is 150–350 KiB
//! (BENCHMARKS.md §3b), a twentieth of the default share of 8 MiB. A message past what is left is
//! refused as `document_full`, which every phone already treats as transient: it keeps the work
//! and sends it again later, never setting it aside; the reason says which share, how much and
//! when. The refused message is still answered with the document's news (`sync/batch.rs`), so the
//! phone hears everyone else's work meanwhile. Filling a 64 MiB document takes eight volunteers'
//! phones a day, or one of them eight days; the relay logs each refusal with the person and the
//! document, and the coordinators' members page shows it beside the person
//! (`Storage::record_share_refusal`, kept with the relay's data), so that those who can revoke
//! them see it.
//!
//! The buckets are the relay's [`Throttles`]: in the database when relays share PostgreSQL, so
//! spreading requests over relays or waiting for a restart gains nothing. A message is charged
//! whole when it arrives, before the relay knows which of its changes it already holds; once it
//! is answered, what it did not add (changes held already, as when a phone sends its work again
//! after a lost answer, and changes refused) is given back ([`Charge::settle`]), and a message
//! dropped unread (its request gone before its batch) gives back all of it ([`HeldCharge`]). So
//! over time only what a document took counts; a copy sent again while the share is nearly used
//! up may be refused for the moment.

use std::sync::Arc;
use std::time::Duration;

use doorstep_core::Role;
use doorstep_core::id::{CompoundId, DocumentId, PersonId};

use crate::secret;
use crate::storage::{SecretHash, StorageError};
use crate::throttle::{Allowance, Throttles};

/// The time over which a share refills.
pub const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// How many actors the relay has never seen a person's share of a document pays for in a day:
/// each costs this part of the share ([`new_actor_cost`]). An honest phone brings one at its
/// first sync, and another when its file is restored from a copy or a shared phone signs in; a
/// modified phone brought 4,100 in 100 s, four to a message, each change built on the same old
/// heads, and left the roster with 4,100 heads, which every phone's every sync message carries:
/// past 4,096 honest phones' messages were refused, and the compound could not sync (helper
/// finding, stop 60). A day's share now brings at most this many heads.
pub const NEW_ACTORS_IN_A_SHARE: usize = 32;

/// What one actor the relay has never seen costs `role`'s share of a document (volunteers' is
/// `share`), in bytes: a day's share pays for [`NEW_ACTORS_IN_A_SHARE`].
pub fn new_actor_cost(role: Role, share: usize) -> usize {
    share_of(role, share) / NEW_ACTORS_IN_A_SHARE
}

/// How many times a volunteer's share coordinators and admins get.
pub const COORDINATORS_TIMES: usize = 4;

/// How many documents' shares a person's share of a whole compound is: every document of the
/// compound together, rounds created offline included.
pub const COMPOUND_TIMES: usize = 4;

/// The bytes `role` may add to one document in a day, when volunteers may add `share`.
pub fn share_of(role: Role, share: usize) -> usize {
    match role {
        Role::Admin | Role::Coordinator => share.saturating_mul(COORDINATORS_TIMES),
        Role::Medic | Role::Volunteer => share,
    }
}

/// Which of a person's shares a message would pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Share {
    /// Their share of the one document.
    Document,
    /// Their share of all the compound's documents together.
    Compound,
}

/// A message that would take a person past their share of a document's growth, or of their
/// compound's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "this message adds {adding} bytes to document {doc}, more than is left of the {share} bytes one {role} may add to \
     {each} in a day; nothing of it was taken, and this phone keeps the work and sends it again in about \
     {retry_after_minutes} minutes. If this phone did not make that much, tell a coordinator \
     ({zh}，工作保留在手机上，稍后自动重发)",
    each = match self.of { Share::Document => "a document", Share::Compound => "all of a compound's documents together (new rounds included)" },
    zh = match self.of { Share::Document => "此文档今天由你添加的数据已达上限", Share::Compound => "今天你向本小区各文件添加的数据已达上限" }
)]
pub struct OverShare {
    /// The document.
    pub doc: DocumentId,
    /// Which share is used up.
    pub of: Share,
    /// The bytes of changes the message carries.
    pub adding: usize,
    /// That share, for the sender's role.
    pub share: usize,
    /// The sender's role, as a word.
    pub role: &'static str,
    /// When enough of the share is back.
    pub retry_after_minutes: u64,
}

/// Bytes taken from a person's shares for one message, before it is known how many of them its
/// document will take: [`Charge::settle`] gives back the rest.
#[derive(Debug)]
#[must_use = "a charge is settled once its message is done, or the bytes it did not add stay taken"]
pub struct Charge {
    buckets: Vec<(SecretHash, Allowance)>,
    taken: usize,
}

impl Charge {
    /// Nothing taken.
    pub fn none() -> Self {
        Self { buckets: Vec::new(), taken: 0 }
    }

    /// Gives back what the message did not add to its document: changes the relay already held
    /// (a phone sending its work again after a lost answer) and changes refused. A store that
    /// fails here keeps the bytes taken, which errs on the side of the document.
    pub async fn settle(self, throttles: &dyn Throttles, added: usize) {
        let unused = self.taken.saturating_sub(added);
        if unused == 0 {
            return;
        }
        for (key, allowance) in self.buckets {
            if let Err(e) = throttles.give_back(key, allowance, unused as f64).await {
                tracing::warn!(error = %e, "bytes a message did not add were not given back to its sender's share");
            }
        }
    }
}

/// A charge that travels with its message through the document's work queue: settled by the
/// batch that answers the message ([`HeldCharge::settle`], before the answer goes out, so the
/// phone's next request finds the bytes back), or given back whole when the message is dropped
/// unanswered. That is the lot of a message whose request went before its batch took it (a
/// phone on a landing whose link gave out while the document was busy, or that gave up waiting):
/// nothing of it was read, and without this its bytes stayed taken, so a volunteer on a bad link
/// paid again for each request the link dropped.
#[derive(Debug)]
pub struct HeldCharge {
    charge: Option<Charge>,
    throttles: Arc<dyn Throttles>,
    /// What each actor the message binds costs ([`new_actor_cost`]), kept when it is settled.
    per_new_actor: usize,
}

impl HeldCharge {
    /// `charge`, taken from `throttles`, each new actor of it at `per_new_actor` bytes.
    pub fn new(charge: Charge, throttles: Arc<dyn Throttles>, per_new_actor: usize) -> Self {
        Self { charge: Some(charge), throttles, per_new_actor }
    }

    /// Nothing taken (a message that adds nothing, or whose sender's role the engine refuses).
    pub fn none(throttles: Arc<dyn Throttles>) -> Self {
        Self { charge: None, throttles, per_new_actor: 0 }
    }

    /// What a message that added `added` bytes and bound `bound` new actors owes in the end.
    fn due(&self, added: usize, bound: usize) -> usize {
        added.saturating_add(bound.saturating_mul(self.per_new_actor))
    }

    /// The charge still to settle for a message that added `added` bytes and bound `bound` new
    /// actors: `None` when it added all it was charged for (a message's usual lot), so nothing
    /// goes back and nothing waits.
    pub fn owing(mut self, added: usize, bound: usize) -> Option<Self> {
        let due = self.due(added, bound);
        if self.charge.as_ref().is_none_or(|c| c.taken <= due) {
            self.charge = None;
            return None;
        }
        Some(self)
    }

    /// [`Charge::settle`]: gives back what the message did not add, its new actors kept.
    pub async fn settle(mut self, added: usize, bound: usize) {
        let due = self.due(added, bound);
        if let Some(charge) = self.charge.take() {
            charge.settle(self.throttles.as_ref(), due).await;
        }
    }
}

impl Drop for HeldCharge {
    fn drop(&mut self) {
        let Some(charge) = self.charge.take() else { return };
        if charge.taken == 0 {
            return;
        }
        let throttles = Arc::clone(&self.throttles);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move { charge.settle(throttles.as_ref(), 0).await });
            }
            Err(_) => tracing::warn!(
                bytes = charge.taken,
                "a message dropped unanswered outside the runtime; its bytes stay taken from its sender's share"
            ),
        }
    }
}

/// Takes `adding` bytes from `person`'s share (as `role`; volunteers' share of a document is
/// `share`) of `doc` and of all the documents of `compound`, or refuses them, taking nothing.
pub async fn take(
    throttles: &dyn Throttles,
    person: PersonId,
    role: Role,
    compound: CompoundId,
    doc: DocumentId,
    adding: usize,
    share: usize,
) -> Result<Result<Charge, OverShare>, StorageError> {
    let of_document = share_of(role, share).max(1);
    let of_compound = of_document.saturating_mul(COMPOUND_TIMES);
    let bucket = |share: usize, key: String| {
        let allowance = Allowance { per_second: share as f64 / DAY.as_secs_f64(), burst: share as f64 };
        (secret::hash_token(&key), allowance)
    };
    let mut charge = Charge { buckets: Vec::with_capacity(2), taken: adding };
    for (of, share, key) in [
        (Share::Compound, of_compound, format!("growth {person} compound {compound}")),
        (Share::Document, of_document, format!("growth {person} {doc}")),
    ] {
        let (key, allowance) = bucket(share, key);
        // Nothing of a refused message is taken: what an earlier share gave goes back.
        let wait = match throttles.take_some(key, allowance, adding as f64).await {
            Ok(Ok(())) => {
                charge.buckets.push((key, allowance));
                continue;
            }
            Ok(Err(wait)) => wait,
            Err(e) => {
                charge.settle(throttles, 0).await;
                return Err(e);
            }
        };
        charge.settle(throttles, 0).await;
        let retry_after_minutes = (wait.as_secs_f64() / 60.0).ceil().max(1.0) as u64;
        return Ok(Err(OverShare { doc, of, adding, share, role: role.as_str(), retry_after_minutes }));
    }
    Ok(Ok(charge))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::throttle::MemoryThrottles;

    #[tokio::test]
    async fn a_share_is_per_person_and_document_and_coordinators_have_four() {
        let throttles = MemoryThrottles::new();
        let (alice, bob) = (PersonId::from_uuid(id(1)), PersonId::from_uuid(id(2)));
        let (roster, round) = (DocumentId::from_uuid(id(3)), DocumentId::from_uuid(id(4)));
        let take = |person, role, doc, bytes| take(&throttles, person, role, compound(), doc, bytes, 1000);
        assert!(take(alice, Role::Volunteer, roster, 600).await.unwrap().is_ok());
        let over = take(alice, Role::Volunteer, roster, 600).await.unwrap().unwrap_err();
        assert_eq!((over.of, over.adding, over.share, over.role), (Share::Document, 600, 1000, "volunteer"));
        // 200 bytes short, at 1,000 a day: 288 minutes (less the moments since the first take).
        assert!((287..=288).contains(&over.retry_after_minutes), "{over}");
        assert!(
            over.to_string()
                .contains("more than is left of the 1000 bytes one volunteer may add to a document")
        );
        for _ in 0..10 {
            assert!(take(alice, Role::Volunteer, roster, 600).await.unwrap().is_err());
        }
        assert!(
            take(alice, Role::Volunteer, roster, 400).await.unwrap().is_ok(),
            "the refusals took nothing"
        );
        // Nor from the compound's share, which the document's refusals had passed.
        assert!(take(alice, Role::Volunteer, round, 600).await.unwrap().is_ok(), "another document");
        assert!(take(bob, Role::Volunteer, roster, 600).await.unwrap().is_ok(), "another person");
        let carol = PersonId::from_uuid(id(5));
        assert!(take(carol, Role::Coordinator, round, 3900).await.unwrap().is_ok(), "four shares");
    }

    #[tokio::test]
    async fn all_of_a_compounds_documents_together_hold_four_shares_and_a_refusal_takes_from_neither() {
        let throttles = MemoryThrottles::new();
        let alice = PersonId::from_uuid(id(1));
        let take = |doc: u128, bytes| {
            take(
                &throttles,
                alice,
                Role::Coordinator,
                compound(),
                DocumentId::from_uuid(id(doc)),
                bytes,
                1000,
            )
        };
        // Rounds created one after another, each within its own share of 4,000.
        for doc in 10..14 {
            assert!(take(doc, 3900).await.unwrap().is_ok(), "round {doc}");
        }
        let over = take(14, 3900).await.unwrap().unwrap_err();
        assert_eq!((over.of, over.share, over.role), (Share::Compound, 16_000, "coordinator"));
        assert!(over.to_string().contains("all of a compound's documents together"), "{over}");
        assert!(over.to_string().contains("今天你向本小区各文件添加的数据已达上限"), "{over}");
        // The refusal took nothing: 400 is left of the compound's share.
        assert!(take(14, 400).await.unwrap().is_ok());
        assert!(take(15, 100).await.unwrap().is_err(), "the compound's share is used up");
        let elsewhere = DocumentId::from_uuid(id(16));
        let other = take_in(&throttles, alice, CompoundId::from_uuid(id(99)), elsewhere, 3900).await;
        assert!(other.is_ok(), "another compound");
    }

    async fn take_in(
        throttles: &MemoryThrottles,
        person: PersonId,
        compound: CompoundId,
        doc: DocumentId,
        bytes: usize,
    ) -> Result<Charge, OverShare> {
        take(throttles, person, Role::Coordinator, compound, doc, bytes, 1000).await.unwrap()
    }

    #[tokio::test]
    async fn what_a_message_did_not_add_goes_back_to_both_shares() {
        let throttles = MemoryThrottles::new();
        let alice = PersonId::from_uuid(id(1));
        let roster = DocumentId::from_uuid(id(3));
        let take = |bytes| take(&throttles, alice, Role::Volunteer, compound(), roster, bytes, 1000);
        // A message sent again after a lost answer: the relay held 900 of its 1,000 bytes.
        take(1000).await.unwrap().unwrap().settle(&throttles, 100).await;
        assert!(take(900).await.unwrap().is_ok(), "the 900 held already were given back");
        assert!(take(100).await.unwrap().is_err());
    }

    fn id(n: u128) -> uuid::Uuid {
        uuid::Uuid::from_u128(n)
    }

    fn compound() -> CompoundId {
        CompoundId::from_uuid(id(100))
    }
}
