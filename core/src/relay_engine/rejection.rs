//! The rule codes a [`Rejection`] carries, and how the engine's verdicts become rejections.
//!
//! A rejection's `rule` is a permission rule's code (`Rule::code`, e.g.
//! `roster_is_edited_by_coordinators`) or one of the codes below; phones and dashboards match
//! on it, so these strings are part of the wire protocol. Each code has a class
//! ([`RejectionClass`](crate::sync::RejectionClass)): `unavailable`, `refetch_loop`,
//! `missing_dependencies`, `document_full`, `document_damaged`, `over_budget`,
//! `actor_reused`, `held_for_its_author`, `not_held` and `too_many_heads` are transient (nothing is wrong with the changes: the phone keeps them and
//! retries with backoff); every other code is permanent (the phone sets the refused operation
//! aside for a coordinator and syncs the rest).

use automerge::ChangeHash;

use super::budget::OverBudget;
use crate::id::DocumentId;
use crate::sync::{Rejection, SyncError};
use crate::validate::Violation;

/// The changes break the document schema (a bad enum value, a missing field).
pub const SCHEMA: &str = "schema";
/// The bytes are not a sync message, or carry changes Automerge cannot read.
pub const MALFORMED: &str = "malformed";
/// The caller may not hold this document at all.
pub const FORBIDDEN: &str = "forbidden";
/// The relay has no such document, and the caller may not create it.
pub const UNKNOWN_DOCUMENT: &str = "unknown_document";
/// A change, or the document it would grow, is over the size limits.
pub const TOO_LARGE: &str = "too_large";
/// The changes depend on changes neither side has.
pub const MISSING_DEPENDENCIES: &str = "missing_dependencies";
/// Syncing the document took more work than one document's sync may (see [`super::Budget`]).
pub const OVER_BUDGET: &str = "over_budget";
/// The relay could not store the changes; nothing was accepted, and a retry may succeed.
pub const UNAVAILABLE: &str = "unavailable";
/// The stored document is damaged on the relay's disk and does not load; nothing was accepted,
/// and no retry helps until a coordinator has the relay's database restored.
pub const DOCUMENT_DAMAGED: &str = "document_damaged";
/// The device asked for the whole of this document too often (the relay's `refetch_guard`);
/// the other documents of the request still synced, and this one will after a wait.
pub const REFETCH_LOOP: &str = "refetch_loop";
/// The document would grow past the most a document may hold, or past what its sender may add
/// to it in a day (the relay's growth share): not the change's fault, so the phone keeps it and
/// sends it again later.
pub const DOCUMENT_FULL: &str = "document_full";
/// A change reuses a sequence number its actor already used with other content (a phone
/// restored from an older copy of its replica): the phone writes its work again under a new
/// actor.
pub const ACTOR_REUSED: &str = "actor_reused";

/// Another person's change the relay does not hold (it was restored from a backup older than
/// the change): only its author's phone may send it, so it and the changes built on it wait on
/// the phone that forwarded it until the author's phone has synced.
pub const HELD_FOR_ITS_AUTHOR: &str = "held_for_its_author";

/// A document the relay does not hold, offered by a phone that may not create it (a volunteer's
/// round on a relay restored from a backup older than the round): the phone keeps it and its
/// changes, and sends them once a coordinator's phone holding it has brought it back. Never a
/// reason to drop the document or set its work aside.
pub const NOT_HELD: &str = "not_held";

/// The message names more heads (branch tips), shared heads or needed hashes than a message may
/// carry ([`MessageLimits`](crate::sync::MessageLimits), 4,096): the phone's copy of the
/// document has more branches than a sync carries. Not the changes' fault and not the moment's:
/// the same message is refused at every sync. The phone keeps its changes, and an up-to-date
/// phone merges the branches before its next sync (`sync/heads_merge.rs`); an older one needs
/// updating.
pub const TOO_MANY_HEADS: &str = "too_many_heads";

/// The codes whose refusals are about the moment or the relay, not the change.
pub const TRANSIENT: &[&str] = &[
    UNAVAILABLE,
    REFETCH_LOOP,
    MISSING_DEPENDENCIES,
    DOCUMENT_FULL,
    DOCUMENT_DAMAGED,
    OVER_BUDGET,
    ACTOR_REUSED,
    HELD_FOR_ITS_AUTHOR,
    NOT_HELD,
    TOO_MANY_HEADS,
];

/// The transient codes whose refusals last minutes to days (a document at its size limit or its
/// sender's share of it used up, a whole fetch asked too often, a document damaged on disk):
/// the phone keeps the changes for its next sync rather than send them again within this one.
/// A document with more heads than a message carries is refused at every sync until its phone
/// has merged them: kept, and not sent again within the sync.
pub const LASTING: &[&str] =
    &[DOCUMENT_FULL, REFETCH_LOOP, DOCUMENT_DAMAGED, HELD_FOR_ITS_AUTHOR, NOT_HELD, TOO_MANY_HEADS];

/// A rejection of document `doc`.
pub fn reject(
    doc: DocumentId,
    rule: &str,
    change: Option<ChangeHash>,
    reason: impl Into<String>,
) -> Rejection {
    Rejection {
        doc,
        change: change.map(|h| h.to_string()),
        rule: rule.to_owned(),
        reason: reason.into(),
        taken: Vec::new(),
    }
}

/// The rejection for a verdict of the validator (whose codes are the ones above).
pub fn from_violation(doc: DocumentId, violation: Violation) -> Rejection {
    violation.in_document(doc).rejection()
}

/// The rejection for a document message that could not be decoded: `too_large` when it is over a
/// cap (the reason names the cap and the value), `malformed` otherwise. Both are permanent: the
/// same bytes will be refused again.
pub fn undecodable(doc: DocumentId, error: &SyncError) -> Rejection {
    if let SyncError::Refused(problem) = error
        && problem.is_too_many_heads()
    {
        return too_many_heads(doc, error);
    }
    let rule = match error {
        SyncError::Refused(problem) if problem.is_over_limit() => TOO_LARGE,
        _ => MALFORMED,
    };
    reject(doc, rule, None, format!("the sync message for document {doc} was refused: {error}"))
}

/// The refusal of a message naming more heads than a message may carry: what it is, that
/// syncing again does not help by itself, and what will.
fn too_many_heads(doc: DocumentId, error: &SyncError) -> Rejection {
    reject(
        doc,
        TOO_MANY_HEADS,
        None,
        format!(
            "this phone's copy of document {doc} has more branches than a sync carries ({error}), so              the relay refuses it at every sync and syncing again alone will not help; an up-to-date              app merges the branches before it syncs: update the app; your work stays on this phone              (本机这份文件的分支太多，超过一次同步能带的数量，中继每次都会拒收，重试无用；新版应用会在同步前合并分支：请更新应用，修改仍保留在手机上)"
        ),
    )
}

/// The rejection for work stopped by its budget.
pub fn over_budget(doc: DocumentId, stopped: &OverBudget) -> Rejection {
    reject(doc, OVER_BUDGET, None, format!("document {doc}: {stopped}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::RejectionClass;

    fn class(rule: &str, change: Option<ChangeHash>) -> RejectionClass {
        let doc: DocumentId = "01935f3e-0000-7000-8000-000000000001".parse().expect("uuid");
        reject(doc, rule, change, "why").class()
    }

    #[test]
    fn refusals_about_the_moment_are_transient_and_refusals_of_a_change_are_permanent() {
        let change = Some(ChangeHash([7; 32]));
        for code in TRANSIENT {
            assert_eq!(class(code, None), RejectionClass::Transient, "{code}");
        }
        assert!(LASTING.contains(&TOO_MANY_HEADS), "kept for the next sync, not sent again within this one");
        assert_eq!(
            class(TOO_LARGE, None),
            RejectionClass::Permanent,
            "a message over a cap is refused again"
        );
        for code in [SCHEMA, MALFORMED, FORBIDDEN, UNKNOWN_DOCUMENT, "roster_is_edited_by_coordinators"] {
            assert_eq!(class(code, change), RejectionClass::Permanent, "{code}");
        }
    }
}
