//! Late field facts (issue 10): a volunteer knocks offline while a coordinator closes the round.
//! The relay keeps the attempt (it was made before the close, by someone who could not know),
//! and the round and the overview show it as late; a coordinator can reopen the round. An
//! attempt made after the close is still refused (see `validate.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use doorstep_core::document::Document;
use doorstep_core::query::{counts, late_attempts, late_in_round};
use doorstep_core::schema::vocabulary::{Outcome, RoundStatus, TaskStatus};
use doorstep_core::validate::check_and_apply;
use doorstep_core::{Operation, Selection, Timestamp};
use support::{Fixture, device, fork};

#[test]
fn an_attempt_made_before_the_close_arrives_late_and_shows_as_late() {
    let mut fx = Fixture::default();
    let people = fx.people;
    let round = fx.round("蔬菜包 第1轮", Selection::All);
    let (early, late) = (fx.task_at(round, "2-1-101"), fx.task_at(round, "2-1-302"));
    // One attempt reaches the relay before the close; another is made offline before it.
    fx.ok(
        &people.volunteer2,
        &Operation::RecordAttempt { round, task: early, outcome: Outcome::Delivered, note: String::new() },
    );
    let since = fx.compound.document(round).unwrap().heads();
    let mut offline = fork(&fx.compound, device(12));
    let op =
        Operation::RecordAttempt { round, task: late, outcome: Outcome::Delivered, note: "放门口".into() };
    offline.apply(&mut fx.env.env(), &people.volunteer, &op).unwrap();
    fx.ok(&people.coordinator, &Operation::CloseRound { round });
    assert!(late_attempts(&fx.compound).is_empty(), "nothing is late yet");

    // The volunteer syncs: the relay checks and keeps the attempt.
    let header = *fx.compound.document(round).unwrap().header();
    let mut relay = fx.compound.document(round).unwrap().automerge().clone();
    let changes = offline.document(round).unwrap().automerge().get_changes(&since);
    let now = Timestamp::from_millis(fx.env.now().as_millis() + 60_000);
    check_and_apply(&mut relay, &header, &people.volunteer, changes, now).expect("a late field fact is kept");
    fx.compound.insert(Document::from_automerge(header, relay).unwrap());

    let found = late_in_round(round, fx.compound.document(round).unwrap().automerge());
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].task, found[0].attempt.by), (late, people.volunteer.person));
    assert_eq!(found[0].household, fx.household("2-1-302"));
    assert_eq!(counts(&fx.compound).late_attempts, 1, "the overview counts it");
    assert_eq!(fx.task(late).status(), TaskStatus::Delivered, "the delivery counts");

    // Reopened, the round has nothing late; closed again, it counts from the new close.
    fx.ok(&people.coordinator, &Operation::ReopenRound { round });
    let info = fx.compound.round_infos().into_iter().find(|i| i.document == round).unwrap();
    assert_eq!(info.status, RoundStatus::Open);
    assert!(late_attempts(&fx.compound).is_empty());
    fx.ok(&people.coordinator, &Operation::CloseRound { round });
    assert_eq!(counts(&fx.compound).late_attempts, 0);
}
