//! The role rules of DESIGN §3 applied to the effect of a batch of changes, one module per
//! document kind. Each reads the entities the batch touched in the document before and after,
//! and says which rule the effect breaks, if any; schema checks on the same entities follow the
//! role checks, so a volunteer's forbidden write is reported as forbidden, not as malformed.

mod care;
mod header;
mod requests;
mod roster;
mod round;

use automerge::{Automerge, ROOT, ReadDoc};

use super::schema;
use super::touched::Touched;
use super::violation::Problem;
use crate::document::Header;
use crate::role::Actor;
use crate::schema::vocabulary::DocKind;

/// What a batch did to one document, and who did it.
#[derive(Debug)]
pub(super) struct Effect<'a> {
    /// The document's identity as the relay knows it.
    pub header: &'a Header,
    /// The person the changes are checked for.
    pub author: &'a Actor,
    /// The document before the batch.
    pub before: &'a Automerge,
    /// The document with the batch applied.
    pub after: &'a Automerge,
    /// What the batch touched.
    pub touched: &'a Touched,
}

impl Effect<'_> {
    /// Whether the batch creates the document.
    fn creates(&self) -> bool {
        self.before.get_heads().is_empty()
    }

    /// "a volunteer", for reasons.
    fn who(&self) -> String {
        let role = self.author.role.as_str();
        let article = if role.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
        format!("{article} {role}")
    }

    /// Whether the author coordinates the compound (coordinator or admin).
    fn coordinating(&self) -> bool {
        self.author.role.is_coordinating()
    }

    /// What the batch did at the document's root that only coordinators may do, in words:
    /// writing a root field, or replacing an entity collection that already existed. Header
    /// fields are judged by the header rules; creating a collection that did not exist yet is
    /// what adding its first entity does, and the entities are judged one by one.
    fn root_write(&self) -> Option<String> {
        let kind = self.header.kind;
        self.touched.root.iter().find_map(|key| {
            if schema::HEADER_FIELDS.contains(&key.as_str()) {
                None
            } else if collections(kind).contains(&key.as_str()) {
                let existed = self.before.get(ROOT, key.as_str()).ok().flatten().is_some();
                existed.then(|| {
                    format!(
                        "{} may not replace the {kind} document's {key:?} collection (a phone that had not synced yet may have created its own; sync, then add again)",
                        self.who()
                    )
                })
            } else {
                Some(format!("{} may not change the {kind} document's {key:?}", self.who()))
            }
        })
    }
}

/// The entity collections of a document kind, as root keys.
pub(super) fn collections(kind: DocKind) -> &'static [&'static str] {
    match kind {
        DocKind::Roster => &[crate::document::roster::BUILDINGS, crate::document::roster::HOUSEHOLDS],
        DocKind::Round => &[crate::document::round::TASKS],
        DocKind::Requests => &[crate::document::requests::REQUESTS],
        DocKind::Care => &[crate::document::care::ENTRIES],
    }
}

/// Checks the effect against the author's role and the schema of the document's kind.
pub(super) fn check(effect: &Effect<'_>) -> Result<(), Problem> {
    header::check(effect)?;
    match effect.header.kind {
        DocKind::Roster => roster::check(effect),
        DocKind::Round => round::check(effect),
        DocKind::Requests => requests::check(effect),
        DocKind::Care => care::check(effect),
    }
}
