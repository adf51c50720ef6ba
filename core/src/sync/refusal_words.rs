//! What a refusal's code means, in Chinese and in English: a rule of core's rule book, a code the
//! relay's engine answers with, or one the phone gives a change it set aside. The volunteer's
//! phone and the coordinators' set-aside inbox say a refusal in these same words.

use crate::permission::Rule;
use crate::relay_engine::rejection as relay;

/// The rule code of an operation set aside because it could not be carried out again once an
/// earlier one was refused.
pub const NOT_REAPPLIED: &str = "not_reapplied";

/// The rule code of changes set aside because the relay no longer lets the device hold their
/// document (a closed round, a revoked membership).
pub const DOCUMENT_WITHDRAWN: &str = "document_withdrawn";

/// The refusal `code` in Chinese and in English; a code nobody knows reads "the relay refused
/// this change".
pub fn refusal_words(code: &str) -> (&'static str, &'static str) {
    if let Some(rule) = Rule::from_code(code) {
        return (rule.explain_zh(), rule.explain());
    }
    match code {
        NOT_REAPPLIED => (
            "这项修改无法在中继最新的数据上重新执行",
            "this change could not be carried out again on the relay's latest copy",
        ),
        DOCUMENT_WITHDRAWN => (
            "这份文件已不再分配给本机（例如轮次已结束）",
            "the document is no longer this phone's (a round closed, say)",
        ),
        relay::HELD_FOR_ITS_AUTHOR => (
            "这项修改基于另一位成员手机上的记录，要等那部手机同步后才能上传",
            "it builds on another member's work that only their phone can send; it goes up once their phone has synced",
        ),
        relay::NOT_HELD => (
            "中继没有这份文件（可能从较早的备份恢复）；本机保留它和这些修改：若协调员的手机还有它，同步后会带回中继，这些修改随后上传；若没有（看板上建的轮次，或已结束的轮次），请把在这里做的记录告诉协调员",
            "the relay does not hold this document (restored from an older backup?); this phone keeps it and these changes: if a coordinator's phone still holds it, its next sync brings it back and these go up; if none does (a round planned on the dashboard, or one closed since), tell your coordinator what you recorded in it",
        ),
        // Not "busy" for a store that failed: a read-only or full database read "too busy"
        // (中继暂时忙不过来) for as long as its operator took to see to it.
        relay::UNAVAILABLE => ("中继暂时无法接收", "the relay could not take it just now"),
        relay::OVER_BUDGET => ("中继暂时忙不过来", "the relay was too busy to take it just now"),
        relay::DOCUMENT_FULL => {
            ("这份文件或本人今天的额度已满", "the document, or this person's share of it today, is full")
        }
        relay::TOO_LARGE => ("这项修改太大", "the change is too large"),
        // Before, "the relay refused this change" beside "could not take it now": the phone keeps
        // the changes, and only a restore of the relay's database helps.
        relay::DOCUMENT_DAMAGED => (
            "中继上的这份文件已损坏，要等中继的运维人员从备份恢复后才能上传",
            "the relay's copy of this document is damaged; it goes up once whoever runs the relay restores it from a backup",
        ),
        relay::TOO_MANY_HEADS => (
            "本机这份文件的分支太多，一次同步带不下",
            "this phone's copy of the document has more branches than a sync carries",
        ),
        relay::FORBIDDEN | relay::UNKNOWN_DOCUMENT => {
            ("本机无权修改这份文件", "this phone may not change this document")
        }
        _ => ("中继拒绝了这项修改", "the relay refused this change"),
    }
}
