//! A document whose stored copy on the phone did not load (its bytes damaged on the flash, or,
//! before the file lock, two copies of the app writing one file): it is fetched again from the
//! relay at the next sync, and the operations journaled in it that the relay does not hold are
//! then carried out again on the relay's copy, at their own time with their own random draws (so
//! the same IDs), to go up with the sync that follows. Before, its journal was kept but nothing
//! carried it out: the knocks it recorded stayed on the phone, and the phone said "all synced".
//! An operation that cannot be carried out again (the task it records was cancelled meanwhile)
//! is set aside for the coordinators' review with its reason, like any other.

use automerge::{ChangeHash, ReadDoc};
use doorstep_core::Timestamp;
use doorstep_core::compound::Compound;
use doorstep_core::document::Document;
use doorstep_core::id::DocumentId;

use crate::error::ReplicaError;
use crate::journal::JournalEntry;
use crate::replica::Replica;
use crate::set_aside::{DOCUMENT_WITHDRAWN, Leaving, NOT_REAPPLIED, one_per_operation, reapply};
use crate::store::Write;

/// What carrying out the journal of damaged copies again did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CarriedOutAgain {
    /// Operations carried out again on the relay's copy, to go up with the next request.
    pub reapplied: usize,
    /// Operations the relay already held: their journal entries are done.
    pub already_held: usize,
    /// Operations that could not be carried out again: set aside for review.
    pub set_aside: usize,
}

impl Replica {
    /// Carries out again, on the relay's copy now held, the journaled operations of every
    /// document whose stored copy did not load, and stops treating it as damaged; sets them aside
    /// for review when the relay's list of documents leaves it out. Documents not held yet (the
    /// relay did not send them in this sync) wait for a later one. A sync calls it after a run,
    /// and runs again to send what it carried out.
    pub fn carry_out_damaged_copies_again(
        &mut self,
        now: Timestamp,
    ) -> Result<CarriedOutAgain, ReplicaError> {
        let mut total = CarriedOutAgain::default();
        for (id, _) in self.damaged_documents() {
            let held = self.compounds.values().any(|c| c.document(id).is_some());
            let granted = self.known_grants.as_ref().map(|list| list.iter().any(|g| g.header.id == id));
            let done = match (held, granted) {
                (true, _) => of_document(self, id, now)?,
                // The relay no longer lets this phone hold it (a round closed meanwhile, or one
                // made on this phone whose copy was damaged before it ever synced): its
                // operations go to the coordinators' review.
                (false, Some(false)) => set_aside_whole(self, id, now)?,
                // Not sent yet, or the list is not kept: a later sync.
                (false, _) => continue,
            };
            total.reapplied += done.reapplied;
            total.already_held += done.already_held;
            total.set_aside += done.set_aside;
            self.repaired(id);
            tracing::warn!(
                doc = %id,
                reapplied = done.reapplied,
                already_held = done.already_held,
                set_aside = done.set_aside,
                "a document whose stored copy did not load was fetched again; its journaled operations carried out again"
            );
        }
        Ok(total)
    }
}

/// Sets aside every journaled operation of damaged document `id`, which the relay no longer lets
/// this phone hold.
fn set_aside_whole(
    replica: &mut Replica,
    id: DocumentId,
    now: Timestamp,
) -> Result<CarriedOutAgain, ReplicaError> {
    let journal = replica.store().journal_of(id)?;
    let reason = format!(
        "recorded on this phone in a copy of document {id} that was later damaged on its storage, and the relay no longer lets this phone hold that document (a closed round?), so it could not be carried out again; show it to a coordinator / 手机上的文件副本损坏，且中继已不再让本机保留该文件（轮次已结束？），此记录无法重新执行，请交给协调员"
    );
    let at = now.as_millis();
    // The damaged copy leaves the phone, as a withdrawn document does.
    let mut writes: Vec<Write<'_>> = vec![Write::Delete { doc: id }];
    let items = one_per_operation(
        journal
            .into_iter()
            .map(|(hash, entry)| Leaving::new(hash, Vec::new(), Some(entry), DOCUMENT_WITHDRAWN, &reason))
            .collect(),
    );
    for item in &items {
        // Every item here has its journal entry.
        if let Some(entry) = &item.entry {
            writes.extend(item.writes((entry.compound, id), at));
        }
    }
    replica.store_mut().commit(&writes)?;
    replica.peer_states.remove(&id);
    Ok(CarriedOutAgain { set_aside: items.len(), ..CarriedOutAgain::default() })
}

/// Carries out again, on the relay's copy of document `id` now held, the operations journaled
/// in it that the relay does not hold: each once, however many changes it made in the document
/// (a round created offline is its header and its contents), and set aside as one item when it
/// cannot be, as `set_aside_whole` and the refusals do (`set_aside::one_per_operation`).
fn of_document(
    replica: &mut Replica,
    id: DocumentId,
    now: Timestamp,
) -> Result<CarriedOutAgain, ReplicaError> {
    let Some(compound) = replica.compounds.values().find(|c| c.document(id).is_some()) else {
        return Ok(CarriedOutAgain::default());
    };
    let relays = compound.document(id).map(|doc| doc.automerge());
    let held = |hash: &str| {
        hash.parse::<ChangeHash>()
            .is_ok_and(|h| relays.is_some_and(|doc| doc.get_change_by_hash(&h).is_some()))
    };
    let role = replica.role(compound.id());
    // A copy of the compound to carry the operations out on: an operation that also touched
    // another document (which loaded, and holds its part) changes only the copy of that one.
    let mut scratch = compound.clone();
    let mut done = CarriedOutAgain::default();
    let mut rehashed: Vec<(String, String)> = Vec::new();
    let mut forgotten: Vec<String> = Vec::new();
    let mut failed: Vec<(Vec<String>, JournalEntry, String)> = Vec::new();
    for (entry, hashes) in by_operation(replica.store().journal_of(id)?) {
        if hashes.iter().all(|h| held(h)) {
            done.already_held += 1;
            forgotten.extend(hashes);
            continue;
        }
        let Some(role) = role else {
            failed.push((hashes, entry, "this phone no longer has a role in the compound".to_owned()));
            continue;
        };
        let before = scratch.document(id).map(Document::heads).unwrap_or_default();
        match reapply(&mut scratch, id, &entry, role, entry.made_at) {
            Ok(Some(_)) => {
                done.reapplied += 1;
                // The journal follows the changes made again, one for one with those made
                // before; any of those left over are forgotten.
                let again = made_since(&scratch, id, &before);
                let mut old = hashes.into_iter();
                for new in again {
                    match old.next() {
                        Some(old) => rehashed.push((old, new)),
                        None => break,
                    }
                }
                forgotten.extend(old);
            }
            // It changes nothing on the relay's copy (the same edit arrived from elsewhere).
            Ok(None) => forgotten.extend(hashes),
            Err(e) => failed.push((hashes, entry, e.to_string())),
        }
    }
    let at = now.as_millis();
    let items: Vec<Leaving> = failed
        .into_iter()
        .filter_map(|(hashes, entry, e)| {
            let reason = format!(
                "recorded on this phone in a copy of the document that was later damaged on its storage, and could not be carried out again on the relay's copy: {e} / 手机上的文件副本损坏，此记录无法在中继的版本上重新执行"
            );
            let mut hashes = hashes.into_iter();
            let mut item = Leaving::new(hashes.next()?, Vec::new(), Some(entry), NOT_REAPPLIED, &reason);
            item.also = hashes.collect();
            Some(item)
        })
        .collect();
    done.set_aside = items.len();
    let mut writes: Vec<Write<'_>> = Vec::new();
    for item in &items {
        // Every item here has its journal entry.
        if let Some(entry) = &item.entry {
            writes.extend(item.writes((entry.compound, id), at));
        }
    }
    for hash in &forgotten {
        writes.push(Write::JournalForget { hash });
    }
    for (old, new) in &rehashed {
        writes.push(Write::JournalRehash { old, new });
    }
    match scratch.remove(id) {
        Some(carried) if done.reapplied > 0 => replica.replace_document(carried, &writes)?,
        _ => replica.store_mut().commit(&writes)?,
    }
    Ok(done)
}

/// The journal of a document, one operation at a time with the hashes of the changes it made
/// there, in the journal's order.
fn by_operation(journal: Vec<(String, JournalEntry)>) -> Vec<(JournalEntry, Vec<String>)> {
    let mut operations: Vec<(JournalEntry, Vec<String>)> = Vec::new();
    for (hash, entry) in journal {
        match operations.iter_mut().find(|(e, _)| e.id == entry.id) {
            Some((_, hashes)) => hashes.push(hash),
            None => operations.push((entry, vec![hash])),
        }
    }
    operations
}

/// The changes `scratch`'s device made in document `id` since `before`, in order.
fn made_since(scratch: &Compound, id: DocumentId, before: &[ChangeHash]) -> Vec<String> {
    let device = scratch.device();
    scratch.document(id).map_or_else(Vec::new, |doc| {
        doc.automerge()
            .get_changes(before)
            .iter()
            .filter(|c| c.actor_id() == device)
            .map(|c| c.hash().to_string())
            .collect()
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use doorstep_core::id::{CompoundId, PersonId};
    use doorstep_core::{Actor, Compound, Env, Operation, Role};

    use super::*;
    use crate::journal::NewEntry;

    const NOW: i64 = 1_790_000_000_000;

    /// Journals `operation` as having made the changes `hashes` in document `doc`.
    fn journal(
        replica: &mut Replica,
        compound: CompoundId,
        doc: DocumentId,
        operation: &Operation,
        hashes: &[String],
    ) {
        let person = replica.identity().unwrap().person;
        let changes: Vec<(DocumentId, String)> = hashes.iter().map(|h| (doc, h.clone())).collect();
        let entry = NewEntry {
            compound,
            person,
            operation,
            made_at: Timestamp::from_millis(NOW),
            entropy: &[],
            changes: &changes,
        };
        replica.store_mut().commit(&[Write::Journal(entry)]).unwrap();
    }

    /// An operation that made two changes in a damaged document (a round created offline: its
    /// header and its contents) is carried out again once, or set aside as one item, or found
    /// held once: never once per change.
    #[test]
    fn an_operation_of_two_changes_in_a_damaged_copy_is_carried_out_again_or_set_aside_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut replica = Replica::open(dir.path().join("phone.sqlite")).unwrap();
        let person: PersonId = "00000000-0000-7000-8000-000000000001".parse().unwrap();
        replica.set_identity(person).unwrap();
        let mut seed = 7u128;
        let mut entropy = move || {
            seed = seed.wrapping_add(1);
            seed
        };
        let now = Timestamp::from_millis(NOW);
        let created = Compound::create(
            &mut Env::new(now, &mut entropy),
            &Actor { person, role: Role::Admin },
            replica.device_actor().clone(),
            "香樟苑",
        )
        .unwrap();
        let compound = created.id();
        replica.adopt(created, Role::Admin).unwrap();
        // The relay's copy, fetched again after the phone's own did not load.
        let relays = replica.compounds.get(&compound).unwrap().clone();

        let good = Operation::SetUtcOffset { minutes: 480 };
        let doc = replica.apply(now, compound, &good).unwrap().changed[0];
        let (made, _) = replica.store().journal_of(doc).unwrap().remove(0);
        let fake = |c: char| c.to_string().repeat(64);
        // Each operation made two changes there: the relay's copy lacks both of the first two,
        // holds both of the third.
        journal(&mut replica, compound, doc, &good, &[made, fake('b')]);
        let bad = Operation::SetUtcOffset { minutes: 7 };
        journal(&mut replica, compound, doc, &bad, &[fake('c'), fake('d')]);
        let held: Vec<String> = relays
            .document(doc)
            .unwrap()
            .automerge()
            .get_changes(&[])
            .iter()
            .map(|c| c.hash().to_string())
            .collect();
        assert!(held.len() >= 2, "the relay's copy holds two changes to stage with: {held:?}");
        journal(&mut replica, compound, doc, &good, &held[..2]);
        replica.compounds.insert(compound, relays);

        let done = of_document(&mut replica, doc, now).unwrap();
        assert_eq!(done, CarriedOutAgain { reapplied: 1, already_held: 1, set_aside: 1 });
        let kept = replica.quarantine().unwrap();
        assert_eq!(kept.len(), 1, "one item for the operation that could not be: {kept:?}");
        assert_eq!((kept[0].hash.as_str(), kept[0].rule.as_str()), (fake('c').as_str(), NOT_REAPPLIED));
        // What is left in the journal is the operation carried out again, under the change it
        // made on the relay's copy.
        let left = replica.store().journal_of(doc).unwrap();
        assert_eq!(left.len(), 1, "{left:?}");
        assert_eq!(left[0].1.operation, good);
        let ours = replica.compounds.get(&compound).unwrap().document(doc).unwrap();
        assert!(ours.automerge().get_change_by_hash(&left[0].0.parse().unwrap()).is_some());
    }
}
