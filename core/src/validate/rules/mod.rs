//! The role rules of DESIGN §3 applied to the effect of a batch of changes, one module per
//! document kind. Each reads the entities the batch touched in the document before and after,
//! and says which rule the effect breaks, if any; schema checks on the same entities follow the
//! role checks, so a volunteer's forbidden write is reported as forbidden, not as malformed.

mod care;
mod entities;
mod header;
mod household_state;
mod in_roster;
mod requests;
mod reviews;
mod roster;
mod round;

use automerge::{Automerge, Change, ChangeHash, ROOT, ReadDoc};

use super::batch_ops::BatchOps;
use super::roster_at_hand::RosterAtHand;
use super::schema;
use super::touched::Touched;
use super::violation::Problem;
use crate::document::Header;
use crate::role::Actor;
use crate::rulebook::{Entity, table};
use crate::schema::vocabulary::DocKind;
use crate::time::Timestamp;

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
    /// The batch's changes, in the order applied.
    pub changes: &'a [Change],
    /// The operations they hold, to look up.
    pub ops: &'a BatchOps,
    /// The relay's clock.
    pub now: Timestamp,
    /// The compound's roster, for the households new work names.
    pub roster: &'a RosterAtHand,
}

impl Effect<'_> {
    /// The document kind's root entity and collections, from the table.
    fn layout(&self) -> (&'static Entity, &'static [(&'static str, &'static Entity)]) {
        table::layout(self.header.kind)
    }

    /// The batch's change `hash`, if it is one of the batch.
    fn change(&self, hash: &ChangeHash) -> Option<&Change> {
        self.changes.iter().find(|c| c.hash() == *hash)
    }

    /// Whether the batch creates the document.
    fn creates(&self) -> bool {
        self.before.get_heads().is_empty()
    }

    /// "a volunteer", for reasons.
    pub(in crate::validate) fn who(&self) -> String {
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
pub(super) fn collections(kind: DocKind) -> Vec<&'static str> {
    table::layout(kind).1.iter().map(|(key, _)| *key).collect()
}

/// Checks the effect against the author's role and the schema of the document's kind.
pub(super) fn check(effect: &Effect<'_>) -> Result<(), Problem> {
    header::check(effect)?;
    entities::check_collections_kept(effect)?;
    match effect.header.kind {
        DocKind::Roster => roster::check(effect),
        DocKind::Round => round::check(effect),
        DocKind::Requests => requests::check(effect),
        DocKind::Care => care::check(effect),
    }
}
