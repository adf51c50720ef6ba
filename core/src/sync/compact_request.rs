//! The compact form of a [`SyncRequest`], for a relay that said it reads it (a response's
//! `reads_compact`): the same request in fewer bytes, for a volunteer's few seconds of signal.
//!
//! A plain request is a CBOR map whose every message names its document as 36 characters of
//! text, and whose every untouched document (nothing new on the phone since the last sync) still
//! carries Automerge's whole opening message: the heads, the same heads again as the last sync,
//! an empty Bloom filter, the flags (about 130 bytes with the framing). The compact form is a CBOR
//! array `[2, digest or null, [[id, body], …]]`: the ID as its 16 bytes, and the body either the
//! Automerge message's bytes or, for an untouched document, only its heads (an array of 32-byte
//! hashes), from which the reader rebuilds exactly the message the phone would have sent.
//!
//! The encoding is lossless by construction: a message becomes heads only when the message
//! rebuilt from those heads is the same bytes (`untouched_message`), so a relay decoding the
//! compact form holds byte for byte the request the phone built, and nothing past the decoder
//! (checks, rules, replies) knows which form came. A relay older than the compact form refuses it
//! as malformed (an array is not its request); the phone then sends the plain form again and
//! forgets that the relay reads it (the replica's `sync_run.rs`).

use automerge::ChangeHash;
use automerge::sync::{BloomFilter, ChunkList, Have, Message, MessageFlags, MessageVersion};
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_bytes::{ByteBuf, Bytes};

use super::grants_digest::GrantsDigest;
use super::message_limits::MessageLimits;
use super::wire::{DocMessage, SyncRequest, WIRE_VERSION};
use crate::id::DocumentId;

/// The first element of a compact request, where a plain one has its `version` field.
const COMPACT_VERSION: u32 = 2;

/// The message an untouched document opens a session with: our heads, nothing needed, the same
/// heads as the last sync with an empty Bloom filter (no change since), no changes, and the flag
/// every message of ours carries (we understand a sync reset).
fn untouched_message(heads: Vec<ChangeHash>) -> Vec<u8> {
    let mut flags = MessageFlags::new();
    flags.set(MessageFlags::SUPPORTS_SYNC_RESET);
    Message {
        heads: heads.clone(),
        need: Vec::new(),
        have: vec![Have { last_sync: heads, bloom: BloomFilter::default() }],
        changes: ChunkList::empty(),
        flags: Some(flags),
        version: MessageVersion::V1,
    }
    .encode()
}

/// The heads `message` can be sent as, if it is exactly an untouched document's message.
fn as_heads(message: &[u8]) -> Option<Vec<ChangeHash>> {
    let decoded = Message::decode(message).ok()?;
    let heads = decoded.heads;
    (untouched_message(heads.clone()) == message).then_some(heads)
}

/// A message's body in the compact form.
enum Body {
    /// The Automerge message's bytes.
    Message(Vec<u8>),
    /// An untouched document's heads.
    Heads(Vec<ChangeHash>),
}

impl Serialize for Body {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Body::Message(bytes) => serializer.serialize_bytes(bytes),
            Body::Heads(heads) => {
                let heads: Vec<&Bytes> = heads.iter().map(|h| Bytes::new(h.as_ref())).collect();
                heads.serialize(serializer)
            }
        }
    }
}

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BodyVisitor;

        impl<'de> Visitor<'de> for BodyVisitor {
            type Value = Body;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a sync message's bytes or an array of 32-byte heads")
            }

            fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Body, E> {
                Ok(Body::Message(bytes.to_vec()))
            }

            fn visit_byte_buf<E: de::Error>(self, bytes: Vec<u8>) -> Result<Body, E> {
                Ok(Body::Message(bytes))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Body, A::Error> {
                // No more than a phone's message may carry (`MessageLimits`): refused here, before
                // a message twice the size is rebuilt from them.
                let most = MessageLimits::default().max_heads;
                let mut heads = Vec::new();
                while let Some(head) = seq.next_element::<ByteBuf>()? {
                    if heads.len() == most {
                        return Err(de::Error::custom(format!("more than {most} heads for one document")));
                    }
                    let hash = ChangeHash::try_from(head.as_slice())
                        .map_err(|_| de::Error::custom(format!("a head is 32 bytes, not {}", head.len())))?;
                    // Automerge lists heads sorted, each once, and its encoder relies on it (a
                    // debug build asserts it): anything else is not a phone's message.
                    if heads.last().is_some_and(|last| *last >= hash) {
                        return Err(de::Error::custom(
                            "a document's heads are listed in ascending order, each once, as Automerge lists them",
                        ));
                    }
                    heads.push(hash);
                }
                Ok(Body::Heads(heads))
            }
        }

        deserializer.deserialize_any(BodyVisitor)
    }
}

/// A document's 16 bytes.
struct CompactId(DocumentId);

impl Serialize for CompactId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0.as_uuid().as_bytes())
    }
}

impl<'de> Deserialize<'de> for CompactId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes = ByteBuf::deserialize(deserializer)?;
        let uuid = uuid::Uuid::from_slice(&bytes)
            .map_err(|_| de::Error::custom(format!("a document ID is 16 bytes, not {}", bytes.len())))?;
        Ok(Self(DocumentId::from_uuid(uuid)))
    }
}

/// The compact request on the wire: a CBOR array.
#[derive(Serialize, Deserialize)]
pub(super) struct CompactRequest(u32, Option<GrantsDigest>, Vec<(CompactId, Body)>);

/// `request` in the compact form.
pub(super) fn encode(request: &SyncRequest) -> CompactRequest {
    let entries = request
        .messages
        .iter()
        .map(|m| {
            let body = match as_heads(&m.message) {
                Some(heads) => Body::Heads(heads),
                None => Body::Message(m.message.clone()),
            };
            (CompactId(m.doc), body)
        })
        .collect();
    CompactRequest(COMPACT_VERSION, request.documents_digest, entries)
}

/// Whether `bytes` start a compact request (a CBOR array) rather than a plain one (a map).
pub(super) fn is_compact(bytes: &[u8]) -> bool {
    bytes.first().is_some_and(|b| b >> 5 == 4)
}

/// Reads a compact request back into the request the phone built. `Err` carries what is wrong.
pub(super) fn decode(value: CompactRequest) -> Result<SyncRequest, String> {
    let CompactRequest(version, documents_digest, entries) = value;
    if version != COMPACT_VERSION {
        return Err(format!("a compact sync request starts with {COMPACT_VERSION}, not {version}"));
    }
    let messages = entries
        .into_iter()
        .map(|(CompactId(doc), body)| DocMessage {
            doc,
            message: match body {
                Body::Message(bytes) => bytes,
                Body::Heads(heads) => untouched_message(heads),
            },
        })
        .collect();
    Ok(SyncRequest { version: WIRE_VERSION, messages, documents_digest })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use automerge::transaction::Transactable;
    use automerge::{Automerge, ROOT};

    use super::*;
    use crate::sync::{PeerState, SyncError};

    fn doc_id(n: u128) -> DocumentId {
        DocumentId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn put(doc: &mut Automerge, key: &str, value: &str) {
        let mut tx = doc.transaction();
        tx.put(ROOT, key, value).unwrap();
        tx.commit();
    }

    /// A document synced once with a peer, and the state our side persisted.
    fn synced() -> (Automerge, PeerState) {
        let mut ours = Automerge::new();
        put(&mut ours, "name", "香樟苑");
        let mut theirs = Automerge::new();
        let (mut our_state, mut their_state) = (PeerState::new(), PeerState::new());
        for _ in 0..10 {
            if let Some(m) = crate::sync::generate(&ours, &mut our_state) {
                crate::sync::receive(&mut theirs, &mut their_state, Message::decode(&m).unwrap()).unwrap();
            }
            if let Some(m) = crate::sync::generate(&theirs, &mut their_state) {
                crate::sync::receive(&mut ours, &mut our_state, Message::decode(&m).unwrap()).unwrap();
            }
        }
        assert_eq!(ours.get_heads(), theirs.get_heads());
        (ours, PeerState::decode(&our_state.encode()).unwrap())
    }

    /// The opening message of a session, as the phone's session builds it.
    fn opening(doc: &Automerge, mut state: PeerState) -> Vec<u8> {
        state.presume_peer_holds_shared_heads();
        crate::sync::generate(doc, &mut state).unwrap()
    }

    #[test]
    fn an_untouched_document_goes_as_its_heads_and_comes_back_byte_for_byte() {
        let (doc, state) = synced();
        let message = opening(&doc, state);
        assert_eq!(as_heads(&message), Some(doc.get_heads()), "an untouched document is its heads");
        let request = SyncRequest::new(vec![DocMessage { doc: doc_id(7), message: message.clone() }]);
        let plain = request.encode();
        let compact = request.encode_compact();
        assert!(
            compact.len() * 2 < plain.len(),
            "compact {} B against plain {} B for one untouched document",
            compact.len(),
            plain.len()
        );
        assert_eq!(SyncRequest::decode(&compact).unwrap(), request);
    }

    #[test]
    fn a_document_with_news_goes_as_its_message() {
        let (mut doc, state) = synced();
        put(&mut doc, "note", "lift out of order");
        let message = opening(&doc, state);
        assert_eq!(as_heads(&message), None, "a message with changes is never cut to heads");
        let request = SyncRequest {
            documents_digest: Some(GrantsDigest::of(&[])),
            ..SyncRequest::new(vec![
                DocMessage { doc: doc_id(1), message: message.clone() },
                DocMessage { doc: doc_id(2), message: opening(&Automerge::new(), PeerState::new()) },
            ])
        };
        let compact = request.encode_compact();
        assert!(compact.len() < request.encode().len());
        assert_eq!(SyncRequest::decode(&compact).unwrap(), request, "order, digest and bytes all kept");
    }

    #[test]
    fn a_message_that_only_looks_untouched_is_kept_whole() {
        // The same heads and an empty filter, but other flags: rebuilding from the heads would
        // change the message, so it goes as it is.
        let (doc, _) = synced();
        let heads = doc.get_heads();
        let odd = Message {
            heads: heads.clone(),
            need: Vec::new(),
            have: vec![Have { last_sync: heads, bloom: BloomFilter::default() }],
            changes: ChunkList::empty(),
            flags: None,
            version: MessageVersion::V1,
        }
        .encode();
        assert_eq!(as_heads(&odd), None);
        let request = SyncRequest::new(vec![DocMessage { doc: doc_id(3), message: odd }]);
        assert_eq!(SyncRequest::decode(&request.encode_compact()).unwrap(), request);
    }

    fn cbor(value: &impl Serialize) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::into_writer(value, &mut out).unwrap();
        out
    }

    /// `n` different heads in ascending order.
    fn ascending_heads(n: u32) -> Vec<ByteBuf> {
        (0..n)
            .map(|i| {
                let mut head = vec![0u8; 32];
                head[..4].copy_from_slice(&i.to_be_bytes());
                ByteBuf::from(head)
            })
            .collect()
    }

    #[test]
    fn a_broken_compact_request_is_refused_with_what_is_wrong() {
        let id = ByteBuf::from(uuid::Uuid::from_u128(9).as_bytes().to_vec());
        let head = ByteBuf::from(vec![7u8; 32]);
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (cbor(&(3u32, None::<ByteBuf>, Vec::<(ByteBuf, ByteBuf)>::new())), "starts with 2, not 3"),
            (
                cbor(&(2u32, None::<ByteBuf>, vec![(ByteBuf::from(vec![1u8; 5]), head.clone())])),
                "16 bytes, not 5",
            ),
            (
                cbor(&(2u32, None::<ByteBuf>, vec![(id.clone(), vec![ByteBuf::from(vec![1u8; 31])])])),
                "32 bytes, not 31",
            ),
            (cbor(&(2u32, None::<ByteBuf>, vec![(id.clone(), 5u32)])), "32-byte heads"),
            (cbor(&(2u32, Some(ByteBuf::from(vec![1u8; 3])), Vec::<(ByteBuf, ByteBuf)>::new())), "digest"),
            (
                cbor(&(2u32, None::<ByteBuf>, vec![(id.clone(), ascending_heads(4097))])),
                "more than 4096 heads",
            ),
            (
                cbor(&(
                    2u32,
                    None::<ByteBuf>,
                    vec![(id.clone(), vec![ByteBuf::from(vec![9u8; 32]), head.clone()])],
                )),
                "ascending order",
            ),
            (
                cbor(&(2u32, None::<ByteBuf>, vec![(id.clone(), vec![head.clone(), head.clone()])])),
                "each once",
            ),
            (cbor(&(2u32,)), ""),
            (vec![0x83, 0x02], ""),
        ];
        for (bytes, says) in cases {
            match SyncRequest::decode(&bytes) {
                Err(SyncError::MalformedBatch(reason)) => assert!(reason.contains(says), "{says}: {reason}"),
                other => panic!("a broken compact request must be refused ({says}), got {other:?}"),
            }
        }
        let good = cbor(&(2u32, None::<ByteBuf>, vec![(id, vec![head])]));
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(SyncRequest::decode(&good).is_ok());
        assert!(matches!(SyncRequest::decode(&trailing), Err(SyncError::MalformedBatch(_))));
    }
}
