//! The command-line phone's key file: the 32-byte key that encrypts its replica, as 64 hex
//! digits. A phone app keeps this key in the Android Keystore or the iOS Keychain instead.

use std::io::Write as _;
use std::path::Path;

use doorstep_replica::ReplicaKey;

use super::PhoneError;

/// The key in `path`, or a fresh one written there (owner-only) when the file does not exist.
pub fn read_or_create(path: &Path) -> Result<ReplicaKey, PhoneError> {
    let problem = |reason: String| PhoneError::KeyFile { path: path.display().to_string(), reason };
    match std::fs::read_to_string(path) {
        Ok(text) => ReplicaKey::from_hex(&text).map_err(|e| problem(e.to_string())),
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
            Ok(key)
        }
        Err(e) => Err(problem(format!("cannot read it: {e}"))),
    }
}
