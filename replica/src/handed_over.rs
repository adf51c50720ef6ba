//! The compounds a phone held for the person signed in before a hand-over (another person's
//! token, or a join as someone new). The first sync after it drops those the new person is no
//! member of: that is not a removal of the new person, who never joined them, so the phone does
//! not say "removed from …" for them. The list is kept until a sync completes, as the one
//! after the hand-over may be cut off and finished by a later `sync`.

use std::collections::HashSet;

use doorstep_core::id::CompoundId;

use crate::error::ReplicaError;
use crate::replica::Replica;
use crate::store::Write;

/// The meta key: the compounds' IDs, one a line.
pub(crate) const HANDED_OVER: &str = "handed_over";

/// The list as stored.
pub(crate) fn encode(compounds: impl Iterator<Item = CompoundId>) -> Vec<u8> {
    compounds.map(|c| c.to_string()).collect::<Vec<_>>().join("\n").into_bytes()
}

impl Replica {
    /// The compounds held for the person signed in before the last hand-over, until a sync
    /// completed after it.
    pub(crate) fn handed_over(&self) -> Result<HashSet<CompoundId>, ReplicaError> {
        Ok(self
            .store()
            .meta(HANDED_OVER)?
            .map(|b| String::from_utf8_lossy(&b).lines().filter_map(|l| l.parse().ok()).collect())
            .unwrap_or_default())
    }

    /// Forgets the list once a sync completed: from then on a compound dropped is a removal.
    pub(crate) fn forget_handed_over(&mut self) -> Result<(), ReplicaError> {
        if self.store().meta(HANDED_OVER)?.is_none() {
            return Ok(());
        }
        self.store_mut().commit(&[Write::DeleteMeta { key: HANDED_OVER }])
    }
}
