//! The one error a Kotlin or Swift caller sees, and the one place internal errors become it.
//!
//! Inside the crate, failures travel as [`Error`], which wraps every error of the crates below
//! without losing anything. At the boundary, [`DoorstepError`] keeps only what a caller acts on
//! differently: retry later, sign in again, tell the user which rule forbids it, show what the
//! relay refused, report a broken phone, fix the input, or report a bug. `impl From<Error> for
//! DoorstepError` is the single mapping; it also decides what is logged. Kotlin sees
//! `DoorstepException.Network` etc., Swift `DoorstepError.network`.

use doorstep_core::OperationError;
use doorstep_core::id::BadId;
use doorstep_core::query::LookupError;
use doorstep_core::schema::UnknownValue;
use doorstep_replica::ReplicaError;
use doorstep_replica::http::TransportError;

/// Why a call failed. Nothing acknowledged to the user is lost when one is thrown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum DoorstepError {
    /// The relay could not be reached or answered "busy" or "failed": keep working offline and
    /// sync again later (after `retry_after_secs`, when given).
    #[error("cannot reach the relay: {reason}")]
    Network {
        /// What went wrong, for the log.
        reason: String,
        /// When the relay asked to wait, how long.
        retry_after_secs: Option<u64>,
    },
    /// This device has no valid token (never joined, or a token the relay does not know): join
    /// again with an invite code. A revoked token is `Removed`.
    #[error("this device is not signed in: {reason}")]
    Unauthorized {
        /// What went wrong.
        reason: String,
    },
    /// A coordinator removed this device (its membership, or its device token: a lost phone) and
    /// the compound's data was wiped from it. Show `reason` ("你已被移出 香樟苑 / removed from
    /// 香樟苑"); joining again with a new invite code starts afresh.
    #[error("{reason}")]
    Removed {
        /// The compounds' names.
        compounds: Vec<String>,
        /// The sentence to show.
        reason: String,
    },
    /// The relay's HTTPS certificate is not trusted by this device: a relay with its own CA
    /// needs that CA passed to `Replica.open` (`relay_ca_pem`). Not transient: retrying changes
    /// nothing until the app is configured. Show `reason` ("中继的证书不受信任 / the relay's
    /// certificate is not trusted …").
    #[error("{reason}")]
    Untrusted {
        /// What was wrong with the certificate, and what to do.
        reason: String,
    },
    /// The replica's file is encrypted and the key is missing, not 32 bytes, another key, or the
    /// platform's key store would not give it (device locked, key invalidated). Nothing was
    /// read or changed; a damaged file is `Storage`.
    #[error("the local data cannot be opened: {reason}")]
    Locked {
        /// What went wrong.
        reason: String,
    },
    /// The person's role may not do this. `rule` is a stable code (`rounds_are_planned_by_coordinators`)
    /// the app can match on; `reason` is a sentence to show.
    #[error("{reason}")]
    Forbidden {
        /// The rule's code.
        rule: String,
        /// The sentence to show.
        reason: String,
    },
    /// The relay refused what this device sent as a whole (too large, malformed, a version this
    /// relay does not speak). The changes stay on the phone. Changes refused one by one do not
    /// throw: they come back in `SyncReport.rejected` and wait in `quarantine()`.
    #[error("the relay refused this device's request: {reason}")]
    Rejected {
        /// The relay's reason.
        reason: String,
    },
    /// The local database could not be read or written (disk full, file from a newer app).
    #[error("local storage failed: {reason}")]
    Storage {
        /// What went wrong.
        reason: String,
    },
    /// An argument is wrong: an ID that is not one, an address that is not one, a task that
    /// does not exist, an invite code the relay does not know.
    #[error("{reason}")]
    InvalidInput {
        /// What is wrong with it.
        reason: String,
    },
    /// A bug or corrupt data: report it.
    #[error("internal error: {reason}")]
    Internal {
        /// What went wrong.
        reason: String,
    },
}

/// Every failure inside the crate, unmapped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error(transparent)]
    Replica(#[from] ReplicaError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    Key(#[from] crate::key_provider::KeyProviderError),
    #[error(transparent)]
    Operation(#[from] OperationError),
    #[error(transparent)]
    Lookup(#[from] LookupError),
    #[error(transparent)]
    BadId(#[from] BadId),
    #[error(transparent)]
    BadValue(#[from] UnknownValue),
    #[error("operation JSON: {0}")]
    OperationJson(#[from] serde_json::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("cannot start the library's async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("the sync task stopped: {0}")]
    Task(String),
}

impl From<Error> for DoorstepError {
    fn from(error: Error) -> Self {
        let mapped = match error {
            Error::Replica(e) => replica(e),
            Error::Transport(e) => transport(e),
            e @ Error::Key(_) => DoorstepError::Locked { reason: e.to_string() },
            Error::Operation(e) => operation(e),
            e @ (Error::Lookup(_)
            | Error::BadId(_)
            | Error::BadValue(_)
            | Error::OperationJson(_)
            | Error::Invalid(_)) => DoorstepError::InvalidInput { reason: e.to_string() },
            e @ (Error::Runtime(_) | Error::Task(_)) => DoorstepError::Internal { reason: e.to_string() },
        };
        match &mapped {
            DoorstepError::Storage { reason } | DoorstepError::Internal { reason } => {
                tracing::error!(error = %reason, "call failed");
            }
            other => tracing::debug!(error = %other, "call refused"),
        }
        mapped
    }
}

fn replica(error: ReplicaError) -> DoorstepError {
    match error {
        ReplicaError::Operation(e) => operation(e),
        e @ (ReplicaError::UnknownCompound(_) | ReplicaError::UnsyncedHandOver { .. }) => {
            DoorstepError::InvalidInput { reason: e.to_string() }
        }
        e @ ReplicaError::NotJoined => DoorstepError::Unauthorized { reason: e.to_string() },
        e @ (ReplicaError::Storage(_)
        // Said as such ("phone storage is full … what you recorded is kept").
        | ReplicaError::StorageFull(_)
        | ReplicaError::StorageReadOnly(_)
        | ReplicaError::InUse
        | ReplicaError::LockFile { .. }
        | ReplicaError::StoreTooNew { .. }
        | ReplicaError::BadIdentity(_)
        | ReplicaError::Journal(_)
        | ReplicaError::ScrubIncomplete
        // A value that does not open although the key check did: the file is damaged.
        | ReplicaError::Undecryptable { .. }) => DoorstepError::Storage { reason: e.to_string() },
        // The host gave no key, a key that is not one, or another key.
        e @ (ReplicaError::KeyRequired | ReplicaError::WrongKey | ReplicaError::BadKey { .. }) => {
            DoorstepError::Locked { reason: e.to_string() }
        }
        // Something on the way answered (a sign-in page, a cut body): retry, nothing is lost.
        e @ ReplicaError::NotTheRelaysAnswer(_) => DoorstepError::Network { reason: e.to_string(), retry_after_secs: None },
        e @ (ReplicaError::Document(_) | ReplicaError::Sync(_)) => {
            DoorstepError::Internal { reason: e.to_string() }
        }
    }
}

fn operation(error: OperationError) -> DoorstepError {
    use doorstep_core::permission::Rule;
    let forbidden = |rule: Rule, e: &OperationError| DoorstepError::Forbidden {
        rule: rule.code().to_owned(),
        reason: e.to_string(),
    };
    match &error {
        OperationError::Forbidden { rule, .. } => forbidden(*rule, &error),
        OperationError::RoundClosed(_) => forbidden(Rule::ClosedRoundsAreFinal, &error),
        OperationError::AlreadyAssigned { .. } => forbidden(Rule::VolunteersClaimOnlyFreeTasks, &error),
        OperationError::Automerge(_) | OperationError::Document(_) => {
            DoorstepError::Internal { reason: error.to_string() }
        }
        _ => DoorstepError::InvalidInput { reason: error.to_string() },
    }
}

fn transport(error: TransportError) -> DoorstepError {
    match error {
        TransportError::Replica(e) => replica(e),
        TransportError::Network(reason) => DoorstepError::Network { reason, retry_after_secs: None },
        e @ TransportError::Server { retry_after_secs, .. } => {
            DoorstepError::Network { reason: e.to_string(), retry_after_secs }
        }
        e @ TransportError::RateLimited { retry_after_secs } => {
            DoorstepError::Network { reason: e.to_string(), retry_after_secs }
        }
        TransportError::Unauthorized(reason) => DoorstepError::Unauthorized { reason },
        // The phone was removed and its compounds wiped; the message names them for the user.
        TransportError::Removed { compounds } => {
            DoorstepError::Removed { reason: doorstep_replica::http::removed_message(&compounds), compounds }
        }
        // The relay names no rule for a refusal of a whole request; its code is "forbidden".
        TransportError::Forbidden(reason) => {
            DoorstepError::Forbidden { rule: "forbidden".to_owned(), reason }
        }
        // An invite code that is unknown (404), used (409) or expired (410) is the user's input.
        TransportError::Refused { status: 404 | 409 | 410, reason } => DoorstepError::InvalidInput { reason },
        // Another phone's revoked token typed at sign-in: the user's input; nothing was wiped.
        e @ TransportError::RevokedTokenTyped => DoorstepError::InvalidInput { reason: e.to_string() },
        // The code this phone joined with, typed again: the sentence says to sync.
        e @ TransportError::AlreadyJoined { .. } => DoorstepError::InvalidInput { reason: e.to_string() },
        TransportError::Refused { reason, .. } => DoorstepError::Rejected { reason },
        // An answer that cannot be read came from something on the way as often as from the
        // relay (a sign-in page, a proxy cutting it): the work stays, and the next sync tries again.
        e @ (TransportError::BadResponse(_)
        | TransportError::NotTheRelay(_)
        | TransportError::SignInToNetwork(_)) => {
            DoorstepError::Network { reason: e.to_string(), retry_after_secs: None }
        }
        e @ TransportError::Untrusted(_) => DoorstepError::Untrusted { reason: e.to_string() },
        e @ TransportError::BadCaCertificate(_) => DoorstepError::InvalidInput { reason: e.to_string() },
    }
}

/// Lets `?` turn every lower error straight into the exported one, through [`Error`].
macro_rules! through_error {
    ($($source:ty),+ $(,)?) => {
        $(impl From<$source> for DoorstepError {
            fn from(error: $source) -> Self {
                Error::from(error).into()
            }
        })+
    };
}

through_error!(
    ReplicaError,
    TransportError,
    OperationError,
    LookupError,
    BadId,
    UnknownValue,
    serde_json::Error
);

/// A failed argument conversion (an ID string that is not a UUID) as the exported error, so that
/// uniffi throws `InvalidInput` instead of an internal error.
pub(crate) fn invalid_argument(error: impl Into<Error>) -> uniffi::deps::anyhow::Error {
    uniffi::deps::anyhow::Error::new(DoorstepError::from(error.into()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use doorstep_core::Role;
    use doorstep_core::permission::Rule;

    #[test]
    fn a_forbidden_operation_names_its_rule() {
        let e: DoorstepError = OperationError::Forbidden {
            role: Role::Volunteer,
            action: "create a round",
            rule: Rule::RoundsArePlannedByCoordinators,
        }
        .into();
        match e {
            DoorstepError::Forbidden { rule, reason } => {
                assert_eq!(rule, "rounds_are_planned_by_coordinators");
                assert!(reason.contains("volunteer may not create a round"), "{reason}");
            }
            other => panic!("expected Forbidden, got {other:?}"),
        }
    }

    fn rusqlite_failure(code: std::ffi::c_int) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    #[test]
    fn transport_errors_map_to_what_the_caller_does_next() {
        type Expect = fn(&DoorstepError) -> bool;
        let cases: Vec<(TransportError, Expect)> = vec![
            (TransportError::Network("timeout".into()), |e| {
                matches!(e, DoorstepError::Network { retry_after_secs: None, .. })
            }),
            (TransportError::BadResponse("a Wi-Fi sign-in page".into()), |e| {
                matches!(e, DoorstepError::Network { retry_after_secs: None, .. })
            }),
            (TransportError::RateLimited { retry_after_secs: Some(7) }, |e| {
                matches!(e, DoorstepError::Network { retry_after_secs: Some(7), .. })
            }),
            (TransportError::NotTheRelay("Syntax(0)".into()), |e| {
                matches!(e, DoorstepError::Network { retry_after_secs: None, reason }
                    if reason.contains("did not come from the relay") && reason.contains("不是中继")
                        && !reason.contains("Syntax"))
            }),
            (TransportError::Replica(ReplicaError::NotTheRelaysAnswer("Io(UnexpectedEof)".into())), |e| {
                matches!(e, DoorstepError::Network { retry_after_secs: None, reason }
                    if reason.contains("your work is kept"))
            }),
            (TransportError::SignInToNetwork("captive.example".into()), |e| {
                matches!(e, DoorstepError::Network { retry_after_secs: None, reason }
                    if reason.contains("sign in to it first") && reason.contains("先登录"))
            }),
            (
                TransportError::Replica(ReplicaError::from(rusqlite_failure(rusqlite::ffi::SQLITE_FULL))),
                |e| matches!(e, DoorstepError::Storage { reason } if reason.contains("phone storage is full")),
            ),
            (
                TransportError::Replica(ReplicaError::from(rusqlite_failure(rusqlite::ffi::SQLITE_READONLY))),
                |e| matches!(e, DoorstepError::Storage { reason } if reason.contains("read-only")),
            ),
            (TransportError::Server { status: 503, reason: "disk".into(), retry_after_secs: Some(4) }, |e| {
                matches!(e, DoorstepError::Network { retry_after_secs: Some(4), .. })
            }),
            (
                TransportError::Unauthorized("revoked".into()),
                |e| matches!(e, DoorstepError::Unauthorized { reason } if reason == "revoked"),
            ),
            (
                TransportError::Forbidden("not a member".into()),
                |e| matches!(e, DoorstepError::Forbidden { rule, .. } if rule == "forbidden"),
            ),
            (TransportError::Refused { status: 404, reason: "no such invite".into() }, |e| {
                matches!(e, DoorstepError::InvalidInput { .. })
            }),
            (
                TransportError::Refused { status: 413, reason: "too large".into() },
                |e| matches!(e, DoorstepError::Rejected { reason } if reason == "too large"),
            ),
            (TransportError::Replica(ReplicaError::NotJoined), |e| {
                matches!(e, DoorstepError::Unauthorized { .. })
            }),
            (TransportError::Removed { compounds: vec!["香樟苑".into()] }, |e| {
                matches!(e, DoorstepError::Removed { compounds, reason }
                    if compounds == &["香樟苑"] && reason.contains("你已被移出 香樟苑"))
            }),
            (TransportError::Replica(ReplicaError::WrongKey), |e| matches!(e, DoorstepError::Locked { .. })),
            (
                TransportError::Untrusted("UnknownIssuer".into()),
                |e| matches!(e, DoorstepError::Untrusted { reason } if reason.contains("不受信任") && reason.contains("not trusted")),
            ),
            (TransportError::BadCaCertificate("no certificate in it".into()), |e| {
                matches!(e, DoorstepError::InvalidInput { .. })
            }),
        ];
        for (input, expected) in cases {
            let shown = input.to_string();
            let mapped = DoorstepError::from(input);
            assert!(expected(&mapped), "{shown} became {mapped:?}");
        }
    }

    #[test]
    fn a_bad_id_is_invalid_input() {
        let e: DoorstepError = "not-a-uuid".parse::<doorstep_core::id::TaskId>().unwrap_err().into();
        assert!(
            matches!(e, DoorstepError::InvalidInput { ref reason } if reason.contains("not-a-uuid")),
            "{e:?}"
        );
    }
}
