//! Which documents a person may hold, and what they may do with one they sent a message for.
//!
//! Membership and role decide (DESIGN §3), by core's rule (`relay_engine::holds`): everyone in a
//! compound holds its roster, its requests document and its open rounds; only coordinators,
//! medics and admins hold its care ledger. A closed round is held by no phone (they drop it) but
//! a member's message for it is still answered, so that a phone which closed it offline can
//! deliver that change.

use std::collections::HashMap;

use doorstep_core::Role;
use doorstep_core::id::{CompoundId, DocumentId};
use doorstep_core::permission::Rule;
use doorstep_core::relay_engine;
use doorstep_core::schema::vocabulary::DocKind;
use doorstep_core::sync::DocumentGrant;

use crate::storage::{DocumentRecord, Membership, Storage, StorageError};

/// What a caller may hold, as of the start of a request.
#[derive(Debug, Clone)]
pub struct Access {
    memberships: Vec<Membership>,
    documents: HashMap<DocumentId, DocumentRecord>,
}

/// The verdict on one document message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The caller may sync it, in this role.
    Allowed {
        /// The document.
        record: DocumentRecord,
        /// The caller's role in its compound.
        role: Role,
    },
    /// The caller may not.
    Forbidden {
        /// The rule code for the rejection.
        rule: &'static str,
        /// A sentence for the person.
        reason: String,
    },
    /// The relay has no such document.
    Unknown,
}

impl Access {
    /// Loads a person's live memberships and their compounds' documents.
    pub async fn load(
        storage: &dyn Storage,
        person: doorstep_core::id::PersonId,
    ) -> Result<Self, StorageError> {
        let memberships = storage.memberships(person).await?;
        let compounds = memberships.iter().map(|m| m.compound).collect();
        let documents =
            storage.documents_of(compounds).await?.into_iter().map(|r| (r.header.id, r)).collect();
        Ok(Self { memberships, documents })
    }

    /// The caller's role in `compound`, if a member.
    pub fn role_in(&self, compound: CompoundId) -> Option<Role> {
        self.memberships.iter().find(|m| m.compound == compound).map(|m| m.role)
    }

    /// Whether the caller runs any compound (and so may create rounds).
    pub fn coordinates_any(&self) -> bool {
        self.memberships.iter().any(|m| m.role.is_coordinating())
    }

    /// The live memberships.
    pub fn memberships(&self) -> &[Membership] {
        &self.memberships
    }

    /// The roster of `compound`, if the caller is a member of it.
    pub fn roster_of(&self, compound: CompoundId) -> Option<DocumentId> {
        self.role_in(compound)?;
        self.documents
            .values()
            .find(|r| r.header.compound == compound && r.header.kind == DocKind::Roster)
            .map(|r| r.header.id)
    }

    /// Every document the caller may hold now, in a stable order.
    pub fn grants(&self) -> Vec<DocumentGrant> {
        let mut grants: Vec<DocumentGrant> = self
            .documents
            .values()
            .filter_map(|record| {
                let role = self.role_in(record.header.compound)?;
                relay_engine::holds(role, record.header.kind, record.open)
                    .then_some(DocumentGrant { header: record.header, role })
            })
            .collect();
        grants.sort_by_key(|g| (g.header.compound, g.header.kind.as_str(), g.header.id));
        grants
    }

    /// May the caller sync document `id`? `Unknown` only if the caller is not a member of the
    /// compound of any document with this ID: the caller must then ask storage whether it exists
    /// elsewhere ([`Access::decide_elsewhere`]).
    pub fn decide(&self, id: DocumentId) -> Option<Decision> {
        let record = self.documents.get(&id)?;
        let role = self.role_in(record.header.compound)?;
        if !relay_engine::may_sync(role, record.header.kind) {
            let rule = Rule::CareLedgerIsForCoordinatorsAndMedics;
            return Some(Decision::Forbidden {
                rule: rule.code(),
                reason: format!("a {} may not hold the care ledger: {}", role.as_str(), rule.explain()),
            });
        }
        Some(Decision::Allowed { record: *record, role })
    }

    /// The verdict for a document outside the caller's compounds. The refusal names neither
    /// the document's compound nor anything else of it, as `GET /v1/documents/{id}/copy` does
    /// not: a document ID tells a caller who is not a member nothing. A phone removed from a
    /// compound learns it from its memberships (the list of documents it may hold), not from
    /// this sentence.
    pub fn decide_elsewhere(stored: Option<DocumentRecord>) -> Decision {
        match stored {
            Some(record) => Decision::Forbidden {
                rule: "forbidden",
                reason: format!(
                    "no document {} in your compounds; sync to learn the documents you may hold \
                     (你所在的小区里没有这个文档)",
                    record.header.id
                ),
            },
            None => Decision::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use doorstep_core::document::Header;
    use doorstep_core::schema::vocabulary::DocKind;

    use super::*;

    fn id<T: std::str::FromStr>(n: u8) -> T
    where
        T::Err: std::fmt::Debug,
    {
        format!("00000000-0000-7000-8000-0000000000{n:02x}").parse().unwrap()
    }

    fn access(role: Role) -> Access {
        let compound: CompoundId = id(1);
        let docs = [
            (10, DocKind::Roster, true),
            (11, DocKind::Requests, true),
            (12, DocKind::Care, true),
            (13, DocKind::Round, true),
            (14, DocKind::Round, false),
        ];
        Access {
            memberships: vec![Membership { compound, role }],
            documents: docs
                .into_iter()
                .map(|(n, kind, open)| {
                    (id(n), DocumentRecord { header: Header { id: id(n), kind, compound }, open })
                })
                .collect(),
        }
    }

    #[test]
    fn volunteers_hold_everything_but_care_and_closed_rounds() {
        let kinds = |a: &Access| a.grants().iter().map(|g| g.header.kind).collect::<Vec<_>>();
        assert_eq!(kinds(&access(Role::Volunteer)), [DocKind::Requests, DocKind::Roster, DocKind::Round]);
        assert_eq!(
            kinds(&access(Role::Medic)),
            [DocKind::Care, DocKind::Requests, DocKind::Roster, DocKind::Round]
        );
        let v = access(Role::Volunteer);
        assert!(matches!(
            v.decide(id(12)),
            Some(Decision::Forbidden { rule: "care_ledger_is_for_coordinators_and_medics", .. })
        ));
        assert!(
            matches!(v.decide(id(14)), Some(Decision::Allowed { .. })),
            "a closed round still gets answers"
        );
        assert_eq!(v.decide(id(99)), None);
        assert!(!v.coordinates_any());
        assert!(access(Role::Coordinator).coordinates_any());
    }
}
