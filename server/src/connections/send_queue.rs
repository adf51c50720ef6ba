//! The bytes of a connection's answers still in its socket: written by the relay, not yet taken
//! by the client. On a landing's 64 kbit/s a 75 KB answer goes into the socket at once and takes
//! ten seconds to cross; the bytes are moving all that while, though the relay writes none.
//!
//! Linux tells it with the `SIOCOUTQ` ioctl (bytes not yet acknowledged by the client). Elsewhere
//! [`SendQueue::unsent`] says 0, and a connection is idle from its last write, as before.

#[cfg(target_os = "linux")]
use std::os::fd::{AsRawFd, RawFd};

use tokio::net::TcpStream;

/// One connection's socket, asked how much it still holds.
#[derive(Debug, Clone, Copy)]
pub struct SendQueue {
    #[cfg(target_os = "linux")]
    fd: RawFd,
}

impl SendQueue {
    /// The send queue of `stream`. Ask it only while `stream` is open (the connection's task
    /// holds both).
    pub fn of(stream: &TcpStream) -> Self {
        #[cfg(target_os = "linux")]
        return Self { fd: stream.as_raw_fd() };
        #[cfg(not(target_os = "linux"))]
        {
            let _ = stream;
            Self {}
        }
    }

    /// Bytes written into the socket that the client has not acknowledged yet; 0 if unknown.
    #[cfg(target_os = "linux")]
    #[expect(unsafe_code, reason = "the SIOCOUTQ ioctl has no safe binding")]
    pub fn unsent(&self) -> usize {
        let mut unsent: libc::c_int = 0;
        // SAFETY: `fd` is the socket of a `TcpStream` that the caller's task holds open (see
        // `of`), so it names that socket and no other. `TIOCOUTQ` (the same request as
        // `SIOCOUTQ`) writes one `c_int` through the pointer, which points at `unsent`, a live
        // `c_int` on this stack. On error nothing is written and 0 stands.
        let done = unsafe { libc::ioctl(self.fd, libc::TIOCOUTQ, &raw mut unsent) };
        if done == 0 { usize::try_from(unsent).unwrap_or(0) } else { 0 }
    }

    /// Bytes written into the socket that the client has not acknowledged yet; 0 if unknown.
    #[cfg(not(target_os = "linux"))]
    pub fn unsent(&self) -> usize {
        0
    }
}
