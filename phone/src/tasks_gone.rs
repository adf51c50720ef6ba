//! What became of the tasks a sync took off the volunteer's list: cancelled by a coordinator
//! (and why), given to someone else, delivered by someone else, or gone with a round closed.
//! Before, they just were not listed any more, and a volunteer with a bag for the door could
//! not tell a task cancelled because the resident went to hospital from one passed to a
//! colleague (helper finding). The tasks of a compound the person was removed from went with
//! the removal: one line says so, not one "its round was closed" per door (black-box finding:
//! 41 such lines about a round still open).

use std::collections::BTreeMap;

use doorstep_core::id::TaskId;
use doorstep_core::query;
use doorstep_core::schema::task::Task;
use doorstep_core::schema::vocabulary::{Outcome, TaskStatus};
use doorstep_replica::Replica;

use crate::people::People;

/// The person's tasks still to do, each with its door as the list shows it and its compound's
/// name.
#[derive(Debug, Default)]
pub struct MyTasks {
    tasks: BTreeMap<TaskId, (String, String)>,
}

impl MyTasks {
    /// The signed-in person's tasks still to do on `replica`.
    pub fn of(replica: &Replica) -> Self {
        let Some(me) = replica.identity().map(|i| i.person) else { return Self::default() };
        let tasks = replica
            .compounds()
            .flat_map(|c| query::doors_for(c, Some(me)).into_iter().map(move |door| (c.name(), door)))
            .flat_map(|(compound, door)| {
                let address = door.household.address.to_string();
                door.tasks
                    .into_iter()
                    .map(move |t| (t.id, (format!("{address} {}", t.items), compound.clone())))
            })
            .collect();
        Self { tasks }
    }

    /// One line for each of these tasks that `after` no longer lists as the person's, saying
    /// what became of it; a task they delivered themselves is no news. The tasks of the
    /// compounds named in `removed_from` (the person was removed by this sync) get one line.
    pub fn gone(&self, after: &Replica, removed_from: &[String]) -> Vec<String> {
        let Some(me) = after.identity().map(|i| i.person) else { return Vec::new() };
        let still = Self::of(after);
        let people = People::of(after);
        // A name in English and in Chinese: the name twice, or words for someone unnamed (a
        // volunteer's phone knows its coordinators' names, not its colleagues').
        let names = |p: Option<_>| match p.and_then(|p| people.name(p)) {
            Some(name) => (name.to_owned(), name.to_owned()),
            None => ("another volunteer".to_owned(), "另一位志愿者".to_owned()),
        };
        let held: BTreeMap<TaskId, Task> =
            after.compounds().flat_map(|c| c.tasks()).map(|t| (t.id, t)).collect();
        let mut lines = Vec::new();
        let mut with_removal = 0;
        for (id, (door, compound)) in &self.tasks {
            if still.tasks.contains_key(id) {
                continue;
            }
            if !held.contains_key(id) && removed_from.contains(compound) {
                with_removal += 1;
                continue;
            }
            let line = match held.get(id) {
                None => format!(
                    "{door}: its round was closed, or is no longer on this phone — don't go unless a coordinator asks / 该轮已结束，如无协调员通知请勿前往"
                ),
                Some(task) => match (&task.cancelled, task.status(), task.assignee) {
                    (Some(c), _, _) => format!(
                        "{door}: cancelled by {} ({}) — don't deliver / {}已取消（{}），请勿送达",
                        people.coordinator_words(c.by).0,
                        c.reason,
                        people.coordinator_words(c.by).1,
                        c.reason
                    ),
                    (None, TaskStatus::Delivered, _) => {
                        let by = task
                            .attempts
                            .iter()
                            .find(|a| a.outcome == Outcome::Delivered)
                            .map(|a| a.knocker());
                        if by == Some(me) {
                            continue;
                        }
                        let (en, zh) = names(by);
                        format!(
                            "{door}: delivered by {en} — don't deliver again / 已由{zh}送达，请勿重复送达"
                        )
                    }
                    (None, _, Some(other)) if other != me => {
                        let (en, zh) = names(Some(other));
                        format!("{door}: now assigned to {en} / 已改派给{zh}")
                    }
                    (None, _, _) => {
                        format!("{door}: no longer assigned to you (released to anyone) / 已不再分配给你")
                    }
                },
            };
            lines.push(line);
        }
        if with_removal > 0 {
            let (zh, en) = (removed_from.join("、"), removed_from.join(", "));
            let tasks = if with_removal == 1 { "task" } else { "tasks" };
            lines.push(format!(
                "your {with_removal} {tasks} in {en} went with the removal — don't go unless a coordinator asks / 你在 {zh} 的 {with_removal} 项任务已随移出一并清除，如无协调员通知请勿前往"
            ));
        }
        lines
    }
}
