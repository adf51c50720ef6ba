//! Whether the PostgreSQL database can serve the relay, as `/healthz` asks it: that it answers
//! is not enough. Found by an operator's black-box run (stop 62): a database switched to
//! read-only (a standby after a failover, `default_transaction_read_only`), or dropped and made
//! again empty under running relays, answered `SELECT 1`, so `/healthz` said "ok" (200) while
//! every write failed and phones were told the relay was busy.

use tokio_postgres::SimpleQueryMessage;

use super::connect_error;
use crate::storage::StorageError;

/// One round trip: a standby, a read-only session, the relay's tables there.
pub(super) const PROBE: &str = "SELECT pg_is_in_recovery(), current_setting('transaction_read_only'), \
     to_regclass('devices') IS NOT NULL";

/// What the probe's answer says of the database at `config`: `Ok` when it can serve, else what
/// the operator must do.
pub(super) fn judge(
    config: &tokio_postgres::Config,
    answer: &[SimpleQueryMessage],
) -> Result<(), StorageError> {
    let row = answer.iter().find_map(|message| match message {
        SimpleQueryMessage::Row(row) => Some(row),
        _ => None,
    });
    let Some(row) = row else { return Ok(()) };
    let at = connect_error::address(config);
    let standby = row.get(0) == Some("t");
    let read_only = row.get(1) == Some("on");
    let has_tables = row.get(2) != Some("f");
    if standby || read_only {
        let why = if standby {
            "it is a standby in recovery (pg_is_in_recovery)"
        } else {
            "its sessions are read-only (default_transaction_read_only)"
        };
        return Err(StorageError::CannotServe(format!(
            "PostgreSQL at {at} refuses writes: {why}; every sync and dashboard change fails until the relay \
             is pointed at the primary or read-only is turned off (数据库只读：请改连主库或关闭只读)"
        )));
    }
    if !has_tables {
        return Err(StorageError::CannotServe(format!(
            "PostgreSQL at {at} holds none of the relay's tables (the database was dropped and made again?); \
             restore it from a backup (DEPLOY.md) and restart the relays (数据库中没有 Doorstep 的数据表：请从备份恢复并重启中继)"
        )));
    }
    Ok(())
}
