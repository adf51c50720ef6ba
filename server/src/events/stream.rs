//! One Server-Sent Events stream: the announcements its caller may see, a keep-alive comment
//! every 15 seconds, and at each keep-alive a fresh look at who the caller is now.
//!
//! Re-checking at the keep-alive bounds how long a revoked token, a revoked membership or an
//! expired dashboard session keeps receiving announcements (15 s) without a storage read per
//! announcement per stream. A stream ends when its client goes away (the response body is
//! dropped, and with it the subscription), when the check fails (with an `ended` event saying
//! why), or when the relay shuts down.
//!
//! The wire format, for phones and the dashboard alike:
//!
//! ```text
//! event: changed
//! data: {"compound":"…","doc":"…","kind":"round"}
//!
//! : keep-alive
//!
//! event: resync
//! data: {"missed":12}          (the client fell behind: refetch what is on screen)
//!
//! event: ended
//! data: {"reason":"…"}         (the caller may no longer listen; the stream closes)
//! ```

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use axum::http::HeaderValue;
use axum::http::header::CACHE_CONTROL;
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use doorstep_core::Role;
use doorstep_core::id::CompoundId;
use doorstep_core::schema::vocabulary::DocKind;
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::MissedTickBehavior;

use super::{DocChanged, Events, StreamPermit};

/// How often a stream sends a keep-alive comment and re-checks its caller.
pub fn keep_alive_every() -> Duration {
    Duration::from_secs(15)
}

/// What a stream's caller may see.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Audience {
    /// The caller's role in each compound whose announcements they may see.
    pub roles: HashMap<CompoundId, Role>,
    /// If set, only this compound (the dashboard streams the compound on screen).
    pub only: Option<CompoundId>,
}

impl Audience {
    /// Whether the caller may hear of this change: they hold a role in its compound, and for
    /// the care ledger a role that reads it.
    pub fn admits(&self, change: &DocChanged) -> bool {
        if self.only.is_some_and(|only| only != change.compound) {
            return false;
        }
        match self.roles.get(&change.compound) {
            Some(role) => change.kind != DocKind::Care || role.reads_care(),
            None => false,
        }
    }
}

/// Decides, at every keep-alive, whether a stream's caller may still listen and to what.
pub trait Gate: Send + 'static {
    /// The caller's audience now, or why the stream must end.
    fn recheck(&mut self) -> impl Future<Output = Result<Audience, String>> + Send;
}

/// What a stream sends, before it becomes SSE text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Item {
    /// A change the caller may see.
    Changed(DocChanged),
    /// The caller fell behind and missed this many announcements.
    Resync(u64),
    /// Nothing happened; the connection is alive.
    KeepAlive,
    /// The caller may no longer listen.
    Ended(String),
}

impl Item {
    fn event(self) -> Event {
        match self {
            Item::Changed(change) => {
                Event::default().event("changed").data(serde_json::to_string(&change).unwrap_or_default())
            }
            Item::Resync(missed) => {
                Event::default().event("resync").data(serde_json::json!({ "missed": missed }).to_string())
            }
            Item::KeepAlive => Event::default().comment("keep-alive"),
            Item::Ended(reason) => {
                Event::default().event("ended").data(serde_json::json!({ "reason": reason }).to_string())
            }
        }
    }
}

/// A stream for a caller with `audience` now, re-checked through `gate`, holding the slot
/// `permit` (see [`super::StreamSlots`]) until it ends.
pub fn sse<G: Gate>(events: &Events, permit: StreamPermit, gate: G, audience: Audience) -> Response {
    let stream = items(events, gate, audience, keep_alive_every());
    // The closure owns the permit, so the slot is freed when the stream is dropped.
    let stream = futures_util::StreamExt::map(stream, move |item| {
        let _held = &permit;
        Ok::<_, Infallible>(item.event())
    });
    let mut response = Sse::new(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Reverse proxies (nginx) otherwise buffer the stream and deliver it late, in bursts.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

struct Listening<G> {
    changes: tokio::sync::broadcast::Receiver<DocChanged>,
    closing: tokio::sync::watch::Receiver<bool>,
    tick: tokio::time::Interval,
    gate: G,
    audience: Audience,
}

/// The items of one stream. Subscribes at once, so nothing committed after this call is missed.
pub(crate) fn items<G: Gate>(
    events: &Events,
    gate: G,
    audience: Audience,
    every: Duration,
) -> impl Stream<Item = Item> + Send + 'static {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let listening =
        Listening { changes: events.subscribe(), closing: events.closing(), tick, gate, audience };
    futures_util::stream::unfold(Some(listening), |listening| async move {
        let mut l = listening?;
        if *l.closing.borrow_and_update() {
            return None;
        }
        loop {
            // Biased, in this order: shutdown wins, and the keep-alive (with its re-check) stays
            // on time even while announcements pour in.
            tokio::select! {
                biased;
                // Shutdown (or the relay dropped its events): end the stream.
                _ = l.closing.changed() => return None,
                _ = l.tick.tick() => {
                    return match l.gate.recheck().await {
                        Ok(audience) => {
                            l.audience = audience;
                            Some((Item::KeepAlive, Some(l)))
                        }
                        Err(reason) => Some((Item::Ended(reason), None)),
                    };
                }
                received = l.changes.recv() => match received {
                    Ok(change) if l.audience.admits(&change) => return Some((Item::Changed(change), Some(l))),
                    Ok(_) => {}
                    Err(RecvError::Lagged(missed)) => return Some((Item::Resync(missed), Some(l))),
                    Err(RecvError::Closed) => return None,
                },
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures_util::StreamExt;

    use super::*;

    fn id<T: std::str::FromStr>(n: u8) -> T
    where
        T::Err: std::fmt::Debug,
    {
        format!("00000000-0000-7000-8000-0000000000{n:02x}").parse().unwrap()
    }

    fn change(compound: u8, kind: DocKind) -> DocChanged {
        DocChanged { compound: id(compound), doc: id(100 + compound), kind }
    }

    fn audience(role: Role) -> Audience {
        Audience { roles: [(id(1), role)].into_iter().collect(), only: None }
    }

    /// Lets the caller listen for `allowed` checks, then refuses.
    struct Counted {
        checks: Arc<AtomicUsize>,
        allowed: usize,
        audience: Audience,
    }

    impl Gate for Counted {
        async fn recheck(&mut self) -> Result<Audience, String> {
            let n = self.checks.fetch_add(1, Ordering::SeqCst) + 1;
            if n > self.allowed { Err("token revoked".into()) } else { Ok(self.audience.clone()) }
        }
    }

    #[test]
    fn audiences_see_their_compounds_and_care_only_if_they_read_it() {
        let volunteer = audience(Role::Volunteer);
        assert!(volunteer.admits(&change(1, DocKind::Round)));
        assert!(volunteer.admits(&change(1, DocKind::Roster)));
        assert!(!volunteer.admits(&change(1, DocKind::Care)), "never care for volunteers");
        assert!(!volunteer.admits(&change(2, DocKind::Round)), "not another compound");
        assert!(audience(Role::Medic).admits(&change(1, DocKind::Care)));
        assert!(audience(Role::Coordinator).admits(&change(1, DocKind::Care)));
        let only_other = Audience { only: Some(id(2)), ..audience(Role::Coordinator) };
        assert!(!only_other.admits(&change(1, DocKind::Round)));
    }

    #[tokio::test(start_paused = true)]
    async fn keeps_alive_rechecks_and_ends_when_the_check_fails() {
        let events = Events::default();
        let checks = Arc::new(AtomicUsize::new(0));
        let gate = Counted { checks: Arc::clone(&checks), allowed: 1, audience: audience(Role::Volunteer) };
        let mut stream = Box::pin(items(&events, gate, audience(Role::Volunteer), Duration::from_secs(15)));
        assert_eq!(events.subscribers(), 1);

        events.publish(change(1, DocKind::Care));
        events.publish(change(1, DocKind::Round));
        assert_eq!(stream.next().await, Some(Item::Changed(change(1, DocKind::Round))), "care skipped");

        let started = tokio::time::Instant::now();
        assert_eq!(stream.next().await, Some(Item::KeepAlive));
        assert_eq!(started.elapsed(), Duration::from_secs(15));
        assert_eq!(stream.next().await, Some(Item::Ended("token revoked".into())));
        assert_eq!(stream.next().await, None);
        assert_eq!(checks.load(Ordering::SeqCst), 2);
        drop(stream);
        assert_eq!(events.subscribers(), 0, "a finished stream lets go of its subscription");
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_listener_is_told_to_resync_and_shutdown_ends_every_stream() {
        let events = Events::default();
        let gate = Counted { checks: Arc::default(), allowed: 99, audience: audience(Role::Coordinator) };
        let mut stream = Box::pin(items(&events, gate, audience(Role::Coordinator), Duration::from_secs(15)));
        for _ in 0..super::super::CAPACITY + 5 {
            events.publish(change(1, DocKind::Roster));
        }
        assert_eq!(stream.next().await, Some(Item::Resync(5)));
        assert_eq!(stream.next().await, Some(Item::Changed(change(1, DocKind::Roster))));
        events.close();
        assert_eq!(stream.next().await, None, "after close the stream ends");
    }
}
