//! Core's refusals of an operation on a task, said the way a volunteer reads them: the door, the
//! round and the people by name, the rule in Chinese and English, and never an ID.

use doorstep_core::OperationError;
use doorstep_replica::ReplicaError;

use crate::PhoneError;
use crate::handle::Named;
use crate::people::People;

/// What the volunteer tried, in both languages.
#[derive(Debug, Clone, Copy)]
pub enum Action {
    /// `claim`.
    Claim,
    /// `release`.
    Release,
    /// `attempt`.
    Attempt,
}

impl Action {
    fn words(self) -> (&'static str, &'static str) {
        match self {
            Action::Claim => ("claim", "领取"),
            Action::Release => ("release", "放弃"),
            Action::Attempt => ("record an attempt at", "记录上门"),
        }
    }
}

/// `error` said with `task`'s door, round and people; errors that are not about the task pass
/// through as they are.
pub fn explain(error: ReplicaError, action: Action, task: &Named, people: &People) -> PhoneError {
    let ReplicaError::Operation(refused) = error else { return error.into() };
    let (en, zh) = action.words();
    let at = format!("{} ({})", task.address, task.round_title);
    let at_zh = format!("{}（{}）", task.address, task.round_title);
    let text = match refused {
        OperationError::AlreadyAssigned { to, .. } => {
            let who = people.holder(to);
            format!(
                "cannot {en} the task at {at}: {who} holds it; only an unassigned task can be claimed / 无法{zh}{at_zh}的任务：已由{who}领取，只能领取未分配的任务"
            )
        }
        OperationError::Forbidden { rule, .. } => {
            let holder = task.task.assignee.map(|p| people.holder(p));
            let held = holder.as_ref().map_or_else(String::new, |who| format!(" ({who} holds it)"));
            let held_zh = holder.as_ref().map_or_else(String::new, |who| format!("（由{who}领取）"));
            format!(
                "cannot {en} the task at {at}{held}: {} / 无法{zh}{at_zh}的任务{held_zh}：{}",
                rule.explain(),
                rule.explain_zh()
            )
        }
        OperationError::RoundClosed(_) => format!(
            "cannot {en} the task at {at}: the round {title} is closed and takes no more changes; tell a coordinator / 无法{zh}{at_zh}的任务：配送轮次 {title} 已结束，不再接受修改，请告知协调员",
            title = task.round_title
        ),
        OperationError::TaskCancelled(_) => {
            let cancellation = task.task.cancelled.as_ref();
            let who = cancellation.map_or_else(|| "a coordinator / 协调员".to_owned(), |c| people.coordinator(c.by));
            let reason = cancellation.map(|c| c.reason.trim()).filter(|r| !r.is_empty());
            let because = reason.map_or_else(String::new, |r| format!(" ({r})"));
            let because_zh = reason.map_or_else(String::new, |r| format!("（{r}）"));
            format!(
                "cannot {en} the task at {at}: {who} cancelled it{because}; ask them before delivering / 无法{zh}{at_zh}的任务：{who} 已取消该任务{because_zh}，送达前请先联系协调员"
            )
        }
        OperationError::UnknownTask { .. } | OperationError::UnknownRound(_) => format!(
            "the task at {at} is no longer on this phone; sync and look again / {at_zh}的任务已不在本机，请同步后再查看"
        ),
        other => return ReplicaError::Operation(other).into(),
    };
    PhoneError::TaskRefused(text)
}
