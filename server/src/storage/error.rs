//! Why a storage call failed. Callers tell "the caller did something wrong" (an invite that is
//! used up, an actor that belongs to someone else) from "the store is broken" (I/O, corruption),
//! because the first is a 4xx with a reason and the second a 503 that a retry may cure.

use doorstep_core::id::PersonId;

/// Why an invite code cannot be redeemed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InviteProblem {
    /// No invite has this code.
    #[error(
        "no invite has this code; check it for typos or ask your coordinator for a new one (没有这个邀请码：请核对是否输错，或向协调员要一个新的邀请码)"
    )]
    Unknown,
    /// The invite was redeemed already (invites are single-use).
    #[error(
        "this invite code was used already; each code joins one device, so ask your coordinator for a new one (此邀请码已被使用，每个邀请码只能加入一台手机，请向协调员要一个新的邀请码)"
    )]
    Used,
    /// The invite is past its expiry.
    #[error(
        "this invite code has expired; ask your coordinator for a new one (此邀请码已过期，请向协调员要一个新的邀请码)"
    )]
    Expired,
    /// Whoever made the invite may no longer invite people in its role to its compound (removed
    /// from it, or no longer coordinating it).
    #[error(
        "this invite code was made by someone who can no longer invite people to this compound; ask a coordinator for a new one (生成此邀请码的人已无权邀请他人加入这个小区，请向协调员要一个新的邀请码)"
    )]
    MakerMayNoLongerInvite,
    /// The invite was made on a phone revoked since (reported lost): whoever holds that phone
    /// may hold the code too.
    #[error(
        "this invite code was made on a phone that has since been reported lost and revoked; ask a coordinator for a new one (此邀请码是在一台已挂失停用的手机上生成的，请向协调员要一个新的邀请码)"
    )]
    MadeOnARevokedDevice,
    /// The invite's join sent again with its join key, but the person it made has been removed
    /// from its compound since: their way back is a new invite, not this one's device.
    #[error(
        "you were removed from this compound; ask a coordinator for a new invite (你已被移出这个小区，如需重新加入，请向协调员要一个新的邀请码)"
    )]
    JoinerRemoved,
}

/// A failed storage call.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// An invite could not be redeemed.
    #[error(transparent)]
    Invite(#[from] InviteProblem),
    /// An Automerge actor is already bound to another person.
    #[error("actor {actor} is bound to person {owner}")]
    ActorTaken {
        /// The actor, as hex.
        actor: String,
        /// Who it belongs to.
        owner: PersonId,
    },
    /// A row refers to something that does not exist (an unknown compound or person).
    #[error("{0}")]
    NotFound(String),
    /// A stored value does not parse (an ID, a role or a kind written by a newer relay, or a
    /// damaged file).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database was written by a newer relay.
    #[error(
        "the database has schema version {found}, newer than this relay's {supported}; run a newer doorstep"
    )]
    TooNew {
        /// The file's version.
        found: i64,
        /// Ours.
        supported: i64,
    },
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed, or the connection to it did: the driver's words and PostgreSQL's own
    /// beneath them (the driver alone says only "db error").
    #[error("postgres: {}", with_causes(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// PostgreSQL refused the relay's connection (a wrong password, no such database), or a
    /// connection failed otherwise than by not answering: host and port named, and what the
    /// server said.
    #[error("{0}")]
    Connect(String),
    /// PostgreSQL did not answer: nothing listens at its address yet, the network does not
    /// carry, or the server is starting up or shutting down. A relay starting beside it (a
    /// power cut, the relays back first) waits for it; every other refusal is the address's.
    #[error("{0}")]
    Unreachable(String),
    /// The database answers but cannot serve the relay until its operator acts: PostgreSQL
    /// refusing writes (a standby, `default_transaction_read_only`), or holding none of the
    /// relay's tables (dropped and made again). Said with what to do, in both languages.
    #[error("{0}")]
    CannotServe(String),
    /// No PostgreSQL connection could be had from the pool.
    #[error("postgres connection pool: {0}")]
    Pool(String),
    /// A compound's write turn (`Storage::write_turn`) was not had in time, or ended before its
    /// writer committed: nothing was stored, and trying again is the remedy.
    #[error("{0}")]
    TurnNotHeld(String),
    /// The file holds tables but no relay schema version: another application's, or a copy of
    /// a relay's database that lost its version.
    #[error("{0}")]
    Unrecognised(String),
    /// Another relay serves this SQLite file (it holds the lock file beside it).
    #[error(
        "{holder} is serving {path} (it holds {lock}); one relay per SQLite file: stop that relay first, or give this one another --db (several relays share one database only on PostgreSQL)"
    )]
    ServedElsewhere {
        /// "another relay (pid N)", or without the pid when the lock file does not say.
        holder: String,
        /// The database file.
        path: String,
        /// The lock file beside it.
        lock: String,
    },
    /// The lock file beside an SQLite database could not be opened or locked.
    #[error("cannot take the lock file {path}: {reason}")]
    LockFile {
        /// The lock file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The SQLite file's place does not let it be opened (a missing directory, a read-only file
    /// or directory), said with what to do.
    #[error("{0}")]
    Place(String),
    /// The database address is not one this relay can open.
    #[error("{0}")]
    BadAddress(String),
    /// A set-aside item was decided already (by another coordinator, or the same one twice).
    #[error("set-aside item {0} was decided already")]
    AlreadyDecided(i64),
    /// The blocking task running the query panicked or was cancelled.
    #[error("storage task failed: {0}")]
    Task(String),
}

impl StorageError {
    /// Whether the database refused a write for want of disk space (SQLite's `SQLITE_FULL`,
    /// PostgreSQL's `disk_full`): the operator must free space; a retry after that succeeds.
    pub fn is_out_of_space(&self) -> bool {
        match self {
            StorageError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => {
                e.code == rusqlite::ErrorCode::DiskFull
            }
            StorageError::Postgres(e) => e.code() == Some(&tokio_postgres::error::SqlState::DISK_FULL),
            _ => false,
        }
    }

    /// Whether PostgreSQL refused a write as read-only (`25006`): a standby, or
    /// `default_transaction_read_only` on.
    pub fn is_read_only(&self) -> bool {
        matches!(self, StorageError::Postgres(e) if e.code() == Some(&tokio_postgres::error::SqlState::READ_ONLY_SQL_TRANSACTION))
    }

    /// This error, or, when it is a write refused as read-only at the relay's start (its tables
    /// brought up to date, its admin made), one saying so and what to do: it read PostgreSQL's
    /// "cannot execute INSERT in a read-only transaction", twice, and nothing of what to do.
    #[must_use]
    pub fn said_at_start(self) -> StorageError {
        if !self.is_read_only() {
            return self;
        }
        StorageError::CannotServe(
            "the database refuses writes (read-only: a PostgreSQL standby, or default_transaction_read_only on), so the relay cannot start on it: point --db at the primary, or turn read-only off (数据库只读：请改连主库或关闭只读)"
                .to_owned(),
        )
    }

    /// Whether PostgreSQL said a table of the relay's does not exist (`42P01`): the database was
    /// dropped and made again under the relay.
    pub fn is_missing_tables(&self) -> bool {
        matches!(self, StorageError::Postgres(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE))
    }
}

impl StorageError {
    /// What a person who asked for a write should be told when the store cannot take writes
    /// until its operator acts (a full disk, a damaged file), in both languages; `None` for a
    /// failure a retry may cure. Without it a coordinator read "try again shortly" and tried
    /// again, for ever, while `/healthz` already named the cause.
    pub fn needs_the_operator(&self) -> Option<&'static str> {
        if self.is_out_of_space() {
            Some(
                "nothing was saved: the disk holding the relay's database is full; ask whoever runs the relay to free space on that disk, then do this again (未保存：中继数据库所在的磁盘已满，请联系中继运维人员清理磁盘后再试)",
            )
        } else if self.is_read_only() {
            Some(
                "nothing was saved: the relay's PostgreSQL database refuses writes (read-only: a standby, or default_transaction_read_only); ask whoever runs the relay to point it at the primary (未保存：中继的 PostgreSQL 数据库只读，请联系中继运维人员改连主库)",
            )
        } else if self.is_missing_tables() {
            Some(
                "nothing was saved: the relay's PostgreSQL database holds none of its tables (dropped and made again?); ask whoever runs the relay to restore it from a backup (DEPLOY.md) and restart the relays (未保存：中继的 PostgreSQL 数据库中没有 Doorstep 的数据表，请联系中继运维人员从备份恢复并重启中继)",
            )
        } else if crate::storage::sqlite::integrity::is_damage(self) {
            Some(
                "nothing was saved: the relay's database file is damaged; ask whoever runs the relay to restore it from a backup (DEPLOY.md) (未保存：中继的数据库文件已损坏，请联系中继运维人员从备份恢复)",
            )
        } else {
            None
        }
    }
}

/// An error and every cause beneath it, in one line.
fn with_causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let said = inner.to_string();
        if !text.ends_with(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        cause = inner.source();
    }
    text
}
