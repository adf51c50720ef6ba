//! A worker's burst with each phone's CPU work done as if on a CPU of its own
//! (`--phones-own-cpu`, [`Pacing::own_cpu`](super::Pacing)).
//!
//! Real phones build their requests and apply their replies on their own CPUs; simulated on
//! the relay's machine, a team's CPU work is several times the relay's and decides when the last
//! phone is done. Here each phone's request is built before the release; at the release the
//! phone waits as long as building it took and sends it, so the relay faces the whole team at
//! once with the machine to itself. Once every phone of the worker has its reply, the replies
//! are applied, at nice 19 so that the phones still in the burst keep the relay's cores, and the
//! CPU time applying one took (measured on the thread that did it) is added to the moment it
//! arrived. A reply that leaves more to exchange is carried on over the network and its whole
//! duration counted. A reply that refuses some of the phone's work (a document busy for longer
//! than a sync may wait) is applied at once, inside the burst, and the phone syncs again after a
//! pause as the app does, all of it counted as it happens.

use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use doorstep_core::sync::SyncResponse;

use super::{Failed, Outcome, Retries, attempt, report_finished};
use crate::phone::{Busy, HandedOver, Phone, Prepared};
use crate::proc_stats::cpu_time;
use doorstep_replica::SyncRun;
use doorstep_replica::http::Exchanged;

/// What came of a phone's request.
enum Reply {
    /// No answer before the deadline.
    None,
    /// An answer that refused nothing, applied after the burst: when it arrived, from the release.
    Deferred { run: SyncRun, answer: Exchanged, arrived: Duration },
    /// An answer that refused some of the phone's work, applied at once and synced again live:
    /// when the phone was in sync, if it was before the deadline.
    Live(Option<Duration>),
}

/// One phone's request on the network: sent until answered or out of time.
struct Sent {
    phone: Phone,
    reply: Reply,
    retries: Retries,
}

/// Opens the phones and builds their requests, says `ready`, waits for `go`, sends every
/// request at once, then applies the replies and reports each phone.
pub(super) fn run(
    phones: Vec<HandedOver>,
    deadline: Duration,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<()> {
    let prepared: Vec<(Phone, Prepared)> = runtime.block_on(async {
        let mut prepared = Vec::with_capacity(phones.len());
        for (order, handed) in (0u64..).zip(phones) {
            let phone = Phone::take_over(handed, order)?;
            let first = phone.prepare_sync().await?;
            prepared.push((phone, first));
        }
        anyhow::Ok(prepared)
    })?;
    super::wait_for_go()?;
    let me = std::process::id();
    let cpu_before = cpu_time(me).unwrap_or_default();
    let released = Instant::now();
    runtime.block_on(async {
        let mut sending = JoinSet::new();
        for (phone, first) in prepared {
            sending.spawn(send(phone, first, released, deadline));
        }
        let mut sent = Vec::new();
        while let Some(done) = sending.join_next().await {
            sent.push(done?);
        }
        yield_the_cores();
        sent.sort_by_key(|s| match &s.reply {
            Reply::Deferred { arrived, .. } => Some(*arrived),
            _ => None,
        });
        for one in sent {
            let outcome = complete(one, deadline).await;
            println!("result {}", serde_json::to_string(&outcome).unwrap_or_default());
        }
        anyhow::Ok(())
    })?;
    report_finished(cpu_time(me).unwrap_or_default().saturating_sub(cpu_before));
    Ok(())
}

/// Lowers every thread of this worker to nice 19 (threads started later inherit it) before its
/// phones apply their replies. A worker applies its replies once all of its phones have theirs,
/// while other workers' phones may still be in the burst; the CPU time each reply took is
/// measured and added to its arrival whatever the priority, so applying them at the relay's
/// priority only took the relay's cores from the phones still waiting. It did: in 1,000-phone
/// bursts, the phones of early workers applied about 120 s of replies on the machine's two cores
/// while the last phones came back, and single-message batches of the round waited 200 ms for a
/// core (BENCHMARKS.md §4).
fn yield_the_cores() {
    let threads: Vec<String> = std::fs::read_dir("/proc/self/task")
        .map(|dir| dir.filter_map(Result::ok).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    if threads.is_empty() {
        return;
    }
    let lowered = std::process::Command::new("renice")
        .args(["-n", "19", "-p"])
        .args(&threads)
        .stdout(std::process::Stdio::null())
        .status();
    if !lowered.as_ref().is_ok_and(|s| s.success()) {
        eprintln!("doorstep-bench: could not lower the phones' priority to apply their replies: {lowered:?}");
    }
}

/// Waits as long as building the request took, then sends it until the relay answers or the
/// deadline passes, retrying as the app does.
async fn send(phone: Phone, first: Prepared, released: Instant, deadline: Duration) -> Sent {
    let Prepared { run, body, cpu } = first;
    tokio::time::sleep(cpu).await;
    let mut sent = Sent { phone, reply: Reply::None, retries: Retries::default() };
    let reply_budget = run.reply_budget();
    while released.elapsed() < deadline {
        let error = match sent.phone.exchange(body.clone(), reply_budget).await {
            Ok(answer) if refuses_nothing(&answer.answer) => {
                sent.reply = Reply::Deferred { run, answer, arrived: released.elapsed() };
                return sent;
            }
            Ok(answer) => {
                let live =
                    carry_on_live(&sent.phone, run, answer, released, deadline, &mut sent.retries).await;
                sent.reply = Reply::Live(live);
                return sent;
            }
            Err(e) => e,
        };
        let busy = error.downcast_ref::<Busy>().map(|b| b.retry_after);
        let pause = sent.retries.failed(format!("{error:#}"), busy);
        tokio::time::sleep(pause).await;
    }
    sent
}

/// Whether a reply refuses none of the phone's messages (an unreadable one counts as refusing).
fn refuses_nothing(answer: &[u8]) -> bool {
    SyncResponse::decode(answer).is_ok_and(|response| response.rejected.is_empty())
}

/// A reply that refused some of the phone's work: applied now, then synced again after a
/// pause until in sync, as the app does, each failed attempt counted in `retries`. When the phone
/// was in sync, from the release, if it was by `deadline`.
async fn carry_on_live(
    phone: &Phone,
    run: SyncRun,
    answer: Exchanged,
    released: Instant,
    deadline: Duration,
    retries: &mut Retries,
) -> Option<Duration> {
    if let Err(e) = phone.complete(run, answer).await {
        retries.last_error = format!("{e:#}");
        return None;
    }
    let mut outcome =
        phone.unsynced().await.map_err(|e| Failed { error: format!("{e:#}"), busy: None }).and_then(|left| {
            if left == 0 {
                Ok(())
            } else {
                Err(Failed { error: format!("{left} changes still unsynced after the sync"), busy: None })
            }
        });
    let again = async {
        while let Err(Failed { error, busy }) = outcome {
            tokio::time::sleep(retries.failed(error, busy)).await;
            outcome = attempt(phone).await;
        }
    };
    let left = deadline.saturating_sub(released.elapsed());
    tokio::time::timeout(left, again).await.ok().map(|()| released.elapsed())
}

/// Applies a phone's deferred reply and says whether it is in sync, and when: the reply's
/// arrival plus the CPU time applying it took.
async fn complete(sent: Sent, deadline: Duration) -> Outcome {
    let Sent { phone, reply, mut retries } = sent;
    let took = match reply {
        Reply::None => None,
        Reply::Live(took) => took,
        Reply::Deferred { run, answer, arrived } => match phone.complete(run, answer).await {
            Ok((_, cpu)) => match phone.unsynced().await {
                Ok(0) => Some(arrived + cpu),
                Ok(left) => {
                    retries.last_error =
                        format!("{left} changes still unsynced after a reply that refused nothing");
                    None
                }
                Err(e) => {
                    retries.last_error = format!("{e:#}");
                    None
                }
            },
            Err(e) => {
                retries.last_error = format!("{e:#}");
                None
            }
        },
    };
    retries.outcome(phone.name.clone(), took.filter(|t| *t <= deadline), deadline)
}
