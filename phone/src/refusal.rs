//! Core's refusals of an operation on a task, said the way a volunteer reads them: the door, the
//! round and the people by name, the rule in Chinese and English, and never an ID.

use doorstep_core::OperationError;
use doorstep_replica::ReplicaError;

use crate::PhoneError;
use crate::handle::Named;
use crate::people::People;

/// What the volunteer tried.
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
    /// "cannot claim the task at 香樟苑 1号楼1单元101 (蔬菜包 第1轮)" and its Chinese.
    fn cannot(self, task: &Named) -> (String, String) {
        let (address, round) = (&task.address, &task.round_title);
        let en = match self {
            Action::Claim => "claim",
            Action::Release => "release",
            Action::Attempt => "record an attempt on",
        };
        let zh = match self {
            Action::Claim => format!("无法领取{address}（{round}）的任务"),
            Action::Release => format!("无法放弃{address}（{round}）的任务"),
            Action::Attempt => format!("无法为{address}（{round}）的任务记录上门"),
        };
        (format!("cannot {en} the task at {address} ({round})"), zh)
    }
}

/// `error` said with `task`'s door, round and people; errors that are not about the task pass
/// through as they are.
pub fn explain(error: ReplicaError, action: Action, task: &Named, people: &People) -> PhoneError {
    let ReplicaError::Operation(refused) = error else { return error.into() };
    let (cannot, cannot_zh) = action.cannot(task);
    let text = match refused {
        OperationError::AlreadyAssigned { to, .. } => {
            let (who, who_zh) = people.holder_words(to);
            format!(
                "{cannot}: {who} holds it; only an unassigned task can be claimed / {cannot_zh}：已由{who_zh}领取，只能领取未分配的任务"
            )
        }
        OperationError::Forbidden { rule, .. } => {
            let (held, held_zh) = task.task.assignee.map_or_else(
                || (String::new(), String::new()),
                |p| {
                    let (who, who_zh) = people.holder_words(p);
                    (format!(", which {who} holds"), format!("（由{who_zh}领取）"))
                },
            );
            format!("{cannot}{held}: {} / {cannot_zh}{held_zh}：{}", rule.explain(), rule.explain_zh())
        }
        OperationError::RoundClosed(_) => format!(
            "{cannot}: the round {title} is closed and takes no more changes; tell a coordinator / {cannot_zh}：配送轮次 {title} 已结束，不再接受修改，请告知协调员",
            title = task.round_title
        ),
        OperationError::TaskCancelled(_) => {
            let cancellation = task.task.cancelled.as_ref();
            let (who, who_zh) = cancellation.map_or_else(
                || ("a coordinator".to_owned(), "协调员".to_owned()),
                |c| people.coordinator_words(c.by),
            );
            let reason = cancellation.map(|c| c.reason.trim()).filter(|r| !r.is_empty());
            let because = reason.map_or_else(String::new, |r| format!(" ({r})"));
            let because_zh = reason.map_or_else(String::new, |r| format!("（{r}）"));
            format!(
                "{cannot}: {who} cancelled it{because}; ask them before delivering / {cannot_zh}：{who_zh}已取消该任务{because_zh}，送达前请先联系协调员"
            )
        }
        OperationError::UnknownTask { .. } | OperationError::UnknownRound(_) => format!(
            "{cannot}: it is no longer on this phone; sync and look again / {cannot_zh}：该任务已不在本机，请同步后再查看"
        ),
        other => return ReplicaError::Operation(other).into(),
    };
    PhoneError::TaskRefused(text)
}
