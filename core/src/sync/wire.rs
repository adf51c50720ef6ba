//! The batched sync protocol on the wire: one request carries a message for each of a phone's
//! documents; one response carries the replies, the documents the caller may hold now (or that
//! they are the ones the phone already knows, see `grants_digest.rs`), and any rejections. CBOR,
//! with raw bytes (no base64).

use serde::{Deserialize, Serialize};

use super::SyncError;
use super::grants_digest::GrantsDigest;
use crate::document::Header;
use crate::id::DocumentId;
use crate::role::Role;

/// The protocol version; a mismatch is a clear error, not a misparse.
pub const WIRE_VERSION: u32 = 1;

/// One document's sync message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocMessage {
    /// The document.
    pub doc: DocumentId,
    /// An encoded `automerge::sync::Message`.
    #[serde(with = "serde_bytes")]
    pub message: Vec<u8>,
}

/// A phone's request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// [`WIRE_VERSION`].
    pub version: u32,
    /// Messages for the documents the phone has something to say about.
    pub messages: Vec<DocMessage>,
    /// The digest of the document list the phone last applied, if it keeps one: a relay that
    /// finds the caller's list unchanged answers without it. Absent from the requests of phones
    /// older than the digest, and skipped on the wire when absent, so an older relay reads the
    /// request as before (it ignores the field, and always sends the list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documents_digest: Option<GrantsDigest>,
}

impl SyncRequest {
    /// A request carrying `messages`, without a document-list digest.
    pub fn new(messages: Vec<DocMessage>) -> Self {
        Self { version: WIRE_VERSION, messages, documents_digest: None }
    }

    /// CBOR bytes of the plain form, which every relay reads.
    pub fn encode(&self) -> Vec<u8> {
        to_cbor(self)
    }

    /// CBOR bytes of the compact form (`compact_request.rs`), for a relay that said it reads it:
    /// the same request, with IDs as bytes and each untouched document as its heads.
    pub fn encode_compact(&self) -> Vec<u8> {
        to_cbor(&super::compact_request::encode(self))
    }

    /// Parses either form (a plain request is a CBOR map, a compact one an array) and checks
    /// the version.
    pub fn decode(bytes: &[u8]) -> Result<Self, SyncError> {
        if super::compact_request::is_compact(bytes) {
            let compact = from_cbor(bytes)?;
            return super::compact_request::decode(compact).map_err(SyncError::MalformedBatch);
        }
        let value: Self = from_cbor(bytes)?;
        if value.version != WIRE_VERSION {
            return Err(SyncError::WireVersion { found: value.version, supported: WIRE_VERSION });
        }
        Ok(value)
    }

    /// Whether `bytes` are a request in the compact form (whether or not it reads).
    pub fn is_compact(bytes: &[u8]) -> bool {
        super::compact_request::is_compact(bytes)
    }
}

/// A document the caller may hold, and in which role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentGrant {
    /// The document's identity.
    pub header: Header,
    /// The caller's role in its compound.
    pub role: Role,
}

/// Why the relay refused a document's message, or part of it: nothing of it was stored except
/// the changes named in [`Rejection::taken`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// The document.
    pub doc: DocumentId,
    /// The change that broke a rule, as hex, if one change is to blame.
    pub change: Option<String>,
    /// The rule's code (see `permission::Rule::code`) or `schema`, `malformed`, `forbidden`.
    pub rule: String,
    /// A sentence a person can act on.
    pub reason: String,
    /// The message's changes the relay took all the same, as hex: when one change broke a rule,
    /// the changes that do not build on it are taken and stored (a knock made before a round
    /// closed is not held back by one made after). Empty when nothing of the message was stored;
    /// absent on the wire then, and from relays that take nothing of a refused message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taken: Vec<String>,
}

/// Whether a refusal is about this moment or about the change itself. The class is a function
/// of the rule code, so it needs no field of its own on the wire and every relay version's
/// rejections classify the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectionClass {
    /// The relay could not take the message now (storage busy, a document created by a request
    /// running alongside, a document at its size limit, too many whole fetches): nothing is wrong
    /// with the changes. The phone keeps them and sends them again later; it never sets them aside.
    Transient,
    /// The changes break a rule and will be refused every time: the phone sets the refused
    /// operation aside for a coordinator to review, and syncs the rest.
    Permanent,
}

impl Rejection {
    /// How to treat this refusal: retry it later, or set the refused operation aside.
    pub fn class(&self) -> RejectionClass {
        if crate::relay_engine::rejection::TRANSIENT.contains(&self.rule.as_str()) {
            RejectionClass::Transient
        } else {
            RejectionClass::Permanent
        }
    }

    /// Whether the relay lacks a change the refused ones depend on: the phone took the relay to
    /// hold heads it does not (see `PeerState::presume_peer_holds_shared_heads`) and should
    /// start the document's exchange over, which finds what is missing.
    pub fn lacks_dependencies(&self) -> bool {
        self.rule == crate::relay_engine::rejection::MISSING_DEPENDENCIES
    }

    /// Whether the relay already holds other changes under the phone's actor with the same
    /// sequence numbers: the phone runs on an older copy of its replica (restored from a
    /// backup) and must write its unsynced work again under a new actor (see the replica's
    /// `actor_rotation`).
    pub fn actor_reused(&self) -> bool {
        self.rule == crate::relay_engine::rejection::ACTOR_REUSED
    }

    /// Whether the phone should send the changes again later rather than set them aside.
    pub fn is_transient(&self) -> bool {
        self.class() == RejectionClass::Transient
    }

    /// Whether a transient refusal may pass within seconds (storage busy, work over its budget,
    /// a dependency or actor to negotiate), so that the same sync tries again after a short
    /// wait; the lasting ones (`relay_engine::rejection::LASTING`) wait for the next sync, since
    /// sending the same changes again within this one only spends the link.
    pub fn may_pass_soon(&self) -> bool {
        self.is_transient() && !crate::relay_engine::rejection::LASTING.contains(&self.rule.as_str())
    }
}

/// The relay's response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "SyncResponseOnTheWire", into = "SyncResponseOnTheWire")]
pub struct SyncResponse {
    /// [`WIRE_VERSION`].
    pub version: u32,
    /// Replies for documents that have something to say.
    pub messages: Vec<DocMessage>,
    /// Every document the caller may hold now; anything else the phone holds, it drops. An
    /// empty list means exactly that: the phone may hold nothing and drops everything. `None`
    /// means *unchanged*: the list is the one whose digest the request carried
    /// ([`SyncRequest::documents_digest`]), which the phone keeps and applies again.
    pub documents: Option<Vec<DocumentGrant>>,
    /// Messages refused, per document.
    pub rejected: Vec<Rejection>,
    /// The relay reads requests in the compact form (`compact_request.rs`). Said only in answer
    /// to a plain request; a phone that already sends compact ones knows. Older phones ignore it.
    pub reads_compact: bool,
}

/// [`SyncResponse`] as CBOR carries it. A listed response has `documents` and no
/// `documents_unchanged`, exactly as before the digest, so older phones read it unchanged; an
/// unchanged one has `documents_unchanged: true` and no `documents` (sent only to phones that
/// sent a digest, which read it). A response with both, or with neither, is malformed: "unchanged"
/// and "nothing granted" can never be mistaken for each other.
#[derive(Serialize, Deserialize)]
struct SyncResponseOnTheWire {
    version: u32,
    messages: Vec<DocMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    documents: Option<Vec<DocumentGrant>>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    documents_unchanged: bool,
    rejected: Vec<Rejection>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    reads_compact: bool,
}

/// A response whose document list is neither given nor said to be unchanged, or both.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmbiguousDocumentList {
    /// Neither.
    #[error("the response neither lists the documents the caller may hold nor says they are unchanged")]
    Missing,
    /// Both.
    #[error("the response lists the documents the caller may hold and also says they are unchanged")]
    Both,
}

impl TryFrom<SyncResponseOnTheWire> for SyncResponse {
    type Error = AmbiguousDocumentList;

    fn try_from(wire: SyncResponseOnTheWire) -> Result<Self, AmbiguousDocumentList> {
        let documents = match (wire.documents, wire.documents_unchanged) {
            (Some(list), false) => Some(list),
            (None, true) => None,
            (None, false) => return Err(AmbiguousDocumentList::Missing),
            (Some(_), true) => return Err(AmbiguousDocumentList::Both),
        };
        Ok(Self {
            version: wire.version,
            messages: wire.messages,
            documents,
            rejected: wire.rejected,
            reads_compact: wire.reads_compact,
        })
    }
}

impl From<SyncResponse> for SyncResponseOnTheWire {
    fn from(response: SyncResponse) -> Self {
        Self {
            version: response.version,
            messages: response.messages,
            documents_unchanged: response.documents.is_none(),
            documents: response.documents,
            rejected: response.rejected,
            reads_compact: response.reads_compact,
        }
    }
}

fn to_cbor<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail, and every type here serializes.
    if let Err(e) = ciborium::into_writer(value, &mut out) {
        tracing::error!(error = %e, "CBOR encoding failed");
    }
    out
}

/// Parses one CBOR value that must fill `bytes` exactly: bytes after it are refused, not ignored,
/// so a body cannot smuggle anything past the checks and two encoders never disagree about a message.
fn from_cbor<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, SyncError> {
    let mut rest = bytes;
    let value = ciborium::from_reader(&mut rest).map_err(|e| SyncError::MalformedBatch(cbor_refusal(&e)))?;
    if !rest.is_empty() {
        return Err(SyncError::MalformedBatch(format!(
            "{} bytes follow the message; send exactly one CBOR message per request",
            rest.len()
        )));
    }
    Ok(value)
}

/// What is wrong with a body CBOR does not read, in words a client's author can act on (ciborium's
/// own text is Rust debug output: `Io(Error { kind: UnexpectedEof, .. })`).
fn cbor_refusal(error: &ciborium::de::Error<std::io::Error>) -> String {
    use ciborium::de::Error;
    match error {
        Error::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            "the body ends before its CBOR message does (cut short, or not CBOR); send the whole message"
                .to_owned()
        }
        Error::Io(e) => format!("the body could not be read as CBOR ({e})"),
        Error::Syntax(offset) => format!("the body is not CBOR: byte {offset} does not read as CBOR"),
        Error::Semantic(Some(offset), what) => {
            format!("the CBOR message is not a sync message: {what} (at byte {offset})")
        }
        Error::Semantic(None, what) => format!("the CBOR message is not a sync message: {what}"),
        Error::RecursionLimitExceeded => {
            "the CBOR message nests values deeper than a sync message does".to_owned()
        }
    }
}

macro_rules! wire_codec {
    ($ty:ty) => {
        impl $ty {
            /// CBOR bytes.
            pub fn encode(&self) -> Vec<u8> {
                to_cbor(self)
            }

            /// Parses CBOR bytes and checks the wire version.
            pub fn decode(bytes: &[u8]) -> Result<Self, SyncError> {
                let value: Self = from_cbor(bytes)?;
                if value.version != WIRE_VERSION {
                    return Err(SyncError::WireVersion { found: value.version, supported: WIRE_VERSION });
                }
                Ok(value)
            }
        }
    };
}

wire_codec!(SyncResponse);

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    use crate::document::Header;
    use crate::id::CompoundId;
    use crate::schema::vocabulary::DocKind;

    /// The request as phones wrote it before the document-list digest.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct RequestBeforeTheDigest {
        version: u32,
        messages: Vec<DocMessage>,
    }

    /// The response as phones read it before the document-list digest.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct ResponseBeforeTheDigest {
        version: u32,
        messages: Vec<DocMessage>,
        documents: Vec<DocumentGrant>,
        rejected: Vec<Rejection>,
    }

    fn grants() -> Vec<DocumentGrant> {
        let header = Header {
            id: DocumentId::from_uuid(uuid::Uuid::from_u128(1)),
            kind: DocKind::Roster,
            compound: CompoundId::from_uuid(uuid::Uuid::from_u128(2)),
        };
        vec![DocumentGrant { header, role: Role::Volunteer }]
    }

    fn response(documents: Option<Vec<DocumentGrant>>) -> SyncResponse {
        SyncResponse {
            version: WIRE_VERSION,
            messages: Vec::new(),
            documents,
            rejected: Vec::new(),
            reads_compact: false,
        }
    }

    fn cbor<T: Serialize>(value: &T) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::into_writer(value, &mut out).unwrap();
        out
    }

    #[test]
    fn an_older_phones_request_has_no_digest_and_an_older_relay_ignores_it() {
        let old = RequestBeforeTheDigest { version: WIRE_VERSION, messages: Vec::new() };
        let read = SyncRequest::decode(&cbor(&old)).unwrap();
        assert_eq!(read.documents_digest, None);
        // Without a digest the request is byte for byte what older phones send.
        assert_eq!(SyncRequest::new(Vec::new()).encode(), cbor(&old));
        let digest = GrantsDigest::of(&grants());
        let new = SyncRequest { documents_digest: Some(digest), ..SyncRequest::new(Vec::new()) };
        let read_by_old: RequestBeforeTheDigest = ciborium::from_reader(new.encode().as_slice()).unwrap();
        assert_eq!(read_by_old, old);
        assert_eq!(SyncRequest::decode(&new.encode()).unwrap().documents_digest, Some(digest));
    }

    #[test]
    fn a_listed_response_reads_as_before_and_an_empty_list_stays_a_list() {
        for documents in [grants(), Vec::new()] {
            let bytes = response(Some(documents.clone())).encode();
            let old: ResponseBeforeTheDigest = ciborium::from_reader(bytes.as_slice()).unwrap();
            assert_eq!(old.documents, documents, "an older phone reads the list");
            let before = ResponseBeforeTheDigest {
                version: WIRE_VERSION,
                messages: Vec::new(),
                documents: documents.clone(),
                rejected: Vec::new(),
            };
            assert_eq!(bytes, cbor(&before), "a listed response is byte for byte what it was");
            let read = SyncResponse::decode(&cbor(&before)).unwrap();
            assert_eq!(read.documents, Some(documents), "a newer phone reads an older relay's list");
        }
    }

    #[test]
    fn unchanged_is_said_explicitly_and_never_read_as_nothing_granted() {
        let unchanged = response(None).encode();
        assert_eq!(SyncResponse::decode(&unchanged).unwrap().documents, None);
        let empty = response(Some(Vec::new())).encode();
        assert_eq!(SyncResponse::decode(&empty).unwrap().documents, Some(Vec::new()));
        assert_ne!(unchanged, empty);
        assert!(unchanged.len() < response(Some(grants())).encode().len());
    }

    #[test]
    fn a_response_with_both_or_neither_is_malformed() {
        #[derive(Serialize)]
        struct Both {
            version: u32,
            messages: Vec<DocMessage>,
            documents: Vec<DocumentGrant>,
            documents_unchanged: bool,
            rejected: Vec<Rejection>,
        }
        #[derive(Serialize)]
        struct Neither {
            version: u32,
            messages: Vec<DocMessage>,
            rejected: Vec<Rejection>,
        }
        let both = Both {
            version: WIRE_VERSION,
            messages: Vec::new(),
            documents: Vec::new(),
            documents_unchanged: true,
            rejected: Vec::new(),
        };
        let neither = Neither { version: WIRE_VERSION, messages: Vec::new(), rejected: Vec::new() };
        for (bytes, says) in
            [(cbor(&both), "also says they are unchanged"), (cbor(&neither), "neither lists")]
        {
            match SyncResponse::decode(&bytes) {
                Err(SyncError::MalformedBatch(reason)) => assert!(reason.contains(says), "{reason}"),
                other => panic!("an ambiguous document list must be refused, got {other:?}"),
            }
        }
    }

    #[test]
    fn one_message_fills_the_body_exactly() {
        let request = SyncRequest::new(Vec::new());
        let bytes = request.encode();
        assert_eq!(SyncRequest::decode(&bytes).ok(), Some(request.clone()));
        let mut trailing = bytes.clone();
        trailing.extend_from_slice(&bytes);
        match SyncRequest::decode(&trailing) {
            Err(SyncError::MalformedBatch(reason)) => {
                assert!(reason.contains(&format!("{} bytes follow", bytes.len())), "{reason}");
            }
            other => panic!("a second message after the first must be refused, got {other:?}"),
        }
    }

    #[test]
    fn a_body_cbor_does_not_read_is_refused_in_words_not_debug_text() {
        let whole = SyncRequest::new(Vec::new()).encode();
        let cut = &whole[..whole.len() - 1];
        for (bytes, says) in [
            (cut, "ends before its CBOR message does"),
            (&[0x1c_u8][..], "is not CBOR"),
            (&cbor(&"a string")[..], "is not a sync message"),
        ] {
            match SyncRequest::decode(bytes) {
                Err(SyncError::MalformedBatch(reason)) => {
                    assert!(reason.contains(says), "{reason}");
                    assert!(!reason.contains("Error {") && !reason.contains("kind:"), "{reason}");
                }
                other => panic!("{bytes:?} must be refused, got {other:?}"),
            }
        }
    }
}
