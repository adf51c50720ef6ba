//! CPU work of a request that may take milliseconds (inflating a compressed body, compressing a
//! big answer) runs on tokio's blocking pool, not on the async workers that every other request
//! and `/healthz` share; short work runs in place, where handing it over would cost more.

use crate::error::AppError;

/// `work` on the blocking pool when `heavy`, else here. `what` names it in the error of a
/// blocking task that failed ("compressing the answer").
pub(super) async fn run<T: Send + 'static>(
    heavy: bool,
    what: &'static str,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AppError> {
    if !heavy {
        return Ok(work());
    }
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| AppError::Unavailable(format!("{what} failed ({e}); sync again")))
}
