//! Tasks nobody holds (待改派 / to reassign): given to someone who is no longer a member of the
//! compound (removed since, or never one: an offline coordinator's assignment that arrived after
//! the removal) and not knocked on yet. The removed person's phone was wiped and a volunteer may
//! claim only an unassigned task (`volunteers_claim_only_free_tasks`), so nobody will go to the
//! door until a coordinator reassigns it: such a task is neither assigned (nobody holds it) nor
//! open (nobody may claim it). The documents hold person IDs only; who is a member is the relay's
//! members list, so only a caller that knows it (the dashboard) can tell these apart.

use crate::id::PersonId;
use crate::schema::task::Task;
use crate::schema::vocabulary::TaskStatus;

/// Whether `task` is assigned, not knocked on yet, to someone `is_member` says is not a member.
pub fn needs_reassigning(task: &Task, is_member: impl Fn(PersonId) -> bool) -> bool {
    task.status() == TaskStatus::Assigned && task.assignee.is_some_and(|p| !is_member(p))
}
