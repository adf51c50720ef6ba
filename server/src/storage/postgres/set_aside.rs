//! The review inbox of set-aside operations, in PostgreSQL: every relay on the database sees
//! every item and every decision. Rows are read back through the SQLite backend's
//! `set_aside::record`, so both backends build records the same way.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::{execute, query, query_one, query_opt};
use crate::storage::sqlite::set_aside::{FAIR_ORDER, RawRow, decision_columns, record, sort_for_the_inbox};
use doorstep_core::id::PersonId;

use crate::storage::{DeviceId, NewSetAside, SetAsideDecided, SetAsideRecord, StorageError};

const COLUMNS: &str = "id, device, change_hash, person, compound, doc, operation, summary, made_at,
    set_aside_at, rule, reason, received_at, decision, decided_by, decided_at, note";

fn raw(r: &Row) -> Result<RawRow, StorageError> {
    Ok((
        r.try_get(0)?,
        r.try_get(1)?,
        r.try_get(2)?,
        r.try_get(3)?,
        r.try_get(4)?,
        r.try_get(5)?,
        r.try_get(6)?,
        r.try_get(7)?,
        r.try_get(8)?,
        r.try_get(9)?,
        r.try_get(10)?,
        r.try_get(11)?,
        r.try_get(12)?,
        r.try_get(13)?,
        r.try_get(14)?,
        r.try_get(15)?,
        r.try_get(16)?,
    ))
}

pub(super) async fn put(db: &impl GenericClient, items: &[NewSetAside]) -> Result<(), StorageError> {
    for n in items {
        let i = &n.item;
        execute(
            db,
            "INSERT INTO set_aside (device, change_hash, person, compound, doc, operation, summary,
                 made_at, set_aside_at, rule, reason, received_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (device, change_hash) DO NOTHING",
            &[
                &n.device.0,
                &i.id,
                &n.person.to_string(),
                &n.compound.to_string(),
                &i.doc.to_string(),
                &i.operation,
                &i.summary,
                &i.made_at,
                &i.set_aside_at,
                &i.rule,
                &i.reason,
                &n.received_at.as_millis(),
            ],
        )
        .await?;
    }
    Ok(())
}

pub(super) async fn of_compound(
    db: &impl GenericClient,
    compound: doorstep_core::id::CompoundId,
    limit: usize,
) -> Result<Vec<SetAsideRecord>, StorageError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = query(
        db,
        &format!(
            "SELECT {COLUMNS} FROM (
               SELECT *, ROW_NUMBER() OVER (PARTITION BY device, decision IS NULL ORDER BY id DESC) AS turn
               FROM set_aside WHERE compound = $1) AS shares
             ORDER BY {FAIR_ORDER} LIMIT $2"
        ),
        &[&compound.to_string(), &limit],
    )
    .await?;
    let mut records = rows.iter().map(|r| record(raw(r)?)).collect::<Result<Vec<_>, _>>()?;
    sort_for_the_inbox(&mut records);
    Ok(records)
}

pub(super) async fn waiting(db: &impl GenericClient, device: DeviceId) -> Result<usize, StorageError> {
    let row =
        query_one(db, "SELECT COUNT(*) FROM set_aside WHERE device = $1 AND decision IS NULL", &[&device.0])
            .await?;
    Ok(usize::try_from(row.get::<_, i64>(0)).unwrap_or(0))
}

pub(super) async fn item(db: &impl GenericClient, id: i64) -> Result<Option<SetAsideRecord>, StorageError> {
    let row = query_opt(db, &format!("SELECT {COLUMNS} FROM set_aside WHERE id = $1"), &[&id]).await?;
    row.map(|r| record(raw(&r)?)).transpose()
}

pub(super) async fn decide(
    db: &impl GenericClient,
    id: i64,
    decided: &SetAsideDecided,
) -> Result<bool, StorageError> {
    let (kind, note) = decision_columns(&decided.decision);
    let n = execute(
        db,
        "UPDATE set_aside SET decision = $2, decided_by = $3, decided_at = $4, note = $5
         WHERE id = $1 AND decision IS NULL",
        &[&id, &kind, &decided.by.to_string(), &decided.at.as_millis(), &note],
    )
    .await?;
    Ok(n == 1)
}

pub(super) async fn outcomes(
    db: &impl GenericClient,
    person: PersonId,
    hashes: &[String],
) -> Result<Vec<SetAsideRecord>, StorageError> {
    // A hash two of the person's devices sent: the first one's; the person's own before one an
    // earlier person of the same phone sent.
    let rows = query(
        db,
        &format!(
            "SELECT DISTINCT ON (change_hash) {COLUMNS} FROM set_aside
             WHERE change_hash = ANY($2) AND decision IS NOT NULL
               AND (person = $1 OR (compound IN
                    (SELECT compound FROM memberships WHERE person = $1 AND revoked_at IS NULL)
                    AND EXISTS (SELECT 1 FROM memberships r WHERE r.person = set_aside.person
                                AND r.compound = set_aside.compound AND r.revoked_at IS NOT NULL)))
             ORDER BY change_hash, person = $1 DESC, id"
        ),
        &[&person.to_string(), &hashes],
    )
    .await?;
    rows.iter().map(|r| record(raw(r)?)).collect()
}
