//! Replica failures.

use doorstep_core::OperationError;
use doorstep_core::document::DocumentError;
use doorstep_core::id::CompoundId;
use doorstep_core::sync::SyncError;

/// Why a replica call failed. Nothing acknowledged is lost when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    /// Another person is to sign in on this phone while the changes of the person signed in now
    /// are not yet synced, or changes of theirs set aside are not yet sent for review: they would
    /// go up under the new person's token and be refused.
    #[error(
        "本机还有 {unsynced} 项未同步的记录、{to_send} 项待提交协调员处理的搁置记录，请先同步，再换人登录 / \
         this phone holds {unsynced} changes not yet synced and {to_send} set-aside changes not yet \
         sent for review, by the person signed in; sync them before another person signs in here"
    )]
    UnsyncedHandOver {
        /// Changes not yet synced.
        unsynced: usize,
        /// Set-aside changes not yet sent to the coordinators' review inbox.
        to_send: usize,
    },
    /// The SQLite file could not be read or written.
    #[error("local storage: {0}")]
    Storage(#[from] rusqlite::Error),
    /// Another replica has the file open: another copy of the app, or a command still running.
    #[error(
        "本机数据正被另一个程序使用，请关闭它或等它结束后再试 / this phone's data is open in another copy of the app (or another command is still running): close it, or let it finish, and try again"
    )]
    InUse,
    /// The lock file beside the replica file could not be made or locked.
    #[error("local storage: the lock file {path} could not be used: {reason}")]
    LockFile {
        /// The lock file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The local file was written by a newer app version.
    #[error("local database has schema version {found}; this app supports up to {supported}. Update the app")]
    StoreTooNew {
        /// Its version.
        found: i64,
        /// Ours.
        supported: i64,
    },
    /// A stored document could not be loaded.
    #[error(transparent)]
    Document(#[from] DocumentError),
    /// The operation was refused; nothing changed.
    #[error(transparent)]
    Operation(#[from] OperationError),
    /// This device is not a member of the compound (or has not synced it yet).
    #[error("this device holds no compound {0}; join it and sync first")]
    UnknownCompound(CompoundId),
    /// This device has not joined yet: no person or role.
    #[error("this device has not joined a compound yet; join with an invite code first")]
    NotJoined,
    /// A sync step failed.
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// The operation journal could not be written or read.
    #[error("operation journal: {0}")]
    Journal(String),
    /// The file could not be scrubbed because another connection holds it open.
    #[error(
        "local storage is in use by another process, so deleted data could not be wiped from the file yet; close other copies of the app and sync again"
    )]
    ScrubIncomplete,
    /// The file is encrypted and was opened without a key.
    #[error(
        "本机数据已加密，需要密钥 / this phone's data is encrypted: open it with its key (command-line phone: --key-file FILE)"
    )]
    KeyRequired,
    /// The file is encrypted with another key.
    #[error(
        "密钥不对，无法打开本机数据 / this key does not open this phone's data: it was encrypted with another key"
    )]
    WrongKey,
    /// A key that is not a key.
    #[error("not a usable replica key: {reason}")]
    BadKey {
        /// What is wrong with it.
        reason: String,
    },
    /// A stored value did not decrypt with the file's key: damaged, or moved from another row.
    #[error("a stored value ({what}) could not be decrypted: the file is damaged or was tampered with")]
    Undecryptable {
        /// Which value.
        what: String,
    },
    /// The stored device actor is malformed.
    #[error("stored device identity is corrupt: {0}")]
    BadIdentity(String),
}
