//! Whether a request's body was read to its end before its answer went out.
//!
//! Many refusals are answered before the body is read (a 413 by its declared length, a 401
//! before a sync body, a 503 shed): hyper then closes the connection after the answer, since the
//! rest of the body is still on the wire. Unless the answer says so, a client that keeps
//! connections alive sends its next request on that connection as it closes, and that request
//! fails with a broken connection instead of an answer (reqwest's "IncompleteMessage"; a phone
//! on a landing would spend a window of signal on it). So an answer to a request whose body was
//! not read to its end says `Connection: close`, and the client opens a new connection for the
//! next one.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};

/// A request body that records when it has been read to its end.
#[derive(Debug)]
pub struct WatchedBody {
    inner: Incoming,
    ended: Arc<AtomicBool>,
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

/// Wraps `body`; the [`Ended`] tells later whether it was read to its end.
pub fn watch(body: Incoming) -> (WatchedBody, Ended) {
    let ended = Arc::new(AtomicBool::new(body.is_end_stream()));
    (WatchedBody { inner: body, ended: Arc::clone(&ended) }, Ended(ended))
}

impl Body for WatchedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.ended.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
