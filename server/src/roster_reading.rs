//! Roster uploads (the dashboard's import, the admin API's) are read into rows on threads of
//! their own, one per core, one upload at a time each; the others wait their turn, and the turns
//! go round the people waiting: one coordinator's session sending many uploads waits behind
//! itself, not in front of another coordinator's import.
//!
//! Reading a roster builds far more than its bytes: an .xlsx's shared strings (up to 16 MiB
//! inflated from a 50 KB upload), its cells, and the rows a CSV becomes (a 7 MB CSV of 100,000
//! households takes about 130 MiB while read). Measured on stop 37's relay, which read each
//! upload on whichever of tokio's blocking threads was free: forty 50 KB workbooks at once from
//! one coordinator's session took the relay from 21 to 235 MiB, a hundred and sixty to 476 MiB.
//! Bounding how many are read at once is not enough on its own: each blocking thread allocates
//! from a glibc arena of its own and keeps what it freed there, so forty reads one after another
//! on sixteen threads still leave sixteen arenas each holding one read's worth. On threads of
//! their own, what roster reads take is bounded by the cores, however many are sent and by
//! however many coordinators. Imports are rare and a read stops at its request's deadline, so
//! waiting a turn costs an honest coordinator at most a few seconds; phones' syncs never wait on
//! it. A reader thread ends after [`KEEP_ALIVE`] without work, as tokio's blocking threads do:
//! kept for good, the two readers held what they had freed, and a relay after the 500-compound
//! sweep kept 3–4 MiB more than before (BENCHMARKS.md §6).

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use doorstep_core::id::PersonId;

use crate::relay::RelayError;

type Job = Box<dyn FnOnce() + Send>;

/// How long a reader thread waits for more work before it ends (as tokio's blocking threads
/// do): a thread that lives on keeps the blocks it freed cached, out of reach of the relay's
/// trim after an eviction sweep (BENCHMARKS.md §6).
pub const KEEP_ALIVE: Duration = Duration::from_secs(10);

/// The threads roster uploads are read on: started when work comes, at most one per core.
#[derive(Debug)]
pub struct RosterReaders {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    work: Condvar,
    most: usize,
    keep_alive: Duration,
}

#[derive(Default)]
struct State {
    /// One line per person with reads waiting, in the order their next turn comes.
    lines: VecDeque<Line>,
    threads: usize,
    idle: usize,
    closed: bool,
}

/// One person's reads waiting, in the order they sent them.
struct Line {
    person: PersonId,
    jobs: VecDeque<Job>,
}

impl State {
    fn push(&mut self, person: PersonId, job: Job) {
        match self.lines.iter_mut().find(|line| line.person == person) {
            Some(line) => line.jobs.push_back(job),
            None => self.lines.push_back(Line { person, jobs: VecDeque::from([job]) }),
        }
    }

    /// The next read: the first of the person whose turn it is, who then goes to the back of
    /// the turns if they have more waiting.
    fn next(&mut self) -> Option<Job> {
        let mut line = self.lines.pop_front()?;
        let job = line.jobs.pop_front();
        if !line.jobs.is_empty() {
            self.lines.push_back(line);
        }
        job
    }

    fn waiting(&self) -> usize {
        self.lines.iter().map(|line| line.jobs.len()).sum()
    }
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("waiting", &self.waiting())
            .field("threads", &self.threads)
            .field("idle", &self.idle)
            .finish()
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl RosterReaders {
    /// At most `threads` reader threads (at least one), each ending after [`KEEP_ALIVE`] without
    /// work.
    pub fn new(threads: usize) -> Self {
        Self::with_keep_alive(threads, KEEP_ALIVE)
    }

    fn with_keep_alive(threads: usize, keep_alive: Duration) -> Self {
        let shared =
            Shared { state: Mutex::default(), work: Condvar::new(), most: threads.max(1), keep_alive };
        Self { shared: Arc::new(shared) }
    }

    /// Runs `read`, sent by `person`, on a roster reader once one is free and it is their turn;
    /// its result. A read that panics is an error, and its thread goes on with the next. A read
    /// whose caller is gone by its turn (its request answered 408, its client disconnected) is
    /// not run: nobody waits for it.
    pub async fn read<T: Send + 'static>(
        &self,
        person: PersonId,
        read: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, RelayError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            if done.is_closed() {
                return;
            }
            match doorstep_core::expected_panic::catch(read) {
                Ok(value) => {
                    let _ = done.send(value);
                }
                Err(message) => tracing::warn!(%message, "reading a roster upload panicked; refusing it"),
            }
        });
        self.queue(person, job)?;
        result.await.map_err(|_| RelayError::Task("reading the roster failed unexpectedly".into()))
    }

    fn queue(&self, person: PersonId, job: Job) -> Result<(), RelayError> {
        let mut state = self.shared.state();
        state.push(person, job);
        if state.idle > 0 {
            self.shared.work.notify_one();
            return Ok(());
        }
        if state.threads >= self.shared.most {
            // Every reader is busy: the job waits its turn.
            return Ok(());
        }
        let shared = Arc::clone(&self.shared);
        let spawned = std::thread::Builder::new()
            .name(format!("roster-reader-{}", state.threads))
            .spawn(move || read_rosters(&shared));
        match spawned {
            Ok(_) => state.threads += 1,
            Err(e) if state.threads == 0 => {
                state.lines.clear();
                return Err(RelayError::Task(format!("could not start a thread to read the roster: {e}")));
            }
            // The readers running take it in turn.
            Err(e) => tracing::warn!(error = %e, "could not start another roster reader"),
        }
        Ok(())
    }

    /// Reader threads running now.
    #[cfg(test)]
    fn threads(&self) -> usize {
        self.shared.state().threads
    }
}

impl Drop for RosterReaders {
    fn drop(&mut self) {
        self.shared.state().closed = true;
        self.shared.work.notify_all();
    }
}

fn read_rosters(shared: &Shared) {
    let mut state = shared.state();
    loop {
        if let Some(job) = state.next() {
            drop(state);
            job();
            state = shared.state();
            continue;
        }
        if state.closed {
            break;
        }
        state.idle += 1;
        let (next, waited) =
            shared.work.wait_timeout(state, shared.keep_alive).unwrap_or_else(PoisonError::into_inner);
        state = next;
        state.idle -= 1;
        if waited.timed_out() && state.lines.is_empty() {
            break;
        }
    }
    state.threads -= 1;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeSet;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    fn person(n: u128) -> PersonId {
        PersonId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn someone() -> PersonId {
        person(1)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn rosters_are_read_on_their_own_threads_at_most_one_each_at_once() {
        let readers = Arc::new(RosterReaders::with_keep_alive(2, Duration::from_secs(5)));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let reads = (0..12).map(|_| {
            let (readers, running, most) = (Arc::clone(&readers), Arc::clone(&running), Arc::clone(&most));
            tokio::spawn(async move {
                readers
                    .read(someone(), move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                        running.fetch_sub(1, Ordering::SeqCst);
                        std::thread::current().name().unwrap().to_owned()
                    })
                    .await
                    .unwrap()
            })
        });
        let mut threads = BTreeSet::new();
        for read in reads.collect::<Vec<_>>() {
            threads.insert(read.await.unwrap());
        }
        assert_eq!(most.load(Ordering::SeqCst), 2, "two at once, never more");
        assert!(threads.iter().all(|t| t.starts_with("roster-reader-")) && threads.len() <= 2, "{threads:?}");
        // A read that panics is an error; the thread reads the next.
        assert!(readers.read(someone(), || panic!("a damaged upload")).await.is_err());
        assert_eq!(readers.read(someone(), || 7).await.unwrap(), 7);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_whose_caller_left_while_it_waited_is_not_run() {
        let readers = Arc::new(RosterReaders::with_keep_alive(1, Duration::from_secs(5)));
        let busy = {
            let readers = Arc::clone(&readers);
            tokio::spawn(async move {
                readers.read(someone(), || std::thread::sleep(Duration::from_millis(200))).await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let ran = Arc::new(AtomicUsize::new(0));
        let waiting = {
            let (readers, ran) = (Arc::clone(&readers), Arc::clone(&ran));
            tokio::spawn(
                async move { readers.read(someone(), move || ran.fetch_add(1, Ordering::SeqCst)).await },
            )
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        waiting.abort();
        busy.await.unwrap().unwrap();
        // The reader is free again and has taken the next job by now.
        assert_eq!(readers.read(someone(), || 7).await.unwrap(), 7);
        assert_eq!(ran.load(Ordering::SeqCst), 0, "the read nobody waited for was not run");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reader_threads_end_when_idle_and_start_again_for_more_work() {
        let readers = RosterReaders::with_keep_alive(2, Duration::from_millis(50));
        assert_eq!(readers.threads(), 0, "none before any work");
        assert_eq!(readers.read(someone(), || 1).await.unwrap(), 1);
        assert_eq!(readers.threads(), 1);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(readers.threads(), 0, "ended after the keep-alive");
        assert_eq!(readers.read(someone(), || 2).await.unwrap(), 2);
    }

    #[test]
    fn the_turns_go_round_the_people_waiting_not_first_come_first_served() {
        let readers = RosterReaders::with_keep_alive(1, Duration::from_secs(5));
        let (order, done) = std::sync::mpsc::channel();
        let job = |name: &'static str| -> Job {
            let order = order.clone();
            Box::new(move || order.send(name).unwrap())
        };
        // The one reader is busy with a first upload while the others come.
        let (started, go) = (std::sync::mpsc::channel(), std::sync::mpsc::channel::<()>());
        readers
            .queue(
                person(1),
                Box::new(move || {
                    started.0.send(()).unwrap();
                    go.1.recv().unwrap();
                }),
            )
            .unwrap();
        started.1.recv().unwrap();
        // One coordinator's session sends five more; another coordinator sends one after them,
        // a third one after that, and the second another.
        for name in ["a1", "a2", "a3", "a4", "a5"] {
            readers.queue(person(1), job(name)).unwrap();
        }
        readers.queue(person(2), job("b1")).unwrap();
        readers.queue(person(3), job("c1")).unwrap();
        readers.queue(person(2), job("b2")).unwrap();
        go.0.send(()).unwrap();
        let order: Vec<_> = (0..8).map(|_| done.recv_timeout(Duration::from_secs(5)).unwrap()).collect();
        // A turn each, round the people waiting, each person's in the order they sent them.
        assert_eq!(order, ["a1", "b1", "c1", "a2", "b2", "a3", "a4", "a5"]);
    }
}
