//! Panics a caller expects and contains: a third-party reader (Automerge, calamine) that panics
//! on bytes a modified phone or a damaged upload crafted, where the caller turns the panic into
//! a refusal and logs one line saying so.
//!
//! Rust's default panic hook still prints every such panic to stderr ("thread … panicked at …",
//! and with `RUST_BACKTRACE` set a whole backtrace), outside the structured log. A hostile member
//! sending one crafted change per request would fill the relay's log with them. So every
//! `catch_unwind` of untrusted input runs through [`catch`], which marks the thread while it
//! runs, and a process that installs [`install_hook`] (the relay, the terminal phone) stays quiet
//! about the panics that are marked: the caller's own line says what was refused. Any other
//! panic, a fault of Doorstep's own, is reported as before, with its backtrace when asked for.
//!
//! Nothing here does IO: the hook hands unexpected panics to the hook that was installed before it.

use std::any::Any;
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};

thread_local! {
    /// How many [`catch`] calls this thread is inside.
    static CATCHING: Cell<u32> = const { Cell::new(0) };
}

/// Runs `f`, catching a panic inside it as `Err` with the panic's message; the installed hook
/// ([`install_hook`]) does not report it.
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    CATCHING.with(|depth| depth.set(depth.get().saturating_add(1)));
    let outcome = catch_unwind(AssertUnwindSafe(f));
    CATCHING.with(|depth| depth.set(depth.get().saturating_sub(1)));
    outcome.map_err(|payload| message(payload.as_ref()))
}

/// Whether the current thread is inside [`catch`].
pub fn is_expected() -> bool {
    CATCHING.with(|depth| depth.get() > 0)
}

/// Installs a panic hook that reports only the panics no [`catch`] expects, through the hook
/// installed before it (Rust's default: the message, and the backtrace under `RUST_BACKTRACE`).
/// Call once at the start of a process.
pub fn install_hook() {
    let earlier = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !is_expected() {
            earlier(info);
        }
    }));
}

/// A panic payload's message.
fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caught_panic_is_its_message_and_the_mark_is_cleared() {
        let caught = catch(|| -> u8 { panic!("crafted change") });
        assert_eq!(caught, Err("crafted change".to_owned()));
        assert!(!is_expected(), "the thread is no longer marked once the catch returns");
        let nested = catch(|| {
            assert!(is_expected());
            let inner = catch(|| -> u8 { panic!("{}", String::from("inner")) });
            assert!(is_expected(), "still inside the outer catch");
            inner
        });
        assert_eq!(nested, Ok(Err("inner".to_owned())));
        assert_eq!(catch(|| 7), Ok(7));
        assert!(!is_expected());
    }
}
