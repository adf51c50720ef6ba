//! One sync with the relay, driven by a transport: [`SyncRun::next_request`] gives the bytes to
//! POST, [`SyncRun::handle_response`] takes the bytes that came back. State is persisted after
//! every response, so a run cut off half-way (no signal, app killed) costs nothing but a retry.

use automerge::ChangeHash;
use doorstep_core::Compound;
use doorstep_core::document::Document;
use doorstep_core::id::DocumentId;
use doorstep_core::sync::{ClientSession, PeerState, Rejection, SyncResponse};
use doorstep_core::{Role, Timestamp};
use serde::Serialize;

use crate::error::ReplicaError;
use crate::replica::Replica;
use crate::store::Write;

/// Most requests one run makes before it stops (a normal backlog needs two).
const MAX_REQUESTS: u32 = 16;

/// What a sync run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncReport {
    /// Requests sent.
    pub requests: u32,
    /// Request bytes sent.
    pub bytes_up: usize,
    /// Response bytes received.
    pub bytes_down: usize,
    /// Documents that changed on this device.
    pub changed: Vec<DocumentId>,
    /// Documents that arrived.
    pub fetched: Vec<DocumentId>,
    /// Documents dropped (closed rounds, revoked compounds).
    pub dropped: Vec<DocumentId>,
    /// What the relay refused (now in quarantine).
    pub rejected: Vec<Rejection>,
    /// Replies that could not be applied.
    pub failed: Vec<String>,
}

/// A sync in progress.
#[derive(Debug)]
pub struct SyncRun {
    session: ClientSession,
    report: SyncReport,
}

impl Replica {
    /// Starts a sync run from the persisted sync states.
    pub fn start_sync(&self) -> SyncRun {
        // Each run starts from what persisting keeps (the shared heads). The in-memory states
        // still carry the last run's sent-message bookkeeping, with which Automerge stays silent
        // about documents it believes in sync, and the relay's newer changes would never be asked
        // for until the app restarted.
        let states = self
            .peer_states
            .iter()
            .map(|(id, state)| (*id, PeerState::decode(&state.encode()).unwrap_or_default()))
            .collect();
        SyncRun { session: ClientSession::new(states), report: SyncReport::default() }
    }
}

impl SyncRun {
    /// The next request's bytes (CBOR `SyncRequest`), or `None` when in sync.
    pub fn next_request(&mut self, replica: &Replica) -> Option<Vec<u8>> {
        if self.session.requests_made() >= MAX_REQUESTS {
            tracing::warn!(requests = MAX_REQUESTS, "sync run stopped after too many requests");
            return None;
        }
        let request = self.session.request(&replica.compounds)?;
        let bytes = request.encode();
        self.report.requests += 1;
        self.report.bytes_up += bytes.len();
        Some(bytes)
    }

    /// Applies the relay's response bytes and persists everything it changed.
    pub fn handle_response(
        &mut self,
        replica: &mut Replica,
        bytes: &[u8],
        now: Timestamp,
    ) -> Result<(), ReplicaError> {
        self.report.bytes_down += bytes.len();
        let response = SyncResponse::decode(bytes)?;
        let outcome = self.session.handle(&mut replica.compounds, response);

        // Content that arrived.
        for id in &outcome.changed {
            if let Some(compound) =
                replica.compounds.values().find(|c| c.document(*id).is_some()).map(Compound::id)
            {
                replica.persist(compound, &[*id])?;
            }
        }
        self.report.changed.extend(&outcome.changed);
        self.report.failed.extend(outcome.failed.iter().map(|(id, e)| format!("{id}: {e}")));

        // Roles and new documents.
        let mut role_writes = Vec::new();
        for grant in &outcome.grants {
            if replica.role(grant.header.compound) != Some(grant.role) {
                role_writes.push((grant.header.compound, grant.role));
            }
        }
        for (compound, role) in role_writes {
            replica.store_mut().commit(&[Write::Role { compound, role: role.as_str() }])?;
            replica.set_role(compound, Some(role));
        }
        for header in &outcome.to_fetch {
            let device = replica.device_actor().clone();
            replica
                .compounds
                .entry(header.compound)
                .or_insert_with(|| Compound::new(header.compound, device.clone()))
                .insert(Document::placeholder(*header, device));
            self.report.fetched.push(header.id);
        }

        // Refused changes leave the document and wait in quarantine, before any document is
        // dropped: a change refused because its round closed must still reach quarantine.
        for rejection in &outcome.rejected {
            quarantine(replica, &mut self.session, rejection, now)?;
        }
        self.report.rejected.extend(outcome.rejected);

        // Documents no longer granted. Local changes the relay never received (an attempt made
        // offline on a round closed meanwhile) are kept in quarantine, not dropped with it.
        for id in &outcome.to_drop {
            let Some(compound) =
                replica.compounds.values().find(|c| c.document(*id).is_some()).map(Compound::id)
            else {
                continue;
            };
            withhold_unsynced(replica, *id, now)?;
            replica.store_mut().commit(&[Write::Delete { doc: *id }])?;
            replica.forget_saved(*id);
            replica.peer_states.remove(id);
            let now_empty = replica.compounds.get_mut(&compound).is_some_and(|c| {
                c.remove(*id);
                c.documents().next().is_none()
            });
            if now_empty {
                replica.compounds.remove(&compound);
                replica.store_mut().commit(&[Write::DeleteRole { compound }])?;
                replica.set_role(compound, None::<Role>);
            }
            self.report.dropped.push(*id);
        }

        // Sync states, so the next run (or a retry) starts from here.
        let states: Vec<(DocumentId, Vec<u8>)> =
            self.session.states().iter().map(|(id, s)| (*id, s.encode())).collect();
        let writes: Vec<Write<'_>> =
            states.iter().map(|(doc, state)| Write::PeerState { doc: *doc, state }).collect();
        replica.store_mut().commit(&writes)?;
        for (id, state) in self.session.states() {
            replica.peer_states.insert(*id, state.clone());
        }
        Ok(())
    }

    /// Ends a run that reached quiescence: records the sync time.
    pub fn finish(self, replica: &mut Replica, now: Timestamp) -> Result<SyncReport, ReplicaError> {
        replica.set_last_sync(now)?;
        Ok(self.report)
    }

    /// The report so far.
    pub fn report(&self) -> &SyncReport {
        &self.report
    }
}

/// Keeps this device's changes to `doc` that the relay is not known to have in quarantine,
/// before the document leaves the device.
fn withhold_unsynced(replica: &mut Replica, doc: DocumentId, now: Timestamp) -> Result<(), ReplicaError> {
    let device = replica.device_actor().clone();
    let shared: Vec<ChangeHash> =
        replica.peer_states.get(&doc).map(|s| s.shared_heads().to_vec()).unwrap_or_default();
    let Some(document) = replica.compounds.values().find_map(|c| c.document(doc)) else { return Ok(()) };
    let kind = document.kind();
    let unsynced: Vec<(String, Vec<u8>)> = document
        .automerge()
        .get_changes(&shared)
        .iter()
        .filter(|c| c.actor_id() == &device)
        .map(|c| (c.hash().to_string(), c.raw_bytes().to_vec()))
        .collect();
    if unsynced.is_empty() {
        return Ok(());
    }
    let reason = format!(
        "the relay no longer lets this device hold {kind} {doc} (a closed round or a revoked membership), so these changes could not be synced; show them to a coordinator"
    );
    let writes: Vec<Write<'_>> = unsynced
        .iter()
        .map(|(hash, bytes)| Write::Quarantine {
            hash,
            doc,
            rule: "document_withdrawn",
            reason: &reason,
            bytes,
            at: now.as_millis(),
        })
        .collect();
    replica.store_mut().commit(&writes)?;
    tracing::warn!(%doc, changes = unsynced.len(), "unsynced changes of a withdrawn document moved to quarantine");
    Ok(())
}

/// Moves the refused change (and the local changes that build on it) out of the document into
/// the quarantine table, so the rest of the document's queue syncs.
fn quarantine(
    replica: &mut Replica,
    session: &mut ClientSession,
    rejection: &Rejection,
    now: Timestamp,
) -> Result<(), ReplicaError> {
    let device = replica.device_actor().clone();
    let shared: Vec<ChangeHash> =
        session.states().get(&rejection.doc).map(|s| s.shared_heads().to_vec()).unwrap_or_default();
    let Some(compound) = replica.compounds.values_mut().find(|c| c.document(rejection.doc).is_some()) else {
        return Ok(());
    };
    let Some(doc) = compound.document_mut(rejection.doc) else { return Ok(()) };
    let bad: Option<ChangeHash> = rejection.change.as_deref().and_then(|h| h.parse().ok());
    let local = doc.automerge().get_changes(&shared);
    // The refused change and everything of ours after it that depends on it.
    let mut removed: std::collections::HashSet<ChangeHash> = std::collections::HashSet::new();
    for change in &local {
        let refused = match bad {
            Some(h) => change.hash() == h,
            None => change.actor_id() == &device,
        };
        if refused || change.deps().iter().any(|d| removed.contains(d)) {
            removed.insert(change.hash());
        }
    }
    if removed.is_empty() {
        return Ok(());
    }
    let mut rebuilt = doc
        .automerge()
        .fork_at(&shared)
        .map_err(|e| ReplicaError::Sync(doorstep_core::sync::SyncError::Rejected(e.to_string())))?
        .with_actor(device);
    let kept: Vec<automerge::Change> =
        local.iter().filter(|c| !removed.contains(&c.hash())).cloned().collect();
    rebuilt
        .apply_changes(kept)
        .map_err(|e| ReplicaError::Sync(doorstep_core::sync::SyncError::Rejected(e.to_string())))?;
    let header = *doc.header();
    let mut writes_bytes = Vec::new();
    for change in local.iter().filter(|c| removed.contains(&c.hash())) {
        writes_bytes.push((change.hash().to_string(), change.raw_bytes().to_vec()));
    }
    *doc.automerge_mut() = rebuilt;
    let writes: Vec<Write<'_>> = writes_bytes
        .iter()
        .map(|(hash, bytes)| Write::Quarantine {
            hash,
            doc: header.id,
            rule: &rejection.rule,
            reason: &rejection.reason,
            bytes,
            at: now.as_millis(),
        })
        .collect();
    replica.store_mut().commit(&writes)?;
    replica.rewrite(header)?;
    session.reset(header.id, PeerState::new());
    tracing::warn!(doc = %header.id, changes = writes_bytes.len(), rule = %rejection.rule, "changes refused by the relay moved to quarantine");
    Ok(())
}
