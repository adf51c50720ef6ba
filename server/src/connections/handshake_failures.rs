//! TLS handshakes that failed on the relay's own HTTPS port, counted for `/metrics`
//! (`doorstep_tls_handshake_failures_total`) and logged. A certificate that lapses mid-operation,
//! or a chain phones do not trust, shows as every phone's handshake failing at once; scanners
//! and old clients fail a few now and then. So each failure is logged at debug, and at info at
//! most once a minute with how many failed since the last such line and the latest cause.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often a failure is logged at info at most.
const INFO_EVERY: Duration = Duration::from_secs(60);

/// The count, and when the last info line was written with how many failed since.
#[derive(Debug, Default)]
pub struct HandshakeFailures {
    total: AtomicU64,
    // A std mutex: held for one comparison, never across an `.await`.
    logged: Mutex<(Option<Instant>, u64)>,
}

impl HandshakeFailures {
    /// Counts and logs a handshake from `peer` that failed with `error`.
    pub fn failed(&self, peer: SocketAddr, error: &std::io::Error) {
        self.total.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%peer, %error, "TLS handshake failed");
        let mut logged = self.logged.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        logged.1 += 1;
        if logged.0.is_none_or(|at| at.elapsed() >= INFO_EVERY) {
            tracing::info!(
                %peer,
                %error,
                failed = logged.1,
                "TLS handshakes failed ({} since the last such line; the latest above): a client that does not trust the certificate, an expired certificate, or a scanner",
                logged.1
            );
            *logged = (Some(Instant::now()), 0);
        }
    }

    /// Failures since the relay started.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }
}
