//! Pieces this relay is receiving right now, per device. A piece's handler writes what arrives to
//! the store at least once a second (`http/sync_pieces.rs`); a link that went silent without
//! closing leaves up to a second of bytes in its memory, where the store, and so a status
//! question, does not see them. Before answering what a device holds, the relay asks that
//! device's pieces still arriving here to write what they hold now, and waits for them (at most
//! [`WAIT_FOR_KEEPING`]), so the phone resumes after every byte the relay already has instead of
//! sending them again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::storage::DeviceId;

/// The longest a status question waits for pieces still arriving to write what they hold.
pub const WAIT_FOR_KEEPING: Duration = Duration::from_secs(1);

/// One piece being received: asked to keep, it says when it has.
#[derive(Debug)]
pub struct Arrival {
    keep_now: Notify,
    kept: watch::Sender<u64>,
}

impl Arrival {
    /// Resolves when someone asked this piece to write what it holds to the store now.
    pub async fn asked_to_keep(&self) {
        self.keep_now.notified().await;
    }

    /// Says that what the piece held is in the store.
    pub fn kept(&self) {
        self.kept.send_modify(|times| *times = times.wrapping_add(1));
    }
}

/// The pieces arriving at this relay, by device.
#[derive(Debug, Default)]
pub struct PiecesArriving {
    devices: Mutex<HashMap<DeviceId, Vec<Weak<Arrival>>>>,
}

impl PiecesArriving {
    /// A piece of `device` begins to arrive; it counts while the returned handle lives.
    pub fn begin(&self, device: DeviceId) -> Arc<Arrival> {
        let arrival = Arc::new(Arrival { keep_now: Notify::new(), kept: watch::Sender::new(0) });
        let mut devices = self.devices.lock().unwrap_or_else(PoisonError::into_inner);
        devices.retain(|_, pieces| {
            pieces.retain(|piece| piece.strong_count() > 0);
            !pieces.is_empty()
        });
        devices.entry(device).or_default().push(Arc::downgrade(&arrival));
        arrival
    }

    /// Asks `device`'s pieces arriving here to write what they hold to the store, and waits
    /// until each has, has ended, or [`WAIT_FOR_KEEPING`] has passed.
    pub async fn keep_all(&self, device: DeviceId) {
        let arriving: Vec<Arc<Arrival>> = {
            let devices = self.devices.lock().unwrap_or_else(PoisonError::into_inner);
            devices
                .get(&device)
                .map_or_else(Vec::new, |pieces| pieces.iter().filter_map(Weak::upgrade).collect())
        };
        if arriving.is_empty() {
            return;
        }
        let waits = arriving.into_iter().map(|arrival| {
            // Subscribed before asking, so a keep that follows the question is seen.
            let mut kept = arrival.kept.subscribe();
            arrival.keep_now.notify_one();
            drop(arrival);
            // Resolves on the next keep, or when the piece's handler ends (the sender dropped).
            async move {
                let _ = kept.changed().await;
            }
        });
        let _ = tokio::time::timeout(WAIT_FOR_KEEPING, futures_util::future::join_all(waits)).await;
    }
}

#[cfg(test)]
mod tests {
    use tokio::time::Instant;

    use super::*;

    /// On tokio's paused clock: a wait that ran into [`WAIT_FOR_KEEPING`] moves it by that much.
    #[tokio::test(start_paused = true)]
    async fn a_status_waits_for_a_piece_to_keep_and_not_for_one_that_ended_or_another_device() {
        let arriving = PiecesArriving::default();
        let device = DeviceId(7);
        let piece = arriving.begin(device);
        let keeper = {
            let piece = Arc::clone(&piece);
            tokio::spawn(async move {
                piece.asked_to_keep().await;
                piece.kept();
            })
        };
        let started = Instant::now();
        arriving.keep_all(device).await;
        keeper.await.expect("the keeper ran");
        assert_eq!(started.elapsed(), Duration::ZERO, "the keep was not seen");

        // A piece that keeps nothing when asked is waited for, up to the bound.
        let started = Instant::now();
        arriving.keep_all(device).await;
        assert_eq!(started.elapsed(), WAIT_FOR_KEEPING);

        // A piece whose handler ended is not waited for, nor another device's piece.
        drop(piece);
        let _other = arriving.begin(DeviceId(8));
        let started = Instant::now();
        arriving.keep_all(device).await;
        assert_eq!(started.elapsed(), Duration::ZERO);
    }
}
