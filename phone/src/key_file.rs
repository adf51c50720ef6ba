//! The command-line phone's key file: the 32-byte key that encrypts its replica, as 64 hex
//! digits. A phone app keeps this key in the Android Keystore or the iOS Keychain instead. By
//! default it lives next to the phone's file (see `next_to`).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use doorstep_replica::ReplicaKey;

use super::PhoneError;

/// The default key file of the phone's file `db`: its name with `.key` added, beside it
/// (`phone.sqlite` → `phone.sqlite.key`).
pub fn next_to(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".key");
    PathBuf::from(name)
}

/// The key in `path`, or a fresh one written there (owner-only) when the file does not exist;
/// says whether it was made now.
pub fn read_or_create(path: &Path) -> Result<(ReplicaKey, bool), PhoneError> {
    let problem = |reason: String| PhoneError::KeyFile { path: path.display().to_string(), reason };
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((ReplicaKey::from_hex(&text).map_err(|e| problem(e.to_string()))?, false)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = ReplicaKey::generate();
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(path).map_err(|e| problem(format!("cannot create it: {e}")))?;
            writeln!(file, "{}", key.to_hex())
                .and_then(|()| file.sync_all())
                .map_err(|e| problem(format!("cannot write it: {e}")))?;
            tracing::info!(path = %path.display(), "a new replica key was written");
            Ok((key, true))
        }
        Err(e) => Err(problem(format!("cannot read it: {e}"))),
    }
}
