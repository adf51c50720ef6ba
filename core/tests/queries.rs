//! The typed questions volunteers and coordinators ask: doors in climbing order, households by
//! the address a person types, the special-needs ledger, the overview's counts and each task's
//! derived status.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use doorstep_core::query::{
    HouseholdBook, LookupError, counts, doors_for, find_household, households_in_order, special_needs,
};
use doorstep_core::schema::control_status::ControlStatus;
use doorstep_core::schema::need_tag::NeedTag;
use doorstep_core::schema::vocabulary::{DocKind, Outcome, Priority, TaskKind, TaskStatus};
use doorstep_core::{Operation, Selection};
use support::{CLIMBING_ORDER, Fixture, draft};

fn building(label: &str) -> Selection {
    Selection::Building { estate: String::new(), building: label.into() }
}

#[test]
fn doors_group_tasks_and_follow_the_stairs() {
    let mut fx = Fixture::default();
    let (c, v) = (fx.people.coordinator, fx.people.volunteer);
    let groceries = fx.round("蔬菜包 第1轮", Selection::All);
    let medicine = fx
        .ok(
            &c,
            &Operation::CreateRound {
                title: "药品".into(),
                kind: TaskKind::Medicine,
                date: "2026-11-23".into(),
                selection: Selection::Need { need: NeedTag::Dialysis },
                items: "促红素".into(),
                priority: Priority::Urgent,
            },
        )
        .created[0];
    for b in ["2", "10"] {
        let op = Operation::AssignBuilding {
            round: groceries,
            estate: String::new(),
            building: b.into(),
            volunteer: v.person,
        };
        fx.ok(&c, &op);
    }
    let dialysis = fx.task_at(medicine, "10-1-201");
    fx.ok(&v, &Operation::ClaimTask { round: medicine, task: dialysis });

    let doors = doors_for(&fx.compound, Some(v.person));
    let order: Vec<&str> = doors.iter().map(|d| fx.address_of(d.household.id)).collect();
    assert_eq!(order, CLIMBING_ORDER, "building 2 before 10, floor 9 before 10, by number");
    let door = &doors[3];
    assert_eq!(fx.address_of(door.household.id), "10-1-201");
    let kinds: Vec<TaskKind> = door.tasks.iter().map(|t| t.kind).collect();
    assert_eq!(kinds, [TaskKind::Medicine, TaskKind::Groceries], "one visit, several jobs; urgent first");
    assert!(doors.iter().filter(|d| d.household.id != door.household.id).all(|d| d.tasks.len() == 1));

    // What is done leaves the list; what was only attempted stays.
    let (first, second, third) = (
        fx.task_at(groceries, "2-1-101"),
        fx.task_at(groceries, "2-1-302"),
        fx.task_at(groceries, "2-2-101"),
    );
    let attempt =
        |task, outcome| Operation::RecordAttempt { round: groceries, task, outcome, note: String::new() };
    fx.ok(&v, &attempt(first, Outcome::Delivered));
    fx.ok(&v, &attempt(second, Outcome::NobodyHome));
    fx.ok(&c, &Operation::CancelTask { round: groceries, task: third, reason: "已转运".into() });
    let doors = doors_for(&fx.compound, Some(v.person));
    let order: Vec<&str> = doors.iter().map(|d| fx.address_of(d.household.id)).collect();
    assert_eq!(order, ["2-1-302", "10-1-201", "10-1-902", "10-1-1001"]);
    assert_eq!(doors[0].tasks[0].status(), TaskStatus::Attempted);

    // Another volunteer has nothing; "anyone" sees every pending task, assigned or not.
    assert!(doors_for(&fx.compound, Some(fx.people.volunteer2.person)).is_empty());
    fx.ok(&c, &Operation::UnassignTask { round: groceries, task: fx.task_at(groceries, "10-1-902") });
    let everyone = doors_for(&fx.compound, None);
    assert_eq!(everyone.len(), 4);
    assert_eq!(doors_for(&fx.compound, Some(v.person)).len(), 3);

    // A closed round's tasks are no one's any more.
    fx.ok(&c, &Operation::CloseRound { round: groceries });
    let doors = doors_for(&fx.compound, Some(v.person));
    assert_eq!(doors.len(), 1);
    assert_eq!(doors[0].tasks.iter().map(|t| t.id).collect::<Vec<_>>(), [dialysis]);
}

#[test]
fn numeric_order_covers_buildings_units_and_flats() {
    let mut fx = Fixture::default();
    let c = fx.people.coordinator;
    // Flats on one floor, and units, whose text order differs from their number order.
    for address in ["2-10-101", "2-1-110", "2-1-108"] {
        fx.ok(&c, &Operation::AddHousehold { draft: draft(address) });
    }
    let order: Vec<String> = households_in_order(&fx.compound)
        .iter()
        .map(|h| format!("{}-{}-{}", h.address.building, h.address.unit, h.address.flat))
        .collect();
    assert_eq!(
        order,
        [
            "2-1-101",
            "2-1-108",
            "2-1-110",
            "2-1-302",
            "2-2-101",
            "2-10-101",
            "10-1-201",
            "10-1-902",
            "10-1-1001"
        ]
    );
}

#[test]
fn find_household_reads_what_people_type() {
    let fx = Fixture::default();
    let want = fx.household("10-1-1001");
    for text in [
        "10号楼1单元1001",
        "10栋1单元1001室",
        "10-1-1001",
        "１０号楼１单元１００１",
        "１０－１－１００１",
        " 10 栋 1 单元 1001 ",
        "幸福里10号楼1单元1001",
    ] {
        let found = find_household(&fx.compound, text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(found.id, want, "{text:?}");
    }
    // Without a unit, a flat number that exists once is enough.
    assert_eq!(find_household(&fx.compound, "10栋902").unwrap().id, fx.household("10-1-902"));
}

#[test]
fn find_household_says_what_went_wrong() {
    let fx = Fixture::default();
    match find_household(&fx.compound, "10-1-1002") {
        Err(LookupError::NotFound(text)) => assert_eq!(text, "10-1-1002"),
        other => panic!("{other:?}"),
    }
    match find_household(&fx.compound, "10-2-1001") {
        Err(LookupError::NotFound(_)) => {}
        other => panic!("another unit is another household: {other:?}"),
    }
    // Flat 101 is in unit 1 and unit 2 of building 2.
    match find_household(&fx.compound, "2号楼101") {
        Err(e @ LookupError::Ambiguous { .. }) => {
            let LookupError::Ambiguous { candidates, .. } = &e else { unreachable!() };
            assert_eq!(candidates.len(), 2);
            assert!(
                candidates.iter().any(|c| c.contains("1单元"))
                    && candidates.iter().any(|c| c.contains("2单元"))
            );
            assert!(e.to_string().contains("add the estate or unit"), "{e}");
        }
        other => panic!("{other:?}"),
    }
    for text in ["", "hello", "17号楼3单元", "17--702", "号楼3单元702"] {
        match find_household(&fx.compound, text) {
            Err(e @ LookupError::BadAddress(_)) => {
                assert!(e.to_string().contains("17号楼3单元702"), "the error shows the forms that work: {e}")
            }
            other => panic!("{text:?}: {other:?}"),
        }
    }
}

#[test]
fn special_needs_ledger() {
    let mut fx = Fixture::default();
    let ledger: Vec<&str> = special_needs(&fx.compound).iter().map(|h| fx.address_of(h.id)).collect();
    assert_eq!(ledger, ["2-1-302", "10-1-201", "10-1-1001"]);
    let c = fx.people.coordinator;
    let op = Operation::SetNeedTags { household: fx.household("2-1-302"), needs: Default::default() };
    fx.ok(&c, &op);
    let op = Operation::SetNeedTags { household: fx.household("2-1-101"), needs: [NeedTag::Disabled].into() };
    fx.ok(&c, &op);
    let ledger: Vec<&str> = special_needs(&fx.compound).iter().map(|h| fx.address_of(h.id)).collect();
    assert_eq!(ledger, ["2-1-101", "10-1-201", "10-1-1001"]);
}

#[test]
fn counts_for_the_overview() {
    let mut fx = Fixture::default();
    let got = counts(&fx.compound);
    assert_eq!(got.households, 6);
    assert_eq!((got.people, got.aged_60_plus, got.children_under_6), (15, 4, 2));
    assert_eq!(got.special_needs, 3);
    assert_eq!(got.by_status[&ControlStatus::Normal], 2);
    assert_eq!(got.by_status[&ControlStatus::Confirmed], 1);
    assert_eq!(got.by_status.len(), ControlStatus::ALL.len(), "every status is listed, zeros included");
    assert_eq!(got.by_need[&NeedTag::ElderlyAlone], 1);
    assert_eq!(got.by_need[&NeedTag::Chemotherapy], 0);
    assert!(got.by_task_status.values().all(|n| *n == 0));

    let (c, v) = (fx.people.coordinator, fx.people.volunteer);
    let round = fx.round("第1轮", Selection::All);
    let attempt = |task, outcome| Operation::RecordAttempt { round, task, outcome, note: String::new() };
    fx.ok(&v, &attempt(fx.task_at(round, "2-1-101"), Outcome::Delivered));
    fx.ok(&v, &attempt(fx.task_at(round, "2-1-302"), Outcome::Refused));
    fx.ok(&c, &Operation::AssignTask { round, task: fx.task_at(round, "2-2-101"), volunteer: v.person });
    fx.ok(&c, &Operation::CancelTask { round, task: fx.task_at(round, "10-1-201"), reason: String::new() });
    fx.ok(
        &c,
        &Operation::SetControlStatus { household: fx.household("2-1-101"), status: ControlStatus::Confirmed },
    );
    let got = counts(&fx.compound);
    let by_task: Vec<(TaskStatus, u32)> = got.by_task_status.into_iter().collect();
    assert_eq!(
        by_task,
        [
            (TaskStatus::Open, 2),
            (TaskStatus::Assigned, 1),
            (TaskStatus::Attempted, 1),
            (TaskStatus::Delivered, 1),
            (TaskStatus::Cancelled, 1)
        ]
    );
    assert_eq!((got.by_status[&ControlStatus::Normal], got.by_status[&ControlStatus::Confirmed]), (1, 2));

    // Closed rounds no longer count.
    fx.ok(&c, &Operation::CloseRound { round });
    assert!(counts(&fx.compound).by_task_status.values().all(|n| *n == 0));
}

#[test]
fn task_status_is_derived() {
    let mut fx = Fixture::default();
    let (c, v) = (fx.people.coordinator, fx.people.volunteer);
    let round = fx.round("第1轮", building("10"));
    let task = fx.task_at(round, "10-1-201");
    let status = |fx: &Fixture| fx.task(task).status();
    assert_eq!(status(&fx), TaskStatus::Open);
    fx.ok(&c, &Operation::AssignTask { round, task, volunteer: v.person });
    assert_eq!(status(&fx), TaskStatus::Assigned);
    let attempt = |outcome| Operation::RecordAttempt { round, task, outcome, note: String::new() };
    fx.ok(&v, &attempt(Outcome::NobodyHome));
    assert_eq!(status(&fx), TaskStatus::Attempted);
    fx.ok(&v, &attempt(Outcome::Delivered));
    assert_eq!(status(&fx), TaskStatus::Delivered);
    // Delivered wins over a later cancel: the bag is at the door.
    fx.ok(&c, &Operation::CancelTask { round, task, reason: "已转运".into() });
    assert_eq!(status(&fx), TaskStatus::Delivered);
    assert!(fx.task(task).cancelled.is_some(), "the cancellation is kept, not overwritten");

    // Cancelled wins over attempted and assigned.
    let other = fx.task_at(round, "10-1-902");
    fx.ok(&v, &Operation::ClaimTask { round, task: other });
    fx.ok(
        &v,
        &Operation::RecordAttempt { round, task: other, outcome: Outcome::WrongAddress, note: String::new() },
    );
    fx.ok(&c, &Operation::CancelTask { round, task: other, reason: String::new() });
    assert_eq!(fx.task(other).status(), TaskStatus::Cancelled);
}

#[test]
fn delivered_wins_over_a_concurrent_cancel() {
    let mut fx = Fixture::default();
    let (c, v) = (fx.people.coordinator, fx.people.volunteer);
    let round = fx.round("第1轮", building("2"));
    let task = fx.task_at(round, "2-1-302");
    let mut phone = support::fork(&fx.compound, support::device(5));
    fx.ok(&c, &Operation::CancelTask { round, task, reason: "不需要了".into() });
    let mut env = support::TestEnv::seeded(55);
    let op = Operation::RecordAttempt { round, task, outcome: Outcome::Delivered, note: String::new() };
    phone.apply(&mut env.env(), &v, &op).unwrap();
    support::sync_pair(&mut fx.compound, &mut phone);
    for side in [&fx.compound, &phone] {
        let t = side.tasks().into_iter().find(|t| t.id == task).unwrap();
        assert_eq!(t.status(), TaskStatus::Delivered);
        assert!(t.cancelled.is_some());
    }
}

/// A household removed from the roster is still found, as it last stood, by whoever shows work
/// that names it (a request taken at its door offline): its address, head and notes, marked as
/// removed, with when; a live household is not marked, and an ID the roster never held is not
/// found.
#[test]
fn a_removed_household_is_found_as_it_last_stood() {
    let mut fx = Fixture::default();
    let c = fx.people.coordinator;
    let gone = fx.household("10-1-902");
    let kept = fx.household("2-1-101");
    fx.ok(&c, &Operation::EditNotes { household: gone, notes: "透析 周二周五".into() });
    let before = fx.compound.households().into_iter().find(|h| h.id == gone).unwrap();
    fx.ok(&c, &Operation::RemoveHousehold { household: gone });
    assert!(fx.compound.households().iter().all(|h| h.id != gone));

    let never = doorstep_core::id::HouseholdId::from_uuid(uuid::Uuid::from_u128(1));
    let book = HouseholdBook::of(&fx.compound, [gone, kept, never]);
    let found = book.get(gone).expect("the removed household, as it last stood");
    assert_eq!(found, &before);
    assert_eq!(found.notes, "透析 周二周五");
    let removal = book.removal(gone).expect("marked as removed");
    assert!(removal.at.as_millis() > 0 && !removal.actor.is_empty(), "{removal:?}");
    assert!(book.get(kept).is_some() && book.removal(kept).is_none(), "a live household is not marked");
    assert!(book.get(never).is_none() && book.removal(never).is_none(), "an ID never held is not found");
}

/// A household removed from the roster after its round was planned keeps its open tasks (the
/// dashboard's round shows them, marked removed): the volunteer's list shows its door too, as it
/// last stood and marked, where it was left out and the task seemed gone.
#[test]
fn a_door_removed_from_the_roster_after_planning_is_listed_marked() {
    let mut fx = Fixture::default();
    let (c, v) = (fx.people.coordinator, fx.people.volunteer);
    let groceries = fx.round("蔬菜包 第1轮", Selection::All);
    let op = Operation::AssignBuilding {
        round: groceries,
        estate: String::new(),
        building: "10".into(),
        volunteer: v.person,
    };
    fx.ok(&c, &op);
    let gone = fx.household("10-1-902");
    let before = doors_for(&fx.compound, Some(v.person));
    fx.ok(&c, &Operation::RemoveHousehold { household: gone });

    let after = doors_for(&fx.compound, Some(v.person));
    assert_eq!(after.len(), before.len(), "no door left out");
    let door = after.iter().find(|d| d.household.id == gone).expect("the removed door is listed");
    assert!(door.household_removed);
    assert_eq!(
        door.household.address,
        before.iter().find(|d| d.household.id == gone).unwrap().household.address
    );
    assert!(after.iter().filter(|d| d.household.id != gone).all(|d| !d.household_removed));
    let order: Vec<_> = after.iter().map(|d| d.household.id).collect();
    let order_before: Vec<_> = before.iter().map(|d| d.household.id).collect();
    assert_eq!(order, order_before, "still in climbing order");
}

/// What finding a removed household costs on a roster with a long history (printed, not
/// asserted): `cargo test --release -p doorstep-core --test queries removed_household_cost -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement"]
#[allow(clippy::print_stdout)]
fn removed_household_cost() {
    let mut fx = Fixture::default();
    let c = fx.people.coordinator;
    let gone = fx.household("10-1-902");
    let kept = fx.household("2-1-101");
    for i in 0..2000 {
        fx.ok(&c, &Operation::EditNotes { household: kept, notes: format!("第{i}次") });
    }
    fx.ok(&c, &Operation::RemoveHousehold { household: gone });
    let started = std::time::Instant::now();
    let book = HouseholdBook::of(&fx.compound, [gone]);
    println!("a removed household found among 2,000 roster changes in {:?}", started.elapsed());
    assert!(book.removal(gone).is_some());
}

/// The history of an entity as a diff of the document before and after each change reads it:
/// slow (each diff walks the whole document) but plainly right, to check `history` against.
fn history_by_diff(document: &doorstep_core::document::Document, key: &str) -> Vec<(String, Vec<String>)> {
    use automerge::{PatchAction, Prop};
    let collection = match document.kind() {
        DocKind::Roster => "households",
        DocKind::Round => "tasks",
        DocKind::Requests => "requests",
        DocKind::Care => "entries",
    };
    let doc = document.automerge();
    let mut entries = Vec::new();
    for change in doc.get_changes(&[]) {
        let mut fields = std::collections::BTreeSet::new();
        for patch in doc.diff(change.deps(), &[change.hash()]) {
            let path: Vec<&Prop> = patch.path.iter().map(|(_, prop)| prop).collect();
            match (path.as_slice(), &patch.action) {
                ([Prop::Map(c)], PatchAction::PutMap { key: k, .. }) if c == collection && k == key => {
                    fields.insert("created".to_owned());
                }
                ([Prop::Map(c)], PatchAction::DeleteMap { key: k }) if c == collection && k == key => {
                    fields.insert("deleted".to_owned());
                }
                ([Prop::Map(c), Prop::Map(k), Prop::Map(f), ..], _) if c == collection && k == key => {
                    fields.insert(f.clone());
                }
                (
                    [Prop::Map(c), Prop::Map(k)],
                    PatchAction::PutMap { key: f, .. } | PatchAction::DeleteMap { key: f },
                ) if c == collection && k == key => {
                    fields.insert(f.clone());
                }
                _ => {}
            }
        }
        if fields.contains("created") {
            fields.retain(|f| f == "created");
        }
        if !fields.is_empty() {
            entries.push((change.hash().to_string(), fields.into_iter().collect()));
        }
    }
    entries
}

#[test]
fn an_entitys_history_names_each_change_that_touched_it_and_the_fields_it_set() {
    use doorstep_core::query::history;
    let mut fx = Fixture::default();
    let (c, v) = (fx.people.coordinator, fx.people.volunteer);
    let kept = fx.household("2-1-101");
    let gone = fx.household("10-1-902");
    fx.ok(&v, &Operation::EditNotes { household: kept, notes: "腿脚不便".into() });
    fx.ok(&c, &Operation::SetControlStatus { household: kept, status: ControlStatus::HomeQuarantine });
    fx.ok(&c, &Operation::SetNeedTags { household: kept, needs: [NeedTag::Dialysis].into() });
    fx.ok(&v, &Operation::EditNotes { household: kept, notes: "腿脚不便，周三透析".into() });
    fx.ok(&v, &Operation::EditNotes { household: gone, notes: "搬走了".into() });
    fx.ok(&c, &Operation::RemoveHousehold { household: gone });
    fx.ok(&c, &Operation::AddHousehold { draft: draft("2-2-909") });
    let added = fx.compound.households().into_iter().find(|h| h.address.flat == "909").unwrap().id;
    let round = fx.round("蔬菜包 第1轮", Selection::All);
    let task = fx.task_at(round, "2-1-101");
    let other = fx.task_at(round, "2-1-302");
    fx.ok(&v, &Operation::ClaimTask { round, task });
    let attempt =
        |task, outcome| Operation::RecordAttempt { round, task, outcome, note: "敲门无人".into() };
    fx.ok(&v, &attempt(task, Outcome::NobodyHome));
    fx.ok(&v, &attempt(task, Outcome::Delivered));
    fx.ok(&c, &Operation::CancelTask { round, task: other, reason: "已转运".into() });

    let roster = fx.compound.single(DocKind::Roster).unwrap();
    let fields = |entries: Vec<doorstep_core::query::HistoryEntry>| -> Vec<Vec<String>> {
        entries.into_iter().map(|e| e.fields).collect()
    };
    let of = |words: &[&[&str]]| -> Vec<Vec<String>> {
        words.iter().map(|w| w.iter().map(|f| (*f).to_owned()).collect()).collect()
    };
    assert_eq!(
        fields(history(roster, &kept.to_string())),
        of(&[&["created"], &["notes"], &["status"], &["needs"], &["notes"]]),
    );
    assert_eq!(fields(history(roster, &gone.to_string())), of(&[&["created"], &["notes"], &["deleted"]]));
    assert_eq!(fields(history(roster, &added.to_string())), of(&[&["created"]]));
    let round_doc = fx.compound.document(round).unwrap();
    let task_history = fields(history(round_doc, &task.to_string()));
    assert_eq!(task_history[0], ["created"]);
    assert!(task_history[1..].iter().all(|f| !f.is_empty()) && task_history.len() == 4, "{task_history:?}");
    assert!(task_history[2..].iter().all(|f| f.contains(&"attempts".to_owned())), "{task_history:?}");

    // The same as a diff of the document at every change says, for every entity.
    let households = fx.compound.households().into_iter().map(|h| h.id.to_string());
    for key in households.chain([gone.to_string()]) {
        let read: Vec<(String, Vec<String>)> =
            history(roster, &key).into_iter().map(|e| (e.change, e.fields)).collect();
        assert_eq!(read, history_by_diff(roster, &key), "household {key}");
    }
    for t in fx.tasks(round) {
        let key = t.id.to_string();
        let read: Vec<(String, Vec<String>)> =
            history(round_doc, &key).into_iter().map(|e| (e.change, e.fields)).collect();
        assert_eq!(read, history_by_diff(round_doc, &key), "task {key}");
    }
}

/// What a household's history costs on a roster with a long history (printed, not asserted):
/// `cargo test --release -p doorstep-core --test queries household_history_cost -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement"]
#[allow(clippy::print_stdout)]
fn household_history_cost() {
    let mut fx = Fixture::default();
    let c = fx.people.coordinator;
    let kept = fx.household("2-1-101");
    for i in 0..2000 {
        fx.ok(&c, &Operation::EditNotes { household: kept, notes: format!("第{i}次") });
    }
    let roster = fx.compound.single(DocKind::Roster).unwrap();
    let started = std::time::Instant::now();
    let entries = doorstep_core::query::history(roster, &kept.to_string());
    println!("a household's history over 2,000 roster changes in {:?}", started.elapsed());
    let started = std::time::Instant::now();
    let by_diff = history_by_diff(roster, &kept.to_string());
    println!("the same by a diff at every change in {:?}", started.elapsed());
    assert_eq!(entries.len(), by_diff.len());
}
