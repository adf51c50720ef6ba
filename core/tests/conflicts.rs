//! What happens when two devices change the same thing offline and then sync: nothing is lost,
//! the value everyone sees is the same on every replica, and what a coordinator must look at
//! is reported by `conflicts()` until someone writes the value again.
//!
//! Replicas are forked by saving and reloading every document under another actor, and merged
//! by the real Automerge sync protocol (`sync::generate` / `decode` / `receive`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use doorstep_core::id::CareEntryId;
use doorstep_core::permission::Rule;
use doorstep_core::query::{Conflict, conflicts, counts};
use doorstep_core::schema::control_status::ControlStatus;
use doorstep_core::schema::household::HouseholdEdit;
use doorstep_core::schema::ledger_field::LedgerField;
use doorstep_core::schema::request::CareDraft;
use doorstep_core::schema::vocabulary::{Category, Channel, Outcome, RequestStatus, TaskStatus, Urgency};
use doorstep_core::{Actor, Applied, Compound, Operation, OperationError, Selection};
use support::{Fixture, TestEnv, device, fork, heads, sync_pair};

/// Two offline replicas of the fixture after `setup`: the fixture's own (device 1) and a fork
/// (device 2), each with its own environment.
struct Pair {
    fx: Fixture,
    other: Compound,
    other_env: TestEnv,
}

impl Pair {
    fn new(setup: impl FnOnce(&mut Fixture)) -> Self {
        let mut fx = Fixture::default();
        setup(&mut fx);
        let other = fork(&fx.compound, device(2));
        let mut other_env = TestEnv::seeded(99);
        other_env.set_now(fx.env.now());
        Self { fx, other, other_env }
    }

    fn on_first(&mut self, actor: Actor, op: Operation) {
        self.fx.ok(&actor, &op);
    }

    fn on_second(&mut self, actor: Actor, op: Operation) {
        self.other_env.advance(1000);
        self.other.apply(&mut self.other_env.env(), &actor, &op).unwrap();
    }

    fn merge(&mut self) {
        sync_pair(&mut self.fx.compound, &mut self.other);
        assert_eq!(heads(&self.fx.compound), heads(&self.other));
    }

    /// The conflicts, which must read the same on both replicas.
    fn conflicts(&self) -> Vec<Conflict> {
        let here = conflicts(&self.fx.compound);
        assert_eq!(here, conflicts(&self.other), "both replicas report the same conflicts");
        here
    }
}

#[test]
fn both_offline_deliveries_survive_as_a_double_delivery() {
    let mut round = None;
    let mut pair = Pair::new(|fx| round = Some(fx.round("第1轮", Selection::All)));
    let round = round.unwrap();
    let task = pair.fx.task_at(round, "2-1-302");
    let (v1, v2) = (pair.fx.people.volunteer, pair.fx.people.volunteer2);
    let deliver =
        |note: &str| Operation::RecordAttempt { round, task, outcome: Outcome::Delivered, note: note.into() };
    pair.on_first(v1, deliver("放门口"));
    pair.on_second(v2, deliver("交给本人"));
    assert!(pair.fx.compound.tasks().iter().all(|t| t.attempts.len() <= 1));
    pair.merge();

    let t = pair.fx.task(task);
    assert_eq!(t.attempts.len(), 2, "both attempts survive the merge");
    assert_eq!(t.status(), TaskStatus::Delivered);
    let conflicts = pair.conflicts();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    let Conflict::DoubleDelivery { round: r, task: id, household, deliveries, .. } = &conflicts[0] else {
        panic!("{conflicts:?}")
    };
    assert_eq!((*r, *id, *household), (round, task, pair.fx.household("2-1-302")));
    let mut by: Vec<_> = deliveries.iter().map(|a| (a.by, a.note.as_str())).collect();
    by.sort();
    let mut want = vec![(v1.person, "放门口"), (v2.person, "交给本人")];
    want.sort();
    assert_eq!(by, want);
}

#[test]
fn a_failed_and_a_successful_attempt_are_not_a_conflict() {
    let mut round = None;
    let mut pair = Pair::new(|fx| round = Some(fx.round("第1轮", Selection::All)));
    let round = round.unwrap();
    let task = pair.fx.task_at(round, "2-1-101");
    let (v1, v2) = (pair.fx.people.volunteer, pair.fx.people.volunteer2);
    pair.on_first(
        v1,
        Operation::RecordAttempt { round, task, outcome: Outcome::NobodyHome, note: String::new() },
    );
    pair.on_second(
        v2,
        Operation::RecordAttempt { round, task, outcome: Outcome::Delivered, note: String::new() },
    );
    pair.merge();
    assert_eq!(pair.fx.task(task).attempts.len(), 2);
    assert_eq!(pair.conflicts(), []);
}

/// A coordinator cancels a task (the resident was taken to hospital) while the volunteer, offline,
/// delivers it: both facts stand. The task reads delivered, carries its cancellation, is counted
/// as cancelled-but-delivered, and the clash is a conflict with both sides on every replica.
#[test]
fn a_delivery_to_a_task_cancelled_meanwhile_is_reported_with_both_sides() {
    let mut round = None;
    let mut pair = Pair::new(|fx| round = Some(fx.round("第1轮", Selection::All)));
    let round = round.unwrap();
    let task = pair.fx.task_at(round, "2-1-302");
    let (c1, v1) = (pair.fx.people.coordinator, pair.fx.people.volunteer);
    pair.on_first(c1, Operation::CancelTask { round, task, reason: "住院了，家里没人".into() });
    pair.on_second(
        v1,
        Operation::RecordAttempt { round, task, outcome: Outcome::Delivered, note: "放门口".into() },
    );
    pair.merge();

    let t = pair.fx.task(task);
    assert_eq!(t.status(), TaskStatus::Delivered, "the goods are at the door");
    assert!(t.cancelled.is_some(), "and the cancellation stands");
    let conflicts = pair.conflicts();
    let [Conflict::CancelledButDelivered { round: r, task: id, household, cancellation, deliveries, .. }] =
        conflicts.as_slice()
    else {
        panic!("{conflicts:?}")
    };
    assert_eq!((*r, *id, *household), (round, task, pair.fx.household("2-1-302")));
    assert_eq!((cancellation.by, cancellation.reason.as_str()), (c1.person, "住院了，家里没人"));
    let delivered: Vec<_> = deliveries.iter().map(|a| (a.by, a.outcome, a.note.as_str())).collect();
    assert_eq!(delivered, [(v1.person, Outcome::Delivered, "放门口")]);
    for side in [&pair.fx.compound, &pair.other] {
        let counts = counts(side);
        assert_eq!(counts.cancelled_but_delivered, 1, "{counts:?}");
        assert_eq!(counts.by_task_status[&TaskStatus::Delivered], 1);
    }
}

/// A coordinator who cancels a task already delivered (the delivery synced, so they saw it)
/// knew: nothing to review. A knock that did not deliver is no clash either.
#[test]
fn a_cancellation_made_after_seeing_the_delivery_is_not_a_conflict() {
    let mut round = None;
    let mut pair = Pair::new(|fx| round = Some(fx.round("第1轮", Selection::All)));
    let round = round.unwrap();
    let (delivered, knocked) = (pair.fx.task_at(round, "2-1-302"), pair.fx.task_at(round, "2-1-101"));
    let (c1, v1) = (pair.fx.people.coordinator, pair.fx.people.volunteer);
    pair.on_second(
        v1,
        Operation::RecordAttempt { round, task: delivered, outcome: Outcome::Delivered, note: String::new() },
    );
    pair.on_second(
        v1,
        Operation::RecordAttempt { round, task: knocked, outcome: Outcome::NobodyHome, note: String::new() },
    );
    pair.merge();
    pair.on_first(c1, Operation::CancelTask { round, task: delivered, reason: "已送过".into() });
    pair.merge();
    pair.on_first(c1, Operation::CancelTask { round, task: knocked, reason: "住院了".into() });
    pair.on_second(
        v1,
        Operation::RecordAttempt { round, task: knocked, outcome: Outcome::NobodyHome, note: String::new() },
    );
    pair.merge();
    assert_eq!(pair.conflicts(), []);
    assert_eq!(counts(&pair.fx.compound).cancelled_but_delivered, 0);
}

#[test]
fn competing_assignments_have_one_winner_everywhere_until_settled() {
    let mut round = None;
    let mut pair = Pair::new(|fx| round = Some(fx.round("第1轮", Selection::All)));
    let round = round.unwrap();
    let task = pair.fx.task_at(round, "10-1-201");
    let (c1, c2) = (pair.fx.people.coordinator, pair.fx.people.coordinator2);
    let (v1, v2) = (pair.fx.people.volunteer.person, pair.fx.people.volunteer2.person);
    pair.on_first(c1, Operation::AssignTask { round, task, volunteer: v1 });
    pair.on_second(c2, Operation::AssignTask { round, task, volunteer: v2 });
    pair.merge();

    let conflicts = pair.conflicts();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    let Conflict::CompetingAssignment { task: id, winner, candidates, .. } = &conflicts[0] else {
        panic!("{conflicts:?}")
    };
    assert_eq!(*id, task);
    let shown = pair.fx.task(task).assignee;
    assert!(shown == Some(v1) || shown == Some(v2));
    assert_eq!(*winner, shown, "the conflict names the assignee everyone sees");
    assert_eq!(candidates[0], shown, "the winner comes first");
    let mut all = candidates.clone();
    all.sort();
    let mut want = vec![Some(v1), Some(v2)];
    want.sort();
    assert_eq!(all, want);
    let other_shown = pair.other.tasks().into_iter().find(|t| t.id == task).unwrap().assignee;
    assert_eq!(other_shown, shown, "both replicas show the same winner");

    // A coordinator settles it by assigning again; after sync the conflict is gone on both.
    pair.on_second(c2, Operation::AssignTask { round, task, volunteer: v2 });
    pair.merge();
    assert_eq!(pair.conflicts(), []);
    assert_eq!(pair.fx.task(task).assignee, Some(v2));
}

#[test]
fn the_same_assignment_made_twice_is_not_a_conflict() {
    let mut round = None;
    let mut pair = Pair::new(|fx| round = Some(fx.round("第1轮", Selection::All)));
    let round = round.unwrap();
    let task = pair.fx.task_at(round, "10-1-201");
    let (c1, c2) = (pair.fx.people.coordinator, pair.fx.people.coordinator2);
    let v = pair.fx.people.volunteer.person;
    pair.on_first(c1, Operation::AssignTask { round, task, volunteer: v });
    pair.on_second(c2, Operation::AssignTask { round, task, volunteer: v });
    pair.merge();
    assert_eq!(pair.fx.task(task).assignee, Some(v));
    assert_eq!(pair.conflicts(), [], "two coordinators agreeing is nothing to review");
}

#[test]
fn a_claim_racing_an_assignment_is_reported() {
    let mut round = None;
    let mut pair = Pair::new(|fx| round = Some(fx.round("第1轮", Selection::All)));
    let round = round.unwrap();
    let task = pair.fx.task_at(round, "2-2-101");
    let (c, v1, v2) = (pair.fx.people.coordinator, pair.fx.people.volunteer, pair.fx.people.volunteer2);
    pair.on_first(c, Operation::AssignTask { round, task, volunteer: v1.person });
    pair.on_second(v2, Operation::ClaimTask { round, task });
    pair.merge();
    assert!(matches!(pair.conflicts().as_slice(), [Conflict::CompetingAssignment { .. }]));
}

#[test]
fn concurrent_status_edits_are_reported_and_settled() {
    let mut pair = Pair::new(|_| {});
    let household = pair.fx.household("2-1-101");
    let (c1, c2) = (pair.fx.people.coordinator, pair.fx.people.coordinator2);
    let set = |status| Operation::SetControlStatus { household, status };
    pair.on_first(c1, set(ControlStatus::HomeQuarantine));
    pair.on_second(c2, set(ControlStatus::CentralQuarantine));
    pair.merge();

    let conflicts = pair.conflicts();
    let [Conflict::ConcurrentStatus { household: h, winner, candidates }] = conflicts.as_slice() else {
        panic!("{conflicts:?}")
    };
    assert_eq!(*h, household);
    let shown = pair.fx.compound.households().into_iter().find(|x| x.id == household).unwrap().status;
    assert_eq!(*winner, shown);
    assert_eq!(candidates[0], shown);
    let mut all = candidates.clone();
    all.sort();
    assert_eq!(all, [ControlStatus::HomeQuarantine, ControlStatus::CentralQuarantine]);

    // Writing the value afterwards settles it, whichever value is written.
    pair.on_first(c1, set(ControlStatus::Confirmed));
    pair.merge();
    assert_eq!(pair.conflicts(), []);
    let status = |c: &Compound| c.households().into_iter().find(|x| x.id == household).unwrap().status;
    assert_eq!(
        (status(&pair.fx.compound), status(&pair.other)),
        (ControlStatus::Confirmed, ControlStatus::Confirmed)
    );
}

/// Two coordinators fix one household's phone number and head count at once (one on the
/// dashboard, one on a phone offline): Automerge keeps one value of each, and the other used to
/// vanish without a word. Each field is a conflict listing every value, the one everyone sees
/// first; a field only one of them changed is none; writing a value settles it.
#[test]
fn concurrent_ledger_field_edits_are_reported_and_settled() {
    let mut pair = Pair::new(|_| {});
    let household = pair.fx.household("2-1-302");
    let (c1, c2) = (pair.fx.people.coordinator, pair.fx.people.coordinator2);
    let edit = |phone: &str, people: u32, lift: Option<bool>| Operation::EditHousehold {
        household,
        edit: HouseholdEdit {
            phone: Some(phone.into()),
            people: Some(people),
            lift,
            ..HouseholdEdit::default()
        },
    };
    pair.on_first(c1, edit("13900000001", 6, Some(true)));
    pair.on_second(c2, edit("13800000002", 4, None));
    pair.merge();

    let shown = pair.fx.compound.households().into_iter().find(|h| h.id == household).unwrap();
    let conflicts = pair.conflicts();
    let fields: Vec<_> = conflicts
        .iter()
        .map(|c| match c {
            Conflict::ConcurrentLedgerEdit { household: h, field, candidates } => {
                assert_eq!(*h, household);
                (*field, candidates.clone())
            }
            other => panic!("{other:?}"),
        })
        .collect();
    let [(LedgerField::Phone, phones), (LedgerField::People, people)] = fields.as_slice() else {
        panic!("{fields:?}")
    };
    assert_eq!(phones[0], shown.phone, "the value everyone sees comes first");
    assert_eq!(people[0], shown.people.unwrap().to_string());
    let mut all = phones.clone();
    all.sort();
    assert_eq!(all, ["13800000002", "13900000001"]);

    pair.on_first(c1, edit("13700000003", 5, None));
    pair.merge();
    assert_eq!(pair.conflicts(), [], "writing the fields again settles them");
}

/// Two coordinators triage one request at once (done and urgent on the dashboard, rejected on a
/// phone offline): one decision used to replace the other silently. The request is a conflict
/// listing both statuses and both urgencies, the ones everyone sees first.
#[test]
fn concurrent_triage_of_a_request_is_reported() {
    let mut request = None;
    let mut pair = Pair::new(|fx| {
        let volunteer = fx.people.volunteer;
        let added = fx.ok(
            &volunteer,
            &Operation::AddRequest {
                household: fx.household("2-1-302"),
                channel: Channel::Door,
                category: Category::Medicine,
                text: "需要降压药".into(),
                urgency: Urgency::Normal,
            },
        );
        request = Some(added.new_entity.unwrap().parse().unwrap());
    });
    let request = request.unwrap();
    let (c1, c2) = (pair.fx.people.coordinator, pair.fx.people.coordinator2);
    pair.on_first(
        c1,
        Operation::TriageRequest { request, status: RequestStatus::Done, urgency: Some(Urgency::Urgent) },
    );
    pair.on_second(c2, Operation::TriageRequest { request, status: RequestStatus::Rejected, urgency: None });
    pair.merge();

    let conflicts = pair.conflicts();
    let [Conflict::ConcurrentTriage { request: r, household, statuses, urgencies }] = conflicts.as_slice()
    else {
        panic!("{conflicts:?}")
    };
    assert_eq!((*r, *household), (request, pair.fx.household("2-1-302")));
    let shown = pair.fx.compound.requests().into_iter().find(|x| x.id == request).unwrap();
    assert_eq!(statuses[0], shown.status);
    let mut all = statuses.clone();
    all.sort();
    assert_eq!(all, [RequestStatus::Done, RequestStatus::Rejected]);
    assert_eq!(urgencies.as_slice(), [Urgency::Urgent], "only one of them changed the urgency");
}

#[test]
fn the_same_status_set_twice_is_not_a_conflict() {
    let mut pair = Pair::new(|_| {});
    let household = pair.fx.household("2-1-101");
    let (c1, c2) = (pair.fx.people.coordinator, pair.fx.people.coordinator2);
    let op = Operation::SetControlStatus { household, status: ControlStatus::HomeMonitoring };
    pair.on_first(c1, op.clone());
    pair.on_second(c2, op);
    pair.merge();
    assert_eq!(pair.conflicts(), [], "two coordinators agreeing is nothing to review");
}

#[test]
fn concurrent_notes_edits_merge() {
    let mut pair = Pair::new(|_| {});
    let household = pair.fx.household("2-1-302");
    let (v1, v2) = (pair.fx.people.volunteer, pair.fx.people.volunteer2);
    // The fixture's notes are "李秀英家"; one volunteer adds before, the other after.
    pair.on_first(v1, Operation::EditNotes { household, notes: "独居, 李秀英家".into() });
    pair.on_second(v2, Operation::EditNotes { household, notes: "李秀英家, 敲门要大声".into() });
    pair.merge();
    for side in [&pair.fx.compound, &pair.other] {
        let notes = side.households().into_iter().find(|h| h.id == household).unwrap().notes;
        assert_eq!(notes, "独居, 李秀英家, 敲门要大声");
    }
    assert_eq!(pair.conflicts(), [], "merged text is not a conflict");
}

/// Two care keepers edit different fields of one care entry offline, each sending the whole
/// entry as the app shows it: both edits arrive, whichever device's change sorts last (Automerge
/// writes nothing for a field put again with the value it holds, so the unchanged fields do not
/// compete).
#[test]
fn concurrent_edits_of_different_fields_of_a_care_entry_both_survive() {
    for second_device in [2, 250] {
        let mut entry = None;
        let mut pair = Pair::new(|fx| {
            let draft = care_draft(fx.household("10-1-201"));
            let medic = fx.people.medic;
            entry = fx.ok(&medic, &Operation::AddCareEntry { draft }).new_entity;
        });
        pair.other = fork(&pair.fx.compound, device(second_device));
        let entry: CareEntryId = entry.unwrap().parse().unwrap();
        let (medic, coordinator) = (pair.fx.people.medic, pair.fx.people.coordinator);
        let shown = care_draft(pair.fx.household("10-1-201"));
        let schedule = CareDraft { schedule: "每周一、三、五下午血透".into(), ..shown.clone() };
        let medicines = CareDraft { medicines: "促红素，降压药".into(), ..shown };
        pair.on_first(medic, Operation::EditCareEntry { entry, draft: schedule });
        pair.on_second(coordinator, Operation::EditCareEntry { entry, draft: medicines });
        pair.merge();
        for side in [&pair.fx.compound, &pair.other] {
            let e = side.care_entries().into_iter().find(|e| e.id == entry).unwrap();
            assert_eq!(
                (e.schedule.as_str(), e.medicines.as_str()),
                ("每周一、三、五下午血透", "促红素，降压药"),
                "device {second_device}"
            );
        }
    }
}

fn care_draft(household: doorstep_core::id::HouseholdId) -> CareDraft {
    CareDraft {
        household,
        person_name: "陈刚".into(),
        condition: doorstep_core::schema::need_tag::NeedTag::Dialysis,
        schedule: "每周二、四、六上午血透".into(),
        medicines: "促红素".into(),
        insurance_card_held_by: None,
        notes: String::new(),
    }
}

#[test]
fn a_round_created_offline_reaches_the_other_replica() {
    let mut pair = Pair::new(|_| {});
    let c2 = pair.fx.people.coordinator2;
    let op = Operation::CreateRound {
        title: "药品".into(),
        kind: doorstep_core::schema::vocabulary::TaskKind::Medicine,
        date: String::new(),
        selection: Selection::All,
        items: String::new(),
        priority: doorstep_core::schema::vocabulary::Priority::Normal,
    };
    pair.on_second(c2, op);
    pair.merge();
    assert_eq!(pair.fx.compound.round_infos(), pair.other.round_infos());
    assert_eq!(pair.fx.compound.tasks().len(), support::HOUSEHOLDS.len());
}

#[test]
fn a_competing_claim_stays_until_a_coordinator_settles_it() {
    let mut round = None;
    let mut pair = Pair::new(|fx| round = Some(fx.round("第1轮", Selection::All)));
    let round = round.unwrap();
    let task = pair.fx.task_at(round, "2-2-101");
    let (c, v1, v2) = (pair.fx.people.coordinator, pair.fx.people.volunteer, pair.fx.people.volunteer2);
    pair.on_first(v1, Operation::ClaimTask { round, task });
    pair.on_second(v2, Operation::ClaimTask { round, task });
    pair.merge();
    assert!(matches!(pair.conflicts().as_slice(), [Conflict::CompetingAssignment { .. }]));

    // Releasing or claiming would overwrite the other volunteer's claim too, which the relay
    // refuses: the phone refuses it first, for both of them, whoever Automerge shows as winner.
    for v in [v1, v2] {
        let mut env = TestEnv::seeded(7);
        let mut copy = pair.fx.compound.clone();
        let release = copy.apply(&mut env.env(), &v, &Operation::UnassignTask { round, task });
        assert!(
            matches!(
                &release,
                Err(OperationError::Forbidden { rule: Rule::VolunteersClaimOnlyFreeTasks, .. })
            ),
            "{release:?}"
        );
        let claim = copy.apply(&mut env.env(), &v, &Operation::ClaimTask { round, task });
        let shown = pair.fx.task(task).assignee;
        if shown == Some(v.person) {
            assert_eq!(claim.unwrap(), Applied::default(), "already shown as theirs: nothing written");
        } else {
            assert!(matches!(claim, Err(OperationError::AlreadyAssigned { .. })), "{claim:?}");
        }
    }

    // A coordinator settles it; then the volunteer it went to may release it again.
    pair.on_first(c, Operation::AssignTask { round, task, volunteer: v2.person });
    pair.merge();
    assert_eq!(pair.conflicts(), []);
    pair.on_second(v2, Operation::UnassignTask { round, task });
    pair.merge();
    assert_eq!(pair.fx.task(task).assignee, None);
}
