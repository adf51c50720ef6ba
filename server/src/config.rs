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
        }
    }
}

/// The relay's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Request limits.
    pub limits: Limits,
    /// A document nobody has touched for this long leaves memory (it stays on disk).
    pub idle_eviction: Duration,
    /// After this many stored chunks a document is compacted into one snapshot.
    pub compact_every: usize,
    /// How long an invite code stays valid by default.
    pub invite_lifetime: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            idle_eviction: Duration::from_secs(10 * 60),
            compact_every: 64,
            invite_lifetime: Duration::from_secs(7 * 24 * 3600),
        }
    }
}
