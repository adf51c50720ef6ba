//! A document's copy being fetched over a link that drops requests (core's
//! `sync/document_copy.rs`): what arrived so far is kept in the replica's file, sealed like every
//! value, in parts appended as they arrive, so that the next window of signal asks only for the
//! rest, even after the app was killed. Dropped with its document, and with everything when the
//! device is wiped.
//!
//! Copies are asked for the documents this device holds nothing of, and for those it holds but
//! whose relay, as last heard, is ahead of it: the relay serves those only when the changes
//! lacked are many and the copy not much bigger, and the copy is merged into what the device
//! holds.

use std::collections::BTreeSet;

use automerge::ActorId;
use doorstep_core::document::{Document, Header};
use doorstep_core::id::DocumentId;
use doorstep_core::sync::PeerState;
use doorstep_core::sync::document_copy::{digest, heads_text};

use crate::error::ReplicaError;
use crate::replica::Replica;
use crate::store::{Store, Write};

/// What the phone holds of a copy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartialCopy {
    /// The heads it was saved at, as the relay named them.
    pub heads: String,
    /// Its digest, as the relay named it.
    pub digest: String,
    /// Its length, all of it.
    pub total: usize,
    /// The bytes so far, from its first.
    pub bytes: Vec<u8>,
}

impl PartialCopy {
    /// Whether every byte arrived.
    pub fn is_complete(&self) -> bool {
        self.bytes.len() >= self.total
    }

    /// Whether the bytes are the copy the relay named: complete and matching its digest.
    pub fn is_whole(&self) -> bool {
        self.bytes.len() == self.total && digest(&self.bytes) == self.digest
    }
}

/// What the replica knows of copies beyond what its file keeps; in memory.
#[derive(Debug, Default)]
pub(crate) struct CopyMemory {
    /// Documents the relay gave no copy of (a relay older than copies, or a document no longer
    /// this device's): until the app restarts, syncs take them as they did before copies.
    pub(crate) refused: BTreeSet<DocumentId>,
    /// Documents held whose copy the relay declined (the changes lacked are fewer): the sync
    /// takes them until they are in step again. Kept in the file too (`copy-declined:<doc>`):
    /// an app killed again and again asked for the same declined copy at every start, a round
    /// trip of each short window.
    pub(crate) declined: BTreeSet<DocumentId>,
    /// Documents held whose relay, as last heard, holds changes this device lacks; kept in the
    /// file too (`relay-ahead:<doc>`), so that an app killed between windows of signal still
    /// knows.
    pub(crate) relay_ahead: BTreeSet<DocumentId>,
}

/// What [`Replica::not_arrived`] counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct NotArrived {
    /// Documents granted that this device holds nothing of.
    pub lacking: usize,
    /// Documents held whose relay was last heard to hold changes this device lacks.
    pub behind: usize,
}

impl NotArrived {
    /// Whether anything has not arrived.
    pub fn any(self) -> bool {
        self.lacking + self.behind > 0
    }
}

const NAMED_PREFIX: &str = "copy:";
const AHEAD_PREFIX: &str = "relay-ahead:";
const DECLINED_PREFIX: &str = "copy-declined:";

fn named_key(doc: DocumentId) -> String {
    format!("{NAMED_PREFIX}{doc}")
}

fn ahead_key(doc: DocumentId) -> String {
    format!("{AHEAD_PREFIX}{doc}")
}

fn declined_key(doc: DocumentId) -> String {
    format!("{DECLINED_PREFIX}{doc}")
}

/// The documents whose copy `store` remembers the relay declined.
pub(crate) fn declined(store: &Store) -> Result<BTreeSet<DocumentId>, ReplicaError> {
    documents_named(store, &[DECLINED_PREFIX])
}

/// The documents whose relay `store` remembers ahead, or with a copy begun.
pub(crate) fn relay_ahead(store: &Store) -> Result<BTreeSet<DocumentId>, ReplicaError> {
    documents_named(store, &[AHEAD_PREFIX, NAMED_PREFIX])
}

/// The documents named by the meta keys that start with one of `prefixes` and end with an ID.
fn documents_named(store: &Store, prefixes: &[&str]) -> Result<BTreeSet<DocumentId>, ReplicaError> {
    let mut named = BTreeSet::new();
    for prefix in prefixes {
        named.extend(
            store
                .meta_starting_with(prefix)?
                .into_iter()
                .filter_map(|(key, _)| key.strip_prefix(prefix).and_then(|d| d.parse::<DocumentId>().ok())),
        );
    }
    Ok(named)
}

/// The keys of a copy's parts start so; each part's key ends with its offset, zero-padded, so
/// that key order is the copy's order.
fn parts_prefix(doc: DocumentId) -> String {
    format!("copy-part:{doc}:")
}

/// The copy of `doc` kept so far, if any (one that cannot be read, or whose parts do not follow
/// one another, counts as none).
pub(crate) fn load(store: &Store, doc: DocumentId) -> Result<Option<PartialCopy>, ReplicaError> {
    let Some(named) = store.meta(&named_key(doc))? else { return Ok(None) };
    let named = String::from_utf8_lossy(&named).into_owned();
    let mut lines = named.lines();
    let (Some(heads), Some(digest), Some(Ok(total))) =
        (lines.next(), lines.next(), lines.next().map(str::parse::<usize>))
    else {
        return Ok(None);
    };
    let mut bytes = Vec::new();
    for (key, part) in store.meta_starting_with(&parts_prefix(doc))? {
        let offset = key.rsplit(':').next().and_then(|o| o.parse::<usize>().ok());
        if offset != Some(bytes.len()) {
            return Ok(None);
        }
        bytes.extend_from_slice(&part);
    }
    Ok(Some(PartialCopy { heads: heads.to_owned(), digest: digest.to_owned(), total, bytes }))
}

/// Starts keeping a new copy of `doc` (what was kept of another one is forgotten), with the
/// bytes it has so far.
pub(crate) fn start(store: &mut Store, doc: DocumentId, copy: &PartialCopy) -> Result<(), ReplicaError> {
    // Heads, digest and length, a line each.
    let named = format!("{}\n{}\n{}", copy.heads, copy.digest, copy.total);
    let (named_key, prefix) = (named_key(doc), parts_prefix(doc));
    store.commit(&[
        Write::DeleteMetaStartingWith { prefix: &prefix },
        Write::Meta { key: &named_key, value: named.as_bytes() },
    ])?;
    append(store, doc, copy, 0)
}

/// Keeps the bytes of `copy` from `offset` on, as one more part: what is kept is never written
/// again, so a copy costs its size in writes however many parts it arrives in.
pub(crate) fn append(
    store: &mut Store,
    doc: DocumentId,
    copy: &PartialCopy,
    offset: usize,
) -> Result<(), ReplicaError> {
    let Some(part) = copy.bytes.get(offset..).filter(|p| !p.is_empty()) else { return Ok(()) };
    let key = format!("{}{offset:012}", parts_prefix(doc));
    store.commit(&[Write::Meta { key: &key, value: part }])
}

/// Forgets the copy of `doc`.
pub(crate) fn forget(store: &mut Store, doc: DocumentId) -> Result<(), ReplicaError> {
    let (named_key, prefix) = (named_key(doc), parts_prefix(doc));
    store.commit(&[Write::DeleteMeta { key: &named_key }, Write::DeleteMetaStartingWith { prefix: &prefix }])
}

impl Replica {
    /// The documents this device may hold and holds nothing of yet (each arrives whole: by sync,
    /// or as a copy on a link that drops requests).
    pub fn documents_lacking(&self) -> Vec<DocumentId> {
        self.compounds
            .values()
            .flat_map(|c| c.documents().filter(|d| d.is_placeholder()).map(Document::id))
            .collect()
    }

    /// The documents this device holds whose relay, as last heard, holds changes it lacks, and
    /// whose copy the relay has not declined: a copy may bring them faster than their changes
    /// on a link that drops requests.
    pub fn documents_behind(&self) -> Vec<DocumentId> {
        self.copies
            .relay_ahead
            .iter()
            .filter(|id| self.held(**id).is_some_and(|d| self.waits_for_a_copy(d)))
            .copied()
            .collect()
    }

    /// How much of what the relay holds for this device has not arrived: documents granted
    /// (by the kept document list, or this run's) that it holds nothing of, and documents held
    /// whose relay was last heard ahead. While any has not, the phone's tasks, households and
    /// requests may be missing some: a first download cut short by the signal showed "no tasks"
    /// and "all synced" to a volunteer with 43 (a helper's finding).
    pub fn not_arrived(&self) -> NotArrived {
        let mut lacking: BTreeSet<DocumentId> = self.documents_lacking().into_iter().collect();
        if let Some(grants) = &self.known_grants {
            lacking.extend(grants.iter().map(|g| g.header.id).filter(|id| self.held(*id).is_none()));
        }
        let behind = self.copies.relay_ahead.iter().filter(|id| self.held(**id).is_some()).count();
        NotArrived { lacking: lacking.len(), behind }
    }

    /// `doc`, if this device holds something of it.
    fn held(&self, doc: DocumentId) -> Option<&Document> {
        self.compounds.values().find_map(|c| c.document(doc)).filter(|d| !d.is_placeholder())
    }

    /// Whether a sync should fetch copies after its run: the link dropped a request lately and
    /// some document waits for one.
    pub fn wants_copies(&self) -> bool {
        self.reply_budget().is_some()
            && !(self.documents_lacking().is_empty() && self.documents_behind().is_empty())
    }

    /// Whether a sync run that leaves copies for later leaves `doc` out: held nothing of and
    /// not refused a copy, or behind and neither refused nor declined one.
    pub(crate) fn waits_for_a_copy(&self, doc: &Document) -> bool {
        let id = doc.id();
        if doc.is_placeholder() {
            !self.copies.refused.contains(&id)
        } else {
            self.copies.relay_ahead.contains(&id)
                && !self.copies.declined.contains(&id)
                && !self.copies.refused.contains(&id)
        }
    }

    /// After an answer: whether the relay, as `state` last heard it, holds changes of `doc`
    /// that this device lacks; kept in the file too when `keep` (the link drops requests, and
    /// the app may be killed before the next window), in memory only otherwise. A document back
    /// in step forgets its declined copy and any copy begun of it.
    pub(crate) fn note_relay_heads(
        &mut self,
        doc: DocumentId,
        state: &PeerState,
        keep: bool,
    ) -> Result<(), ReplicaError> {
        let Some(held) = self.held(doc) else { return Ok(()) };
        let ahead = state.their_heads().is_some_and(|theirs| {
            theirs.iter().any(|h| held.automerge().get_change_meta_by_hash(h).is_none())
        });
        if ahead { self.relay_ahead_of(doc, keep) } else { self.back_in_step(doc) }
    }

    /// The relay is ahead of this device on `doc`; kept in the file too when `keep`.
    fn relay_ahead_of(&mut self, doc: DocumentId, keep: bool) -> Result<(), ReplicaError> {
        // Every key the file holds is in memory since the replica opened: a new one is written
        // once.
        if self.copies.relay_ahead.insert(doc) && keep {
            self.store_mut().commit(&[Write::Meta { key: &ahead_key(doc), value: b"" }])?;
        }
        Ok(())
    }

    /// The head of an answer the link then cut advised copies of `docs`
    /// ([`crate::http::RelayClient::take_copies_advised`]): the relay is ahead on those this
    /// device holds, by more than the link carries.
    pub fn copies_advised(&mut self, docs: &[DocumentId]) -> Result<(), ReplicaError> {
        for doc in docs {
            if self.held(*doc).is_some() {
                self.relay_ahead_of(*doc, true)?;
            }
        }
        Ok(())
    }

    /// `doc` holds what its relay was last heard to hold: no copy of it is wanted.
    fn back_in_step(&mut self, doc: DocumentId) -> Result<(), ReplicaError> {
        if !self.copies.relay_ahead.remove(&doc) {
            return Ok(());
        }
        self.copies.declined.remove(&doc);
        // Only what the file holds is deleted: a sync in signal writes nothing for this.
        let (ahead, named, declined) = (ahead_key(doc), named_key(doc), declined_key(doc));
        let kept = [&ahead, &named, &declined];
        if kept
            .iter()
            .try_fold(false, |any, key| Ok::<_, ReplicaError>(any || self.store().meta(key)?.is_some()))?
        {
            let prefix = parts_prefix(doc);
            self.store_mut().commit(&[
                Write::DeleteMeta { key: &ahead },
                Write::DeleteMeta { key: &named },
                Write::DeleteMeta { key: &declined },
                Write::DeleteMetaStartingWith { prefix: &prefix },
            ])?;
        }
        Ok(())
    }

    /// The relay gave no copy of `doc` (a relay older than copies, or a document no longer
    /// this device's): until the app restarts, syncs take it as they did before copies.
    pub fn copy_refused(&mut self, doc: DocumentId) {
        self.copies.refused.insert(doc);
    }

    /// The relay declined a copy of `doc`, which this device holds: the changes it lacks are
    /// fewer. The sync takes it, and any copy begun is forgotten.
    pub fn copy_declined(&mut self, doc: DocumentId) -> Result<(), ReplicaError> {
        self.copies.declined.insert(doc);
        forget(self.store_mut(), doc)?;
        let key = declined_key(doc);
        self.store_mut().commit(&[Write::Meta { key: &key, value: b"" }])
    }

    /// The heads this device holds of `doc`, as a copy's `since` names them, if it holds it.
    pub fn held_heads(&self, doc: DocumentId) -> Option<String> {
        // The relay sorts them.
        self.held(doc).map(|held| heads_text(&held.heads()))
    }

    /// What arrived so far of the copy of `doc` being fetched, if any.
    pub fn copy_so_far(&self, doc: DocumentId) -> Result<Option<PartialCopy>, ReplicaError> {
        load(self.store(), doc)
    }

    /// Starts keeping a new copy of `doc`, forgetting what was kept of another.
    pub fn start_copy(&mut self, doc: DocumentId, copy: &PartialCopy) -> Result<(), ReplicaError> {
        start(self.store_mut(), doc, copy)
    }

    /// Keeps the bytes of the copy of `doc` that arrived from `offset` on.
    pub fn keep_copy_from(
        &mut self,
        doc: DocumentId,
        copy: &PartialCopy,
        offset: usize,
    ) -> Result<(), ReplicaError> {
        append(self.store_mut(), doc, copy, offset)
    }

    /// Takes a complete copy of `doc`: as the document, at the heads it was saved at, in place
    /// of the nothing this device held; or merged into what it holds, its own changes kept. The
    /// next sync gets the changes since. Returns whether it was taken: a copy that is not the
    /// one the relay named (its digest), or that does not load as the document expected, is
    /// forgotten instead, and the sync fetches the document (no copy of it is asked for again
    /// until the app restarts).
    pub fn adopt_copy(&mut self, doc: DocumentId, copy: &PartialCopy) -> Result<bool, ReplicaError> {
        let header =
            self.compounds.values().find_map(|c| c.document(doc)).map(|d| (*d.header(), d.is_placeholder()));
        let device = self.device_actor().clone();
        let loaded = match header {
            Some((header, _)) if copy.is_whole() => load_checked(doc, header, &copy.bytes, device),
            _ => None,
        };
        let (Some(mut loaded), Some((_, placeholder))) = (loaded, header) else {
            // Not fetched as a copy again until the app restarts: a copy that never loads would
            // otherwise cost every window of signal its bytes. The sync takes the document.
            tracing::warn!(doc = %doc, bytes = copy.bytes.len(), "a document's copy was not taken; the sync fetches it");
            self.copies.refused.insert(doc);
            forget(self.store_mut(), doc)?;
            return Ok(false);
        };
        let compound = loaded.compound();
        if placeholder {
            // A document migrated on loading holds more than the copy: saved whole.
            let as_copied = heads_text(&loaded.heads()) == copy.heads;
            if let Some(held) = self.compounds.get_mut(&compound) {
                held.insert(loaded);
            }
            if as_copied {
                self.persist_snapshot(compound, doc, &copy.bytes)?;
            } else {
                self.persist(compound, &[doc])?;
            }
            self.back_in_step(doc)?;
        } else {
            let Some(held) = self.compounds.get_mut(&compound).and_then(|c| c.document_mut(doc)) else {
                return Ok(false);
            };
            let merged =
                doorstep_core::expected_panic::catch(|| held.automerge_mut().merge(loaded.automerge_mut()));
            if !matches!(merged, Ok(Ok(_))) {
                tracing::warn!(doc = %doc, "a document's copy did not merge; its changes are fetched instead");
                self.copies.refused.insert(doc);
                forget(self.store_mut(), doc)?;
                return Ok(false);
            }
            self.persist(compound, &[doc])?;
            self.back_in_step(doc)?;
        }
        forget(self.store_mut(), doc)?;
        Ok(true)
    }
}

/// The copy `bytes` of `doc` as the document, if it passes the checks a phone makes of what its
/// relay sends and loads as the document expected. Automerge inflates and expands a document's
/// columns with no bound: a copy that would take the phone's memory (or is not Automerge chunks
/// at all) is refused like one that does not load, before Automerge reads it. A copy that is one
/// document chunk (as the relay serves them) is loaded once, by its check.
fn load_checked(doc: DocumentId, header: Header, bytes: &[u8], device: ActorId) -> Option<Document> {
    let refused = |problem: String| tracing::warn!(doc = %doc, %problem, "a document's copy refused unread");
    let checked = doorstep_core::validate::load_received_document(bytes).map_err(refused).ok()?;
    let loaded = match checked {
        Some(checked) => doorstep_core::expected_panic::catch(|| {
            Document::from_automerge(header, checked.with_actor(device))
        }),
        None => doorstep_core::expected_panic::catch(|| Document::load(header, bytes, device)),
    };
    loaded.ok().and_then(Result::ok)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A copy that does not load as the document (or is not the one the relay named) is
    /// forgotten, and the document is left to the sync, not fetched as a copy window after
    /// window; one that loads is taken, at its heads.
    #[test]
    fn a_copy_that_does_not_load_is_left_to_the_sync_not_fetched_again() {
        use doorstep_core::compound::Compound;
        use doorstep_core::document::Header;
        use doorstep_core::schema::vocabulary::DocKind;

        let dir = tempfile::tempdir().unwrap();
        let mut replica = Replica::open(dir.path().join("phone.sqlite")).unwrap();
        let compound = "01a23bb0-8d93-71e9-8cb6-3806acc33065".parse().unwrap();
        let doc: DocumentId = "01a23bb0-8d93-71e9-8cb6-3806acc33066".parse().unwrap();
        let header = Header { id: doc, kind: DocKind::Roster, compound };
        let device = replica.device_actor().clone();
        let mut held = Compound::new(compound, device.clone());
        held.insert(Document::placeholder(header, device));
        replica.compounds.insert(compound, held);
        assert_eq!(replica.documents_lacking(), vec![doc]);

        let garbage = b"not an automerge document".to_vec();
        let mut copy = copy_of(&garbage);
        start(replica.store_mut(), doc, &copy).unwrap();
        copy.bytes = garbage;
        assert!(!replica.adopt_copy(doc, &copy).unwrap());
        assert!(replica.copy_so_far(doc).unwrap().is_none(), "forgotten");
        let placeholder = replica.compounds.get(&compound).and_then(|c| c.document(doc)).unwrap();
        assert!(!replica.waits_for_a_copy(placeholder), "the sync takes it");

        let real = Document::create(header, ActorId::from([7; 16])).unwrap();
        let saved = real.save();
        let whole = PartialCopy {
            heads: heads_text(&real.heads()),
            digest: digest(&saved),
            total: saved.len(),
            bytes: saved,
        };
        assert!(replica.adopt_copy(doc, &whole).unwrap(), "a copy that loads is taken");
        assert!(replica.documents_lacking().is_empty());
    }

    fn copy_of(bytes: &[u8]) -> PartialCopy {
        PartialCopy { heads: "ab".repeat(32), digest: digest(bytes), total: bytes.len(), bytes: Vec::new() }
    }

    /// Parts appended as they arrive come back as one copy; a new copy forgets the old one's
    /// parts; a document dropped takes its copy with it.
    #[test]
    fn a_copy_kept_in_parts_comes_back_whole_and_goes_with_its_document() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open_with(&dir.path().join("phone.sqlite"), None).unwrap();
        let doc: DocumentId = "01a23bb0-8d93-71e9-8cb6-3806acc33064".parse().unwrap();
        let whole: Vec<u8> = (0..20_000_u32).map(|i| (i % 251) as u8).collect();
        let mut copy = copy_of(&whole);
        start(&mut store, doc, &copy).unwrap();
        let mut kept = 0;
        for part in whole.chunks(4_500) {
            copy.bytes.extend_from_slice(part);
            append(&mut store, doc, &copy, kept).unwrap();
            kept = copy.bytes.len();
        }
        let back = load(&store, doc).unwrap().unwrap();
        assert_eq!(back, copy);
        assert!(back.is_whole());

        let other = copy_of(b"another copy");
        start(&mut store, doc, &other).unwrap();
        assert_eq!(load(&store, doc).unwrap().unwrap().bytes, Vec::<u8>::new(), "the old parts are gone");

        append(&mut store, doc, &PartialCopy { bytes: b"another".to_vec(), ..other }, 0).unwrap();
        store.commit(&[Write::Delete { doc }]).unwrap();
        assert!(load(&store, doc).unwrap().is_none());
        assert!(store.meta_starting_with("copy").unwrap().is_empty(), "nothing of it left");
    }
}
