//! Every operation, for every role: it works for the roles allowed to make it and the queries
//! show its effect; every other role gets `Forbidden` naming the rule, and the documents do not
//! move. Then the specific refusals (unknown IDs, closed rounds, cancelled tasks, ...), each of
//! which must also leave the documents untouched.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeSet;

use doorstep_core::document::roster;
use doorstep_core::id::{CareEntryId, DocumentId, HouseholdId, RequestId, TaskId};
use doorstep_core::permission::Rule;
use doorstep_core::schema::control_status::ControlStatus;
use doorstep_core::schema::household::HouseholdEdit;
use doorstep_core::schema::need_tag::NeedTag;
use doorstep_core::schema::request::CareDraft;
use doorstep_core::schema::vocabulary::{
    Category, Channel, DocKind, Outcome, Priority, RequestStatus, RoundStatus, TaskKind, TaskStatus, Urgency,
};
use doorstep_core::{Actor, Applied, Compound, Operation, OperationError, Role, Selection, limits};
use support::{Fixture, draft, heads, person, refused};

const ROLES: [Role; 4] = [Role::Admin, Role::Coordinator, Role::Medic, Role::Volunteer];
const COORDINATING: &[Role] = &[Role::Admin, Role::Coordinator];
const CARE: &[Role] = &[Role::Admin, Role::Coordinator, Role::Medic];

/// The operation's name; the match has no wildcard, so a new `Operation` variant does not
/// compile here until it has a test below.
fn name(op: &Operation) -> &'static str {
    match op {
        Operation::SetUtcOffset { .. } => "SetUtcOffset",
        Operation::AddBuilding { .. } => "AddBuilding",
        Operation::AddHousehold { .. } => "AddHousehold",
        Operation::EditHousehold { .. } => "EditHousehold",
        Operation::EditNotes { .. } => "EditNotes",
        Operation::SetControlStatus { .. } => "SetControlStatus",
        Operation::SetNeedTags { .. } => "SetNeedTags",
        Operation::RemoveHousehold { .. } => "RemoveHousehold",
        Operation::CreateRound { .. } => "CreateRound",
        Operation::AddTask { .. } => "AddTask",
        Operation::AssignTask { .. } => "AssignTask",
        Operation::AssignBuilding { .. } => "AssignBuilding",
        Operation::ClaimTask { .. } => "ClaimTask",
        Operation::UnassignTask { .. } => "UnassignTask",
        Operation::CancelTask { .. } => "CancelTask",
        Operation::RecordAttempt { .. } => "RecordAttempt",
        Operation::RecordAttemptFor { .. } => "RecordAttemptFor",
        Operation::CloseRound { .. } => "CloseRound",
        Operation::ReopenRound { .. } => "ReopenRound",
        Operation::AddRequest { .. } => "AddRequest",
        Operation::TriageRequest { .. } => "TriageRequest",
        Operation::LinkRequest { .. } => "LinkRequest",
        Operation::AddCareEntry { .. } => "AddCareEntry",
        Operation::EditCareEntry { .. } => "EditCareEntry",
        Operation::ReviewConflict { .. } => "ReviewConflict",
    }
}

/// Applies `op` as each of the four roles, each time to a fresh copy of the fixture's compound.
/// Roles in `allowed` must succeed, change exactly the documents `Applied` names and pass
/// `effect`; the others must get `Forbidden` naming `rule`, with no document changed.
fn check(
    fx: &mut Fixture,
    op: &Operation,
    allowed: &[Role],
    rule: Rule,
    effect: impl Fn(&Compound, &Actor, &Applied),
) {
    let what = name(op);
    for role in ROLES {
        let actor = fx.people.of(role);
        let mut compound = fx.compound.clone();
        fx.env.advance(1000);
        if allowed.contains(&role) {
            let before = heads(&compound);
            let applied = compound
                .apply(&mut fx.env.env(), &actor, op)
                .unwrap_or_else(|e| panic!("{what} as {role:?} failed: {e}"));
            let after = heads(&compound);
            let moved: BTreeSet<DocumentId> =
                after.iter().filter(|(id, h)| before.get(*id) != Some(*h)).map(|(id, _)| *id).collect();
            let named: BTreeSet<DocumentId> = applied.changed.iter().copied().collect();
            assert_eq!(
                moved, named,
                "{what} as {role:?}: the documents that changed are not the ones reported"
            );
            for created in &applied.created {
                assert!(!before.contains_key(created), "{what}: created {created} existed before");
            }
            effect(&compound, &actor, &applied);
        } else {
            let e = refused(&mut compound, |c| c.apply(&mut fx.env.env(), &actor, op));
            match &e {
                OperationError::Forbidden { role: r, rule: got, .. } => {
                    assert_eq!(*r, role, "{what}: the error names the wrong role");
                    assert_eq!(*got, rule, "{what} as {role:?}: wrong rule");
                    assert!(e.to_string().contains(rule.code()), "{what}: the message names the rule: {e}");
                }
                other => panic!("{what} as {role:?}: expected Forbidden({rule:?}), got {other:?}"),
            }
        }
    }
}

fn household(c: &Compound, id: HouseholdId) -> doorstep_core::schema::household::Household {
    c.households().into_iter().find(|h| h.id == id).expect("the household is in the roster")
}

fn task(c: &Compound, id: TaskId) -> doorstep_core::schema::task::Task {
    c.tasks().into_iter().find(|t| t.id == id).expect("the task exists")
}

fn request(c: &Compound, id: RequestId) -> doorstep_core::schema::request::Request {
    c.requests().into_iter().find(|r| r.id == id).expect("the request exists")
}

fn new_id<T: std::str::FromStr>(applied: &Applied) -> T
where
    T::Err: std::fmt::Debug,
{
    applied.new_entity.as_deref().expect("the operation names what it created").parse().unwrap()
}

fn add_request(fx: &mut Fixture, address: &str) -> RequestId {
    let volunteer = fx.people.volunteer;
    let op = Operation::AddRequest {
        household: fx.household(address),
        channel: Channel::Door,
        category: Category::Medicine,
        text: "需要降压药".into(),
        urgency: Urgency::Urgent,
    };
    new_id(&fx.ok(&volunteer, &op))
}

fn care_draft(household: HouseholdId) -> CareDraft {
    CareDraft {
        household,
        person_name: "陈刚".into(),
        condition: NeedTag::Dialysis,
        schedule: "每周二、四、六上午血透".into(),
        medicines: "促红素".into(),
        insurance_card_held_by: Some(person(4)),
        notes: "医保卡由片医保管".into(),
    }
}

// ---- one test per operation ----

#[test]
fn create_compound_is_for_admins() {
    let mut fx = Fixture::default();
    for role in ROLES {
        let actor = fx.people.of(role);
        let result = Compound::create(&mut fx.env.env(), &actor, support::device(2), "北林小区");
        if role == Role::Admin {
            let c = result.unwrap();
            assert_eq!(c.name(), "北林小区");
            for kind in [DocKind::Roster, DocKind::Requests, DocKind::Care] {
                assert!(c.single(kind).is_some(), "a new compound has its {kind} document");
            }
            assert_eq!(c.rounds().count(), 0);
            assert!(c.households().is_empty());
        } else {
            match result {
                Err(OperationError::Forbidden { rule: Rule::CompoundsAreCreatedByAdmins, .. }) => {}
                other => panic!("{role:?} creating a compound: {other:?}"),
            }
        }
    }
    let admin = fx.people.admin;
    match Compound::create(&mut fx.env.env(), &admin, support::device(2), "  ") {
        Err(OperationError::Invalid { field: "name", .. }) => {}
        other => panic!("an empty compound name: {other:?}"),
    }
}

#[test]
fn set_utc_offset() {
    let mut fx = Fixture::default();
    assert_eq!(fx.compound.utc_offset().minutes(), 480, "a compound tells China Standard Time by default");
    let op = Operation::SetUtcOffset { minutes: 330 };
    check(&mut fx, &op, COORDINATING, Rule::RosterIsEditedByCoordinators, |c, _, _| {
        assert_eq!(c.utc_offset().minutes(), 330);
        assert_eq!(c.utc_offset().label(), "UTC+5:30");
    });
    // An offset no place uses is refused, and nothing moves.
    let coordinator = fx.people.of(Role::Coordinator);
    for minutes in [900, -721, 481] {
        let e = refused(&mut fx.compound, |c| {
            c.apply(&mut fx.env.env(), &coordinator, &Operation::SetUtcOffset { minutes })
        });
        assert!(matches!(e, OperationError::Invalid { field: "minutes", .. }), "{minutes}: {e:?}");
        assert!(e.to_string().contains("UTC+14:00"), "{e}");
    }
}

#[test]
fn add_building() {
    let mut fx = Fixture::default();
    let op = Operation::AddBuilding { estate: String::new(), label: "7".into(), lift: true };
    check(&mut fx, &op, COORDINATING, Rule::RosterIsEditedByCoordinators, |c, _, applied| {
        let id = new_id(applied);
        let b = &roster::buildings(c.single(DocKind::Roster).unwrap().automerge())[&id];
        assert_eq!((b.label.as_str(), b.lift), ("7", true));
    });
}

#[test]
fn add_household() {
    let mut fx = Fixture::default();
    let buildings_before = roster::buildings(fx.compound.single(DocKind::Roster).unwrap().automerge()).len();
    // One in an existing building (reused), one in a new building (created).
    for (address, new_buildings) in [("2-2-501", 0), ("7-1-1203", 1)] {
        let mut d = draft(address);
        d.head = "周婷".into();
        d.people = Some(2);
        d.needs = [NeedTag::ChronicIllness].into();
        d.notes = "高血压".into();
        let op = Operation::AddHousehold { draft: d.clone() };
        check(&mut fx, &op, COORDINATING, Rule::RosterIsEditedByCoordinators, |c, _, applied| {
            let h = household(c, new_id(applied));
            assert_eq!(h.address, d.address);
            assert_eq!((h.head.as_str(), h.people, h.notes.as_str()), ("周婷", Some(2), "高血压"));
            assert_eq!(h.needs, d.needs);
            assert_eq!(c.households().len(), support::HOUSEHOLDS.len() + 1);
            let buildings = roster::buildings(c.single(DocKind::Roster).unwrap().automerge()).len();
            assert_eq!(
                buildings,
                buildings_before + new_buildings,
                "{address}: buildings are reused by label"
            );
        });
    }
}

#[test]
fn edit_household() {
    let mut fx = Fixture::default();
    let id = fx.household("2-1-101");
    let edit = HouseholdEdit {
        head: Some("王芳".into()),
        phone: Some("13900000000".into()),
        people: Some(5),
        aged_60_plus: Some(2),
        children_under_6: Some(1),
        lift: None,
    };
    let op = Operation::EditHousehold { household: id, edit };
    check(&mut fx, &op, COORDINATING, Rule::RosterIsEditedByCoordinators, |c, _, _| {
        let h = household(c, id);
        assert_eq!((h.head.as_str(), h.phone.as_str()), ("王芳", "13900000000"));
        assert_eq!((h.people, h.aged_60_plus, h.children_under_6, h.lift), (Some(5), 2, 1, false));
        assert_eq!(h.notes, "王建国家", "fields not in the edit are kept");
    });
}

#[test]
fn edit_notes_is_for_everyone() {
    let mut fx = Fixture::default();
    let id = fx.household("2-1-302");
    let op = Operation::EditNotes { household: id, notes: "李秀英家, 敲门要大声".into() };
    check(&mut fx, &op, &ROLES, Rule::RosterIsEditedByCoordinators, |c, _, _| {
        assert_eq!(household(c, id).notes, "李秀英家, 敲门要大声");
    });
}

#[test]
fn set_control_status() {
    let mut fx = Fixture::default();
    let id = fx.household("2-1-101");
    let op = Operation::SetControlStatus { household: id, status: ControlStatus::Confirmed };
    check(&mut fx, &op, COORDINATING, Rule::RosterIsEditedByCoordinators, |c, _, _| {
        assert_eq!(household(c, id).status, ControlStatus::Confirmed);
    });
}

#[test]
fn set_need_tags_adds_and_removes() {
    let mut fx = Fixture::default();
    let id = fx.household("2-1-302");
    let needs: BTreeSet<NeedTag> = [NeedTag::ElderlyAlone, NeedTag::DeafMute].into();
    let op = Operation::SetNeedTags { household: id, needs: needs.clone() };
    check(&mut fx, &op, COORDINATING, Rule::RosterIsEditedByCoordinators, |c, _, _| {
        assert_eq!(household(c, id).needs, needs, "mobility_impaired removed, deaf_mute added");
    });
}

#[test]
fn remove_household() {
    let mut fx = Fixture::default();
    let id = fx.household("10-1-902");
    let op = Operation::RemoveHousehold { household: id };
    check(&mut fx, &op, COORDINATING, Rule::RosterIsEditedByCoordinators, |c, _, _| {
        assert!(c.households().iter().all(|h| h.id != id));
        assert_eq!(c.households().len(), support::HOUSEHOLDS.len() - 1);
    });
}

#[test]
fn create_round_for_each_kind_of_selection() {
    let mut fx = Fixture::default();
    let ids = vec![fx.household("2-1-101"), fx.household("10-1-201")];
    let cases: Vec<(Selection, BTreeSet<HouseholdId>)> = vec![
        (Selection::All, support::HOUSEHOLDS.iter().map(|h| fx.household(h.address)).collect()),
        (
            Selection::Building { estate: String::new(), building: "10".into() },
            ["10-1-201", "10-1-902", "10-1-1001"].iter().map(|a| fx.household(a)).collect(),
        ),
        (Selection::Status { status: ControlStatus::Confirmed }, [fx.household("10-1-201")].into()),
        (Selection::Need { need: NeedTag::ElderlyAlone }, [fx.household("2-1-302")].into()),
        (Selection::Households { ids: ids.clone() }, ids.iter().copied().collect()),
    ];
    for (selection, expect) in cases {
        let op = Operation::CreateRound {
            title: "蔬菜包 第3轮".into(),
            kind: TaskKind::Groceries,
            date: "2026-11-23".into(),
            selection: selection.clone(),
            items: "蔬菜包1份".into(),
            priority: Priority::High,
        };
        check(&mut fx, &op, COORDINATING, Rule::RoundsArePlannedByCoordinators, |c, _, applied| {
            assert_eq!(applied.created.len(), 1);
            let round = applied.created[0];
            let info = c.round_infos().into_iter().find(|i| i.document == round).unwrap();
            assert_eq!((info.title.as_str(), info.status), ("蔬菜包 第3轮", RoundStatus::Open));
            let tasks = c.tasks();
            let got: BTreeSet<HouseholdId> = tasks.iter().map(|t| t.household).collect();
            assert_eq!(got, expect, "{selection:?}");
            assert_eq!(tasks.len(), expect.len(), "one task per household");
            assert!(tasks.iter().all(|t| t.status() == TaskStatus::Open && t.priority == Priority::High));
        });
    }
}

#[test]
fn add_task_links_its_request() {
    let mut fx = Fixture::default();
    let round = fx.round("第1轮", Selection::Building { estate: String::new(), building: "2".into() });
    let req = add_request(&mut fx, "10-1-201");
    let household = fx.household("10-1-201");
    let op = Operation::AddTask {
        round,
        household,
        kind: TaskKind::Medicine,
        items: "降压药".into(),
        priority: Priority::Urgent,
        request: Some(req),
    };
    check(&mut fx, &op, COORDINATING, Rule::RoundsArePlannedByCoordinators, |c, _, applied| {
        let t = task(c, new_id(applied));
        assert_eq!(
            (t.household, t.kind, t.priority, t.request),
            (household, TaskKind::Medicine, Priority::Urgent, Some(req))
        );
        let r = request(c, req);
        assert_eq!(r.tasks.get(&t.id), Some(&round), "the request links back to the task");
        assert_eq!(r.status, RequestStatus::Accepted);
    });
    // Without a request only the round changes.
    let op = Operation::AddTask {
        round,
        household,
        kind: TaskKind::Garbage,
        items: String::new(),
        priority: Priority::Normal,
        request: None,
    };
    check(&mut fx, &op, COORDINATING, Rule::RoundsArePlannedByCoordinators, |c, _, applied| {
        assert_eq!(applied.changed, vec![round]);
        assert_eq!(task(c, new_id(applied)).kind, TaskKind::Garbage);
    });
}

#[test]
fn assign_task() {
    let mut fx = Fixture::default();
    let round = fx.round("第1轮", Selection::All);
    let t = fx.task_at(round, "2-1-101");
    let volunteer = fx.people.volunteer.person;
    let op = Operation::AssignTask { round, task: t, volunteer };
    check(&mut fx, &op, COORDINATING, Rule::RoundsArePlannedByCoordinators, |c, _, _| {
        let t = task(c, t);
        assert_eq!((t.assignee, t.status()), (Some(volunteer), TaskStatus::Assigned));
    });
}

#[test]
fn assign_building_skips_delivered_and_cancelled_tasks() {
    let mut fx = Fixture::default();
    let round = fx.round("第1轮", Selection::All);
    let (delivered, cancelled) = (fx.task_at(round, "10-1-201"), fx.task_at(round, "10-1-902"));
    let (v, c) = (fx.people.volunteer, fx.people.coordinator);
    fx.ok(
        &v,
        &Operation::RecordAttempt {
            round,
            task: delivered,
            outcome: Outcome::Delivered,
            note: String::new(),
        },
    );
    fx.ok(&c, &Operation::CancelTask { round, task: cancelled, reason: "已转运".into() });
    let volunteer = fx.people.volunteer2.person;
    let op = Operation::AssignBuilding { round, estate: String::new(), building: "10".into(), volunteer };
    let in_10 = fx.task_at(round, "10-1-1001");
    let in_2: Vec<TaskId> = ["2-1-101", "2-1-302", "2-2-101"].iter().map(|a| fx.task_at(round, a)).collect();
    check(&mut fx, &op, COORDINATING, Rule::RoundsArePlannedByCoordinators, |c, _, _| {
        assert_eq!(task(c, in_10).assignee, Some(volunteer));
        assert_eq!(task(c, delivered).assignee, None, "a delivered task is not reassigned");
        assert_eq!(task(c, cancelled).assignee, None, "a cancelled task is not reassigned");
        assert!(in_2.iter().all(|t| task(c, *t).assignee.is_none()), "other buildings are untouched");
    });
}

#[test]
fn claim_task_is_for_everyone() {
    let mut fx = Fixture::default();
    let round = fx.round("第1轮", Selection::All);
    let t = fx.task_at(round, "2-1-302");
    let op = Operation::ClaimTask { round, task: t };
    check(&mut fx, &op, &ROLES, Rule::VolunteersClaimOnlyFreeTasks, |c, actor, _| {
        assert_eq!(task(c, t).assignee, Some(actor.person));
        // Claiming one's own task again is a no-op, not an error.
        let mut again = c.clone();
        let mut env = support::TestEnv::seeded(1);
        let before = heads(&again);
        let applied = again.apply(&mut env.env(), actor, &Operation::ClaimTask { round, task: t }).unwrap();
        assert_eq!((applied, heads(&again)), (Applied::default(), before));
    });
}

#[test]
fn unassign_task() {
    let mut fx = Fixture::default();
    let round = fx.round("第1轮", Selection::All);
    let t = fx.task_at(round, "2-2-101");
    let (coordinator, v2) = (fx.people.coordinator, fx.people.volunteer2.person);
    fx.ok(&coordinator, &Operation::AssignTask { round, task: t, volunteer: v2 });
    // Someone else's task: coordinators may release it; a volunteer or medic may not.
    let op = Operation::UnassignTask { round, task: t };
    check(&mut fx, &op, COORDINATING, Rule::VolunteersClaimOnlyFreeTasks, |c, _, _| {
        assert_eq!(task(c, t).assignee, None);
        assert_eq!(task(c, t).status(), TaskStatus::Open);
    });
    // One's own task: anyone may release it.
    let volunteer2 = fx.people.volunteer2;
    let applied = fx.ok(&volunteer2, &op);
    assert_eq!(applied.changed, vec![round]);
    assert_eq!(fx.task(t).assignee, None);
}

#[test]
fn cancel_task() {
    let mut fx = Fixture::default();
    let round = fx.round("第1轮", Selection::All);
    let t = fx.task_at(round, "10-1-1001");
    let op = Operation::CancelTask { round, task: t, reason: "已转运集中隔离点".into() };
    check(&mut fx, &op, COORDINATING, Rule::RoundsArePlannedByCoordinators, |c, actor, _| {
        let t = task(c, t);
        assert_eq!(t.status(), TaskStatus::Cancelled);
        let cancelled = t.cancelled.expect("the cancellation is recorded");
        assert_eq!((cancelled.by, cancelled.reason.as_str()), (actor.person, "已转运集中隔离点"));
    });
}

/// A coordinator records a volunteer's knock for them (applying it from the review inbox): the
/// attempt is the coordinator's record, and names the knocker and the knock's time; nobody
/// else may record a knock for someone.
#[test]
fn record_attempt_for_someone_is_for_coordinators() {
    let mut fx = Fixture::default();
    let round = fx.round("第1轮", Selection::All);
    let t = fx.task_at(round, "2-1-302");
    let knocker = fx.people.volunteer2.person;
    let knocked_at = doorstep_core::Timestamp::from_millis(fx.env.now().as_millis() - 3_600_000);
    let op = Operation::RecordAttemptFor {
        round,
        task: t,
        outcome: Outcome::Delivered,
        note: "放门口了".into(),
        knocked_by: knocker,
        knocked_at,
    };
    check(&mut fx, &op, COORDINATING, Rule::AttemptsAreAppendOnly, |c, actor, _| {
        let a = &task(c, t).attempts[0];
        assert_eq!((a.by, a.knocked_by, a.knocked_at), (actor.person, Some(knocker), Some(knocked_at)));
        assert_eq!((a.knocker(), a.knock_time()), (knocker, knocked_at), "credited to the knocker");
        assert_eq!(task(c, t).status(), TaskStatus::Delivered);
    });
}

#[test]
fn record_attempt_is_for_everyone() {
    let mut fx = Fixture::default();
    let round = fx.round("第1轮", Selection::All);
    let t = fx.task_at(round, "2-1-302");
    for (outcome, status) in [
        (Outcome::Delivered, TaskStatus::Delivered),
        (Outcome::NobodyHome, TaskStatus::Attempted),
        (Outcome::Refused, TaskStatus::Attempted),
        (Outcome::WrongAddress, TaskStatus::Attempted),
    ] {
        let op = Operation::RecordAttempt { round, task: t, outcome, note: "放门口了".into() };
        check(&mut fx, &op, &ROLES, Rule::AttemptsAreAppendOnly, |c, actor, _| {
            let t = task(c, t);
            assert_eq!(t.attempts.len(), 1);
            assert_eq!((t.attempts[0].by, t.attempts[0].outcome), (actor.person, outcome));
            assert_eq!(t.attempts[0].note, "放门口了");
            assert_eq!(t.status(), status);
        });
    }
    // Attempts append: a second one keeps the first.
    let v = fx.people.volunteer;
    fx.ok(
        &v,
        &Operation::RecordAttempt { round, task: t, outcome: Outcome::NobodyHome, note: String::new() },
    );
    let at = fx.env.now();
    fx.ok(&v, &Operation::RecordAttempt { round, task: t, outcome: Outcome::Delivered, note: String::new() });
    let attempts = fx.task(t).attempts;
    assert_eq!(
        attempts.iter().map(|a| a.outcome).collect::<Vec<_>>(),
        [Outcome::NobodyHome, Outcome::Delivered]
    );
    assert!(attempts[1].at > at, "an attempt carries the device time it was made at");
}

#[test]
fn close_round() {
    let mut fx = Fixture::default();
    let round = fx.round("第1轮", Selection::All);
    let op = Operation::CloseRound { round };
    check(&mut fx, &op, COORDINATING, Rule::RoundsArePlannedByCoordinators, |c, _, _| {
        let info = c.round_infos().into_iter().find(|i| i.document == round).unwrap();
        assert_eq!(info.status, RoundStatus::Closed);
        assert_eq!(c.open_rounds().count(), 0);
        assert!(c.open_tasks().is_empty());
        assert_eq!(c.tasks().len(), support::HOUSEHOLDS.len(), "a closed round keeps its tasks");
    });
}

#[test]
fn review_conflict() {
    let mut fx = Fixture::default();
    let round = fx.round("第1轮", Selection::All);
    let id = fx.task_at(round, "2-1-302");
    let delivered =
        Operation::RecordAttempt { round, task: id, outcome: Outcome::Delivered, note: String::new() };
    let (v1, v2) = (fx.people.volunteer, fx.people.volunteer2);
    fx.ok(&v1, &delivered);
    fx.ok(&v2, &delivered);
    let op = Operation::ReviewConflict {
        conflict: doorstep_core::schema::review::ConflictSubject::DoubleDelivery { round, task: id },
        note: "已核实，第二份转给 2-1-302".into(),
    };
    check(&mut fx, &op, COORDINATING, Rule::ConflictsAreReviewedByCoordinators, |c, actor, _| {
        let reviewed = doorstep_core::query::conflict_reviews(c);
        let review = reviewed[0].review.as_ref().expect("the conflict is reviewed");
        assert_eq!((review.by, review.note.as_str()), (actor.person, "已核实，第二份转给 2-1-302"));
        assert!(doorstep_core::query::unreviewed_conflicts(c).is_empty());
        assert_eq!(task(c, id).attempts.len(), 2, "both attempts stay");
    });
}

#[test]
fn reopen_round() {
    let mut fx = Fixture::default();
    let round = fx.round("第1轮", Selection::All);
    let (c, v) = (fx.people.coordinator, fx.people.volunteer);
    let task = fx.task_at(round, "2-1-101");
    let reopen = Operation::ReopenRound { round };
    let already_open = |e: &OperationError| matches!(e, OperationError::RoundOpen(r) if *r == round);
    check_error(&mut fx, c, reopen.clone(), already_open);
    fx.ok(&c, &Operation::CloseRound { round });
    let closed_at =
        doorstep_core::document::round::closed_at(fx.compound.document(round).unwrap().automerge());
    assert_eq!(closed_at, Some(fx.env.now()), "the close records its time");
    check(&mut fx, &reopen, COORDINATING, Rule::RoundsArePlannedByCoordinators, |c, _, _| {
        let info = c.round_infos().into_iter().find(|i| i.document == round).unwrap();
        assert_eq!(info.status, RoundStatus::Open);
        assert_eq!(doorstep_core::document::round::closed_at(c.document(round).unwrap().automerge()), None);
    });
    // Once reopened, the round takes attempts again.
    fx.ok(&c, &reopen);
    fx.ok(&v, &Operation::RecordAttempt { round, task, outcome: Outcome::Delivered, note: String::new() });
    assert_eq!(fx.task(task).deliveries(), 1);
}

#[test]
fn add_request_is_for_everyone() {
    let mut fx = Fixture::default();
    let household = fx.household("10-1-902");
    let op = Operation::AddRequest {
        household,
        channel: Channel::WeChat,
        category: Category::Groceries,
        text: "想要两袋米".into(),
        urgency: Urgency::Normal,
    };
    check(&mut fx, &op, &ROLES, Rule::RequestsAreTriagedByCoordinators, |c, actor, applied| {
        let r = request(c, new_id(applied));
        assert_eq!((r.household, r.channel, r.category), (household, Channel::WeChat, Category::Groceries));
        assert_eq!((r.text.as_str(), r.status, r.by), ("想要两袋米", RequestStatus::New, actor.person));
    });
}

#[test]
fn triage_request() {
    let mut fx = Fixture::default();
    let id = add_request(&mut fx, "2-1-101");
    let op = Operation::TriageRequest {
        request: id,
        status: RequestStatus::Done,
        urgency: Some(Urgency::Critical),
    };
    check(&mut fx, &op, COORDINATING, Rule::RequestsAreTriagedByCoordinators, |c, _, _| {
        let r = request(c, id);
        assert_eq!((r.status, r.urgency), (RequestStatus::Done, Urgency::Critical));
    });
    let op = Operation::TriageRequest { request: id, status: RequestStatus::Rejected, urgency: None };
    check(&mut fx, &op, COORDINATING, Rule::RequestsAreTriagedByCoordinators, |c, _, _| {
        let r = request(c, id);
        assert_eq!((r.status, r.urgency), (RequestStatus::Rejected, Urgency::Urgent), "urgency kept");
    });
}

#[test]
fn link_request() {
    let mut fx = Fixture::default();
    let round = fx.round("第1轮", Selection::All);
    let t = fx.task_at(round, "2-1-101");
    let id = add_request(&mut fx, "2-1-101");
    let op = Operation::LinkRequest { request: id, round, task: t };
    check(&mut fx, &op, COORDINATING, Rule::RequestsAreTriagedByCoordinators, |c, _, _| {
        assert_eq!(task(c, t).request, Some(id));
        let r = request(c, id);
        assert_eq!(r.tasks.get(&t), Some(&round));
        assert_eq!(r.status, RequestStatus::Accepted, "a new request is accepted when linked");
    });
}

#[test]
fn add_care_entry() {
    let mut fx = Fixture::default();
    let household = fx.household("10-1-201");
    let op = Operation::AddCareEntry { draft: care_draft(household) };
    check(&mut fx, &op, CARE, Rule::CareLedgerIsForCoordinatorsAndMedics, |c, _, applied| {
        let id: CareEntryId = new_id(applied);
        let entries = c.care_entries();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].id, id);
        assert_eq!((entries[0].household, entries[0].condition), (household, NeedTag::Dialysis));
        assert_eq!(entries[0].insurance_card_held_by, Some(person(4)));
        assert_eq!(entries[0].notes, "医保卡由片医保管");
    });
}

#[test]
fn edit_care_entry() {
    let mut fx = Fixture::default();
    let household = fx.household("10-1-201");
    let medic = fx.people.medic;
    let id: CareEntryId = new_id(&fx.ok(&medic, &Operation::AddCareEntry { draft: care_draft(household) }));
    let mut d = care_draft(household);
    d.schedule = "每周一、三、五下午血透".into();
    d.insurance_card_held_by = None;
    let op = Operation::EditCareEntry { entry: id, draft: d };
    check(&mut fx, &op, CARE, Rule::CareLedgerIsForCoordinatorsAndMedics, |c, _, _| {
        let entries = c.care_entries();
        assert_eq!(entries.len(), 1, "editing does not add an entry");
        assert_eq!(entries[0].schedule, "每周一、三、五下午血透");
        assert_eq!(entries[0].insurance_card_held_by, None);
    });
}

// ---- specific refusals ----

/// Applies `op` as `actor`, which must fail with an error `expect` accepts, changing nothing.
fn check_error(fx: &mut Fixture, actor: Actor, op: Operation, expect: impl Fn(&OperationError) -> bool) {
    let e = refused(&mut fx.compound, |c| c.apply(&mut fx.env.env(), &actor, &op));
    assert!(expect(&e), "{}: unexpected error {e:?}", name(&op));
    assert!(!e.to_string().is_empty());
}

#[test]
fn unknown_ids_are_named() {
    let mut fx = Fixture::default();
    let round = fx.round("第1轮", Selection::All);
    let (c, v) = (fx.people.coordinator, fx.people.volunteer);
    let ghost_household = HouseholdId::from_uuid(uuid::Uuid::from_u128(1));
    let ghost_task = TaskId::from_uuid(uuid::Uuid::from_u128(2));
    let ghost_round = DocumentId::from_uuid(uuid::Uuid::from_u128(3));
    let ghost_request = RequestId::from_uuid(uuid::Uuid::from_u128(4));
    let ghost_entry = CareEntryId::from_uuid(uuid::Uuid::from_u128(5));
    let task = fx.task_at(round, "2-1-101");

    let unknown_household =
        |e: &OperationError| matches!(e, OperationError::UnknownHousehold(h) if *h == ghost_household);
    check_error(
        &mut fx,
        v,
        Operation::EditNotes { household: ghost_household, notes: "x".into() },
        unknown_household,
    );
    check_error(
        &mut fx,
        c,
        Operation::SetControlStatus { household: ghost_household, status: ControlStatus::Confirmed },
        unknown_household,
    );
    check_error(&mut fx, c, Operation::RemoveHousehold { household: ghost_household }, unknown_household);
    check_error(
        &mut fx,
        v,
        Operation::AddRequest {
            household: ghost_household,
            channel: Channel::Phone,
            category: Category::Other,
            text: "x".into(),
            urgency: Urgency::Normal,
        },
        unknown_household,
    );
    let ids = vec![fx.household("2-1-101"), ghost_household];
    check_error(
        &mut fx,
        c,
        Operation::CreateRound {
            title: "t".into(),
            kind: TaskKind::Meal,
            date: String::new(),
            selection: Selection::Households { ids },
            items: String::new(),
            priority: Priority::Normal,
        },
        unknown_household,
    );
    check_error(
        &mut fx,
        c,
        Operation::AddTask {
            round,
            household: ghost_household,
            kind: TaskKind::Meal,
            items: String::new(),
            priority: Priority::Normal,
            request: None,
        },
        unknown_household,
    );

    let unknown_task = |e: &OperationError| matches!(e, OperationError::UnknownTask { round: r, task: t } if *r == round && *t == ghost_task);
    check_error(&mut fx, v, Operation::ClaimTask { round, task: ghost_task }, unknown_task);
    check_error(
        &mut fx,
        v,
        Operation::RecordAttempt {
            round,
            task: ghost_task,
            outcome: Outcome::Delivered,
            note: String::new(),
        },
        unknown_task,
    );
    check_error(
        &mut fx,
        c,
        Operation::AssignTask { round, task: ghost_task, volunteer: v.person },
        unknown_task,
    );
    check_error(
        &mut fx,
        c,
        Operation::CancelTask { round, task: ghost_task, reason: String::new() },
        unknown_task,
    );
    check_error(&mut fx, c, Operation::UnassignTask { round, task: ghost_task }, unknown_task);

    let unknown_round =
        |e: &OperationError| matches!(e, OperationError::UnknownRound(r) if *r == ghost_round);
    check_error(&mut fx, v, Operation::ClaimTask { round: ghost_round, task }, unknown_round);
    check_error(
        &mut fx,
        v,
        Operation::RecordAttempt {
            round: ghost_round,
            task,
            outcome: Outcome::Delivered,
            note: String::new(),
        },
        unknown_round,
    );
    check_error(&mut fx, c, Operation::CloseRound { round: ghost_round }, unknown_round);
    // A document that is not a round is not a round either.
    let roster = fx.compound.single(DocKind::Roster).unwrap().id();
    check_error(
        &mut fx,
        c,
        Operation::CloseRound { round: roster },
        |e| matches!(e, OperationError::UnknownRound(r) if *r == roster),
    );

    let unknown_request =
        |e: &OperationError| matches!(e, OperationError::UnknownRequest(r) if *r == ghost_request);
    check_error(
        &mut fx,
        c,
        Operation::TriageRequest { request: ghost_request, status: RequestStatus::Done, urgency: None },
        unknown_request,
    );
    check_error(&mut fx, c, Operation::LinkRequest { request: ghost_request, round, task }, unknown_request);
    let household = fx.household("2-1-101");
    check_error(
        &mut fx,
        c,
        Operation::AddTask {
            round,
            household,
            kind: TaskKind::Meal,
            items: String::new(),
            priority: Priority::Normal,
            request: Some(ghost_request),
        },
        unknown_request,
    );

    let m = fx.people.medic;
    let h = fx.household("10-1-201");
    check_error(
        &mut fx,
        m,
        Operation::EditCareEntry { entry: ghost_entry, draft: care_draft(h) },
        |e| matches!(e, OperationError::UnknownCareEntry(x) if *x == ghost_entry),
    );
    check_error(
        &mut fx,
        m,
        Operation::AddCareEntry { draft: care_draft(ghost_household) },
        unknown_household,
    );
}

#[test]
fn a_closed_round_takes_no_more_changes() {
    let mut fx = Fixture::default();
    let round = fx.round("第1轮", Selection::All);
    let request = add_request(&mut fx, "2-1-101");
    let task = fx.task_at(round, "2-1-101");
    let (c, v) = (fx.people.coordinator, fx.people.volunteer);
    fx.ok(&c, &Operation::CloseRound { round });
    let closed = |e: &OperationError| {
        matches!(e, OperationError::RoundClosed(r) if *r == round)
            && e.to_string().contains("closed_rounds_are_final")
    };
    check_error(
        &mut fx,
        v,
        Operation::RecordAttempt { round, task, outcome: Outcome::Delivered, note: String::new() },
        closed,
    );
    check_error(&mut fx, v, Operation::ClaimTask { round, task }, closed);
    check_error(&mut fx, v, Operation::UnassignTask { round, task }, closed);
    check_error(&mut fx, c, Operation::AssignTask { round, task, volunteer: v.person }, closed);
    check_error(&mut fx, c, Operation::CancelTask { round, task, reason: String::new() }, closed);
    check_error(&mut fx, c, Operation::CloseRound { round }, closed);
    check_error(&mut fx, c, Operation::LinkRequest { request, round, task }, closed);
    check_error(
        &mut fx,
        c,
        Operation::AssignBuilding { round, estate: String::new(), building: "2".into(), volunteer: v.person },
        closed,
    );
    let household = fx.household("2-1-101");
    check_error(
        &mut fx,
        c,
        Operation::AddTask {
            round,
            household,
            kind: TaskKind::Meal,
            items: String::new(),
            priority: Priority::Normal,
            request: None,
        },
        closed,
    );
}

#[test]
fn a_cancelled_task_takes_no_attempts() {
    let mut fx = Fixture::default();
    let round = fx.round("第1轮", Selection::All);
    let task = fx.task_at(round, "10-1-201");
    let (c, v) = (fx.people.coordinator, fx.people.volunteer);
    fx.ok(&c, &Operation::CancelTask { round, task, reason: "已转运".into() });
    check_error(
        &mut fx,
        v,
        Operation::RecordAttempt { round, task, outcome: Outcome::Delivered, note: String::new() },
        |e| matches!(e, OperationError::TaskCancelled(t) if *t == task),
    );
}

#[test]
fn a_task_someone_else_holds_cannot_be_claimed() {
    let mut fx = Fixture::default();
    let round = fx.round("第1轮", Selection::All);
    let task = fx.task_at(round, "2-1-302");
    let (v1, v2) = (fx.people.volunteer, fx.people.volunteer2);
    fx.ok(&v1, &Operation::ClaimTask { round, task });
    check_error(&mut fx, v2, Operation::ClaimTask { round, task }, |e| {
        matches!(e, OperationError::AlreadyAssigned { task: t, to } if *t == task && *to == v1.person)
            && e.to_string().contains(Rule::VolunteersClaimOnlyFreeTasks.code())
    });
    check_error(&mut fx, v2, Operation::UnassignTask { round, task }, |e| {
        matches!(e, OperationError::Forbidden { rule: Rule::VolunteersClaimOnlyFreeTasks, .. })
    });
    assert_eq!(fx.task(task).assignee, Some(v1.person));
}

#[test]
fn a_selection_must_match_someone() {
    let mut fx = Fixture::default();
    let c = fx.people.coordinator;
    let empty = |e: &OperationError| matches!(e, OperationError::EmptySelection);
    for selection in [
        Selection::Need { need: NeedTag::Chemotherapy },
        Selection::Building { estate: String::new(), building: "99".into() },
        Selection::Building { estate: "北林小区".into(), building: "2".into() },
        Selection::Households { ids: vec![] },
    ] {
        assert!(!fx.compound.households().iter().any(|h| selection.matches(h)), "{selection:?}");
        let op = Operation::CreateRound {
            title: "t".into(),
            kind: TaskKind::Groceries,
            date: String::new(),
            selection,
            items: String::new(),
            priority: Priority::Normal,
        };
        check_error(&mut fx, c, op, empty);
    }
    // A building whose tasks are all done leaves nothing to assign.
    let round = fx.round("第1轮", Selection::Building { estate: String::new(), building: "2".into() });
    let volunteer = fx.people.volunteer.person;
    check_error(
        &mut fx,
        c,
        Operation::AssignBuilding { round, estate: String::new(), building: "10".into(), volunteer },
        empty,
    );
}

#[test]
fn one_household_per_address() {
    let mut fx = Fixture::default();
    let c = fx.people.coordinator;
    check_error(
        &mut fx,
        c,
        Operation::AddHousehold { draft: draft("2-1-302") },
        |e| matches!(e, OperationError::DuplicateAddress(a) if a.contains("2号楼1单元302")),
    );
    // The same flat in another unit is another household.
    fx.ok(&c, &Operation::AddHousehold { draft: draft("2-2-302") });
}

/// A zero-width space pasted into the building ("2\u{200b}") made a second 2号楼1单元302 that
/// nobody could tell from the first. The address is the same door, and a new one is written
/// without the character, into the building that is there.
#[test]
fn an_address_differing_only_by_invisible_characters_is_the_same_door() {
    let mut fx = Fixture::default();
    let c = fx.people.coordinator;
    for look_alike in ["2\u{200b}-1-302", "2-1\u{feff}-302", "2-1-30\u{ad}2", "2\u{2060}-1-302"] {
        check_error(&mut fx, c, Operation::AddHousehold { draft: draft(look_alike) }, |e| {
            matches!(e, OperationError::DuplicateAddress(_))
        });
    }
    let buildings = fx.compound.households().iter().map(|h| h.building).collect::<BTreeSet<_>>().len();
    fx.ok(&c, &Operation::AddHousehold { draft: draft("2\u{200c}-1\u{200d}-309") });
    let added = fx.compound.households().into_iter().find(|h| h.address.flat == "309").unwrap();
    assert_eq!((added.address.building.as_str(), added.address.unit.as_str()), ("2", "1"));
    let after = fx.compound.households().iter().map(|h| h.building).collect::<BTreeSet<_>>().len();
    assert_eq!(after, buildings, "into the building 2 that is there");
}

#[test]
fn text_limits_and_required_fields() {
    let mut fx = Fixture::default();
    let round = fx.round("第1轮", Selection::All);
    let (c, v) = (fx.people.coordinator, fx.people.volunteer);
    let household = fx.household("2-1-101");
    let long = "字".repeat(limits::LONG_TEXT + 1);
    let short = "字".repeat(limits::SHORT_TEXT + 1);
    let invalid = |field: &'static str| move |e: &OperationError| matches!(e, OperationError::Invalid { field: f, .. } if *f == field);
    let create_round = |title: &str, items: &str| Operation::CreateRound {
        title: title.into(),
        kind: TaskKind::Groceries,
        date: String::new(),
        selection: Selection::All,
        items: items.into(),
        priority: Priority::Normal,
    };

    check_error(&mut fx, v, Operation::EditNotes { household, notes: long.clone() }, invalid("notes"));
    check_error(&mut fx, c, create_round("  ", ""), invalid("title"));
    check_error(&mut fx, c, create_round(&short, ""), invalid("title"));
    check_error(&mut fx, c, create_round("第2轮", &short), invalid("items"));
    let mut d = draft("7-1-101");
    d.head = short.clone();
    check_error(&mut fx, c, Operation::AddHousehold { draft: d }, invalid("head"));
    let mut d = draft("7-1-101");
    d.address.flat = " ".into();
    check_error(&mut fx, c, Operation::AddHousehold { draft: d }, invalid("flat"));
    let mut d = draft("7-1-101");
    d.people = Some(limits::PEOPLE + 1);
    check_error(&mut fx, c, Operation::AddHousehold { draft: d }, invalid("people"));
    let edit = HouseholdEdit { head: Some(String::new()), ..HouseholdEdit::default() };
    check_error(&mut fx, c, Operation::EditHousehold { household, edit }, invalid("head"));
    check_error(
        &mut fx,
        v,
        Operation::AddRequest {
            household,
            channel: Channel::Door,
            category: Category::Other,
            text: " ".into(),
            urgency: Urgency::Normal,
        },
        invalid("text"),
    );
    let task = fx.task_at(round, "2-1-101");
    check_error(
        &mut fx,
        v,
        Operation::RecordAttempt { round, task, outcome: Outcome::Refused, note: long.clone() },
        invalid("note"),
    );
    check_error(
        &mut fx,
        c,
        Operation::AddBuilding { estate: String::new(), label: String::new(), lift: false },
        invalid("label"),
    );
    let m = fx.people.medic;
    let mut care = care_draft(household);
    care.person_name = String::new();
    check_error(&mut fx, m, Operation::AddCareEntry { draft: care }, invalid("person_name"));

    // Exactly at the limit is fine.
    let at_limit = "字".repeat(limits::LONG_TEXT);
    fx.ok(&v, &Operation::EditNotes { household, notes: at_limit.clone() });
    assert_eq!(fx.compound.households().into_iter().find(|h| h.id == household).unwrap().notes, at_limit);
}

#[test]
fn a_device_without_the_care_ledger_says_so() {
    let fx = Fixture::default();
    let mut phone = Compound::new(fx.compound.id(), support::device(9));
    for doc in fx.compound.documents().filter(|d| d.kind() != DocKind::Care) {
        phone.insert(doc.clone());
    }
    let mut env = support::TestEnv::seeded(3);
    let household = fx.household("10-1-201");
    let op = Operation::AddCareEntry { draft: care_draft(household) };
    let e = refused(&mut phone, |c| c.apply(&mut env.env(), &fx.people.medic, &op));
    assert!(matches!(e, OperationError::MissingDocument(DocKind::Care)), "{e:?}");
    assert!(e.to_string().contains("sync"), "the message says what to do: {e}");
    // A volunteer on such a device is told about the rule, not about the missing document.
    let e = refused(&mut phone, |c| c.apply(&mut env.env(), &fx.people.volunteer, &op));
    assert!(
        matches!(e, OperationError::Forbidden { rule: Rule::CareLedgerIsForCoordinatorsAndMedics, .. }),
        "{e:?}"
    );
    assert!(phone.care_entries().is_empty());
}

/// Two coordinators pressing "create" for one round, or each adding a task for one request, at
/// once: the second is refused in words (each made a second round or task, every door got two
/// deliveries, and nothing was flagged). A different day, households or title is another round;
/// a cancelled task frees its request for another.
#[test]
fn a_round_or_a_request_s_task_is_not_made_twice() {
    let mut fx = Fixture::default();
    let coordinator = fx.people.coordinator;
    let building = |b: &str| Selection::Building { estate: String::new(), building: b.into() };
    fx.round("蔬菜包 第2轮", building("2"));
    let again = Operation::CreateRound {
        title: " 蔬菜包 第2轮".into(),
        kind: TaskKind::Groceries,
        date: "2026-11-23".into(),
        selection: building("2"),
        items: "蔬菜包1份".into(),
        priority: Priority::Normal,
    };
    let mut compound = fx.compound.clone();
    let e = refused(&mut compound, |c| c.apply(&mut fx.env.env(), &coordinator, &again));
    assert!(matches!(&e, OperationError::Invalid { field: "title", .. }), "{e}");
    assert!(
        e.to_string().contains("already delivers to these") && e.to_string().contains("请勿重复创建"),
        "{e}"
    );
    // Another building, or another day, is another round.
    let Operation::CreateRound { title, kind, items, priority, .. } = again.clone() else { unreachable!() };
    let other_building = Operation::CreateRound {
        title: title.clone(),
        kind,
        date: "2026-11-23".into(),
        selection: building("10"),
        items: items.clone(),
        priority,
    };
    fx.ok(&coordinator, &other_building);
    let other_day = Operation::CreateRound {
        title,
        kind,
        date: "2026-11-24".into(),
        selection: building("2"),
        items,
        priority,
    };
    fx.ok(&coordinator, &other_day);

    let round = fx.round("药品", building("10"));
    let request = add_request(&mut fx, "10-1-201");
    let household = fx.household("10-1-201");
    let task_for = |request| Operation::AddTask {
        round,
        household,
        kind: TaskKind::Medicine,
        items: "降压药".into(),
        priority: Priority::Urgent,
        request: Some(request),
    };
    let first = new_id(&fx.ok(&coordinator, &task_for(request)));
    let second = task_for(request);
    let mut compound = fx.compound.clone();
    let e = refused(&mut compound, |c| c.apply(&mut fx.env.env(), &coordinator, &second));
    assert!(matches!(&e, OperationError::Invalid { field: "request", .. }), "{e}");
    assert!(e.to_string().contains("请勿重复派单"), "{e}");
    fx.ok(&coordinator, &Operation::CancelTask { round, task: first, reason: "改派".into() });
    fx.ok(&coordinator, &second);
}
