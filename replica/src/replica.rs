//! The replica: compounds in memory, every change written through to SQLite before the call
//! returns.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use automerge::{ActorId, ChangeHash};
use doorstep_core::document::{Document, Header};
use doorstep_core::id::{CompoundId, DocumentId, PersonId};
use doorstep_core::sync::{DocumentGrant, PeerState, ReceivedChanges};
use doorstep_core::{Actor, Applied, Compound, Env, Operation, Role, Timestamp};

use crate::cipher::ReplicaKey;
use crate::copy_fetch::{CopyMemory, declined, relay_ahead};
use crate::device_clock;
use crate::error::ReplicaError;
use crate::journal::NewEntry;
use crate::known_grants;
use crate::link_rate::LinkRate;
use crate::relay_reads::{self, RelayReads};
use crate::request_budget;
use crate::request_in_pieces::RequestInPieces;
use crate::store::{Store, Write};

/// Fold a document's chunks into a snapshot once it has this many.
const COMPACT_AFTER_CHUNKS: usize = 256;

/// The meta key listing the compounds this device was removed from, one name a line.
const REMOVED_FROM: &str = "removed_from";

/// The meta key of other people's names ([`Replica::remember_people_names`]).
pub(crate) const PEOPLE_NAMES: &str = "people_names";

/// Who this device acts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// The person signed in on this device.
    pub person: PersonId,
}

/// How a document's new state goes to the file.
#[derive(Debug, Clone, Copy)]
enum Pending {
    Create,
    Compact,
    Append,
}

#[derive(Debug, Clone)]
struct Saved {
    heads: Vec<ChangeHash>,
    chunks: usize,
}

/// The meta key of [`Replica::join_key`].
const JOIN_KEY: &str = "join_key";
/// The meta key of [`Replica::joined_with`] (not starting with [`JOIN_KEY`], which
/// [`Replica::forget_join_key`] deletes by prefix).
const JOINED_WITH: &str = "joined_with";

/// An invite code as the replica keeps it: its SHA-256, hex, of the code without surrounding
/// spaces and in upper case (the code itself is not kept).
fn code_digest(code: &str) -> String {
    doorstep_core::sync::document_copy::digest(code.trim().to_uppercase().as_bytes())
}
/// The meta key of [`Replica::clock_off_by_ms`].
const CLOCK_OFF_BY: &str = "phone_clock_off_by_ms";
/// The meta key of the clocks' reading when [`CLOCK_OFF_BY`] was measured (starting with it, so
/// that deleting the offset deletes its reading).
const CLOCK_OFF_BY_MEASURED: &str = "phone_clock_off_by_ms_measured";
/// Where files before 2026-12-06 kept it, with the other sign (the relay's clock minus the
/// phone's): read once, negated, and deleted at the next sync.
const CLOCK_OFF_BY_RELAY_MINUS_PHONE: &str = "clock_off_by_ms";

/// A device's offline copy of its compounds.
#[derive(Debug)]
pub struct Replica {
    store: Store,
    device: ActorId,
    /// The actors this device wrote under before `device`, newest first (`past_actors.rs`).
    pub(crate) past_actors: Vec<ActorId>,
    pub(crate) person: Option<PersonId>,
    roles: BTreeMap<CompoundId, Role>,
    pub(crate) compounds: BTreeMap<CompoundId, Compound>,
    saved: HashMap<DocumentId, Saved>,
    pub(crate) peer_states: BTreeMap<DocumentId, PeerState>,
    /// The list of documents last applied (see `known_grants.rs`).
    pub(crate) known_grants: Option<Vec<DocumentGrant>>,
    /// The relay reads requests in the compact form (see `relay_reads.rs`).
    pub(crate) relay_reads_compact: bool,
    /// The relay reads compressed request bodies (see `relay_reads.rs`).
    relay_reads_deflate: bool,
    /// Bytes of changes one sync request carries, fitted to the link (see `request_budget.rs`).
    pub(crate) request_budget: usize,
    /// How fast the link lately carried the syncs' exchanges (see `link_rate.rs`); in memory.
    pub(crate) link_rate: LinkRate,
    /// What the replica knows of documents' copies beyond what it keeps of them (see
    /// `copy_fetch.rs`); in memory.
    pub(crate) copies: CopyMemory,
    /// The sync request being sent in pieces, as kept in the file (see `request_in_pieces.rs`).
    pub(crate) in_pieces: Option<RequestInPieces>,
    /// The relay said it takes no requests in pieces (an older relay): they go whole until the
    /// app restarts; in memory.
    pub(crate) relay_lacks_pieces: bool,
    last_sync: Option<Timestamp>,
    /// Documents the last sync brought new content for (see [`Replica::last_sync_news`]).
    last_sync_news: Option<usize>,
    /// How far the phone's clock was from the relay's at the last sync (see
    /// [`Replica::clock_off_by_ms`]).
    clock_off_by_ms: Option<i64>,
    /// The wall and boot clocks when it was measured ([`device_clock`]).
    clock_measured: Option<device_clock::Reading>,
    load_problems: Vec<String>,
    /// The stored documents that did not load, with the journaled changes each kept (their
    /// journal is kept, see `sync_run::forget_synced_journal`, and carried out again once the
    /// relay's copy is held, see `damaged_copy.rs`).
    unloadable: BTreeMap<DocumentId, usize>,
}

impl Replica {
    /// Opens the unencrypted replica at `path`, creating it (and this device's actor ID) on
    /// first use. An encrypted file is refused with [`ReplicaError::KeyRequired`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ReplicaError> {
        Self::open_with(path, None)
    }

    /// Opens the replica at `path` encrypted at rest with `key` (see `cipher.rs`), creating it
    /// on first use. A plain file is encrypted in place; a file sealed with another key is
    /// refused with [`ReplicaError::WrongKey`].
    pub fn open_encrypted(path: impl AsRef<Path>, key: &ReplicaKey) -> Result<Self, ReplicaError> {
        Self::open_with(path, Some(key))
    }

    /// Opens the replica at `path`, encrypted with `key` when one is given.
    pub fn open_with(path: impl AsRef<Path>, key: Option<&ReplicaKey>) -> Result<Self, ReplicaError> {
        let mut store = Store::open_with(path.as_ref(), key)?;
        let device = match store.meta("actor")? {
            Some(bytes) if bytes.len() == 16 => ActorId::from(bytes),
            Some(_) => return Err(ReplicaError::BadIdentity("device actor is not 16 bytes".into())),
            None => {
                let actor: [u8; 16] = rand::random();
                store.commit(&[Write::Meta { key: "actor", value: &actor }])?;
                ActorId::from(actor.to_vec())
            }
        };
        let person = match store.meta("person")? {
            Some(bytes) => Some(
                String::from_utf8_lossy(&bytes)
                    .parse::<PersonId>()
                    .map_err(|e| ReplicaError::BadIdentity(e.to_string()))?,
            ),
            None => None,
        };
        let last_sync = store
            .meta("last_sync")?
            .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
            .map(|b| Timestamp::from_millis(i64::from_le_bytes(b)));
        let last_sync_news = store
            .meta("last_sync_news")?
            .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
            .map(|b| usize::try_from(u64::from_le_bytes(b)).unwrap_or(usize::MAX));
        let meta_i64 = |key| -> Result<Option<i64>, ReplicaError> {
            Ok(store.meta(key)?.and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok()).map(i64::from_le_bytes))
        };
        let clock_off_by_ms = match meta_i64(CLOCK_OFF_BY)? {
            Some(off) => Some(off),
            None => meta_i64(CLOCK_OFF_BY_RELAY_MINUS_PHONE)?.map(i64::saturating_neg),
        };
        let clock_measured =
            store.meta(CLOCK_OFF_BY_MEASURED)?.and_then(|bytes| device_clock::Reading::from_bytes(&bytes));
        let mut roles = BTreeMap::new();
        for (compound, role) in store.roles()? {
            if let (Ok(c), Ok(r)) = (compound.parse::<CompoundId>(), role.parse::<Role>()) {
                roles.insert(c, r);
            }
        }
        let known_grants = known_grants::load(&store)?;
        let relay_reads_compact = relay_reads::load(&store, RelayReads::CompactRequests)?;
        let relay_reads_deflate = relay_reads::load(&store, RelayReads::DeflatedBodies)?;
        let request_budget = request_budget::load(&store)?;
        let in_pieces = RequestInPieces::load(&store)?;
        let past_actors = crate::past_actors::load(&store)?;
        let mut replica = Self {
            store,
            device,
            past_actors,
            person,
            roles,
            compounds: BTreeMap::new(),
            saved: HashMap::new(),
            peer_states: BTreeMap::new(),
            known_grants,
            relay_reads_compact,
            relay_reads_deflate,
            request_budget,
            link_rate: LinkRate::default(),
            copies: CopyMemory::default(),
            in_pieces,
            relay_lacks_pieces: false,
            last_sync,
            last_sync_news,
            clock_off_by_ms,
            clock_measured,
            load_problems: Vec::new(),
            unloadable: BTreeMap::new(),
        };
        for stored in replica.store.documents()? {
            let id = stored.header.id;
            match Document::load(stored.header, &stored.bytes, replica.device.clone()) {
                Ok(doc) => {
                    replica.saved.insert(id, Saved { heads: doc.heads(), chunks: stored.chunks });
                    replica
                        .compounds
                        .entry(doc.compound())
                        .or_insert_with(|| Compound::new(doc.compound(), replica.device.clone()))
                        .insert(doc);
                }
                Err(e) => {
                    tracing::error!(doc = %id, error = %e, "stored document cannot be loaded; it will be fetched again at the next sync");
                    replica.load_problems.push(format!("document {id}: {e}"));
                    replica.unloadable.insert(id, 0);
                }
            }
        }
        for (doc, bytes) in replica.store.peer_states()? {
            if let (Ok(id), Ok(state)) = (doc.parse::<DocumentId>(), PeerState::decode(&bytes)) {
                replica.peer_states.insert(id, state);
            }
        }
        if !replica.unloadable.is_empty() {
            for (_, doc) in replica.store.journal_hashes()? {
                if let Some(kept) = doc.parse().ok().and_then(|id| replica.unloadable.get_mut(&id)) {
                    *kept += 1;
                }
            }
        }
        replica.copies.relay_ahead = relay_ahead(&replica.store)?;
        replica.copies.declined = declined(&replica.store)?;
        Ok(replica)
    }

    /// The Automerge actor this device writes under (persisted; one per device).
    pub fn device_actor(&self) -> &ActorId {
        &self.device
    }

    /// Writes every later change under `actor` (already persisted by the caller, with
    /// [`Replica::past_actors_write`]'s value).
    pub(crate) fn set_device_actor(&mut self, actor: ActorId) {
        for compound in self.compounds.values_mut() {
            compound.set_device(actor.clone());
        }
        self.past_actors = crate::past_actors::after(&self.device, &self.past_actors);
        self.device = actor;
    }

    /// The value of the past actors to persist with a new device actor: the current one joins
    /// them.
    pub(crate) fn past_actors_write(&self) -> Vec<u8> {
        crate::past_actors::encode(&crate::past_actors::after(&self.device, &self.past_actors))
    }

    /// The person signed in, if any.
    pub fn identity(&self) -> Option<Identity> {
        self.person.map(|person| Identity { person })
    }

    /// Records who this device acts for (after joining with an invite); forgets earlier removals.
    /// Another person than the one signed in (a shift hand-over on a shared phone) gets a new
    /// actor: the relay binds an actor to the first person who writes under it. Refused while
    /// the person signed in has changes not yet synced ([`Replica::check_hand_over`]), unless the
    /// relay no longer knows their sign-in: their unsynced work is then set aside for review
    /// ([`Replica::set_aside_after_lost_sign_in`]) before the new person signs in.
    pub fn set_identity(&mut self, person: PersonId) -> Result<(), ReplicaError> {
        let new_actor: Option<[u8; 16]> = match self.person {
            Some(current) if current != person => {
                self.check_hand_over()?;
                if self.sign_in_unknown()? {
                    // The relay will never take the earlier person's unsynced work from their
                    // token: it goes to the coordinators' review, not up as the new person's.
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
                    self.set_aside_after_lost_sign_in(Timestamp::from_millis(now))?;
                }
                Some(rand::random())
            }
            _ => None,
        };
        let person_text = person.to_string();
        // Joining (again, or as another person) starts from the relay's list, not a kept one.
        let mut writes = vec![
            Write::Meta { key: "person", value: person_text.as_bytes() },
            Write::Meta { key: REMOVED_FROM, value: b"" },
            Write::DeleteMeta { key: crate::lost_sign_in::SIGN_IN_UNKNOWN },
            known_grants::forget(),
        ];
        let past = new_actor.map(|_| self.past_actors_write());
        // The earlier person's compounds: the first sync drops those the new person is no member
        // of, which is no removal of theirs (`handed_over.rs`).
        let handed_over = new_actor.map(|_| crate::handed_over::encode(self.compounds.keys().copied()));
        if let (Some(actor), Some(past), Some(handed_over)) = (&new_actor, &past, &handed_over) {
            writes.push(Write::Meta { key: "actor", value: actor });
            writes.push(Write::Meta { key: crate::past_actors::PAST_ACTORS, value: past });
            writes.push(Write::Meta { key: crate::handed_over::HANDED_OVER, value: handed_over });
        }
        self.store.commit(&writes)?;
        if let Some(actor) = new_actor {
            self.set_device_actor(ActorId::from(actor.to_vec()));
        }
        self.person = Some(person);
        self.known_grants = None;
        Ok(())
    }

    /// The secret this device sends with its joins until one is answered
    /// (`http::JoinRequest::join_key`): made at the first attempt and kept in the file, so a join
    /// sent again after the relay took it but its answer was lost on the link gets the same
    /// person and device rather than "used already".
    pub fn join_key(&mut self) -> Result<String, ReplicaError> {
        if let Some(key) = self.store.meta(JOIN_KEY)?.and_then(|k| String::from_utf8(k).ok()) {
            return Ok(key);
        }
        let bytes: [u8; 16] = rand::random();
        let key: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        self.store.commit(&[Write::Meta { key: JOIN_KEY, value: key.as_bytes() }])?;
        Ok(key)
    }

    /// Forgets the join key once a join was answered: the next join is another.
    pub fn forget_join_key(&mut self) -> Result<(), ReplicaError> {
        self.store.commit(&[Write::DeleteMetaStartingWith { prefix: JOIN_KEY }])
    }

    /// Remembers that the invite `code` was answered with a join sent with `key`: the same code
    /// typed again (the app killed before the join looked done) goes with the same key, which
    /// the relay answers with the same person and a new token, and a relay that says "used
    /// already" is told as "already joined" ([`Replica::joined_with`]).
    pub fn remember_joined_with(&mut self, code: &str, key: &str) -> Result<(), ReplicaError> {
        let value = format!("{} {key}", code_digest(code));
        self.store.commit(&[Write::Meta { key: JOINED_WITH, value: value.as_bytes() }])
    }

    /// The key the last answered join with invite `code` was sent with, if the last answered
    /// join was with that code.
    pub fn joined_with(&self, code: &str) -> Result<Option<String>, ReplicaError> {
        let Some(stored) = self.store.meta(JOINED_WITH)?.and_then(|v| String::from_utf8(v).ok()) else {
            return Ok(None);
        };
        Ok(stored
            .split_once(' ')
            .filter(|(digest, _)| *digest == code_digest(code))
            .map(|(_, key)| key.to_owned()))
    }

    /// Fails while someone is signed in whose changes are not all synced, or whose set-aside
    /// changes are not all sent for review (the relay takes an item only from its author's
    /// token): before another person joins on this phone, so that no invite is spent on a
    /// hand-over that cannot happen yet and nothing is stranded on the phone.
    ///
    /// Not refused once the relay answered the token as unknown ([`Replica::sign_in_unknown`]):
    /// that work can never go up under it, and the join that follows sets it aside for the
    /// coordinators' review ([`Replica::set_aside_after_lost_sign_in`]) instead.
    pub fn check_hand_over(&self) -> Result<(), ReplicaError> {
        if self.person.is_none() || self.sign_in_unknown()? {
            return Ok(());
        }
        let unsynced = self.unsynced_changes();
        let to_send = self
            .quarantine()?
            .iter()
            .filter(|c| crate::ReviewState::from_str_lossy(&c.review_state) == crate::ReviewState::NotSent)
            .count();
        if unsynced > 0 || to_send > 0 {
            return Err(ReplicaError::UnsyncedHandOver { unsynced, to_send });
        }
        Ok(())
    }

    /// Remembers the relay this device syncs with and its device token. Mobile apps keep the
    /// token in the platform's secure storage instead; the command-line phone keeps it here.
    pub fn remember_relay(&mut self, url: &str, token: &str) -> Result<(), ReplicaError> {
        // Another relay or another token: the kept document list is not that relay's answer.
        self.store.commit(&[
            Write::Meta { key: "relay_url", value: url.as_bytes() },
            Write::Meta { key: "relay_token", value: token.as_bytes() },
            Write::DeleteMeta { key: crate::lost_sign_in::SIGN_IN_UNKNOWN },
            known_grants::forget(),
            relay_reads::forget(RelayReads::CompactRequests),
            relay_reads::forget(RelayReads::DeflatedBodies),
        ])?;
        self.known_grants = None;
        self.relay_reads_compact = false;
        self.relay_reads_deflate = false;
        Ok(())
    }

    /// Whether this device keeps the list of documents it last applied, so that the relay may
    /// answer "unchanged" instead of sending it (see `known_grants.rs`).
    pub fn keeps_document_list(&self) -> bool {
        self.known_grants.is_some()
    }

    /// Whether this device sends its sync requests in the compact form, which the relay said it
    /// reads (see `relay_reads.rs`).
    pub fn sends_compact_requests(&self) -> bool {
        self.relay_reads_compact
    }

    /// Whether this device compresses its sync requests (`Content-Encoding: deflate`), which
    /// the relay said it reads (see `relay_reads.rs`).
    pub fn sends_compressed_requests(&self) -> bool {
        self.relay_reads_deflate
    }

    /// Keeps what the relay's last answer said of compressed requests (its `Accept-Encoding`).
    pub fn learn_relay_reads_deflate(&mut self, reads: bool) -> Result<(), ReplicaError> {
        if reads == self.relay_reads_deflate {
            return Ok(());
        }
        let form = RelayReads::DeflatedBodies;
        self.store.commit(&[if reads { relay_reads::remember(form) } else { relay_reads::forget(form) }])?;
        self.relay_reads_deflate = reads;
        Ok(())
    }

    /// The relay URL and token remembered by [`Replica::remember_relay`].
    pub fn remembered_relay(&self) -> Result<Option<(String, String)>, ReplicaError> {
        let url = self.store.meta("relay_url")?;
        let token = self.store.meta("relay_token")?;
        Ok(url.zip(token).map(|(u, t)| {
            (String::from_utf8_lossy(&u).into_owned(), String::from_utf8_lossy(&t).into_owned())
        }))
    }

    /// Remembers the name of the person this phone signed in as ("李强"), for the screens that
    /// greet them; sealed like every meta value, and wiped with the sign-in.
    pub fn remember_person_name(&mut self, name: &str) -> Result<(), ReplicaError> {
        self.store.commit(&[Write::Meta { key: "person_name", value: name.as_bytes() }])
    }

    /// The name remembered by [`Replica::remember_person_name`].
    pub fn person_name(&self) -> Result<Option<String>, ReplicaError> {
        Ok(self.store.meta("person_name")?.map(|n| String::from_utf8_lossy(&n).into_owned()))
    }

    /// Remembers what the relay said of other people's names, by person: `None` for a person
    /// the relay did not name (asked about, so not asked again). Sealed like every meta value,
    /// and wiped with the sign-in.
    pub fn remember_people_names(
        &mut self,
        names: &BTreeMap<PersonId, Option<String>>,
    ) -> Result<(), ReplicaError> {
        // Person IDs and strings always serialize; a pair list keeps the IDs out of map keys.
        let pairs: Vec<(&PersonId, &Option<String>)> = names.iter().collect();
        let value = serde_json::to_vec(&pairs).unwrap_or_default();
        self.store.commit(&[Write::Meta { key: PEOPLE_NAMES, value: &value }])
    }

    /// The names remembered by [`Replica::remember_people_names`] (empty before any); a value
    /// this version cannot read counts as none remembered.
    pub fn people_names(&self) -> Result<BTreeMap<PersonId, Option<String>>, ReplicaError> {
        Ok(self
            .store
            .meta(PEOPLE_NAMES)?
            .and_then(|bytes| serde_json::from_slice::<Vec<(PersonId, Option<String>)>>(&bytes).ok())
            .map(|pairs| pairs.into_iter().collect())
            .unwrap_or_default())
    }

    /// Remembers what things the device no longer holds were called, by ID (a closed round's
    /// title by its document, a task's door by the task), so what was set aside in them can
    /// still be named. Sealed like every meta value, and wiped with the sign-in.
    pub fn remember_labels(&mut self, labels: &BTreeMap<String, String>) -> Result<(), ReplicaError> {
        self.keep_text_map("labels", labels)
    }

    /// The labels remembered by [`Replica::remember_labels`] (empty before any).
    pub fn labels(&self) -> Result<BTreeMap<String, String>, ReplicaError> {
        self.text_map("labels")
    }

    /// Remembers the task handles the phone's last listing showed, each with its task (the
    /// terminal phone's `tasks`): a handle typed afterwards means what it showed, though a sync
    /// renumbered the door since. Written only when it changed; wiped with the sign-in.
    pub fn remember_shown_handles(&mut self, shown: &BTreeMap<String, String>) -> Result<(), ReplicaError> {
        if *shown == self.shown_handles()? {
            return Ok(());
        }
        self.keep_text_map("shown_handles", shown)
    }

    /// The handles remembered by [`Replica::remember_shown_handles`] (empty before any).
    pub fn shown_handles(&self) -> Result<BTreeMap<String, String>, ReplicaError> {
        self.text_map("shown_handles")
    }

    /// Keeps `map` under the meta `key`, as JSON (sealed like every meta value).
    fn keep_text_map(&mut self, key: &str, map: &BTreeMap<String, String>) -> Result<(), ReplicaError> {
        // Strings always serialize.
        let value = serde_json::to_vec(map).unwrap_or_default();
        self.store.commit(&[Write::Meta { key, value: &value }])
    }

    /// The map kept under the meta `key` by [`Replica::keep_text_map`] (empty before any, or if
    /// it does not read).
    fn text_map(&self, key: &str) -> Result<BTreeMap<String, String>, ReplicaError> {
        Ok(self.store.meta(key)?.and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or_default())
    }

    /// The compounds held.
    pub fn compounds(&self) -> impl Iterator<Item = &Compound> {
        self.compounds.values()
    }

    /// One compound.
    pub fn compound(&self, id: CompoundId) -> Result<&Compound, ReplicaError> {
        self.compounds.get(&id).ok_or(ReplicaError::UnknownCompound(id))
    }

    /// This device's role in a compound.
    pub fn role(&self, compound: CompoundId) -> Option<Role> {
        self.roles.get(&compound).copied()
    }

    /// Problems met while loading (documents that will be fetched again).
    pub fn load_problems(&self) -> &[String] {
        &self.load_problems
    }

    /// Whether the stored document `id` did not load when the file was opened (and has not been
    /// fetched again and its journal carried out again since).
    pub(crate) fn did_not_load(&self, id: DocumentId) -> bool {
        self.unloadable.contains_key(&id)
    }

    /// The stored documents that did not load, each with the changes journaled in it: work made
    /// on this phone that is not on the relay yet, carried out again on the relay's copy once
    /// the sync has fetched it (`damaged_copy.rs`).
    pub fn damaged_documents(&self) -> Vec<(DocumentId, usize)> {
        self.unloadable.iter().map(|(id, kept)| (*id, *kept)).collect()
    }

    /// Document `id` is held again, its journal carried out again.
    pub(crate) fn repaired(&mut self, id: DocumentId) {
        self.unloadable.remove(&id);
    }

    /// Adds a compound built elsewhere (e.g. by `Compound::create` on an admin's device) with
    /// this device's role in it, and stores every document.
    pub fn adopt(&mut self, compound: Compound, role: Role) -> Result<(), ReplicaError> {
        let id = compound.id();
        let docs: Vec<DocumentId> = compound.documents().map(Document::id).collect();
        self.store.commit(&[Write::Role { compound: id, role: role.as_str() }])?;
        self.roles.insert(id, role);
        self.compounds.insert(id, compound);
        self.persist(id, &docs)
    }

    /// Carries out `op` in `compound` as the signed-in person, durably: when this returns
    /// `Ok`, the change is committed to the SQLite file, with the operation in the journal.
    /// When the write fails, the documents in memory are rolled back too: a failed call changes
    /// nothing, so trying again cannot make a second delivery.
    pub fn apply(
        &mut self,
        now: Timestamp,
        compound: CompoundId,
        op: &Operation,
    ) -> Result<Applied, ReplicaError> {
        let now = self.on_relays_clock(now);
        let person = self.person.ok_or(ReplicaError::NotJoined)?;
        let role = self.role(compound).ok_or(ReplicaError::UnknownCompound(compound))?;
        let c = self.compounds.get_mut(&compound).ok_or(ReplicaError::UnknownCompound(compound))?;
        let before: HashMap<DocumentId, Vec<ChangeHash>> =
            c.documents().map(|d| (d.id(), d.heads())).collect();
        let mut draws = Vec::new();
        let mut entropy = || {
            let draw = rand::random::<u128>();
            draws.push(draw);
            draw
        };
        let mut env = Env::new(now, &mut entropy);
        let applied = c.apply(&mut env, &Actor { person, role }, op)?;
        let changes = new_changes(c, &before, &applied.changed);
        let entry =
            NewEntry { compound, person, operation: op, made_at: now, entropy: &draws, changes: &changes };
        // An operation that wrote nothing (assigning a task to its assignee again) has nothing
        // to carry out again.
        let journal = (!changes.is_empty()).then_some(Write::Journal(entry));
        if let Err(e) = self.persist_with(compound, &applied.changed, journal.as_slice()) {
            self.roll_back(compound, &before, &applied);
            return Err(e);
        }
        Ok(applied)
    }

    /// Puts the documents an operation changed back as they were before it, and removes the
    /// documents it created, after its write to the file failed.
    fn roll_back(
        &mut self,
        compound: CompoundId,
        before: &HashMap<DocumentId, Vec<ChangeHash>>,
        applied: &Applied,
    ) {
        let device = self.device.clone();
        let Some(c) = self.compounds.get_mut(&compound) else { return };
        for id in &applied.changed {
            let Some(heads) = before.get(id) else {
                c.remove(*id);
                continue;
            };
            let Some(doc) = c.document_mut(*id) else { continue };
            match doc.automerge().fork_at(heads) {
                Ok(old) => *doc.automerge_mut() = old.with_actor(device.clone()),
                Err(e) => {
                    // The heads were this document's a moment ago, so this cannot happen; if it
                    // does, the file still holds the state before the operation.
                    tracing::error!(doc = %id, error = %e, "rollback failed; reloading from the file");
                    self.load_problems.push(format!("document {id}: rollback failed: {e}"));
                }
            }
        }
        for id in &applied.created {
            c.remove(*id);
        }
    }

    /// Writes the new changes of `docs` (all in `compound`) in one transaction: a snapshot for a
    /// document new to the file, else an incremental chunk, folded into a fresh snapshot once a
    /// document has [`COMPACT_AFTER_CHUNKS`] chunks.
    pub(crate) fn persist(&mut self, compound: CompoundId, docs: &[DocumentId]) -> Result<(), ReplicaError> {
        self.persist_with(compound, docs, &[])
    }

    /// Stores `snapshot`, the whole of document `id` as it is in memory now (a whole document
    /// the relay sent and the replica adopted), in place of its snapshot and chunks: no `save`,
    /// and the bytes are already compact.
    pub(crate) fn persist_snapshot(
        &mut self,
        compound: CompoundId,
        id: DocumentId,
        snapshot: &[u8],
    ) -> Result<(), ReplicaError> {
        let Some(doc) = self.compounds.get(&compound).and_then(|c| c.document(id)) else { return Ok(()) };
        let (header, heads) = (*doc.header(), doc.heads());
        let write = match self.saved.get(&id) {
            None => Write::Create { header, snapshot },
            Some(_) => Write::Compact { doc: id, snapshot },
        };
        self.store.commit(&[write])?;
        self.saved.insert(id, Saved { heads, chunks: 0 });
        Ok(())
    }

    /// Stores the changes the relay sent for document `id` as they came, as a new chunk, when the
    /// file holds the document exactly as it was before they arrived: they are then what
    /// `save_after` would write, without Automerge rebuilding them from the op set. Otherwise,
    /// or when the document is due to be folded into a snapshot, as [`Replica::persist`].
    pub(crate) fn persist_received(
        &mut self,
        compound: CompoundId,
        id: DocumentId,
        received: &ReceivedChanges,
    ) -> Result<(), ReplicaError> {
        let Some(doc) = self.compounds.get(&compound).and_then(|c| c.document(id)) else { return Ok(()) };
        match self.saved.get(&id) {
            Some(saved) if saved.heads == received.since && saved.chunks + 1 < COMPACT_AFTER_CHUNKS => {
                let (heads, chunks) = (doc.heads(), saved.chunks + 1);
                self.store.commit(&[Write::Append { doc: id, chunk: &received.bytes }])?;
                self.saved.insert(id, Saved { heads, chunks });
                Ok(())
            }
            _ => self.persist(compound, &[id]),
        }
    }

    /// [`Replica::persist`] with more writes in the same transaction (the journal entry of the
    /// operation that made the changes).
    fn persist_with(
        &mut self,
        compound: CompoundId,
        docs: &[DocumentId],
        extra: &[Write<'_>],
    ) -> Result<(), ReplicaError> {
        let Some(c) = self.compounds.get(&compound) else { return Ok(()) };
        let mut pending: Vec<(Header, Vec<u8>, Pending)> = Vec::new();
        for id in docs {
            let Some(doc) = c.document(*id).filter(|d| !d.is_placeholder()) else { continue };
            match self.saved.get(id) {
                None => pending.push((*doc.header(), doc.save(), Pending::Create)),
                Some(saved) if saved.chunks + 1 >= COMPACT_AFTER_CHUNKS => {
                    pending.push((*doc.header(), doc.save(), Pending::Compact));
                }
                Some(saved) => {
                    let chunk = doc.save_after(&saved.heads);
                    if !chunk.is_empty() {
                        pending.push((*doc.header(), chunk, Pending::Append));
                    }
                }
            }
        }
        let mut writes: Vec<Write<'_>> = pending
            .iter()
            .map(|(header, bytes, kind)| match kind {
                Pending::Create => Write::Create { header: *header, snapshot: bytes },
                Pending::Compact => Write::Compact { doc: header.id, snapshot: bytes },
                Pending::Append => Write::Append { doc: header.id, chunk: bytes },
            })
            .collect();
        writes.extend(extra.iter().cloned());
        self.store.commit(&writes)?;
        for (header, _, kind) in &pending {
            let chunks = match kind {
                Pending::Create | Pending::Compact => 0,
                Pending::Append => self.saved.get(&header.id).map_or(0, |s| s.chunks) + 1,
            };
            if let Some(doc) = c.document(header.id) {
                self.saved.insert(header.id, Saved { heads: doc.heads(), chunks });
            }
        }
        Ok(())
    }

    /// Replaces a document, in memory and in the file, with `doc` (rebuilt after a refusal),
    /// committing `extra` in the same transaction. The document in memory changes only once the
    /// file has.
    pub(crate) fn replace_document(
        &mut self,
        doc: Document,
        extra: &[Write<'_>],
    ) -> Result<(), ReplicaError> {
        let header = *doc.header();
        let snapshot = doc.save();
        let mut writes = vec![Write::Create { header, snapshot: &snapshot }];
        writes.extend(extra.iter().cloned());
        self.store.commit(&writes)?;
        self.saved.insert(header.id, Saved { heads: doc.heads(), chunks: 0 });
        if let Some(c) = self.compounds.get_mut(&header.compound) {
            c.insert(doc);
        }
        Ok(())
    }

    /// Removes a document from the device (refused as a whole, with nothing shared to rebuild
    /// it from), committing `extra` in the same transaction.
    pub(crate) fn remove_document(
        &mut self,
        header: Header,
        extra: &[Write<'_>],
    ) -> Result<(), ReplicaError> {
        let mut writes = vec![Write::Delete { doc: header.id }];
        writes.extend(extra.iter().cloned());
        self.store.commit(&writes)?;
        self.saved.remove(&header.id);
        self.peer_states.remove(&header.id);
        if let Some(c) = self.compounds.get_mut(&header.compound) {
            c.remove(header.id);
        }
        Ok(())
    }

    /// Bytes of changes the next sync request carries at most, fitted to the link (see
    /// `request_budget.rs`).
    pub fn request_budget(&self) -> usize {
        self.request_budget
    }

    /// The most bytes a reply from the relay should carry: the request budget, once the link
    /// has dropped a request and it is below its most; else no bound (see `request_budget.rs`).
    pub fn reply_budget(&self) -> Option<usize> {
        (self.request_budget < request_budget::MOST).then_some(self.request_budget)
    }

    pub(crate) fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    pub(crate) fn forget_saved(&mut self, doc: DocumentId) {
        self.saved.remove(&doc);
    }

    pub(crate) fn set_role(&mut self, compound: CompoundId, role: Option<Role>) {
        match role {
            Some(r) => self.roles.insert(compound, r),
            None => self.roles.remove(&compound),
        };
    }

    /// Records a sync that got through every step (`report` is the whole sync's): its time,
    /// what it brought and how far off the phone's clock was, for `status`.
    pub fn record_sync(&mut self, at: Timestamp, report: &crate::SyncReport) -> Result<(), ReplicaError> {
        self.set_last_sync(at, report.news(), report.clock_off_by_ms)
    }

    /// Records a completed sync: when, how many documents it brought new content for, and how
    /// far the phone's clock was from the relay's (`None`: within five minutes, or not heard).
    pub(crate) fn set_last_sync(
        &mut self,
        at: Timestamp,
        news: usize,
        clock_off_by_ms: Option<i64>,
    ) -> Result<(), ReplicaError> {
        let off = clock_off_by_ms.map(i64::to_le_bytes);
        // The clocks read now, with the offset measured in this sync: `at` is the wall clock's.
        let measured = device_clock::boot_ms()
            .filter(|_| clock_off_by_ms.is_some())
            .map(|boot_ms| device_clock::Reading { wall_ms: at.as_millis(), boot_ms });
        let measured_bytes = measured.map(device_clock::Reading::to_bytes);
        let (at_bytes, news_bytes) = (at.as_millis().to_le_bytes(), (news as u64).to_le_bytes());
        let mut writes = vec![
            Write::Meta { key: "last_sync", value: &at_bytes },
            Write::Meta { key: "last_sync_news", value: &news_bytes },
            Write::DeleteMetaStartingWith { prefix: CLOCK_OFF_BY },
            Write::DeleteMetaStartingWith { prefix: CLOCK_OFF_BY_RELAY_MINUS_PHONE },
        ];
        if let Some(bytes) = &off {
            writes.push(Write::Meta { key: CLOCK_OFF_BY, value: bytes });
        }
        if let Some(bytes) = &measured_bytes {
            writes.push(Write::Meta { key: CLOCK_OFF_BY_MEASURED, value: bytes });
        }
        self.store.commit(&writes)?;
        self.last_sync = Some(at);
        self.last_sync_news = Some(news);
        self.clock_off_by_ms = clock_off_by_ms;
        self.clock_measured = measured;
        Ok(())
    }

    /// `now`, the phone's wall clock, on the relay's clock: moved by how far off the relay last
    /// measured it, while that still holds ([`device_clock`]). What the phone records
    /// (knocks, closes, requests) is dated by it, so that a phone whose clock is wrong, told so
    /// at its last sync, dates its work as the relay and the other phones do.
    pub fn on_relays_clock(&self, now: Timestamp) -> Timestamp {
        device_clock::on_relays_clock(now, device_clock::boot_ms(), self.clock_off_by_ms, self.clock_measured)
    }

    /// This phone's clock minus the relay's, in milliseconds (positive: ahead), at the last
    /// completed sync, when
    /// they were more than five minutes apart: the phone's date, time or time zone was wrong
    /// then; what it records is dated by the relay's clock while that offset holds
    /// ([`Replica::on_relays_clock`]).
    pub fn clock_off_by_ms(&self) -> Option<i64> {
        self.clock_off_by_ms
    }

    /// Local changes (made on this device) the relay is not known to have: "N changes not yet
    /// synced". Derived from the sync state, never counted separately, and the changes journaled
    /// in stored copies that did not load ([`Replica::damaged_documents`]).
    pub fn unsynced_changes(&self) -> usize {
        let in_damaged_copies: usize = self.unloadable.values().sum();
        in_damaged_copies
            + self
                .compounds
                .values()
                .flat_map(Compound::documents)
                .map(|doc| {
                    let shared = self
                        .peer_states
                        .get(&doc.id())
                        .map(|s| s.shared_heads().to_vec())
                        .unwrap_or_default();
                    doc.automerge()
                        .get_changes(&shared)
                        .iter()
                        .filter(|c| c.actor_id() == &self.device)
                        .count()
                })
                .sum::<usize>()
    }

    /// The hashes of the changes [`Replica::unsynced_changes`] counts (not those of stored
    /// copies that did not load, which this phone cannot read), by document, at most `max` in
    /// all: what a wipe's report names for the relay to leave out those it holds after all.
    pub fn unsynced_change_hashes(&self, max: usize) -> Vec<doorstep_core::sync::UnsentChanges> {
        let mut left = max;
        let mut out = Vec::new();
        for doc in self.compounds.values().flat_map(Compound::documents) {
            if left == 0 {
                break;
            }
            let shared =
                self.peer_states.get(&doc.id()).map(|s| s.shared_heads().to_vec()).unwrap_or_default();
            let hashes: Vec<String> = doc
                .automerge()
                .get_changes(&shared)
                .iter()
                .filter(|c| c.actor_id() == &self.device)
                .take(left)
                .map(|c| c.hash().to_string())
                .collect();
            left -= hashes.len();
            if !hashes.is_empty() {
                out.push(doorstep_core::sync::UnsentChanges { doc: doc.id(), hashes });
            }
        }
        out
    }

    /// When the last sync completed (device time).
    pub fn last_sync(&self) -> Option<Timestamp> {
        self.last_sync
    }

    /// How many documents the last completed sync brought new content for (the relay had work
    /// this phone did not), so a phone can say whether the relay had anything new; `None` before
    /// the first sync, or when the file's last sync predates this record.
    pub fn last_sync_news(&self) -> Option<usize> {
        self.last_sync_news
    }

    /// This device's work the relay does not hold: its unsynced changes and its set-aside items
    /// the review inbox never received (not sent yet, or not taken). What a wipe destroys.
    pub fn work_the_relay_lacks(&self) -> Result<usize, ReplicaError> {
        let unreceived = self
            .store
            .quarantine()?
            .iter()
            .filter(|c| {
                matches!(
                    crate::review::ReviewState::from_str_lossy(&c.review_state),
                    crate::review::ReviewState::NotSent | crate::review::ReviewState::NotAccepted
                )
            })
            .count();
        Ok(self.unsynced_changes() + unreceived)
    }

    /// Wipes everything of every compound from this device after the relay said its token was
    /// revoked (a lost or stolen phone): documents, sync states, roles, set-aside changes, the
    /// sign-in and the device actor, with the file scrubbed so none of it is recoverable. This
    /// device's own unsynced changes go too: the relay will never take them from this token, and
    /// whoever holds the phone now is not taken to be the volunteer. Returns the names of the
    /// compounds it was removed from, which the replica remembers to tell the user plainly.
    pub fn wipe_after_token_revoked(&mut self) -> Result<Vec<String>, ReplicaError> {
        let names: Vec<String> =
            self.compounds.values().map(Compound::name).filter(|n| !n.is_empty()).collect();
        let unsynced = self.unsynced_changes();
        self.store.wipe(&[REMOVED_FROM, crate::pending_wipe_report::PENDING_WIPE_REPORT])?;
        self.compounds.clear();
        self.roles.clear();
        self.saved.clear();
        self.peer_states.clear();
        self.copies = CopyMemory::default();
        self.in_pieces = None;
        self.known_grants = None;
        self.person = None;
        self.last_sync = None;
        self.last_sync_news = None;
        self.clock_off_by_ms = None;
        self.clock_measured = None;
        let actor: [u8; 16] = rand::random();
        self.store.commit(&[Write::Meta { key: "actor", value: &actor }])?;
        self.device = ActorId::from(actor.to_vec());
        self.past_actors.clear();
        self.remember_removal(&names)?;
        tracing::warn!(
            compounds = names.len(),
            unsynced,
            "device token revoked; every compound wiped from this device"
        );
        Ok(names)
    }

    /// Adds compound names to the list this device was removed from.
    pub(crate) fn remember_removal(&mut self, names: &[String]) -> Result<(), ReplicaError> {
        let mut all = self.removed_from()?;
        for name in names {
            if !all.contains(name) {
                all.push(name.clone());
            }
        }
        self.store.commit(&[Write::Meta { key: REMOVED_FROM, value: all.join("\n").as_bytes() }])
    }

    /// The compounds this device was removed from (membership or device token revoked), by name,
    /// so the app can say "你已被移出 香樟苑 / removed from 香樟苑" rather than "not joined".
    /// Joining again clears it.
    pub fn removed_from(&self) -> Result<Vec<String>, ReplicaError> {
        Ok(self
            .store
            .meta(REMOVED_FROM)?
            .map(|b| {
                String::from_utf8_lossy(&b).lines().map(str::to_owned).filter(|l| !l.is_empty()).collect()
            })
            .unwrap_or_default())
    }

    /// Changes set aside (refused for good by the relay), for the user to review and export.
    pub fn quarantine(&self) -> Result<Vec<crate::QuarantinedChange>, ReplicaError> {
        self.store.quarantine()
    }

    /// The tasks a knock recorded on this phone is set aside for, waiting for a coordinator (not
    /// sent yet, under review, or not taken for review): the task shows no such knock, so a
    /// volunteer's list must say it is under review, or they deliver a second time.
    pub fn tasks_with_knocks_set_aside(
        &self,
    ) -> Result<std::collections::HashSet<doorstep_core::id::TaskId>, ReplicaError> {
        Ok(self
            .store
            .quarantine()?
            .into_iter()
            .filter(|c| !crate::ReviewState::from_str_lossy(&c.review_state).decided())
            .filter_map(|c| match serde_json::from_str::<Operation>(c.operation.as_deref()?).ok()? {
                Operation::RecordAttempt { task, .. } => Some(task),
                _ => None,
            })
            .collect())
    }

    /// How many changes are set aside, under review: the app shows "N set aside, under review"
    /// and never "all synced" while this is above zero.
    pub fn set_aside_count(&self) -> Result<usize, ReplicaError> {
        self.store.quarantine_count()
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }
}

/// The change an operation made in each document it changed (the device's changes after the
/// heads before it), as hex hashes.
fn new_changes(
    compound: &Compound,
    before: &HashMap<DocumentId, Vec<ChangeHash>>,
    changed: &[DocumentId],
) -> Vec<(DocumentId, String)> {
    let device = compound.device();
    let mut out = Vec::new();
    for id in changed {
        let Some(doc) = compound.document(*id) else { continue };
        let heads = before.get(id).cloned().unwrap_or_default();
        for change in doc.automerge().get_changes(&heads) {
            if change.actor_id() == device {
                out.push((*id, change.hash().to_string()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_clock_offset_kept_with_the_old_sign_reads_as_the_phones_clock_minus_the_relays() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("phone.sqlite");
        drop(Replica::open(&path).unwrap());
        // A file from before 2026-12-06: the relay's clock minus the phone's, three hours (the
        // phone's clock three hours behind).
        let three_hours: i64 = 3 * 3_600_000;
        rusqlite::Connection::open(&path)
            .unwrap()
            .execute(
                "INSERT INTO meta (key, value) VALUES (?1, ?2)",
                rusqlite::params![CLOCK_OFF_BY_RELAY_MINUS_PHONE, three_hours.to_le_bytes().to_vec()],
            )
            .unwrap();
        let mut replica = Replica::open(&path).unwrap();
        assert_eq!(replica.clock_off_by_ms(), Some(-three_hours), "behind is negative");

        replica.set_last_sync(Timestamp::from_millis(1), 0, Some(60 * 60_000)).unwrap();
        drop(replica);
        let replica = Replica::open(&path).unwrap();
        assert_eq!(replica.clock_off_by_ms(), Some(60 * 60_000), "the new sign, under its own key");
        assert_eq!(replica.store.meta(CLOCK_OFF_BY_RELAY_MINUS_PHONE).unwrap(), None, "the old key gone");
    }

    #[test]
    fn another_person_signs_in_only_once_what_was_set_aside_went_for_review() {
        let dir = tempfile::tempdir().unwrap();
        let mut replica = Replica::open(dir.path().join("shared.sqlite")).unwrap();
        let id = |n: u8| format!("00000000-0000-7000-8000-0000000000{n:02}");
        let (morning, evening): (PersonId, PersonId) = (id(1).parse().unwrap(), id(2).parse().unwrap());
        replica.set_identity(morning).unwrap();
        let doc: DocumentId = id(3).parse().unwrap();
        let hash = "ab".repeat(32);
        let reason = "closed_rounds_are_final";
        let compound: CompoundId = id(4).parse().unwrap();
        let write =
            Write::Quarantine { hash: &hash, compound, doc, rule: reason, reason, bytes: b"change", at: 1 };
        replica.store.commit(&[write]).unwrap();
        // Not yet sent for review: the relay would take it only from the morning's token.
        match replica.set_identity(evening) {
            Err(ReplicaError::UnsyncedHandOver { unsynced: 0, to_send: 1 }) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(replica.identity().map(|i| i.person), Some(morning), "still the morning's phone");
        replica.set_identity(morning).expect("the same person signing in again is no hand-over");
    }
}
