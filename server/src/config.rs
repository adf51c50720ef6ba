//! The relay's limits and timings, with the defaults `doorstep serve` uses.

use std::time::Duration;

use doorstep_core::sync::MessageLimits;

/// What one request, one document and one token may cost the relay (DESIGN §5, "Bounded").
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body accepted; a larger one is a 413.
    pub max_body_bytes: usize,
    /// Most document messages in one sync request; more is a 413.
    pub max_docs_per_request: usize,
    /// Largest stored size a document may grow to; a message that would pass it is rejected.
    pub max_document_bytes: usize,
    /// Requests per second each token may make, on average.
    pub rate_per_second: f64,
    /// Requests a token may make in a burst after being idle.
    pub rate_burst: f64,
    /// Longest a request may take, reading its body included; then it is a 408.
    pub request_timeout: Duration,
    /// What one document's sync message may carry (heads, filters, bloom parameters, changes);
    /// anything over is rejected before Automerge sees it. See `doorstep_core::sync::MessageLimits`
    /// for how each cap relates to what an honest phone sends.
    pub sync_message: MessageLimits,
    /// Most change entries all the messages of one request may carry together; more is a 413.
    /// A volunteer's day offline is a few hundred changes; a coordinator's busy week a few
    /// thousand.
    pub max_changes_per_request: usize,
    /// Most change hashes (heads, needs and last-sync hashes) all the messages of one request may
    /// name together; more is a 413. An honest phone names a few per document.
    pub max_hashes_per_request: usize,
    /// Longest one document's sync work (decoding, checking, applying, answering) may run; then
    /// it stops before its next step and the message is rejected `over_budget`. It also bounds
    /// how long a message holds its document's lock, so how long other phones on the same
    /// document can be made to wait.
    pub document_work: Duration,
    /// How often a request piece still arriving is written to the store while its bytes come
    /// (`http/sync_pieces.rs`): a link that goes silent without closing leaves at most this much
    /// of what it carried in the relay's memory (a status question has it written at once,
    /// `pieces_arriving.rs`).
    pub keep_pieces_every: Duration,
    /// Most bytes of sync request bodies the relay holds at once, as sent, inflated and decoded
    /// (`bodies_in_hand.rs`); a request that finds no room is refused with 503 and `Retry-After`.
    /// At least three times `max_body_bytes` (one request at its largest) whatever is set.
    pub bodies_in_hand: usize,
    /// Most bytes of sync requests held in part across all devices, in the store
    /// (`held_requests.rs`): full, the largest request of whoever holds the most makes room for
    /// a person holding less; past that a piece is refused and the phone sends its request whole.
    pub pieces_held: usize,
    /// Bytes of changes a volunteer or medic may add to one document in a day; coordinators and
    /// admins four times as much, and each person four times their document's share to all of
    /// a compound's documents together (`growth_share.rs`). A message past what is left of it is
    /// refused as `document_full` (transient: the phone keeps the work and sends it later).
    pub growth_share: usize,
    /// A batch that leaves a document with more heads than this adds one empty change of the
    /// relay's that depends on all of them, so every phone that syncs afterwards holds one head
    /// again (core's `relay_engine/heads_mend.rs`); `usize::MAX` never mends.
    pub mend_heads_over: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            // A phone's whole backlog after a day offline is tens of kilobytes; a full roster of
            // a 2,600-resident compound is about 1 MB. 8 MiB leaves room for both.
            max_body_bytes: 8 * 1024 * 1024,
            // A coordinator of several compounds holds three documents per compound plus the open
            // rounds; 256 is far above that and far below what would hurt.
            max_docs_per_request: 256,
            max_document_bytes: 64 * 1024 * 1024,
            rate_per_second: 10.0,
            rate_burst: 40.0,
            request_timeout: Duration::from_secs(30),
            sync_message: MessageLimits::default(),
            max_changes_per_request: 50_000,
            max_hashes_per_request: 65_536,
            document_work: Duration::from_secs(5),
            keep_pieces_every: Duration::from_secs(1),
            // A district's return of a thousand phones holds a few tens of megabytes; 256 MiB
            // is 32 requests at the body limit.
            bodies_in_hand: 256 * 1024 * 1024,
            pieces_held: crate::held_requests::MOST_BYTES,
            // An honest volunteer's long day offline adds 150–350 KiB to a document; a
            // twentieth of this.
            growth_share: 8 * 1024 * 1024,
            mend_heads_over: doorstep_core::relay_engine::MEND_AT_HEADS,
        }
    }
}

/// How the relay accepts connections and how long it keeps them (SECURITY.md, "Connections").
#[derive(Debug, Clone)]
pub struct Connections {
    /// Longest a client may take to send a request's headers (the TLS handshake included),
    /// counted from the connection's opening for its first request and from the first byte of
    /// each later one; then the connection is closed. This is what ends a slowloris client that
    /// dribbles its headers a byte at a time. Between requests the idle timeout applies.
    pub header_read_timeout: Duration,
    /// A connection on which no byte moved for this long, with no request being handled, is
    /// closed. Live streams send a keep-alive every 15 s, so they never look idle.
    pub idle_timeout: Duration,
    /// Connections open at once. At start the relay lowers this to fit its file-descriptor limit
    /// (after raising the soft limit to the hard one), keeping some descriptors for its database.
    pub max_connections: usize,
    /// Connections open at once from one client address. A compound's phones may share one
    /// address (the estate's Wi-Fi, a carrier's NAT), so this is generous; a trusted proxy's own
    /// address and the relay's own host (`127.0.0.1`, `::1`) are exempt.
    pub max_per_address: usize,
    /// On shutdown, how long requests in flight may take to finish before their connections are
    /// dropped.
    pub shutdown_grace: Duration,
    /// Proxies whose `X-Forwarded-For`, `X-Forwarded-Host`, `X-Forwarded-Proto` and `Forwarded`
    /// headers the relay believes. From any other peer those headers are ignored.
    pub trusted_proxies: Vec<crate::client::IpRange>,
}

impl Default for Connections {
    fn default() -> Self {
        Self {
            // A phone on a poor mobile link sends its few hundred header bytes in well under a
            // second; 10 s is generous and still frees a slowloris slot quickly.
            header_read_timeout: Duration::from_secs(10),
            // A phone syncs in one or two requests and then waits minutes; keeping its connection
            // 30 s covers the second request and the dashboard's polling.
            idle_timeout: Duration::from_secs(30),
            max_connections: 4096,
            max_per_address: 256,
            shutdown_grace: Duration::from_secs(30),
            trusted_proxies: Vec::new(),
        }
    }
}

/// How many live streams (`/v1/events`, `/dashboard/api/events`) may be open (SECURITY.md,
/// "Live streams").
#[derive(Debug, Clone)]
pub struct StreamLimits {
    /// Streams open at once, across all callers.
    pub total: usize,
    /// Of [`StreamLimits::total`], the slots only coordinators and admins may take, so that
    /// volunteers' phones can never crowd the dashboards out.
    pub reserved_for_coordinators: usize,
    /// Streams one person may hold at once, over all their devices and dashboard tabs.
    pub per_person: usize,
    /// Streams one device token may hold at once (a phone needs one).
    pub per_device: usize,
    /// Streams the phones of one compound's members may hold at once (a phone in two compounds
    /// counts in both): one compound's staff inviting hundreds of phones took every slot of
    /// every other compound.
    pub per_compound: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self { total: 1024, reserved_for_coordinators: 128, per_person: 8, per_device: 2, per_compound: 448 }
    }
}

/// How fast one client address may try invite codes at `POST /v1/join` (SECURITY.md, "Join").
#[derive(Debug, Clone)]
pub struct JoinLimits {
    /// Attempts per second one address may make on average.
    pub per_second: f64,
    /// Attempts one address may make at once: a briefing where a building's volunteers join
    /// together from the estate's Wi-Fi.
    pub burst: f64,
}

impl Default for JoinLimits {
    fn default() -> Self {
        // 30 a minute after a burst of 30: a compound joining at once is served, a guesser gets
        // 43,200 tries a day, against invite codes with far more combinations than that.
        Self { per_second: 0.5, burst: 30.0 }
    }
}

/// The relay's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Request limits.
    pub limits: Limits,
    /// Connection timeouts and caps, and the trusted proxies.
    pub connections: Connections,
    /// Live-stream caps.
    pub streams: StreamLimits,
    /// `POST /v1/join` throttling.
    pub join: JoinLimits,
    /// A document nobody has touched for this long leaves memory (it stays on disk).
    pub idle_eviction: Duration,
    /// How long after a sweep that evicted documents the relay returns freed memory once more,
    /// at the first sweep after it: by then the threads that worked on those documents have
    /// left and handed back the blocks they kept (`memory.rs`).
    pub return_memory_again: Duration,
    /// After this many stored chunks a document is compacted into one snapshot.
    pub compact_every: usize,
    /// How long an invite code stays valid by default.
    pub invite_lifetime: Duration,
    /// How long each document's sync queue may grow before requests are refused with 503.
    pub queue: crate::sync::admission::QueueLimits,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            connections: Connections::default(),
            streams: StreamLimits::default(),
            join: JoinLimits::default(),
            idle_eviction: Duration::from_secs(10 * 60),
            return_memory_again: crate::memory::AFTER_THREADS_LEAVE,
            compact_every: 64,
            invite_lifetime: Duration::from_secs(7 * 24 * 3600),
            queue: crate::sync::admission::QueueLimits::default(),
        }
    }
}
