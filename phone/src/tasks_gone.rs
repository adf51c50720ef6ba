//! What became of the tasks a sync took off the volunteer's list: cancelled by a coordinator
//! (and why), given to someone else, delivered by someone else, or gone with a round closed.
//! Before, they just were not listed any more, and a volunteer with a bag for the door could
//! not tell a task cancelled because the resident went to hospital from one passed to a
//! colleague (helper finding).

use std::collections::BTreeMap;

use doorstep_core::id::TaskId;
use doorstep_core::query;
use doorstep_core::schema::task::Task;
use doorstep_core::schema::vocabulary::{Outcome, TaskStatus};
use doorstep_replica::Replica;

use crate::people::People;

/// The person's tasks still to do, each with its door as the list shows it.
#[derive(Debug, Default)]
pub struct MyTasks {
    tasks: BTreeMap<TaskId, String>,
}

impl MyTasks {
    /// The signed-in person's tasks still to do on `replica`.
    pub fn of(replica: &Replica) -> Self {
        let Some(me) = replica.identity().map(|i| i.person) else { return Self::default() };
        let tasks = replica
            .compounds()
            .flat_map(|c| query::doors_for(c, Some(me)))
            .flat_map(|door| {
                let address = door.household.address.to_string();
                door.tasks.into_iter().map(move |t| (t.id, format!("{address} {}", t.items)))
            })
            .collect();
        Self { tasks }
    }

    /// One line for each of these tasks that `after` no longer lists as the person's, saying
    /// what became of it; a task they delivered themselves is no news.
    pub fn gone(&self, after: &Replica) -> Vec<String> {
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
        for (id, door) in &self.tasks {
            if still.tasks.contains_key(id) {
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
        lines
    }
}
