//! A simulated phone: the real replica (a SQLite file of its own) and the real HTTP transport,
//! driven one request at a time so that each request and the whole sync can be timed. The CPU
//! work between requests (building a request, applying and persisting a response) runs on
//! tokio's blocking pool, so a thousand phones in one process do not stall each other's network
//! IO on the two async workers.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use doorstep_core::id::CompoundId;
use doorstep_core::{Applied, Operation, Timestamp};
use doorstep_replica::http::{Exchanged, RelayClient, SyncBody, TransportError, Unsent};
use doorstep_replica::{Replica, ReplicaError, SyncReport, SyncRun};
use serde::{Deserialize, Serialize};

use crate::cpu_turns::CpuTurns;

/// The device clock.
pub fn now() -> Timestamp {
    let millis = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    Timestamp::from_millis(i64::try_from(millis).unwrap_or(i64::MAX))
}

/// One sync run, measured.
#[derive(Debug, Clone)]
pub struct Synced {
    /// What the replica counted: requests, bytes each way, documents fetched.
    pub report: SyncReport,
    /// From building the first request to the end of the run.
    pub took: Duration,
}

/// A sync run whose first request is built and not yet sent ([`Phone::prepare_sync`]).
#[derive(Debug)]
pub struct Prepared {
    /// The run, to be completed with the reply ([`Phone::complete`]).
    pub run: SyncRun,
    /// The request.
    pub body: Vec<u8>,
    /// The CPU time building it took.
    pub cpu: Duration,
}

/// The CPU time the calling thread has used, from the scheduler's nanosecond count
/// (`/proc/thread-self/schedstat`); zero where that is not available.
fn thread_cpu() -> Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|ns| ns.parse::<u64>().ok()))
        .map_or(Duration::ZERO, Duration::from_nanos)
}

/// The relay refused a request because it is shedding load (503 with `Retry-After`).
#[derive(Debug, Clone, Copy)]
pub struct Busy {
    /// How long the relay asked the phone to wait.
    pub retry_after: Duration,
}

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the relay is busy (503); retry after {} s", self.retry_after.as_secs())
    }
}

impl std::error::Error for Busy {}

/// A phone with its replica and its device token.
#[derive(Debug)]
pub struct Phone {
    // A std mutex: it is locked only inside blocking-pool closures, never across an `.await`.
    replica: Arc<Mutex<Replica>>,
    /// The relay, with this phone's token.
    relay: RelayClient,
    /// Whether the relay said it reads compressed requests: kept here for the exchanges on the
    /// network and written to the replica with each answer, as the app does.
    relay_reads_deflate: AtomicBool,
    url: String,
    token: String,
    /// The compound it joined.
    pub compound: CompoundId,
    /// The name it joined under.
    pub name: String,
    /// The replica's folder, removed with the phone; `None` for a phone handed over by another
    /// process, which keeps the folder.
    dir: Option<tempfile::TempDir>,
    /// Its place when phones take turns at CPU work: its index in its worker's release order.
    turn_order: u64,
}

/// What another process needs to carry on with a phone: its replica's file, its relay and its
/// device token (see [`Phone::hand_over`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HandedOver {
    /// The replica's SQLite file.
    pub replica: PathBuf,
    /// The relay's URL.
    pub url: String,
    /// The device token.
    pub token: String,
    /// The compound it joined.
    pub compound: CompoundId,
    /// The name it joined under.
    pub name: String,
}

/// Applies an answer as the app does: the report counts the bytes the link carried, and the
/// replica keeps whether the relay reads compressed requests.
fn handle(run: &mut SyncRun, replica: &mut Replica, answer: &Exchanged) -> Result<(), ReplicaError> {
    doorstep_replica::http::handle_answer(run, replica, answer, now())
}

fn lock(replica: &Mutex<Replica>) -> MutexGuard<'_, Replica> {
    replica.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sync requests this process's phones have sent (each `POST /v1/sync`, shed ones included).
pub static REQUESTS_SENT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Set in a worker process whose phones take turns at CPU work ([`take_turns_at_cpu_work`]).
static CPU_TURNS: OnceLock<&'static CpuTurns> = OnceLock::new();

/// From now on the phones of this process do their CPU work one at a time, the earliest
/// released first (see `cpu_turns.rs`); their network waits still overlap.
pub fn take_turns_at_cpu_work() {
    let _ = CPU_TURNS.set(Box::leak(Box::default()));
}

/// Runs `f` on tokio's blocking pool, after waiting for the turn of a phone with `order` when
/// this process's phones take turns.
async fn blocking<T: Send + 'static>(
    order: u64,
    f: impl FnOnce() -> T + Send + 'static,
) -> anyhow::Result<T> {
    let turn = match CPU_TURNS.get() {
        Some(turns) => Some(turns.take(order).await),
        None => None,
    };
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        f()
    })
    .await
    .context("a phone's blocking task failed")
}

impl Phone {
    /// A new phone (its replica in a fresh directory under `parent`) that joins with `code`.
    pub async fn join(url: &str, parent: &Path, code: &str, name: &str) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir_in(parent)?;
        let replica = Replica::open(dir.path().join("phone.sqlite"))?;
        let relay = RelayClient::new(url, None)?;
        let joined = relay.join(code, name, Some(name), None).await?;
        let mut replica = replica;
        replica.set_identity(joined.person)?;
        Ok(Self {
            replica: Arc::new(Mutex::new(replica)),
            relay: relay.with_token(joined.token.clone()),
            relay_reads_deflate: AtomicBool::new(false),
            url: url.trim_end_matches('/').to_owned(),
            token: joined.token,
            compound: joined.compound,
            name: name.to_owned(),
            dir: Some(dir),
            turn_order: 0,
        })
    }

    /// The same phone reaching the relay at another URL from now on (the base's Wi-Fi, then a
    /// landing's link to the same relay).
    pub fn reroute(&mut self, url: &str) -> anyhow::Result<()> {
        self.relay = RelayClient::new(url, Some(self.token.clone()))?;
        url.trim_end_matches('/').clone_into(&mut self.url);
        Ok(())
    }

    /// Closes the replica and hands the phone over to another process ([`Phone::take_over`]).
    /// The returned folder holds the replica: keep it until that process is done.
    pub fn hand_over(self) -> anyhow::Result<(HandedOver, tempfile::TempDir)> {
        let dir = self.dir.context("a phone taken over from another process cannot be handed on")?;
        let replica = Arc::try_unwrap(self.replica)
            .map_err(|_| anyhow::anyhow!("the phone's replica is still in use"))?
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner);
        drop(replica);
        let handed = HandedOver {
            replica: dir.path().join("phone.sqlite"),
            url: self.url,
            token: self.token,
            compound: self.compound,
            name: self.name,
        };
        Ok((handed, dir))
    }

    /// Opens a phone another process handed over; `turn_order` is its place when phones take
    /// turns at CPU work.
    pub fn take_over(handed: HandedOver, turn_order: u64) -> anyhow::Result<Self> {
        let replica = Replica::open(&handed.replica)?;
        let relay_reads_deflate = AtomicBool::new(replica.sends_compressed_requests());
        Ok(Self {
            replica: Arc::new(Mutex::new(replica)),
            relay: RelayClient::new(&handed.url, Some(handed.token.clone()))?,
            relay_reads_deflate,
            url: handed.url,
            token: handed.token,
            compound: handed.compound,
            name: handed.name,
            dir: None,
            turn_order,
        })
    }

    /// [`Phone::take_over`] as CPU work of this process's phones (on the blocking pool, in turn).
    pub async fn open(handed: HandedOver, turn_order: u64) -> anyhow::Result<Self> {
        blocking(turn_order, move || Self::take_over(handed, turn_order)).await?
    }

    /// Runs `f` on the replica, on the blocking pool.
    pub async fn with_replica<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Replica) -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let replica = Arc::clone(&self.replica);
        blocking(self.turn_order, move || f(&mut lock(&replica))).await
    }

    /// Carries out an operation durably (committed to the phone's SQLite file on return).
    pub async fn apply(&self, op: Operation) -> anyhow::Result<Applied> {
        let compound = self.compound;
        Ok(self.with_replica(move |r| r.apply(now(), compound, &op)).await??)
    }

    /// Carries out operations one after another, each durable on its own, offline.
    pub async fn apply_all(&self, ops: Vec<Operation>) -> anyhow::Result<()> {
        let compound = self.compound;
        self.with_replica(move |r| {
            for op in &ops {
                r.apply(now(), compound, op)?;
            }
            Ok::<_, ReplicaError>(())
        })
        .await??;
        Ok(())
    }

    /// Syncs until neither side has anything to say, as `doorstep_replica::http::sync` does.
    pub async fn sync(&self) -> anyhow::Result<Synced> {
        self.sync_with_budget(None).await
    }

    /// [`Phone::sync`] with requests of at most `budget` bytes of messages instead of the
    /// replica's own budget, when given.
    pub async fn sync_with_budget(&self, budget: Option<usize>) -> anyhow::Result<Synced> {
        let start = Instant::now();
        let replica = Arc::clone(&self.replica);
        let run: SyncRun = blocking(self.turn_order, move || {
            let run = lock(&replica).start_sync();
            match budget {
                Some(bytes) => run.with_request_bytes(bytes),
                None => run,
            }
        })
        .await?;
        // As the app does: the rest of a request an earlier window began in pieces, first.
        let mut run = run;
        let earlier =
            match doorstep_replica::http::finish_earlier_request(&self.replica, &self.relay, &mut run, now())
                .await
            {
                Ok(earlier) => earlier,
                Err(e) => {
                    let replica = Arc::clone(&self.replica);
                    blocking(self.turn_order, move || run.piece_cut(&mut lock(&replica))).await??;
                    return Err(e.into());
                }
            };
        let mut report = self.carry_on(run, earlier).await?;
        // As the app does (`http::sync`): on a link that drops requests, the documents held
        // nothing of or far behind come as copies kept byte by byte, then a run for the changes
        // since.
        let copies_wanted = self.with_replica(|r| r.wants_copies()).await?;
        if copies_wanted && budget.is_none() {
            let fetched = doorstep_replica::http::fetch_copies(&self.replica, &self.relay).await?;
            fetched.count_in(&mut report);
            if fetched.sync_follows() {
                let replica = Arc::clone(&self.replica);
                let run = blocking(self.turn_order, move || lock(&replica).start_sync()).await?;
                report.add(self.carry_on(run, None).await?);
            }
        }
        Ok(Synced { report, took: start.elapsed() })
    }

    /// Carries a sync run on until neither side has anything to say: first `answer`, the reply
    /// to a request already sent, if there is one.
    async fn carry_on(&self, mut run: SyncRun, mut answer: Option<Exchanged>) -> anyhow::Result<SyncReport> {
        loop {
            if let Some(answer) = answer.take() {
                let replica = Arc::clone(&self.replica);
                let (back, handled) = blocking(self.turn_order, move || {
                    let handled = handle(&mut run, &mut lock(&replica), &answer);
                    (run, handled)
                })
                .await?;
                run = back;
                handled?;
            }
            let replica = Arc::clone(&self.replica);
            let (back, body) = blocking(self.turn_order, move || {
                let body = run.next_request(&lock(&replica));
                (run, body)
            })
            .await?;
            run = back;
            let Some(body) = body else { break };
            match self.send(&mut run, body).await {
                Ok(sent) => answer = sent,
                Err((e, in_pieces)) => {
                    // As the app does: a request the link did not carry makes the next ones
                    // smaller (unless it went in pieces, kept by the relay as far as it came);
                    // a relay shedding load says nothing of the link.
                    if e.downcast_ref::<Busy>().is_none() {
                        let replica = Arc::clone(&self.replica);
                        let advised = self.relay.take_copies_advised();
                        blocking(self.turn_order, move || {
                            let mut held = lock(&replica);
                            if in_pieces {
                                run.piece_cut(&mut held)?;
                            } else {
                                run.request_failed(&mut held)?;
                            }
                            held.copies_advised(&advised)
                        })
                        .await??;
                    }
                    return Err(e);
                }
            }
        }
        let replica = Arc::clone(&self.replica);
        Ok(blocking(self.turn_order, move || {
            let mut replica = lock(&replica);
            let report = run.finish(&mut replica)?;
            replica.record_sync(now(), &report)?;
            Ok::<_, ReplicaError>(report)
        })
        .await??)
    }

    /// Starts a sync run and builds its first request without sending it (`--phones-own-cpu`),
    /// with the CPU time that took on this thread.
    pub async fn prepare_sync(&self) -> anyhow::Result<Prepared> {
        let replica = Arc::clone(&self.replica);
        blocking(self.turn_order, move || {
            let start = thread_cpu();
            let replica = lock(&replica);
            let mut run = replica.start_sync();
            let body = run.next_request(&replica).context("a phone with nothing to say")?;
            Ok(Prepared { run, body, cpu: thread_cpu().saturating_sub(start) })
        })
        .await?
    }

    /// Applies the reply to a prepared run's request and finishes the run. Returns the report
    /// and the CPU time the phone spent, measured on the thread that did the work; when the reply
    /// leaves more to exchange, the rest of the run is carried on over the network and its whole
    /// duration is counted instead.
    pub async fn complete(
        &self,
        mut run: SyncRun,
        answer: Exchanged,
    ) -> anyhow::Result<(SyncReport, Duration)> {
        let replica = Arc::clone(&self.replica);
        let (run, handled, more, cpu) = blocking(self.turn_order, move || {
            let start = thread_cpu();
            let mut replica = lock(&replica);
            let handled = handle(&mut run, &mut replica, &answer);
            let more = if handled.is_ok() { run.next_request(&replica) } else { None };
            (run, handled, more, thread_cpu().saturating_sub(start))
        })
        .await?;
        handled?;
        if let Some(body) = more {
            let live = Instant::now();
            let answer = self.exchange(body, run.reply_budget()).await?;
            let report = self.carry_on(run, Some(answer)).await?;
            return Ok((report, cpu + live.elapsed()));
        }
        let replica = Arc::clone(&self.replica);
        let (report, finishing) = blocking(self.turn_order, move || {
            let start = thread_cpu();
            let mut replica = lock(&replica);
            let report = run.finish(&mut replica).and_then(|report| {
                replica.record_sync(now(), &report)?;
                Ok(report)
            });
            (report, thread_cpu().saturating_sub(start))
        })
        .await?;
        Ok((report?, cpu + finishing))
    }

    /// The request `run` built last, sent as the app sends it (`http::send_request`): in
    /// pieces when it is long for the link, else whole; `Ok(None)` when the relay took the
    /// same bytes earlier. A 503 with `Retry-After` comes back as [`Busy`]; an error says
    /// whether the request went in pieces.
    async fn send(
        &self,
        run: &mut SyncRun,
        body: Vec<u8>,
    ) -> Result<Option<Exchanged>, (anyhow::Error, bool)> {
        REQUESTS_SENT.fetch_add(1, Ordering::Relaxed);
        let writers: Vec<automerge::ActorId> = lock(&self.replica).own_actors().cloned().collect();
        let body = SyncBody::new(body, self.relay_reads_deflate.load(Ordering::Relaxed))
            .with_reply_budget(run.reply_budget())
            .with_phone_clock(now())
            .with_writers(&writers);
        match doorstep_replica::http::send_request(&self.replica, &self.relay, run, &body).await {
            Ok(sent) => {
                if let Some(exchanged) = &sent {
                    self.relay_reads_deflate.store(exchanged.relay_reads_deflate, Ordering::Relaxed);
                }
                Ok(sent)
            }
            Err(Unsent {
                error: TransportError::Server { status: 503, retry_after_secs: Some(secs), .. },
                in_pieces,
            }) => Err((Busy { retry_after: Duration::from_secs(secs) }.into(), in_pieces)),
            Err(Unsent { error, in_pieces }) => Err((error.into(), in_pieces)),
        }
    }

    /// One sync request, compressed when the relay said it reads that and asking for replies
    /// within `reply_budget` (the run's, [`SyncRun::reply_budget`]), as the app sends it; a
    /// 503 with `Retry-After` comes back as [`Busy`]. A request that failed may be sent again as
    /// it is.
    pub async fn exchange(&self, body: Vec<u8>, reply_budget: Option<usize>) -> anyhow::Result<Exchanged> {
        REQUESTS_SENT.fetch_add(1, Ordering::Relaxed);
        let body = SyncBody::new(body, self.relay_reads_deflate.load(Ordering::Relaxed))
            .with_reply_budget(reply_budget)
            .with_phone_clock(now());
        match self.relay.exchange(&body).await {
            Ok(exchanged) => {
                self.relay_reads_deflate.store(exchanged.relay_reads_deflate, Ordering::Relaxed);
                Ok(exchanged)
            }
            Err(TransportError::Server { status: 503, retry_after_secs: Some(secs), .. }) => {
                Err(Busy { retry_after: Duration::from_secs(secs) }.into())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Local changes the relay is not known to have.
    pub async fn unsynced(&self) -> anyhow::Result<usize> {
        self.with_replica(|r| r.unsynced_changes()).await
    }
}
