//! Automerge 0.12 panics on some changes a modified phone can craft instead of returning an
//! error (an operation on an object that does not exist, for one: `op_set2/change/batch.rs`
//! unwraps the lookup). The relay must answer such a change with a violation, not crash the
//! request or the process, so every Automerge call that consumes untrusted bytes runs here, on a
//! scratch copy the caller throws away if it panics. The relay's own document is never touched.

use crate::expected_panic;

/// Runs `f`, turning a panic inside it into an error that says what was being processed (and
/// one warning in the log, in place of the panic hook's report).
pub(crate) fn contained<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, String> {
    expected_panic::catch(f).map_err(|message| {
        tracing::warn!(%message, "automerge panicked on {what}; refusing it");
        format!("Automerge cannot process {what} (it failed with: {message})")
    })
}
