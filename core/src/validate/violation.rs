//! Why the relay refused a batch of changes. A violation names the document, the change to blame
//! (when one can be named) and the rule or schema problem, so that the phone, the relay's log and
//! a coordinator reviewing a rejected phone all see the same actionable sentence.

use automerge::ChangeHash;

use crate::id::DocumentId;
use crate::permission::Rule;
use crate::relay_engine::rejection;
use crate::sync::Rejection;

/// A refused batch of changes; nothing of it was stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{document}: {}{reason}", change_label(.change))]
pub struct Violation {
    /// The document the changes were for.
    pub document: DocumentId,
    /// The change to blame, when one change of the batch is; shown as hex.
    pub change: Option<ChangeHash>,
    /// What kind of problem it is.
    pub kind: ViolationKind,
    /// A sentence saying what is wrong, naming the entity and field.
    pub reason: String,
}

/// The kind of a [`Violation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViolationKind {
    /// The author's role does not allow the change's effect.
    Forbidden(Rule),
    /// The change leaves an entity that does not follow the schema.
    Schema,
    /// The bytes are not Automerge changes.
    Malformed,
    /// The change depends on changes neither the document nor the batch holds. Not something the
    /// phone can fix by itself: the relay keeps syncing and the missing changes arrive later.
    MissingDeps,
    /// A change, or a text in it, is larger than [`limits`](crate::limits) allow.
    TooLarge,
    /// A change reuses a sequence number of its actor that the document already holds with
    /// other content: the phone writes from an older copy of its replica (restored from a
    /// backup, or a cloned phone). Nothing is wrong with the work; the phone writes it again
    /// under a new actor.
    ActorReused,
}

impl ViolationKind {
    /// A stable code for the wire: the rule's code for [`ViolationKind::Forbidden`], else
    /// `schema`, `malformed`, `missing_dependencies`, `too_large` or `actor_reused` (the relay's
    /// wire codes).
    pub fn code(self) -> &'static str {
        match self {
            ViolationKind::Forbidden(rule) => rule.code(),
            ViolationKind::Schema => rejection::SCHEMA,
            ViolationKind::Malformed => rejection::MALFORMED,
            ViolationKind::MissingDeps => rejection::MISSING_DEPENDENCIES,
            ViolationKind::TooLarge => rejection::TOO_LARGE,
            ViolationKind::ActorReused => rejection::ACTOR_REUSED,
        }
    }
}

impl Violation {
    /// The same violation, about `document`. [`changes_in`](super::changes_in) does not know
    /// which document a message is for; the relay sets it.
    pub fn in_document(self, document: DocumentId) -> Self {
        Self { document, ..self }
    }

    /// The violation as the sync response reports it to the phone.
    pub fn rejection(&self) -> Rejection {
        Rejection {
            doc: self.document,
            change: self.change.map(|c| c.to_string()),
            rule: self.kind.code().to_owned(),
            reason: self.reason.clone(),
            taken: Vec::new(),
        }
    }
}

fn change_label(change: &Option<ChangeHash>) -> String {
    match change {
        Some(hash) => format!("change {hash}: "),
        None => String::new(),
    }
}

/// A violation before it is placed: the rules know what is wrong, the caller knows which
/// document and change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Problem {
    pub kind: ViolationKind,
    pub reason: String,
}

impl Problem {
    pub(super) fn forbidden(rule: Rule, what: impl std::fmt::Display) -> Self {
        Self { kind: ViolationKind::Forbidden(rule), reason: format!("{what}: {rule}") }
    }

    pub(super) fn schema(reason: impl Into<String>) -> Self {
        Self { kind: ViolationKind::Schema, reason: reason.into() }
    }

    pub(super) fn malformed(reason: impl Into<String>) -> Self {
        Self { kind: ViolationKind::Malformed, reason: reason.into() }
    }

    pub(super) fn too_large(reason: impl Into<String>) -> Self {
        Self { kind: ViolationKind::TooLarge, reason: reason.into() }
    }

    pub(super) fn place(self, document: DocumentId, change: Option<ChangeHash>) -> Violation {
        Violation { document, change, kind: self.kind, reason: self.reason }
    }
}
