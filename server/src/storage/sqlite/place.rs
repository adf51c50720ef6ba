//! Why an SQLite database cannot be opened where it was asked for, in words that say what to do.
//! SQLite itself says "unable to open database file" for a missing directory and "attempt to
//! write a readonly database" both for a read-only file and for a writable file in a read-only
//! directory (where it cannot make its `-wal` and `-shm` files). After such a failure the file's
//! place is looked at, as the relay's user: the directory exists, the file and the directory are
//! writable.

use std::path::{Path, PathBuf};

use crate::storage::StorageError;

/// What is wrong with the place of the database at `path`, if anything is.
pub fn problem(path: &Path) -> Option<StorageError> {
    let file = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let directory = directory_of(&file);
    if !directory.exists() {
        return Some(StorageError::Place(format!(
            "the directory {} does not exist: create it (mkdir -p), or give --db a file in an existing directory",
            directory.display()
        )));
    }
    if !directory.is_dir() {
        return Some(StorageError::Place(format!("{} is not a directory", directory.display())));
    }
    if file.is_dir() {
        return Some(StorageError::Place(format!(
            "{} is a directory: give --db the database file in it",
            file.display()
        )));
    }
    if file.exists() && !writable(&file) {
        return Some(StorageError::Place(format!(
            "the database file {} is read-only for this user ({}): give the relay's user write access to it",
            file.display(),
            owner_and_mode(&file)
        )));
    }
    if !writable(&directory) {
        return Some(StorageError::Place(format!(
            "the directory {} is read-only for this user ({}): SQLite makes its {name}-wal and {name}-shm files beside the database, so the relay's user must be able to write the directory, not only the file",
            directory.display(),
            owner_and_mode(&directory),
            name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        )));
    }
    None
}

/// The directory holding `file` (an absolute path).
fn directory_of(file: &Path) -> PathBuf {
    file.parent().map_or_else(|| PathBuf::from("/"), Path::to_owned)
}

/// Whether this process may write `path` (as the kernel decides: root may write a file whose
/// mode says read-only, nobody may write on a read-only mount).
fn writable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use rustix::fs::{Access, access};
        access(path, Access::WRITE_OK).is_ok()
    }
    #[cfg(not(unix))]
    {
        std::fs::metadata(path).map(|m| !m.permissions().readonly()).unwrap_or(false)
    }
}

/// "owner uid 0, mode 555; the relay runs as uid 65534", for the operator to compare.
fn owner_and_mode(path: &Path) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match std::fs::metadata(path) {
            Ok(meta) => format!(
                "owner uid {}, mode {:o}; the relay runs as uid {}",
                meta.uid(),
                meta.mode() & 0o7777,
                rustix::process::geteuid().as_raw()
            ),
            Err(e) => e.to_string(),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        "read-only".to_owned()
    }
}
