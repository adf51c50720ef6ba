//! A document's copy being fetched over a link that drops requests (core's
//! `sync/document_copy.rs`): what arrived so far is kept in the replica's file, sealed like every
//! value, so that the next window of signal asks only for the rest, even after the app was
//! killed. Dropped with its document, and with everything when the device is wiped.

use doorstep_core::document::Document;
use doorstep_core::id::DocumentId;
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

fn named_key(doc: DocumentId) -> String {
    format!("copy:{doc}")
}

fn bytes_key(doc: DocumentId) -> String {
    format!("copy-bytes:{doc}")
}

/// The copy of `doc` kept so far, if any (one that cannot be read counts as none).
pub(crate) fn load(store: &Store, doc: DocumentId) -> Result<Option<PartialCopy>, ReplicaError> {
    let Some(named) = store.meta(&named_key(doc))? else { return Ok(None) };
    let named = String::from_utf8_lossy(&named).into_owned();
    let mut lines = named.lines();
    let (Some(heads), Some(digest), Some(Ok(total))) =
        (lines.next(), lines.next(), lines.next().map(str::parse::<usize>))
    else {
        return Ok(None);
    };
    let bytes = store.meta(&bytes_key(doc))?.unwrap_or_default();
    Ok(Some(PartialCopy { heads: heads.to_owned(), digest: digest.to_owned(), total, bytes }))
}

/// Keeps `copy` of `doc`, in one transaction.
pub(crate) fn keep(store: &mut Store, doc: DocumentId, copy: &PartialCopy) -> Result<(), ReplicaError> {
    // Heads, digest and length, a line each.
    let named = format!("{}\n{}\n{}", copy.heads, copy.digest, copy.total);
    let (named_key, bytes_key) = (named_key(doc), bytes_key(doc));
    store.commit(&[
        Write::Meta { key: &named_key, value: named.as_bytes() },
        Write::Meta { key: &bytes_key, value: &copy.bytes },
    ])
}

/// Forgets the copy of `doc`.
pub(crate) fn forget(store: &mut Store, doc: DocumentId) -> Result<(), ReplicaError> {
    let (named_key, bytes_key) = (named_key(doc), bytes_key(doc));
    store.commit(&[Write::DeleteMeta { key: &named_key }, Write::DeleteMeta { key: &bytes_key }])
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

    /// The relay gave no copy of `doc` (a relay older than copies, or a document no longer
    /// this device's): until the app restarts, syncs take it as they did before copies.
    pub fn copy_refused(&mut self, doc: DocumentId) {
        self.copies_refused.insert(doc);
    }

    /// What arrived so far of the copy of `doc` being fetched, if any.
    pub fn copy_so_far(&self, doc: DocumentId) -> Result<Option<PartialCopy>, ReplicaError> {
        load(self.store(), doc)
    }

    /// Keeps what arrived so far of the copy of `doc`.
    pub fn keep_copy(&mut self, doc: DocumentId, copy: &PartialCopy) -> Result<(), ReplicaError> {
        keep(self.store_mut(), doc, copy)
    }

    /// Takes a complete copy of `doc` as the document, at the heads it was saved at, in place of
    /// the nothing this device held; the next sync gets the changes since. Returns whether it
    /// was taken: a copy that is not the one the relay named (its digest), that does not load as
    /// the document expected, or of a document this device holds by now, is forgotten instead,
    /// and the document is fetched again.
    pub fn adopt_copy(&mut self, doc: DocumentId, copy: &PartialCopy) -> Result<bool, ReplicaError> {
        let placeholder = self
            .compounds
            .values()
            .find_map(|c| c.document(doc))
            .filter(|d| d.is_placeholder())
            .map(|d| *d.header());
        let device = self.device_actor().clone();
        let loaded = match placeholder {
            Some(header) if copy.is_whole() => {
                std::panic::catch_unwind(|| Document::load(header, &copy.bytes, device))
                    .ok()
                    .and_then(Result::ok)
            }
            _ => None,
        };
        let Some(loaded) = loaded else {
            tracing::warn!(doc = %doc, bytes = copy.bytes.len(), "a document's copy was not taken; it is fetched again");
            forget(self.store_mut(), doc)?;
            return Ok(false);
        };
        let compound = loaded.compound();
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
        forget(self.store_mut(), doc)?;
        Ok(true)
    }
}
