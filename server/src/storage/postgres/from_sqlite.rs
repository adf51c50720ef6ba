//! Moving a district from the relay's SQLite file to an empty PostgreSQL database, for an
//! operator whose district outgrew one machine (`doorstep admin --db relay.db move-to-postgres
//! postgres://…`). Everything a phone or a coordinator relies on moves: people, compounds,
//! memberships, device tokens (as their hashes: every phone keeps signing in), invites, actor
//! bindings, documents with their changes, every phone's sync state (so no phone starts over),
//! the review inbox with its decisions, refused shares and last syncs. What does not move is
//! what a relay rebuilds or a client repeats on its own: dashboard sessions (coordinators sign in
//! again), requests held in pieces (phones send them again) and rate buckets.
//!
//! Both schemas are brought to the current version first, then each table is copied row by row
//! in one PostgreSQL transaction, by PostgreSQL's own column types (SQLite keeps booleans as
//! integers), keeping every ID and sequence number, and the row counts are compared before it
//! commits: a move either lands whole or leaves the PostgreSQL database as it was. The SQLite
//! file is read only, under the serving lock, so no relay writes it meanwhile.

use std::path::Path;

use rusqlite::types::Value as SqliteValue;
use tokio_postgres::types::ToSql;

use super::PostgresStorage;
use crate::storage::StorageError;
use crate::storage::sqlite::{ServingLock, SqliteStorage};

/// The tables that move, parents before the tables that refer to them.
pub const TABLES: [&str; 12] = [
    "persons",
    "compounds",
    "memberships",
    "devices",
    "invites",
    "actor_bindings",
    "documents",
    "changes",
    "sync_states",
    "set_aside",
    "share_refusals",
    "devices_seen",
];

/// The tables that do not move: what a relay rebuilds or a client repeats, and the schema's
/// version, which each store keeps for itself.
pub const NOT_MOVED: [&str; 5] =
    ["dashboard_sessions", "held_requests", "held_request_pieces", "throttles", "doorstep_schema"];

/// Rows read from SQLite and sent to PostgreSQL at a time: a document's changes may be many
/// megabytes, so a table is never held whole.
const BATCH_ROWS: usize = 500;

/// Why a move did not happen; the PostgreSQL database is left as it was.
#[derive(Debug, thiserror::Error)]
pub enum MoveError {
    /// The PostgreSQL database holds a district already.
    #[error(
        "the PostgreSQL database already holds {persons} people and {compounds} compounds; a move goes into an empty database only (create one: CREATE DATABASE doorstep_new), so that two districts are never mixed"
    )]
    NotEmpty {
        /// People found there.
        persons: i64,
        /// Compounds found there.
        compounds: i64,
    },
    /// The SQLite file holds no district.
    #[error(
        "{0} holds no people and no compounds: nothing to move, and the PostgreSQL database was left empty. Is it a copy taken while its relay ran (copy a live file with sqlite3's .backup, see DEPLOY.md, or stop the relay first: its newest writes are in the -wal file beside it), or another file?"
    )]
    SourceEmpty(String),
    /// The PostgreSQL schema has a table this move does not know to move or to leave.
    #[error(
        "the PostgreSQL database has table {0}, which this doorstep does not know how to move; nothing was moved (a newer relay made it? move with that relay's doorstep)"
    )]
    UnknownTable(String),
    /// The rows that arrived are not the rows that left.
    #[error("table {table}: {read} rows read from SQLite but {written} in PostgreSQL; nothing was moved")]
    Mismatch {
        /// The table.
        table: &'static str,
        /// Rows read.
        read: i64,
        /// Rows found after the copy.
        written: i64,
    },
    /// A value SQLite holds does not fit the PostgreSQL column.
    #[error(
        "table {table}, column {column}: SQLite holds {found} where PostgreSQL keeps {expected}; nothing was moved"
    )]
    Value {
        /// The table.
        table: &'static str,
        /// The column.
        column: String,
        /// What SQLite holds.
        found: &'static str,
        /// The PostgreSQL type.
        expected: String,
    },
    /// Opening, reading or writing either database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl From<rusqlite::Error> for MoveError {
    fn from(e: rusqlite::Error) -> Self {
        MoveError::Storage(e.into())
    }
}

impl From<tokio_postgres::Error> for MoveError {
    fn from(e: tokio_postgres::Error) -> Self {
        MoveError::Storage(e.into())
    }
}

/// What moved: each table and its rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// (table, rows), in [`TABLES`]' order.
    pub tables: Vec<(&'static str, i64)>,
}

/// Moves the district in the SQLite file at `sqlite` into the empty PostgreSQL database at
/// `postgres`.
pub async fn move_district(sqlite: &Path, postgres: &str) -> Result<Moved, MoveError> {
    let lock = ServingLock::take(sqlite)?;
    // Brings the file to the current schema (a file of an older relay moves too).
    drop(SqliteStorage::open(sqlite).await?);
    let target = PostgresStorage::open(postgres).await?;
    let mut client = target.client().await?;
    let tx = client.transaction().await?;
    // Two moves into one empty database at once: the second waits, then finds it not empty.
    tx.execute("SELECT pg_advisory_xact_lock(hashtext('doorstep move-to-postgres'))", &[]).await?;
    let count = |table: &str| format!("SELECT count(*) FROM {table}");
    let persons: i64 = tx.query_one(&count("persons"), &[]).await?.get(0);
    let compounds: i64 = tx.query_one(&count("compounds"), &[]).await?.get(0);
    if persons > 0 || compounds > 0 {
        return Err(MoveError::NotEmpty { persons, compounds });
    }
    // A table added to the schema must be named in one list or the other: none is left behind
    // unseen.
    let present = tx
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()",
            &[],
        )
        .await?;
    if let Some(unknown) = present
        .iter()
        .map(|row| row.get::<_, String>(0))
        .find(|t| !TABLES.contains(&t.as_str()) && !NOT_MOVED.contains(&t.as_str()))
    {
        return Err(MoveError::UnknownTable(unknown));
    }
    let mut source =
        rusqlite::Connection::open_with_flags(sqlite, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let people: i64 = source.query_row("SELECT count(*) FROM persons", [], |row| row.get(0))?;
    let places: i64 = source.query_row("SELECT count(*) FROM compounds", [], |row| row.get(0))?;
    if people == 0 && places == 0 {
        return Err(MoveError::SourceEmpty(sqlite.display().to_string()));
    }
    let mut tables = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        let columns = postgres_columns(&tx, table).await?;
        let read = copy_table(&mut source, &tx, table, &columns).await?;
        let written: i64 = tx.query_one(&count(table), &[]).await?.get(0);
        if written != read {
            return Err(MoveError::Mismatch { table, read, written });
        }
        for (column, _, identity) in &columns {
            if *identity {
                // The next row a relay makes follows the rows that moved.
                tx.execute(
                    &format!(
                        "SELECT setval(pg_get_serial_sequence('{table}', '{column}'), \
                         COALESCE((SELECT max({column}) FROM {table}), 0) + 1, false)"
                    ),
                    &[],
                )
                .await?;
            }
        }
        tables.push((table, read));
    }
    tx.commit().await?;
    drop(lock);
    tracing::info!(?tables, "district moved from SQLite to PostgreSQL");
    Ok(Moved { tables })
}

/// A table's columns in PostgreSQL: name, type, and whether PostgreSQL numbers it itself.
async fn postgres_columns(
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
) -> Result<Vec<(String, String, bool)>, MoveError> {
    let rows = tx
        .query(
            "SELECT column_name::text, data_type::text, is_identity::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            &[&table],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get::<_, String>(2) == "YES")).collect())
}

/// Copies one table in batches, in SQLite's row order; the rows read. Each batch is read whole
/// before it is sent, so no SQLite statement is held while PostgreSQL answers.
async fn copy_table(
    source: &mut rusqlite::Connection,
    tx: &tokio_postgres::Transaction<'_>,
    table: &'static str,
    columns: &[(String, String, bool)],
) -> Result<i64, MoveError> {
    let names: Vec<&str> = columns.iter().map(|(name, _, _)| name.as_str()).collect();
    let list = names.join(", ");
    let holes: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
    let overriding =
        if columns.iter().any(|(_, _, identity)| *identity) { " OVERRIDING SYSTEM VALUE" } else { "" };
    let insert = tx
        .prepare(&format!("INSERT INTO {table} ({list}){overriding} VALUES ({})", holes.join(", ")))
        .await?;
    let select =
        format!("SELECT rowid, {list} FROM {table} WHERE rowid > ?1 ORDER BY rowid LIMIT {BATCH_ROWS}");
    let (mut read, mut after) = (0_i64, i64::MIN);
    loop {
        let batch = read_batch(source, &select, after, table, columns)?;
        let Some((last, _)) = batch.last() else { return Ok(read) };
        after = *last;
        for (_, values) in &batch {
            let params: Vec<&(dyn ToSql + Sync)> =
                values.iter().map(|v| v.as_ref() as &(dyn ToSql + Sync)).collect();
            tx.execute(&insert, &params).await?;
        }
        read += i64::try_from(batch.len()).unwrap_or(i64::MAX);
    }
}

/// One row of a table as PostgreSQL takes it, with its SQLite rowid.
type Row = (i64, Vec<Box<dyn ToSql + Sync + Send>>);

/// Up to [`BATCH_ROWS`] rows after rowid `after`.
fn read_batch(
    source: &mut rusqlite::Connection,
    select: &str,
    after: i64,
    table: &'static str,
    columns: &[(String, String, bool)],
) -> Result<Vec<Row>, MoveError> {
    let mut statement = source.prepare_cached(select)?;
    let mut rows = statement.query([after])?;
    let mut batch = Vec::with_capacity(BATCH_ROWS);
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(columns.len());
        for (i, (column, kind, _)) in columns.iter().enumerate() {
            values.push(for_postgres(table, column, kind, row.get::<_, SqliteValue>(i + 1)?)?);
        }
        batch.push((row.get(0)?, values));
    }
    Ok(batch)
}

/// An SQLite value as the PostgreSQL column of type `kind` takes it.
fn for_postgres(
    table: &'static str,
    column: &str,
    kind: &str,
    value: SqliteValue,
) -> Result<Box<dyn ToSql + Sync + Send>, MoveError> {
    let wrong = |found: &'static str| MoveError::Value {
        table,
        column: column.to_owned(),
        found,
        expected: kind.to_owned(),
    };
    Ok(match (kind, value) {
        ("bigint", SqliteValue::Integer(n)) => Box::new(n),
        ("bigint", SqliteValue::Null) => Box::new(None::<i64>),
        ("boolean", SqliteValue::Integer(n)) => Box::new(n != 0),
        ("boolean", SqliteValue::Null) => Box::new(None::<bool>),
        ("text", SqliteValue::Text(s)) => Box::new(s),
        ("text", SqliteValue::Null) => Box::new(None::<String>),
        ("bytea", SqliteValue::Blob(b)) => Box::new(b),
        ("bytea", SqliteValue::Null) => Box::new(None::<Vec<u8>>),
        ("double precision", SqliteValue::Real(x)) => Box::new(x),
        ("double precision", SqliteValue::Integer(n)) => Box::new(n as f64),
        ("double precision", SqliteValue::Null) => Box::new(None::<f64>),
        (_, SqliteValue::Null) => return Err(wrong("NULL")),
        (_, SqliteValue::Integer(_)) => return Err(wrong("an integer")),
        (_, SqliteValue::Real(_)) => return Err(wrong("a real number")),
        (_, SqliteValue::Text(_)) => return Err(wrong("text")),
        (_, SqliteValue::Blob(_)) => return Err(wrong("bytes")),
    })
}
