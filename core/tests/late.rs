//! Late field facts (issue 10): a volunteer knocks offline while a coordinator closes the round.
//! The relay keeps the attempt (it was made before the close, by someone who could not know),
//! and the round and the overview show it as late; a coordinator can reopen the round. An
//! attempt made after the close is still refused (see `validate.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use doorstep_core::document::Document;
use doorstep_core::query::{counts, late_attempts, late_in_round};
use doorstep_core::relay_engine::mark_close;
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

/// Takes `from`'s changes of `round` that the relay (`fx.compound`) lacks, as the relay does:
/// checked in `who`'s name, then the relay's mark of a close (`mark_close`) when they close it.
fn relay_takes(
    fx: &mut Fixture,
    from: &doorstep_core::Compound,
    round: doorstep_core::id::DocumentId,
    who: &doorstep_core::Actor,
) {
    let header = *fx.compound.document(round).unwrap().header();
    let mut relay = fx.compound.document(round).unwrap().automerge().clone();
    let changes = from.document(round).unwrap().automerge().get_changes(&relay.get_heads());
    let added: Vec<_> = changes.iter().map(automerge::Change::hash).collect();
    let now = Timestamp::from_millis(fx.env.now().as_millis() + 60_000);
    check_and_apply(&mut relay, &header, who, changes, now).expect("honest work is kept");
    mark_close(&mut relay, &header, &added, &device(99));
    fx.compound.insert(Document::from_automerge(header, relay).unwrap());
}

/// Closes made on coordinators' phones that had not synced: a knock the relay held before it
/// took a close is not late; a knock made offline through the close is; two coordinators
/// closing at once count from the earlier close; reopened and closed again, from the new close.
#[test]
fn closes_made_on_phones_count_late_from_where_the_relay_took_them() {
    let mut fx = Fixture::default();
    let people = fx.people;
    let round = fx.round("蔬菜包 第1轮", Selection::All);
    let (on_time, offline_knock) = (fx.task_at(round, "2-1-101"), fx.task_at(round, "2-1-302"));
    // Both coordinators' phones and a volunteer's go offline in the morning.
    let mut first = fork(&fx.compound, device(21));
    let mut second = fork(&fx.compound, device(22));
    let mut volunteer = fork(&fx.compound, device(23));
    let knock =
        |task| Operation::RecordAttempt { round, task, outcome: Outcome::Delivered, note: String::new() };
    // A knock reaches the relay while the round is open.
    fx.ok(&people.volunteer2, &knock(on_time));
    // Offline: a volunteer knocks; both coordinators close the round.
    volunteer.apply(&mut fx.env.env(), &people.volunteer, &knock(offline_knock)).unwrap();
    first.apply(&mut fx.env.env(), &people.coordinator, &Operation::CloseRound { round }).unwrap();
    second.apply(&mut fx.env.env(), &people.coordinator2, &Operation::CloseRound { round }).unwrap();

    relay_takes(&mut fx, &first, round, &people.coordinator);
    assert!(late_attempts(&fx.compound).is_empty(), "the knock the relay held came before the close");
    relay_takes(&mut fx, &second, round, &people.coordinator2);
    assert!(late_attempts(&fx.compound).is_empty(), "a second close at once changes nothing");
    relay_takes(&mut fx, &volunteer, round, &people.volunteer);
    let late = late_attempts(&fx.compound);
    assert_eq!(late.iter().map(|l| l.task).collect::<Vec<_>>(), [offline_knock], "{late:?}");

    // Reopened: nothing late; closed again on the relay: counted from the new close.
    fx.ok(&people.coordinator, &Operation::ReopenRound { round });
    assert!(late_attempts(&fx.compound).is_empty());
    fx.ok(&people.coordinator, &Operation::CloseRound { round });
    assert!(late_attempts(&fx.compound).is_empty(), "both knocks came before the new close");
}
