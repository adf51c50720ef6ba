//! A work queue per document: sync messages for one document wait here, and one task per busy
//! document takes them in batches (see [`super::batch`]), so a thousand phones returning at once
//! cost a few turns of the document's lock and a few commits, not a thousand of each.
//!
//! A request is admitted before any of its work is done: [`WorkQueues::admit`] promises each of
//! its documents a place in that document's queue (a [`Place`]), or refuses the whole request
//! with the time the busiest queue needs (see [`admission`](super::admission)). The place is
//! counted as queued from that moment, so a thousand requests arriving in the same instant do
//! not all see an empty queue. A place not used (the request failed or was dropped) is given
//! back when it is dropped. A message whose request has gone (its phone hung up, or it gave up
//! waiting) is dropped when its turn comes rather than worked on for nobody.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use doorstep_core::id::DocumentId;
use tokio::sync::oneshot;

use super::admission::{self, DrainRate, QueueLimits, RetrySlots};
use super::batch::{self, Job};
use super::document::DocOutcome;
use super::relay_load::RelayLoad;
use crate::state::AppState;

/// One document's queue.
#[derive(Debug)]
struct Queue {
    waiting: VecDeque<Job>,
    /// Places promised to admitted requests whose messages are not queued yet.
    promised: usize,
    /// Messages taken for the batch running now.
    in_batch: usize,
    /// Whether a task is taking batches from this queue.
    running: bool,
    drain: DrainRate,
    retry: RetrySlots,
    /// The relay's count of messages admitted across all documents, which this queue's changes
    /// move (see [`Counted`]).
    relay: Arc<RelayLoad>,
}

impl Queue {
    fn new(relay: Arc<RelayLoad>) -> Self {
        Self {
            waiting: VecDeque::new(),
            promised: 0,
            in_batch: 0,
            running: false,
            drain: DrainRate::default(),
            retry: RetrySlots::default(),
            relay,
        }
    }

    fn queued(&self) -> usize {
        self.waiting.len() + self.promised + self.in_batch
    }
}

type Shared = Arc<Mutex<Queue>>;

// A std mutex, here and for each queue: held for a push, a pop or a look, never across an
// `.await`.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A queue, locked, whose changes to what it holds are passed on to the relay's count when the
/// lock is let go: every change to a queue goes through one of these, so the relay-wide count is
/// the sum of the queues' without being summed.
struct Counted<'a> {
    queue: MutexGuard<'a, Queue>,
    before: usize,
}

fn counted(queue: &Shared) -> Counted<'_> {
    let queue = lock(queue);
    let before = queue.queued();
    Counted { queue, before }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.queue.relay.moved(self.before, self.queue.queued());
    }
}

impl std::ops::Deref for Counted<'_> {
    type Target = Queue;
    fn deref(&self) -> &Queue {
        &self.queue
    }
}

impl std::ops::DerefMut for Counted<'_> {
    fn deref_mut(&mut self) -> &mut Queue {
        &mut self.queue
    }
}

/// Every document's queue. A queue is made only for a document a caller may sync, and
/// [`WorkQueues::forget_idle`] drops those of documents that have left memory, so the map holds
/// an entry only for documents in use.
#[derive(Debug, Default)]
pub struct WorkQueues {
    queues: Mutex<HashMap<DocumentId, Shared>>,
    relay: Arc<RelayLoad>,
}

/// A request refused because a document's queue, or the relay's work across documents, is too
/// long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy {
    /// The document whose queue refused it (the one with the longest wait), or `None` when the
    /// relay as a whole did.
    pub doc: Option<DocumentId>,
    /// Messages queued for that document, or across all documents, when it was refused.
    pub queued: usize,
    /// When to come back.
    pub retry_after: Duration,
}

/// A place promised in a document's queue to an admitted request; given back when dropped
/// unless [`submit`] used it.
#[derive(Debug)]
pub struct Place {
    queue: Shared,
    used: bool,
}

impl Drop for Place {
    fn drop(&mut self) {
        if !self.used {
            let mut q = counted(&self.queue);
            q.promised = q.promised.saturating_sub(1);
        }
    }
}

impl WorkQueues {
    fn queue(&self, id: DocumentId) -> Shared {
        Arc::clone(
            lock(&self.queues)
                .entry(id)
                .or_insert_with(|| Arc::new(Mutex::new(Queue::new(Arc::clone(&self.relay))))),
        )
    }

    /// A place in each document's queue, or, if the relay's work in hand or some queue is too
    /// long, no place anywhere and the longest wait among those that refused.
    pub fn admit(
        &self,
        docs: impl IntoIterator<Item = DocumentId>,
        limits: &QueueLimits,
    ) -> Result<HashMap<DocumentId, Place>, Busy> {
        let now = Instant::now();
        let docs: Vec<DocumentId> = docs.into_iter().collect();
        if docs.is_empty() {
            return Ok(HashMap::new());
        }
        if let Err(full) = self.relay.admit(docs.len(), limits, now) {
            return Err(Busy { doc: None, queued: full.queued, retry_after: full.retry_after });
        }
        let mut places = HashMap::new();
        let mut refused: Option<Busy> = None;
        for id in docs {
            let queue = self.queue(id);
            let mut q = counted(&queue);
            let queued = q.queued();
            if admission::admits(queued, &q.drain, limits) {
                q.promised += 1;
                drop(q);
                places.insert(id, Place { queue, used: false });
            } else {
                let drain = q.drain;
                let retry_after = q.retry.assign(now, queued, &drain, limits);
                if refused.is_none_or(|r| r.retry_after < retry_after) {
                    refused = Some(Busy { doc: Some(id), queued, retry_after });
                }
            }
        }
        // Dropping the places promised so far gives them back.
        refused.map_or(Ok(places), Err)
    }

    /// Messages queued for a document: waiting, being worked on or promised a place.
    pub fn queued(&self, id: DocumentId) -> usize {
        lock(&self.queues).get(&id).map_or(0, |q| lock(q).queued())
    }

    /// Messages queued across all documents.
    pub fn queued_relay_wide(&self) -> usize {
        self.relay.queued()
    }

    /// Drops the queues that nothing uses (nothing queued or promised, no task, no place held)
    /// of documents `in_memory` says have left memory, with their measured drain rates and
    /// retry slots: those describe a burst an idle time ago. Returns how many were dropped.
    pub fn forget_idle(&self, in_memory: impl Fn(DocumentId) -> bool) -> usize {
        let mut queues = lock(&self.queues);
        let before = queues.len();
        queues.retain(|id, queue| {
            if in_memory(*id) || Arc::strong_count(queue) > 1 {
                return true;
            }
            let q = lock(queue);
            q.running || q.queued() > 0
        });
        let forgotten = before - queues.len();
        if forgotten > 0 {
            queues.shrink_to_fit();
        }
        forgotten
    }

    /// How many documents have a queue.
    pub fn len(&self) -> usize {
        lock(&self.queues).len()
    }

    /// Whether no document has a queue.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Messages read and waiting in a document's queue for their batch.
    pub fn waiting(&self, id: DocumentId) -> usize {
        lock(&self.queues).get(&id).map_or(0, |q| lock(q).waiting.len())
    }
}

/// A queued message's outcome, still to come.
#[derive(Debug)]
pub struct Pending {
    answer: oneshot::Receiver<DocOutcome>,
    taken: Arc<AtomicBool>,
}

/// Why a queued message has no outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NoOutcome {
    /// It waited for its batch longer than it may; it is dropped unread when its turn comes.
    #[error("the message waited for its document longer than one sync may")]
    GaveUp,
    /// The queue's task ended without answering it (a batch failed).
    #[error("the document's work queue stopped")]
    Stopped,
}

impl Pending {
    /// The outcome. A message still waiting for its batch after `patience` is given up; once
    /// its batch has taken it, the outcome is awaited whatever the patience, because the
    /// batch's work is bounded and throwing it away would only make the phone send it again.
    pub async fn outcome(mut self, patience: Duration) -> Result<DocOutcome, NoOutcome> {
        match tokio::time::timeout(patience, &mut self.answer).await {
            Ok(answered) => answered.map_err(|_| NoOutcome::Stopped),
            Err(_) if self.taken.load(Ordering::Acquire) => self.answer.await.map_err(|_| NoOutcome::Stopped),
            Err(_) => Err(NoOutcome::GaveUp),
        }
    }
}

/// Queues `job` in the place promised to it and starts a task to work the queue if none is.
pub fn submit(state: &AppState, id: DocumentId, mut place: Place, job: Job) -> Pending {
    let (job, answer, taken) = job.with_answer();
    let start = {
        let mut q = counted(&place.queue);
        q.promised = q.promised.saturating_sub(1);
        place.used = true;
        q.waiting.push_back(job);
        !std::mem::replace(&mut q.running, true)
    };
    if start {
        tokio::spawn(work_queue(state.clone(), id, Arc::clone(&place.queue)));
    }
    Pending { answer, taken }
}

/// Marks the queue idle if its task ends in any way other than by finding it empty (a panic in
/// a batch), so the next message starts a new task; whatever was waiting is dropped, and its
/// requests answer `unavailable`.
struct Running {
    queue: Shared,
    finished: bool,
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.finished {
            let mut q = counted(&self.queue);
            q.running = false;
            q.in_batch = 0;
            q.waiting.clear();
        }
    }
}

async fn work_queue(state: AppState, id: DocumentId, queue: Shared) {
    let mut running = Running { queue: Arc::clone(&queue), finished: false };
    loop {
        // The lock first, then the messages: everything that arrived while the previous batch
        // (or a relay write) held the document joins this batch.
        let slot = state.relay.cache().lock(id).await;
        let jobs: Vec<Job> = {
            let mut q = counted(&queue);
            // A message whose request is gone is dropped here, unread.
            q.waiting.retain(|job| !job.abandoned());
            if q.waiting.is_empty() {
                q.running = false;
                q.in_batch = 0;
                // The buffer a burst grew is given back: a thousand documents' queues each
                // holding one would keep the heap's pages from being returned after the burst.
                q.waiting = VecDeque::new();
                running.finished = true;
                return;
            }
            let n =
                q.waiting.len().min(admission::batch_size(&q.drain, &state.config.queue, q.waiting.len()));
            let jobs: Vec<Job> = q.waiting.drain(..n).inspect(Job::mark_taken).collect();
            q.in_batch = jobs.len();
            jobs
        };
        let count = jobs.len();
        let started = Instant::now();
        batch::run(&state, slot, id, jobs).await;
        let took = started.elapsed();
        state.metrics.batch(count);
        let mut q = counted(&queue);
        q.in_batch = 0;
        q.drain.record_batch(count, took, &state.config.queue);
        let (waiting, relay) = (q.waiting.len(), Arc::clone(&q.relay));
        drop(q);
        relay.answered(count, Instant::now());
        tracing::debug!(
            doc = %id,
            messages = count,
            millis = took.as_secs_f64() * 1000.0,
            waiting,
            relay_wide = relay.queued(),
            "batch done"
        );
    }
}
