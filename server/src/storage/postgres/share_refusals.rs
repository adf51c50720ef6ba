//! Refusals for a used-up share of a compound's growth, per person, in PostgreSQL: the same rows
//! as the SQLite backend's, read by its parser.

use deadpool_postgres::GenericClient;
use doorstep_core::Timestamp;
use doorstep_core::id::{CompoundId, DocumentId, PersonId};
use doorstep_core::schema::vocabulary::DocKind;

use super::{execute, query};
use crate::storage::sqlite::share_refusals::refused;
use crate::storage::{ShareRefused, StorageError};

/// Counts one more refusal of `person` in `compound`, the last for `document` at `at`.
pub(super) async fn record(
    db: &impl GenericClient,
    person: PersonId,
    compound: CompoundId,
    document: DocumentId,
    kind: DocKind,
    at: Timestamp,
) -> Result<(), StorageError> {
    execute(
        db,
        "INSERT INTO share_refusals (person, compound, times, last_at, document, kind)
         VALUES ($1, $2, 1, $3, $4, $5)
         ON CONFLICT (compound, person) DO UPDATE SET
             times = share_refusals.times + 1, last_at = EXCLUDED.last_at,
             document = EXCLUDED.document, kind = EXCLUDED.kind",
        &[&person.to_string(), &compound.to_string(), &at.as_millis(), &document.to_string(), &kind.as_str()],
    )
    .await?;
    Ok(())
}

/// Every person's refusals in `compound`.
pub(super) async fn of_compound(
    db: &impl GenericClient,
    compound: CompoundId,
) -> Result<Vec<(PersonId, ShareRefused)>, StorageError> {
    let rows = query(
        db,
        "SELECT person, times, last_at, document, kind FROM share_refusals WHERE compound = $1 ORDER BY person",
        &[&compound.to_string()],
    )
    .await?;
    rows.iter()
        .map(|row| {
            refused((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?, row.try_get(4)?))
        })
        .collect()
}
