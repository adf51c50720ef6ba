//! Whether the store's writes are failing for want of disk space, for `/healthz` and `/metrics`.
//!
//! A full disk is the operator's to cure, not a phone's: phones keep their changes and retry
//! (the sync answers `unavailable`), but nothing else tells whoever runs the relay. The store
//! notes each write's outcome here. A write refused for want of space marks the disk full; it
//! stays marked until a write succeeds *and* the disk has more room than when it was refused
//! (a small write can still succeed on a full disk, in space SQLite's journal already holds).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use super::StorageError;

/// More room than at the refusal, in bytes, that counts as space freed.
const FREED: u64 = 1 << 20;

/// What the store's writes said of the disk's space.
#[derive(Debug, Default)]
pub struct SpaceWatch {
    /// The room the disk had when a write was last refused, while it is marked full.
    refused_with: Mutex<Option<u64>>,
    failed_writes: AtomicU64,
}

/// The disk was full at a write and has not been given room since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfSpace {
    /// Writes refused for want of space since the relay started.
    pub failed_writes: u64,
}

impl SpaceWatch {
    /// Notes how a write ended; `room` tells the disk's free bytes now, where it can.
    pub fn note<T>(&self, outcome: &Result<T, StorageError>, room: impl Fn() -> Option<u64>) {
        let mut refused_with = self.refused_with.lock().unwrap_or_else(PoisonError::into_inner);
        match outcome {
            Err(e) if e.is_out_of_space() => {
                self.failed_writes.fetch_add(1, Ordering::Relaxed);
                *refused_with = Some(room().unwrap_or(0));
            }
            Ok(_) => {
                if let Some(then) = *refused_with
                    && room().is_none_or(|now| now >= then.saturating_add(FREED))
                {
                    *refused_with = None;
                }
            }
            Err(_) => {}
        }
    }

    /// `Some` while the disk is marked full.
    pub fn out_of_space(&self) -> Option<OutOfSpace> {
        self.refused_with
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map(|_| OutOfSpace { failed_writes: self.failed_writes.load(Ordering::Relaxed) })
    }
}

/// The bytes an unprivileged process may still write on the file system holding `path`.
pub fn room(path: &Path) -> Option<u64> {
    let stats = rustix::fs::statvfs(path).ok()?;
    Some(stats.f_bavail.saturating_mul(stats.f_frsize))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn full() -> StorageError {
        StorageError::Sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            Some("database or disk is full".into()),
        ))
    }

    #[test]
    fn a_refusal_marks_the_disk_full_until_a_write_succeeds_with_room_freed() {
        let watch = SpaceWatch::default();
        assert_eq!(watch.out_of_space(), None);
        watch.note::<()>(&Err(full()), || Some(4096));
        watch.note::<()>(&Err(full()), || Some(0));
        assert_eq!(watch.out_of_space(), Some(OutOfSpace { failed_writes: 2 }));
        // Other failures say nothing of space; a small write into space already held does not
        // mean the disk has room.
        watch.note::<()>(&Err(StorageError::NotFound("no such compound".into())), || Some(0));
        watch.note(&Ok(()), || Some(8192));
        assert_eq!(watch.out_of_space(), Some(OutOfSpace { failed_writes: 2 }));
        watch.note(&Ok(()), || Some(5 << 20));
        assert_eq!(watch.out_of_space(), None);
        watch.note(&Ok(()), || Some(0));
        assert_eq!(watch.out_of_space(), None, "only a refusal marks it full");
    }

    #[test]
    fn the_room_is_read_from_the_file_system() {
        let dir = tempfile::tempdir().unwrap();
        assert!(room(dir.path()).is_some_and(|free| free > 0));
        assert_eq!(room(&dir.path().join("no/such/dir")), None);
    }
}
