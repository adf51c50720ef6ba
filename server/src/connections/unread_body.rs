//! A request body left unread by its answer: the answer says `Connection: close`, and the rest of
//! the body is read on and thrown away after it, within bounds.
//!
//! Many refusals are answered before the body is read (a 413 by its declared length, a 401
//! before a sync body, a 503 shed): the rest of the body is still on the wire.
//! - Unless the answer says so, a client that keeps connections alive sends its next request on
//!   that connection as it closes, and that request fails with a broken connection instead of an
//!   answer (reqwest's "IncompleteMessage"; a phone on a landing would spend a window of signal
//!   on it). So the answer says `Connection: close`, and the client opens a new connection for
//!   the next one.
//! - Closed under a client still sending, the connection was reset by the kernel for the bytes
//!   still arriving: the client's next write failed ("broken pipe"), or the reset threw away the
//!   answer it had not read yet. A coordinator choosing a 9 MiB file saw "cannot reach the
//!   server" instead of "the file is larger than the relay accepts (8 MiB); split it", now and
//!   then (a dashboard test's upload past the limit failed so once in about 30 runs side by
//!   side), and a phone shed with 503 could lose the `Retry-After`. So the rest is read on after
//!   the answer, as web servers do on a "lingering close", and thrown away piece by piece (never
//!   held), until it ends or [`LINGER_BYTES`] or [`LINGER_FOR`] is reached, whichever comes
//!   first: a client that declares a gigabyte costs the relay no more than one that goes quiet.
//!   A request that asked `Expect: 100-continue` is not read on: reading its body would tell the
//!   client to send what the relay already refused.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};

/// Most bytes of an unread body read on and thrown away after the answer: twice the default body
/// limit, so that an upload refused for its length is taken whole on any link that carries it in
/// [`LINGER_FOR`].
pub const LINGER_BYTES: usize = 16 * 1024 * 1024;
/// Most time spent reading on an unread body after the answer.
pub const LINGER_FOR: Duration = Duration::from_secs(10);

/// A request body that records when it has been read to its end, and is read on if dropped
/// before it.
#[derive(Debug)]
pub struct WatchedBody {
    /// `None` once dropped.
    inner: Option<Incoming>,
    ended: Arc<AtomicBool>,
    read_on: bool,
}

/// Tells, once the answer is ready, whether the body it watches was read to its end.
#[derive(Debug, Clone)]
pub struct Ended(Arc<AtomicBool>);

impl Ended {
    /// Whether the body was read to its end (or had none).
    pub fn read_to_end(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Wraps `body`; the [`Ended`] tells later whether it was read to its end. With `read_on`, what
/// the answer leaves unread is read on after it.
pub fn watch(body: Incoming, read_on: bool) -> (WatchedBody, Ended) {
    let ended = Arc::new(AtomicBool::new(body.is_end_stream()));
    (WatchedBody { inner: Some(body), ended: Arc::clone(&ended), read_on }, Ended(ended))
}

impl Body for WatchedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let Some(inner) = self.inner.as_mut() else { return Poll::Ready(None) };
        let polled = Pin::new(&mut *inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || inner.is_end_stream() {
            self.ended.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Incoming::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.as_ref().map_or_else(|| SizeHint::with_exact(0), Incoming::size_hint)
    }
}

impl Drop for WatchedBody {
    fn drop(&mut self) {
        let Some(body) = self.inner.take() else { return };
        if !self.read_on || self.ended.load(Ordering::Acquire) || body.is_end_stream() {
            return;
        }
        // Outside a runtime (a test building requests by hand) there is no connection to keep.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(read_on(body));
        }
    }
}

/// Reads `body` on and throws it away, within [`LINGER_BYTES`] and [`LINGER_FOR`].
async fn read_on(mut body: Incoming) {
    let mut left = LINGER_BYTES;
    let _ = tokio::time::timeout(LINGER_FOR, async {
        while let Some(Ok(frame)) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            let Ok(piece) = frame.into_data() else { continue };
            match left.checked_sub(piece.len()) {
                Some(rest) => left = rest,
                None => break,
            }
        }
    })
    .await;
}
