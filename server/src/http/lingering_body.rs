//! A request body the relay answered without reading to its end (a file refused for its declared
//! length, 413; a token refused, 401; a request past its time, 408) is read on and thrown away
//! for a while after the answer, as web servers do on a "lingering close".
//!
//! Without it the connection was closed under a client still sending: the kernel answers the
//! bytes still arriving with a reset, and the client's write fails ("broken pipe") or the reset
//! throws away the answer it had not read yet. A coordinator choosing a 9 MiB file saw "cannot
//! reach the server" instead of "the file is larger than the relay accepts (8 MiB); split it",
//! now and then (a dashboard test's upload past the limit failed so once in about 30 runs side
//! by side). The bytes read on are never held: each piece is dropped as it arrives, and the
//! reading stops at [`LINGER_BYTES`] or [`LINGER_FOR`], whichever comes first, so a client that
//! declares a gigabyte costs the relay no more than one that goes quiet.
//!
//! A request that asked `Expect: 100-continue` is not read on: reading its body would tell the
//! client to send what the relay already refused.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::header::EXPECT;
use futures_util::StreamExt;
use hyper::body::{Frame, SizeHint};

/// Most bytes of an unread body read on and thrown away after the answer: twice the default body
/// limit, so that an upload refused for its length is taken whole on any link that carries it in
/// [`LINGER_FOR`].
pub const LINGER_BYTES: usize = 16 * 1024 * 1024;
/// Most time spent reading on an unread body after the answer.
pub const LINGER_FOR: Duration = Duration::from_secs(10);

/// `req` with its body read on after the answer if the handler leaves it unread.
pub fn lingering(req: Request) -> Request {
    if req.headers().contains_key(EXPECT) {
        return req;
    }
    req.map(|body| Body::new(Lingering { body: Some(body) }))
}

/// A request body that, dropped before its end, is read on by a task of its own.
struct Lingering {
    /// `None` once it ended or failed.
    body: Option<Body>,
}

impl HttpBody for Lingering {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let Some(body) = self.body.as_mut() else { return Poll::Ready(None) };
        let polled = Pin::new(body).poll_frame(cx);
        if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
            self.body = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.body.as_ref().map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

impl Drop for Lingering {
    fn drop(&mut self) {
        let Some(body) = self.body.take() else { return };
        if body.is_end_stream() {
            return;
        }
        // Outside a runtime (a test building requests by hand) there is no connection to keep.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(read_on(body));
        }
    }
}

/// Reads `body` to its end and throws it away, within [`LINGER_BYTES`] and [`LINGER_FOR`].
async fn read_on(body: Body) {
    let mut stream = body.into_data_stream();
    let mut left = LINGER_BYTES;
    let _ = tokio::time::timeout(LINGER_FOR, async {
        while let Some(Ok(piece)) = stream.next().await {
            match left.checked_sub(piece.len()) {
                Some(rest) => left = rest,
                None => break,
            }
        }
    })
    .await;
}
