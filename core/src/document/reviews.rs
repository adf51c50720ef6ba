//! Reviews of conflicts, as a document holds them: a root map `reviews: {ReviewId: {conflict,
//! entity, covers, by, at, note}}`. A round holds the reviews of its tasks' conflicts and the
//! roster those of concurrent control statuses. Documents written before reviews existed have
//! no `reviews` map; they read as having no reviews, and the first review creates the map.

use automerge::transaction::Transactable;
use automerge::{Automerge, AutomergeError, ObjId, ROOT};

use super::read::{self, SchemaError};
use super::roster::collection;
use crate::id::{DocumentId, ReviewId};
use crate::schema::review::{ConflictSubject, Review};
use crate::time::Timestamp;

/// Key of the reviews map.
pub const REVIEWS: &str = "reviews";

/// The separator between the values a review covers.
const COVERS_SEPARATOR: char = '\n';

/// Every readable review in the document `document`.
pub fn reviews(document: DocumentId, doc: &Automerge) -> Vec<Review> {
    read::entries(doc, &ROOT, REVIEWS, |id, obj| read_review(doc, document, id, obj))
}

/// One review, from its map object.
pub(crate) fn read_review(
    doc: &Automerge,
    document: DocumentId,
    id: ReviewId,
    obj: &ObjId,
) -> Result<Review, SchemaError> {
    let f = read::Fields::of(doc, obj);
    let kind = f.string("conflict")?;
    let entity = f.string("entity")?;
    let subject = ConflictSubject::from_record(&kind, &entity, document).ok_or_else(|| {
        SchemaError::new("conflict", format!("{kind:?} on {entity:?} is not a conflict Doorstep knows"))
    })?;
    Ok(Review {
        id,
        subject,
        covers: f
            .string("covers")?
            .split(COVERS_SEPARATOR)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect(),
        by: f.parsed("by")?,
        at: Timestamp::from_millis(f.int("at")?),
        note: f.string("note")?,
    })
}

/// The values a review covers, as the one string the record stores.
pub(crate) fn covers_text(review: &Review) -> String {
    review.covers.iter().map(String::as_str).collect::<Vec<_>>().join(&COVERS_SEPARATOR.to_string())
}

/// Writes a new review, creating the `reviews` map in a document that predates it.
pub(crate) fn put_review(tx: &mut impl Transactable, review: &Review) -> Result<(), AutomergeError> {
    let map = collection(tx, REVIEWS)?;
    let obj = tx.put_object(&map, review.id.to_string(), automerge::ObjType::Map)?;
    tx.put(&obj, "conflict", review.subject.kind())?;
    tx.put(&obj, "entity", review.subject.entity())?;
    tx.put(&obj, "covers", covers_text(review))?;
    tx.put(&obj, "by", review.by.to_string())?;
    tx.put(&obj, "at", review.at.as_millis())?;
    tx.put(&obj, "note", review.note.as_str())?;
    Ok(())
}
