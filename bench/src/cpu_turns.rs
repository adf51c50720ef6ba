//! Turns at CPU work for the simulated phones of one worker process (`--serial-phones`).
//!
//! Real phones each have a CPU of their own; the simulated ones share the benchmark machine's
//! two cores with each other and with the relay. Left to the operating system, a worker's 50
//! phones all build and apply their syncs at once, each slowed by all the others, and nearly all
//! finish together: every phone's measured time then includes every other phone's CPU work.
//! With turns, one phone of a worker works at a time, and the phone released earliest among
//! those waiting goes first, so a phone that has its reply is not held up by phones that got
//! theirs later. A phone still waits for the turns of the phones before it, which a real phone
//! would not, so its measured time stays an overestimate of its time on a phone of its own.

use std::collections::BTreeSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

/// The turns of one process's phones: one phone at a time, lowest order first.
#[derive(Debug, Default)]
pub struct CpuTurns {
    state: Mutex<State>,
    released: Notify,
}

#[derive(Debug, Default)]
struct State {
    busy: bool,
    /// Phones waiting: (order, arrival), so that equal orders go first come, first served.
    waiting: BTreeSet<(u64, u64)>,
    arrivals: u64,
}

/// The turn, held while a phone works; the next phone goes when it is dropped.
#[derive(Debug)]
pub struct Turn {
    turns: &'static CpuTurns,
}

/// A phone's place in the queue, given up if it stops waiting (its sync timed out).
struct Waiting {
    turns: &'static CpuTurns,
    key: Option<(u64, u64)>,
}

impl CpuTurns {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for the turn of a phone with `order` (lower goes first).
    pub async fn take(&'static self, order: u64) -> Turn {
        let key = {
            let mut state = self.lock();
            let key = (order, state.arrivals);
            state.arrivals += 1;
            state.waiting.insert(key);
            key
        };
        let mut place = Waiting { turns: self, key: Some(key) };
        loop {
            // Registered before the check, so a release between the check and the wait wakes it.
            let released = self.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            {
                let mut state = self.lock();
                if !state.busy && state.waiting.first() == Some(&key) {
                    state.waiting.remove(&key);
                    state.busy = true;
                    place.key = None;
                    return Turn { turns: self };
                }
            }
            released.await;
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.turns.lock().busy = false;
        self.turns.released.notify_waiters();
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.turns.lock().waiting.remove(&key);
            // The first in line may have changed.
            self.turns.released.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_lowest_order_waiting_goes_next_and_a_phone_that_stops_waiting_blocks_nobody() {
        let turns: &'static CpuTurns = Box::leak(Box::default());
        let first = turns.take(5).await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for order in [9u64, 3, 7] {
            let tx = tx.clone();
            tokio::spawn(async move {
                let turn = turns.take(order).await;
                tx.send(order).ok();
                drop(turn);
            });
        }
        let gives_up = tokio::spawn(turns.take(1));
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        gives_up.abort();
        drop(first);
        let mut order = Vec::new();
        for _ in 0..3 {
            order.push(rx.recv().await.expect("every phone gets a turn"));
        }
        assert_eq!(order, vec![3, 7, 9]);
    }
}
