//! A [`Storage`] that announces every committed document change on [`Events`]. Everything else
//! passes straight through to the store it wraps.

use std::sync::Arc;

use doorstep_core::Role;
use doorstep_core::Timestamp;
use doorstep_core::id::{CompoundId, DocumentId, PersonId};
use doorstep_core::schema::vocabulary::DocKind;

use super::{DocChanged, Events};
use crate::devices_seen::Seen;
use crate::storage::{
    ActorBinding, Catchup, Committed, CompoundRecord, DeviceId, DocCommit, DocumentRecord, HeldRequest,
    Joined, Member, MemberDevice, Membership, NewInvite, NewPerson, NewPiece, NewSetAside, PieceKept,
    Redemption, SecretHash, SetAsideDecided, SetAsideRecord, ShareRefused, Storage, StoreFuture,
    StoredDocument, SyncStateWrite, TokenStatus, WipeHeard, Wiped, WriteTurn,
};

impl Events {
    /// Wraps `storage` so that each commit carrying changes is announced once it is durable.
    pub fn announcing(&self, storage: Arc<dyn Storage>) -> Arc<dyn Storage> {
        Arc::new(Announcing { inner: storage, events: self.clone() })
    }
}

#[derive(Debug)]
struct Announcing {
    inner: Arc<dyn Storage>,
    events: Events,
}

impl Storage for Announcing {
    fn commit(&self, commit: DocCommit) -> StoreFuture<'_, Committed> {
        // A commit may carry only a sync state or actor bindings; those change no document.
        let change = (!commit.chunk.is_empty() || commit.create.is_some()).then_some(DocChanged {
            compound: commit.record.header.compound,
            doc: commit.record.header.id,
            kind: commit.record.header.kind,
        });
        Box::pin(async move {
            let committed = self.inner.commit(commit).await?;
            if let Some(change) = change {
                self.events.publish(change);
            }
            Ok(committed)
        })
    }

    fn create_person(&self, person: NewPerson, at: Timestamp) -> StoreFuture<'_, ()> {
        self.inner.create_person(person, at)
    }

    fn district_admins(&self) -> StoreFuture<'_, Vec<PersonId>> {
        self.inner.district_admins()
    }

    fn first_district_admin(
        &self,
        first: NewPerson,
        token_hash: SecretHash,
        at: Timestamp,
    ) -> StoreFuture<'_, (PersonId, bool)> {
        self.inner.first_district_admin(first, token_hash, at)
    }

    fn create_device(
        &self,
        person: PersonId,
        name: String,
        token_hash: SecretHash,
        at: Timestamp,
    ) -> StoreFuture<'_, DeviceId> {
        self.inner.create_device(person, name, token_hash, at)
    }

    fn authenticate(&self, token_hash: SecretHash) -> StoreFuture<'_, TokenStatus> {
        self.inner.authenticate(token_hash)
    }

    fn revoke_devices(&self, person: PersonId, at: Timestamp) -> StoreFuture<'_, usize> {
        self.inner.revoke_devices(person, at)
    }

    fn revoke_device(&self, person: PersonId, device: DeviceId, at: Timestamp) -> StoreFuture<'_, bool> {
        self.inner.revoke_device(person, device, at)
    }

    fn record_wipe(&self, token_hash: SecretHash, wiped: Wiped) -> StoreFuture<'_, WipeHeard> {
        self.inner.record_wipe(token_hash, wiped)
    }

    fn held_request(&self, device: DeviceId) -> StoreFuture<'_, Option<HeldRequest>> {
        self.inner.held_request(device)
    }

    fn hold_piece(
        &self,
        piece: NewPiece,
    ) -> StoreFuture<'_, Result<PieceKept, crate::held_requests::PieceRefused>> {
        self.inner.hold_piece(piece)
    }

    fn held_request_bytes(&self, device: DeviceId, digest: String) -> StoreFuture<'_, Option<Vec<u8>>> {
        self.inner.held_request_bytes(device, digest)
    }

    fn settle_held_request(
        &self,
        device: DeviceId,
        digest: String,
        taken: bool,
        at: Timestamp,
    ) -> StoreFuture<'_, u64> {
        self.inner.settle_held_request(device, digest, taken, at)
    }

    fn memberships(&self, person: PersonId) -> StoreFuture<'_, Vec<Membership>> {
        self.inner.memberships(person)
    }

    fn members(&self, compound: CompoundId) -> StoreFuture<'_, Vec<Member>> {
        self.inner.members(compound)
    }

    fn member_devices(&self, compound: CompoundId) -> StoreFuture<'_, Vec<MemberDevice>> {
        self.inner.member_devices(compound)
    }

    fn record_devices_seen(&self, seen: Vec<(DeviceId, Seen)>) -> StoreFuture<'_, ()> {
        self.inner.record_devices_seen(seen)
    }

    fn record_share_refusal(
        &self,
        person: PersonId,
        compound: CompoundId,
        document: DocumentId,
        kind: DocKind,
        at: Timestamp,
    ) -> StoreFuture<'_, ()> {
        self.inner.record_share_refusal(person, compound, document, kind, at)
    }

    fn share_refusals(&self, compound: CompoundId) -> StoreFuture<'_, Vec<(PersonId, ShareRefused)>> {
        self.inner.share_refusals(compound)
    }

    fn set_membership(
        &self,
        person: PersonId,
        compound: CompoundId,
        role: Role,
        at: Timestamp,
    ) -> StoreFuture<'_, ()> {
        self.inner.set_membership(person, compound, role, at)
    }

    fn revoke_membership(
        &self,
        person: PersonId,
        compound: CompoundId,
        at: Timestamp,
    ) -> StoreFuture<'_, bool> {
        self.inner.revoke_membership(person, compound, at)
    }

    fn create_invite(&self, invite: NewInvite) -> StoreFuture<'_, ()> {
        self.inner.create_invite(invite)
    }

    fn redeem_invite(&self, redemption: Redemption) -> StoreFuture<'_, Joined> {
        self.inner.redeem_invite(redemption)
    }

    fn actor_owner(&self, actor: String) -> StoreFuture<'_, Option<PersonId>> {
        self.inner.actor_owner(actor)
    }

    fn bind_actor(&self, binding: ActorBinding, at: Timestamp) -> StoreFuture<'_, ()> {
        self.inner.bind_actor(binding, at)
    }

    fn create_compound(
        &self,
        compound: CompoundRecord,
        documents: Vec<(DocumentRecord, Vec<u8>)>,
        members: Vec<(PersonId, Role)>,
    ) -> StoreFuture<'_, ()> {
        self.inner.create_compound(compound, documents, members)
    }

    fn compounds(&self) -> StoreFuture<'_, Vec<CompoundRecord>> {
        self.inner.compounds()
    }

    fn compound(&self, id: CompoundId) -> StoreFuture<'_, Option<CompoundRecord>> {
        self.inner.compound(id)
    }

    fn documents_of(&self, compounds: Vec<CompoundId>) -> StoreFuture<'_, Vec<DocumentRecord>> {
        self.inner.documents_of(compounds)
    }

    fn document(&self, id: DocumentId) -> StoreFuture<'_, Option<DocumentRecord>> {
        self.inner.document(id)
    }

    fn load_document(&self, id: DocumentId) -> StoreFuture<'_, Option<StoredDocument>> {
        self.inner.load_document(id)
    }

    fn changes_since(&self, id: DocumentId, seq: i64) -> StoreFuture<'_, Catchup> {
        self.inner.changes_since(id, seq)
    }

    fn compact(&self, id: DocumentId, snapshot: Vec<u8>, through_seq: i64) -> StoreFuture<'_, bool> {
        self.inner.compact(id, snapshot, through_seq)
    }

    fn settle_open(&self, id: DocumentId, open: bool, seen_seq: i64) -> StoreFuture<'_, bool> {
        self.inner.settle_open(id, open, seen_seq)
    }

    fn write_turn(&self, compound: CompoundId) -> StoreFuture<'_, Option<Box<dyn WriteTurn>>> {
        self.inner.write_turn(compound)
    }

    fn sync_state(&self, device: DeviceId, doc: DocumentId) -> StoreFuture<'_, Option<Vec<u8>>> {
        self.inner.sync_state(device, doc)
    }

    fn put_sync_states(&self, states: Vec<SyncStateWrite>, at: Timestamp) -> StoreFuture<'_, ()> {
        self.inner.put_sync_states(states, at)
    }

    fn open_session(
        &self,
        session: crate::storage::DashboardSession,
        max_per_person: usize,
    ) -> StoreFuture<'_, ()> {
        self.inner.open_session(session, max_per_person)
    }

    fn session(
        &self,
        secret_hash: SecretHash,
        now: Timestamp,
    ) -> StoreFuture<'_, Option<crate::storage::DashboardSession>> {
        self.inner.session(secret_hash, now)
    }

    fn close_session(&self, secret_hash: SecretHash) -> StoreFuture<'_, ()> {
        self.inner.close_session(secret_hash)
    }

    fn put_set_aside(&self, items: Vec<NewSetAside>) -> StoreFuture<'_, ()> {
        self.inner.put_set_aside(items)
    }

    fn set_aside_of(&self, compound: CompoundId, limit: usize) -> StoreFuture<'_, Vec<SetAsideRecord>> {
        self.inner.set_aside_of(compound, limit)
    }

    fn set_aside_waiting(&self, device: DeviceId) -> StoreFuture<'_, usize> {
        self.inner.set_aside_waiting(device)
    }

    fn set_aside_item(&self, id: i64) -> StoreFuture<'_, Option<SetAsideRecord>> {
        self.inner.set_aside_item(id)
    }

    fn decide_set_aside(&self, id: i64, decided: SetAsideDecided) -> StoreFuture<'_, bool> {
        self.inner.decide_set_aside(id, decided)
    }

    fn set_aside_outcomes(
        &self,
        person: PersonId,
        hashes: Vec<String>,
    ) -> StoreFuture<'_, Vec<SetAsideRecord>> {
        self.inner.set_aside_outcomes(person, hashes)
    }

    fn remote_changes(&self) -> Option<tokio::sync::broadcast::Receiver<crate::storage::RemoteChange>> {
        self.inner.remote_changes()
    }

    fn release_memory(&self) -> StoreFuture<'_, ()> {
        self.inner.release_memory()
    }

    fn out_of_space(&self) -> Option<crate::storage::space::OutOfSpace> {
        self.inner.out_of_space()
    }

    fn file_gone(&self) -> Option<String> {
        self.inner.file_gone()
    }

    fn room_on_disk(&self) -> Option<u64> {
        self.inner.room_on_disk()
    }

    fn answers(&self) -> StoreFuture<'_, ()> {
        self.inner.answers()
    }
}
