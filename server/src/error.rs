//! HTTP errors: every refusal is a status and a JSON body `{"error": code, "reason": sentence}`
//! that a phone can match on and a person can act on. The error also rides on the response as
//! an extension, so the request middleware logs it once, with the request's span.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use doorstep_core::rulebook::{Kind, characters};
use serde::Serialize;

use crate::admin::AdminError;
use crate::cache::CacheError;
use crate::relay::RelayError;
use crate::storage::{InviteProblem, StorageError};
use crate::sync::SyncBatchError;

/// An error answered to an HTTP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppError {
    /// 401: no token, or a token we do not know.
    Unauthorized(String),
    /// 401 with code `token_revoked`: the device's token was revoked (a lost phone), so the
    /// phone wipes its compound data rather than asking to join.
    TokenRevoked(String),
    /// 403: the caller may not do this.
    Forbidden(String),
    /// 404: no such thing.
    NotFound(String),
    /// 400: the request is malformed; `error` says how (`malformed`, `wire_version`, `invalid`).
    BadRequest {
        /// The code.
        error: &'static str,
        /// The sentence.
        reason: String,
    },
    /// 409: the request conflicts with what is stored (an invite already used).
    Conflict(String),
    /// 410: it was there but no longer is (an expired invite).
    Gone(String),
    /// 413: the body, or the number of documents in it, is over the limit.
    TooLarge(String),
    /// 415: the body is not of the expected type.
    UnsupportedMediaType(String),
    /// 405: the route takes other methods (the sentence names them).
    MethodNotAllowed(String),
    /// 501 with code `unsupported_transfer_coding`: the body came in a transfer coding other than
    /// `chunked` (`Transfer-Encoding: gzip, chunked`), which the relay does not undo; reading
    /// it as plain would take compressed bytes for the message.
    TransferCoding(String),
    /// 429: the token made too many requests; retry after this long.
    RateLimited {
        /// How long to wait.
        retry_after: Duration,
    },
    /// 429 with its own code: a per-caller cap other than the token's request rate (join
    /// attempts from one address, live streams or syncs in progress of one device or person).
    Throttled {
        /// The code (`join_throttled`, `too_many_streams`, `sync_in_progress`).
        error: &'static str,
        /// The sentence.
        reason: String,
        /// How long to wait, if waiting helps.
        retry_after: Option<Duration>,
    },
    /// 408: the request took longer than the relay waits.
    Timeout(Duration),
    /// 408: a roster import took longer than the relay waits, and was stopped (its write is
    /// dropped unless it was being stored as the time ran out); sending the same file again
    /// would take as long.
    ImportTimeout(Duration),
    /// 408 with code `body_cut`: the connection ended before the whole body arrived (a link
    /// that dropped, or closed only the phone's way): nothing of it was read; send it again.
    BodyCut(String),
    /// 503: the relay's storage failed; a retry may succeed.
    Unavailable(String),
    /// 500 with code `relay_fault`: the relay failed at something a retry will fail at again (an
    /// export it could not write from what it stores); the sentence says what to do instead.
    Fault(String),
    /// 503 with code `unavailable` and `Retry-After`: the relay is shedding load and read
    /// nothing of the request; the phone retries after the wait (with its own jitter).
    Busy {
        /// Why, naming the busy document and the wait.
        reason: String,
        /// When the busiest queue will have room for this phone.
        retry_after: Duration,
    },
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    reason: String,
}

impl AppError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Unauthorized(_) | AppError::TokenRevoked(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::Gone(_) => StatusCode::GONE,
            AppError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            AppError::TransferCoding(_) => StatusCode::NOT_IMPLEMENTED,
            AppError::RateLimited { .. } | AppError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Timeout(_) | AppError::ImportTimeout(_) | AppError::BodyCut(_) => {
                StatusCode::REQUEST_TIMEOUT
            }
            AppError::Unavailable(_) | AppError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Fault(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code in the body.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthorized(_) => "unauthorized",
            AppError::TokenRevoked(_) => "token_revoked",
            AppError::Forbidden(_) => "forbidden",
            AppError::NotFound(_) => "not_found",
            AppError::BadRequest { error, .. } => error,
            AppError::Conflict(_) => "conflict",
            AppError::Gone(_) => "gone",
            AppError::TooLarge(_) => "too_large",
            AppError::UnsupportedMediaType(_) => "unsupported_media_type",
            AppError::MethodNotAllowed(_) => "method_not_allowed",
            AppError::TransferCoding(_) => "unsupported_transfer_coding",
            AppError::RateLimited { .. } => "rate_limited",
            AppError::Throttled { error, .. } => error,
            AppError::Timeout(_) | AppError::ImportTimeout(_) => "timeout",
            AppError::BodyCut(_) => "body_cut",
            // The same code as a storage failure: phones treat both as transient and retry.
            AppError::Unavailable(_) | AppError::Busy { .. } => "unavailable",
            AppError::Fault(_) => "relay_fault",
        }
    }

    /// The sentence in the body, at most [`REASON_CHARS`] characters: a message that quotes what
    /// was sent (serde's "unknown variant `…`" quotes a whole string) keeps its start and its end,
    /// which says what was expected.
    pub fn reason(&self) -> String {
        bounded(self.full_reason())
    }

    fn full_reason(&self) -> String {
        match self {
            AppError::Unauthorized(r)
            | AppError::TokenRevoked(r)
            | AppError::Forbidden(r)
            | AppError::NotFound(r)
            | AppError::BadRequest { reason: r, .. }
            | AppError::Conflict(r)
            | AppError::Gone(r)
            | AppError::TooLarge(r)
            | AppError::UnsupportedMediaType(r)
            | AppError::MethodNotAllowed(r)
            | AppError::TransferCoding(r)
            | AppError::Unavailable(r)
            | AppError::Fault(r)
            | AppError::BodyCut(r)
            | AppError::Busy { reason: r, .. }
            | AppError::Throttled { reason: r, .. } => r.clone(),
            AppError::RateLimited { retry_after } => format!(
                "too many requests with this token; retry after {} seconds",
                retry_after.as_secs_f64().ceil()
            ),
            AppError::Timeout(limit) => {
                format!(
                    "the relay did not finish this request within {} seconds (its body still arriving on a slow link, or the relay or its database busy or unreachable); try again: a phone's sync sends less at a time",
                    limit.as_secs()
                )
            }
            AppError::ImportTimeout(limit) => format!(
                "导入未能在 {0} 秒内完成，已停止（名册多半没有导入其中任何一户：再预览一次可看到还会新增多少）；这么大的文件请按楼栋拆开导入，或在中继所在的机器上用 `doorstep admin import-roster` 导入 / \
                 the import did not finish within {0} seconds and was stopped (most likely nothing of it was imported: a new preview of the file shows what it would still add); split a file this big by building, or import it with `doorstep admin import-roster` on the relay's machine",
                limit.as_secs()
            ),
        }
    }

    /// A 400 with code `malformed`.
    pub fn malformed(reason: impl Into<String>) -> Self {
        AppError::BadRequest { error: "malformed", reason: reason.into() }
    }

    /// A 400 with code `invalid`.
    pub fn invalid(reason: impl Into<String>) -> Self {
        AppError::BadRequest { error: "invalid", reason: reason.into() }
    }
}

/// What a caller sent, as a refusal quotes it: at most [`QUOTED_CHARS`] characters, then `…`, so
/// that a refusal and its log line stay short whatever was sent (a path segment may be kilobytes);
/// control, text-direction and other characters no one-line text holds written as escapes
/// (`\u{a}`, `\u{202e}`: core's `rulebook::characters`), so that a
/// path with a line break in it cannot write a line of its own into the relay's log (an
/// unauthenticated request forged an ERROR line that way).
pub fn excerpt(sent: &str) -> String {
    let mut quoted = String::new();
    for (n, c) in sent.chars().enumerate() {
        if n == QUOTED_CHARS {
            quoted.push('…');
            break;
        }
        if characters::is_unwelcome(c, Kind::Short) {
            quoted.extend(c.escape_unicode());
        } else {
            quoted.push(c);
        }
    }
    quoted
}

/// The most characters of what a caller sent that a refusal quotes.
pub const QUOTED_CHARS: usize = 64;

/// The most characters a refusal's reason has.
pub const REASON_CHARS: usize = 1000;

/// `reason` with its middle cut out if it is longer than [`REASON_CHARS`].
fn bounded(reason: String) -> String {
    let chars = reason.chars().count();
    if chars <= REASON_CHARS {
        return reason;
    }
    let head: String = reason.chars().take(REASON_CHARS * 2 / 3).collect();
    let tail: String = reason.chars().skip(chars - REASON_CHARS / 3).collect();
    format!("{head} … {tail}")
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status().as_u16(), self.code(), self.reason())
    }
}

impl std::error::Error for AppError {}

/// The `Retry-After` of a 503 for a failed store: long enough for a database restart or a
/// reconnect to be under way, short enough that a phone in signal for a minute tries again.
const STORAGE_RETRY: Duration = Duration::from_secs(5);

/// A wait as the whole seconds `Retry-After` carries: rounded up, at least one. The sentences that
/// tell a person how long to wait use the same number.
pub(crate) fn whole_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let body = Body { error: self.code(), reason: self.reason() };
        let mut response = (self.status(), Json(body)).into_response();
        let retry_after = match &self {
            AppError::RateLimited { retry_after } | AppError::Busy { retry_after, .. } => Some(retry_after),
            AppError::Throttled { retry_after, .. } => retry_after.as_ref(),
            // The store failed (its database unreachable, its disk full): any client, not only
            // Doorstep's phones, is told when a retry is worth it.
            AppError::Unavailable(_) => Some(&STORAGE_RETRY),
            _ => None,
        };
        if let Some(retry_after) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(whole_seconds(*retry_after)));
        }
        response.extensions_mut().insert(self);
        response
    }
}

impl From<StorageError> for AppError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Invite(problem) => problem.into(),
            StorageError::NotFound(what) => AppError::NotFound(what),
            StorageError::AlreadyDecided(item) => AppError::Conflict(format!(
                "set-aside item {item} was decided already; reload the inbox (该项已处理，请刷新)"
            )),
            StorageError::TurnNotHeld(why) => {
                tracing::warn!(%why, "a write was not stored: its compound's write turn was not held");
                AppError::Unavailable(why)
            }
            other => {
                tracing::error!(error = %other, "storage failed");
                let said =
                    other.needs_the_operator().unwrap_or("the relay's storage failed; try again shortly");
                AppError::Unavailable(said.into())
            }
        }
    }
}

impl From<RelayError> for AppError {
    /// A relay failure: a store that cannot take writes until its operator acts says so
    /// (`StorageError::needs_the_operator`), anything else is worth a retry.
    fn from(e: RelayError) -> Self {
        let storage = match &e {
            RelayError::Storage(s) | RelayError::Cache(CacheError::Storage(s)) => Some(s),
            _ => None,
        };
        if let Some(said) = storage.and_then(StorageError::needs_the_operator) {
            tracing::error!(error = %e, "relay failed, and will until its store is mended");
            return AppError::Unavailable(said.into());
        }
        tracing::error!(error = %e, "relay failed");
        AppError::Unavailable("the relay could not complete this; try again shortly".into())
    }
}

impl From<InviteProblem> for AppError {
    fn from(problem: InviteProblem) -> Self {
        match problem {
            InviteProblem::Unknown => AppError::NotFound(problem.to_string()),
            InviteProblem::Used => AppError::Conflict(problem.to_string()),
            InviteProblem::Expired
            | InviteProblem::MakerMayNoLongerInvite
            | InviteProblem::MadeOnARevokedDevice
            | InviteProblem::JoinerRemoved => AppError::Gone(problem.to_string()),
        }
    }
}

impl From<SyncBatchError> for AppError {
    fn from(e: SyncBatchError) -> Self {
        match e {
            SyncBatchError::TooManyDocuments { .. } | SyncBatchError::OverBudget { .. } => {
                AppError::TooLarge(e.to_string())
            }
            SyncBatchError::DuplicateDocument(_) => AppError::invalid(e.to_string()),
            SyncBatchError::Busy { retry_after, .. } | SyncBatchError::RelayBusy { retry_after, .. } => {
                AppError::Busy { reason: e.to_string(), retry_after }
            }
            SyncBatchError::InProgress(in_progress) => AppError::Throttled {
                error: "sync_in_progress",
                reason: in_progress.to_string(),
                retry_after: Some(in_progress.retry_after()),
            },
            SyncBatchError::Storage(s) => s.into(),
        }
    }
}

impl From<AdminError> for AppError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Forbidden(r) => AppError::Forbidden(r),
            AdminError::NotFound(r) => AppError::NotFound(r),
            AdminError::NameTaken { .. } => AppError::Conflict(e.to_string()),
            AdminError::Invalid(_)
            | AdminError::Import(_)
            | AdminError::Workbook(_)
            | AdminError::RosterSheet(_)
            | AdminError::BadRows { .. }
            | AdminError::Operation(_) => AppError::invalid(e.to_string()),
            AdminError::Invite(problem) => problem.into(),
            AdminError::Storage(s)
            | AdminError::Relay(RelayError::Storage(s @ StorageError::TurnNotHeld(_))) => s.into(),
            AdminError::Relay(r) => r.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(code: std::ffi::c_int) -> StorageError {
        StorageError::Sqlite(rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None))
    }

    /// A full disk or a damaged file fails every write until the relay's operator acts: a
    /// coordinator read "try again shortly" and tried again for ever, while `/healthz` named
    /// the cause. The answer names it too, and whom to ask.
    #[test]
    fn a_store_that_needs_its_operator_says_so_and_a_passing_failure_says_try_again() {
        let reason = |e: AppError| e.reason();
        let full = reason(RelayError::Storage(sqlite(rusqlite::ffi::SQLITE_FULL)).into());
        assert!(
            full.contains("disk holding the relay's database is full") && full.contains("磁盘已满"),
            "{full}"
        );
        let damaged =
            reason(RelayError::Cache(CacheError::Storage(sqlite(rusqlite::ffi::SQLITE_CORRUPT))).into());
        assert!(damaged.contains("restore it from a backup"), "{damaged}");
        let from_storage = reason(sqlite(rusqlite::ffi::SQLITE_NOTADB).into());
        assert!(from_storage.contains("restore it from a backup"), "{from_storage}");
        let busy = reason(RelayError::Storage(sqlite(rusqlite::ffi::SQLITE_BUSY)).into());
        assert!(busy.contains("try again shortly"), "{busy}");
    }

    #[test]
    fn a_long_reason_keeps_its_start_and_what_was_expected() {
        let sent = "a".repeat(5_000);
        let error = AppError::malformed(format!(
            "role: unknown variant `{sent}`, expected `volunteer` or `coordinator`"
        ));
        let reason = error.reason();
        assert!(reason.chars().count() <= REASON_CHARS + 3, "{} characters", reason.chars().count());
        assert!(reason.starts_with("role: unknown variant `aaa"), "{reason}");
        assert!(reason.ends_with("expected `volunteer` or `coordinator`"), "{reason}");
        assert_eq!(AppError::malformed("short").reason(), "short");
    }

    #[test]
    fn an_excerpt_is_at_most_its_characters_then_an_ellipsis() {
        assert_eq!(excerpt("roster.csv"), "roster.csv");
        let long = "香".repeat(100);
        assert_eq!(excerpt(&long), format!("{}…", "香".repeat(QUOTED_CHARS)));
        // A line break or a NUL cannot start a forged line of the log, nor an override turn it.
        assert_eq!(
            excerpt("x\n2026-12-07T11:40:00Z ERROR forged\0\u{202e}"),
            "x\\u{a}2026-12-07T11:40:00Z ERROR forged\\u{0}\\u{202e}"
        );
    }
}
