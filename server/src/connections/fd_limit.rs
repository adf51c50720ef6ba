//! The process's open-file limit, which bounds how many connections the relay can hold.
//!
//! Many systems start services with a soft limit of 1,024 descriptors and a hard limit far
//! above it. The relay raises its soft limit to the hard one at start, then sizes its
//! connection table to fit, keeping [`RESERVED`] descriptors for the database, its journal and
//! the runtime, so that a flood of sockets can never leave it unable to open its own files.

/// Descriptors kept back from connections: the SQLite file, its WAL and shared memory, the
/// listener, the runtime's own, and headroom for sockets being accepted and closed.
pub const RESERVED: u64 = 64;

/// Raises the soft open-file limit to the hard limit; returns the soft limit now in force, or
/// `None` where it cannot be read (then the configured maximum is used as it is).
#[cfg(unix)]
pub fn raise() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = rustix::process::Rlimit { current: limit.maximum, maximum: limit.maximum };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => {
                tracing::info!(from = ?limit.current, to = ?limit.maximum, "raised the open-file limit")
            }
            Err(e) => tracing::warn!(error = %e, "could not raise the open-file limit"),
        }
    }
    // `None` means unlimited.
    Some(getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX))
}

/// Raises the soft open-file limit to the hard limit; returns the soft limit now in force, or
/// `None` where it cannot be read (then the configured maximum is used as it is).
#[cfg(not(unix))]
pub fn raise() -> Option<u64> {
    None
}

/// How many connections fit under a soft limit of `soft` descriptors, at most `wanted`.
pub fn connections_under(soft: Option<u64>, wanted: usize) -> usize {
    match soft {
        Some(soft) => {
            let room = usize::try_from(soft.saturating_sub(RESERVED)).unwrap_or(usize::MAX);
            wanted.min(room).max(1)
        }
        None => wanted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_fits_under_the_limit_with_room_for_the_database() {
        assert_eq!(connections_under(Some(1024), 4096), 960);
        assert_eq!(connections_under(Some(1_048_576), 4096), 4096);
        assert_eq!(connections_under(Some(10), 4096), 1);
        assert_eq!(connections_under(None, 4096), 4096);
        assert!(raise().is_some_and(|soft| soft >= 1), "the limit can be read here");
    }
}
