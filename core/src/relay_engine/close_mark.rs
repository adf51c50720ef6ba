//! The relay marks where it took a round's close: when a batch brings a change that closes a
//! round and leaves the round with more than one head, the relay adds one empty change of its
//! own that depends on every head, in the same chunk as the batch.
//!
//! A late attempt is one that reached the relay after the close ([`late_in_round`]). A close
//! written on the relay (the dashboard) depends on everything the relay held, so its place in
//! history says what was there. A close made on a phone that had not synced for hours does not:
//! knocks that reached the relay in between are not in its history, yet they came before it.
//! The mark is the relay's own record of what it held when it took the close, and
//! [`late_in_round`] counts from it. With one head, the closing write (or a change after it in
//! the same batch) already depends on everything the relay held, and nothing is added.
//!
//! The change has the shape of the relay's mend of many heads (`heads_mend.rs`): Automerge's
//! merge commit, no operation and no message, under the relay's admin's actor; the validator
//! and the phones take it, and nothing any reader sees changes but which attempts are late.
//!
//! [`late_in_round`]: crate::query::late_in_round

use automerge::{ActorId, Automerge, ChangeHash};

use crate::document::Header;
use crate::query::late::closing_changes;
use crate::schema::vocabulary::DocKind;

/// The merge change added to `doc` if `added` (the changes a batch just took) holds a write that
/// closed the round and the round now has more than one head: one change under `actor` that
/// depends on every head. Returns its hash and bytes; `None` when there is nothing to mark.
pub fn mark_close(
    doc: &mut Automerge,
    header: &Header,
    added: &[ChangeHash],
    actor: &ActorId,
) -> Option<(ChangeHash, Vec<u8>)> {
    if header.kind != DocKind::Round || added.is_empty() {
        return None;
    }
    if !closing_changes(doc).iter().any(|close| added.contains(close)) {
        return None;
    }
    super::heads_mend::mend_heads(doc, actor, 1)
}
