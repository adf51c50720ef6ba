//! The sync request this phone is sending in pieces, kept in its file until the relay took it.
//!
//! On a landing's link a window of signal may end half-way through a long request, and a
//! request sent whole to `/v1/sync` is then lost whole: a long day went up one or two notes a
//! window. A request of at least core's `PIECES_FROM_BYTES` on the wire goes instead to a relay
//! that takes requests in pieces (core's `sync/request_pieces.rs`), which keeps every byte that
//! arrives. The phone keeps the very bytes it sends, with what they carry, so that the next
//! window (the app killed in between, or not) asks how much the relay holds and sends the rest
//! of the same request: new work made meanwhile goes in a later request.
//!
//! Kept in two meta values: the bytes, and what they are (digest, encoding, the reply budget
//! asked, this device's changes carried per document: what the relay's answer may refuse).
//! Written once per request; both go when the relay answered it, or said it took it, or refused
//! it as a request in pieces (then the same work is sent whole by the next request).

use automerge::ChangeHash;
use doorstep_core::id::DocumentId;
use doorstep_core::sync::request_pieces::{PIECES_FROM_BYTES, digest};
use serde::{Deserialize, Serialize};

use crate::error::ReplicaError;
use crate::replica::Replica;
use crate::store::{Store, Write};

/// On a link that dropped a request lately, requests at least this long go in pieces: what
/// is shorter is a request with no changes, whose answer costs more than it.
const PIECES_ON_A_DROPPING_LINK_FROM: usize = 1024;

/// The meta key of the request's bytes.
const BYTES: &str = "request-in-pieces";
/// The meta key of what they are (JSON [`About`]).
const ABOUT: &str = "request-in-pieces-about";

/// A sync request sent in pieces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInPieces {
    /// Its bytes, as they go on the wire (compressed when `deflated`).
    pub bytes: Vec<u8>,
    /// SHA-256 of `bytes`, hex.
    pub digest: String,
    /// Compressed.
    pub deflated: bool,
    /// The most bytes the answer should carry (core `sync/reply_budget.rs`), if bounded.
    pub reply_budget: Option<usize>,
    /// This device's changes it carries, per document.
    pub carries: Vec<(DocumentId, Vec<ChangeHash>)>,
}

#[derive(Serialize, Deserialize)]
struct About {
    digest: String,
    deflated: bool,
    reply_budget: Option<usize>,
    carries: Vec<(DocumentId, Vec<String>)>,
}

impl RequestInPieces {
    /// The request `bytes`.
    pub fn new(
        bytes: Vec<u8>,
        deflated: bool,
        reply_budget: Option<usize>,
        carries: Vec<(DocumentId, Vec<ChangeHash>)>,
    ) -> Self {
        let digest = digest(&bytes);
        Self { bytes, digest, deflated, reply_budget, carries }
    }

    /// The request kept in the file, if any; one whose bytes do not match what is kept of them
    /// (a write cut between the two, which one commit does not allow, or a damaged file) is
    /// forgotten: its work goes in the next request.
    pub(crate) fn load(store: &Store) -> Result<Option<Self>, ReplicaError> {
        let (Some(bytes), Some(about)) = (store.meta(BYTES)?, store.meta(ABOUT)?) else { return Ok(None) };
        let Ok(about) = serde_json::from_slice::<About>(&about) else { return Ok(None) };
        if digest(&bytes) != about.digest {
            return Ok(None);
        }
        let carries = about
            .carries
            .into_iter()
            .map(|(doc, hashes)| (doc, hashes.iter().filter_map(|h| h.parse().ok()).collect()))
            .collect();
        Ok(Some(Self {
            bytes,
            digest: about.digest,
            deflated: about.deflated,
            reply_budget: about.reply_budget,
            carries,
        }))
    }

    /// Keeps it in the file.
    pub(crate) fn keep(&self, store: &mut Store) -> Result<(), ReplicaError> {
        let about = About {
            digest: self.digest.clone(),
            deflated: self.deflated,
            reply_budget: self.reply_budget,
            carries: self
                .carries
                .iter()
                .map(|(doc, hashes)| (*doc, hashes.iter().map(ToString::to_string).collect()))
                .collect(),
        };
        // Plain strings, numbers and lists: serializing cannot fail; an empty value would only
        // make the request forgotten at the next start.
        let about = serde_json::to_vec(&about).unwrap_or_default();
        store.commit(&[
            Write::Meta { key: BYTES, value: &self.bytes },
            Write::Meta { key: ABOUT, value: &about },
        ])
    }

    /// Forgets the one kept in the file.
    pub(crate) fn forget(store: &mut Store) -> Result<(), ReplicaError> {
        store.commit(&[Write::DeleteMeta { key: BYTES }, Write::DeleteMeta { key: ABOUT }])
    }
}

impl Replica {
    /// The request being sent in pieces, if any.
    pub fn request_in_pieces(&self) -> Option<&RequestInPieces> {
        self.in_pieces.as_ref()
    }

    /// Whether a request of `wire_bytes` on the wire goes in pieces, to a relay not known to
    /// refuse them: one long enough that a short window may cut it, or, on a link that dropped
    /// a request lately (`link_dropped`), any but the shortest (a note of a few kilobytes may be
    /// longer than a window there).
    pub fn sends_in_pieces(&self, wire_bytes: usize, link_dropped: bool) -> bool {
        let long = if link_dropped { PIECES_ON_A_DROPPING_LINK_FROM } else { PIECES_FROM_BYTES };
        wire_bytes >= long && !self.relay_lacks_pieces
    }

    /// Starts sending `request` in pieces: kept in the file first.
    pub fn keep_request_in_pieces(&mut self, request: RequestInPieces) -> Result<(), ReplicaError> {
        request.keep(self.store_mut())?;
        self.in_pieces = Some(request);
        Ok(())
    }

    /// The request in pieces is done with: answered, taken, or to go whole.
    pub fn forget_request_in_pieces(&mut self) -> Result<(), ReplicaError> {
        if self.in_pieces.take().is_some() {
            RequestInPieces::forget(self.store_mut())?;
        }
        Ok(())
    }

    /// The relay would not take the request in pieces: it is forgotten, its work going whole in
    /// the next requests; when the relay takes no requests in pieces at all (`unsupported`, an
    /// older relay), none go in pieces until the app restarts.
    pub fn let_go_of_pieces(&mut self, unsupported: bool) -> Result<(), ReplicaError> {
        if unsupported {
            self.relay_lacks_pieces = true;
        }
        self.forget_request_in_pieces()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_request_kept_comes_back_the_same_and_goes_when_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("phone.db");
        let doc: DocumentId = "0190f0e4-7c1a-7b3e-9f00-123456789abc".parse().unwrap();
        let hash: ChangeHash = ChangeHash([7; 32]);
        let request = RequestInPieces::new(vec![1, 2, 3, 250], true, Some(12_000), vec![(doc, vec![hash])]);
        {
            let mut store = Store::open_with(&path, None).unwrap();
            request.keep(&mut store).unwrap();
        }
        let mut store = Store::open_with(&path, None).unwrap();
        assert_eq!(RequestInPieces::load(&store).unwrap(), Some(request));
        RequestInPieces::forget(&mut store).unwrap();
        assert_eq!(RequestInPieces::load(&store).unwrap(), None);
    }
}
