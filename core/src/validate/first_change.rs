//! A document new to the relay: its history starts with one change, and that change writes the
//! header (DESIGN §2). The relay learns a new document's identity from it — before it knows who
//! may create the document — and checks that the header is the one it expects, so a phone cannot
//! start a document whose first state claims to be something else.

use automerge::{Automerge, Change};

use super::contain::contained;
use super::violation::{Problem, Violation};
use crate::document::Header;
use crate::id::DocumentId;

/// The header the first change of a new document writes, read without trusting the changes:
/// exactly one of `changes` may have no dependencies, and applied alone (to a scratch document,
/// with Automerge's panics on crafted changes contained) it must write a readable header.
/// Violations are [`ViolationKind::Schema`](super::ViolationKind::Schema) or
/// [`ViolationKind::Malformed`](super::ViolationKind::Malformed) and name `document`.
pub fn new_document_header(document: DocumentId, changes: &[Change]) -> Result<Header, Violation> {
    let roots: Vec<&Change> = changes.iter().filter(|c| c.deps().is_empty()).collect();
    let [root] = roots.as_slice() else {
        return Err(Problem::schema(format!(
            "a new document starts from exactly one change, which writes its header; these changes start from {}",
            roots.len()
        ))
        .place(document, roots.get(1).map(|c| c.hash())));
    };
    let place = |problem: Problem| problem.place(document, Some(root.hash()));
    let mut probe = Automerge::new();
    contained("the first change", || probe.apply_changes([(*root).clone()]))
        .map_err(|reason| place(Problem::malformed(reason)))?
        .map_err(|e| place(Problem::malformed(format!("the first change cannot be applied: {e}"))))?;
    let (header, _version) = Header::read(document, &probe).map_err(|e| {
        place(Problem::schema(format!("the document's first change must write its header: {e}")))
    })?;
    Ok(header)
}

/// Checks that a new document's first change writes `expected`.
pub(super) fn check_first_change(expected: &Header, changes: &[Change]) -> Result<(), Violation> {
    let found = new_document_header(expected.id, changes)?;
    if found == *expected {
        return Ok(());
    }
    let root = changes.iter().find(|c| c.deps().is_empty()).map(Change::hash);
    Err(Problem::schema(format!(
        "the document's first change writes the header of the {} document {} of compound {}, but the relay expected the {} document {} of compound {}",
        found.kind, found.id, found.compound, expected.kind, expected.id, expected.compound
    ))
    .place(expected.id, root))
}
