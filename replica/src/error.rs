//! Replica failures.

use doorstep_core::OperationError;
use doorstep_core::document::DocumentError;
use doorstep_core::id::CompoundId;
use doorstep_core::sync::SyncError;

/// What the volunteer is told when an answer does not read as the relay's.
pub const NOT_FROM_THE_RELAY: &str = "收到的回应不是中继发出的（可能是 Wi-Fi 登录页面，或连接中断了）；工作已保存在手机上，请再试一次 / the answer did not come from the relay (a Wi-Fi sign-in page or a broken link?); your work is kept on this phone; try again";

/// Why a replica call failed. Nothing acknowledged is lost when one is returned.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    /// Another person is to sign in on this phone while the changes of the person signed in now
    /// are not yet synced, or changes of theirs set aside are not yet sent for review: they would
    /// go up under the new person's token and be refused.
    #[error(
        "本机还有 {unsynced} 项未同步的记录、{to_send} 项待提交协调员处理的搁置记录，请先同步，再换人登录 / \
         this phone holds {} not yet synced and {} not yet sent for review, by the person signed \
         in; sync them before another person signs in here",
        count(*.unsynced, "change", "changes"),
        count(*.to_send, "set-aside change", "set-aside changes")
    )]
    UnsyncedHandOver {
        /// Changes not yet synced.
        unsynced: usize,
        /// Set-aside changes not yet sent to the coordinators' review inbox.
        to_send: usize,
    },
    /// The SQLite file could not be read or written.
    #[error("local storage: {0}")]
    Storage(rusqlite::Error),
    /// The phone's storage is full (`SQLITE_FULL`, or the shared-memory index that could not
    /// grow): nothing new could be written, and nothing recorded before was lost.
    #[error(
        "手机存储空间已满，新的记录无法保存；请清理一些空间后再试，已记录的工作都还在 / phone storage is full: free some space and try again; what you recorded is kept"
    )]
    StorageFull(#[source] rusqlite::Error),
    /// The replica's file (or its folder, or the phone's storage) is read-only (`SQLITE_READONLY`):
    /// failing flash that the system remounted read-only, or a file without write permission.
    /// What is recorded can still be read.
    #[error(
        "手机存储变成了只读，新的记录无法保存（存储可能出了故障）；已记录的工作都还在，可以查看；请重启手机后再试 / this phone's storage has become read-only (it may be failing): nothing new can be saved, and what you recorded is kept and can still be viewed; restart the phone and try again"
    )]
    StorageReadOnly(#[source] rusqlite::Error),
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
    #[error(
        "本机数据由更新版本的应用写入（版本 {found}，本应用最多支持 {supported}），请更新应用 / \
         local database has schema version {found}; this app supports up to {supported}. Update the app"
    )]
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
    /// An answer to a sync that does not decode as the relay's: an empty or cut body, or a page
    /// from something on the way (a Wi-Fi sign-in page not labelled as one). The detail (the
    /// decoder's) is for the log; nothing was applied.
    #[error("{NOT_FROM_THE_RELAY}")]
    NotTheRelaysAnswer(String),
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

impl From<rusqlite::Error> for ReplicaError {
    /// A full or read-only storage is told as such (the volunteer can act on it); every other
    /// SQLite failure is [`ReplicaError::Storage`].
    fn from(error: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        use rusqlite::ffi::SQLITE_IOERR_SHMSIZE;
        match &error {
            rusqlite::Error::SqliteFailure(e, _) if e.code == ErrorCode::DiskFull => {
                ReplicaError::StorageFull(error)
            }
            // The `-shm` index could not be made or grown: no space left for it.
            rusqlite::Error::SqliteFailure(e, _) if e.extended_code == SQLITE_IOERR_SHMSIZE => {
                ReplicaError::StorageFull(error)
            }
            rusqlite::Error::SqliteFailure(e, _) if e.code == ErrorCode::ReadOnly => {
                ReplicaError::StorageReadOnly(error)
            }
            _ => ReplicaError::Storage(error),
        }
    }
}

/// "1 change", "2 changes".
fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 { format!("1 {one}") } else { format!("{n} {many}") }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rusqlite::ffi;

    fn failure(extended_code: std::ffi::c_int) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(extended_code), None)
    }

    #[test]
    fn a_full_or_read_only_storage_says_so_and_that_the_work_is_kept() {
        for code in [ffi::SQLITE_FULL, ffi::SQLITE_IOERR_SHMSIZE] {
            let e = ReplicaError::from(failure(code));
            assert!(matches!(e, ReplicaError::StorageFull(_)), "{code}: {e:?}");
            let shown = e.to_string();
            assert!(shown.contains("手机存储空间已满") && shown.contains("phone storage is full"), "{shown}");
            assert!(shown.contains("what you recorded is kept"), "{shown}");
        }
        for code in [ffi::SQLITE_READONLY, ffi::SQLITE_READONLY_DBMOVED, ffi::SQLITE_READONLY_CANTINIT] {
            let e = ReplicaError::from(failure(code));
            assert!(matches!(e, ReplicaError::StorageReadOnly(_)), "{code}: {e:?}");
            let shown = e.to_string();
            assert!(shown.contains("只读") && shown.contains("read-only"), "{shown}");
            assert!(shown.contains("what you recorded is kept"), "{shown}");
        }
        let other = ReplicaError::from(failure(ffi::SQLITE_CORRUPT));
        assert!(matches!(other, ReplicaError::Storage(_)), "{other:?}");
    }

    #[test]
    fn a_hand_over_refused_for_one_change_says_one_change() {
        let one = ReplicaError::UnsyncedHandOver { unsynced: 1, to_send: 1 }.to_string();
        assert!(one.contains("holds 1 change not yet synced and 1 set-aside change not yet sent"), "{one}");
        let two = ReplicaError::UnsyncedHandOver { unsynced: 2, to_send: 0 }.to_string();
        assert!(two.contains("holds 2 changes not yet synced and 0 set-aside changes not yet sent"), "{two}");
    }
}
