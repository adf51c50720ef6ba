//! One replica per file at a time. Two replicas on one file (a screen and a background worker
//! each opening it, two app processes, a terminal command while another still runs) each hold
//! the documents in memory and write the device's next change under its one Automerge actor:
//! both get the same sequence number, the document stops loading, and the knocks both recorded
//! are lost though each was acknowledged. So opening a replica takes an exclusive lock on a file
//! beside it (`NAME.lock`) for as long as the replica is open, and a second opener waits a moment
//! for it, then is refused with an error that says so.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::ReplicaError;

/// How long a second opener waits for the lock before it is refused: long enough for a command
/// that is just finishing, short enough that a volunteer is told at once.
const WAIT: Duration = Duration::from_secs(3);

/// The lock, held while the replica is open; released when dropped (or when the process ends).
#[derive(Debug)]
pub(crate) struct FileLock {
    _file: File,
}

impl FileLock {
    /// Takes the lock for the replica file at `path`, waiting up to [`WAIT`] for another holder.
    pub(crate) fn take(path: &Path) -> Result<Self, ReplicaError> {
        let lock_path = lock_path(path);
        // A lock file that cannot be opened for writing (the folder or the phone's storage gone
        // read-only) locks as well opened for reading: a lock needs no write, and the replica
        // then shows what it holds.
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .or_else(|e| OpenOptions::new().read(true).open(&lock_path).map_err(|_| e))
            .map_err(|e| ReplicaError::LockFile {
                path: lock_path.display().to_string(),
                reason: e.to_string(),
            })?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(FileLock { _file: file }),
                Err(TryLockError::WouldBlock) if started.elapsed() < WAIT => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(TryLockError::WouldBlock) => return Err(ReplicaError::InUse),
                Err(TryLockError::Error(e)) => {
                    return Err(ReplicaError::LockFile {
                        path: lock_path.display().to_string(),
                        reason: e.to_string(),
                    });
                }
            }
        }
    }
}

/// `NAME.lock` beside the replica file `NAME`.
fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_second_opener_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("phone.sqlite");
        let first = FileLock::take(&path).unwrap();
        let started = Instant::now();
        assert!(matches!(FileLock::take(&path), Err(ReplicaError::InUse)));
        assert!(started.elapsed() >= WAIT, "it waited for the holder first");
        drop(first);
        FileLock::take(&path).unwrap();
    }
}
