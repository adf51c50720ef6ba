//! Counters for `GET /metrics`, in the Prometheus text format.
//!
//! A handful of counters written by hand rather than a metrics crate: the relay needs requests by
//! route and status, request durations, documents in and out of sync, rejections by rule, bytes
//! in and out and the documents in memory, and nothing that would need a registry.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Upper bounds of the request-duration histogram, in seconds.
const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The relay's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    // Std mutexes: each is held for one map update, never across an `.await`.
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    durations: Mutex<BTreeMap<String, Histogram>>,
    rejections: Mutex<BTreeMap<String, u64>>,
    sync_docs_in: AtomicU64,
    sync_docs_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    sync_batches: AtomicU64,
    sync_batched_messages: AtomicU64,
    sync_largest_batch: AtomicU64,
    sync_shed: AtomicU64,
    share_refusals: AtomicU64,
    memory_trims: AtomicU64,
    clocks_off: AtomicU64,
}

impl Metrics {
    /// Counts a finished request.
    pub fn request(&self, route: &str, status: u16, took: Duration) {
        *self
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((route.to_owned(), status))
            .or_default() += 1;
        let mut durations = self.durations.lock().unwrap_or_else(PoisonError::into_inner);
        let h = durations.entry(route.to_owned()).or_default();
        let secs = took.as_secs_f64();
        for (count, bound) in h.counts.iter_mut().zip(BUCKETS) {
            if secs <= bound {
                *count += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    /// Counts one sync request's documents and bytes.
    pub fn sync(&self, docs_in: usize, docs_out: usize, bytes_in: usize, bytes_out: usize) {
        let add = |counter: &AtomicU64, n: usize| {
            counter.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed)
        };
        add(&self.sync_docs_in, docs_in);
        add(&self.sync_docs_out, docs_out);
        add(&self.bytes_in, bytes_in);
        add(&self.bytes_out, bytes_out);
    }

    /// Counts one batch of a document's work queue and the messages it took.
    pub fn batch(&self, messages: usize) {
        let n = u64::try_from(messages).unwrap_or(u64::MAX);
        self.sync_batches.fetch_add(1, Ordering::Relaxed);
        self.sync_batched_messages.fetch_add(n, Ordering::Relaxed);
        self.sync_largest_batch.fetch_max(n, Ordering::Relaxed);
    }

    /// Counts a sync request refused with 503 because a document's queue, or the relay's work
    /// across documents, was too long.
    pub fn shed(&self) {
        self.sync_shed.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a document message refused because its sender had used up a share of the growth
    /// of its compound's documents (`growth_share.rs`); it is also counted as `document_full`.
    pub fn share_refused(&self) {
        self.share_refusals.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a sync request whose `Date` said a clock more than five minutes from the relay's
    /// (core's `time::clock_is_off`; `devices_seen.rs`).
    pub fn clock_off(&self) {
        self.clocks_off.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a return of freed memory to the system after an eviction sweep (`memory.rs`).
    pub fn memory_trimmed(&self) {
        self.memory_trims.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a rejected document message.
    pub fn rejection(&self, rule: &str) {
        *self
            .rejections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(rule.to_owned())
            .or_default() += 1;
    }

    /// The Prometheus text exposition, with the gauges read at the moment of asking.
    pub fn render(&self, gauges: &Gauges) -> String {
        let Gauges {
            docs_cached,
            docs_evicted,
            work_queues,
            messages_queued,
            pieces_held_bytes,
            pieces_let_go,
            resident_bytes,
            out_of_space,
            relay_clock_doubt_ms,
            tls_handshake_failures,
        } = *gauges;
        let mut out = String::new();
        // Writing to a String cannot fail; the results are ignored for that reason.
        let _ = writeln!(out, "# HELP doorstep_http_requests_total HTTP requests by route and status.");
        let _ = writeln!(out, "# TYPE doorstep_http_requests_total counter");
        for ((route, status), n) in self.requests.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            let _ =
                writeln!(out, "doorstep_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}");
        }
        let _ =
            writeln!(out, "# HELP doorstep_http_request_duration_seconds HTTP request durations by route.");
        let _ = writeln!(out, "# TYPE doorstep_http_request_duration_seconds histogram");
        for (route, h) in self.durations.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            for (count, bound) in h.counts.iter().zip(BUCKETS) {
                let _ = writeln!(
                    out,
                    "doorstep_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "doorstep_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ =
                writeln!(out, "doorstep_http_request_duration_seconds_sum{{route=\"{route}\"}} {}", h.sum);
            let _ = writeln!(
                out,
                "doorstep_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count
            );
        }
        let _ = writeln!(out, "# HELP doorstep_sync_rejections_total Document messages rejected, by rule.");
        let _ = writeln!(out, "# TYPE doorstep_sync_rejections_total counter");
        for (rule, n) in self.rejections.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            let _ = writeln!(out, "doorstep_sync_rejections_total{{rule=\"{rule}\"}} {n}");
        }
        let counters = [
            (
                "doorstep_sync_documents_in_total",
                "Document messages received in sync requests.",
                &self.sync_docs_in,
            ),
            (
                "doorstep_sync_documents_out_total",
                "Document messages sent in sync responses.",
                &self.sync_docs_out,
            ),
            (
                "doorstep_sync_bytes_in_total",
                "Sync request body bytes, as the link carried them (compressed when they came so).",
                &self.bytes_in,
            ),
            (
                "doorstep_sync_bytes_out_total",
                "Sync response body bytes, as the link carried them (compressed when they went so).",
                &self.bytes_out,
            ),
            (
                "doorstep_sync_batches_total",
                "Batches taken from the documents' work queues (one lock turn and one commit each).",
                &self.sync_batches,
            ),
            (
                "doorstep_sync_batched_messages_total",
                "Document messages answered by those batches.",
                &self.sync_batched_messages,
            ),
            (
                "doorstep_sync_shed_total",
                "Sync requests refused with 503 and Retry-After because a document's queue, or the relay's work across documents, was too long.",
                &self.sync_shed,
            ),
            (
                "doorstep_growth_share_refusals_total",
                "Document messages refused because their sender had used up a day's share of the growth of a compound's documents (also counted as document_full).",
                &self.share_refusals,
            ),
            (
                "doorstep_sync_clock_off_total",
                "Sync requests whose Date header said a clock more than five minutes from the relay's: a phone's date, time or time zone is wrong (the members page names it); most requests at once: the relay's own clock is wrong.",
                &self.clocks_off,
            ),
            (
                "doorstep_memory_trims_total",
                "Times freed memory was given back to the system after an eviction sweep.",
                &self.memory_trims,
            ),
        ];
        for (name, help, counter) in counters {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", counter.load(Ordering::Relaxed));
        }
        let _ = writeln!(out, "# HELP doorstep_sync_largest_batch Most messages one batch has taken.");
        let _ = writeln!(out, "# TYPE doorstep_sync_largest_batch gauge");
        let _ =
            writeln!(out, "doorstep_sync_largest_batch {}", self.sync_largest_batch.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP doorstep_documents_cached Documents held in memory.");
        let _ = writeln!(out, "# TYPE doorstep_documents_cached gauge");
        let _ = writeln!(out, "doorstep_documents_cached {docs_cached}");
        let _ = writeln!(
            out,
            "# HELP doorstep_documents_evicted_total Documents that left memory after the idle time."
        );
        let _ = writeln!(out, "# TYPE doorstep_documents_evicted_total counter");
        let _ = writeln!(out, "doorstep_documents_evicted_total {docs_evicted}");
        let _ = writeln!(out, "# HELP doorstep_work_queues Documents with a work queue held in memory.");
        let _ = writeln!(out, "# TYPE doorstep_work_queues gauge");
        let _ = writeln!(out, "doorstep_work_queues {work_queues}");
        let _ = writeln!(
            out,
            "# HELP doorstep_sync_messages_queued Sync messages admitted across all documents and not yet answered."
        );
        let _ = writeln!(out, "# TYPE doorstep_sync_messages_queued gauge");
        let _ = writeln!(out, "doorstep_sync_messages_queued {messages_queued}");
        let _ = writeln!(
            out,
            "# HELP doorstep_sync_pieces_held_bytes Bytes of sync requests held in part, sent in pieces by phones on links that drop requests."
        );
        let _ = writeln!(out, "# TYPE doorstep_sync_pieces_held_bytes gauge");
        let _ = writeln!(out, "doorstep_sync_pieces_held_bytes {pieces_held_bytes}");
        let _ = writeln!(
            out,
            "# HELP doorstep_sync_pieces_let_go_total Requests in part let go of to make room for a person who held less."
        );
        let _ = writeln!(out, "# TYPE doorstep_sync_pieces_let_go_total counter");
        let _ = writeln!(out, "doorstep_sync_pieces_let_go_total {pieces_let_go}");
        let _ = writeln!(
            out,
            "# HELP doorstep_storage_out_of_space 1 while the database's last write was refused for want of disk space."
        );
        let _ = writeln!(out, "# TYPE doorstep_storage_out_of_space gauge");
        let _ = writeln!(out, "doorstep_storage_out_of_space {}", u8::from(out_of_space));
        let _ = writeln!(
            out,
            "# HELP doorstep_relay_clock_doubt_seconds How far most phones that synced in the last hour agree the relay's clock is off (their clock minus the relay's; positive: the relay's clock is behind), or 0 while they do not: set the server's time."
        );
        let _ = writeln!(out, "# TYPE doorstep_relay_clock_doubt_seconds gauge");
        let _ = writeln!(
            out,
            "# HELP doorstep_tls_handshake_failures_total TLS handshakes that failed on the relay's own HTTPS port (a client that does not trust the certificate, an expired certificate, a scanner)."
        );
        let _ = writeln!(out, "# TYPE doorstep_tls_handshake_failures_total counter");
        let _ = writeln!(out, "doorstep_tls_handshake_failures_total {tls_handshake_failures}");
        let _ =
            writeln!(out, "doorstep_relay_clock_doubt_seconds {}", relay_clock_doubt_ms.unwrap_or(0) / 1000);
        if let Some(rss) = resident_bytes {
            let _ = writeln!(out, "# HELP doorstep_process_resident_bytes The relay's resident memory.");
            let _ = writeln!(out, "# TYPE doorstep_process_resident_bytes gauge");
            let _ = writeln!(out, "doorstep_process_resident_bytes {rss}");
        }
        out
    }
}

/// What `/metrics` reads at the moment of asking rather than counts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gauges {
    /// Documents held in memory.
    pub docs_cached: usize,
    /// Documents evicted since start (a counter kept by the cache).
    pub docs_evicted: u64,
    /// Documents with a work queue (in use, or evicted and not yet swept).
    pub work_queues: usize,
    /// Sync messages admitted across all documents and not yet answered.
    pub messages_queued: usize,
    /// Bytes of sync requests held in part (`held_requests.rs`).
    pub pieces_held_bytes: usize,
    /// Requests in part this relay let go of to make room (a counter kept by `held_requests.rs`).
    pub pieces_let_go: u64,
    /// The process's resident memory, where the system tells it.
    pub resident_bytes: Option<u64>,
    /// Whether the database's last write was refused for want of disk space.
    pub out_of_space: bool,
    /// Most recent phones' clock minus the relay's, in milliseconds, when they agree on it and
    /// it is far off: the relay's own clock is in doubt (`relay_clock.rs`).
    pub relay_clock_doubt_ms: Option<i64>,
    /// TLS handshakes that failed on the relay's own HTTPS port since start (a counter kept by
    /// `connections/handshake_failures.rs`).
    pub tls_handshake_failures: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_by_label() {
        let m = Metrics::default();
        m.request("/v1/sync", 200, Duration::from_millis(3));
        m.request("/v1/sync", 200, Duration::from_millis(30));
        m.request("/v1/sync", 415, Duration::from_millis(1));
        m.rejection("schema");
        m.sync(3, 2, 100, 200);
        m.batch(1);
        m.batch(4);
        m.shed();
        m.share_refused();
        m.clock_off();
        m.memory_trimmed();
        let text = m.render(&Gauges {
            docs_cached: 5,
            docs_evicted: 7,
            work_queues: 2,
            messages_queued: 9,
            pieces_held_bytes: 11,
            pieces_let_go: 2,
            resident_bytes: Some(10 << 20),
            out_of_space: true,
            relay_clock_doubt_ms: Some(-40 * 24 * 3600 * 1000),
            tls_handshake_failures: 3,
        });
        assert!(text.contains("doorstep_tls_handshake_failures_total 3"), "{text}");
        assert!(text.contains("doorstep_relay_clock_doubt_seconds -3456000"), "{text}");
        assert!(text.contains("doorstep_storage_out_of_space 1"), "{text}");
        assert!(text.contains("doorstep_http_requests_total{route=\"/v1/sync\",status=\"200\"} 2"), "{text}");
        assert!(text.contains("doorstep_http_requests_total{route=\"/v1/sync\",status=\"415\"} 1"));
        assert!(
            text.contains("doorstep_http_request_duration_seconds_bucket{route=\"/v1/sync\",le=\"0.005\"} 2")
        );
        assert!(text.contains("doorstep_http_request_duration_seconds_count{route=\"/v1/sync\"} 3"));
        assert!(text.contains("doorstep_sync_rejections_total{rule=\"schema\"} 1"));
        assert!(text.contains("doorstep_growth_share_refusals_total 1"), "{text}");
        assert!(text.contains("doorstep_sync_clock_off_total 1"), "{text}");
        assert!(text.contains("doorstep_sync_documents_in_total 3"));
        assert!(text.contains("doorstep_sync_bytes_out_total 200"));
        assert!(text.contains("doorstep_documents_cached 5"));
        assert!(text.contains("doorstep_work_queues 2"));
        assert!(text.contains("doorstep_sync_pieces_held_bytes 11"));
        assert!(text.contains("doorstep_sync_pieces_let_go_total 2"));
        assert!(text.contains("doorstep_sync_messages_queued 9"));
        assert!(text.contains("doorstep_sync_batches_total 2"), "{text}");
        assert!(text.contains("doorstep_sync_batched_messages_total 5"));
        assert!(text.contains("doorstep_sync_largest_batch 4"));
        assert!(text.contains("doorstep_sync_shed_total 1"));
        assert!(text.contains("doorstep_memory_trims_total 1"));
        assert!(text.contains("doorstep_documents_evicted_total 7"));
        assert!(text.contains("doorstep_process_resident_bytes 10485760"));
    }
}
