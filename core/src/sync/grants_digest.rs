//! A short fingerprint of a list of document grants, so that the relay sends the list only when
//! it changed.
//!
//! The phone sends the digest of the list it last applied in its request; the relay computes the
//! digest of the caller's grants as they are now and, when the two are equal, answers
//! "unchanged" instead of the list (see `SyncResponse::documents`). The digest is SHA-256 over a
//! canonical encoding of the list, cut to [`GrantsDigest::LEN`] bytes. Equal lists in any order
//! (and with any repetitions) have equal digests; any difference in a document's ID, kind,
//! compound or the caller's role gives another digest, but for a chance of 2⁻⁶⁴. The IDs in a
//! grant list are made by the relay, not chosen by whoever could profit from a collision.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::wire::DocumentGrant;

/// Tells the canonical encoding of this list apart from any other use of SHA-256, and versions it.
const DOMAIN: &[u8] = b"doorstep document grants v1\0";

/// The fingerprint of a list of document grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "serde_bytes::ByteBuf", into = "serde_bytes::ByteBuf")]
pub struct GrantsDigest([u8; GrantsDigest::LEN]);

impl GrantsDigest {
    /// Bytes of a digest on the wire.
    pub const LEN: usize = 8;

    /// The digest of `grants`, in any order.
    pub fn of(grants: &[DocumentGrant]) -> Self {
        let canonical = canonical_encoding(grants);
        let full: [u8; 32] = Sha256::digest(&canonical).into();
        let mut short = [0u8; Self::LEN];
        short.copy_from_slice(&full[..Self::LEN]);
        Self(short)
    }

    /// The digest's bytes.
    pub fn as_bytes(&self) -> &[u8; Self::LEN] {
        &self.0
    }
}

/// A digest on the wire that is not [`GrantsDigest::LEN`] bytes long.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a document-list digest is {found} bytes long; it must be {} bytes", GrantsDigest::LEN)]
pub struct BadDigestLength {
    /// The length sent.
    pub found: usize,
}

impl TryFrom<serde_bytes::ByteBuf> for GrantsDigest {
    type Error = BadDigestLength;

    fn try_from(bytes: serde_bytes::ByteBuf) -> Result<Self, BadDigestLength> {
        let found = bytes.len();
        <[u8; Self::LEN]>::try_from(bytes.into_vec()).map(Self).map_err(|_| BadDigestLength { found })
    }
}

impl From<GrantsDigest> for serde_bytes::ByteBuf {
    fn from(digest: GrantsDigest) -> Self {
        serde_bytes::ByteBuf::from(digest.0.to_vec())
    }
}

/// The bytes the digest is taken over: the domain, the number of distinct grants, then each
/// grant sorted by its bytes, each as the document's and the compound's 16 UUID bytes, then the
/// kind's and the role's wire names, each preceded by its length in one byte. Every part has a
/// fixed length or a length prefix, so no two lists share an encoding.
pub(crate) fn canonical_encoding(grants: &[DocumentGrant]) -> Vec<u8> {
    let mut encoded: Vec<Vec<u8>> = grants.iter().map(encode_grant).collect();
    encoded.sort_unstable();
    encoded.dedup();
    let mut out = Vec::with_capacity(DOMAIN.len() + 4 + encoded.iter().map(Vec::len).sum::<usize>());
    out.extend_from_slice(DOMAIN);
    out.extend_from_slice(&u32::try_from(encoded.len()).unwrap_or(u32::MAX).to_be_bytes());
    for grant in encoded {
        out.extend_from_slice(&grant);
    }
    out
}

fn encode_grant(grant: &DocumentGrant) -> Vec<u8> {
    let mut out = Vec::with_capacity(48);
    out.extend_from_slice(grant.header.id.as_uuid().as_bytes());
    out.extend_from_slice(grant.header.compound.as_uuid().as_bytes());
    for name in [grant.header.kind.as_str(), grant.role.as_str()] {
        // Wire names are short ASCII words ("requests", "coordinator"), far below 256 bytes.
        out.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(name.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::document::Header;
    use crate::id::{CompoundId, DocumentId};
    use crate::role::Role;
    use crate::schema::vocabulary::DocKind;

    fn grant(doc: u128, compound: u128, kind: DocKind, role: Role) -> DocumentGrant {
        DocumentGrant {
            header: Header {
                id: DocumentId::from_uuid(uuid::Uuid::from_u128(doc)),
                kind,
                compound: CompoundId::from_uuid(uuid::Uuid::from_u128(compound)),
            },
            role,
        }
    }

    fn list() -> Vec<DocumentGrant> {
        vec![
            grant(1, 9, DocKind::Roster, Role::Volunteer),
            grant(2, 9, DocKind::Requests, Role::Volunteer),
            grant(3, 9, DocKind::Round, Role::Volunteer),
        ]
    }

    #[test]
    fn the_canonical_form_is_fixed_byte_for_byte() {
        let encoded = canonical_encoding(&[grant(1, 9, DocKind::Roster, Role::Volunteer)]);
        let mut expected = b"doorstep document grants v1\0".to_vec();
        expected.extend_from_slice(&[0, 0, 0, 1]);
        expected.extend_from_slice(&1u128.to_be_bytes());
        expected.extend_from_slice(&9u128.to_be_bytes());
        expected.push(6);
        expected.extend_from_slice(b"roster");
        expected.push(9);
        expected.extend_from_slice(b"volunteer");
        assert_eq!(encoded, expected);
        // The digest is the first 8 bytes of SHA-256 of that form: a relay and a phone of any
        // version that follow this page agree on it.
        let full: [u8; 32] = Sha256::digest(&expected).into();
        assert_eq!(GrantsDigest::of(&[grant(1, 9, DocKind::Roster, Role::Volunteer)]).as_bytes(), &full[..8]);
    }

    #[test]
    fn order_and_repetition_do_not_change_the_digest() {
        let mut reversed = list();
        reversed.reverse();
        let mut repeated = list();
        repeated.push(list()[0]);
        assert_eq!(GrantsDigest::of(&list()), GrantsDigest::of(&reversed));
        assert_eq!(GrantsDigest::of(&list()), GrantsDigest::of(&repeated));
    }

    #[test]
    fn every_part_of_a_grant_changes_the_digest() {
        let base = GrantsDigest::of(&list());
        let variants: Vec<Vec<DocumentGrant>> = vec![
            // A role change (a volunteer made coordinator).
            list().into_iter().map(|g| DocumentGrant { role: Role::Coordinator, ..g }).collect(),
            // A document withdrawn (a closed round).
            list()[..2].to_vec(),
            // A document added (a new round).
            [list(), vec![grant(4, 9, DocKind::Round, Role::Volunteer)]].concat(),
            // Another compound, another document ID, another kind.
            vec![grant(1, 8, DocKind::Roster, Role::Volunteer), list()[1], list()[2]],
            vec![grant(5, 9, DocKind::Roster, Role::Volunteer), list()[1], list()[2]],
            vec![grant(1, 9, DocKind::Care, Role::Volunteer), list()[1], list()[2]],
            // Nothing at all: revoked.
            Vec::new(),
        ];
        for variant in variants {
            assert_ne!(GrantsDigest::of(&variant), base, "{variant:?}");
        }
    }

    #[test]
    fn the_empty_list_has_a_digest_of_its_own() {
        // "You may hold nothing" is a list like any other: a phone that applied it sends its
        // digest, and a relay whose answer is the same empty list may say "unchanged".
        assert_ne!(GrantsDigest::of(&[]), GrantsDigest::of(&list()[..1]));
        assert_eq!(canonical_encoding(&[]).len(), DOMAIN.len() + 4);
    }

    #[test]
    fn the_digest_is_eight_bytes_on_the_wire_and_other_lengths_are_refused() {
        let digest = GrantsDigest::of(&list());
        let mut cbor = Vec::new();
        ciborium::into_writer(&digest, &mut cbor).unwrap();
        // A CBOR byte string of 8: one header byte, then the digest.
        assert_eq!(cbor.len(), 1 + GrantsDigest::LEN);
        assert_eq!(cbor[0], 0x48);
        let back: GrantsDigest = ciborium::from_reader(cbor.as_slice()).unwrap();
        assert_eq!(back, digest);
        let mut short = Vec::new();
        ciborium::into_writer(&serde_bytes::ByteBuf::from(vec![1u8; 7]), &mut short).unwrap();
        let refused = ciborium::from_reader::<GrantsDigest, _>(short.as_slice()).unwrap_err();
        assert!(refused.to_string().contains("7 bytes long"), "{refused}");
    }
}
