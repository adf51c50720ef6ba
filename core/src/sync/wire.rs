//! The batched sync protocol on the wire: one request carries a message for each of a phone's
//! documents; one response carries the replies, the documents the caller may hold now, and any
//! rejections. CBOR, with raw bytes (no base64).

use serde::{Deserialize, Serialize};

use super::SyncError;
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
}

/// A document the caller may hold, and in which role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentGrant {
    /// The document's identity.
    pub header: Header,
    /// The caller's role in its compound.
    pub role: Role,
}

/// Why the relay refused a document's message; nothing of it was stored.
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
}

/// The relay's response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncResponse {
    /// [`WIRE_VERSION`].
    pub version: u32,
    /// Replies for documents that have something to say.
    pub messages: Vec<DocMessage>,
    /// Every document the caller may hold now; anything else the phone holds, it drops.
    pub documents: Vec<DocumentGrant>,
    /// Messages refused, per document.
    pub rejected: Vec<Rejection>,
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
    let value = ciborium::from_reader(&mut rest).map_err(|e| SyncError::MalformedBatch(e.to_string()))?;
    if !rest.is_empty() {
        return Err(SyncError::MalformedBatch(format!(
            "{} bytes follow the message; send exactly one CBOR message per request",
            rest.len()
        )));
    }
    Ok(value)
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

wire_codec!(SyncRequest);
wire_codec!(SyncResponse);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_message_fills_the_body_exactly() {
        let request = SyncRequest { version: WIRE_VERSION, messages: Vec::new() };
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
}
