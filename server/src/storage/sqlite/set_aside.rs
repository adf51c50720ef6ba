//! The review inbox of set-aside operations, in SQLite.

use doorstep_core::Timestamp;
use doorstep_core::sync::{SetAsideDecision, SetAsideUpload};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::parsed;
use doorstep_core::id::PersonId;

use crate::storage::{DeviceId, NewSetAside, SetAsideDecided, SetAsideRecord, StorageError};

const COLUMNS: &str = "id, device, change_hash, person, compound, doc, operation, summary, made_at,
    set_aside_at, rule, reason, received_at, decision, decided_by, decided_at, note";
/// The order the inbox's items are chosen in, up to its limit: waiting ones first, then, by turns,
/// each device's newest, then each device's next newest, … (`turn`, [`FAIR_SHARES`]), so that one
/// device's thousand items share the list with another's one rather than hide it.
pub(crate) const FAIR_ORDER: &str = "decision IS NULL DESC, turn, id DESC";
/// A compound's items, each with its turn among its device's waiting (or decided) items, newest
/// first.
const FAIR_SHARES: &str =
    "SELECT *, ROW_NUMBER() OVER (PARTITION BY device, decision IS NULL ORDER BY id DESC) AS turn
     FROM set_aside WHERE compound = ?1";

pub(super) fn put(conn: &Connection, items: &[NewSetAside]) -> Result<(), StorageError> {
    for n in items {
        let i = &n.item;
        conn.prepare_cached(
            "INSERT INTO set_aside (device, change_hash, person, compound, doc, operation, summary,
                 made_at, set_aside_at, rule, reason, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
             ON CONFLICT (device, change_hash) DO NOTHING",
        )?
        .execute(params![
            n.device.0,
            i.id,
            n.person.to_string(),
            n.compound.to_string(),
            i.doc.to_string(),
            i.operation,
            i.summary,
            i.made_at,
            i.set_aside_at,
            i.rule,
            i.reason,
            n.received_at.as_millis()
        ])?;
    }
    Ok(())
}

/// A row's columns as read, before parsing.
pub(crate) type RawRow = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    String,
    Option<i64>,
    i64,
    String,
    String,
    i64,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
);

fn raw(r: &Row<'_>) -> rusqlite::Result<RawRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
        r.get(12)?,
        r.get(13)?,
        r.get(14)?,
        r.get(15)?,
        r.get(16)?,
    ))
}

/// Builds a record from its stored columns (shared with the PostgreSQL backend).
pub(crate) fn record(row: RawRow) -> Result<SetAsideRecord, StorageError> {
    let (
        id,
        device,
        hash,
        person,
        compound,
        doc,
        operation,
        summary,
        made_at,
        set_aside_at,
        rule,
        reason,
        received_at,
        decision,
        decided_by,
        decided_at,
        note,
    ) = row;
    let decided = match (decision.as_deref(), decided_by, decided_at) {
        (Some(kind), Some(by), Some(at)) => Some(SetAsideDecided {
            decision: match kind {
                "applied" => SetAsideDecision::Applied,
                "dismissed" => SetAsideDecision::Dismissed { reason: note.unwrap_or_default() },
                other => return Err(StorageError::Corrupt(format!("set-aside decision {other:?}"))),
            },
            by: parsed(&by, "person id")?,
            at: Timestamp::from_millis(at),
        }),
        _ => None,
    };
    Ok(SetAsideRecord {
        id,
        received: NewSetAside {
            device: DeviceId(device),
            person: parsed(&person, "person id")?,
            compound: parsed(&compound, "compound id")?,
            item: SetAsideUpload {
                id: hash,
                doc: parsed(&doc, "document id")?,
                compound: None,
                person: Some(parsed(&person, "person id")?),
                operation,
                summary,
                made_at,
                set_aside_at,
                rule,
                reason,
            },
            received_at: Timestamp::from_millis(received_at),
        },
        decided,
    })
}

/// The decision's stored word and note.
pub(crate) fn decision_columns(decision: &SetAsideDecision) -> (&'static str, Option<&str>) {
    match decision {
        SetAsideDecision::Applied => ("applied", None),
        SetAsideDecision::Dismissed { reason } => ("dismissed", Some(reason.as_str())),
    }
}

/// The chosen items as the inbox lists them: waiting first, then decided, each newest first.
pub(crate) fn sort_for_the_inbox(records: &mut [SetAsideRecord]) {
    records.sort_by_key(|r| (r.decided.is_some(), std::cmp::Reverse(r.id)));
}

pub(super) fn of_compound(
    conn: &Connection,
    compound: doorstep_core::id::CompoundId,
    limit: usize,
) -> Result<Vec<SetAsideRecord>, StorageError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut stmt = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM ({FAIR_SHARES}) ORDER BY {FAIR_ORDER} LIMIT ?2"))?;
    let rows: Vec<RawRow> =
        stmt.query_map(params![compound.to_string(), limit], raw)?.collect::<Result<_, _>>()?;
    let mut records = rows.into_iter().map(record).collect::<Result<Vec<_>, _>>()?;
    sort_for_the_inbox(&mut records);
    Ok(records)
}

pub(super) fn waiting(conn: &Connection, device: DeviceId) -> Result<usize, StorageError> {
    let n: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM set_aside WHERE device = ?1 AND decision IS NULL")?
        .query_row([device.0], |r| r.get(0))?;
    Ok(usize::try_from(n).unwrap_or(0))
}

pub(super) fn item(conn: &Connection, id: i64) -> Result<Option<SetAsideRecord>, StorageError> {
    let row = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM set_aside WHERE id = ?1"))?
        .query_row([id], raw)
        .optional()?;
    row.map(record).transpose()
}

pub(super) fn decide(conn: &Connection, id: i64, decided: &SetAsideDecided) -> Result<bool, StorageError> {
    let (kind, note) = decision_columns(&decided.decision);
    let n = conn.execute(
        "UPDATE set_aside SET decision = ?2, decided_by = ?3, decided_at = ?4, note = ?5
         WHERE id = ?1 AND decision IS NULL",
        params![id, kind, decided.by.to_string(), decided.at.as_millis(), note],
    )?;
    Ok(n == 1)
}

pub(super) fn outcomes(
    conn: &Connection,
    person: PersonId,
    hashes: &[String],
) -> Result<Vec<SetAsideRecord>, StorageError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM set_aside
         WHERE change_hash = ?2 AND decision IS NOT NULL
           AND (person = ?1 OR (compound IN
                (SELECT compound FROM memberships WHERE person = ?1 AND revoked_at IS NULL)
                AND EXISTS (SELECT 1 FROM memberships r WHERE r.person = set_aside.person
                            AND r.compound = set_aside.compound AND r.revoked_at IS NOT NULL)))
         ORDER BY person = ?1 DESC, id LIMIT 1"
    ))?;
    let mut out = Vec::new();
    for hash in hashes {
        if let Some(row) = stmt.query_row(params![person.to_string(), hash], raw).optional()? {
            out.push(record(row)?);
        }
    }
    Ok(out)
}
