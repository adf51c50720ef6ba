//! A sync the app did not live to finish.
//!
//! A link that drops a request is noticed (`SyncRun::request_failed`): the next requests carry
//! less, ask for small replies, and take the documents held nothing of as copies kept byte by
//! byte across windows (`copy_fetch.rs`). An app killed mid-answer — closed by the volunteer,
//! reclaimed by the phone, its battery gone on the stairs — notices nothing: its next sync asked
//! for the roster whole again, from its first byte, and after five such kills the relay's
//! refetch guard refused the phone for minutes while `tasks` showed none (stop 55's phone
//! finding). So a sync leaves a mark in the replica's file as it begins and takes it away as it
//! returns, whatever it returns; a sync that finds the mark follows a sync that never returned,
//! and takes it as a request the link did not carry — once: the budget goes to half its most,
//! not lower. A kill says nothing of the link, and a phone killed twenty times during a sign-in
//! sat at the smallest budget on a good link for every sync after (stop 56's helper): only
//! requests the link itself drops halve it further.

use crate::error::ReplicaError;
use crate::replica::Replica;
use crate::request_budget;
use crate::store::Write;

/// The meta key present while a sync is under way, and after one the app did not live to end.
const SYNC_UNDER_WAY: &str = "sync_under_way";

impl Replica {
    /// A sync begins: if the last one never returned, the link is taken to have dropped a
    /// request (the budget at most half its most, so replies come small and documents as
    /// copies); then the mark is left for this one. Returns whether the last one never returned.
    pub fn sync_begins(&mut self) -> Result<bool, ReplicaError> {
        let cut_off = self.store().meta(SYNC_UNDER_WAY)?.is_some();
        let budget = self.request_budget.min(request_budget::halved(request_budget::MOST));
        if cut_off && budget != self.request_budget {
            tracing::info!(
                to = budget,
                "the last sync never returned (the app ended mid-sync); fetching as on a link that drops"
            );
            self.request_budget = budget;
            request_budget::keep(self.store_mut(), budget)?;
        } else if !cut_off {
            self.store_mut().commit(&[Write::Meta { key: SYNC_UNDER_WAY, value: b"" }])?;
        }
        Ok(cut_off)
    }

    /// The sync returned, whatever it returned: what it learned of the link is already kept.
    pub fn sync_returned(&mut self) -> Result<(), ReplicaError> {
        self.store_mut().commit(&[Write::DeleteMeta { key: SYNC_UNDER_WAY }])
    }

    /// Whether a sync began and has not returned: one is under way, or the app ended mid-sync.
    /// In the second case the relay's news may not all be here (a first download cut off shows
    /// no tasks): the app says so rather than "all synced", until a sync returns.
    pub fn sync_unfinished(&self) -> Result<bool, ReplicaError> {
        Ok(self.store().meta(SYNC_UNDER_WAY)?.is_some())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_sync_that_never_returned_halves_the_budget_of_the_next_once_and_kills_do_not_compound() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("phone.sqlite");
        {
            let mut replica = Replica::open(&path).unwrap();
            assert!(!replica.sync_begins().unwrap());
            assert!(replica.sync_unfinished().unwrap(), "under way");
            replica.sync_returned().unwrap();
            assert!(!replica.sync_unfinished().unwrap(), "returned");
            assert!(!replica.sync_begins().unwrap(), "a sync that returned leaves no mark");
            assert_eq!(replica.reply_budget(), None, "a link that carried everything asks no bound");
            // The app ends here, mid-sync.
        }
        let mut replica = Replica::open(&path).unwrap();
        assert!(replica.sync_unfinished().unwrap(), "the app ended mid-sync");
        assert!(replica.sync_begins().unwrap());
        assert_eq!(replica.request_budget(), request_budget::halved(request_budget::MOST));
        assert!(replica.reply_budget().is_some(), "replies come small, documents as copies");
        replica.sync_returned().unwrap();
        drop(replica);
        let mut replica = Replica::open(&path).unwrap();
        assert_eq!(replica.request_budget(), request_budget::halved(request_budget::MOST), "kept");
        assert!(!replica.sync_begins().unwrap(), "halved once, not at every open");
        // Killed again and again: the budget stays at half its most.
        for _ in 0..5 {
            drop(replica);
            replica = Replica::open(&path).unwrap();
            assert!(replica.sync_begins().unwrap());
        }
        assert_eq!(replica.request_budget(), request_budget::halved(request_budget::MOST));
    }
}
