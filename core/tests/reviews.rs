//! Reviewing conflicts: a coordinator marks a conflict reviewed with a note; the review is an
//! Automerge record every replica sees after sync; a volunteer may not write one; and a value
//! that arrives after the review (a third delivery synced from an offline phone) shows the
//! conflict as unreviewed again. Replicas are forked and merged with the real Automerge sync
//! protocol, as in `conflicts.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use automerge::transaction::Transactable;
use automerge::{ROOT, ReadDoc};
use doorstep_core::document::reviews::REVIEWS;
use doorstep_core::id::{DocumentId, TaskId};
use doorstep_core::permission::Rule;
use doorstep_core::query::{
    Conflict, conflict_reviews, conflicts, late_in_round, round_conflict_reviews, unreviewed_conflicts,
};
use doorstep_core::schema::control_status::ControlStatus;
use doorstep_core::schema::review::ConflictSubject;
use doorstep_core::schema::vocabulary::{Outcome, RoundStatus};
use doorstep_core::{Actor, Compound, Operation, OperationError, Selection};
use proptest::prelude::*;
use support::{Fixture, TestEnv, device, fork, refused, sync_pair};

/// A phone that went offline with a copy of the fixture's documents.
struct Phone {
    compound: Compound,
    env: TestEnv,
}

impl Phone {
    fn fork(fx: &Fixture, n: u8) -> Self {
        let mut env = TestEnv::seeded(100 + u64::from(n));
        env.set_now(fx.env.now());
        Self { compound: fork(&fx.compound, device(n)), env }
    }

    fn apply(&mut self, actor: &Actor, op: &Operation) {
        self.env.advance(1000);
        self.compound.apply(&mut self.env.env(), actor, op).unwrap();
    }
}

fn deliver(round: DocumentId, task: TaskId, note: &str) -> Operation {
    Operation::RecordAttempt { round, task, outcome: Outcome::Delivered, note: note.into() }
}

fn review(round: DocumentId, task: TaskId, note: &str) -> Operation {
    Operation::ReviewConflict { conflict: ConflictSubject::DoubleDelivery { round, task }, note: note.into() }
}

/// The fixture with a round, and the task at 2-1-302 delivered twice by two offline phones and
/// merged: one double delivery waiting for review.
fn double_delivery() -> (Fixture, DocumentId, TaskId) {
    let mut fx = Fixture::default();
    let round = fx.round("蔬菜包 第1轮", Selection::All);
    let task = fx.task_at(round, "2-1-302");
    let (v1, v2) = (fx.people.volunteer, fx.people.volunteer2);
    let mut phone = Phone::fork(&fx, 2);
    fx.ok(&v1, &deliver(round, task, "放门口"));
    phone.apply(&v2, &deliver(round, task, "交给本人"));
    sync_pair(&mut fx.compound, &mut phone.compound);
    (fx, round, task)
}

#[test]
fn a_coordinators_review_records_who_when_and_note_and_every_replica_sees_it() {
    let (mut fx, round, task) = double_delivery();
    let mut other = Phone::fork(&fx, 3);
    assert_eq!(unreviewed_conflicts(&fx.compound).len(), 1);

    let coordinator = fx.people.coordinator;
    let applied = fx.ok(&coordinator, &review(round, task, "已核实，第二份转给 2-1-302"));
    assert_eq!(applied.changed, [round], "the review is written into the round");
    let reviewed_at = fx.env.now();

    let states = conflict_reviews(&fx.compound);
    let [state] = states.as_slice() else { panic!("{states:?}") };
    let r = state.review.as_ref().expect("the double delivery is reviewed");
    assert_eq!(
        (r.by, r.at, r.note.as_str()),
        (coordinator.person, reviewed_at, "已核实，第二份转给 2-1-302")
    );
    assert_eq!(r.covers.len(), 2, "the review covers both deliveries: {:?}", r.covers);
    assert_eq!(unreviewed_conflicts(&fx.compound), [], "the count of conflicts to review drops");
    assert_eq!(fx.task(task).attempts.len(), 2, "both attempts stay");
    assert_eq!(conflicts(&fx.compound).len(), 1, "the conflict is still listed, as reviewed");

    // Another phone learns the outcome by sync alone: it is in the document.
    assert_eq!(unreviewed_conflicts(&other.compound).len(), 1);
    sync_pair(&mut fx.compound, &mut other.compound);
    assert_eq!(conflict_reviews(&other.compound), conflict_reviews(&fx.compound));
    assert_eq!(unreviewed_conflicts(&other.compound), []);
}

#[test]
fn a_volunteer_may_not_mark_a_conflict_reviewed() {
    let (mut fx, round, task) = double_delivery();
    for actor in [fx.people.volunteer, fx.people.medic] {
        let err = refused(&mut fx.compound, |c| c.apply(&mut fx.env.env(), &actor, &review(round, task, "")));
        assert!(
            matches!(err, OperationError::Forbidden { rule: Rule::ConflictsAreReviewedByCoordinators, .. }),
            "{err}"
        );
    }
    assert_eq!(unreviewed_conflicts(&fx.compound).len(), 1);
}

#[test]
fn a_third_delivery_from_an_offline_phone_reopens_the_reviewed_conflict() {
    let (mut fx, round, task) = double_delivery();
    // A third volunteer's phone went offline before the review and delivers there.
    let mut late = Phone::fork(&fx, 4);
    let coordinator = fx.people.coordinator;
    fx.ok(&coordinator, &review(round, task, "已核实"));
    assert_eq!(unreviewed_conflicts(&fx.compound), []);

    let v3 = fx.people.volunteer;
    late.apply(&v3, &deliver(round, task, "又送了一份"));
    sync_pair(&mut fx.compound, &mut late.compound);

    for compound in [&fx.compound, &late.compound] {
        let open = unreviewed_conflicts(compound);
        let [Conflict::DoubleDelivery { deliveries, .. }] = open.as_slice() else { panic!("{open:?}") };
        assert_eq!(deliveries.len(), 3, "the third delivery shows the conflict again");
        let states = conflict_reviews(compound);
        let [state] = states.as_slice() else { panic!("{states:?}") };
        let earlier = state.earlier_review.as_ref().expect("the earlier review is still shown");
        assert_eq!((earlier.by, earlier.note.as_str()), (coordinator.person, "已核实"));
        assert_eq!(earlier.covers.len(), 2, "it saw two deliveries");
    }
    // The first review stays on record, and a second review covers all three.
    assert_eq!(doorstep_core::query::all_reviews(&fx.compound).len(), 1);
    fx.ok(&coordinator, &review(round, task, "三份都核实了"));
    let states = conflict_reviews(&fx.compound);
    assert_eq!(states[0].review.as_ref().map(|r| r.note.as_str()), Some("三份都核实了"));
    assert_eq!(states[0].earlier_review, None, "reviewed as it stands: the current review speaks");
    assert_eq!(unreviewed_conflicts(&fx.compound), []);
}

/// A delivery to a task cancelled meanwhile is reviewed in its round like a double delivery; a
/// second offline delivery arriving later is a value the review did not see, and reopens it with
/// the earlier note shown. Cancelling again, knowing of the deliveries, settles it.
#[test]
fn a_delivery_to_a_cancelled_task_is_reviewed_and_a_later_one_reopens_it() {
    let mut fx = Fixture::default();
    let round = fx.round("蔬菜包 第1轮", Selection::All);
    let task = fx.task_at(round, "2-1-302");
    let (coordinator, v1, v2) = (fx.people.coordinator, fx.people.volunteer, fx.people.volunteer2);
    let (mut phone, mut late) = (Phone::fork(&fx, 2), Phone::fork(&fx, 3));
    let cancel = |reason: &str| Operation::CancelTask { round, task, reason: reason.into() };
    fx.ok(&coordinator, &cancel("住院了"));
    phone.apply(&v1, &deliver(round, task, "放门口"));
    late.apply(&v2, &deliver(round, task, "交给邻居"));
    sync_pair(&mut fx.compound, &mut phone.compound);
    let subject = ConflictSubject::CancelledButDelivered { round, task };
    let open = unreviewed_conflicts(&fx.compound);
    assert!(matches!(open.as_slice(), [c] if c.subject() == subject), "{open:?}");

    let note = "已联系家属取回";
    let applied = fx.ok(&coordinator, &Operation::ReviewConflict { conflict: subject, note: note.into() });
    assert_eq!(applied.changed, [round], "the review is written into the round");
    assert_eq!(unreviewed_conflicts(&fx.compound), []);
    sync_pair(&mut fx.compound, &mut phone.compound);
    assert_eq!(unreviewed_conflicts(&phone.compound), [], "every replica reads it reviewed");

    sync_pair(&mut fx.compound, &mut late.compound);
    // Two deliveries now: a double delivery besides.
    let states = conflict_reviews(&fx.compound);
    let state = states.iter().find(|c| c.conflict.subject() == subject).expect("still listed");
    assert!(
        matches!(&state.conflict, Conflict::CancelledButDelivered { deliveries, .. } if deliveries.len() == 2)
    );
    assert_eq!(state.review, None, "the later delivery reopens it");
    assert_eq!(state.earlier_review.as_ref().map(|r| r.note.as_str()), Some(note));

    fx.ok(&coordinator, &cancel("家属说不要了"));
    let left: Vec<_> = conflicts(&fx.compound).iter().map(Conflict::subject).collect();
    assert_eq!(left, [ConflictSubject::DoubleDelivery { round, task }], "cancelled again knowing of both");
}

#[test]
fn competing_assignments_and_concurrent_statuses_can_be_reviewed_too() {
    let mut fx = Fixture::default();
    let round = fx.round("第1轮", Selection::All);
    let task = fx.task_at(round, "10-1-201");
    let household = fx.household("2-1-101");
    let (c1, c2) = (fx.people.coordinator, fx.people.coordinator2);
    let mut phone = Phone::fork(&fx, 2);
    fx.ok(&c1, &Operation::AssignTask { round, task, volunteer: fx.people.volunteer.person });
    fx.ok(&c1, &Operation::SetControlStatus { household, status: ControlStatus::HomeQuarantine });
    phone.apply(&c2, &Operation::AssignTask { round, task, volunteer: fx.people.volunteer2.person });
    phone.apply(&c2, &Operation::SetControlStatus { household, status: ControlStatus::CentralQuarantine });
    sync_pair(&mut fx.compound, &mut phone.compound);
    assert_eq!(unreviewed_conflicts(&fx.compound).len(), 2);

    fx.ok(
        &c1,
        &Operation::ReviewConflict {
            conflict: ConflictSubject::CompetingAssignment { round, task },
            note: String::new(),
        },
    );
    let applied = fx.ok(
        &c1,
        &Operation::ReviewConflict {
            conflict: ConflictSubject::ConcurrentStatus { household },
            note: "以街道通知为准".into(),
        },
    );
    let roster = fx.compound.single(doorstep_core::schema::vocabulary::DocKind::Roster).unwrap().id();
    assert_eq!(applied.changed, [roster], "a status review is written into the roster");
    assert_eq!(unreviewed_conflicts(&fx.compound), []);
}

#[test]
fn reviewing_a_conflict_that_is_not_there_is_refused_with_a_reason() {
    let mut fx = Fixture::default();
    let round = fx.round("第1轮", Selection::All);
    let task = fx.task_at(round, "2-1-302");
    let coordinator = fx.people.coordinator;
    fx.ok(&fx.people.volunteer.clone(), &deliver(round, task, ""));
    let err =
        refused(&mut fx.compound, |c| c.apply(&mut fx.env.env(), &coordinator, &review(round, task, "")));
    assert!(matches!(err, OperationError::NoSuchConflict(_)), "{err}");
    assert!(err.to_string().contains("double_delivery"), "{err}");
}

#[test]
fn a_round_written_before_reviews_existed_loads_and_takes_a_review() {
    let (mut fx, round, task) = double_delivery();
    // Rounds written before reviews existed have no `reviews` map: take it away, save, reload.
    let doc = fx.compound.document_mut(round).unwrap();
    let mut tx = doc.automerge_mut().transaction();
    tx.delete(ROOT, REVIEWS).unwrap();
    tx.commit();
    let reloaded = fork(&fx.compound, device(1));
    fx.compound = reloaded;
    assert!(fx.compound.document(round).unwrap().automerge().get(ROOT, REVIEWS).unwrap().is_none());
    assert_eq!(unreviewed_conflicts(&fx.compound).len(), 1, "the old round reads as unreviewed");

    let coordinator = fx.people.coordinator;
    fx.ok(&coordinator, &review(round, task, "旧轮次"));
    assert_eq!(unreviewed_conflicts(&fx.compound), []);
}

/// Closing a round settles none of its conflicts: a double delivery left unreviewed, and one
/// that reaches the round late (two phones delivered offline while it was closed), stay listed
/// and are reviewed on the closed round, which stays closed and takes no fact.
#[test]
fn a_closed_rounds_double_deliveries_early_and_late_stay_listed_and_take_a_review() {
    let (mut fx, round, task) = double_delivery();
    let (v1, v2, coordinator) = (fx.people.volunteer, fx.people.volunteer2, fx.people.coordinator);
    let other = fx.task_at(round, "10-1-201");
    let (mut a, mut b) = (Phone::fork(&fx, 5), Phone::fork(&fx, 6));
    a.apply(&v1, &deliver(round, other, "放门口"));
    b.apply(&v2, &deliver(round, other, "交给本人"));
    fx.ok(&coordinator, &Operation::CloseRound { round });
    sync_pair(&mut fx.compound, &mut a.compound);
    sync_pair(&mut fx.compound, &mut b.compound);
    let doc = fx.compound.document(round).unwrap().automerge();
    assert_eq!(late_in_round(round, doc).len(), 2, "both deliveries at 10-1-201 came late");

    let open = unreviewed_conflicts(&fx.compound);
    let tasks: Vec<TaskId> = open
        .iter()
        .map(|c| match c {
            Conflict::DoubleDelivery { task, .. } => *task,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(tasks, sorted([task, other]), "the early and the late double delivery: {open:?}");
    assert_eq!(
        round_conflict_reviews(round, doc),
        conflict_reviews(&fx.compound),
        "read from the round alone"
    );

    let applied = fx.ok(&coordinator, &review(round, other, "迟到的两份都核实了"));
    assert_eq!(applied.changed, [round], "the review is written into the closed round");
    let info = fx.compound.round_infos().into_iter().find(|i| i.document == round).unwrap();
    assert_eq!(info.status, RoundStatus::Closed, "and the round stays closed");
    let open = unreviewed_conflicts(&fx.compound);
    assert!(matches!(open.as_slice(), [Conflict::DoubleDelivery { task: t, .. }] if *t == task), "{open:?}");
    let states = round_conflict_reviews(round, fx.compound.document(round).unwrap().automerge());
    assert_eq!(states.iter().filter(|s| s.is_reviewed()).count(), 1, "{states:?}");

    // A fact is still refused there, a coordinator's too.
    let err =
        refused(&mut fx.compound, |c| c.apply(&mut fx.env.env(), &coordinator, &deliver(round, task, "")));
    assert!(matches!(err, OperationError::RoundClosed(_)), "{err}");
}

fn sorted(mut tasks: [TaskId; 2]) -> Vec<TaskId> {
    tasks.sort();
    tasks.to_vec()
}

/// `DOORSTEP_PROPTEST_CASES` (default 64) from a fixed seed.
fn cases() -> ProptestConfig {
    let cases: u32 = std::env::var("DOORSTEP_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64);
    let mut config = ProptestConfig::with_cases(cases);
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = proptest::test_runner::RngSeed::Fixed(20_261_130);
    }
    config
}

proptest! {
    #![proptest_config(cases())]

    /// However many offline phones deliver, and whenever the coordinator reviews, the double
    /// delivery reads as reviewed exactly when no delivery arrived after the last review.
    #[test]
    fn a_review_covers_exactly_the_deliveries_it_saw(
        before in 2usize..5,
        after in 0usize..3,
        failed_after in 0usize..2,
    ) {
        let mut fx = Fixture::default();
        let round = fx.round("第1轮", Selection::All);
        let task = fx.task_at(round, "2-1-302");
        let volunteers = [fx.people.volunteer, fx.people.volunteer2];
        let mut phones: Vec<Phone> =
            (0..before + after + failed_after).map(|i| Phone::fork(&fx, 10 + u8::try_from(i).unwrap())).collect();
        for (i, phone) in phones.iter_mut().enumerate().take(before) {
            phone.apply(&volunteers[i % 2], &deliver(round, task, &format!("第{i}份")));
            sync_pair(&mut fx.compound, &mut phone.compound);
        }
        let coordinator = fx.people.coordinator;
        fx.ok(&coordinator, &review(round, task, "核实"));
        prop_assert_eq!(unreviewed_conflicts(&fx.compound).len(), 0);
        for (i, phone) in phones.iter_mut().enumerate().skip(before) {
            let outcome = if i < before + after { Outcome::Delivered } else { Outcome::NobodyHome };
            phone.apply(&volunteers[i % 2], &Operation::RecordAttempt { round, task, outcome, note: String::new() });
            sync_pair(&mut fx.compound, &mut phone.compound);
        }
        let open = unreviewed_conflicts(&fx.compound);
        prop_assert_eq!(open.len(), usize::from(after > 0), "{:?}", open);
        prop_assert_eq!(conflicts(&fx.compound).len(), 1);
    }
}
