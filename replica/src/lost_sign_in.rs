//! A sign-in the relay no longer knows: the relay answered this device's token with 401
//! `unauthorized` (not `token_revoked`), as a relay restored from a backup older than the join,
//! or a new relay database at the same address, does. Nothing this phone holds can go up under
//! that token again, so waiting for a sync before the next join would wait forever: the phone
//! remembers the answer, lets a join with a new invite code go ahead, and when that join is
//! another person's, sets the earlier person's unsynced work aside first, for the coordinators'
//! review inbox (and `quarantine --export`), instead of stranding or dropping it.

use std::collections::HashSet;

use automerge::ChangeHash;
use doorstep_core::Timestamp;
use doorstep_core::id::DocumentId;
use doorstep_core::sync::Rejection;

use crate::error::ReplicaError;
use crate::replica::Replica;
use crate::set_aside::{Rebuild, rebuild};
use crate::store::Write;

/// The meta key kept while the relay's last word on this device's token was "unknown".
pub(crate) const SIGN_IN_UNKNOWN: &str = "sign_in_unknown";

/// The rule code of work set aside because the relay no longer knew its author's sign-in.
pub const SIGN_IN_LOST: &str = "sign_in_lost";

impl Replica {
    /// Remembers that the relay answered this device's token as unknown (401 `unauthorized`):
    /// the next join with a new invite code may go ahead although work is unsynced
    /// ([`Replica::check_hand_over`]). Forgotten when someone signs in or joins, or the relay
    /// or token changes.
    pub fn note_sign_in_unknown(&mut self) -> Result<(), ReplicaError> {
        if self.person.is_none() || self.sign_in_unknown()? {
            return Ok(());
        }
        self.store_mut().commit(&[Write::Meta { key: SIGN_IN_UNKNOWN, value: b"1" }])
    }

    /// Whether `token` at the relay at `url` is the sign-in this phone holds (someone signed
    /// in, and that relay and token remembered by [`Replica::remember_relay`]): only then does
    /// the relay's "unknown" answer to it speak of this phone's sign-in. Another token (one
    /// mistyped or cut short at `login`, or another person's) the relay does not know is that
    /// token's fault, and leaves the phone as it was.
    pub fn is_own_sign_in(&self, url: &str, token: &str) -> Result<bool, ReplicaError> {
        if self.person.is_none() {
            return Ok(false);
        }
        let bare = |u: &str| u.trim_end_matches('/').to_owned();
        Ok(self.remembered_relay()?.is_some_and(|(u, t)| bare(&u) == bare(url) && t == token))
    }

    /// Whether the relay's last word on this device's token was that it does not know it.
    pub fn sign_in_unknown(&self) -> Result<bool, ReplicaError> {
        Ok(self.store().meta(SIGN_IN_UNKNOWN)?.is_some_and(|v| !v.is_empty()))
    }

    /// Sets aside every change of this device the relay is not known to have, with rule
    /// [`SIGN_IN_LOST`]: before another person signs in on a phone whose sign-in the relay no
    /// longer knows. Each keeps its operation (and its author) for the review inbox and for
    /// export. Returns how many were set aside.
    pub fn set_aside_after_lost_sign_in(&mut self, now: Timestamp) -> Result<usize, ReplicaError> {
        let device = self.device_actor().clone();
        let mut unsynced: Vec<(DocumentId, Vec<ChangeHash>, HashSet<ChangeHash>)> = Vec::new();
        for doc in self.compounds.values().flat_map(|c| c.documents()) {
            let shared =
                self.peer_states.get(&doc.id()).map(|s| s.shared_heads().to_vec()).unwrap_or_default();
            let mine: HashSet<ChangeHash> = doc
                .automerge()
                .get_changes(&shared)
                .iter()
                .filter(|c| c.actor_id() == &device)
                .map(|c| c.hash())
                .collect();
            if !mine.is_empty() {
                unsynced.push((doc.id(), shared, mine));
            }
        }
        let who = match self.person_name()? {
            Some(name) if !name.is_empty() => name,
            _ => self.person.map(|p| p.to_string()).unwrap_or_default(),
        };
        let reason = format!(
            "recorded on this phone by {who}, whose sign-in the relay no longer knew (restored from a backup, or a new relay), before another invite code was used here; sent by the person who joined next / {who} 在本机记录的工作：中继已不认识其登录，换新邀请码加入前未能同步，由之后加入的人提交"
        );
        let mut total = 0;
        for (doc, shared, mine) in &unsynced {
            let refusal = Rejection {
                doc: *doc,
                change: None,
                rule: SIGN_IN_LOST.to_owned(),
                reason: reason.clone(),
                taken: Vec::new(),
            };
            let plan = Rebuild {
                refused: mine,
                redo: &HashSet::new(),
                refusal: Some(&refusal),
                context: "made before the sign-in was lost",
                retime: None,
            };
            total += rebuild(self, *doc, shared, &plan, now)?.set_aside;
        }
        if total > 0 {
            tracing::warn!(
                changes = total,
                "the relay no longer knew the sign-in; unsynced work set aside for review"
            );
        }
        Ok(total)
    }
}
