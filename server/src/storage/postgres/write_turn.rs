//! A turn at writing a compound's documents ([`Storage::write_turn`](crate::storage::Storage::write_turn)):
//! a PostgreSQL advisory lock on the compound, held by one pooled connection from before the
//! writer reads the documents until after it committed. Relays on one database then take turns
//! at writes worked out from what the documents hold (an import matching rows to households, a
//! dashboard operation), so that none works from a copy another relay is changing. Phones'
//! changes, merged by Automerge whatever the order, do not take turns.
//!
//! The lock is a session lock: [`WriteTurn::release`] unlocks it and gives the connection back to
//! the pool. A turn dropped without that (an error on the way, a task cancelled) takes its
//! connection out of the pool and closes it, and PostgreSQL ends the lock with the session: a
//! connection never goes back to the pool holding a lock.

use deadpool_postgres::Client;
use doorstep_core::id::CompoundId;

use super::execute;
use crate::storage::{StorageError, StoreFuture, WriteTurn};

/// Turns one relay holds or waits for at once: half its pool (`POOL_SIZE`), since each holds a
/// connection and its writer needs another to read and commit.
pub(super) const TURNS: usize = 4;

/// The two-part key of a compound's lock: this module's mark, then 32 bits of the compound's ID
/// (two compounds sharing them only take turns with each other).
const MARK: i32 = 0x6453_5457; // "dSTW"

fn key(compound: CompoundId) -> i32 {
    let digest = doorstep_core::sync::document_copy::digest(compound.to_string().as_bytes());
    let high = u32::from_str_radix(digest.get(..8).unwrap_or("0"), 16).unwrap_or(0);
    i32::from_be_bytes(high.to_be_bytes())
}

/// A compound's turn, held by `client`.
#[derive(Debug)]
pub(super) struct Turn {
    client: Option<Client>,
    key: i32,
    /// This relay's count of turns ([`TURNS`]), given back with the turn.
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// Waits for `compound`'s turn on `client`.
pub(super) async fn take(
    client: Client,
    compound: CompoundId,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
) -> Result<Turn, StorageError> {
    let key = key(compound);
    // The turn first, so that a wait cut short (the request gone, an error) drops it, and its
    // connection closes rather than going back to the pool with a lock it may yet be granted.
    let turn = Turn { client: Some(client), key, _permit: permit };
    if let Some(client) = &turn.client {
        execute(client, "SELECT pg_advisory_lock($1, $2)", &[&MARK, &key]).await?;
    }
    Ok(turn)
}

impl WriteTurn for Turn {
    fn release(mut self: Box<Self>) -> StoreFuture<'static, ()> {
        let client = self.client.take();
        let key = self.key;
        Box::pin(async move {
            let Some(client) = client else { return Ok(()) };
            match execute(&client, "SELECT pg_advisory_unlock($1, $2)", &[&MARK, &key]).await {
                Ok(_) => Ok(()),
                Err(e) => {
                    // Not known to be unlocked: closed with its session, not pooled.
                    drop(deadpool_postgres::Object::take(client));
                    Err(e)
                }
            }
        })
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            drop(deadpool_postgres::Object::take(client));
        }
    }
}
