//! The library's own tokio runtime. The HTTP transport (reqwest) needs a tokio reactor, which
//! neither a Kotlin coroutine nor a Swift task provides; so network work is spawned on a small
//! runtime the library starts on first use and keeps for the life of the process, and the
//! exported `async` functions only await its `JoinHandle`, which any executor can poll. One
//! worker thread is plenty for a phone: the work is one sync at a time, mostly waiting.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::Runtime;
use tokio::task::AbortHandle;

use crate::error::Error;

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

fn runtime() -> Result<&'static Runtime, Error> {
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let built = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("doorstep-io")
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    // If another thread won the race, its runtime is kept and this one is dropped here, outside
    // any async context, which is allowed.
    Ok(RUNTIME.get_or_init(|| built))
}

/// Aborts the spawned task if the caller stops waiting for it (a cancelled coroutine or Swift
/// task), so that a cancelled sync does not run on unseen. A sync cut off half-way loses
/// nothing: its progress is persisted after every response.
struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `work` on the library's runtime and waits for it from whatever executor polls this.
pub(crate) async fn run<T, E, F>(work: F) -> Result<T, E>
where
    T: Send + 'static,
    E: From<Error> + Send + 'static,
    F: Future<Output = Result<T, E>> + Send + 'static,
{
    let mut handle = runtime()?.spawn(work);
    let _abort = AbortOnDrop(handle.abort_handle());
    match (&mut handle).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => Err(Error::Task(format!("it panicked: {e}")).into()),
        Err(e) => Err(Error::Task(e.to_string()).into()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn work_runs_on_the_library_runtime_from_a_foreign_executor() {
        // A plain thread with a minimal executor stands in for a Kotlin or Swift caller: no tokio
        // context of its own, yet timers and tasks work because they run on the library's runtime.
        let out: Result<_, Error> = block_on(run(async {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            Ok(std::thread::current().name().map(str::to_owned))
        }));
        assert_eq!(out.unwrap().as_deref(), Some("doorstep-io"));
    }

    #[test]
    fn a_panicking_task_is_an_error_not_a_crash() {
        let out: Result<(), Error> = block_on(run(async { panic!("boom") }));
        assert!(matches!(out, Err(Error::Task(ref m)) if m.contains("panicked")), "{out:?}");
    }

    /// Polls a future to completion on the current thread, parking between wake-ups.
    fn block_on<F: Future>(future: F) -> F::Output {
        use std::sync::Arc;
        use std::task::{Context, Poll, Wake, Waker};
        struct Unpark(std::thread::Thread);
        impl Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut future = std::pin::pin!(future);
        loop {
            match future.as_mut().poll(&mut cx) {
                Poll::Ready(out) => return out,
                Poll::Pending => std::thread::park(),
            }
        }
    }
}
