//! Roster uploads (the dashboard's import, the admin API's) are read into rows on threads of
//! their own, one per core, one upload at a time each; the others wait their turn in order.
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
//! it.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};

use crate::relay::RelayError;

type Job = Box<dyn FnOnce() + Send>;

/// The threads roster uploads are read on.
#[derive(Debug)]
pub struct RosterReaders {
    // A std mutex around the sender: `Sender` is `Send` but the state is shared.
    jobs: Mutex<Sender<Job>>,
}

impl RosterReaders {
    /// `threads` threads (at least one); they end once this is dropped and their work is done.
    pub fn new(threads: usize) -> Self {
        let (jobs, queue) = channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads.max(1) {
            let queue = Arc::clone(&queue);
            let spawned = std::thread::Builder::new()
                .name(format!("roster-reader-{n}"))
                .spawn(move || read_rosters(&queue));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a roster reader thread");
            }
        }
        Self { jobs: Mutex::new(jobs) }
    }

    /// Runs `read` on a roster reader once one is free; its result. A read that panics is an
    /// error, and its thread goes on with the next.
    pub async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, RelayError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            if let Ok(value) = catch_unwind(AssertUnwindSafe(read)) {
                let _ = done.send(value);
            }
        });
        self.jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(job)
            .map_err(|_| RelayError::Task("no roster reader thread is running".into()))?;
        result.await.map_err(|_| RelayError::Task("reading the roster failed unexpectedly".into()))
    }
}

fn read_rosters(queue: &Mutex<Receiver<Job>>) {
    loop {
        // The lock is held only while waiting for the next job, not while it runs.
        let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeSet;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn rosters_are_read_on_their_own_threads_at_most_one_each_at_once() {
        let readers = Arc::new(RosterReaders::new(2));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let reads = (0..12).map(|_| {
            let (readers, running, most) = (Arc::clone(&readers), Arc::clone(&running), Arc::clone(&most));
            tokio::spawn(async move {
                readers
                    .read(move || {
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
        assert!(readers.read(|| panic!("a damaged upload")).await.is_err());
        assert_eq!(readers.read(|| 7).await.unwrap(), 7);
    }
}
