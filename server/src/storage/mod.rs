//! Where the relay keeps everything: people, devices, memberships, invites, actor bindings,
//! compounds, documents and the per-device sync states.
//!
//! The relay talks to storage only through the [`Storage`] trait, held as `Arc<dyn Storage>`, so
//! that the PostgreSQL backend (DESIGN §8: several relays on one database) sits beside the
//! default SQLite one; [`open`] picks one by address. The trait is shaped for that:
//!
//! - Every method is async (a boxed future, so the trait stays object-safe); the SQLite backend
//!   runs its blocking calls on tokio's blocking pool, a PostgreSQL one would await its driver.
//! - Documents are stored as a compacted snapshot plus append-only change chunks numbered by a
//!   store-wide, ever-increasing `seq`. A relay that holds a document in memory remembers the
//!   highest `seq` it has folded in and asks [`Storage::changes_since`] for anything newer, so
//!   chunks written by another process (an admin command, another relay) are picked up without
//!   any cross-process locking.
//! - Everything one sync of one document must make durable (its new chunk, the actor bindings it
//!   introduces, the device's sync state) is one [`DocCommit`] and one transaction.
//! - A store shared by several relays (PostgreSQL) tells each of them what the others commit
//!   ([`Storage::remote_changes`]), so their caches and live streams follow within milliseconds.
//! - Invite redemption is one call, so "single-use" is enforced by the database, not by a race
//!   between a read and a write.

mod error;
pub mod postgres;
pub mod space;
pub mod sqlite;

use std::fmt;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;

use doorstep_core::document::Header;
use doorstep_core::id::{CompoundId, DocumentId, PersonId};
use doorstep_core::schema::vocabulary::DocKind;
use doorstep_core::{Role, Timestamp};

use crate::devices_seen::Seen;

pub use error::{InviteProblem, StorageError};

/// The future every storage call returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StorageError>> + Send + 'a>>;

/// A device that joined with a token (one phone, one browser, one admin command line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct DeviceId(pub i64);

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The SHA-256 of a secret (a device token or an invite code). Only hashes are stored, so a
/// copy of the database does not let anyone sign in.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretHash(pub [u8; 32]);

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Eight hex digits are enough to tell hashes apart in logs and reveal nothing useful.
        write!(f, "SecretHash({:02x}{:02x}{:02x}{:02x}…)", self.0[0], self.0[1], self.0[2], self.0[3])
    }
}

/// A new person.
#[derive(Debug, Clone)]
pub struct NewPerson {
    /// Their ID.
    pub id: PersonId,
    /// A display name ("张伟", "admin").
    pub name: String,
    /// Whether they are a district admin, who creates compounds.
    pub district_admin: bool,
}

/// The device behind a valid token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// The device.
    pub device: DeviceId,
    /// Its person.
    pub person: PersonId,
    /// Whether the person is a district admin.
    pub district_admin: bool,
}

/// What a presented token turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    /// A live token.
    Valid(Session),
    /// A token that was revoked (a lost phone).
    Revoked,
    /// No token has this hash.
    Unknown,
}

/// A person's live role in a compound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Membership {
    /// The compound.
    pub compound: CompoundId,
    /// Their role there.
    pub role: Role,
}

/// A person's messages refused because they had used up a day's share of the growth of a
/// compound's documents (`growth_share.rs`): what the coordinators' members page shows beside
/// them, so that a phone filling a document is seen by those who can revoke it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ShareRefused {
    /// Messages refused.
    pub times: u64,
    /// When the last was.
    pub last_at: Timestamp,
    /// The document of the last.
    pub document: DocumentId,
    /// The kind of that document.
    pub kind: DocKind,
}

/// A member of a compound, as a coordinator sees the list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Member {
    /// The person.
    pub person: PersonId,
    /// Their name.
    pub name: String,
    /// Their role.
    pub role: Role,
    /// Whether the membership was revoked.
    pub revoked: bool,
    /// When it was revoked.
    pub revoked_at: Option<Timestamp>,
    /// When they joined the compound (Unix milliseconds).
    pub joined_at: Timestamp,
}

/// A device of a compound's member, as the dashboard's members page lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MemberDevice {
    /// The device (its number, which revoking it alone names).
    #[serde(rename = "id")]
    pub device: DeviceId,
    /// Its person.
    pub person: PersonId,
    /// The name the device gave when it joined ("张伟的手机").
    pub name: String,
    /// When its token was made (Unix milliseconds).
    pub created_at: Timestamp,
    /// Whether its token was revoked.
    pub revoked: bool,
    /// When it last asked to sync, or last synced a document, if it ever did (Unix
    /// milliseconds).
    pub last_seen: Option<Timestamp>,
    /// How far its clock was from the relay's at its last request that said (milliseconds,
    /// positive: ahead), if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clock_off_by_ms: Option<i64>,
    /// What the phone said as it wiped itself after its token was revoked, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wiped: Option<Wiped>,
}

/// What a revoked phone said as it wiped itself (`POST /v1/wiped`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Wiped {
    /// When the relay heard it (Unix milliseconds).
    pub at: Timestamp,
    /// Its changes and set-aside items the relay never got: they went with the wipe.
    pub unsent: u32,
}

/// What became of a revoked phone's word that it wiped itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WipeHeard {
    /// Recorded on the device, whose person this is.
    Recorded { person: PersonId, device: DeviceId },
    /// The device had said so already; the first word stands.
    AlreadyHeard,
    /// The token is live: a phone with a live token does not wipe itself.
    NotRevoked,
    /// No token has this hash.
    Unknown,
}

impl MemberDevice {
    /// The device as it stands with `seen`, the last request of it this relay noted and has not
    /// written yet (`devices_seen.rs`): the page shows a sync and its clock the moment it
    /// happens, not at the next sweep. A request noted came after everything this relay wrote
    /// of the device, so its clock is the latest known here (another relay on the same
    /// database may hold a later one until its own sweep); its time counts when it is later
    /// than the stored one (a sync state written in the same request is later still).
    pub fn with_noted(self, seen: Option<Seen>) -> Self {
        let Some(seen) = seen else { return self };
        Self {
            last_seen: Some(self.last_seen.map_or(seen.at, |last| last.max(seen.at))),
            clock_off_by_ms: seen.clock_off_by_ms,
            ..self
        }
    }
}

/// A compound.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CompoundRecord {
    /// Its ID.
    pub id: CompoundId,
    /// Its name.
    pub name: String,
    /// When it was created.
    pub created_at: Timestamp,
}

/// What the relay knows of a document without loading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentRecord {
    /// Its identity.
    pub header: Header,
    /// False only for a closed round: phones drop it, the relay keeps it.
    pub open: bool,
}

/// One stored chunk of changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChunk {
    /// Its place in the store-wide order.
    pub seq: i64,
    /// Bytes for `Automerge::load_incremental`.
    pub bytes: Vec<u8>,
}

/// A document as stored: a snapshot and the chunks appended since.
#[derive(Debug, Clone)]
pub struct StoredDocument {
    /// What it is.
    pub record: DocumentRecord,
    /// The compacted document (`Automerge::save`).
    pub snapshot: Vec<u8>,
    /// The highest chunk `seq` folded into the snapshot.
    pub compacted_seq: i64,
    /// Chunks appended since, in order.
    pub chunks: Vec<StoredChunk>,
}

/// What was written to a document since a given `seq`.
#[derive(Debug, Clone)]
pub struct Catchup {
    /// The highest `seq` folded into the snapshot now. If it is above the caller's, chunks the
    /// caller never saw may have been folded away, and the caller must reload the document.
    pub compacted_seq: i64,
    /// Chunks with a higher `seq` than the caller's, in order.
    pub chunks: Vec<StoredChunk>,
}

/// An Automerge actor bound to the person who first wrote under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorBinding {
    /// The actor ID, as lower-case hex.
    pub actor: String,
    /// The person.
    pub person: PersonId,
}

/// The sync state a device's next request for a document starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncStateWrite {
    /// The device.
    pub device: DeviceId,
    /// The document.
    pub doc: DocumentId,
    /// `PeerState::encode`, or `None` to forget it (after a rejection).
    pub state: Option<Vec<u8>>,
}

/// Everything one sync (or one relay operation) makes durable for one document, in one
/// transaction.
#[derive(Debug, Clone)]
pub struct DocCommit {
    /// The document, with its open flag as of this commit.
    pub record: DocumentRecord,
    /// For a document the relay has not stored before (a round a coordinator created offline):
    /// its whole snapshot. `chunk` is then empty.
    pub create: Option<Vec<u8>>,
    /// The new changes (`Automerge::save_after`), or empty.
    pub chunk: Vec<u8>,
    /// The highest `seq` the caller had folded in before this commit.
    pub known_seq: i64,
    /// Actors first seen in this batch.
    pub bindings: Vec<ActorBinding>,
    /// The device's new sync state.
    pub sync_state: Option<SyncStateWrite>,
    /// A set-aside item this commit's change applies, decided in the same transaction: the
    /// commit fails with [`StorageError::AlreadyDecided`] and stores nothing if the item was
    /// decided already, and the decision is never stored without the change.
    pub decides: Option<Deciding>,
    /// When.
    pub at: Timestamp,
}

/// A set-aside item and its decision, stored with a document change ([`DocCommit::decides`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deciding {
    /// The item's number.
    pub item: i64,
    /// The decision.
    pub decided: SetAsideDecided,
}

/// What a commit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// The `seq` the caller has folded in now: the new chunk's, if no other process wrote to the
    /// document since `known_seq`; otherwise `known_seq` unchanged, so that the next
    /// [`Storage::changes_since`] brings in the other writer's chunks.
    pub known_seq: i64,
    /// Whether another process (a second relay on one database, an admin command) wrote to the
    /// document since `known_seq`: the open flag this commit stored was worked out without its
    /// changes, and the caller settles it once it has them ([`Storage::settle_open`]).
    pub others: bool,
}

/// An invite to create.
#[derive(Debug, Clone)]
pub struct NewInvite {
    /// The code's hash.
    pub code_hash: SecretHash,
    /// The compound it joins.
    pub compound: CompoundId,
    /// The role it grants.
    pub role: Role,
    /// Who made it.
    pub created_by: PersonId,
    /// The device it was made with (`None` from the admin command line): revoking that device
    /// ends the invite.
    pub created_with: Option<DeviceId>,
    /// When.
    pub created_at: Timestamp,
    /// Until when it can be redeemed.
    pub expires_at: Timestamp,
}

/// Redeeming an invite: the new person and device it creates.
#[derive(Debug, Clone)]
pub struct Redemption {
    /// The code's hash.
    pub code_hash: SecretHash,
    /// The new person.
    pub person: NewPerson,
    /// The device name given.
    pub device_name: String,
    /// The new device token's hash.
    pub token_hash: SecretHash,
    /// The hash of the join key the phone sent, if any: the same key again on a used invite,
    /// within [`JOIN_RETRY_MS`] of its use, gets the person and device it made, the device under
    /// `token_hash` from then on.
    pub join_key: Option<SecretHash>,
    /// Now.
    pub at: Timestamp,
}

/// How long after an invite was used a join sent again with its join key is answered (a phone
/// whose answer was lost retries within minutes; a day leaves it the night).
pub const JOIN_RETRY_MS: i64 = 24 * 60 * 60 * 1000;

/// What redeeming an invite created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Joined {
    /// The new person.
    pub person: PersonId,
    /// The new device.
    pub device: DeviceId,
    /// The compound joined.
    pub compound: CompoundId,
    /// The role held there.
    pub role: Role,
}

/// A coordinator's signed-in dashboard session, stored so that every relay on the database
/// knows it and a restart signs nobody out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DashboardSession {
    /// The hash of the session's secret (the cookie); the secret itself is never stored.
    pub secret_hash: SecretHash,
    /// Who signed in.
    pub person: PersonId,
    /// The hash of the device token they signed in with; revoking it ends the session.
    pub token: SecretHash,
    /// When it was opened.
    pub opened_at: Timestamp,
    /// When it ends.
    pub expires_at: Timestamp,
}

/// An operation a phone set aside, as it arrives in the review inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSetAside {
    /// The device that sent it (its own operation).
    pub device: DeviceId,
    /// Who made it.
    pub person: PersonId,
    /// The compound of its document.
    pub compound: CompoundId,
    /// The phone's item (core's `SetAsideUpload`: change hash, document, operation, reason…).
    pub item: doorstep_core::sync::SetAsideUpload,
    /// When the relay received it.
    pub received_at: Timestamp,
}

/// A coordinator's decision about a set-aside item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAsideDecided {
    /// Applied, or dismissed with a reason.
    pub decision: doorstep_core::sync::SetAsideDecision,
    /// Who decided.
    pub by: PersonId,
    /// When.
    pub at: Timestamp,
}

/// A set-aside item in the review inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAsideRecord {
    /// Its number in the inbox.
    pub id: i64,
    /// What arrived.
    pub received: NewSetAside,
    /// The decision, once a coordinator made one.
    pub decided: Option<SetAsideDecided>,
}

/// What the store holds of a device's sync request in pieces (`crate::held_requests`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldRequest {
    /// SHA-256 of the request's bytes, hex.
    pub digest: String,
    /// Its length as first named.
    pub total: usize,
    /// Its bytes are compressed.
    pub deflated: bool,
    /// Bytes held, from the first.
    pub held: usize,
    /// The relay took it and answered it; its bytes are let go.
    pub taken: bool,
}

/// A piece of a device's sync request to keep.
#[derive(Debug, Clone)]
pub struct NewPiece {
    /// The device.
    pub device: DeviceId,
    /// SHA-256 of the whole request's bytes, hex.
    pub digest: String,
    /// The whole request's length.
    pub total: usize,
    /// The request's bytes are compressed.
    pub deflated: bool,
    /// The first byte the piece carries.
    pub at: usize,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// The most bytes all devices' requests in part may hold together.
    pub most_bytes: usize,
    /// When.
    pub now: Timestamp,
    /// Requests (and taken ones' digests) last touched before this are forgotten first.
    pub forget_before: Timestamp,
}

/// A piece kept (or found held already).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PieceKept {
    /// Bytes of the request now held.
    pub held: usize,
    /// Bytes all devices' requests in part hold together.
    pub held_everywhere: u64,
    /// Other people's requests let go of to make room for it (`held_requests::let_go`).
    pub let_go_of: u32,
}

/// A change another process committed to the same database, as a store that can tell reports
/// it (PostgreSQL's LISTEN/NOTIFY).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteChange {
    /// The document.
    pub header: Header,
    /// The `seq` of the chunk written, or 0 for a new document.
    pub seq: i64,
}

/// A length as stored (SQL integers are signed).
pub(crate) fn stored_len(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A stored length read back; `what` names it when the row is damaged.
pub(crate) fn loaded_len(n: i64, what: &str) -> Result<usize, StorageError> {
    usize::try_from(n).map_err(|_| StorageError::Corrupt(format!("{what} is {n}, not a length")))
}

/// Opens the store at `address`: a `postgres://` or `postgresql://` URL is a PostgreSQL
/// database, anything else the path of an SQLite file (created on first use).
pub async fn open(address: &str) -> Result<Arc<dyn Storage>, StorageError> {
    check_address(address)?;
    if is_postgres(address) {
        Ok(Arc::new(postgres::PostgresStorage::open(address).await?))
    } else {
        Ok(Arc::new(sqlite::SqliteStorage::open(Path::new(address)).await?))
    }
}

/// A PostgreSQL address as it may be shown or logged: its password as `***`
/// (`postgres://doorstep:***@db:5432/doorstep`); any other text as it is.
pub fn without_password(address: &str) -> String {
    match (address.find("://"), address.rfind('@')) {
        (Some(scheme), Some(at)) if scheme < at => match address[scheme + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &address[..scheme + 3], &address[at..]),
            None => address.to_owned(),
        },
        _ => address.to_owned(),
    }
}

/// Refuses an address with a scheme other than PostgreSQL's (`postgress://` mistyped, `mysql://`),
/// which would otherwise be taken for the path of a new SQLite file. Names the scheme only: the
/// rest may hold a password.
pub fn check_address(address: &str) -> Result<(), StorageError> {
    // `postgres:/host/db` or `postgresql:host`: a PostgreSQL address missing a slash, never a file.
    let lower = address.to_ascii_lowercase();
    if !is_postgres(address) && (lower.starts_with("postgres:") || lower.starts_with("postgresql:")) {
        return Err(StorageError::BadAddress(
            "a PostgreSQL address starts with postgres:// (two slashes): postgres://user:password@host:port/database"
                .into(),
        ));
    }
    let Some((scheme, _)) = address.split_once("://") else { return Ok(()) };
    let looks_like_a_scheme = !scheme.is_empty()
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if looks_like_a_scheme && !is_postgres(address) {
        return Err(StorageError::BadAddress(format!(
            "unknown database scheme {scheme}://: write postgres:// or postgresql:// for PostgreSQL, or the path of an SQLite file"
        )));
    }
    Ok(())
}

/// Whether `address` names a PostgreSQL database rather than an SQLite file.
pub fn is_postgres(address: &str) -> bool {
    address.starts_with("postgres://") || address.starts_with("postgresql://")
}

/// A turn at writing a compound ([`Storage::write_turn`]), given back by [`WriteTurn::release`];
/// dropped without it, the turn ends with the database connection that holds it.
pub trait WriteTurn: Send + Sync + fmt::Debug {
    /// Whether the turn is still this writer's: false once the session holding it ended (its
    /// connection terminated or dropped), when another relay may have it. Asked before each
    /// commit.
    fn still_held(&self) -> StoreFuture<'_, bool>;
    /// Ends the turn.
    fn release(self: Box<Self>) -> StoreFuture<'static, ()>;
}

/// The relay's store. See the module docs for why it looks the way it does.
pub trait Storage: Send + Sync + fmt::Debug {
    /// Adds a person.
    fn create_person(&self, person: NewPerson, at: Timestamp) -> StoreFuture<'_, ()>;
    /// The district admins, oldest first.
    fn district_admins(&self) -> StoreFuture<'_, Vec<PersonId>>;
    /// The oldest district admin, or, on a store that has none, `first` made one with a device
    /// whose token hashes to `token_hash`; whether it was made now. One step, so several relays
    /// starting at once on one empty database make one admin, not one each.
    fn first_district_admin(
        &self,
        first: NewPerson,
        token_hash: SecretHash,
        at: Timestamp,
    ) -> StoreFuture<'_, (PersonId, bool)>;
    /// Issues a device token (stored as its hash).
    fn create_device(
        &self,
        person: PersonId,
        name: String,
        token_hash: SecretHash,
        at: Timestamp,
    ) -> StoreFuture<'_, DeviceId>;
    /// Looks a token up by its hash.
    fn authenticate(&self, token_hash: SecretHash) -> StoreFuture<'_, TokenStatus>;
    /// Revokes every token of a person (a lost phone) and lets go of the requests in pieces their
    /// devices held; returns how many were live.
    fn revoke_devices(&self, person: PersonId, at: Timestamp) -> StoreFuture<'_, usize>;
    /// Revokes one of a person's tokens (one lost phone of two) and lets go of the request in
    /// pieces it held; whether it was live and theirs.
    fn revoke_device(&self, person: PersonId, device: DeviceId, at: Timestamp) -> StoreFuture<'_, bool>;
    /// Records what the revoked device whose token hashes to `token_hash` said as it wiped
    /// itself: the first word's time, and the most unsent work any word of the token reports (a
    /// second phone file holding the same token may have lost more).
    fn record_wipe(&self, token_hash: SecretHash, wiped: Wiped) -> StoreFuture<'_, WipeHeard>;

    /// A person's live memberships.
    fn memberships(&self, person: PersonId) -> StoreFuture<'_, Vec<Membership>>;
    /// A compound's members, revoked ones included.
    fn members(&self, compound: CompoundId) -> StoreFuture<'_, Vec<Member>>;
    /// The devices of everyone who holds or held a membership of a compound, oldest first.
    fn member_devices(&self, compound: CompoundId) -> StoreFuture<'_, Vec<MemberDevice>>;
    /// Notes when each of `seen`'s devices last asked to sync and how far off its clock was
    /// then, keeping a later request stored already (relays sharing a database each write their
    /// own); a device no longer stored is skipped.
    fn record_devices_seen(&self, seen: Vec<(DeviceId, Seen)>) -> StoreFuture<'_, ()>;
    /// Counts a message of `person` for `document` (of `kind`, in `compound`) refused at `at`
    /// for a used-up share of the compound's growth.
    fn record_share_refusal(
        &self,
        person: PersonId,
        compound: CompoundId,
        document: DocumentId,
        kind: DocKind,
        at: Timestamp,
    ) -> StoreFuture<'_, ()>;
    /// The refusals for a used-up share in `compound`, per person refused.
    fn share_refusals(&self, compound: CompoundId) -> StoreFuture<'_, Vec<(PersonId, ShareRefused)>>;
    /// Gives a person a role in a compound (or a new role, or back after a revocation).
    fn set_membership(
        &self,
        person: PersonId,
        compound: CompoundId,
        role: Role,
        at: Timestamp,
    ) -> StoreFuture<'_, ()>;
    /// Revokes a membership; false if there was no live one.
    fn revoke_membership(
        &self,
        person: PersonId,
        compound: CompoundId,
        at: Timestamp,
    ) -> StoreFuture<'_, bool>;

    /// Stores an invite.
    fn create_invite(&self, invite: NewInvite) -> StoreFuture<'_, ()>;
    /// Redeems an invite: marks it used and creates the person, membership and device, all or
    /// nothing.
    fn redeem_invite(&self, redemption: Redemption) -> StoreFuture<'_, Joined>;

    /// Who an actor is bound to, if anyone.
    fn actor_owner(&self, actor: String) -> StoreFuture<'_, Option<PersonId>>;
    /// Binds an actor outside a sync (the relay's own). Fails with
    /// [`StorageError::ActorTaken`] if someone else has it.
    fn bind_actor(&self, binding: ActorBinding, at: Timestamp) -> StoreFuture<'_, ()>;

    /// Creates a compound with its first documents and members, all or nothing.
    fn create_compound(
        &self,
        compound: CompoundRecord,
        documents: Vec<(DocumentRecord, Vec<u8>)>,
        members: Vec<(PersonId, Role)>,
    ) -> StoreFuture<'_, ()>;
    /// Every compound, oldest first.
    fn compounds(&self) -> StoreFuture<'_, Vec<CompoundRecord>>;
    /// One compound.
    fn compound(&self, id: CompoundId) -> StoreFuture<'_, Option<CompoundRecord>>;

    /// The documents of these compounds.
    fn documents_of(&self, compounds: Vec<CompoundId>) -> StoreFuture<'_, Vec<DocumentRecord>>;
    /// One document's record.
    fn document(&self, id: DocumentId) -> StoreFuture<'_, Option<DocumentRecord>>;
    /// A document's snapshot and chunks.
    fn load_document(&self, id: DocumentId) -> StoreFuture<'_, Option<StoredDocument>>;
    /// What was written to a document after `seq`.
    fn changes_since(&self, id: DocumentId, seq: i64) -> StoreFuture<'_, Catchup>;
    /// Makes one document's sync durable, in one transaction.
    fn commit(&self, commit: DocCommit) -> StoreFuture<'_, Committed>;
    /// Stores a document's open flag as worked out from every chunk through `seen_seq`, unless
    /// something was written to it since (false: catch up and settle again). A commit that found
    /// another writer's chunks ([`Committed::others`]) stored a flag worked out without them: a
    /// round reopened through one relay while a volunteer's change committed through another was
    /// left marked closed for good.
    fn settle_open(&self, id: DocumentId, open: bool, seen_seq: i64) -> StoreFuture<'_, bool>;
    /// A turn at writing `compound`'s documents from what they hold (an import, a dashboard
    /// operation), held until released: relays on one database take turns, so that none works
    /// from a copy another is changing (two imports of one roster through two relays at once
    /// each added every household). `None` where one process writes at a time (SQLite, whose
    /// file one relay serves).
    fn write_turn(&self, compound: CompoundId) -> StoreFuture<'_, Option<Box<dyn WriteTurn>>>;
    /// Replaces a document's snapshot with `snapshot`, which holds every chunk up to
    /// `through_seq`, and drops those chunks; returns true if it did. A snapshot older than the
    /// stored one (compacted through a lower `seq`) is not stored, and false is returned: the
    /// caller compacted a stale copy, and the stored document already holds more.
    fn compact(&self, id: DocumentId, snapshot: Vec<u8>, through_seq: i64) -> StoreFuture<'_, bool>;

    /// The sync state a device's next request for a document starts from.
    fn sync_state(&self, device: DeviceId, doc: DocumentId) -> StoreFuture<'_, Option<Vec<u8>>>;
    /// Saves (or forgets) sync states that came with no new changes, in one transaction.
    fn put_sync_states(&self, states: Vec<SyncStateWrite>, at: Timestamp) -> StoreFuture<'_, ()>;

    /// Stores a new dashboard session, first removing expired sessions and, if the person
    /// already holds `max_per_person`, their oldest ones to make room.
    fn open_session(&self, session: DashboardSession, max_per_person: usize) -> StoreFuture<'_, ()>;
    /// The session behind a secret's hash, if it exists and has not expired by `now`.
    fn session(&self, secret_hash: SecretHash, now: Timestamp) -> StoreFuture<'_, Option<DashboardSession>>;
    /// Ends a session (nothing if there is none).
    fn close_session(&self, secret_hash: SecretHash) -> StoreFuture<'_, ()>;

    /// Stores set-aside items in the review inbox, in one transaction; an item a device sent
    /// before (same device and change hash) is left as it is.
    fn put_set_aside(&self, items: Vec<NewSetAside>) -> StoreFuture<'_, ()>;
    /// A compound's set-aside items, at most `limit`: those waiting for a decision first, then
    /// the decided ones, each newest first (so no number of decided items hides a waiting one).
    /// Past the limit the items are chosen by turns between the devices that sent them, each
    /// device's newest first, so one device's many items never hide another's.
    fn set_aside_of(&self, compound: CompoundId, limit: usize) -> StoreFuture<'_, Vec<SetAsideRecord>>;
    /// How many of `device`'s set-aside items wait for a decision.
    fn set_aside_waiting(&self, device: DeviceId) -> StoreFuture<'_, usize>;
    /// One set-aside item.
    fn set_aside_item(&self, id: i64) -> StoreFuture<'_, Option<SetAsideRecord>>;
    /// Records a decision about an item no one has decided yet; false if someone already did
    /// (or there is no such item).
    fn decide_set_aside(&self, id: i64, decided: SetAsideDecided) -> StoreFuture<'_, bool>;
    /// The decided items among `hashes` that `person` sent, from any of their devices (a phone
    /// signed in again with a new token asks after what it sent with the old one), or that a
    /// person since removed from the compound sent to a compound `person` is a member of (a
    /// volunteer removed by mistake and invited back is a new person, on the same phone, asking
    /// after what they sent before). A change's hash names a change only its phone and the relay
    /// have seen (it was refused), and a current member's items stay theirs alone.
    fn set_aside_outcomes(
        &self,
        person: PersonId,
        hashes: Vec<String>,
    ) -> StoreFuture<'_, Vec<SetAsideRecord>>;

    /// What `device` holds of its request in pieces, if anything.
    fn held_request(&self, device: DeviceId) -> StoreFuture<'_, Option<HeldRequest>>;
    /// Keeps a piece where [`crate::held_requests::place`] puts it, deciding on what the store
    /// holds within the same transaction; why not, if it does not go there.
    fn hold_piece(
        &self,
        piece: NewPiece,
    ) -> StoreFuture<'_, Result<PieceKept, crate::held_requests::PieceRefused>>;
    /// The bytes of `device`'s request `digest`, when all of them are held.
    fn held_request_bytes(&self, device: DeviceId, digest: String) -> StoreFuture<'_, Option<Vec<u8>>>;
    /// Lets go of the bytes of `device`'s request `digest`, remembering it as taken if `taken`;
    /// the bytes all devices' requests in part still hold.
    fn settle_held_request(
        &self,
        device: DeviceId,
        digest: String,
        taken: bool,
        at: Timestamp,
    ) -> StoreFuture<'_, u64>;

    /// Changes other processes commit from now on, for a store shared by several relays; `None`
    /// for a store that cannot tell (SQLite: an admin command's writes are found when the
    /// document is next used).
    fn remote_changes(&self) -> Option<tokio::sync::broadcast::Receiver<RemoteChange>> {
        None
    }

    /// Allowances kept in the store, for a store shared by several relays (PostgreSQL); `None`
    /// for one relay's own store (SQLite), whose relay keeps them in memory
    /// ([`crate::throttle`]).
    fn shared_throttles(&self) -> Option<Arc<dyn crate::throttle::Throttles>> {
        None
    }

    /// Frees memory the store keeps only to go faster (SQLite's page caches), after an eviction
    /// sweep and before the relay gives freed memory back to the system (`crate::memory`). A
    /// store with nothing to free does nothing.
    fn release_memory(&self) -> StoreFuture<'_, ()> {
        Box::pin(async { Ok(()) })
    }

    /// `Some` while the store's writes are refused for want of disk space (`space.rs`). No
    /// default, so a store that wraps another must pass it on.
    fn out_of_space(&self) -> Option<space::OutOfSpace>;

    /// `Some(what happened)` when the database file the store writes to is no longer at its
    /// path (moved, deleted or replaced under the running relay: every write since goes to a
    /// file nobody will open again). No default, so a store that wraps another passes it on.
    fn file_gone(&self) -> Option<String>;

    /// The bytes still free on the disk holding the database file, where the store has one on
    /// this machine (`None` for PostgreSQL's, which its own server watches). No default, so a
    /// store that wraps another passes it on.
    fn room_on_disk(&self) -> Option<u64>;

    /// One cheap read, for `/healthz`: `Ok` while the database answers, otherwise why not, in
    /// the operator's words (for PostgreSQL its address and what failed, never its password),
    /// within [`PROBE_WAIT`] or a little more. No default, so a store that wraps another
    /// passes it on.
    fn answers(&self) -> StoreFuture<'_, ()>;
}

/// How long [`Storage::answers`] waits for the database: a load balancer's health check gives
/// up after a few seconds, and a relay whose database takes longer than this for a trivial
/// query serves no phone well either.
pub const PROBE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

#[cfg(test)]
mod suite;
