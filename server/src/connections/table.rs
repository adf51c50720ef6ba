//! The open connections: how many there are, from which addresses, which are busy, which have
//! shown a credential the relay accepted, and which to close when a new one needs room.
//!
//! When the relay is full (all [`Connections::max_connections`](crate::config::Connections)
//! slots, or all of one address's slots, are taken), a new connection is not refused: the
//! relay closes the connection least worth keeping and lets the new one in. In order:
//!
//! 1. never one handling a request whose credential the relay accepted (a phone's upload on a
//!    landing's link, a dashboard's event stream);
//! 2. first an idle one that never carried a request with a credential the relay accepted (a
//!    stranger's idle socket, a slowloris still dribbling its headers, a health check's
//!    keep-alive);
//! 3. then an idle authenticated one (its phone reconnects with its next request);
//! 4. then one handling a request that showed no accepted credential (a join or a dashboard
//!    sign-in whose body is still arriving: a stranger sending a body a byte a second holds its
//!    slot as long as the request's timeout allows, and sixty of them filled a relay);
//! 5. the oldest first, so a connection that just arrived is the last to go.
//!
//! A credential counts once the relay accepted it ([`Slot::prove`], called where the token or the
//! dashboard session is checked, before the body is read). Only when every slot is busy with an
//! authenticated request is a new connection refused. So 1,100 idle sockets or slow bodies from
//! strangers cannot keep `/healthz`, a phone or a dashboard out: each new arrival takes the
//! place of the oldest stranger.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::client::IpRange;

/// One open connection, as the table and its own task see it.
#[derive(Debug)]
pub struct Slot {
    id: u64,
    addr: IpAddr,
    opened: Instant,
    epoch: Instant,
    // Milliseconds after `epoch` at which a byte last moved either way.
    last_active: AtomicU64,
    // One more than the milliseconds after `epoch` at which the head of the next request began
    // to arrive (its first byte, or the connection's opening for the first request); 0 while a
    // request is being handled or the connection idles between requests.
    head_since: AtomicU64,
    in_flight: AtomicUsize,
    proven: AtomicBool,
    // Notified when the table evicts this connection to make room for another.
    close: Notify,
    // Notified when the head of a request begins to arrive, so the connection's task sets its
    // deadline.
    head_began: Notify,
}

impl Slot {
    /// Records that bytes moved.
    pub fn touch(&self) {
        self.last_active.store(self.millis(), Ordering::Relaxed);
    }

    fn millis(&self) -> u64 {
        millis_since(self.epoch)
    }

    /// Records that bytes were read: with no request being handled, they are the first of the
    /// next request's head, unless its head had begun already.
    pub fn read_bytes(&self) {
        self.touch();
        if self.in_flight() == 0
            && self
                .head_since
                .compare_exchange(0, self.millis() + 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.head_began.notify_one();
        }
    }

    /// Completes when the head of a request has begun to arrive since the last call.
    pub async fn head_began(&self) {
        self.head_began.notified().await;
    }

    /// When the head of the request the relay waits for began to arrive, if it did and no
    /// request is being handled: a connection idle between requests waits for none.
    pub fn head_since(&self) -> Option<Instant> {
        match self.head_since.load(Ordering::Relaxed) {
            0 => None,
            since => Some(self.epoch + Duration::from_millis(since - 1)),
        }
    }

    /// When bytes last moved.
    pub fn last_active(&self) -> Instant {
        self.epoch + Duration::from_millis(self.last_active.load(Ordering::Relaxed))
    }

    /// Requests being handled now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Marks a request as being handled until the guard is dropped.
    pub fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.head_since.store(0, Ordering::Relaxed);
        Busy(Arc::clone(self))
    }

    /// Records that a request with an accepted credential travels on this connection.
    pub fn prove(&self) {
        self.proven.store(true, Ordering::Relaxed);
    }

    /// Whether [`Slot::prove`] was called.
    pub fn is_proven(&self) -> bool {
        self.proven.load(Ordering::Relaxed)
    }

    /// Completes when the table evicts this connection.
    pub async fn evicted(&self) {
        self.close.notified().await;
    }

    /// The client address this connection counts against.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }
}

/// A request's way to tell its connection's slot that the relay accepted its credential (the
/// token checked, or the dashboard session), in the request's extensions: from then on the
/// connection is a member's and is not closed to make room while the request is handled.
#[derive(Debug, Clone)]
pub struct CredentialAccepted(Arc<Slot>);

impl CredentialAccepted {
    /// The handle for `slot`'s requests.
    pub fn for_slot(slot: &Arc<Slot>) -> Self {
        Self(Arc::clone(slot))
    }

    /// Says the credential was accepted.
    pub fn say(&self) {
        self.0.prove();
    }

    /// Says so for the request with these extensions, if it came over a connection of the table.
    pub fn say_for(extensions: &axum::http::Extensions) {
        if let Some(accepted) = extensions.get::<Self>() {
            accepted.say();
        }
    }
}

/// A request being handled; dropping it ends the request.
#[derive(Debug)]
pub struct Busy(Arc<Slot>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
    }
}

/// A connection's place in the table; dropping it frees the place.
#[derive(Debug)]
pub struct Lease {
    table: Arc<Table>,
    slot: Arc<Slot>,
}

impl Lease {
    /// The connection's slot.
    pub fn slot(&self) -> &Arc<Slot> {
        &self.slot
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.table.open().remove(&self.slot.id);
    }
}

/// Why a connection was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Every slot is handling a request.
    #[error("all {0} connections are handling requests")]
    Full(usize),
    /// Every slot of this address is handling a request.
    #[error("all {0} connections from this address are handling requests")]
    AddressFull(usize),
}

/// What [`Table::admit`] did besides letting the connection in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Made {
    /// There was room.
    Room,
    /// Another connection was closed to make room.
    Evicted {
        /// Whether the closed connection had carried an accepted credential.
        proven: bool,
    },
}

/// The open connections.
#[derive(Debug)]
pub struct Table {
    max_total: usize,
    max_per_address: usize,
    exempt: Vec<IpRange>,
    epoch: Instant,
    next_id: AtomicU64,
    // A std mutex: held for one scan of at most `max_total` entries, never across an `.await`.
    slots: Mutex<HashMap<u64, Arc<Slot>>>,
}

impl Table {
    /// A table of at most `max_total` connections, `max_per_address` from one address except
    /// from the `exempt` ranges (trusted proxies, whose connections carry many clients) and the
    /// relay's own host ([`crate::client::is_own_host`]).
    pub fn new(max_total: usize, max_per_address: usize, exempt: Vec<IpRange>) -> Arc<Self> {
        Arc::new(Self {
            max_total: max_total.max(1),
            max_per_address: max_per_address.max(1),
            exempt,
            epoch: Instant::now(),
            next_id: AtomicU64::new(1),
            slots: Mutex::new(HashMap::new()),
        })
    }

    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Slot>>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Connections open now.
    pub fn len(&self) -> usize {
        self.open().len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most connections the table holds.
    pub fn capacity(&self) -> usize {
        self.max_total
    }

    /// Lets a connection from `addr` in, closing a less valuable one if the table or the
    /// address is full (see the module docs); refuses it only if every candidate is busy.
    pub fn admit(self: &Arc<Self>, addr: IpAddr) -> Result<(Lease, Made), Refusal> {
        let mut open = self.open();
        let mut made = Made::Room;
        if !crate::client::is_own_host(addr) && !self.exempt.iter().any(|r| r.contains(addr)) {
            let from_addr = open.values().filter(|s| s.addr == addr).count();
            if from_addr >= self.max_per_address {
                let victim = least_valuable(&open, |s| s.addr == addr)
                    .ok_or(Refusal::AddressFull(self.max_per_address))?;
                made = evict(&mut open, &victim);
            }
        }
        if open.len() >= self.max_total {
            let victim = least_valuable(&open, |_| true).ok_or(Refusal::Full(self.max_total))?;
            made = evict(&mut open, &victim);
        }
        let slot = Arc::new(Slot {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            addr,
            opened: Instant::now(),
            epoch: self.epoch,
            last_active: AtomicU64::new(0),
            // A new connection's first request: its head is awaited from the opening.
            head_since: AtomicU64::new(millis_since(self.epoch) + 1),
            in_flight: AtomicUsize::new(0),
            proven: AtomicBool::new(false),
            close: Notify::new(),
            head_began: Notify::new(),
        });
        slot.touch();
        open.insert(slot.id, Arc::clone(&slot));
        Ok((Lease { table: Arc::clone(self), slot }, made))
    }
}

/// Milliseconds since `epoch`, short of `u64::MAX` so that one more still fits.
fn millis_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
}

/// The connection among those `matching` that is least worth keeping (see the module docs), if
/// any may be closed.
fn least_valuable(open: &HashMap<u64, Arc<Slot>>, matching: impl Fn(&Slot) -> bool) -> Option<Arc<Slot>> {
    // 0: an idle stranger, 1: an idle member, 2: a stranger's request; a member's request never.
    let rank = |s: &Slot| match (s.in_flight() > 0, s.is_proven()) {
        (false, false) => Some(0),
        (false, true) => Some(1),
        (true, false) => Some(2),
        (true, true) => None,
    };
    open.values()
        .filter(|s| matching(s))
        .filter_map(|s| Some((rank(s)?, s)))
        .min_by_key(|(rank, s)| (*rank, s.opened, s.id))
        .map(|(_, s)| Arc::clone(s))
}

fn evict(open: &mut HashMap<u64, Arc<Slot>>, victim: &Slot) -> Made {
    open.remove(&victim.id);
    // `notify_one` keeps a permit if the task is not waiting yet, so the eviction is never lost.
    victim.close.notify_one();
    Made::Evicted { proven: victim.is_proven() }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, n])
    }

    #[test]
    fn a_full_table_closes_idle_strangers_first_and_busy_members_never() {
        let table = Table::new(3, 10, Vec::new());
        let (stranger, _) = table.admit(ip(1)).unwrap();
        let (member, _) = table.admit(ip(2)).unwrap();
        member.slot().prove();
        let (busy, _) = table.admit(ip(3)).unwrap();
        busy.slot().prove();
        let guard = busy.slot().begin();

        let (newcomer, made) = table.admit(ip(4)).unwrap();
        assert_eq!(made, Made::Evicted { proven: false }, "the idle stranger went first");
        newcomer.slot().prove();
        let _newcomer_busy = newcomer.slot().begin();
        assert!(!table.open().contains_key(&stranger.slot().id));
        let (_late, made) = table.admit(ip(5)).unwrap();
        assert_eq!(made, Made::Evicted { proven: true }, "then the idle member");
        assert_eq!(table.len(), 3);
        assert!(table.open().contains_key(&busy.slot().id), "the busy one stays");
        drop(guard);
    }

    #[test]
    fn a_strangers_request_in_progress_makes_room_after_every_idle_one() {
        let table = Table::new(3, 10, Vec::new());
        let (slow_body, _) = table.admit(ip(1)).unwrap();
        let _slow = slow_body.slot().begin();
        let (member, _) = table.admit(ip(2)).unwrap();
        member.slot().prove();
        let (upload, _) = table.admit(ip(3)).unwrap();
        upload.slot().prove();
        let _upload = upload.slot().begin();

        let (newcomer, made) = table.admit(ip(4)).unwrap();
        assert_eq!(made, Made::Evicted { proven: true }, "the idle member before a request");
        newcomer.slot().prove();
        let _newcomer = newcomer.slot().begin();
        let (_late, made) = table.admit(ip(5)).unwrap();
        assert_eq!(made, Made::Evicted { proven: false }, "then the stranger's request");
        assert!(!table.open().contains_key(&slow_body.slot().id));
        assert!(table.open().contains_key(&upload.slot().id), "a member's request is never closed");
    }

    #[test]
    fn when_every_connection_is_busy_the_newcomer_is_refused() {
        let table = Table::new(2, 10, Vec::new());
        let (a, _) = table.admit(ip(1)).unwrap();
        let (b, _) = table.admit(ip(2)).unwrap();
        a.slot().prove();
        b.slot().prove();
        let _ga = a.slot().begin();
        let _gb = b.slot().begin();
        assert_eq!(table.admit(ip(3)).unwrap_err(), Refusal::Full(2));
        drop(b);
        drop(_gb);
        assert!(table.admit(ip(3)).is_ok(), "a closed connection frees its place");
    }

    #[test]
    fn one_address_is_capped_but_others_and_trusted_proxies_are_not() {
        let proxy: IpRange = "192.0.2.200".parse().unwrap();
        let table = Table::new(100, 2, vec![proxy]);
        let (first, _) = table.admit(ip(1)).unwrap();
        let (_second, _) = table.admit(ip(1)).unwrap();
        let (_third, made) = table.admit(ip(1)).unwrap();
        assert_eq!(made, Made::Evicted { proven: false }, "the address's oldest idle one made room");
        assert!(!table.open().contains_key(&first.slot().id));
        let from_one = table.open().values().filter(|s| s.addr == ip(1)).count();
        assert_eq!(from_one, 2);
        let (_other, made) = table.admit(ip(9)).unwrap();
        assert_eq!(made, Made::Room, "another address is not affected");
        let leases: Vec<_> = (0..5).map(|_| table.admit(ip(200)).unwrap()).collect();
        assert!(leases.iter().all(|(_, made)| *made == Made::Room), "a trusted proxy is exempt");
    }

    #[test]
    fn an_evicted_connection_hears_of_it_even_before_it_listens() {
        let table = Table::new(1, 10, Vec::new());
        let (old, _) = table.admit(ip(1)).unwrap();
        let _new = table.admit(ip(2)).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(5), old.slot().evicted()).await.unwrap();
        });
    }
}
