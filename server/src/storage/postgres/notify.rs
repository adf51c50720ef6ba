//! LISTEN/NOTIFY: how one relay learns, within milliseconds, that another relay (or a
//! `doorstep admin` command) committed a change to a document.
//!
//! Every commit that changes a document sends `NOTIFY doorstep_changes` inside its transaction,
//! so PostgreSQL delivers it only if, and once, the commit is durable. Each store listens on a
//! connection of its own (not a pooled one: a listening connection must stay open) and passes
//! the notices of *other* processes on as [`RemoteChange`]s; its own commits are announced by
//! the relay already. A lost connection is reopened with backoff. Notices sent while it was down
//! are lost, which costs nothing in correctness: a relay's cache asks storage for newer chunks
//! before every use of a document, so a notice only makes things happen sooner (the live
//! streams, the cache folding chunks in ahead of the next request).

use std::time::Duration;

use doorstep_core::document::Header;
use futures_util::StreamExt as _;
use tokio::sync::{broadcast, mpsc};
use tokio_postgres::{AsyncMessage, NoTls};

use crate::storage::{RemoteChange, StorageError};

/// The channel every relay on one database listens on.
pub const CHANNEL: &str = "doorstep_changes";

/// Notices buffered per subscriber; one that falls further behind is told it lagged.
const CAPACITY: usize = 1024;

/// Longest wait between two attempts to reopen the listening connection.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A committed change to one document, as sent over NOTIFY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ChangeNotice {
    /// The document.
    pub header: Header,
    /// The new chunk's `seq`, or 0 for a new document.
    pub seq: i64,
}

impl ChangeNotice {
    /// The payload: `origin seq document compound kind`, where `origin` tells a store its own
    /// notices apart.
    pub fn payload(&self, origin: u64) -> String {
        let h = self.header;
        format!("{origin:016x} {} {} {} {}", self.seq, h.id, h.compound, h.kind.as_str())
    }

    /// Reads a payload; `None` for anything else (a newer relay's format, a stray NOTIFY).
    fn parse(payload: &str) -> Option<(u64, Self)> {
        let mut parts = payload.split(' ');
        let origin = u64::from_str_radix(parts.next()?, 16).ok()?;
        let seq = parts.next()?.parse().ok()?;
        let id = parts.next()?.parse().ok()?;
        let compound = parts.next()?.parse().ok()?;
        let kind = parts.next()?.parse().ok()?;
        Some((origin, Self { header: Header { id, kind, compound }, seq }))
    }
}

/// The receiving end: notices of other processes, for whoever subscribes.
#[derive(Debug)]
pub(super) struct Listener {
    changes: broadcast::Sender<RemoteChange>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Listener {
    /// Starts listening, and returns once the first `LISTEN` is in place, so that nothing
    /// committed after the store opened is missed.
    pub async fn start(config: tokio_postgres::Config, origin: u64) -> Result<Self, StorageError> {
        let (changes, _) = broadcast::channel(CAPACITY);
        let first = Connection::open(&config).await?;
        let task = tokio::spawn(run(config, origin, changes.clone(), first));
        Ok(Self { changes, task })
    }

    /// A subscription to every notice from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<RemoteChange> {
        self.changes.subscribe()
    }
}

/// One listening connection: its client (dropping it closes the connection) and its notices.
struct Connection {
    _client: tokio_postgres::Client,
    notices: mpsc::UnboundedReceiver<Result<String, tokio_postgres::Error>>,
}

impl Connection {
    async fn open(config: &tokio_postgres::Config) -> Result<Self, StorageError> {
        let (client, mut connection) = config.connect(NoTls).await?;
        let (tx, notices) = mpsc::unbounded_channel();
        // The connection object does the connection's I/O and hands over its notices; it must be
        // polled for the client's own queries to complete too.
        tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = messages.next().await {
                let sent = match message {
                    Ok(AsyncMessage::Notification(n)) => tx.send(Ok(n.payload().to_owned())),
                    Ok(_) => Ok(()),
                    Err(e) => tx.send(Err(e)),
                };
                if sent.is_err() {
                    return;
                }
            }
        });
        client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
        Ok(Self { _client: client, notices })
    }
}

async fn run(
    config: tokio_postgres::Config,
    origin: u64,
    changes: broadcast::Sender<RemoteChange>,
    first: Connection,
) {
    let mut connection = Some(first);
    let mut backoff = Duration::from_millis(100);
    loop {
        if let Some(mut open) = connection.take() {
            backoff = Duration::from_millis(100);
            loop {
                match open.notices.recv().await {
                    Some(Ok(payload)) => match ChangeNotice::parse(&payload) {
                        Some((from, _)) if from == origin => {}
                        Some((_, notice)) => {
                            // An error only means nobody subscribes just now.
                            let _ = changes.send(RemoteChange { header: notice.header, seq: notice.seq });
                        }
                        None => tracing::debug!(payload, "ignoring a notice in an unknown format"),
                    },
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "lost the LISTEN connection; reopening it");
                        break;
                    }
                    None => {
                        tracing::warn!("the LISTEN connection closed; reopening it");
                        break;
                    }
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
        match Connection::open(&config).await {
            Ok(open) => {
                tracing::info!("listening for other relays' changes again");
                connection = Some(open);
            }
            Err(e) => tracing::warn!(error = %e, retry_in = ?backoff, "cannot reopen the LISTEN connection"),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use doorstep_core::schema::vocabulary::DocKind;

    use super::*;

    #[test]
    fn a_payload_reads_back_and_junk_is_ignored() {
        let header = Header {
            id: "00000000-0000-7000-8000-000000000001".parse().unwrap(),
            kind: DocKind::Round,
            compound: "00000000-0000-7000-8000-000000000002".parse().unwrap(),
        };
        let notice = ChangeNotice { header, seq: 42 };
        assert_eq!(ChangeNotice::parse(&notice.payload(7)), Some((7, notice)));
        assert_eq!(ChangeNotice::parse("hello"), None);
        assert_eq!(ChangeNotice::parse("0000000000000007 42 not-a-uuid x round"), None);
    }
}
