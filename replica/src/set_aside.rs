//! Setting aside exactly what the relay refused for good, and nothing else.
//!
//! Automerge chains a device's changes, so the changes made after a refused one depend on it and
//! could never go up. The document is rebuilt from the heads the relay and the device share: every
//! change that does not build on the refused one is kept as it is, and the operations recorded in
//! the journal after it are carried out again (same time, same random draws, so the same IDs).
//! Only the refused operation — and any later one that cannot be carried out without it — goes
//! to the set-aside table, in readable form, for a coordinator to review.

use std::collections::{HashMap, HashSet};

use automerge::{ActorId, Change, ChangeHash};
use doorstep_core::document::Document;
use doorstep_core::permission::Rule;
use doorstep_core::sync::{Rejection, SyncError};
use doorstep_core::{Actor, Compound, Env, Timestamp};

use crate::error::ReplicaError;
use crate::journal::{self, JournalEntry};
use crate::replica::Replica;
use crate::store::Write;

pub use doorstep_core::sync::{DOCUMENT_WITHDRAWN, NOT_REAPPLIED};

/// The writes that set change `hash` of `doc` (in `compound`) aside for a coordinator's review: its bytes (none
/// when the phone no longer holds them) kept with `rule` and `reason`, the journaled operation
/// behind it in readable form when there is one, and its journal entry dropped.
pub(crate) fn set_aside_writes<'a>(
    hash: &'a str,
    (compound, doc): (doorstep_core::id::CompoundId, doorstep_core::id::DocumentId),
    (rule, reason): (&'a str, &'a str),
    bytes: &'a [u8],
    entry: Option<&'a JournalEntry>,
    at: i64,
) -> impl Iterator<Item = Write<'a>> {
    let kept = Write::Quarantine { hash, compound, doc, rule, reason, bytes, at };
    let operation = entry.map(|entry| Write::SetAsideOperation { hash, entry });
    std::iter::once(kept).chain(operation).chain(std::iter::once(Write::JournalForget { hash }))
}

/// One set-aside item: what leaves a document for one operation, and why.
pub(crate) struct Leaving {
    /// The hash the item goes by: its first change's.
    pub hash: String,
    /// Its changes' bytes, one after the other (none when the phone no longer holds them).
    pub bytes: Vec<u8>,
    /// The operation behind it, when journaled.
    pub entry: Option<JournalEntry>,
    pub rule: String,
    pub reason: String,
    /// The hashes of the operation's other changes in the document, which leave with it.
    pub also: Vec<String>,
}

impl Leaving {
    pub fn new(hash: String, bytes: Vec<u8>, entry: Option<JournalEntry>, rule: &str, reason: &str) -> Self {
        Leaving { hash, bytes, entry, rule: rule.to_owned(), reason: reason.to_owned(), also: Vec::new() }
    }

    /// The writes that set this item aside in document `doc` of `compound` at time `at`.
    pub fn writes(
        &self,
        place: (doorstep_core::id::CompoundId, doorstep_core::id::DocumentId),
        at: i64,
    ) -> impl Iterator<Item = Write<'_>> {
        set_aside_writes(&self.hash, place, (&self.rule, &self.reason), &self.bytes, self.entry.as_ref(), at)
            .chain(self.also.iter().map(|hash| Write::JournalForget { hash }))
    }
}

/// One item per operation: an operation may make several changes in one document (a round it
/// creates is made of the document's header and its contents), and a coordinator must be
/// asked about it once — applying two items of one operation made two rounds. The changes of
/// one journaled operation join its first one (kept in the order given, which is the
/// changes' order in the document); a change whose operation is not journaled is an item of
/// its own.
pub(crate) fn one_per_operation(leaving: Vec<Leaving>) -> Vec<Leaving> {
    let mut items: Vec<Leaving> = Vec::new();
    for l in leaving {
        let first = l.entry.as_ref().and_then(|entry| {
            items.iter_mut().find(|item| item.entry.as_ref().is_some_and(|e| e.id == entry.id))
        });
        match first {
            Some(item) => {
                item.bytes.extend_from_slice(&l.bytes);
                item.also.push(l.hash);
                item.also.extend(l.also);
            }
            None => items.push(l),
        }
    }
    items
}

/// What setting aside one refusal did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SetAsideOutcome {
    /// Changes set aside.
    pub set_aside: usize,
    /// Later operations carried out again on the rebuilt document at their own time.
    pub reapplied: usize,
    /// Operations carried out again at their time moved by the relay's clock ([`Retime`]), the
    /// refused one among them.
    pub retimed: usize,
}

/// The relay's clock, heard in this sync, for operations recorded while the phone's clock was
/// wrong (a phone whose date reset when its battery ran flat, or was set by hand): the relay
/// refuses a time more than a day after or a month before its own clock
/// (`times_follow_the_relays_clock`). Such an operation is carried out again at its time moved
/// by the offset the phone's clock is off by now, which is when it happened if the clock was as
/// wrong then; only when that time is one the relay takes, so an honest phone back after more
/// than a month away still has its old work reviewed, not redated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Retime {
    /// The relay's clock minus the phone's, in milliseconds.
    pub offset_ms: i64,
    /// The relay's clock now.
    pub relay_now: Timestamp,
}

impl Retime {
    /// The time to carry out an operation made at `made_at` (device time) at instead, if the
    /// relay would refuse `made_at` and take the moved time.
    pub fn moved(self, made_at: Timestamp) -> Option<Timestamp> {
        use doorstep_core::rulebook::state::require_time_near;
        if require_time_near(made_at, self.relay_now).is_ok() {
            return None;
        }
        let moved = Timestamp::from_millis(made_at.as_millis().saturating_add(self.offset_ms));
        require_time_near(moved, self.relay_now).is_ok().then_some(moved)
    }
}

fn rebuild_error(e: impl std::fmt::Display) -> ReplicaError {
    ReplicaError::Sync(SyncError::Rejected(format!("rebuilding a document after a refusal: {e}")))
}

/// Sets aside what `rejection` refused in its document: the refused change when one is named,
/// else this device's changes that were sent in this run (never those made while the sync was
/// in flight). `shared` are the heads the relay is known to have. With `retime` (the relay's
/// clock heard in this sync) a change refused for its time is carried out again at its moved
/// time when there is one, and set aside only when there is not.
pub(crate) fn set_aside_refused(
    replica: &mut Replica,
    shared: &[ChangeHash],
    rejection: &Rejection,
    sent: &HashSet<ChangeHash>,
    now: Timestamp,
    retime: Option<Retime>,
) -> Result<SetAsideOutcome, ReplicaError> {
    let device = replica.device_actor().clone();
    let id = rejection.doc;
    let Some(compound) = replica.compounds.values().find(|c| c.document(id).is_some()) else {
        return Ok(SetAsideOutcome::default());
    };
    let Some(doc) = compound.document(id) else { return Ok(SetAsideOutcome::default()) };
    let named: Option<ChangeHash> = rejection.change.as_deref().and_then(|h| h.parse().ok());
    let refused: HashSet<ChangeHash> = doc
        .automerge()
        .get_changes(shared)
        .iter()
        .filter(|c| match named {
            Some(hash) => c.hash() == hash,
            None => c.actor_id() == &device && sent.contains(&c.hash()),
        })
        .map(Change::hash)
        .collect();
    if refused.is_empty() {
        return Ok(SetAsideOutcome::default());
    }
    let context = format!("made after a change the relay refused ({})", rejection.rule);
    let outcome = rebuild(
        replica,
        id,
        shared,
        &Rebuild {
            refused: &refused,
            redo: &HashSet::new(),
            refusal: Some(rejection),
            context: &context,
            retime: retime.filter(|_| rejection.rule == Rule::TimesFollowTheRelaysClock.code()),
        },
        now,
    )?;
    tracing::warn!(
        doc = %id,
        rule = %rejection.rule,
        set_aside = outcome.set_aside,
        reapplied = outcome.reapplied,
        retimed = outcome.retimed,
        "refused changes set aside or carried out again at the relay's time; later operations carried out again"
    );
    Ok(outcome)
}

/// What leaves a document and what is carried out again when it is rebuilt from the heads the
/// relay and the device share.
pub(crate) struct Rebuild<'a> {
    /// Changes the relay refused for good: set aside with the refusal's rule and reason.
    pub refused: &'a HashSet<ChangeHash>,
    /// Changes to carry out again from their journaled operations (written under the device's
    /// current actor), although nothing refused them.
    pub redo: &'a HashSet<ChangeHash>,
    /// The refusal, when `refused` is not empty.
    pub refusal: Option<&'a Rejection>,
    /// Why a change is carried out again, for the reason of one that cannot be: "made after a
    /// change the relay refused (…)".
    pub context: &'a str,
    /// The relay's clock, when the refusal was for a time the phone's wrong clock wrote: the
    /// refused changes, and any carried out again, whose time it moves are carried out at that.
    pub retime: Option<Retime>,
}

/// Rebuilds document `id` from the `shared` heads: the changes of `plan.refused` and
/// `plan.redo`, and every local change that builds on one, leave the document; the refused ones
/// are set aside, the others are carried out again from the journal under the device's current
/// actor (set aside when they cannot be). Every other local change is kept as it is.
pub(crate) fn rebuild(
    replica: &mut Replica,
    id: doorstep_core::id::DocumentId,
    shared: &[ChangeHash],
    plan: &Rebuild<'_>,
    now: Timestamp,
) -> Result<SetAsideOutcome, ReplicaError> {
    let device = replica.device_actor().clone();
    let Some(compound) = replica.compounds.values().find(|c| c.document(id).is_some()) else {
        return Ok(SetAsideOutcome::default());
    };
    let compound_id = compound.id();
    let Some(doc) = compound.document(id) else { return Ok(SetAsideOutcome::default()) };
    let local: Vec<Change> = doc.automerge().get_changes(shared);
    let refused = plan.refused;
    // Everything that builds on a refused or redone change. `get_changes` lists changes after
    // their dependencies, so one pass finds them all.
    let mut affected: HashSet<ChangeHash> = refused.union(plan.redo).copied().collect();
    for change in &local {
        if change.deps().iter().any(|d| affected.contains(d)) {
            affected.insert(change.hash());
        }
    }
    if affected.is_empty() {
        return Ok(SetAsideOutcome::default());
    }

    let header = *doc.header();
    let mut rebuilt = doc.automerge().fork_at(shared).map_err(rebuild_error)?.with_actor(device.clone());
    rebuilt
        .apply_changes(local.iter().filter(|c| !affected.contains(&c.hash())).cloned())
        .map_err(rebuild_error)?;
    let mut journal: HashMap<String, JournalEntry> = replica.store().journal_of(id)?.into_iter().collect();
    let role = replica.role(header.compound);
    // A change of this phone's whose journal entry left with its sync (a relay restored from a
    // backup lacks it again) leaves with the operation read back from the document.
    let own: HashSet<ActorId> =
        std::iter::once(device.clone()).chain(replica.past_actors.iter().cloned()).collect();
    let author = replica.person;
    let mut derived_number = 0_i64;
    let mut read_back = |change: &Change| {
        if !own.contains(change.actor_id()) {
            return None;
        }
        derived_number -= 1;
        crate::derived_operation::derived_entry(doc, change, compound_id, author, derived_number)
    };

    let mut leaving: Vec<Leaving> = Vec::new();
    let mut rehashed: Vec<(String, String)> = Vec::new();
    let mut retimed: Vec<(i64, Timestamp)> = Vec::new();
    let mut scratch: Option<Compound> = match Document::from_automerge(header, rebuilt) {
        Ok(rebuilt) => {
            // A copy of the compound to carry the later operations out on: an operation that also
            // touched another document changes only the copy of that one, which is thrown away.
            let mut scratch = compound.clone();
            scratch.insert(rebuilt);
            Some(scratch)
        }
        // Nothing the relay holds gives the document its header (a round made on this device
        // and refused as a whole): the document leaves the device with its changes.
        Err(e) => {
            tracing::warn!(doc = %id, error = %e, "refused document has no shared state; it is set aside whole");
            None
        }
    };
    for change in local.iter().filter(|c| affected.contains(&c.hash())) {
        let hash = change.hash().to_string();
        let entry = journal.remove(&hash);
        let moved = plan.retime.zip(entry.as_ref()).and_then(|(retime, e)| retime.moved(e.made_at));
        if let (true, Some(refusal)) = (refused.contains(&change.hash()), plan.refusal) {
            // Refused for the time a wrong clock wrote: carried out again at the moved time, or
            // set aside when that cannot be done.
            let again = match (moved, &mut scratch, &entry, role) {
                (Some(at), Some(scratch), Some(entry), Some(role)) => {
                    reapply(scratch, id, entry, role, at).ok()
                }
                _ => None,
            };
            if let (Some(new), Some(entry), Some(at)) = (again, &entry, moved) {
                rehashed.push((hash.clone(), new.map_or(hash, |h| h.to_string())));
                retimed.push((entry.id, at));
                continue;
            }
            let entry = entry.or_else(|| read_back(change));
            leaving.push(Leaving::new(
                hash,
                change.raw_bytes().to_vec(),
                entry,
                &refusal.rule,
                &refusal.reason,
            ));
            continue;
        }
        let outcome = match (&mut scratch, &entry, role) {
            (Some(scratch), Some(entry), Some(role)) => {
                let at = moved.unwrap_or(entry.made_at);
                let outcome = reapply(scratch, id, entry, role, at);
                if outcome.is_ok() && moved.is_some() {
                    retimed.push((entry.id, at));
                }
                Some(outcome)
            }
            _ => None,
        };
        match outcome {
            Some(Ok(Some(new))) => rehashed.push((hash, new.to_string())),
            // Carried out again, but it changes nothing any more in this document.
            Some(Ok(None)) => rehashed.push((hash.clone(), hash)),
            Some(Err(e)) => leaving.push(Leaving::new(
                hash,
                change.raw_bytes().to_vec(),
                entry,
                NOT_REAPPLIED,
                &format!("{}, and could not be carried out again: {e}", plan.context),
            )),
            None => leaving.push(Leaving::new(
                hash,
                change.raw_bytes().to_vec(),
                entry.or_else(|| read_back(change)),
                NOT_REAPPLIED,
                &format!(
                    "{}, and this phone has no record of the operation to carry it out again",
                    plan.context
                ),
            )),
        }
    }

    let at = now.as_millis();
    let leaving = one_per_operation(leaving);
    let mut writes: Vec<Write<'_>> = Vec::new();
    for l in &leaving {
        writes.extend(l.writes((compound_id, id), at));
    }
    for (old, new) in &rehashed {
        if old != new {
            writes.push(Write::JournalRehash { old, new });
        }
    }
    for (entry, made_at) in &retimed {
        writes.push(Write::JournalRetime { entry: *entry, made_at: *made_at });
    }
    // Every retimed operation was also rehashed; the rest were carried out at their own time.
    let outcome = SetAsideOutcome {
        set_aside: leaving.len(),
        reapplied: rehashed.len() - retimed.len(),
        retimed: retimed.len(),
    };
    match scratch.and_then(|mut s| s.remove(id)) {
        Some(rebuilt) => replica.replace_document(rebuilt, &writes)?,
        None => replica.remove_document(header, &writes)?,
    }
    Ok(outcome)
}

/// Carries a journaled operation out again on `scratch`, at time `at` (its own, or moved by the
/// relay's clock), and returns the new change it made in document `id`, if any.
pub(crate) fn reapply(
    scratch: &mut Compound,
    id: doorstep_core::id::DocumentId,
    entry: &JournalEntry,
    role: doorstep_core::Role,
    at: Timestamp,
) -> Result<Option<ChangeHash>, doorstep_core::OperationError> {
    let before = scratch.document(id).map(Document::heads).unwrap_or_default();
    let mut draws = journal::replay(&entry.entropy);
    let mut env = Env::new(at, &mut draws);
    scratch.apply(&mut env, &Actor { person: entry.person, role }, &entry.operation)?;
    let device = scratch.device().clone();
    Ok(scratch.document(id).and_then(|doc| {
        doc.automerge().get_changes(&before).iter().rev().find(|c| c.actor_id() == &device).map(|c| c.hash())
    }))
}

#[cfg(test)]
mod tests {
    use super::Retime;
    use doorstep_core::Timestamp;

    const DAY: i64 = 24 * 3_600_000;
    const NOW: i64 = 1_796_500_000_000;

    fn retime(offset_ms: i64) -> Retime {
        Retime { offset_ms, relay_now: Timestamp::from_millis(NOW.saturating_add(offset_ms)) }
    }

    #[test]
    fn only_a_time_the_relay_refuses_moves_and_only_to_one_it_takes() {
        let at = |ms: i64| Timestamp::from_millis(ms);
        // The phone's clock three days ahead: a knock it stamped now happened three days earlier.
        assert_eq!(retime(-3 * DAY).moved(at(NOW)), Some(at(NOW - 3 * DAY)));
        // Forty days behind: moved forward.
        assert_eq!(retime(40 * DAY).moved(at(NOW)), Some(at(NOW + 40 * DAY)));
        // A time the relay takes as it is stays (a clock twenty hours ahead).
        assert_eq!(retime(-20 * 3_600_000).moved(at(NOW)), None);
        // A right clock and work over a month old: moving changes nothing the relay would take.
        assert_eq!(retime(0).moved(at(NOW - 31 * DAY)), None);
        // A clock that was wrong then but is right now: the offset does not bring it in.
        assert_eq!(retime(0).moved(at(NOW + 3 * DAY)), None);
        // Times and offsets at the ends of the range move nowhere and panic nowhere.
        for offset in [i64::MIN, i64::MAX, -1, 1] {
            for made in [i64::MIN, 0, NOW, i64::MAX] {
                let _ = retime(offset).moved(at(made));
            }
        }
    }
}
