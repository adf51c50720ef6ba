//! Answering a message once its batch is in: receiving its heads, needs and bloom filter and
//! generating the reply.

use automerge::Automerge;
use automerge::sync::Message;

use super::rejection::{self, reject};
use super::take::Taken;
use crate::id::DocumentId;
use crate::sync::{self, PeerState, Rejection, SavedOnce, UntakenChanges};

/// Receives a taken message's heads, needs and bloom filter into `state` and generates the
/// reply. [`read`](super::read) checked them, so a failure here (Automerge's panics are
/// contained) means a shape the check does not know: a message that brought nothing is then
/// refused as malformed; one whose changes were applied (valid, and about to be stored) is
/// answered from a fresh state. A phone that should get the whole document gets `saved`'s copy,
/// saved at most once for every answer from this state of `doc` (`sync::generate_sharing`).
pub fn answer(
    doc: &mut Automerge,
    id: DocumentId,
    state: &mut PeerState,
    taken: Taken,
    saved: &SavedOnce<'_>,
) -> Result<Option<Vec<u8>>, Rejection> {
    let nothing_taken = !taken.changed && taken.bindings.is_empty();
    state.saw_untaken(taken.untaken);
    // A phone that announced exactly our heads and needs nothing gets no reply for the
    // document: on a reconnect with nothing new, that is most of the response's bytes.
    let protocol = sync::receive(doc, state, taken.message).and_then(|()| {
        if state.in_step_with(doc) { Ok(None) } else { sync::try_generate_sharing(doc, state, saved) }
    });
    match protocol {
        Ok(reply) => Ok(reply),
        Err(e) if nothing_taken => {
            let reason = format!("the sync message for document {id} was refused: {e}");
            Err(reject(id, rejection::MALFORMED, None, reason))
        }
        Err(e) => {
            tracing::warn!(doc = %id, error = %e, "sync message state not applied; starting afresh");
            *state = state.afresh();
            Ok(sync::try_generate_sharing(doc, state, saved).ok().flatten())
        }
    }
}

/// The reply to a turned message: its heads and bloom filter received into `fresh`, a state
/// that knows nothing of the peer's copy but still says how replies reach it (compressed, within
/// the budget its link asked for: [`PeerState::afresh`]); the changes were stripped, so `doc`
/// does not change. A reply generated from there, what the phone holds read through the changes
/// it sent that were `untaken` (`sync/untaken_changes.rs`), so everyone else's news reaches it
/// whole and not as its Bloom filter guesses.
pub fn answer_turned(
    doc: &mut Automerge,
    message: Option<Message>,
    untaken: UntakenChanges,
    mut fresh: PeerState,
    saved: &SavedOnce<'_>,
) -> Option<Vec<u8>> {
    let message = message?;
    fresh.saw_untaken(untaken);
    sync::receive(doc, &mut fresh, message)
        .and_then(|()| sync::try_generate_sharing(doc, &mut fresh, saved))
        .ok()
        .flatten()
}
