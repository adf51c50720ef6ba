//! The library's `tracing` events, forwarded to the host's log (Logcat, os_log). The host
//! implements [`LogSink`] and calls [`set_logger`]; until then events are dropped. The level can
//! be changed at any time by calling `set_logger` again.
//!
//! A process has one global `tracing` subscriber. The first `set_logger` installs ours; if the
//! app (through another Rust library) already installed one, `set_logger` says so instead of
//! silently logging nothing.

use std::cell::Cell;
use std::fmt::Write as _;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

use crate::error::DoorstepError;

/// Implemented by the host: receives every log line at or above the chosen level. (Not `Logger`:
/// that would clash with `os.Logger` in Swift files that import both.)
#[uniffi::export(foreign)]
pub trait LogSink: Send + Sync {
    /// One event. Called on the thread that logged it; must not block for long.
    fn log(&self, record: LogRecord);
}

/// How much to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum LogLevel {
    /// Failures only.
    Error,
    /// Failures and things that may need attention.
    Warn,
    /// Plus notable events (the default for release builds).
    Info,
    /// Plus detail for debugging.
    Debug,
    /// Everything.
    Trace,
}

/// One log event.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct LogRecord {
    /// Its level.
    pub level: LogLevel,
    /// Where it came from (`doorstep_replica::sync_run`).
    pub target: String,
    /// The message, followed by its fields as `key=value`.
    pub message: String,
}

/// Sends the library's log events at `level` and above to `logger`, replacing any previous
/// logger; `None` stops forwarding.
#[uniffi::export]
pub fn set_logger(logger: Option<Arc<dyn LogSink>>, level: LogLevel) -> Result<(), DoorstepError> {
    install()?;
    MAX_LEVEL.store(level as u8, Ordering::Relaxed);
    *LOGGER.write().unwrap_or_else(PoisonError::into_inner) = logger;
    Ok(())
}

static LOGGER: RwLock<Option<Arc<dyn LogSink>>> = RwLock::new(None);
static MAX_LEVEL: AtomicU8 = AtomicU8::new(LogLevel::Info as u8);
static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();

thread_local! {
    /// Set while a thread is inside the host's logger, so that anything the logger makes the
    /// library log is dropped instead of recursing.
    static IN_LOGGER: Cell<bool> = const { Cell::new(false) };
}

fn install() -> Result<(), DoorstepError> {
    INSTALLED
        .get_or_init(|| {
            let subscriber = tracing_subscriber::registry().with(Forwarder);
            tracing::subscriber::set_global_default(subscriber).map_err(|e| {
                format!(
                    "another tracing subscriber is already installed in this process ({e}); \
                     the library logs there"
                )
            })
        })
        .clone()
        .map_err(|reason| DoorstepError::Internal { reason })
}

fn level_of(level: &Level) -> LogLevel {
    match *level {
        Level::ERROR => LogLevel::Error,
        Level::WARN => LogLevel::Warn,
        Level::INFO => LogLevel::Info,
        Level::DEBUG => LogLevel::Debug,
        _ => LogLevel::Trace,
    }
}

/// The `tracing` layer that hands events to the host.
struct Forwarder;

impl<S: Subscriber> Layer<S> for Forwarder {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        // The level can change at run time, so every callsite asks `enabled` each time.
        Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>, _: Context<'_, S>) -> bool {
        (level_of(metadata.level()) as u8) <= MAX_LEVEL.load(Ordering::Relaxed)
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if IN_LOGGER.with(Cell::get) {
            return;
        }
        let Some(logger) = LOGGER.read().unwrap_or_else(PoisonError::into_inner).clone() else { return };
        let mut text = Message::default();
        event.record(&mut text);
        let record = LogRecord {
            level: level_of(event.metadata().level()),
            target: event.metadata().target().to_owned(),
            message: text.finish(),
        };
        IN_LOGGER.with(|c| c.set(true));
        // A logger that throws must not take the library down with it; the line is lost.
        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| logger.log(record)));
        IN_LOGGER.with(|c| c.set(false));
    }
}

/// Formats an event as "message key=value key=value".
#[derive(Default)]
struct Message {
    message: String,
    fields: String,
}

impl Message {
    fn finish(self) -> String {
        if self.fields.is_empty() { self.message } else { format!("{}{}", self.message, self.fields) }
    }
}

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={}", field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={:?}", field.name(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Collect(Mutex<Vec<LogRecord>>);

    impl LogSink for Collect {
        fn log(&self, record: LogRecord) {
            self.0.lock().unwrap().push(record);
        }
    }

    #[test]
    fn events_reach_the_host_at_or_above_the_level_with_their_fields() {
        let host = Arc::new(Collect::default());
        set_logger(Some(host.clone()), LogLevel::Info).unwrap();
        tracing::info!(doc = %"roster", changes = 3, "synced");
        tracing::debug!("too detailed");
        set_logger(Some(host.clone()), LogLevel::Debug).unwrap();
        tracing::debug!("now wanted");
        set_logger(None, LogLevel::Info).unwrap();
        tracing::error!("nobody listens");

        // Other tests in this binary log concurrently; only this module's lines are counted.
        let got = host.0.lock().unwrap().clone();
        let lines: Vec<(LogLevel, &str)> = got
            .iter()
            .filter(|r| r.target == module_path!())
            .map(|r| (r.level, r.message.as_str()))
            .collect();
        assert_eq!(
            lines,
            vec![(LogLevel::Info, "synced doc=roster changes=3"), (LogLevel::Debug, "now wanted")]
        );
    }
}
