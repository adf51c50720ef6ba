//! One turn of a document's lock for every sync message queued for it (group commit).
//!
//! The messages are checked and applied one after another, each against the document as the
//! ones before it left it; a refused message changes nothing and does not stop the others. Then
//! every message is answered from the document with the whole batch in, so a phone also
//! receives what the others in its batch brought (the uploads are taken first, the downloads
//! follow). Then everything the batch must make durable (one chunk with every accepted change,
//! and the actor bindings) is committed in ONE transaction, one fsync for the whole batch; the
//! devices' sync states follow in one more (they only save work: an older state is still
//! correct). Only then is each message answered, so a phone never hears "I have your change"
//! about a change that is not on disk.
//!
//! If the commit fails, the in-memory copy (which holds the batch's changes) is thrown away and
//! reloaded from disk on next use, and every message whose changes were accepted gets an
//! `unavailable` rejection (transient): its phone sends the changes again. An actor that another
//! document's batch bound to someone else meanwhile lands here too; on the retry the binding is
//! known, and only the message that claimed someone else's actor is refused.
//!
//! Each message keeps its own work budget's cancellation (`super::budget`): one whose request is
//! gone is refused before its changes are checked, so the batch does no work for nobody. Its
//! deadline bounded its wait in the queue; once a batch has taken it, it runs to its end (the
//! batch's size, `admission::batch_size`, bounds that work).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use doorstep_core::Timestamp;
use doorstep_core::document::Header;
use doorstep_core::id::{DocumentId, PersonId};
use doorstep_core::permission::Rule;
use doorstep_core::relay_engine::{self as engine, BatchOutcome, Incoming, Verdict};
use doorstep_core::sync::{KeptChanges, PeerState, Rejection};
use doorstep_core::{Actor, Role};
use tokio::sync::{OwnedMutexGuard, oneshot};

use super::Caller;
use super::budget::WorkBudget;
use super::document::{DocOutcome, compact, document_full, load_failed, unavailable};
use super::rejection::{self, reject};
use crate::cache::{Slot, is_open};
use crate::clock;
use crate::growth_share::HeldCharge;
use crate::state::AppState;
use crate::storage::{ActorBinding, DocCommit, StorageError, SyncStateWrite};

/// One queued sync message, read, with everything looked up that needs no document lock.
#[derive(Debug)]
pub struct Job {
    /// Who sent it.
    pub caller: Caller,
    /// Their role in the document's compound.
    pub role: Role,
    /// The decoded message.
    pub incoming: Incoming,
    /// Owners of the actors its changes were made under, as far as they are bound.
    pub owners: HashMap<String, PersonId>,
    /// The device's stored sync state for the document.
    pub stored_state: Option<Vec<u8>>,
    /// The message's size in bytes, against the document's size limit.
    pub size: usize,
    /// The message's work budget; its request holds the guard that cancels it.
    pub budget: WorkBudget,
    /// Refused before it was queued (its sender's share of the document's growth is used up):
    /// its changes are dropped unread and it is answered from a fresh state, with the news.
    turned: Option<Rejection>,
    /// What its changes took from its sender's growth shares: settled once it is answered,
    /// given back whole if it is dropped unanswered.
    charge: Option<HeldCharge>,
    answer: Option<oneshot::Sender<DocOutcome>>,
    taken: Arc<AtomicBool>,
}

impl Job {
    /// A job not yet queued.
    pub fn new(
        caller: Caller,
        role: Role,
        incoming: Incoming,
        owners: HashMap<String, PersonId>,
        stored_state: Option<Vec<u8>>,
        size: usize,
        budget: WorkBudget,
    ) -> Self {
        let taken = Arc::new(AtomicBool::new(false));
        Self {
            caller,
            role,
            incoming,
            owners,
            stored_state,
            size,
            budget,
            turned: None,
            charge: None,
            answer: None,
            taken,
        }
    }

    /// The job carrying what its changes took from its sender's growth shares
    /// (`growth_share.rs`): whatever becomes of it, what it did not add goes back.
    pub fn charged(self, charge: HeldCharge) -> Self {
        Self { charge: Some(charge), ..self }
    }

    /// The job refused already for `rejection`, to be answered in its turn with the document's
    /// news; its changes are dropped, and it adds nothing to the document, so it takes none of
    /// the room left in it.
    pub fn turned(self, rejection: Rejection) -> Self {
        let incoming = self.incoming.without_changes();
        Self { turned: Some(rejection), size: 0, incoming, ..self }
    }

    /// The job with a channel for its outcome; the receiving end, and the flag set once a batch
    /// has taken the job.
    pub fn with_answer(mut self) -> (Self, oneshot::Receiver<DocOutcome>, Arc<AtomicBool>) {
        let (tx, rx) = oneshot::channel();
        self.answer = Some(tx);
        let taken = Arc::clone(&self.taken);
        (self, rx, taken)
    }

    /// Marks the job as taken by a batch: from now on its request waits for its outcome.
    pub fn mark_taken(&self) {
        self.taken.store(true, Ordering::Release);
    }

    /// Whether nobody waits for the outcome any more.
    pub fn abandoned(&self) -> bool {
        self.answer.as_ref().is_none_or(oneshot::Sender::is_closed)
    }

    fn finish(self, outcome: DocOutcome) {
        Waiting {
            caller: self.caller,
            stored_state: self.stored_state,
            charge: self.charge,
            answer: self.answer,
        }
        .finish(outcome);
    }

    /// The part that goes to the blocking pool and the part that waits for the answer.
    fn split(self) -> (Waiting, Work) {
        let Job {
            caller,
            role,
            incoming,
            owners,
            stored_state,
            size: _,
            budget,
            turned,
            charge,
            answer,
            taken: _,
        } = self;
        let mut state = stored_state.as_deref().and_then(|b| PeerState::decode(b).ok()).unwrap_or_default();
        // Replies reach the phone as it asked, refused or not.
        state.set_replies_deflated(caller.replies_deflated);
        state.set_reply_budget(caller.reply_budget);
        if let Some(rejection) = turned {
            return (
                Waiting { caller, stored_state, charge, answer },
                Work::Turned(rejection, incoming, state),
            );
        }
        let author = Actor { person: caller.person, role };
        // Taken by its batch, the message runs to its end unless its request is gone: the
        // deadline bounded its wait, and the batch's size bounds the work.
        let budget = budget.without_deadline();
        (
            Waiting { caller, stored_state, charge, answer },
            Work::Take(Input { author, incoming, owners, state, budget }),
        )
    }
}

/// A message being worked on: who to answer, and the sync state they started from.
#[derive(Debug)]
struct Waiting {
    caller: Caller,
    stored_state: Option<Vec<u8>>,
    charge: Option<HeldCharge>,
    answer: Option<oneshot::Sender<DocOutcome>>,
}

impl Waiting {
    fn finish(self, outcome: DocOutcome) {
        // The request may have given up meanwhile; what was committed stays committed, and its
        // phone's next sync finds the relay already has it.
        let send = move |outcome| {
            if let Some(answer) = self.answer {
                let _ = answer.send(outcome);
            }
        };
        let (added, bound) = (outcome.added, outcome.bound_actors);
        match self.charge.and_then(|charge| charge.owing(added, bound)) {
            // What the message did not add goes back before the phone hears the answer, so its
            // next request finds it there, whether or not anyone still waits for this one.
            Some(charge) => {
                tokio::spawn(async move {
                    charge.settle(added, bound).await;
                    send(outcome);
                });
            }
            None => send(outcome),
        }
    }
}

/// What a message needs on the blocking pool: the engine's input for one message of a batch.
type Input = engine::Queued<WorkBudget>;

/// What the batch does with a message.
#[derive(Debug)]
enum Work {
    /// Takes its changes, checked, and answers it.
    Take(Input),
    /// Answers it as refused already, with the document's news.
    Turned(Rejection, Incoming, PeerState),
}

/// Who mends a document the batch leaves with too many heads (`heads_mend.rs`), past how many,
/// and marks where the relay took a round's close (`close_mark.rs`).
#[derive(Debug)]
struct Mender {
    /// The relay's admin's actor, bound to them: the relay's own writes are under it.
    actor: automerge::ActorId,
    /// [`crate::config::Limits::mend_heads_over`] (`usize::MAX`: never mended).
    more_than: usize,
}

/// The engine's batch, its take and answer steps timed and logged at debug; between them a
/// round the batch closed is marked where the relay took the close, and the document is mended
/// if the batch left it with too many heads.
fn work_batch(
    doc: &mut automerge::Automerge,
    kept: &mut KeptChanges,
    header: &Header,
    inputs: Vec<Input>,
    turned: Vec<(Rejection, Incoming, PeerState)>,
    now: Timestamp,
    mender: Option<Mender>,
) -> BatchOutcome {
    let started = std::time::Instant::now();
    let mut taken = engine::take_batch(doc, kept, header, inputs, now);
    for (rejection, incoming, state) in turned {
        taken.push_turned(rejection, incoming, state);
    }
    if let Some(mender) = mender {
        let heads = doc.get_heads().len();
        if let Some(hash) = taken.mark_close(doc, kept, header, &mender.actor) {
            tracing::info!(doc = %header.id, heads, mark = %hash, "a round closed on a phone was marked where the relay took the close");
        }
        if let Some(hash) = taken.mend_heads(doc, kept, &mender.actor, mender.more_than) {
            tracing::info!(doc = %header.id, heads, mend = %hash, "a document with many heads was mended to one");
        }
    }
    let took_in = started.elapsed();
    let answering = std::time::Instant::now();
    let worked = engine::answer_batch(doc, kept, header, taken);
    tracing::debug!(
        doc = %header.id,
        take_ms = took_in.as_secs_f64() * 1000.0,
        answer_ms = answering.elapsed().as_secs_f64() * 1000.0,
        "batch worked"
    );
    worked
}

fn refuse_all(jobs: Vec<Job>, outcome: impl Fn() -> DocOutcome) {
    for job in jobs {
        job.finish(outcome());
    }
}

/// Syncs every message of `jobs` for document `id` in one turn of its lock (`slot`, held) and
/// one commit, and answers each.
pub async fn run(state: &AppState, mut slot: OwnedMutexGuard<Slot>, id: DocumentId, jobs: Vec<Job>) {
    let (relay, config) = (&state.relay, &state.config);
    let stored_bytes = match slot.fresh(relay.storage()).await {
        Ok(Some(cached)) => cached.stored_bytes,
        Ok(None) => {
            return refuse_all(jobs, || {
                DocOutcome::rejected(reject(
                    id,
                    rejection::UNKNOWN_DOCUMENT,
                    None,
                    "the document was removed",
                ))
            });
        }
        Err(e) => return refuse_all(jobs, || load_failed(id, &e)),
    };
    // The size limit, counted over the batch: each message admitted takes room from the next;
    // one that finds too little is refused, and answered with the news like any refused message.
    let mut room = config.limits.max_document_bytes.saturating_sub(stored_bytes);
    let mut admitted = Vec::with_capacity(jobs.len());
    for job in jobs {
        if job.turned.is_none() && job.size > room {
            admitted.push(job.turned(document_full(id, config.limits.max_document_bytes)));
            continue;
        }
        room -= job.size;
        admitted.push(job);
    }
    if admitted.is_empty() {
        return;
    }
    let Some(mut cached) = slot.take() else {
        return refuse_all(admitted, || unavailable(id, &"document vanished from its slot"));
    };
    // The messages refused already are answered after those taken, with their news.
    admitted.sort_by_key(|job| job.turned.is_some());
    let mut jobs = Vec::with_capacity(admitted.len());
    let (mut inputs, mut turned) = (Vec::new(), Vec::new());
    for (waiting, work) in admitted.into_iter().map(Job::split) {
        jobs.push(waiting);
        match work {
            Work::Take(input) => inputs.push(input),
            Work::Turned(rejection, incoming, state) => turned.push((rejection, incoming, state)),
        }
    }
    let header = cached.record.header;
    let was_open = cached.record.open;
    let started = std::time::Instant::now();
    // The semaphore is never closed, so this always gets a turn; were it closed, the batch
    // would run without one rather than not at all.
    let turn = Arc::clone(&state.batch_turns).acquire_owned().await.ok();
    let mender = mender(state).await;
    let now = clock::now();
    let worked = tokio::task::spawn_blocking(move || {
        let _turn = turn;
        let worked = work_batch(&mut cached.doc, &mut cached.kept, &header, inputs, turned, now, mender);
        (cached, worked)
    })
    .await;
    let (mut cached, BatchOutcome { chunk, verdicts }) = match worked {
        Ok(worked) => worked,
        // The document was moved into the task and is gone; the slot reloads it on next use.
        Err(e) => {
            for job in jobs {
                job.finish(unavailable(id, &e));
            }
            return;
        }
    };
    cached.record.open = is_open(&cached.record.header, &cached.doc);

    // Each actor once, bound to the person whose message brought it.
    let mut bindings = BTreeMap::new();
    let mut states = Vec::new();
    for (job, verdict) in jobs.iter().zip(&verdicts) {
        match verdict {
            Verdict::Accepted { bindings: actors, refused: Some(_), .. } => {
                for actor in actors {
                    bindings.entry(actor.clone()).or_insert(job.caller.person);
                }
                // Taken in part: forgotten like a refused message's, so the next sync negotiates
                // from scratch over what the phone set aside.
                states.push(SyncStateWrite { device: job.caller.device, doc: id, state: None });
            }
            Verdict::Accepted { bindings: actors, state, .. } => {
                for actor in actors {
                    bindings.entry(actor.clone()).or_insert(job.caller.person);
                }
                let encoded = state.encode();
                if job.stored_state.as_deref() != Some(encoded.as_slice()) {
                    states.push(SyncStateWrite { device: job.caller.device, doc: id, state: Some(encoded) });
                }
            }
            // Forgotten, so the device's next sync negotiates from scratch.
            Verdict::Refused { .. } => {
                states.push(SyncStateWrite { device: job.caller.device, doc: id, state: None });
            }
        }
    }
    let bindings: Vec<ActorBinding> =
        bindings.into_iter().map(|(actor, person)| ActorBinding { actor, person }).collect();
    if chunk.is_empty() && bindings.is_empty() && cached.record.open == was_open {
        slot.put(cached);
        drop(slot);
        save_states(state, states).await;
        return answer(jobs, verdicts);
    }
    let commit = DocCommit {
        record: cached.record,
        create: None,
        chunk,
        known_seq: cached.known_seq,
        bindings: bindings.clone(),
        sync_state: None,
        decides: None,
        at: clock::now(),
    };
    let chunk_len = commit.chunk.len();
    let worked_in = started.elapsed();
    let committing = std::time::Instant::now();
    match relay.storage().commit(commit).await {
        Ok(done) => {
            tracing::debug!(
                doc = %id,
                work_ms = worked_in.as_secs_f64() * 1000.0,
                commit_ms = committing.elapsed().as_secs_f64() * 1000.0,
                "batch committed"
            );
            for binding in &bindings {
                relay.remember_owner(&binding.actor, binding.person);
            }
            cached.known_seq = done.known_seq;
            if chunk_len > 0 {
                cached.stored_bytes += chunk_len;
                cached.chunks_since_compaction += 1;
            }
            if cached.chunks_since_compaction >= config.compact_every {
                compact(relay, &mut cached).await;
            }
            slot.put(cached);
            if done.others {
                slot.settle_open(relay.storage()).await;
            }
            drop(slot);
            save_states(state, states).await;
            answer(jobs, verdicts);
        }
        Err(e) => {
            // Nothing of the batch is stored, but the copy in memory holds it: reload from disk.
            slot.invalidate();
            drop(slot);
            // A new actor bound meanwhile to another person (one actor offered by two people at
            // once, in two documents): refused as such to those who offered it here, not
            // "unavailable" for ever; the others' work goes again without it.
            let taken_from = match &e {
                StorageError::ActorTaken { actor, owner } => Some((actor.clone(), *owner)),
                _ => None,
            };
            for (job, verdict) in jobs.into_iter().zip(verdicts) {
                let outcome = match verdict {
                    Verdict::Accepted { .. }
                        if taken_from.as_ref().is_some_and(|(actor, owner)| {
                            job.caller.person != *owner
                                && bindings.iter().any(|b| b.actor == *actor && b.person == job.caller.person)
                        }) =>
                    {
                        let rule = Rule::ActorsBelongToTheirPerson;
                        let actor = taken_from.as_ref().map(|(a, _)| a.as_str()).unwrap_or_default();
                        DocOutcome::rejected(reject(
                            id,
                            rule.code(),
                            None,
                            format!("actor {actor} belongs to another person: {}", rule.explain()),
                        ))
                    }
                    // Another phone's message in the same batch spoiled its commit: nothing of this
                    // one was refused, and its next sync is taken (no storage failure to log).
                    Verdict::Accepted { .. } if taken_from.is_some() => DocOutcome::rejected(reject(
                        id,
                        rejection::UNAVAILABLE,
                        None,
                        "another phone's change stored with this one named an actor that belongs to someone else, so neither was stored; nothing of yours was refused: sync again",
                    )),
                    Verdict::Accepted { .. } => unavailable(id, &e),
                    Verdict::Refused { rejection, reply } => {
                        DocOutcome { reply, rejection: Some(rejection), ..DocOutcome::default() }
                    }
                };
                job.finish(outcome);
            }
        }
    }
}

/// The batch's [`Mender`]: the admin's actor (made and bound on the relay's first write), or
/// none when it cannot be had just now (the batch then goes on unmended, and a close it brings
/// unmarked, so counted from the closing write as before; a later batch mends).
async fn mender(state: &AppState) -> Option<Mender> {
    let more_than = state.config.limits.mend_heads_over;
    match state.relay.actor_for(state.relay.admin()).await {
        Ok(actor) => Some(Mender { actor, more_than }),
        Err(e) => {
            tracing::warn!(error = %e, "the relay's actor could not be had; a document with many heads waits for a later batch to be mended, and a close the batch brings is counted from its closing write");
            None
        }
    }
}

/// Writes the batch's sync states in one transaction. They only save work, so a failure is
/// logged and the phones' next syncs start from older states.
async fn save_states(state: &AppState, states: Vec<SyncStateWrite>) {
    if !states.is_empty()
        && let Err(e) = state.relay.storage().put_sync_states(states, clock::now()).await
    {
        tracing::warn!(error = %e, "sync states of a batch not saved");
    }
}

/// Answers each message of a batch whose changes (if any) are stored.
fn answer(jobs: Vec<Waiting>, verdicts: Vec<Verdict>) {
    for (job, verdict) in jobs.into_iter().zip(verdicts) {
        let outcome = match verdict {
            Verdict::Accepted { reply, refused, added, bindings, .. } => {
                DocOutcome { reply, rejection: refused, state: None, added, bound_actors: bindings.len() }
            }
            Verdict::Refused { rejection, reply } => {
                DocOutcome { reply, rejection: Some(rejection), ..DocOutcome::default() }
            }
        };
        job.finish(outcome);
    }
}
