//! One relay per SQLite file. Two relays serving one file each keep their own caches, live
//! streams, rate buckets and admission bounds, none of which the other sees (only PostgreSQL's
//! NOTIFY shares them), so dashboards miss the other's changes and every limit doubles. `serve`
//! therefore takes an exclusive lock on a file beside the database (`NAME.lock`, holding the
//! relay's process ID) for as long as it runs, and a second `serve` is refused with the holder
//! named. The admin commands take no lock: they are short writers that SQLite's WAL lets run
//! beside the relay. The same lock as the phone's replica (`replica/src/file_lock.rs`).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::storage::StorageError;

/// How long a second relay waits for the lock before it is refused: long enough for a relay
/// that is just finishing its requests in flight after SIGTERM (a restart by a script that does
/// not wait for the old process), short enough that an operator is told at once.
const WAIT: Duration = Duration::from_secs(3);

/// The lock, held while the relay serves the file; released when dropped or when the process
/// ends, however it ends.
#[derive(Debug)]
pub struct ServingLock {
    _file: File,
}

impl ServingLock {
    /// Takes the lock for the database at `path`, waiting up to [`WAIT`] for another holder.
    pub fn take(path: &Path) -> Result<Self, StorageError> {
        // Named absolute in what the operator reads: a relay under a service manager runs in
        // another directory than the shell they type in. And through its links: a relay started
        // on `alias.db -> relay.db` took `alias.db.lock` and served the file beside the first.
        // (A hard link is another name for the file that nothing here can see through.)
        let path = &std::fs::canonicalize(path)
            .or_else(|_| std::path::absolute(path))
            .unwrap_or_else(|_| path.to_owned());
        let lock_path = lock_path(path);
        let mut file =
            OpenOptions::new().create(true).truncate(false).read(true).write(true).open(&lock_path).map_err(
                |e| {
                    // A missing or read-only directory, named as such.
                    super::place::problem(path).unwrap_or_else(|| StorageError::LockFile {
                        path: lock_path.display().to_string(),
                        reason: e.to_string(),
                    })
                },
            )?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) if started.elapsed() < WAIT => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(TryLockError::WouldBlock) => {
                    let mut held = String::new();
                    let holder = match file
                        .read_to_string(&mut held)
                        .ok()
                        .and_then(|_| held.trim().parse::<u32>().ok())
                    {
                        Some(pid) => format!("another relay (pid {pid})"),
                        None => "another relay".to_owned(),
                    };
                    return Err(StorageError::ServedElsewhere {
                        holder,
                        path: path.display().to_string(),
                        lock: lock_path.display().to_string(),
                    });
                }
                Err(TryLockError::Error(e)) => {
                    return Err(StorageError::LockFile {
                        path: lock_path.display().to_string(),
                        reason: e.to_string(),
                    });
                }
            }
        }
        // Ours now: say who holds it, for the next relay's refusal. A failure here costs only
        // that name.
        let named = file
            .set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .and_then(|()| file.flush());
        if let Err(e) = named {
            tracing::debug!(path = %lock_path.display(), error = %e, "could not write the relay's pid into its lock file");
        }
        Ok(ServingLock { _file: file })
    }
}

/// `NAME.lock` beside the database file `NAME`.
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
    fn a_relay_started_on_a_link_to_a_served_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("relay.db");
        std::fs::write(&path, b"").unwrap();
        let alias = dir.path().join("alias.db");
        std::os::unix::fs::symlink(&path, &alias).unwrap();
        let _first = ServingLock::take(&path).unwrap();
        let refused = ServingLock::take(&alias).unwrap_err().to_string();
        assert!(refused.contains("another relay"), "{refused}");
    }

    #[test]
    fn a_second_relay_is_refused_with_the_first_named_until_it_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("doorstep.db");
        let first = ServingLock::take(&path).unwrap();
        let refused = ServingLock::take(&path).unwrap_err().to_string();
        assert!(refused.contains(&format!("another relay (pid {})", std::process::id())), "{refused}");
        assert!(refused.contains(&path.display().to_string()), "{refused}");
        drop(first);
        ServingLock::take(&path).unwrap();
    }
}
