//! Errors of the command-line phone, each with what to do about it.

use doorstep_replica::ReplicaError;
use doorstep_replica::http::{TransportError, removed_message};

/// Why a phone command failed.
#[derive(Debug, thiserror::Error)]
pub enum PhoneError {
    /// The local replica failed or refused the operation.
    #[error(transparent)]
    Replica(#[from] ReplicaError),
    /// Talking to the relay failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The phone has not joined a compound.
    #[error(
        "this phone has not joined yet: run `doorstep phone join --relay URL --name YOUR-NAME CODE` first / 本机尚未加入小区：请先运行 `doorstep phone join`"
    )]
    NotJoined,
    /// A coordinator removed this phone (its membership, or its device token) and its compound
    /// data was wiped: "你已被移出 香樟苑 / removed from 香樟苑".
    #[error("{}", removed_message(.0))]
    Removed(Vec<String>),
    /// A `doorstep://` link that cannot be read, or of the wrong kind for the command.
    #[error("{0}")]
    BadLink(String),
    /// Neither `--relay` nor a link named the relay.
    #[error(
        "which relay? 请指定中继服务器: give --relay URL (or DOORSTEP_RELAY), or the doorstep:// link from the invite's QR code"
    )]
    NoRelay,
    /// No task matches.
    #[error(
        "no open task matches {0:?}; run `doorstep phone tasks --all` to see task IDs / 没有与 {0:?} 相符的任务，请用 `doorstep phone tasks --all` 查看任务编号"
    )]
    UnknownTask(String),
    /// Several tasks match a prefix.
    #[error(
        "{0:?} matches several tasks; give more characters of the ID / {0:?} 与多个任务相符，请多输入几位编号"
    )]
    AmbiguousTask(String),
    /// The task to claim is someone else's already: named by its door, not its ID.
    #[error(
        "the task at {address} ({items}) is already assigned to another volunteer; only an unassigned task can be claimed / {address}（{items}）的任务已分配给其他志愿者，只能领取未分配的任务"
    )]
    TaskTaken {
        /// The door.
        address: String,
        /// What the task brings.
        items: String,
    },
    /// Nothing to review at the task or address given.
    #[error(
        "no conflict to review at {0:?} / 此处没有待核实的冲突; run `doorstep phone conflicts` to see them, and sync first if a coordinator settled it"
    )]
    NoConflict(String),
    /// The address did not lead to one household.
    #[error(transparent)]
    Lookup(#[from] doorstep_core::query::LookupError),
    /// The phone holds several compounds and the command needs one.
    #[error(
        "this phone holds {0} compounds; this command works on a phone with one / 本机有 {0} 个小区，此命令只适用于一个小区的手机"
    )]
    SeveralCompounds(usize),
    /// An `op` argument that is not an operation.
    #[error("not an operation / 不是有效的操作: {0}")]
    BadOperation(String),
    /// The key file could not be read or created.
    #[error(
        "key file {path}: {reason}; the phone's data cannot be opened without it (give another with --key-file) / 本机密钥文件 {path} 无法使用，没有它无法打开本机数据（可用 --key-file 指定）"
    )]
    KeyFile {
        /// The file.
        path: String,
        /// Why, and what to do.
        reason: String,
    },
    /// The relay's CA certificate (`--ca-cert`) could not be read or used.
    #[error(
        "CA certificate {path} (--ca-cert): {reason}; check the file the coordinator gave you / 中继证书 {path}（--ca-cert）无法使用，请检查协调员提供的证书文件"
    )]
    CaCert {
        /// The file.
        path: String,
        /// Why, and what to do.
        reason: String,
    },
    /// Writing an export file failed.
    #[error("cannot write {path}: {source} / 无法写入 {path}，请换一个位置")]
    Export {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has_chinese(text: &str) -> bool {
        text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
    }

    #[test]
    fn file_and_link_errors_are_said_in_chinese_too() {
        let errors = [
            PhoneError::KeyFile { path: "phone.db.key".into(), reason: "cannot read it: denied".into() },
            PhoneError::CaCert { path: "ca.pem".into(), reason: "cannot read it: missing".into() },
            PhoneError::Export {
                path: "out.json".into(),
                source: std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied"),
            },
            crate::wrong_link("an invite", "doorstep phone join"),
        ];
        for error in errors {
            let text = error.to_string();
            assert!(has_chinese(&text) && text.contains(" / "), "{text}");
        }
    }
}
