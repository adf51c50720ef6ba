//! The root fields every document carries, and the migration of older documents on load.

use automerge::transaction::Transactable;
use automerge::{Automerge, AutomergeError, ROOT};
use serde::{Deserialize, Serialize};

use super::read::{self, SchemaError};
use crate::id::{CompoundId, DocumentId};
use crate::schema::SCHEMA_VERSION;
use crate::schema::vocabulary::DocKind;

/// A document's identity: its ID, kind and compound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Header {
    /// The document ID.
    pub id: DocumentId,
    /// Its kind.
    pub kind: DocKind,
    /// Its compound.
    pub compound: CompoundId,
}

/// A document that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    /// The bytes are not an Automerge document.
    #[error("stored document is corrupt: {0}")]
    Corrupt(#[source] AutomergeError),
    /// The document says it is something else than expected.
    #[error("document {id} claims to be {found} but was expected to be {expected}")]
    WrongIdentity {
        /// The document.
        id: DocumentId,
        /// What we expected.
        expected: String,
        /// What its header says.
        found: String,
    },
    /// The document was written by a newer version of Doorstep.
    #[error("document {id} has schema version {found}, newer than this app's {supported}; update the app")]
    TooNew {
        /// The document.
        id: DocumentId,
        /// Its version.
        found: u64,
        /// Ours.
        supported: u64,
    },
    /// A header field is malformed.
    #[error("document {id} header: {source}")]
    BadHeader {
        /// The document.
        id: DocumentId,
        /// What is wrong.
        #[source]
        source: SchemaError,
    },
    /// Writing to Automerge failed.
    #[error("automerge: {0}")]
    Automerge(#[from] AutomergeError),
}

impl Header {
    pub(crate) fn write(&self, tx: &mut impl Transactable) -> Result<(), AutomergeError> {
        tx.put(ROOT, "schema", SCHEMA_VERSION)?;
        tx.put(ROOT, "id", self.id.to_string())?;
        tx.put(ROOT, "kind", self.kind.as_str())?;
        tx.put(ROOT, "compound", self.compound.to_string())?;
        Ok(())
    }

    /// Reads the header a document carries.
    pub fn read(id: DocumentId, doc: &Automerge) -> Result<(Header, u64), DocumentError> {
        let bad = |source| DocumentError::BadHeader { id, source };
        let version = read::int(doc, &ROOT, "schema").map_err(bad)?;
        let version = u64::try_from(version).map_err(|_| bad(SchemaError::new("schema", "is negative")))?;
        // Version 1 is the first there ever was: a lower one is damage (or a forged change), not
        // an old document, and migrating it would write a change on top of the damage.
        if version < 1 {
            return Err(bad(SchemaError::new("schema", "is 0; versions start at 1")));
        }
        let header = Header {
            id: read::parsed(doc, &ROOT, "id").map_err(bad)?,
            kind: read::parsed(doc, &ROOT, "kind").map_err(bad)?,
            compound: read::parsed(doc, &ROOT, "compound").map_err(bad)?,
        };
        Ok((header, version))
    }
}

/// The migrations from each older schema version to the next; index `v - 1` upgrades `v` to
/// `v + 1`. Version 1 is the first, so the list is empty; a new version adds its step here and a
/// test that loads a document saved by the previous version.
type Migration = fn(&mut automerge::transaction::Transaction<'_>) -> Result<(), AutomergeError>;

const MIGRATIONS: &[Migration] = &[];

pub(crate) fn check_and_migrate(expected: &Header, doc: &mut Automerge) -> Result<(), DocumentError> {
    if doc.get_heads().is_empty() {
        return Ok(());
    }
    let (found, version) = Header::read(expected.id, doc)?;
    if found != *expected {
        return Err(DocumentError::WrongIdentity {
            id: expected.id,
            expected: format!("{} of compound {}", expected.kind, expected.compound),
            found: format!("{} {} of compound {}", found.kind, found.id, found.compound),
        });
    }
    if version > SCHEMA_VERSION {
        return Err(DocumentError::TooNew { id: expected.id, found: version, supported: SCHEMA_VERSION });
    }
    if version < SCHEMA_VERSION {
        let mut tx = doc.transaction();
        for step in &MIGRATIONS[usize::try_from(version.saturating_sub(1)).unwrap_or(0)..] {
            step(&mut tx)?;
        }
        tx.put(ROOT, "schema", SCHEMA_VERSION)?;
        tx.commit();
    }
    Ok(())
}
