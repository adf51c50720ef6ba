//! A replica restored from an older copy of its file (a backup put back, a cloned phone) writes
//! under the same Automerge actor as changes the relay already holds, so its next changes reuse
//! sequence numbers the relay has seen with other content. The relay refuses them as
//! `actor_reused`; the replica then takes a new actor and writes its unsynced work again under
//! it, from the operation journal, so nothing is refused or set aside for having been restored.
//!
//! Work the copy took for unsynced may have reached the relay all the same: the original phone
//! synced it after the copy was made. The relay's reply to the refused message shows that: its
//! changes under the old actor depend on the one the copy still holds (`relay_holds`). That
//! work is kept as the relay holds it, under the old actor, and not written again: written
//! again under the new actor it was a second knock at the same door (a false double delivery),
//! a second copy of a resident's request, or an old note spliced into a coordinator's
//! correction.

use std::collections::{BTreeSet, HashSet};

use automerge::{ActorId, ChangeHash};
use doorstep_core::Timestamp;
use doorstep_core::id::DocumentId;

use crate::error::ReplicaError;
use crate::replica::Replica;
use crate::set_aside::{Rebuild, SetAsideOutcome, rebuild};
use crate::store::Write;

/// Why a change that could not be written again under the new actor was set aside.
const CONTEXT: &str =
    "written again under a new actor after this phone was restored from an older copy of its data";

/// Gives the device a new actor and writes every change of the old actor that the relay is not
/// known to have again under it: known to have are the ancestors of `shared_heads(doc)` and of
/// the changes `relay_holds(doc)` names that this device holds too. The old actor's changes
/// known to have reached the relay only that way stay as they are, and leave the journal.
/// Returns the documents rebuilt and what the rebuild did.
pub(crate) fn rotate_device_actor<'a>(
    replica: &mut Replica,
    shared_heads: impl Fn(DocumentId) -> Vec<ChangeHash>,
    relay_holds: impl Fn(DocumentId) -> &'a BTreeSet<ChangeHash>,
    now: Timestamp,
) -> Result<(Vec<DocumentId>, SetAsideOutcome), ReplicaError> {
    let old = replica.device_actor().clone();
    // Which changes are unsynced is read before anything moves: afterwards they are another
    // actor's.
    let mut unsynced: Vec<(DocumentId, Vec<ChangeHash>, HashSet<ChangeHash>)> = Vec::new();
    let mut held: Vec<String> = Vec::new();
    for doc in replica.compounds.values().flat_map(|c| c.documents()) {
        let am = doc.automerge();
        let mut shared = shared_heads(doc.id());
        let believed_unsynced: Vec<ChangeHash> =
            am.get_changes(&shared).iter().filter(|c| c.actor_id() == &old).map(|c| c.hash()).collect();
        if believed_unsynced.is_empty() {
            continue;
        }
        shared.extend(relay_holds(doc.id()).iter().filter(|h| am.get_change_meta_by_hash(h).is_some()));
        let mine: HashSet<ChangeHash> =
            am.get_changes(&shared).iter().filter(|c| c.actor_id() == &old).map(|c| c.hash()).collect();
        held.extend(believed_unsynced.iter().filter(|h| !mine.contains(h)).map(ToString::to_string));
        if !mine.is_empty() {
            unsynced.push((doc.id(), shared, mine));
        }
    }

    let actor: [u8; 16] = rand::random();
    let past = replica.past_actors_write();
    let mut writes = vec![
        Write::Meta { key: "actor", value: &actor },
        Write::Meta { key: crate::past_actors::PAST_ACTORS, value: &past },
    ];
    // The relay holds these: nothing of them is to be carried out again.
    writes.extend(held.iter().map(|hash| Write::JournalForget { hash }));
    replica.store_mut().commit(&writes)?;
    let new = ActorId::from(actor.to_vec());
    replica.set_device_actor(new.clone());

    let mut total = SetAsideOutcome::default();
    let mut rebuilt = Vec::new();
    for (doc, shared, mine) in &unsynced {
        let plan =
            Rebuild { refused: &HashSet::new(), redo: mine, refusal: None, context: CONTEXT, retime: None };
        let outcome = rebuild(replica, *doc, shared, &plan, now)?;
        total.set_aside += outcome.set_aside;
        total.reapplied += outcome.reapplied;
        rebuilt.push(*doc);
    }
    tracing::warn!(
        old = %old,
        new = %new,
        documents = rebuilt.len(),
        rewritten = total.reapplied,
        already_at_the_relay = held.len(),
        set_aside = total.set_aside,
        "the relay holds other changes under this device's actor (restored from an older copy?); \
         unsynced work written again under a new actor"
    );
    Ok((rebuilt, total))
}
