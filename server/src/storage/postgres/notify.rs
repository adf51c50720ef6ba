//! LISTEN/NOTIFY: how one relay learns, within milliseconds, that another relay (or a
//! `doorstep admin` command) committed a change to a document.
//!
//! Every commit that changes a document sends `NOTIFY doorstep_changes` inside its transaction,
//! so PostgreSQL delivers it only if, and once, the commit is durable. Each store listens on a
//! connection of its own (not a pooled one: a listening connection must stay open) and passes
//! the notices of *other* processes on as [`RemoteChange`]s; its own commits are announced by
//! the relay already. A lost connection is reopened with backoff, and so is one that stops
//! answering (asked every [`LISTEN_CHECK`]: a network that drops idle connections silently
//! leaves the socket open and the notices away). Notices sent while it was down are lost, so
//! once it listens again the store asks which documents changed meanwhile (chunks past the last
//! one it heard of, documents made since it lost the connection) and passes those on as notices
//! too: a relay's cache asks storage for newer chunks before every use of a document anyway, but
//! the live streams (the dashboard, a phone's events) learn of a change only by a notice.

use std::time::Duration;

use doorstep_core::document::Header;
use futures_util::StreamExt as _;
use tokio::sync::{broadcast, mpsc};
use tokio_postgres::AsyncMessage;

use super::liveness::{ANSWER_WAIT, LISTEN_CHECK};
use super::tls::RustlsConnect;
use crate::storage::{RemoteChange, StorageError};

/// The channel every relay on one database listens on.
pub const CHANNEL: &str = "doorstep_changes";

/// Notices buffered per subscriber; one that falls further behind is told it lagged.
const CAPACITY: usize = 1024;

/// Longest wait between two attempts to reopen the listening connection.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How far below the last chunk heard of the catch-up after a reopen looks: chunks are numbered
/// when their transaction inserts them, not when it commits, so one numbered a little lower may
/// commit later. A notice too many costs a stream a refresh.
const SEQ_MARGIN: i64 = 1024;

/// How long before the connection was lost the catch-up looks for new documents (clocks of
/// relays on one database differ a little).
const CREATED_MARGIN_MS: i64 = 60_000;

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
    pub async fn start(
        config: tokio_postgres::Config,
        tls: RustlsConnect,
        origin: u64,
    ) -> Result<Self, StorageError> {
        let (changes, _) = broadcast::channel(CAPACITY);
        let first = Connection::open(&config, &tls).await?;
        let heard = first.last_chunk().await?;
        let task = tokio::spawn(run(config, tls, origin, changes.clone(), first, heard));
        Ok(Self { changes, task })
    }

    /// A subscription to every notice from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<RemoteChange> {
        self.changes.subscribe()
    }
}

/// One listening connection: its client (dropping it closes the connection) and its notices.
struct Connection {
    client: tokio_postgres::Client,
    notices: mpsc::UnboundedReceiver<Result<String, tokio_postgres::Error>>,
}

impl Connection {
    async fn open(config: &tokio_postgres::Config, tls: &RustlsConnect) -> Result<Self, StorageError> {
        let (client, mut connection) = config.connect(tls.clone()).await?;
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
        Ok(Self { client, notices })
    }

    /// The newest chunk's number, 0 for none.
    async fn last_chunk(&self) -> Result<i64, StorageError> {
        let row = self.client.query_one("SELECT coalesce(max(seq), 0)::BIGINT FROM changes", &[]).await?;
        Ok(row.try_get(0)?)
    }

    /// Whether the connection still answers, within [`ANSWER_WAIT`].
    async fn answers(&self) -> bool {
        matches!(tokio::time::timeout(ANSWER_WAIT, self.client.simple_query("")).await, Ok(Ok(_)))
    }

    /// The documents changed since chunk `after` or made since `since_ms`: what a store that
    /// was not listening may have missed, as notices.
    async fn missed(&self, after: i64, since_ms: i64) -> Result<Vec<RemoteChange>, StorageError> {
        let rows = self
            .client
            .query(
                "SELECT d.id, d.compound, d.kind, max(c.seq) FROM changes c JOIN documents d ON d.id = c.doc
                 WHERE c.seq > $1 GROUP BY d.id, d.compound, d.kind
                 UNION ALL
                 SELECT id, compound, kind, 0::BIGINT FROM documents WHERE created_at >= $2",
                &[&after, &since_ms],
            )
            .await?;
        let mut missed = Vec::with_capacity(rows.len());
        for row in rows {
            let (id, compound, kind): (String, String, String) =
                (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
            let parsed = (id.parse(), compound.parse(), kind.parse());
            if let (Ok(id), Ok(compound), Ok(kind)) = parsed {
                missed.push(RemoteChange { header: Header { id, kind, compound }, seq: row.try_get(3)? });
            }
        }
        Ok(missed)
    }
}

async fn run(
    config: tokio_postgres::Config,
    tls: RustlsConnect,
    origin: u64,
    changes: broadcast::Sender<RemoteChange>,
    first: Connection,
    mut heard: i64,
) {
    let mut connection = Some(first);
    let mut backoff = Duration::from_millis(100);
    let mut lost_at_ms = 0;
    loop {
        if let Some(mut open) = connection.take() {
            backoff = Duration::from_millis(100);
            let mut check = tokio::time::interval(LISTEN_CHECK);
            check.tick().await;
            loop {
                tokio::select! {
                    notice = open.notices.recv() => match notice {
                        Some(Ok(payload)) => match ChangeNotice::parse(&payload) {
                            Some((from, notice)) => {
                                heard = heard.max(notice.seq);
                                if from != origin {
                                    // An error only means nobody subscribes just now.
                                    let _ = changes.send(RemoteChange { header: notice.header, seq: notice.seq });
                                }
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
                    },
                    _ = check.tick() => {
                        if !open.answers().await {
                            tracing::warn!(
                                wait_s = ANSWER_WAIT.as_secs(),
                                "the LISTEN connection did not answer (dropped by the network?); reopening it"
                            );
                            break;
                        }
                    }
                }
            }
            lost_at_ms = crate::clock::now().as_millis();
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
        match Connection::open(&config, &tls).await {
            Ok(open) => {
                tracing::info!("listening for other relays' changes again");
                match open.missed(heard.saturating_sub(SEQ_MARGIN), lost_at_ms - CREATED_MARGIN_MS).await {
                    Ok(missed) => {
                        tracing::info!(
                            documents = missed.len(),
                            "passing on what changed while not listening"
                        );
                        for change in missed {
                            heard = heard.max(change.seq);
                            let _ = changes.send(change);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot ask what changed while not listening"),
                }
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
