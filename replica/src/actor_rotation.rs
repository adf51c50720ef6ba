//! A replica restored from an older copy of its file (a backup put back, a cloned phone) writes
//! under the same Automerge actor as changes the relay already holds, so its next changes reuse
//! sequence numbers the relay has seen with other content. The relay refuses them as
//! `actor_reused`; the replica then takes a new actor and writes its unsynced work again under
//! it, from the operation journal, so nothing is refused or set aside for having been restored.

use std::collections::HashSet;

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
/// known to have (`shared_heads(doc)`) again under it. Returns the documents rebuilt and what
/// the rebuild did.
pub(crate) fn rotate_device_actor(
    replica: &mut Replica,
    shared_heads: impl Fn(DocumentId) -> Vec<ChangeHash>,
    now: Timestamp,
) -> Result<(Vec<DocumentId>, SetAsideOutcome), ReplicaError> {
    let old = replica.device_actor().clone();
    // Which changes are unsynced is read before anything moves: afterwards they are another
    // actor's.
    let mut unsynced: Vec<(DocumentId, Vec<ChangeHash>, HashSet<ChangeHash>)> = Vec::new();
    for doc in replica.compounds.values().flat_map(|c| c.documents()) {
        let shared = shared_heads(doc.id());
        let mine: HashSet<ChangeHash> = doc
            .automerge()
            .get_changes(&shared)
            .iter()
            .filter(|c| c.actor_id() == &old)
            .map(|c| c.hash())
            .collect();
        if !mine.is_empty() {
            unsynced.push((doc.id(), shared, mine));
        }
    }

    let actor: [u8; 16] = rand::random();
    let past = replica.past_actors_write();
    replica.store_mut().commit(&[
        Write::Meta { key: "actor", value: &actor },
        Write::Meta { key: crate::past_actors::PAST_ACTORS, value: &past },
    ])?;
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
        set_aside = total.set_aside,
        "the relay holds other changes under this device's actor (restored from an older copy?); \
         unsynced work written again under a new actor"
    );
    Ok((rebuilt, total))
}
