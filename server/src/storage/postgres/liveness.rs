//! Connections to PostgreSQL that died without a word.
//!
//! A firewall, a NAT or a cloud load balancer between the relay and PostgreSQL drops a
//! connection that stayed idle too long, and tells neither side: the relay's socket stays open,
//! and whatever it sends next waits for an answer that never comes. A pooled connection is handed
//! out again and again, since the pool only asks whether it was closed, so one dead connection
//! held every request that drew it until the kernel gave up on it (about 15 minutes with TCP's
//! defaults), each answered 408 after 30 s; the listening connection stayed dead for about two
//! hours while `/healthz` said ok (the red team's scale-out finding 1). So:
//!
//! - TCP keepalives after 30 s idle, and a 30 s bound on unacknowledged sends
//!   (`tcp_user_timeout`), unless the database address sets its own (`?keepalives_idle=…`), so
//!   the kernel ends a connection whose peer is gone;
//! - a pooled connection that has not been used for [`IDLE_BEFORE_ASKING`] answers an empty query
//!   within [`ANSWER_WAIT`] before it is handed out, else it is dropped and another drawn or
//!   opened, which catches a middlebox that keeps the socket up and forwards nothing;
//! - the listening connection asks the same every [`LISTEN_CHECK`] (`notify.rs`).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use deadpool_postgres::{Hook, HookError};

/// Idle time after which the kernel probes a connection, unless the address says otherwise.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
/// Time between two probes.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// Probes unanswered before the connection is ended.
const KEEPALIVE_RETRIES: u32 = 3;
/// How long sent data may stay unacknowledged before the connection is ended.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a pooled connection may sit unused before it must answer once more to be used.
pub(super) const IDLE_BEFORE_ASKING: Duration = Duration::from_secs(10);
/// How long it has to answer.
pub(super) const ANSWER_WAIT: Duration = Duration::from_secs(2);
/// How often the listening connection is asked whether it still answers.
pub(super) const LISTEN_CHECK: Duration = Duration::from_secs(30);

/// PostgreSQL's default idle time before keepalives (two hours): an address that does not set
/// one gets [`KEEPALIVE_IDLE`].
const DRIVER_DEFAULT_IDLE: Duration = Duration::from_secs(2 * 60 * 60);

/// Sets keepalives and the send bound on `config`, where its address did not set them.
pub(super) fn notice_dead_links(config: &mut tokio_postgres::Config) {
    config.keepalives(true);
    if config.get_keepalives_idle() == DRIVER_DEFAULT_IDLE {
        config.keepalives_idle(KEEPALIVE_IDLE);
    }
    if config.get_keepalives_interval().is_none() {
        config.keepalives_interval(KEEPALIVE_INTERVAL);
    }
    if config.get_keepalives_retries().is_none() {
        config.keepalives_retries(KEEPALIVE_RETRIES);
    }
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(TCP_USER_TIMEOUT);
    }
}

/// The pool's check before it hands out a connection that sat unused: an empty query answered
/// within [`ANSWER_WAIT`], or the connection is dropped (and the pool draws or opens another).
/// Once one has failed, every idle connection opened before that failure is dropped unasked:
/// what dropped one dropped its elders too, and asking each would cost a request
/// [`ANSWER_WAIT`] per connection.
pub(super) fn idle_connections_answer() -> Hook {
    let last_failure: Arc<Mutex<Option<Instant>>> = Arc::default();
    Hook::async_fn(move |client, metrics| {
        let last_failure = Arc::clone(&last_failure);
        Box::pin(async move {
            if metrics.last_used() < IDLE_BEFORE_ASKING {
                return Ok(());
            }
            let failed_since = *last_failure.lock().unwrap_or_else(PoisonError::into_inner);
            if failed_since.is_some_and(|failed| metrics.created < failed) {
                return Err(HookError::message("an idle connection older than one that failed"));
            }
            let failure = match tokio::time::timeout(ANSWER_WAIT, client.simple_query("")).await {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "an idle PostgreSQL connection failed; opening another");
                    "an idle connection failed"
                }
                Err(_) => {
                    tracing::warn!(
                        wait_s = ANSWER_WAIT.as_secs(),
                        "an idle PostgreSQL connection did not answer (dropped by the network?); opening another"
                    );
                    "an idle connection did not answer"
                }
            };
            *last_failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
            Err(HookError::message(failure))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_addresss_own_keepalives_are_kept_and_the_rest_are_set() {
        let mut plain: tokio_postgres::Config = "postgres://u@localhost/db".parse().unwrap_or_default();
        notice_dead_links(&mut plain);
        assert_eq!(plain.get_keepalives_idle(), KEEPALIVE_IDLE);
        assert_eq!(plain.get_keepalives_interval(), Some(KEEPALIVE_INTERVAL));
        assert_eq!(plain.get_keepalives_retries(), Some(KEEPALIVE_RETRIES));
        assert_eq!(plain.get_tcp_user_timeout(), Some(&TCP_USER_TIMEOUT));
        let mut own: tokio_postgres::Config =
            "postgres://u@localhost/db?keepalives_idle=90".parse().unwrap_or_default();
        notice_dead_links(&mut own);
        assert_eq!(own.get_keepalives_idle(), Duration::from_secs(90));
    }
}
