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
use doorstep_core::id::DocumentId;

use crate::error::ReplicaError;
use crate::replica::Replica;
use crate::set_aside::{
    DOCUMENT_WITHDRAWN, Leaving, NOT_REAPPLIED, one_per_operation, reapply, set_aside_writes,
};
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
    let journal = replica.store().journal_of(id)?;
    let mut done = CarriedOutAgain::default();
    let mut rehashed: Vec<(String, String)> = Vec::new();
    let mut forgotten: Vec<String> = Vec::new();
    let mut failed: Vec<(String, crate::journal::JournalEntry, String)> = Vec::new();
    for (hash, entry) in journal {
        if held(&hash) {
            done.already_held += 1;
            forgotten.push(hash);
            continue;
        }
        let Some(role) = role else {
            failed.push((hash, entry, "this phone no longer has a role in the compound".to_owned()));
            continue;
        };
        match reapply(&mut scratch, id, &entry, role, entry.made_at) {
            Ok(Some(new)) => {
                done.reapplied += 1;
                rehashed.push((hash, new.to_string()));
            }
            // It changes nothing on the relay's copy (the same edit arrived from elsewhere).
            Ok(None) => forgotten.push(hash),
            Err(e) => failed.push((hash, entry, e.to_string())),
        }
    }
    done.set_aside = failed.len();
    let at = now.as_millis();
    let reasons: Vec<String> = failed
        .iter()
        .map(|(_, _, e)| {
            format!(
                "recorded on this phone in a copy of the document that was later damaged on its storage, and could not be carried out again on the relay's copy: {e} / 手机上的文件副本损坏，此记录无法在中继的版本上重新执行"
            )
        })
        .collect();
    let mut writes: Vec<Write<'_>> = Vec::new();
    for ((hash, entry, _), reason) in failed.iter().zip(&reasons) {
        writes.extend(set_aside_writes(
            hash,
            (entry.compound, id),
            (NOT_REAPPLIED, reason),
            &[],
            Some(entry),
            at,
        ));
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
