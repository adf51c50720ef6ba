//! A turn at writing a compound's documents ([`Storage::write_turn`](crate::storage::Storage::write_turn)):
//! a PostgreSQL advisory lock on the compound, held by one pooled connection from before the
//! writer reads the documents until after it committed. Relays on one database then take turns
//! at writes worked out from what the documents hold (an import matching rows to households, a
//! dashboard operation), so that none works from a copy another relay is changing. Phones'
//! changes, merged by Automerge whatever the order, do not take turns.
//!
//! - **Waiting** is asking again (`pg_try_advisory_lock`, backing off to a quarter of a second)
//!   until [`WAIT`], not a blocking `pg_advisory_lock`: a blocked wait that its request gave up
//!   on kept a server process waiting until `lock_timeout`, and clients retrying a busy compound
//!   piled those up until PostgreSQL refused every connection.
//! - **The lock lives with its session**, so its connection is never given back to the pool
//!   holding it, nor while a query on it may still take it: a turn, or a wait, dropped without
//!   [`WriteTurn::release`] finishing (an error on the way, a request gone) takes the connection
//!   out of the pool and closes it, and PostgreSQL ends the lock with the session.
//! - **A session that died ended the turn**: before each commit the writer asks the turn's
//!   connection ([`WriteTurn::still_held`]); one that no longer answers (terminated, a network
//!   drop) stores nothing, since another relay may hold the turn by then. Between that answer and
//!   the commit a few milliseconds remain in which a dying session goes unnoticed.

use std::time::{Duration, Instant};

use deadpool_postgres::Client;
use doorstep_core::id::CompoundId;

use super::{execute, query_one};
use crate::storage::{StorageError, StoreFuture, WriteTurn};

/// Turns one relay holds or waits for at once: half its pool (`POOL_SIZE`), since each holds a
/// connection and its writer needs another to read and commit.
pub(super) const TURNS: usize = 4;

/// How long a writer asks for a turn before it gives up (503: try again): under the request's
/// own 30 s.
const WAIT: Duration = Duration::from_secs(20);

/// The two-part key of a compound's lock: this module's mark, then 32 bits of the compound's ID
/// (two compounds sharing them only take turns with each other).
pub(super) const MARK: i32 = 0x6453_5457; // "dSTW"

fn key(compound: CompoundId) -> i32 {
    let digest = doorstep_core::sync::document_copy::digest(compound.to_string().as_bytes());
    let high = u32::from_str_radix(digest.get(..8).unwrap_or("0"), 16).unwrap_or(0);
    i32::from_be_bytes(high.to_be_bytes())
}

/// A pooled connection that goes back to the pool only through [`Detaching::give_back`]:
/// dropped otherwise, it is taken out of the pool and closed.
#[derive(Debug)]
struct Detaching(Option<Client>);

impl Detaching {
    fn client(&self) -> Result<&Client, StorageError> {
        self.0.as_ref().ok_or_else(|| StorageError::TurnNotHeld("the write turn's connection is gone".into()))
    }

    /// Back to the pool: no lock held, no query in flight.
    fn give_back(mut self) {
        drop(self.0.take());
    }
}

impl Drop for Detaching {
    fn drop(&mut self) {
        if let Some(client) = self.0.take() {
            drop(deadpool_postgres::Object::take(client));
        }
    }
}

/// A compound's turn, held by its connection's session.
#[derive(Debug)]
pub(super) struct Turn {
    conn: Detaching,
    key: i32,
    /// This relay's count of turns ([`TURNS`]), given back with the turn.
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// Asks for `compound`'s turn on `client` until it is had or [`WAIT`] has passed.
pub(super) async fn take(
    client: Client,
    compound: CompoundId,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
) -> Result<Turn, StorageError> {
    let key = key(compound);
    let conn = Detaching(Some(client));
    let since = Instant::now();
    let mut pause = Duration::from_millis(20);
    loop {
        let had: bool = query_one(conn.client()?, "SELECT pg_try_advisory_lock($1, $2)", &[&MARK, &key])
            .await?
            .try_get(0)?;
        if had {
            return Ok(Turn { conn, key, _permit: permit });
        }
        if since.elapsed() >= WAIT {
            conn.give_back();
            return Err(StorageError::TurnNotHeld(format!(
                "another relay has been writing compound {compound} for {} s; try again",
                WAIT.as_secs()
            )));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}

impl WriteTurn for Turn {
    fn still_held(&self) -> StoreFuture<'_, bool> {
        Box::pin(async move {
            let Ok(client) = self.conn.client() else { return Ok(false) };
            // A session lock lasts as long as its session: a session that answers holds it.
            Ok(client.simple_query("").await.is_ok())
        })
    }

    fn release(self: Box<Self>) -> StoreFuture<'static, ()> {
        let Turn { conn, key, _permit } = *self;
        Box::pin(async move {
            let _permit = _permit;
            execute(conn.client()?, "SELECT pg_advisory_unlock($1, $2)", &[&MARK, &key]).await?;
            conn.give_back();
            Ok(())
        })
    }
}
