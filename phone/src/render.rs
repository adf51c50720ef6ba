//! What the phone prints: text for people, JSON (`--json`) for scripts and tests.

use std::collections::HashSet;
use std::io::Write as _;
use std::path::Path;

use doorstep_core::Applied;
use doorstep_core::id::{PersonId, TaskId};
use doorstep_core::query::{Conflict, ConflictReview, Counts, Door, HouseholdBook};
use doorstep_core::schema::household::Household;
use doorstep_core::schema::request::Request;
use doorstep_core::schema::task::{RoundInfo, Task};
use doorstep_core::schema::utc_offset::UtcOffset;
use doorstep_core::schema::vocabulary::TaskStatus;
use doorstep_replica::http::{JoinResponse, removed_message};
use doorstep_replica::{QuarantinedChange, Replica, SyncReport};
use serde::Serialize;
use serde_json::json;

use super::PhoneError;
use crate::handle::{Handles, NOT_IN_THE_ROSTER, Named, address_text, door_handle};
use crate::people::People;

/// Text or JSON.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
}

impl Output {
    fn emit(&self, value: impl Serialize, text: impl FnOnce() -> String) {
        let line = if self.json {
            serde_json::to_string(&value).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
        } else {
            printable(&text()).into_owned()
        };
        // A reader that went away (`… | head`) is not an error worth a panic.
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }

    /// A command that failed, with `--json`: one line on stdout, as every command's answer is,
    /// naming the failure's code and its sentence (stderr says it too, and the exit status is 1).
    /// Without `--json`, nothing here: the sentence on stderr is the person's answer.
    pub fn failed(&self, error: &PhoneError) {
        if self.json {
            self.emit(json!({"error": error.code(), "message": error.to_string()}), String::new);
        }
    }

    /// `join`: who joined which compound, named as the volunteer reads them.
    pub fn joined(&self, joined: &JoinResponse, name: &str, compound: &str, report: &SyncReport) {
        self.emit(json!({"person": joined.person, "compound": joined.compound, "role": joined.role, "sync": report}), || {
            let (zh, en) = role_words(joined.role);
            let fetched = report.fetched.len();
            format!(
                "{name} joined {compound} as {en}; {} fetched / {name} 已以{zh}身份加入 {compound}，取得 {fetched} 份文件",
                plural(fetched, "document", "documents"),
            )
        });
    }

    /// `login`: the person the token belongs to, by name when the relay says it.
    pub fn signed_in(&self, me: &doorstep_replica::http::Me, report: &SyncReport) {
        self.emit(json!({"person": me.person, "name": me.name, "sync": report}), || {
            let fetched = report.fetched.len();
            let who = me.name.clone().unwrap_or_else(|| "this phone's person / 本机用户".to_owned());
            format!(
                "signed in as {who}; {} fetched / 已登录为 {who}，取得 {fetched} 份文件",
                plural(fetched, "document", "documents")
            )
        });
    }

    pub fn synced(&self, report: &SyncReport, unsynced: usize, set_aside: SetAside) {
        self.emit(json!({"report": report, "unsynced": unsynced, "set_aside": set_aside.total()}), || {
            synced_text(report, unsynced, set_aside)
        });
    }

    pub fn status(&self, replica: &Replica) -> Result<(), PhoneError> {
        let compounds: Vec<_> = replica
            .compounds()
            .map(|c| json!({"id": c.id(), "name": c.name(), "role": replica.role(c.id()), "documents": c.documents().count()}))
            .collect();
        let set_aside = SetAside::of(replica)?;
        let removed_from = replica.removed_from()?;
        let name = replica.person_name()?;
        let damaged = replica.damaged_documents();
        let sync_unfinished = replica.sync_unfinished()?;
        let not_arrived = replica.not_arrived();
        // A phone whose token was revoked was wiped, unsynced changes included: "all synced"
        // would say the work reached the relay.
        let wiped =
            replica.identity().is_none() && !removed_from.is_empty() && replica.compounds().next().is_none();
        let where_it_stands = if wiped {
            "nothing is kept on this phone, changes not yet synced included / 本机不再保留任何数据（含未同步的修改）".to_owned()
        } else if replica.identity().is_none() && replica.compounds().next().is_none() {
            // Never signed in (or a join whose answer the signal cut off): "all synced" would say
            // there was work and it went up.
            "not signed in: join with the invite code a coordinator gave you / 尚未登录：请用协调员给的邀请码加入".to_owned()
        } else if replica.identity().is_some()
            && replica.last_sync().is_none()
            && replica.compounds().next().is_none()
        {
            // Signed in, but the sign-in's first download was cut off: "all synced" would send the
            // volunteer up the stairs with no tasks.
            "signed in, but nothing has come from the relay yet: sync where there is signal / 已登录，但尚未从中继取得任何数据：请在有信号处同步".to_owned()
        } else if let (false, Some(words)) = (sync_unfinished, not_arrived_words(not_arrived)) {
            // A download the signal cut short: "all synced" would send a volunteer home thinking
            // they had no tasks.
            match standing(replica.unsynced_changes(), set_aside) {
                all if all == standing(0, SetAside::default()) => words,
                some => format!("{some}; {words}"),
            }
        } else if sync_unfinished {
            // A sync cut off (the app ended mid-sync): the relay's news may not all be here,
            // whatever this phone's own changes say.
            match standing(replica.unsynced_changes(), set_aside) {
                all if all == standing(0, SetAside::default()) => SYNC_UNFINISHED.to_owned(),
                some => format!("{some}; {SYNC_UNFINISHED}"),
            }
        } else {
            standing(replica.unsynced_changes(), set_aside)
        };
        let value = json!({
            "person": replica.identity().map(|i| i.person),
            "name": name,
            "compounds": compounds,
            "unsynced": replica.unsynced_changes(),
            "last_sync": replica.last_sync().map(|t| t.as_millis()),
            "sync_unfinished": sync_unfinished,
            "not_arrived": not_arrived,
            "clock_off_by_ms": replica.clock_off_by_ms(),
            "quarantined": set_aside.total(),
            "set_aside": set_aside.total(),
            "set_aside_states": {"under_review": set_aside.under_review, "to_send": set_aside.to_send, "not_accepted": set_aside.not_accepted},
            "standing": where_it_stands,
            "removed_from": removed_from,
            "damaged": damaged.iter().map(|(doc, kept)| json!({"doc": doc, "kept": kept})).collect::<Vec<_>>(),
        });
        self.emit(&value, || {
            let mut s = match replica.identity() {
                Some(_) => match &name {
                    Some(name) => format!("{name}\n"),
                    None => "signed in; the relay did not give a name / 已登录（中继未提供姓名）\n".to_owned(),
                },
                None if !removed_from.is_empty() => format!("{}\n", removed_message(&removed_from)),
                None => "not joined yet / 尚未加入小区\n".to_owned(),
            };
            for c in replica.compounds() {
                let (zh, en) = replica.role(c.id()).map_or(("?", "?"), role_words);
                s.push_str(&format!("{} as {en} / 以{zh}身份\n", c.name()));
            }
            // Removed from a compound while still signed in (a membership revoked): said here
            // too, not only by the sync that learnt it.
            if replica.identity().is_some() && !removed_from.is_empty() {
                s.push_str(&format!("{}\n", removed_message(&removed_from)));
            }
            if wiped {
                s.push_str(&where_it_stands);
                return s;
            }
            s.push_str(&format!("{where_it_stands}; "));
            s.push_str(&match replica.last_sync() {
                Some(t) => last_sync_line(t, crate::clock::now(), time_zone(replica), replica.last_sync_news()),
                None => "never synced / 从未同步".to_owned(),
            });
            if let Some(off) = replica.clock_off_by_ms() {
                s.push_str(&format!("\nat the last sync / 上次同步时: {}", clock_off_text(off)));
            }
            for (doc, kept) in &damaged {
                s.push_str(&format!(
                    "\nthis phone's copy of document {doc} is damaged and did not load; its {} kept, and carried out again on the relay's copy at the next sync / 本机文件 {doc} 的副本已损坏，无法读取；其中 {kept} 项记录已保留，下次同步时会在中继的版本上重新执行",
                    plural(*kept, "record is", "records are")
                ));
            }
            if set_aside.total() > 0 {
                s.push_str("\nsee `doorstep phone quarantine` for what was set aside and why / 搁置的内容及原因见 `doorstep phone quarantine`");
            }
            s
        });
        Ok(())
    }

    /// `tasks`: each door, then each task under it with the handle `claim`, `attempt` and
    /// `release` take (the JSON gives it as `handle` beside the task's ID).
    /// A task whose knock recorded here is set aside (`set_aside`, waiting for a coordinator)
    /// says so, so that it is not delivered a second time (JSON: `knock_set_aside`).
    /// An assigned task says whether it is `me`'s or someone else's (it said "assigned" alone,
    /// and a volunteer listing every door could not tell a colleague's from their own).
    pub fn doors(
        &self,
        doors: &[Door],
        handles: &Handles,
        set_aside: &HashSet<TaskId>,
        me: Option<PersonId>,
    ) {
        let value: Vec<_> = doors
            .iter()
            .map(|d| {
                let tasks: Vec<_> = d
                    .tasks
                    .iter()
                    .map(|t| {
                        let mut v = serde_json::to_value(t).unwrap_or_default();
                        v["handle"] = json!(handles.handle_of(t.id));
                        if set_aside.contains(&t.id) {
                            v["knock_set_aside"] = json!(true);
                        }
                        v
                    })
                    .collect();
                let mut door = json!({"household": d.household, "tasks": tasks});
                if d.household_removed {
                    door["household_removed"] = json!(true);
                }
                door
            })
            .collect();
        self.emit(value, || {
            if doors.is_empty() {
                return "no tasks / 没有任务".to_owned();
            }
            let mut s = String::new();
            for door in doors {
                s.push_str(&format!("{}\n", household_line(&door.household)));
                if door.household_removed {
                    s.push_str(HOUSEHOLD_REMOVED);
                }
                for t in &door.tasks {
                    let status = t.status();
                    let (zh, en) = match (status, t.assignee) {
                        (TaskStatus::Assigned, Some(p)) if Some(p) == me => ("已分配给你", "Assigned to you"),
                        (TaskStatus::Assigned, Some(_)) => ("已分配给他人", "Assigned to someone else"),
                        _ => (status.label_zh(), status.label_en()),
                    };
                    s.push_str(&format!(
                        "    {}  {} / {}: {} [{zh} / {en}] {} / {}\n",
                        handles.handle_of(t.id).unwrap_or("?"),
                        t.kind.label_zh(),
                        t.kind.label_en(),
                        t.items,
                        t.priority.label_zh(),
                        t.priority.label_en()
                    ));
                    if set_aside.contains(&t.id) {
                        s.push_str(KNOCK_SET_ASIDE);
                    }
                }
            }
            let example = doors.first().and_then(|d| d.tasks.first()).and_then(|t| handles.handle_of(t.id));
            s.push_str(&format!(
                "claim or record with the handle shown, e.g. `doorstep phone claim {e}` / 领取或记录时输入上面的门牌，如 `doorstep phone claim {e}`",
                e = example.unwrap_or("1-1-101")
            ));
            s
        });
    }

    pub fn household(&self, h: &Household) {
        self.emit(h, || format!("{}\n    {}", household_line(h), h.notes));
    }

    pub fn applied(&self, applied: &Applied, unsynced: usize) {
        self.emit(applied_value(applied, unsynced), || saved_line(unsynced));
    }

    /// `claim`, `attempt`, `release`: saved, and which task it was, by its door, round and kind,
    /// so a handle typed from a list a sync has renumbered since shows the task it recorded on.
    pub fn applied_to_task(&self, applied: &Applied, unsynced: usize, named: &Named, did: (&str, &str)) {
        let task = &named.task;
        let mut value = applied_value(applied, unsynced);
        value["task"] = json!({"id": task.id, "handle": named.handle, "address": named.address,
                               "round_title": named.round_title, "kind": task.kind});
        self.emit(value, || {
            format!(
                "{} / {}: {} {} — {}, {} / {} ({})\n{}",
                did.0,
                did.1,
                named.address,
                task.items,
                named.round_title,
                task.kind.label_zh(),
                task.kind.label_en(),
                named.handle,
                saved_line(unsynced)
            )
        });
    }

    /// `rounds`: each round with every task (door, status, attempts), as its help says.
    pub fn rounds(&self, rounds: &[(RoundInfo, Vec<Task>)], addresses: &Addresses, handles: &Handles) {
        let value: Vec<_> = rounds
            .iter()
            .map(|(info, tasks)| {
                let tasks: Vec<_> = tasks.iter().map(|t| json!({"task": t, "status": t.status()})).collect();
                json!({"round": info, "tasks": tasks})
            })
            .collect();
        self.emit(value, || {
            if rounds.is_empty() {
                return "no rounds / 没有配送轮次".to_owned();
            }
            rounds
                .iter()
                .map(|(info, tasks)| round_text(info, tasks, addresses, handles))
                .collect::<Vec<_>>()
                .join("\n")
        });
    }

    pub fn counts(&self, counts: &[(String, Counts)]) {
        self.emit(counts, || {
            counts
                .iter()
                .map(|(name, c)| {
                    let statuses: Vec<String> =
                        c.by_status.iter().map(|(k, v)| format!("{} / {} {v}", k.label_zh(), k.label_en())).collect();
                    let tasks: Vec<String> =
                        c.by_task_status.iter().map(|(k, v)| format!("{} / {} {v}", k.label_zh(), k.label_en())).collect();
                    // A phone holds open rounds only: a closed round's figures (its late knocks,
                    // its conflicts) are the dashboard's, and a coordinator comparing the two read
                    // "tasks 0" here against the dashboard's late 2 with nothing said.
                    format!(
                        "{name}: {h} 户 / households, {p} 人 / people, 60岁以上 / aged 60+ {a}, 特殊需要 / special needs {n}\n  \
                         管控状态 / control status: {}\n  任务 / tasks: {} \
                         (本机上未结束的轮次；已结束的轮次请看看板 / open rounds on this phone; closed rounds are on the dashboard)",
                        statuses.join(", "),
                        tasks.join(", "),
                        h = c.households,
                        p = c.people,
                        a = c.aged_60_plus,
                        n = c.special_needs,
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        });
    }

    /// `conflicts`: each by door and round, with the handle `review` takes, and who reviewed
    /// it by name ("a coordinator / 协调员" when the phone does not know the name).
    pub fn conflicts(&self, conflicts: &[ConflictReview], names: &Names, offset: UtcOffset) {
        self.emit(conflicts, || {
            if conflicts.is_empty() {
                return "no conflicts to review in the open rounds on this phone / 本机未结束的轮次中没有待审核的冲突 \
                        (closed rounds' conflicts are on the dashboard / 已结束轮次的冲突请看看板)"
                    .to_owned();
            }
            // A task with both a double delivery and a competing assignment: each `review`
            // line names its kind, or both would review the same one.
            let mut per_task: std::collections::HashMap<_, usize> = std::collections::HashMap::new();
            for c in conflicts {
                if let Some(task) = crate::resolve::task_of(&c.conflict.subject()) {
                    *per_task.entry(task).or_default() += 1;
                }
            }
            conflicts
                .iter()
                .map(|c| {
                    let shared = crate::resolve::task_of(&c.conflict.subject())
                        .is_some_and(|t| per_task.get(&t).copied().unwrap_or(0) > 1);
                    conflict_text(c, names, offset, shared)
                })
                .collect::<Vec<_>>()
                .join("\n")
        });
    }

    pub fn requests(&self, requests: &[Request], addresses: &Addresses) {
        self.emit(requests, || {
            if requests.is_empty() {
                return "no requests / 没有诉求".to_owned();
            }
            requests
                .iter()
                .map(|r| {
                    format!(
                        "{} [{} / {}] {} / {}, {} / {}: {}",
                        addresses.of_household(r.household),
                        r.status.label_zh(),
                        r.status.label_en(),
                        r.urgency.label_zh(),
                        r.urgency.label_en(),
                        r.category.label_zh(),
                        r.category.label_en(),
                        r.text
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        });
    }

    pub fn quarantine(&self, changes: &[QuarantinedChange], documents: &DocumentNames, people: &People) {
        self.emit(changes, || {
            if changes.is_empty() {
                return "no refused changes / 没有被拒绝的修改".to_owned();
            }
            changes.iter().map(|c| quarantine_line(c, documents, people)).collect::<Vec<_>>().join("\n")
        });
    }
}

/// What the conflict lines name things by: doors, rounds, task handles and people.
#[derive(Debug, Default)]
pub struct Names {
    /// Every household's door.
    pub addresses: Addresses,
    /// Every round's title.
    pub rounds: RoundTitles,
    /// Every open task's handle.
    pub handles: Handles,
    /// The people the phone can name.
    pub people: People,
}

/// One conflict: the door and round, what clashed, and either the `review` command to settle it
/// or who reviewed it, when, and their note.
fn conflict_text(c: &ConflictReview, names: &Names, offset: UtcOffset, task_shared: bool) -> String {
    let (what, handle) = match &c.conflict {
        Conflict::DoubleDelivery { household, deliveries, round, task, .. } => (
            format!(
                "{}{}: 重复送达 {n} 次 / delivered {n} times",
                names.addresses.of_household(*household),
                names.rounds.title_of(*round),
                n = deliveries.len()
            ),
            names.handles.handle_of(*task).map_or_else(|| names.addresses.door_of(*household), str::to_owned),
        ),
        Conflict::CompetingAssignment { household, candidates, round, task, .. } => (
            format!(
                "{}{}: 同时分派给 {n} 人 / assigned concurrently to {n} people",
                names.addresses.of_household(*household),
                names.rounds.title_of(*round),
                n = candidates.len()
            ),
            names.handles.handle_of(*task).map_or_else(|| names.addresses.door_of(*household), str::to_owned),
        ),
        Conflict::CancelledButDelivered { household, cancellation, deliveries, round, task, .. } => (
            format!(
                "{}{}: 已取消仍送达 / delivered after it was cancelled — {} 取消 / cancelled at {} ({}): {}; {}",
                names.addresses.of_household(*household),
                names.rounds.title_of(*round),
                names.people.coordinator(cancellation.by),
                offset.local_time(cancellation.at),
                offset.label(),
                cancellation.reason,
                deliveries
                    .iter()
                    .map(|a| format!(
                        "{} 送达 / delivered at {}",
                        names.people.name(a.knocker()).unwrap_or("a volunteer / 志愿者"),
                        offset.local_time(a.knock_time())
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            names.handles.handle_of(*task).map_or_else(|| names.addresses.door_of(*household), str::to_owned),
        ),
        Conflict::ConcurrentStatus { household, candidates, .. } => (
            format!(
                "{}: {n} 个同时设定的状态 / {n} concurrent statuses",
                names.addresses.of_household(*household),
                n = candidates.len()
            ),
            names.addresses.door_of(*household),
        ),
        Conflict::ConcurrentLedgerEdit { household, field, candidates } => (
            format!(
                "{}: {}同时被改为 / {} set at once to: {}",
                names.addresses.of_household(*household),
                field.label_zh(),
                field.label_en(),
                candidates.join(" | ")
            ),
            names.addresses.door_of(*household),
        ),
        Conflict::ConcurrentTriage { household, statuses, urgencies, .. } => (
            format!(
                "{}: 诉求被同时处理为不同结果 / request triaged at once to different decisions: {}; {}",
                names.addresses.of_household(*household),
                statuses
                    .iter()
                    .map(|s| format!("{} / {}", s.label_zh(), s.label_en()))
                    .collect::<Vec<_>>()
                    .join(" | "),
                urgencies
                    .iter()
                    .map(|u| format!("{} / {}", u.label_zh(), u.label_en()))
                    .collect::<Vec<_>>()
                    .join(" | ")
            ),
            names.addresses.door_of(*household),
        ),
    };
    match &c.review {
        None => {
            let kind = crate::resolve::TaskConflict::of(&c.conflict.subject())
                .filter(|_| task_shared)
                .map(|k| format!(" --kind {}", k.as_str()))
                .unwrap_or_default();
            let earlier = c.earlier_review.as_ref().map_or_else(String::new, |r| {
                let note = if r.note.is_empty() { String::new() } else { format!(": {}", r.note) };
                format!(
                    "\n  此前已核实（之后有新情况）/ reviewed earlier, before something new arrived: {} at {} ({}){note}",
                    names.people.coordinator(r.by),
                    offset.local_time(r.at),
                    offset.label()
                )
            });
            format!("{what}{earlier}\n  待核实 / to review: doorstep phone review {handle}{kind}")
        }
        Some(r) => {
            let note = if r.note.is_empty() { String::new() } else { format!(": {}", r.note) };
            let who = names.people.coordinator(r.by);
            format!(
                "{what}\n  已核实 / reviewed by {who} at {} ({}){note}",
                offset.local_time(r.at),
                offset.label()
            )
        }
    }
}

/// One set-aside change: what it was, in which document, why the relay refused it (the rule in
/// Chinese, then the relay's own sentence) and where it stands with the coordinators. Things are
/// named by door, round and list, never by ID.
fn quarantine_line(c: &QuarantinedChange, documents: &DocumentNames, people: &People) -> String {
    let what = documents.operation(c.operation.as_deref());
    format!(
        "{what}, in {}: {} — {}",
        documents.document(c),
        refusal_words(&c.rule, &c.reason),
        review_line(c, people)
    )
}

/// Under a task whose knock recorded on this phone waits for a coordinator.
const HOUSEHOLD_REMOVED: &str = "    (已从名册移除 / removed from the roster) since its round was planned: ask a coordinator before going / 本轮计划后该户已从名册移除，上门前请先问协调员\n";

const KNOCK_SET_ASIDE: &str = "        your knock here is set aside for a coordinator (`quarantine` shows it): don't deliver again before they decide / 你在此门的上门记录已搁置，待协调员处理（见 `quarantine`），请勿重复送达\n";

/// Why the relay refused or deferred a change, in the volunteer's words: the rule in Chinese,
/// then the relay's own sentence when it names no ID or raw time (else the rule's English), then
/// the code for whoever helps them.
fn refusal_words(code: &str, reason: &str) -> String {
    let (zh, en) = doorstep_core::sync::refusal_words(code);
    // A reason in both languages already (the phone's own, such as `LET_GO` for work let go of
    // when it left the compound) is the whole of it: before, the rule's generic Chinese ("本机无权
    // 修改这份文件") stood in front of an English that said something else.
    let words = if is_in_both_languages(reason) && !names_an_id(reason) {
        reason.to_owned()
    } else {
        let reason = if names_an_id(reason) || reason.is_empty() { en } else { reason };
        format!("{zh} / {reason}")
    };
    let code_said = format!("({code})");
    if words.contains(&code_said) { words } else { format!("{words} {code_said}") }
}

/// Whether `text` says itself in English and in Chinese ("… / …" with Chinese after the slash).
fn is_in_both_languages(text: &str) -> bool {
    text.split_once(" / ").is_some_and(|(en, zh)| {
        en.chars().any(|c| c.is_ascii_alphabetic())
            && zh.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
    })
}

/// Whether `text` holds a UUID or a raw Unix time, which a person should not have to read.
fn names_an_id(text: &str) -> bool {
    text.contains("Unix ms")
        || text.split(|c: char| !(c.is_ascii_hexdigit() || c == '-')).any(|word| {
            word.len() == 36 && word.char_indices().all(|(i, c)| (c == '-') == matches!(i, 8 | 13 | 18 | 23))
        })
}

/// What the phone calls its documents and the operations in them: "round 蔬菜包 第1轮 / 配送轮次
/// 蔬菜包 第1轮", "the roster of 香樟苑 / 香樟苑 住户名册", "attempt / 上门记录 at 香樟苑
/// 1号楼1单元101". Labels are kept by key: `document:<id>`, `round:<id>` (its title),
/// `task:<id>` and `household:<id>` (the door). What the phone no longer holds (a round that
/// closed) is named from the labels it remembered when it set the change aside.
#[derive(Debug, Default)]
pub struct DocumentNames {
    labels: std::collections::HashMap<String, String>,
}

impl DocumentNames {
    /// The names of every document the replica holds, its doors, tasks and rounds, and the
    /// labels it remembered for what it no longer holds.
    pub fn of(replica: &Replica) -> Self {
        use doorstep_core::schema::vocabulary::DocKind;
        let rounds = RoundTitles::of(replica);
        let mut labels = std::collections::HashMap::new();
        for c in replica.compounds() {
            for d in c.documents() {
                // What it is, naming nothing: what an item let go of when the phone left the
                // compound keeps (`labels_for`).
                let kind = match d.kind() {
                    DocKind::Round => "a round of a compound this phone left / 本机已离开的小区的配送轮次",
                    DocKind::Roster => {
                        "the roster of a compound this phone left / 本机已离开的小区的住户名册"
                    }
                    DocKind::Requests => {
                        "the requests of a compound this phone left / 本机已离开的小区的居民请求"
                    }
                    DocKind::Care => {
                        "the care ledger of a compound this phone left / 本机已离开的小区的健康档案"
                    }
                };
                labels.insert(format!("kind:{}", d.id()), kind.to_owned());
                let name = match d.kind() {
                    DocKind::Round => match rounds.0.get(&d.id()) {
                        Some(title) => format!("round {title} / 配送轮次 {title}"),
                        None => "a round / 配送轮次".to_owned(),
                    },
                    DocKind::Roster => format!("the roster of {} / {} 住户名册", c.name(), c.name()),
                    DocKind::Requests => "requests / 居民请求".to_owned(),
                    DocKind::Care => "the care ledger / 健康档案".to_owned(),
                };
                labels.insert(format!("document:{}", d.id()), name);
            }
            let households: std::collections::HashMap<_, _> =
                c.households().into_iter().map(|h| (h.id, h.address.to_string())).collect();
            for (id, address) in &households {
                labels.insert(format!("household:{id}"), address.clone());
            }
            for t in c.tasks() {
                if let Some(address) = households.get(&t.household) {
                    labels.insert(format!("task:{}", t.id), address.clone());
                }
            }
        }
        for (round, title) in &rounds.0 {
            labels.insert(format!("round:{round}"), title.clone());
        }
        for (key, label) in replica.labels().unwrap_or_default() {
            labels.entry(key).or_insert(label);
        }
        Self { labels }
    }

    /// The labels that name `changes` (their documents, and the doors and rounds their
    /// operations touched), to remember before a sync may drop what they name.
    pub fn labels_for(&self, changes: &[QuarantinedChange]) -> std::collections::BTreeMap<String, String> {
        let mut keys = Vec::new();
        for c in changes {
            // An item the phone let go of when it left the compound names nothing any more but
            // the kind of document it was in (the roster, requests, a round).
            if doorstep_replica::is_let_go(&c.reason) {
                keys.push(format!("kind:{}", c.document));
                continue;
            }
            keys.push(format!("document:{}", c.document));
            let value: serde_json::Value =
                c.operation.as_deref().and_then(|j| serde_json::from_str(j).ok()).unwrap_or_default();
            for field in ["task", "household", "round"] {
                if let Some(id) = value.get(field).and_then(|v| v.as_str()) {
                    keys.push(format!("{field}:{id}"));
                }
            }
        }
        keys.into_iter().filter_map(|k| self.labels.get(&k).cloned().map(|label| (k, label))).collect()
    }

    /// The document of change `c` by what it is. One the phone no longer holds and has no label
    /// for is a closed round it let go of; for an item let go of when the phone left the
    /// compound, the kind of document it was, in a compound the phone left.
    fn document(&self, c: &QuarantinedChange) -> String {
        let id = &c.document;
        let held = self.labels.get(&format!("document:{id}"));
        let left = doorstep_replica::is_let_go(&c.reason).then(|| self.labels.get(&format!("kind:{id}")));
        match (held, left) {
            (Some(label), _) => label.clone(),
            (None, Some(Some(kind))) => kind.clone(),
            (None, Some(None)) => {
                "a document of a compound this phone left / 本机已离开的小区的文件".to_owned()
            }
            (None, None) => {
                "a document no longer on this phone (a closed round) / 本机已不再保存的文件（已结束的轮次）"
                    .to_owned()
            }
        }
    }

    /// The operation behind a change in both languages, with the door and round it touched.
    fn operation(&self, json: Option<&str>) -> String {
        let Some(value) = json.and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok()) else {
            return "a change / 一项修改".to_owned();
        };
        let tag = value.get("op").and_then(|t| t.as_str()).unwrap_or_default();
        let (en, zh) = operation_words(tag);
        let label = |field: &str| {
            let id = value.get(field).and_then(|v| v.as_str())?;
            self.labels.get(&format!("{field}:{id}"))
        };
        let mut s = format!("{en} / {zh}");
        if let Some(door) = label("household").or_else(|| label("task")) {
            s.push_str(&format!(" at {door}"));
        }
        if let Some(title) = label("round") {
            s.push_str(&format!(", {title}"));
        }
        s
    }
}

/// An operation's tag in English and Chinese ("record_attempt" → attempt, 上门记录).
fn operation_words(tag: &str) -> (&'static str, &'static str) {
    match tag {
        "record_attempt" => ("attempt", "上门记录"),
        "claim_task" => ("claim", "领取任务"),
        "unassign_task" => ("release", "放弃任务"),
        "assign_task" | "assign_building" => ("assignment", "分派任务"),
        "cancel_task" => ("cancellation", "取消任务"),
        "add_task" => ("new task", "新增任务"),
        "create_round" => ("new round", "新建轮次"),
        "close_round" => ("closing the round", "结束轮次"),
        "reopen_round" => ("reopening the round", "重新开启轮次"),
        "add_request" => ("request", "登记需求"),
        "triage_request" | "link_request" => ("request handling", "处理需求"),
        "edit_notes" => ("notes", "修改备注"),
        "set_control_status" => ("control status", "管控状态"),
        "set_need_tags" => ("needs", "特殊需要"),
        "add_household" | "edit_household" | "remove_household" | "add_building" => {
            ("roster change", "修改名册")
        }
        "add_care_entry" | "edit_care_entry" => ("care record", "照护记录"),
        "review_conflict" => ("review", "核实冲突"),
        _ => ("a change", "一项修改"),
    }
}

/// Where a set-aside change stands with the coordinators, in the words the app shows: the
/// coordinator who decided it by name (the relay's, or one the phone remembers), never by ID,
/// and their reason when the phone has it (one it let go of when it left the compound keeps
/// none, `let_go.rs`).
fn review_line(c: &QuarantinedChange, people: &People) -> String {
    let (who_en, who_zh) = match (c.reviewed_by_name.as_deref(), c.reviewed_by.as_deref()) {
        (Some(name), _) if !name.trim().is_empty() => (name.to_owned(), format!(" {name} ")),
        (_, Some(person)) => match person.parse().ok().and_then(|p| people.name(p)) {
            Some(name) => (name.to_owned(), format!(" {name} ")),
            None => ("a coordinator".to_owned(), "协调员".to_owned()),
        },
        _ => ("a coordinator".to_owned(), "协调员".to_owned()),
    };
    let note = c.review_note.as_deref().map(str::trim).filter(|n| !n.is_empty());
    match doorstep_replica::ReviewState::from_str_lossy(&c.review_state) {
        doorstep_replica::ReviewState::NotSent => {
            "set aside, sent for review at the next sync / 已搁置，下次同步时提交协调员".to_owned()
        }
        doorstep_replica::ReviewState::UnderReview => "under review / 待协调员处理".to_owned(),
        doorstep_replica::ReviewState::Applied => format!("applied by {who_en} / 已由{who_zh}采用"),
        doorstep_replica::ReviewState::Dismissed => match note {
            Some(note) => format!("dismissed by {who_en}: {note} / 已由{who_zh}驳回：{note}"),
            None => format!("dismissed by {who_en} / 已由{who_zh}驳回"),
        },
        doorstep_replica::ReviewState::Synced => {
            "synced after all: the relay had it already (its answer was cut off) / 已同步：中继早已收到（当时的回复中断了）"
                .to_owned()
        }
        doorstep_replica::ReviewState::NotAccepted => match note {
            Some(note) => format!(
                "not taken for review: {note}; export it for a coordinator / 未能提交审核，请导出交给协调员"
            ),
            None => "not taken for review; export it for a coordinator / 未能提交审核，请导出交给协调员"
                .to_owned(),
        },
    }
}

/// Every household's address on the phone, and its door as a handle ("1-1-101"), so lines name
/// doors rather than IDs.
#[derive(Debug, Default)]
pub struct Addresses(std::collections::HashMap<doorstep_core::id::HouseholdId, (String, String)>);

impl Addresses {
    /// The addresses of every compound the replica holds.
    pub fn of(replica: &Replica) -> Self {
        let mut all = std::collections::HashMap::new();
        for c in replica.compounds() {
            // Households removed from the roster that requests or tasks still name: their last
            // address, marked, and no handle (a household now at that door would take it).
            let named: Vec<doorstep_core::id::HouseholdId> = c
                .requests()
                .iter()
                .map(|r| r.household)
                .chain(c.tasks().iter().map(|t| t.household))
                .collect();
            let book = HouseholdBook::of(c, named.iter().copied());
            let households = book.live();
            for h in households {
                all.insert(h.id, (h.address.to_string(), door_handle(&h.address, households)));
            }
            for id in named {
                if book.removal(id).is_some() {
                    all.insert(id, (address_text(&book, id), "?".to_owned()));
                }
            }
        }
        Self(all)
    }

    /// The household's door as a handle ("1-1-101"), or "?" when the roster does not hold it.
    fn door_of(&self, id: doorstep_core::id::HouseholdId) -> String {
        self.0.get(&id).map_or_else(|| "?".to_owned(), |(_, door)| door.clone())
    }

    /// The household's address, or a plain note when the roster does not hold it.
    fn of_household(&self, id: doorstep_core::id::HouseholdId) -> String {
        self.0.get(&id).map_or_else(|| NOT_IN_THE_ROSTER.to_owned(), |(address, _)| address.clone())
    }
}

/// Every round's title on the phone, so a conflict names its round rather than a task's ID.
#[derive(Debug, Default)]
pub struct RoundTitles(std::collections::HashMap<doorstep_core::id::DocumentId, String>);

impl RoundTitles {
    /// The titles of every round the replica holds.
    pub fn of(replica: &Replica) -> Self {
        Self(
            replica
                .compounds()
                .flat_map(doorstep_core::Compound::round_infos)
                .map(|info| (info.document, info.title))
                .collect(),
        )
    }

    /// ", 蔬菜包 第1轮", or nothing for a round the phone no longer holds.
    fn title_of(&self, round: doorstep_core::id::DocumentId) -> String {
        self.0.get(&round).map(|title| format!(", {title}")).unwrap_or_default()
    }
}

/// A sync's summary: how many requests and bytes, what the relay brought, where the phone
/// stands, and a line for anything refused, deferred or reviewed.
/// Each distinct line once, in the order first met, with how many times it came when more than
/// once (" (×3)"): a refusal of several documents for one reason is one line, not a screenful.
fn once_each<T: PartialEq>(lines: impl Iterator<Item = T>) -> Vec<(T, String)> {
    let mut counted: Vec<(T, usize)> = Vec::new();
    for line in lines {
        match counted.iter_mut().find(|(seen, _)| *seen == line) {
            Some((_, n)) => *n += 1,
            None => counted.push((line, 1)),
        }
    }
    counted
        .into_iter()
        .map(|(line, n)| (line, if n > 1 { format!(" (×{n})") } else { String::new() }))
        .collect()
}

/// Whether a refusal of `rule` is what a removal makes of a phone's unsynced changes: the relay
/// no longer lets it write (or hold) the compound's documents.
fn refused_by_removal(rule: &str) -> bool {
    use doorstep_core::relay_engine::rejection::{FORBIDDEN, UNKNOWN_DOCUMENT};
    [FORBIDDEN, UNKNOWN_DOCUMENT, doorstep_core::sync::DOCUMENT_WITHDRAWN].contains(&rule)
}

fn synced_text(report: &SyncReport, unsynced: usize, set_aside: SetAside) -> String {
    let requests = report.requests as usize;
    let news = report.news();
    let brought = if news == 0 {
        "nothing new from the relay / 中继没有新内容".to_owned()
    } else {
        format!(
            "the relay had news for {} / 中继带来 {news} 份文件的更新",
            plural(news, "document", "documents")
        )
    };
    let mut s = format!(
        "synced in {} ({} B up, {} B down) / 同步完成，{requests} 次请求（上传 {} B，下载 {} B）; {brought}; {}",
        plural(requests, "request", "requests"),
        report.bytes_up,
        report.bytes_down,
        report.bytes_up,
        report.bytes_down,
        sync_standing(report, unsynced, set_aside)
    );
    // Removed from a compound: its documents went with the removal (said by the removal's own
    // line), not with "closed rounds", and the relay refuses what this phone had not synced of
    // them because the phone is no longer a member, not for a want of some permission.
    let removed = !report.removed_from.is_empty();
    if !report.dropped.is_empty() && !removed {
        let n = report.dropped.len();
        s.push_str(&format!(
            "\n{} removed from this phone (closed rounds, withdrawn compounds) / 已从本机移除 {n} 份文件（已结束的轮次、撤回的小区）",
            plural(n, "document", "documents")
        ));
    }
    if !report.removed_from.is_empty() {
        s.push_str(&format!("\n{}", removed_message(&report.removed_from)));
    }
    // "Set aside" only when this sync set something aside: a refusal that kept nothing of this
    // phone's (another's change, a document withdrawn with nothing unsynced) says so.
    let then = if report.set_aside > 0 {
        "set aside for a coordinator / 已搁置待协调员处理"
    } else {
        "nothing of this phone's work was set aside / 本机没有修改因此被搁置"
    };
    let (by_removal, refused): (Vec<_>, Vec<_>) =
        report.rejected.iter().partition(|r| removed && refused_by_removal(&r.rule));
    // Said once, with no count of its own: the first line counts what was set aside.
    let sent_for_review = removed && report.set_aside_sent > 0;
    if !by_removal.is_empty() {
        s.push_str(if report.set_aside == 0 {
            "\nafter the removal the relay takes nothing more from this phone; nothing of its work was set aside / 移出后中继不再接收本机的修改；本机没有修改因此被搁置"
        } else if sent_for_review {
            "\nafter the removal the relay takes nothing more from this phone: what it had not synced was set aside and sent to the coordinators for review / 移出后中继不再接收本机的修改：未同步的修改已搁置并提交协调员处理"
        } else {
            "\nafter the removal the relay takes nothing more from this phone: what it had not synced was set aside for a coordinator / 移出后中继不再接收本机的修改：未同步的修改已搁置待协调员处理"
        });
    }
    for (words, times) in once_each(refused.iter().map(|r| refusal_words(&r.rule, &r.reason))) {
        s.push_str(&format!("\nrefused by the relay / 中继拒绝: {words}{times} — {then}"));
    }
    let retrying = report.retrying.iter().map(|r| {
        use doorstep_core::relay_engine::rejection::{DOCUMENT_DAMAGED, TOO_MANY_HEADS};
        let (what, then) = match r.rule.as_str() {
            // The reason of a damaged document already says that only a restore helps.
            DOCUMENT_DAMAGED => (
                "the relay's copy is damaged / 中继上的这份文件已损坏",
                "this phone keeps its changes until then / 在此之前，本机修改都保留在手机上",
            ),
            // Not the moment's: the same message is refused until the branches are merged.
            TOO_MANY_HEADS => (
                "refused at every sync until merged / 合并分支之前每次同步都会被拒收",
                "this app merges them before its next sync; if this stays, update the app — your work is kept / 本应用会在下次同步前合并；若一直如此，请更新应用，修改已保留",
            ),
            _ => (
                "the relay could not take it now / 中继暂时无法接收",
                "kept, will sync later / 中继暂时无法接收，已保留，稍后再同步",
            ),
        };
        (what, refusal_words(&r.rule, &r.reason), then)
    });
    for ((what, words, then), times) in once_each(retrying) {
        s.push_str(&format!("\n{what}: {words}{times} — {then}"));
    }
    if let Some(off) = report.clock_off_by_ms {
        s.push_str(&format!("\n{}", clock_off_text(off)));
    }
    if report.retimed > 0 {
        let n = report.retimed;
        s.push_str(&format!(
            "\n{} recorded by this phone's wrong clock carried out again at the relay's time and synced / {n} 项按错误手机时间记录的修改已按中继时间重新执行并同步",
            plural(n, "change", "changes")
        ));
    }
    if !report.renegotiated.is_empty() {
        let mut documents = report.renegotiated.clone();
        documents.sort();
        documents.dedup();
        let n = documents.len();
        s.push_str(&format!(
            "\nthe relay had lost part of the history of {} (restored from a backup?): this phone offered it again / 中继丢失了 {n} 份文件的部分历史（可能从备份恢复），本机已重新提交",
            plural(n, "document", "documents")
        ));
    }
    if report.recovered > 0 {
        let n = report.recovered;
        s.push_str(&format!(
            "\n{} kept from this phone's damaged copy of a document carried out again on the relay's copy and synced / 本机损坏的文件副本中保留的 {n} 项记录已在中继的版本上重新执行并同步",
            plural(n, "record", "records")
        ));
    }
    if report.reapplied > 0 {
        let n = report.reapplied;
        s.push_str(&format!(
            "\n{} carried out again and synced / {n} 项后续修改已重新执行并同步",
            plural(n, "later change", "later changes")
        ));
    }
    // Said with the removal's line already.
    let sent_said = sent_for_review && !by_removal.is_empty();
    if report.set_aside_sent > 0 && !sent_said {
        let n = report.set_aside_sent;
        s.push_str(&format!(
            "\n{} sent to the coordinators for review / {n} 项已提交协调员处理",
            plural(n, "set-aside change", "set-aside changes")
        ));
    }
    if report.set_aside_decided > 0 {
        let n = report.set_aside_decided;
        s.push_str(&format!(
            "\n{} reviewed by a coordinator; see `doorstep phone quarantine` / {n} 项已由协调员处理",
            plural(n, "set-aside change", "set-aside changes")
        ));
    }
    if report.set_aside_synced > 0 {
        let n = report.set_aside_synced;
        s.push_str(&format!(
            "\n{} the relay had already (an earlier sync's answer was cut off): synced after all, nothing for a coordinator to review / {n} 项搁置的修改中继早已收到（之前同步的回复中断了）：其实已同步，无需协调员处理",
            plural(n, "set-aside change", "set-aside changes")
        ));
    }
    s
}

/// A round's line and one line per task: door, status (Chinese / English), what to bring and how
/// many attempts.
fn round_text(info: &RoundInfo, tasks: &[Task], addresses: &Addresses, handles: &Handles) -> String {
    let done = tasks.iter().filter(|t| t.status() == TaskStatus::Delivered).count();
    let mut s = format!(
        "{} [{} / {}] {}: 已送达 / delivered {done}/{}",
        info.title,
        info.status.label_zh(),
        info.status.label_en(),
        info.date,
        tasks.len(),
    );
    for t in tasks {
        let status = t.status();
        let attempts = t.attempts.len();
        // An open round's task leads with its handle; a closed round's takes no more work.
        let handle = handles.handle_of(t.id).map_or_else(String::new, |h| format!("{h}  "));
        s.push_str(&format!(
            "\n    {handle}{} [{} / {}] {}, {attempts} 次上门 / {}",
            addresses.of_household(t.household),
            status.label_zh(),
            status.label_en(),
            t.items,
            plural(attempts, "attempt", "attempts")
        ));
        // A knock made before the phone learnt of a cancellation still counts (the door was
        // delivered to); the cancellation must not vanish behind it.
        if let (Some(cancelled), true) = (&t.cancelled, status != TaskStatus::Cancelled) {
            s.push_str(&format!(
                "\n        协调员已取消此任务 / cancelled by a coordinator: {}",
                printable(&cancelled.reason)
            ));
        }
    }
    s
}

/// A role in Chinese and in English ("志愿者", "volunteer").
fn role_words(role: doorstep_core::Role) -> (&'static str, &'static str) {
    let zh = match role {
        doorstep_core::Role::Admin => "管理员",
        doorstep_core::Role::Coordinator => "协调员",
        doorstep_core::Role::Medic => "医护",
        doorstep_core::Role::Volunteer => "志愿者",
    };
    (zh, role.as_str())
}

/// `text` as a terminal may show it: what other people wrote (a note, a request, a reason) reaches
/// this terminal, and a control character in it (ESC starts a sequence that can recolour, move
/// or retitle the terminal; a carriage return writes over the line) or a text-direction override
/// (which shows what follows in another order) is shown as U+FFFD instead of being obeyed: the
/// rulebook's characters no text holds (`rulebook::characters`), and the carriage return. Line
/// breaks and tabs stay.
fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    use doorstep_core::rulebook::{Kind, characters};
    let obeyed = |c: char| c == '\r' || characters::is_unwelcome(c, Kind::Long);
    if !text.chars().any(obeyed) {
        return std::borrow::Cow::Borrowed(text);
    }
    text.chars().map(|c| if obeyed(c) { '\u{FFFD}' } else { c }).collect()
}

/// "1 request", "2 requests": the count with the English word that agrees with it.
fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 { format!("1 {one}") } else { format!("{n} {many}") }
}

/// What is set aside on the phone and not decided yet, by where it stands with the coordinators.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SetAside {
    /// In the review inbox, waiting for a coordinator.
    pub under_review: usize,
    /// Not sent to the inbox yet (it goes with a later sync).
    pub to_send: usize,
    /// The relay would not take it into the inbox: to export for a coordinator.
    pub not_accepted: usize,
}

impl SetAside {
    /// The replica's set-aside items not decided yet.
    pub fn of(replica: &Replica) -> Result<Self, PhoneError> {
        let mut counts = SetAside::default();
        for change in replica.quarantine()? {
            match doorstep_replica::ReviewState::from_str_lossy(&change.review_state) {
                doorstep_replica::ReviewState::UnderReview => counts.under_review += 1,
                doorstep_replica::ReviewState::NotSent => counts.to_send += 1,
                doorstep_replica::ReviewState::NotAccepted => counts.not_accepted += 1,
                doorstep_replica::ReviewState::Applied
                | doorstep_replica::ReviewState::Dismissed
                | doorstep_replica::ReviewState::Synced => {}
            }
        }
        Ok(counts)
    }

    /// How many in all.
    pub fn total(self) -> usize {
        self.under_review + self.to_send + self.not_accepted
    }

    /// "3 set aside, under review", or where each stands when they do not all wait in the inbox.
    fn words(self) -> String {
        let k = self.total();
        if self.under_review == k {
            return format!("{k} set aside, under review / {k} 项待协调员处理");
        }
        let parts: Vec<(usize, &str, &str)> = [
            (self.under_review, "under review", "项待协调员处理"),
            (self.to_send, "to send for review", "项待上传"),
            (
                self.not_accepted,
                "not accepted by the relay (export them for a coordinator)",
                "项中继未接收（可导出交给协调员）",
            ),
        ]
        .into_iter()
        .filter(|(n, _, _)| *n > 0)
        .collect();
        let en: Vec<String> = parts.iter().map(|(n, en, _)| format!("{n} {en}")).collect();
        let zh: Vec<String> = parts.iter().map(|(n, _, zh)| format!("{n} {zh}")).collect();
        format!("{k} set aside: {} / {k} 项被搁置：{}", en.join(", "), zh.join("，"))
    }
}

/// Said after a sync the app did not live to finish, until one returns.
pub const SYNC_UNFINISHED: &str = "the last sync did not finish (the app ended mid-sync): some of the relay's news may not be on this phone yet; sync where there is signal / 上次同步未完成（应用在同步中途结束）：中继的部分更新可能尚未取得；请在有信号处同步";

/// What a phone says while documents of its compound have not (wholly) arrived from the relay
/// ([`Replica::not_arrived`]), if any have not.
pub fn not_arrived_words(not_arrived: doorstep_replica::copy_fetch::NotArrived) -> Option<String> {
    let doorstep_replica::copy_fetch::NotArrived { lacking, behind } = not_arrived;
    let (en, zh) = match (lacking, behind) {
        (0, 0) => return None,
        (n, 0) => (
            format!("{} from the relay not here yet", plural(n, "document", "documents")),
            format!("还有 {n} 份文件尚未从中继取得"),
        ),
        (0, n) => (
            format!("the relay holds news for {} not here yet", plural(n, "document", "documents")),
            format!("中继还有 {n} 份文件的更新尚未取得"),
        ),
        (l, b) => (
            format!(
                "{} from the relay not here yet, and news for {b} more",
                plural(l, "document", "documents")
            ),
            format!("还有 {l} 份文件尚未从中继取得，另有 {b} 份文件的更新"),
        ),
    };
    Some(format!(
        "{en} (a download cut short by the signal): tasks, households or requests may be missing; sync where there is signal / {zh}（信号中断）：任务、住户或诉求可能不全；请在有信号处同步"
    ))
}

/// What a sync says once it told the relay, for a phone wiped on revoke, how much work went with
/// the wipe (the link had cut the first report off).
pub const WIPE_REPORT_SENT: &str = "the coordinators have now been told how much of this phone's work went with its wipe / 已告知协调员：本机清除时有多少工作未能同步";

/// What an operation saved on the phone changed, for `--json`.
fn applied_value(applied: &Applied, unsynced: usize) -> serde_json::Value {
    json!({"changed": applied.changed, "created": applied.created, "new_entity": applied.new_entity, "unsynced": unsynced})
}

/// Saved locally: whether anything is set aside is said by `status` and `sync`.
fn saved_line(unsynced: usize) -> String {
    format!("saved on this phone / 已保存在手机上; {}", standing(unsynced, SetAside::default()))
}

/// Where the phone stands, in the words the app shows: never "all synced" while anything is
/// set aside.
fn standing(unsynced: usize, set_aside: SetAside) -> String {
    match (unsynced, set_aside.total()) {
        (0, 0) => "all synced / 已全部同步".to_owned(),
        (n, 0) => format!("{} not yet synced / {n} 项未同步", changes(n)),
        (0, _) => set_aside.words(),
        (n, _) => {
            let words = set_aside.words();
            let (en, zh) = words.split_once(" / ").unwrap_or((&words, ""));
            format!("{} not yet synced, {en} / {n} 项未同步，{zh}", changes(n))
        }
    }
}

/// Where the phone stands after a sync: [`standing`], except that a sync in which documents
/// could not sync (the relay busy, a document damaged on its disk) never reads "all synced"
/// (the phone has nothing the relay has not taken, but it did not hear those documents' news).
fn sync_standing(report: &SyncReport, unsynced: usize, set_aside: SetAside) -> String {
    let mut documents: Vec<_> = report.retrying.iter().map(|r| r.doc).collect();
    documents.sort();
    documents.dedup();
    match documents.len() {
        0 => standing(unsynced, set_aside),
        n if unsynced == 0 && set_aside.total() == 0 => format!(
            "all of this phone's changes are on the relay, but {} did not sync (below) / \
             本机修改均已同步，但有 {n} 份文件本次未能同步（见下）",
            plural(n, "document", "documents")
        ),
        n => {
            let words = standing(unsynced, set_aside);
            let (en, zh) = words.split_once(" / ").unwrap_or((&words, ""));
            format!(
                "{en}; {} did not sync (below) / {zh}；{n} 份文件本次未能同步（见下）",
                plural(n, "document", "documents")
            )
        }
    }
}

/// What a sync says of a phone clock `off` milliseconds behind the relay's (ahead, if negative).
fn clock_off_text(off: i64) -> String {
    // To the nearest minute, or past a day to the nearest hour (a clock set a month back reads
    // "30 days", not "29 days 23 h").
    let minutes = (off.unsigned_abs() + 30_000) / 60_000;
    let hours = (minutes + 30) / 60;
    let (en, zh) = match (minutes / 60, minutes % 60, hours / 24, hours % 24) {
        (0, m, _, _) => (plural(m as usize, "minute", "minutes"), format!("{m} 分钟")),
        (h, m, 0, _) => (format!("{h} h {m} min"), format!("{h} 小时 {m} 分钟")),
        (_, _, d, 0) => (plural(d as usize, "day", "days"), format!("{d} 天")),
        (_, _, d, h) => (format!("{} {h} h", plural(d as usize, "day", "days")), format!("{d} 天 {h} 小时")),
    };
    let (ahead_en, ahead_zh) = if off > 0 { ("ahead of", "快") } else { ("behind", "慢") };
    format!(
        "this phone's clock is {en} {ahead_en} the relay's: this phone's clock or the relay's is wrong; if the phone's date, time or time zone is wrong, set it (till then this phone dates its work by the relay's clock, but not once it restarts); if it is right, tell your coordinator the relay's clock is wrong / \
         本机时钟比中继{ahead_zh} {zh}：本机或中继的时钟有误；如手机的日期、时间或时区不对，请校正（校正前本机按中继时钟记录时间，但手机重启后不再如此）；如手机时间无误，请告诉协调员中继的时钟错了"
    )
}

/// "1 change", "2 changes".
fn changes(n: usize) -> String {
    plural(n, "change", "changes")
}

/// When the phone last heard from the relay, as a person reads it: the compound's clock, how
/// long ago, and whether the relay had anything new then (`news`: documents it brought new
/// content for), so a volunteer can tell whether what they see may be stale. Past an hour it
/// says the relay may hold newer work.
fn last_sync_line(
    at: doorstep_core::Timestamp,
    now: doorstep_core::Timestamp,
    offset: UtcOffset,
    news: Option<usize>,
) -> String {
    let minutes = (now.as_millis() - at.as_millis()).max(0) / 60_000;
    let ago = match minutes {
        0 => "just now / 刚刚".to_owned(),
        m if m < 60 => format!("{m} min ago / {m} 分钟前"),
        m if m < 48 * 60 => format!("{} h ago / {} 小时前", m / 60, m / 60),
        m => format!("{} days ago / {} 天前", m / 1440, m / 1440),
    };
    let mut s = format!("last sync / 上次同步 {} ({}), {ago}", offset.local_time(at), offset.label());
    match news {
        Some(0) => s.push_str("; the relay had nothing new then / 当时中继没有新内容"),
        Some(n) => s.push_str(&format!(
            "; the relay had news for {} then / 当时中继带来 {n} 份文件的更新",
            plural(n, "document", "documents")
        )),
        None => {}
    }
    if minutes >= 60 {
        s.push_str(
            "\nthe relay may hold newer work: sync when in signal / 中继上可能有更新的内容，有信号时请同步",
        );
    }
    s
}

/// After "delivered" was recorded on a task this phone already saw delivered (the same
/// volunteer tapping twice, or a teammate's delivery synced meanwhile): a line on stderr, which
/// `--json`'s stdout does not carry, naming the earlier deliveries. Both are kept; the
/// coordinators see a double delivery to review.
pub fn delivered_again(before: &[doorstep_core::schema::task::Attempt], people: &People, offset: UtcOffset) {
    let earlier: Vec<String> = before
        .iter()
        .map(|a| {
            let who = people.name(a.knocker()).unwrap_or("someone / 他人");
            format!("{who} {} ({})", offset.local_time(a.knock_time()), offset.label())
        })
        .collect();
    let _ = writeln!(
        std::io::stderr().lock(),
        "note: this task was already marked delivered ({}); both are kept and the coordinators will see a double delivery to review; if this one was a mistake, tell them / 注意：此任务之前已标记为送达（{}），两条记录都会保留，协调员会看到重复送达待核实；如属误操作请告知协调员",
        earlier.join(", "),
        earlier.join("、")
    );
}

/// The time zone the phone shows times in: its compound's (a phone holds one), UTC+8 before it
/// holds any.
pub fn time_zone(replica: &Replica) -> UtcOffset {
    replica.compounds().next().map(doorstep_core::Compound::utc_offset).unwrap_or_default()
}

fn household_line(h: &Household) -> String {
    let needs_zh: Vec<&str> = h.needs.iter().map(|n| n.label_zh()).collect();
    let needs_en: Vec<&str> = h.needs.iter().map(|n| n.label_en()).collect();
    format!(
        "{} {}层 / floor {} {} ({}, 60+ {}) {} / {}{}",
        h.address,
        h.address.floor,
        h.address.floor,
        h.head,
        h.people.map_or_else(
            || "人数未填 / people not given".to_owned(),
            |people| format!("{people}人 / {}", plural(people as usize, "person", "people"))
        ),
        h.aged_60_plus,
        h.status.label_zh(),
        h.status.label_en(),
        if needs_zh.is_empty() {
            String::new()
        } else {
            format!(" [{} / {}]", needs_zh.join("、"), needs_en.join(", "))
        }
    )
}

/// Writes refused changes, with their bytes in hex, as JSON for a coordinator.
pub fn export_quarantine(path: &Path, changes: &[QuarantinedChange]) -> Result<(), PhoneError> {
    let rows: Vec<_> = changes
        .iter()
        .map(|c| {
            let hex: String = c.bytes.iter().map(|b| format!("{b:02x}")).collect();
            let operation: Option<serde_json::Value> =
                c.operation.as_deref().and_then(|o| serde_json::from_str(o).ok());
            json!({"hash": c.hash, "document": c.document, "rule": c.rule, "reason": c.reason, "at": c.at,
                   "person": c.person, "operation": operation, "made_at": c.made_at, "bytes_hex": hex})
        })
        .collect();
    let text = serde_json::to_string_pretty(&rows).unwrap_or_default();
    // Residents' words (a request's text, a note) are in it: readable by its owner only, as the
    // phone's key file is. A file there already keeps its mode; it is truncated and written.
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()).and_then(|()| file.sync_all()))
        .map_err(|source| PhoneError::Export { path: path.display().to_string(), source })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use doorstep_core::Timestamp;

    use doorstep_core::schema::utc_offset::UtcOffset;

    use doorstep_core::id::PersonId;
    use doorstep_replica::SyncReport;

    use super::{
        DocumentNames, Names, SetAside, clock_off_text, conflict_text, last_sync_line, not_arrived_words,
        printable, quarantine_line, standing, synced_text,
    };
    use crate::people::People;

    fn uuid_pattern() -> regex::Regex {
        regex::Regex::new(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
            .unwrap()
    }

    #[test]
    fn a_set_aside_change_says_its_rule_in_chinese_before_the_relays_sentence() {
        let round = doorstep_core::id::DocumentId::from_uuid(uuid_of(1));
        let household = doorstep_core::id::HouseholdId::from_uuid(uuid_of(2));
        let task = doorstep_core::id::TaskId::from_uuid(uuid_of(3));
        let _ = household;
        let mut documents = DocumentNames::default();
        for (key, label) in [
            (format!("document:{round}"), "round 蔬菜包 第1轮 / 配送轮次 蔬菜包 第1轮"),
            (format!("task:{task}"), "香樟苑 1号楼1单元101"),
            (format!("round:{round}"), "蔬菜包 第1轮"),
        ] {
            documents.labels.insert(key, label.to_owned());
        }
        let change = doorstep_replica::QuarantinedChange {
            hash: "ab12".into(),
            document: round.to_string(),
            compound: None,
            rule: "closed_rounds_are_final".into(),
            reason: "round 蔬菜包 was closed at 18:00".into(),
            bytes: Vec::new(),
            at: 0,
            person: None,
            operation: Some(
                serde_json::json!({"op": "record_attempt", "round": round, "task": task, "outcome": "delivered", "note": ""})
                    .to_string(),
            ),
            made_at: None,
            review_state: "under_review".into(),
            reviewed_by: None,
            reviewed_by_name: None,
            reviewed_at: None,
            review_note: None,
        };
        let line = quarantine_line(&change, &documents, &People::default());
        assert_eq!(
            line,
            "attempt / 上门记录 at 香樟苑 1号楼1单元101, 蔬菜包 第1轮, in round 蔬菜包 第1轮 / 配送轮次 蔬菜包 第1轮: \
             已结束的配送轮次不再接受修改 / round 蔬菜包 was closed at 18:00 (closed_rounds_are_final) — under review / 待协调员处理"
        );
        // A change in the requests list, and one in a document the phone let go of, are named
        // by what they are; none names an ID.
        let requests = doorstep_core::id::DocumentId::from_uuid(uuid_of(4));
        documents.labels.insert(format!("document:{requests}"), "requests / 居民请求".into());
        let in_requests = quarantine_line(
            &doorstep_replica::QuarantinedChange {
                document: requests.to_string(),
                operation: None,
                ..change.clone()
            },
            &documents,
            &People::default(),
        );
        assert!(in_requests.starts_with("a change / 一项修改, in requests / 居民请求: "), "{in_requests}");
        let gone = quarantine_line(
            &doorstep_replica::QuarantinedChange { document: uuid_of(5).to_string(), ..change.clone() },
            &documents,
            &People::default(),
        );
        assert!(
            gone.contains("in a document no longer on this phone (a closed round) / 本机已不再保存的文件"),
            "{gone}"
        );
        // A relay sentence that names an ID or a raw time gives way to the rule's English.
        let with_ids = quarantine_line(
            &doorstep_replica::QuarantinedChange {
                reason: format!(
                    "the round is closed and task {task}'s new attempt was made at 1796104357275 (Unix ms)"
                ),
                ..change.clone()
            },
            &documents,
            &People::default(),
        );
        assert!(
            with_ids.contains(": 已结束的配送轮次不再接受修改 / a closed round takes no more changes (closed_rounds_are_final) — "),
            "{with_ids}"
        );
        let unknown = quarantine_line(
            &doorstep_replica::QuarantinedChange { rule: "malformed".into(), ..change },
            &documents,
            &People::default(),
        );
        assert!(unknown.contains("中继拒绝了这项修改 / "), "{unknown}");
        for text in [&line, &in_requests, &gone, &with_ids, &unknown] {
            assert!(!text.contains("Unix ms"), "{text}");
            assert!(!uuid_pattern().is_match(text), "{text}");
        }
    }

    #[test]
    fn a_decided_set_aside_item_names_its_coordinator_or_a_coordinator_and_its_reason_never_an_id() {
        let wang = PersonId::from_uuid(uuid_of(6));
        let stranger = PersonId::from_uuid(uuid_of(7));
        let people = People::from_names([(wang, Some("王芳".to_owned()))]);
        let documents = DocumentNames::default();
        let item = |by: PersonId, note: Option<&str>| doorstep_replica::QuarantinedChange {
            hash: "ab12".into(),
            document: uuid_of(5).to_string(),
            compound: None,
            rule: "forbidden".into(),
            reason: doorstep_replica::LET_GO.into(),
            bytes: Vec::new(),
            at: 0,
            person: None,
            operation: None,
            made_at: None,
            review_state: "dismissed".into(),
            reviewed_by: Some(by.to_string()),
            reviewed_by_name: None,
            reviewed_at: Some(1),
            review_note: note.map(str::to_owned),
        };
        // Known by the phone, with the reason kept.
        let line = quarantine_line(&item(wang, Some("已由协调员另行记录")), &documents, &people);
        assert!(
            line.ends_with("dismissed by 王芳: 已由协调员另行记录 / 已由 王芳 驳回：已由协调员另行记录"),
            "{line}"
        );
        // Unknown, and no reason kept (an item let go of): no ID, no empty colon.
        let line = quarantine_line(&item(stranger, None), &documents, &people);
        assert!(line.ends_with("dismissed by a coordinator / 已由协调员驳回"), "{line}");
        let applied =
            doorstep_replica::QuarantinedChange { review_state: "applied".into(), ..item(stranger, None) };
        let applied = quarantine_line(&applied, &documents, &people);
        assert!(applied.ends_with("applied by a coordinator / 已由协调员采用"), "{applied}");
        for text in [&line, &applied] {
            assert!(!uuid_pattern().is_match(text), "{text}");
            assert!(!text.contains(": /") && !text.contains("："), "{text}");
        }
    }

    #[test]
    fn a_reviewed_conflict_names_its_reviewer_or_a_coordinator_never_an_id() {
        use doorstep_core::query::{Conflict, ConflictReview};
        let round = doorstep_core::id::DocumentId::from_uuid(uuid_of(1));
        let household = doorstep_core::id::HouseholdId::from_uuid(uuid_of(2));
        let task = doorstep_core::id::TaskId::from_uuid(uuid_of(3));
        let wang = PersonId::from_uuid(uuid_of(6));
        let stranger = PersonId::from_uuid(uuid_of(7));
        let mut names = Names::default();
        names.addresses.0.insert(household, ("香樟苑 1号楼1单元101".into(), "1-1-101".into()));
        names.rounds.0.insert(round, "蔬菜包 第1轮".into());
        names.people = People::from_names([(wang, Some("王芳".to_owned()))]);
        let conflict = Conflict::DoubleDelivery {
            round,
            task,
            household,
            deliveries: Vec::new(),
            attempt_ids: Vec::new(),
        };
        let review = |by| doorstep_core::schema::review::Review {
            id: doorstep_core::id::ReviewId::from_uuid(uuid_of(8)),
            subject: conflict.subject(),
            covers: std::collections::BTreeSet::new(),
            by,
            at: Timestamp::from_millis(1_795_413_959_000),
            note: "已核实".into(),
        };
        let open = ConflictReview { conflict: conflict.clone(), review: None, earlier_review: None };
        let by_wang =
            ConflictReview { conflict: conflict.clone(), review: Some(review(wang)), earlier_review: None };
        let by_stranger = ConflictReview {
            conflict: conflict.clone(),
            review: Some(review(stranger)),
            earlier_review: None,
        };
        let offset = UtcOffset::default();
        let open = conflict_text(&open, &names, offset, false);
        assert!(open.ends_with("待核实 / to review: doorstep phone review 1-1-101"), "{open}");
        let by_wang = conflict_text(&by_wang, &names, offset, false);
        assert!(by_wang.contains("已核实 / reviewed by 王芳 at "), "{by_wang}");
        let by_stranger = conflict_text(&by_stranger, &names, offset, false);
        assert!(by_stranger.contains("reviewed by a coordinator / 协调员 at "), "{by_stranger}");
        for text in [&open, &by_wang, &by_stranger] {
            assert!(!uuid_pattern().is_match(text), "{text}");
        }
    }

    #[test]
    fn counts_read_as_words() {
        assert_eq!(
            printable("门口\u{1b}]0;pwned\u{7}\n第二行\t好"),
            "门口\u{FFFD}]0;pwned\u{FFFD}\n第二行\t好"
        );
        assert_eq!(printable("\u{9b}31m红"), "\u{FFFD}31m红", "C1 controls too");
        assert_eq!(
            printable("10\u{202E}11\r已送达"),
            "10\u{FFFD}11\u{FFFD}已送达",
            "overrides and carriage returns too"
        );
        assert_eq!(standing(1, SetAside::default()), "1 change not yet synced / 1 项未同步");
        assert_eq!(standing(3, SetAside::default()), "3 changes not yet synced / 3 项未同步");
        assert_eq!(standing(0, SetAside::default()), "all synced / 已全部同步");
        // Documents not (wholly) here yet are said, not "all synced".
        use doorstep_replica::copy_fetch::NotArrived;
        assert_eq!(not_arrived_words(NotArrived::default()), None);
        let lacking = not_arrived_words(NotArrived { lacking: 2, behind: 0 }).unwrap();
        assert!(
            lacking.starts_with("2 documents from the relay not here yet")
                && lacking.contains("还有 2 份文件尚未从中继取得"),
            "{lacking}"
        );
        let behind = not_arrived_words(NotArrived { lacking: 0, behind: 1 }).unwrap();
        assert!(
            behind.starts_with("the relay holds news for 1 document not here yet")
                && behind.contains("may be missing"),
            "{behind}"
        );
        let waiting = SetAside { under_review: 2, ..SetAside::default() };
        assert_eq!(standing(0, waiting), "2 set aside, under review / 2 项待协调员处理");
        // Not all in the inbox: where each stands, not "under review" for all of them.
        let mixed = SetAside { under_review: 2, to_send: 7, not_accepted: 1 };
        assert_eq!(
            standing(1, mixed),
            "1 change not yet synced, 10 set aside: 2 under review, 7 to send for review, 1 not accepted by the relay (export them for a coordinator) / 1 项未同步，10 项被搁置：2 项待协调员处理，7 项待上传，1 项中继未接收（可导出交给协调员）"
        );
    }

    #[test]
    fn last_sync_is_a_time_of_day_and_an_age_not_unix_milliseconds() {
        // 2026-11-23 06:05 UTC is 14:05 in the compound.
        let at = Timestamp::from_millis(1_795_413_959_000);
        let later = Timestamp::from_millis(1_795_413_959_000 + 5 * 60_000);
        let line = last_sync_line(at, later, UtcOffset::default(), None);
        assert_eq!(line, "last sync / 上次同步 2026-11-23 14:05 (UTC+8), 5 min ago / 5 分钟前");
        // A compound set to UTC+5:30 reads the same moment as 11:35.
        let india = UtcOffset::from_minutes(330).unwrap();
        assert_eq!(
            last_sync_line(at, later, india, None),
            "last sync / 上次同步 2026-11-23 11:35 (UTC+5:30), 5 min ago / 5 分钟前"
        );
        let stale = last_sync_line(
            at,
            Timestamp::from_millis(1_795_413_959_000 + 3 * 86_400_000),
            UtcOffset::default(),
            None,
        );
        assert!(stale.contains("3 days ago") && stale.contains("newer work"), "{stale}");
        assert!(!line.contains("1795413959000"));
    }

    #[test]
    fn last_sync_says_whether_the_relay_had_anything_new_and_when_to_sync_again() {
        let at = Timestamp::from_millis(1_795_413_959_000);
        let soon = Timestamp::from_millis(1_795_413_959_000 + 5 * 60_000);
        assert_eq!(
            last_sync_line(at, soon, UtcOffset::default(), Some(3)),
            "last sync / 上次同步 2026-11-23 14:05 (UTC+8), 5 min ago / 5 分钟前; \
             the relay had news for 3 documents then / 当时中继带来 3 份文件的更新"
        );
        let one = last_sync_line(at, soon, UtcOffset::default(), Some(1));
        assert!(one.contains("news for 1 document then"), "{one}");
        let none = last_sync_line(at, soon, UtcOffset::default(), Some(0));
        assert!(none.ends_with("the relay had nothing new then / 当时中继没有新内容"), "{none}");
        // Two hours on, the phone says the relay may hold newer work, in both languages.
        let later = last_sync_line(
            at,
            Timestamp::from_millis(1_795_413_959_000 + 2 * 3_600_000),
            UtcOffset::default(),
            Some(0),
        );
        assert!(
            later.ends_with(
                "the relay may hold newer work: sync when in signal / 中继上可能有更新的内容，有信号时请同步"
            ),
            "{later}"
        );
        assert!(!none.contains("newer work"), "{none}");
    }

    #[test]
    fn a_sync_reads_in_both_languages_with_counts_that_agree() {
        let one = SyncReport { requests: 1, bytes_up: 512, bytes_down: 640, ..SyncReport::default() };
        assert_eq!(
            synced_text(&one, 0, SetAside::default()),
            "synced in 1 request (512 B up, 640 B down) / 同步完成，1 次请求（上传 512 B，下载 640 B）; \
             nothing new from the relay / 中继没有新内容; all synced / 已全部同步"
        );
        let id = doorstep_core::id::DocumentId::from_uuid(uuid_of(7));
        let other = doorstep_core::id::DocumentId::from_uuid(uuid_of(8));
        let two = SyncReport {
            requests: 2,
            changed: vec![id, id],
            fetched: vec![other],
            reapplied: 1,
            ..SyncReport::default()
        };
        let text = synced_text(&two, 1, SetAside::default());
        assert!(text.starts_with("synced in 2 requests ("), "{text}");
        assert!(text.contains("the relay had news for 2 documents / 中继带来 2 份文件的更新"), "{text}");
        assert!(text.contains("1 change not yet synced / 1 项未同步"), "{text}");
        assert!(
            text.contains("\n1 later change carried out again and synced / 1 项后续修改已重新执行并同步"),
            "{text}"
        );
        assert!(!text.contains("1 requests") && !text.contains("1 documents"), "{text}");
    }

    /// The sync that wipes a removed volunteer's phone holding 2 unsynced knocks: one count of
    /// what was set aside (2), words of the removal. Was: "refused … this phone may not change this
    /// document (forbidden) (×3)", "3 documents removed … (closed rounds, …)" and a second count.
    #[test]
    fn the_sync_of_a_removal_counts_the_set_aside_once_and_says_the_removal() {
        use doorstep_core::relay_engine::rejection::{FORBIDDEN, reject};
        let round = doorstep_core::id::DocumentId::from_uuid(uuid_of(7));
        let forbidden = reject(round, FORBIDDEN, None, "this device may not write this document");
        let report = SyncReport {
            requests: 2,
            rejected: vec![forbidden.clone(), forbidden.clone(), forbidden],
            set_aside: 2,
            set_aside_sent: 2,
            dropped: vec![round, doorstep_core::id::DocumentId::from_uuid(uuid_of(8))],
            removed_from: vec!["香樟苑".to_owned()],
            ..SyncReport::default()
        };
        let text = synced_text(&report, 0, SetAside { under_review: 2, ..SetAside::default() });
        assert!(text.contains("2 set aside, under review / 2 项待协调员处理"), "{text}");
        assert!(text.contains("你已被移出 香樟苑") && text.contains("removed from 香樟苑"), "{text}");
        assert!(
            text.contains(
                "after the removal the relay takes nothing more from this phone: what it had not synced \
                 was set aside and sent to the coordinators for review / 移出后中继不再接收本机的修改：\
                 未同步的修改已搁置并提交协调员处理"
            ),
            "{text}"
        );
        for misleading in [
            "×",
            "may not change this document",
            "无权",
            "closed rounds",
            "已结束",
            "2 set-aside changes sent",
        ] {
            assert!(!text.contains(misleading), "{misleading:?} in {text}");
        }
        assert_eq!(text.matches("set aside").count(), 2, "the count, and the removal's line: {text}");
    }

    #[test]
    fn a_sync_in_which_a_document_did_not_sync_never_reads_all_synced() {
        use doorstep_core::relay_engine::rejection::{DOCUMENT_DAMAGED, UNAVAILABLE, reject};
        let roster = doorstep_core::id::DocumentId::from_uuid(uuid_of(7));
        let damaged = reject(roster, DOCUMENT_DAMAGED, None, "restore the relay's database from a backup");
        let report =
            SyncReport { requests: 1, retrying: vec![damaged.clone(), damaged], ..SyncReport::default() };
        let text = synced_text(&report, 0, SetAside::default());
        assert!(!text.contains("all synced") && !text.contains("已全部同步"), "{text}");
        assert!(
            text.contains(
                "all of this phone's changes are on the relay, but 1 document did not sync (below) / \
                 本机修改均已同步，但有 1 份文件本次未能同步（见下）"
            ),
            "{text}"
        );
        assert!(text.contains("this phone keeps its changes until then"), "{text}");
        // Not "could not take it now: the relay refused this change" (an operator's finding).
        assert!(
            text.contains("the relay's copy is damaged") && text.contains("从备份恢复后才能上传"),
            "{text}"
        );
        assert!(!text.contains("could not take it now") && !text.contains("refused this change"), "{text}");
        assert!(
            !text.contains("will sync later"),
            "a damaged document does not come back by waiting: {text}"
        );
        let busy = SyncReport {
            requests: 1,
            retrying: vec![reject(roster, UNAVAILABLE, None, "the relay is busy")],
            ..SyncReport::default()
        };
        let text = synced_text(&busy, 2, SetAside::default());
        assert!(
            text.contains("2 changes not yet synced; 1 document did not sync (below) / 2 项未同步；1 份文件本次未能同步（见下）"),
            "{text}"
        );
        assert!(text.contains("kept, will sync later"), "{text}");
    }

    /// A document refused for more branches than a sync carries is not "busy, sync again": the
    /// line says it is refused at every sync until merged, what the app does, and what to do.
    #[test]
    fn a_document_with_too_many_heads_is_not_said_to_pass_by_waiting() {
        use doorstep_core::relay_engine::rejection::{TOO_MANY_HEADS, reject};
        let round = doorstep_core::id::DocumentId::from_uuid(uuid_of(2));
        let refused = reject(
            round,
            TOO_MANY_HEADS,
            None,
            format!("this phone's copy of document {round} has 4100 heads"),
        );
        let report = SyncReport { requests: 1, retrying: vec![refused], ..SyncReport::default() };
        let text = synced_text(&report, 1, SetAside::default());
        assert!(
            text.contains("refused at every sync until merged / 合并分支之前每次同步都会被拒收"),
            "{text}"
        );
        assert!(text.contains("本机这份文件的分支太多"), "{text}");
        assert!(text.contains("update the app") && text.contains("请更新应用"), "{text}");
        assert!(!text.contains("will sync later") && !text.contains("could not take it now"), "{text}");
        assert!(!text.contains(&round.to_string()), "no ID: {text}");
    }

    /// A sync's refusal lines are in the volunteer's words, as `quarantine`'s are: the rule in
    /// Chinese, never an ID or a raw time, and a meaning for the phone's own codes.
    #[test]
    fn a_syncs_refusals_say_why_in_both_languages_and_name_no_id() {
        use doorstep_core::relay_engine::rejection::{HELD_FOR_ITS_AUTHOR, reject};
        let round = doorstep_core::id::DocumentId::from_uuid(uuid_of(1));
        let task = uuid_of(3);
        let closed = reject(
            round,
            "closed_rounds_are_final",
            None,
            format!(
                "the round is closed and task {task}'s new attempt was made at 1796558503998 (Unix ms), after the close"
            ),
        );
        let not_reapplied = reject(round, doorstep_replica::NOT_REAPPLIED, None, "");
        let held = reject(
            round,
            HELD_FOR_ITS_AUTHOR,
            None,
            format!("change {task} was made on another person's phone"),
        );
        let report = SyncReport {
            requests: 1,
            rejected: vec![closed, not_reapplied],
            retrying: vec![held],
            ..SyncReport::default()
        };
        let text = synced_text(&report, 0, SetAside::default());
        assert!(text.contains("已结束的配送轮次不再接受修改 / a closed round takes no more changes (closed_rounds_are_final)"), "{text}");
        assert!(
            text.contains(
                "这项修改无法在中继最新的数据上重新执行 / this change could not be carried out again"
            ),
            "{text}"
        );
        assert!(text.contains("要等那部手机同步后才能上传"), "{text}");
        assert!(!text.contains("Unix ms") && !uuid_pattern().is_match(&text), "{text}");
    }

    /// A member removed while offline has every document refused for one reason: the sync
    /// says it once, with how many, not once per document.
    #[test]
    fn one_refusal_of_several_documents_is_one_line_with_its_count() {
        use doorstep_core::relay_engine::rejection::{UNAVAILABLE, reject};
        let documents = [1, 2, 3].map(|n| doorstep_core::id::DocumentId::from_uuid(uuid_of(n)));
        let report = SyncReport {
            requests: 2,
            rejected: documents.iter().map(|d| reject(*d, "forbidden", None, "")).collect(),
            retrying: documents[..2].iter().map(|d| reject(*d, UNAVAILABLE, None, "busy")).collect(),
            set_aside: 1,
            ..SyncReport::default()
        };
        let text = synced_text(&report, 0, SetAside::default());
        assert_eq!(text.matches("refused by the relay").count(), 1, "{text}");
        assert!(text.contains("(forbidden) (×3) — set aside for a coordinator"), "{text}");
        assert_eq!(text.matches("could not take it now").count(), 1, "{text}");
        assert!(text.contains(" (×2) — kept, will sync later"), "{text}");
    }

    #[test]
    fn a_reason_in_both_languages_is_said_whole_and_not_after_another_rules_chinese() {
        use super::refusal_words;
        let let_go = refusal_words("forbidden", doorstep_replica::LET_GO);
        assert_eq!(let_go, format!("{} (forbidden)", doorstep_replica::LET_GO));
        assert!(!let_go.contains("本机无权修改这份文件"), "{let_go}");
        // A reason in English alone still follows the rule's Chinese.
        let english = refusal_words("forbidden", "volunteers may not change this round's plan");
        assert!(english.starts_with("本机无权修改这份文件 / volunteers may not"), "{english}");
    }

    #[test]
    fn a_sync_says_how_far_the_phones_clock_is_off_and_what_was_carried_out_again() {
        let report = SyncReport {
            requests: 2,
            retimed: 2,
            clock_off_by_ms: Some((3 * 24 * 60 + 2 * 60 + 5) * 60_000),
            ..SyncReport::default()
        };
        let text = synced_text(&report, 0, SetAside::default());
        assert!(text.contains("this phone's clock is 3 days 2 h ahead of the relay's"), "{text}");
        assert!(text.contains("本机时钟比中继快 3 天 2 小时"), "{text}");
        assert!(
            text.contains("\n2 changes recorded by this phone's wrong clock carried out again"),
            "{text}"
        );
        assert_eq!(
            clock_off_text(-40 * 60_000).split(" / ").next().unwrap().split(':').next().unwrap(),
            "this phone's clock is 40 minutes behind the relay's"
        );
        assert!(clock_off_text(-90 * 60_000).contains("1 h 30 min behind"));
        let a_month = clock_off_text(-(30 * 24 * 3_600_000 - 4_000));
        assert!(a_month.contains("clock is 30 days behind") && a_month.contains("慢 30 天："), "{a_month}");
        // The relay's clock may be the wrong one (a relay whose clock is wrong makes every
        // honest phone look wrong): the text says either may be, in both languages.
        assert!(a_month.contains("this phone's clock or the relay's is wrong"), "{a_month}");
        assert!(a_month.contains("本机或中继的时钟有误") && a_month.contains("中继的时钟错了"), "{a_month}");
    }

    fn uuid_of(n: u128) -> uuid::Uuid {
        uuid::Uuid::from_u128(n)
    }
}
