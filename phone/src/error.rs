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
    /// A join whose answer did not arrive: the relay may or may not have taken it.
    #[error(
        "the join got no answer ({0}); run the same `doorstep phone join` again: this phone keeps its join key, so the same code still works for it / 加入没有收到回应；请再运行一次同样的加入命令，本机保留了加入密钥，同一个邀请码仍然有效"
    )]
    JoinUnanswered(String),
    /// A sync that left documents behind: the relay could not take them just now (`unavailable`:
    /// its disk full or its storage failing; a document at its limit), or their replies could not
    /// be applied. The report was printed; this makes `sync`'s exit status say it, for scripts
    /// and cron. Another person's changes held for their author are printed but not counted:
    /// they wait for that person's phone, not for this one.
    #[error(
        "{documents} did not sync this time ({rules}); this phone keeps their changes and sends them at its next sync / {count} 份文件本次未能同步，本机保留这些修改，下次同步时再发送",
        documents = if *.count == 1 { "1 document".to_owned() } else { format!("{} documents", .count) }
    )]
    SyncIncomplete {
        /// Documents left behind.
        count: usize,
        /// Their refusals' rule codes, comma-separated ("unavailable").
        rules: String,
    },
    /// The documents synced, but the work set aside for the coordinators' review did not reach
    /// the relay this time (the link dropped the exchange): kept, and sent at the next sync.
    #[error(
        "the work set aside for the coordinators' review did not reach the relay this time ({0}); this phone keeps it and sends it at its next sync, in smaller parts / 待协调员审核的记录本次未能上传（{0}），本机保留，下次同步时分批再发"
    )]
    SetAsideUnsent(String),
    /// The phone has not joined a compound.
    #[error(
        "this phone has not joined yet: run `doorstep phone join --relay URL --name YOUR-NAME CODE` first / 本机尚未加入小区：请先运行 `doorstep phone join`"
    )]
    NotJoined,
    /// Signed in, but the sign-in's first download was cut off (the link, or the app ended):
    /// nothing of the compound is on the phone yet, so there is nothing to show or record on.
    #[error(
        "signed in, but nothing has come from the relay yet (the download was cut off): run `doorstep phone sync` where there is signal / 已登录，但尚未从中继取得任何数据（下载中断）：请在有信号处运行 `doorstep phone sync`"
    )]
    NothingYet,
    /// A coordinator removed this phone (its membership, or its device token) and its compound
    /// data was wiped: "你已被移出 香樟苑 / removed from 香樟苑".
    #[error("{}", removed_message(.0))]
    Removed(Vec<String>),
    /// A `doorstep://` link that cannot be read, or of the wrong kind for the command.
    #[error("{0}")]
    BadLink(String),
    /// `login` with a token the relay does not know (mistyped, or cut short when pasted) that is
    /// not the one this phone signed in with: not a sign-in the relay lost, and the phone is
    /// left as it was.
    #[error(
        "the relay does not know this token: paste the whole token your coordinator gave you (it starts with dst_), or scan the sign-in QR code again / 中继不认识这个登录令牌：请完整粘贴协调员给你的令牌（以 dst_ 开头），或重新扫描登录二维码"
    )]
    UnknownToken,
    /// Neither `--relay` nor a link named the relay.
    #[error(
        "which relay? 请指定中继服务器: give --relay URL (or DOORSTEP_RELAY), or the doorstep:// link from the invite's QR code"
    )]
    NoRelay,
    /// Nothing the phone holds is named by what was typed.
    #[error(
        "no task at {0:?}: type the door `doorstep phone tasks` shows, e.g. 1-1-101 (or 1号楼1单元101) / 找不到 {0:?} 的任务：请输入 `doorstep phone tasks` 显示的门牌，如 1-1-101（或 1号楼1单元101）"
    )]
    UnknownTask(String),
    /// The door has no task in an open round.
    #[error(
        "{0} has no task in an open round; sync, then see `doorstep phone tasks --all` / {0} 没有进行中轮次的任务，请同步后用 `doorstep phone tasks --all` 查看"
    )]
    NoTaskAtDoor(String),
    /// What was typed names several tasks (a door with tasks in two rounds), or a number the
    /// door does not have: the choices, each with what to type.
    #[error(
        "{typed:?} does not name one task at {address}; type one of these / {typed:?} 不能确定 {address} 的哪一个任务，请输入以下之一:\n  {}",
        choices.join("\n  ")
    )]
    ChooseTask {
        /// What was typed.
        typed: String,
        /// The door (or doors).
        address: String,
        /// "1-1-101/2: 蔬菜包 第2轮, 生活物资 / Groceries, 待领取 / Open", one per task.
        choices: Vec<String>,
    },
    /// Core refused an operation on a task: the rule, said with the task's door, round and
    /// people named instead of IDs.
    #[error("{0}")]
    TaskRefused(String),
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
    #[error("{0} / {zh}", zh = lookup_zh(.0))]
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
    /// The relay's address is `https://` and this build has no HTTPS: it said "cannot reach the
    /// relay … syncs next time", which it never would.
    #[error(
        "{url} is an https:// address, and this doorstep was built without the phone's HTTPS (cargo feature `tls`): build it with `--features tls`, or use the relay's http:// address if it has one / 此版本不支持 https 地址，请用带 tls 功能编译的版本"
    )]
    NoHttps {
        /// The relay's address.
        url: String,
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

impl PhoneError {
    /// A stable code for what went wrong, for `--json`'s failure line: a script or an app that
    /// drives the phone decides on it (retry where there is signal, sign in again, pick a task)
    /// without reading the sentence.
    pub fn code(&self) -> &'static str {
        match self {
            PhoneError::Replica(ReplicaError::StoreTooNew { .. }) => "app_too_old",
            PhoneError::Replica(_) => "phone_storage",
            PhoneError::Transport(e) => transport_code(e),
            PhoneError::JoinUnanswered(_) => "join_unanswered",
            PhoneError::SyncIncomplete { .. } => "sync_incomplete",
            PhoneError::SetAsideUnsent(_) => "set_aside_unsent",
            PhoneError::NotJoined => "not_joined",
            PhoneError::NothingYet => "nothing_yet",
            PhoneError::Removed(_) => "removed",
            PhoneError::BadLink(_) => "bad_link",
            PhoneError::UnknownToken => "unknown_token",
            PhoneError::NoRelay => "no_relay",
            PhoneError::UnknownTask(_) => "unknown_task",
            PhoneError::NoTaskAtDoor(_) => "no_task_at_door",
            PhoneError::ChooseTask { .. } => "choose_task",
            PhoneError::TaskRefused(_) => "task_refused",
            PhoneError::TaskTaken { .. } => "task_taken",
            PhoneError::NoConflict(_) => "no_conflict",
            PhoneError::Lookup(_) => "address_not_found",
            PhoneError::SeveralCompounds(_) => "several_compounds",
            PhoneError::BadOperation(_) => "bad_operation",
            PhoneError::KeyFile { .. } => "key_file",
            PhoneError::CaCert { .. } => "ca_certificate",
            PhoneError::NoHttps { .. } => "no_https",
            PhoneError::Export { .. } => "export_file",
        }
    }
}

/// [`PhoneError::code`] of a failure talking to the relay.
fn transport_code(error: &TransportError) -> &'static str {
    match error {
        // No answer: the link, not the relay or the phone; try again where there is signal.
        TransportError::Network(_) => "no_signal",
        TransportError::Unauthorized(_) => "unauthorized",
        TransportError::Removed { .. } | TransportError::RevokedTokenTyped => "removed",
        TransportError::Forbidden(_) => "forbidden",
        TransportError::RateLimited { .. } => "rate_limited",
        TransportError::Refused { .. } => "refused",
        TransportError::Server { .. } => "relay_failed",
        TransportError::BadResponse(_) | TransportError::NotTheRelay(_) => "not_the_relay",
        TransportError::SignInToNetwork(_) => "sign_in_to_network",
        TransportError::Untrusted(_) | TransportError::BadCaCertificate(_) => "untrusted_relay",
        TransportError::AlreadyJoined { .. } => "already_joined",
        TransportError::Replica(_) => "phone_storage",
    }
}

/// A lookup error in Chinese, said after core's English.
fn lookup_zh(error: &doorstep_core::query::LookupError) -> String {
    use doorstep_core::query::LookupError;
    match error {
        LookupError::BadAddress(_) => {
            "无法识别这个地址，请写成 17号楼3单元702、17栋3单元702室 或 17-3-702".to_owned()
        }
        LookupError::NotFound(text) => format!("本小区没有 {text} 这一户"),
        LookupError::Ambiguous { text, candidates } => {
            format!("{text} 对应 {} 户：{}，请加上小区名或单元号", candidates.len(), candidates.join("、"))
        }
    }
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
