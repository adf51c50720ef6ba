//! Forged changes, made the way a modified phone would make them: raw Automerge transactions on a
//! copy of the relay's document, under the phone's own actor, sent as the batch the relay
//! receives. Each case was accepted by the relay's check before the rules were unified (issue 9):
//! a delivery recorded on a task a coordinator had cancelled, an attempt inserted at the front
//! of the list instead of appended, attempts dated 1970 and 2200, a task's `attempts` list or a
//! household's `notes` replaced by a fresh empty object (which made an honest phone's later
//! delivery or note vanish), created entities replaced, and edits to a household a coordinator
//! had removed meanwhile, silently dropped. Each test shows the refusal and, where the forgery
//! used to destroy honest work, that the honest work now arrives intact.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use automerge::transaction::{Transactable, Transaction};
use automerge::{ActorId, Automerge, Change, ChangeHash, ObjId, ObjType, ROOT, ReadDoc};
use doorstep_core::document::Header;
use doorstep_core::id::{DocumentId, TaskId};
use doorstep_core::permission::Rule;
use doorstep_core::schema::vocabulary::{Category, Channel, DocKind, Outcome, TaskStatus, Urgency};
use doorstep_core::validate::{Violation, ViolationKind, check_and_apply};
use doorstep_core::{Actor, Compound, Operation, Selection, Timestamp};
use support::{Fixture, device, fork};

/// The relay's clock when it checks the batches: a minute after the fixture's last operation.
fn relay_now(fx: &Fixture) -> Timestamp {
    Timestamp::from_millis(fx.env.now().as_millis() + 60_000)
}

/// The relay's check, as its engine's `take` (`core/src/relay_engine/take.rs`) calls it.
fn relay_check(
    doc: &mut Automerge,
    header: &Header,
    author: &Actor,
    changes: Vec<Change>,
    now: Timestamp,
) -> Result<Vec<ChangeHash>, Violation> {
    check_and_apply(doc, header, author, changes, now)
}

/// One document as the relay holds it, and a batch of changes a phone sends for it.
struct Batch {
    header: Header,
    relay: Automerge,
    changes: Vec<Change>,
    now: Timestamp,
}

impl Batch {
    fn check(&self, author: &Actor) -> (Result<Vec<ChangeHash>, Violation>, Automerge) {
        let mut doc = self.relay.clone();
        let result = relay_check(&mut doc, &self.header, author, self.changes.clone(), self.now);
        (result, doc)
    }

    /// The batch must be applied for `author`; the relay's document after it.
    fn accepted(&self, author: &Actor) -> Automerge {
        let (result, doc) = self.check(author);
        result.unwrap_or_else(|v| panic!("{:?} was refused: {v}", author.role));
        doc
    }

    /// The batch must be refused for `author` under `rule`, naming one of its changes, with the
    /// relay's document exactly as before.
    fn forbidden(&self, author: &Actor, rule: Rule) -> Violation {
        let (result, doc) = self.check(author);
        let violation = match result {
            Ok(applied) => panic!("{:?} was allowed to apply {applied:?}", author.role),
            Err(v) => v,
        };
        assert_eq!(doc.save(), self.relay.save(), "a refused batch changed the document");
        assert_eq!(violation.kind, ViolationKind::Forbidden(rule), "{:?}: {violation}", author.role);
        let change = violation.change.expect("a forbidden batch names a change");
        assert!(self.changes.iter().any(|c| c.hash() == change), "the named change is in the batch");
        violation
    }
}

impl Batch {
    /// The batch must be refused for `author` as a schema problem whose reason holds every one
    /// of `words`, with the relay's document exactly as before.
    fn schema_refused(&self, author: &Actor, words: &[&str]) -> Violation {
        let (result, doc) = self.check(author);
        let violation = match result {
            Ok(applied) => panic!("{:?} was allowed to apply {applied:?}", author.role),
            Err(v) => v,
        };
        assert_eq!(doc.save(), self.relay.save(), "a refused batch changed the document");
        assert_eq!(violation.kind, ViolationKind::Schema, "{violation}");
        for word in words {
            assert!(violation.reason.contains(word), "{word:?} not in: {violation}");
        }
        violation
    }
}

/// The relay's copy of document `id`.
fn relay_doc(relay: &Compound, id: DocumentId) -> Automerge {
    relay.document(id).map(|d| d.automerge().clone()).unwrap_or_default()
}

/// A batch of one hand-made change to document `id`, written with a raw Automerge transaction
/// on a copy of the relay's document by the modified device `d6`.
fn forged(fx: &Fixture, id: DocumentId, edit: impl FnOnce(&mut Transaction<'_>)) -> Batch {
    let relay = relay_doc(&fx.compound, id);
    let since = relay.get_heads();
    let mut doc = relay.clone().with_actor(ActorId::from([0xD6; 16]));
    let mut tx = doc.transaction();
    edit(&mut tx);
    tx.commit();
    let header = *fx.compound.document(id).unwrap().header();
    Batch { header, relay, changes: doc.get_changes(&since), now: relay_now(fx) }
}

/// The batch an honest phone (a copy of the relay's documents taken at `since`) sends for `id`.
fn honest(fx: &Fixture, phone: &Compound, id: DocumentId, since: &[ChangeHash]) -> Batch {
    let doc = phone.document(id).expect("the phone holds the document");
    Batch {
        header: *doc.header(),
        relay: relay_doc(&fx.compound, id),
        changes: doc.automerge().get_changes(since),
        now: relay_now(fx),
    }
}

fn child(doc: &impl ReadDoc, parent: &ObjId, key: &str) -> ObjId {
    doc.get(parent, key).unwrap().unwrap_or_else(|| panic!("no {key:?}")).1
}

fn entity(doc: &impl ReadDoc, collection: &str, id: &str) -> ObjId {
    let map = child(doc, &ROOT, collection);
    child(doc, &map, id)
}

/// Appends a complete attempt `{by, at, outcome, note}` at `index` of `list`.
fn insert_attempt(tx: &mut Transaction<'_>, list: &ObjId, index: usize, by: &str, at: i64, outcome: &str) {
    let attempt = tx.insert_object(list, index, ObjType::Map).unwrap();
    tx.put(&attempt, "by", by).unwrap();
    tx.put(&attempt, "at", at).unwrap();
    tx.put(&attempt, "outcome", outcome).unwrap();
    tx.put(&attempt, "note", "").unwrap();
}

fn round_with_task(fx: &mut Fixture) -> (DocumentId, TaskId) {
    let round = fx.round("蔬菜包 第1轮", Selection::All);
    let task = fx.task_at(round, "2-1-101");
    (round, task)
}

fn roster_id(fx: &Fixture) -> DocumentId {
    fx.compound.single(DocKind::Roster).unwrap().id()
}

#[test]
fn a_delivery_on_a_task_the_coordinator_cancelled_is_refused() {
    let mut fx = Fixture::default();
    let people = fx.people;
    let (round, task) = round_with_task(&mut fx);
    fx.ok(&people.coordinator, &Operation::CancelTask { round, task, reason: "住户已转移".into() });
    let (me, now) = (people.volunteer.person.to_string(), fx.env.now().as_millis());
    let k = task.to_string();
    let batch = forged(&fx, round, |tx| {
        let list = child(tx, &entity(tx, "tasks", &k), "attempts");
        let end = tx.length(&list);
        insert_attempt(tx, &list, end, &me, now, "delivered");
    });
    let v = batch.forbidden(&people.volunteer, Rule::CancelledTasksTakeNoAttempts);
    assert!(v.reason.contains(&format!("task {task}")), "{v}");
    // The coordinator is held to the same rule: a cancelled task is closed for everyone.
    assert_eq!(fx.task(task).status(), TaskStatus::Cancelled);
}

#[test]
fn a_delivery_made_offline_before_the_cancel_arrived_is_kept() {
    let mut fx = Fixture::default();
    let people = fx.people;
    let (round, task) = round_with_task(&mut fx);
    let since = relay_doc(&fx.compound, round).get_heads();
    let mut offline = fork(&fx.compound, device(12));
    let op = Operation::RecordAttempt { round, task, outcome: Outcome::Delivered, note: "放门口".into() };
    offline.apply(&mut fx.env.env(), &people.volunteer, &op).unwrap();
    fx.ok(&people.coordinator, &Operation::CancelTask { round, task, reason: "住户已转移".into() });
    let doc = honest(&fx, &offline, round, &since).accepted(&people.volunteer);
    let after = doorstep_core::document::round::task(round, &doc, task).unwrap();
    assert_eq!(after.status(), TaskStatus::Delivered, "the volunteer did not know; the delivery stays");
    assert!(after.cancelled.is_some());
}

#[test]
fn an_attempt_inserted_before_another_volunteers_attempt_is_refused() {
    let mut fx = Fixture::default();
    let people = fx.people;
    let (round, task) = round_with_task(&mut fx);
    fx.ok(
        &people.volunteer2,
        &Operation::RecordAttempt { round, task, outcome: Outcome::NobodyHome, note: String::new() },
    );
    let (me, now) = (people.volunteer.person.to_string(), fx.env.now().as_millis());
    let k = task.to_string();
    let batch = forged(&fx, round, |tx| {
        let list = child(tx, &entity(tx, "tasks", &k), "attempts");
        insert_attempt(tx, &list, 0, &me, now, "delivered");
    });
    let v = batch.forbidden(&people.volunteer, Rule::AttemptsAreAppendOnly);
    assert!(v.reason.contains("append"), "{v}");
    batch.forbidden(&people.coordinator, Rule::AttemptsAreAppendOnly);
}

#[test]
fn two_volunteers_appending_offline_both_get_through_in_either_order() {
    let mut fx = Fixture::default();
    let people = fx.people;
    let (round, task) = round_with_task(&mut fx);
    let since = relay_doc(&fx.compound, round).get_heads();
    let mut a = fork(&fx.compound, device(10));
    let mut b = fork(&fx.compound, device(11));
    let op = Operation::RecordAttempt { round, task, outcome: Outcome::Delivered, note: String::new() };
    a.apply(&mut fx.env.env(), &people.volunteer, &op).unwrap();
    b.apply(&mut fx.env.env(), &people.volunteer2, &op).unwrap();
    let (from_a, from_b) = (honest(&fx, &a, round, &since), honest(&fx, &b, round, &since));
    for order in [
        [(&from_a, people.volunteer), (&from_b, people.volunteer2)],
        [(&from_b, people.volunteer2), (&from_a, people.volunteer)],
    ] {
        let mut doc = from_a.relay.clone();
        for (batch, author) in order {
            relay_check(&mut doc, &batch.header, &author, batch.changes.clone(), batch.now)
                .unwrap_or_else(|v| panic!("an honest append was refused: {v}"));
        }
        let t = doorstep_core::document::round::task(round, &doc, task).unwrap();
        assert_eq!(t.deliveries(), 2, "both deliveries stay");
    }
}

#[test]
fn attempts_dated_1970_or_2200_are_refused() {
    let mut fx = Fixture::default();
    let people = fx.people;
    let (round, task) = round_with_task(&mut fx);
    let me = people.volunteer.person.to_string();
    for at in [0_i64, 7_258_118_400_000] {
        let (k, by) = (task.to_string(), me.clone());
        let batch = forged(&fx, round, |tx| {
            let list = child(tx, &entity(tx, "tasks", &k), "attempts");
            insert_attempt(tx, &list, 0, &by, at, "delivered");
        });
        let v = batch.forbidden(&people.volunteer, Rule::TimesFollowTheRelaysClock);
        assert!(v.reason.contains("\"at\""), "{v}");
    }
    // A request dated in 2200 is refused the same way.
    let requests = fx.compound.single(DocKind::Requests).unwrap().id();
    let household = fx.household("2-1-101").to_string();
    let batch = forged(&fx, requests, |tx| {
        let map = child(tx, &ROOT, "requests");
        let r = tx.put_object(&map, "0190aaaa-0000-7000-8000-000000000001", ObjType::Map).unwrap();
        tx.put(&r, "household", household.as_str()).unwrap();
        tx.put(&r, "channel", Channel::Door.as_str()).unwrap();
        tx.put(&r, "category", Category::Medicine.as_str()).unwrap();
        let text = tx.put_object(&r, "text", ObjType::Text).unwrap();
        tx.splice_text(&text, 0, 0, "降压药").unwrap();
        tx.put(&r, "urgency", Urgency::Normal.as_str()).unwrap();
        tx.put(&r, "status", "new").unwrap();
        tx.put_object(&r, "tasks", ObjType::Map).unwrap();
        tx.put(&r, "by", me.as_str()).unwrap();
        tx.put(&r, "at", 7_258_118_400_000_i64).unwrap();
    });
    batch.forbidden(&people.volunteer, Rule::TimesFollowTheRelaysClock);
}

#[test]
fn replacing_a_tasks_attempts_list_is_refused_and_the_honest_delivery_arrives() {
    let mut fx = Fixture::default();
    let people = fx.people;
    let (round, task) = round_with_task(&mut fx);
    let since = relay_doc(&fx.compound, round).get_heads();
    // An honest volunteer records a delivery offline.
    let mut offline = fork(&fx.compound, device(12));
    let op = Operation::RecordAttempt { round, task, outcome: Outcome::Delivered, note: String::new() };
    offline.apply(&mut fx.env.env(), &people.volunteer, &op).unwrap();
    // Meanwhile a modified phone replaces the task's (still empty) attempts list.
    let k = task.to_string();
    let wipe = forged(&fx, round, |tx| {
        let obj = entity(tx, "tasks", &k);
        tx.put_object(&obj, "attempts", ObjType::List).unwrap();
    });
    assert!(wipe.changes.iter().map(|c| c.raw_bytes().len()).sum::<usize>() < 200, "a tiny change");
    for author in [people.volunteer2, people.coordinator, people.admin] {
        let v = wipe.forbidden(&author, Rule::CreatedObjectsAreKept);
        assert!(v.reason.contains("\"attempts\""), "{v}");
    }
    let k = task.to_string();
    let delete = forged(&fx, round, |tx| {
        let obj = entity(tx, "tasks", &k);
        tx.delete(&obj, "attempts").unwrap();
    });
    delete.forbidden(&people.coordinator, Rule::CreatedObjectsAreKept);
    // The honest delivery arrives and shows.
    let doc = honest(&fx, &offline, round, &since).accepted(&people.volunteer);
    let t = doorstep_core::document::round::task(round, &doc, task).unwrap();
    assert_eq!(t.status(), TaskStatus::Delivered);
}

#[test]
fn replacing_a_households_notes_text_is_refused_and_honest_notes_merge() {
    let mut fx = Fixture::default();
    let people = fx.people;
    let roster = roster_id(&fx);
    let household = fx.household("2-1-302");
    let since = relay_doc(&fx.compound, roster).get_heads();
    let mut offline = fork(&fx.compound, device(12));
    let op = Operation::EditNotes { household, notes: "独居，敲门要大声".into() };
    offline.apply(&mut fx.env.env(), &people.volunteer, &op).unwrap();
    let k = household.to_string();
    let replace = forged(&fx, roster, |tx| {
        let obj = entity(tx, "households", &k);
        let text = tx.put_object(&obj, "notes", ObjType::Text).unwrap();
        tx.splice_text(&text, 0, 0, "已清空").unwrap();
    });
    for author in [people.volunteer2, people.medic, people.coordinator] {
        let v = replace.forbidden(&author, Rule::CreatedObjectsAreKept);
        assert!(v.reason.contains("\"notes\""), "{v}");
    }
    let doc = honest(&fx, &offline, roster, &since).accepted(&people.volunteer);
    let notes = doorstep_core::document::roster::household(&doc, household).unwrap().notes;
    assert_eq!(notes, "独居，敲门要大声");
}

#[test]
fn created_entities_are_never_replaced_even_by_coordinators() {
    let mut fx = Fixture::default();
    let people = fx.people;
    let (round, task) = round_with_task(&mut fx);
    let roster = roster_id(&fx);
    let requests = fx.compound.single(DocKind::Requests).unwrap().id();
    let request = fx
        .ok(
            &people.volunteer,
            &Operation::AddRequest {
                household: fx.household("2-1-101"),
                channel: Channel::Phone,
                category: Category::Medicine,
                text: "降压药".into(),
                urgency: Urgency::Normal,
            },
        )
        .new_entity
        .unwrap();
    let household = fx.household("2-1-101").to_string();
    let building = fx.compound.households()[0].building.to_string();

    // Each entity is replaced by a fresh map holding a copy of its fields, so the result still
    // follows the schema: only the replacement itself is wrong.
    let cases: Vec<(DocumentId, &str, String)> = vec![
        (roster, "households", household),
        (roster, "buildings", building),
        (round, "tasks", task.to_string()),
        (requests, "requests", request),
    ];
    for (doc, collection, key) in cases {
        let batch = forged(&fx, doc, |tx| copy_over(tx, collection, &key));
        for author in [people.coordinator, people.admin] {
            let v = batch.forbidden(&author, Rule::CreatedObjectsAreKept);
            assert!(v.reason.contains(&key), "{v}");
        }
    }
    // Replacing a whole collection is refused too.
    let batch = forged(&fx, roster, |tx| {
        tx.put_object(ROOT, "households", ObjType::Map).unwrap();
    });
    batch.forbidden(&people.coordinator, Rule::CreatedObjectsAreKept);
}

/// Puts a new map at `collection[key]` holding copies of the old map's scalar fields and fresh
/// copies of its text, list and map fields.
fn copy_over(tx: &mut Transaction<'_>, collection: &str, key: &str) {
    let map = child(tx, &ROOT, collection);
    let old = child(tx, &map, key);
    let fields: Vec<(String, automerge::Value<'static>, ObjId)> = tx
        .map_range(&old, ..)
        .map(|item| {
            let id = item.id();
            (item.key.to_string(), item.value.into_value().into_owned(), id)
        })
        .collect();
    let texts: Vec<(String, String)> = fields
        .iter()
        .filter(|(_, v, _)| matches!(v, automerge::Value::Object(ObjType::Text)))
        .map(|(k, _, id)| (k.clone(), tx.text(id).unwrap()))
        .collect();
    let new = tx.put_object(&map, key, ObjType::Map).unwrap();
    for (field, value, _) in fields {
        match value {
            automerge::Value::Scalar(s) => {
                tx.put(&new, field.as_str(), s.into_owned()).unwrap();
            }
            automerge::Value::Object(kind) => {
                let obj = tx.put_object(&new, field.as_str(), kind).unwrap();
                if let Some((_, text)) = texts.iter().find(|(k, _)| *k == field) {
                    tx.splice_text(&obj, 0, 0, text).unwrap();
                }
            }
        }
    }
}

#[test]
fn a_volunteer_may_not_remove_a_task_request_or_household() {
    let mut fx = Fixture::default();
    let people = fx.people;
    let (round, task) = round_with_task(&mut fx);
    let roster = roster_id(&fx);
    let k = task.to_string();
    let remove_task = forged(&fx, round, |tx| {
        let map = child(tx, &ROOT, "tasks");
        tx.delete(&map, k.as_str()).unwrap();
    });
    remove_task.forbidden(&people.volunteer, Rule::RoundsArePlannedByCoordinators);
    let k = fx.household("2-1-101").to_string();
    let remove_household = forged(&fx, roster, |tx| {
        let map = child(tx, &ROOT, "households");
        tx.delete(&map, k.as_str()).unwrap();
    });
    remove_household.forbidden(&people.volunteer, Rule::RosterIsEditedByCoordinators);
    remove_household.accepted(&people.coordinator);
}

#[test]
fn an_edit_to_a_household_removed_meanwhile_is_refused_naming_the_removal() {
    let mut fx = Fixture::default();
    let people = fx.people;
    let roster = roster_id(&fx);
    let household = fx.household("2-1-302");
    let since = relay_doc(&fx.compound, roster).get_heads();
    let mut offline = fork(&fx.compound, device(12));
    let op = Operation::EditNotes { household, notes: "老人住院了，本周不用送".into() };
    offline.apply(&mut fx.env.env(), &people.volunteer, &op).unwrap();
    fx.ok(&people.coordinator, &Operation::RemoveHousehold { household });
    let late = honest(&fx, &offline, roster, &since);
    let v = late.forbidden(&people.volunteer, Rule::RemovalsDoNotHideEdits);
    assert!(v.reason.contains(&format!("household {household}")), "{v}");
    assert!(v.reason.contains("removed"), "{v}");
}

#[test]
fn a_removal_that_would_hide_an_edit_its_author_had_not_seen_is_refused() {
    let mut fx = Fixture::default();
    let people = fx.people;
    let roster = roster_id(&fx);
    let household = fx.household("2-1-302");
    let since = relay_doc(&fx.compound, roster).get_heads();
    // The coordinator's phone removes the household offline...
    let mut offline = fork(&fx.compound, device(13));
    offline.apply(&mut fx.env.env(), &people.coordinator, &Operation::RemoveHousehold { household }).unwrap();
    // ...while a volunteer's note about it reaches the relay.
    fx.ok(&people.volunteer, &Operation::EditNotes { household, notes: "老人需要轮椅".into() });
    let removal = honest(&fx, &offline, roster, &since);
    let v = removal.forbidden(&people.coordinator, Rule::RemovalsDoNotHideEdits);
    assert!(v.reason.contains(&format!("household {household}")), "{v}");
    // A removal made after seeing the edit goes through.
    let seen = relay_doc(&fx.compound, roster).get_heads();
    let mut synced = fork(&fx.compound, device(14));
    synced.apply(&mut fx.env.env(), &people.coordinator, &Operation::RemoveHousehold { household }).unwrap();
    honest(&fx, &synced, roster, &seen).accepted(&people.coordinator);
}

/// A round whose task at 2-1-302 two volunteers delivered: one double delivery on the relay.
fn double_delivered(fx: &mut Fixture) -> (DocumentId, TaskId) {
    let people = fx.people;
    let (round, _) = round_with_task(fx);
    let task = fx.task_at(round, "2-1-302");
    let op = Operation::RecordAttempt { round, task, outcome: Outcome::Delivered, note: String::new() };
    fx.ok(&people.volunteer, &op);
    fx.ok(&people.volunteer2, &op);
    (round, task)
}

fn review_of(round: DocumentId, task: TaskId, note: &str) -> Operation {
    Operation::ReviewConflict {
        conflict: doorstep_core::schema::review::ConflictSubject::DoubleDelivery { round, task },
        note: note.into(),
    }
}

/// Writes a review record by hand, as a modified phone would.
fn forge_review(tx: &mut Transaction<'_>, task: TaskId, by: &str, at: Timestamp) {
    let map = child(tx, &ROOT, "reviews");
    let review = tx.put_object(&map, "019400a0-0000-7000-8000-000000000001", ObjType::Map).unwrap();
    tx.put(&review, "conflict", "double_delivery").unwrap();
    tx.put(&review, "entity", task.to_string()).unwrap();
    tx.put(&review, "covers", "1@d6d6").unwrap();
    tx.put(&review, "by", by).unwrap();
    tx.put(&review, "at", at.as_millis()).unwrap();
    tx.put(&review, "note", "").unwrap();
}

#[test]
fn a_coordinators_review_is_accepted_and_a_volunteers_is_refused_by_the_relay() {
    let mut fx = Fixture::default();
    let people = fx.people;
    let (round, task) = double_delivered(&mut fx);
    let since = relay_doc(&fx.compound, round).get_heads();
    let now = relay_now(&fx);

    // An honest coordinator's phone writes the review; the relay takes it.
    let mut coordinator_phone = fork(&fx.compound, device(20));
    coordinator_phone
        .apply(&mut fx.env.env(), &people.coordinator, &review_of(round, task, "已核实"))
        .unwrap();
    let doc = honest(&fx, &coordinator_phone, round, &since).accepted(&people.coordinator);
    let reviews = doorstep_core::document::reviews::reviews(round, &doc);
    assert_eq!(reviews.len(), 1);
    assert_eq!((reviews[0].by, reviews[0].note.as_str()), (people.coordinator.person, "已核实"));

    // A modified volunteer's phone writes the same record in its own name; the relay refuses it,
    // under the same rule the phone's own check names.
    let me = people.volunteer.person.to_string();
    let forgery = forged(&fx, round, |tx| forge_review(tx, task, &me, now));
    let v = forgery.forbidden(&people.volunteer, Rule::ConflictsAreReviewedByCoordinators);
    assert!(v.reason.contains("add review"), "{v}");
    forgery.forbidden(&people.medic, Rule::ConflictsAreReviewedByCoordinators);
    // A coordinator may not write a review in someone else's name either.
    let other = people.coordinator2.person.to_string();
    forged(&fx, round, |tx| forge_review(tx, task, &other, now))
        .forbidden(&people.coordinator, Rule::ConflictsAreReviewedByCoordinators);
}

#[test]
fn a_review_on_record_is_never_changed_or_removed() {
    let mut fx = Fixture::default();
    let people = fx.people;
    let (round, task) = double_delivered(&mut fx);
    let applied = fx.ok(&people.coordinator, &review_of(round, task, "已核实"));
    let id = applied.new_entity.expect("the review's ID");
    let edit = forged(&fx, round, |tx| {
        let review = entity(tx, "reviews", &id);
        tx.put(&review, "note", "改过的").unwrap();
    });
    edit.forbidden(&people.coordinator, Rule::ConflictsAreReviewedByCoordinators);
    let remove = forged(&fx, round, |tx| {
        let map = child(tx, &ROOT, "reviews");
        tx.delete(&map, id.as_str()).unwrap();
    });
    remove.forbidden(&people.coordinator, Rule::ConflictsAreReviewedByCoordinators);
}

#[test]
fn a_review_in_a_round_written_before_reviews_existed_is_accepted() {
    let mut fx = Fixture::default();
    let people = fx.people;
    let (round, task) = double_delivered(&mut fx);
    // Old rounds have no `reviews` map.
    let doc = fx.compound.document_mut(round).unwrap();
    let mut tx = doc.automerge_mut().transaction();
    tx.delete(ROOT, "reviews").unwrap();
    tx.commit();
    let since = relay_doc(&fx.compound, round).get_heads();
    let mut phone = fork(&fx.compound, device(21));
    phone.apply(&mut fx.env.env(), &people.coordinator, &review_of(round, task, "")).unwrap();
    let doc = honest(&fx, &phone, round, &since).accepted(&people.coordinator);
    assert_eq!(doorstep_core::document::reviews::reviews(round, &doc).len(), 1);
    // A volunteer's forged first review there is refused all the same.
    let now = relay_now(&fx);
    let me = people.volunteer.person.to_string();
    forged(&fx, round, |tx| {
        tx.put_object(ROOT, "reviews", ObjType::Map).unwrap();
        forge_review(tx, task, &me, now);
    })
    .forbidden(&people.volunteer, Rule::ConflictsAreReviewedByCoordinators);
}

#[test]
fn control_characters_and_direction_overrides_written_by_a_modified_phone_are_refused() {
    let mut fx = Fixture::default();
    let people = fx.people;
    let roster = roster_id(&fx);
    let (round, task) = round_with_task(&mut fx);
    let k = fx.household("2-1-302").to_string();
    // A head of household that shows as 王芳 reversed; a flat on two lines.
    for (field, value, words) in [
        ("head", "王\u{202E}芳", &["\"head\"", "U+202E", "bidirectional override"][..]),
        ("flat", "302\n101", &["\"flat\"", "U+000A", "one line"][..]),
        ("phone", "139\u{0}1234", &["\"phone\"", "U+0000", "control character"][..]),
    ] {
        let batch = forged(&fx, roster, |tx| {
            tx.put(entity(tx, "households", &k), field, value).unwrap();
        });
        batch.schema_refused(&people.coordinator, words);
    }
    // A volunteer's note that clears the coordinator's terminal, on an attempt or in the notes.
    let (me, now) = (people.volunteer.person.to_string(), fx.env.now().as_millis());
    let t = task.to_string();
    let attempt = forged(&fx, round, |tx| {
        let list = child(tx, &entity(tx, "tasks", &t), "attempts");
        let end = tx.length(&list);
        insert_attempt(tx, &list, end, &me, now, "delivered");
        let attempt = tx.get(&list, end).unwrap().unwrap().1;
        tx.put(&attempt, "note", "\u{1B}[2J已送达").unwrap();
    });
    attempt.schema_refused(&people.volunteer, &["\"note\"", "U+001B"]);
    let notes = forged(&fx, roster, |tx| {
        let text = child(tx, &entity(tx, "households", &k), "notes");
        tx.splice_text(&text, 0, 0, "\u{2066}独居\u{2069}").unwrap();
    });
    notes.schema_refused(&people.volunteer, &["\"notes\"", "gained U+2066 (a bidirectional isolate)"]);
    // Line breaks and tabs are what a note is made of: taken.
    let lines = forged(&fx, roster, |tx| {
        let text = child(tx, &entity(tx, "households", &k), "notes");
        tx.splice_text(&text, 0, 0, "独居\r\n\t敲门要大声").unwrap();
    });
    lines.accepted(&people.volunteer);
}

#[test]
fn the_phone_refuses_the_same_characters_before_it_writes_naming_where_they_stand() {
    let mut fx = Fixture::default();
    let people = fx.people;
    let household = fx.household("2-1-302");
    let before = support::heads(&fx.compound);
    let edit = doorstep_core::schema::household::HouseholdEdit {
        head: Some("王\u{202E}芳".into()),
        ..Default::default()
    };
    let err = fx.apply(&people.coordinator, &Operation::EditHousehold { household, edit }).unwrap_err();
    assert_eq!(err.to_string(), "head: holds U+202E (a bidirectional override) at character 2; remove it");
    let op = Operation::EditNotes { household, notes: "敲门\u{7}".into() };
    let err = fx.apply(&people.volunteer, &op).unwrap_err();
    assert!(err.to_string().contains("U+0007 (a control character) at character 3"), "{err}");
    assert_eq!(support::heads(&fx.compound), before, "a refused operation changes nothing");
    fx.ok(&people.volunteer, &Operation::EditNotes { household, notes: "独居\n敲门要大声".into() });
}

/// Writes `edit` straight into the relay's copy of document `id`, unchecked, as a value stored
/// before the character rule existed; the relay's heads after it.
fn stored_before_the_rule(
    fx: &mut Fixture,
    id: DocumentId,
    edit: impl FnOnce(&mut Transaction<'_>),
) -> Vec<ChangeHash> {
    let old = forged(fx, id, edit);
    let doc = fx.compound.document_mut(id).unwrap().automerge_mut();
    doc.apply_changes(old.changes).unwrap();
    doc.get_heads()
}

#[test]
fn notes_that_already_hold_a_control_character_stay_editable_on_the_phone_and_the_relay() {
    let mut fx = Fixture::default();
    let people = fx.people;
    let roster = roster_id(&fx);
    let household = fx.household("2-1-302");
    let k = household.to_string();
    let since = stored_before_the_rule(&mut fx, roster, |tx| {
        let text = child(tx, &entity(tx, "households", &k), "notes");
        tx.splice_text(&text, 0, 0, "旧\u{7}备注").unwrap();
    });
    let mut phone = fork(&fx.compound, device(12));
    // The volunteer edits around the old character and keeps it: the phone and the relay take it.
    let op = Operation::EditNotes { household, notes: "旧\u{7}备注，独居".into() };
    phone.apply(&mut fx.env.env(), &people.volunteer, &op).unwrap();
    let doc = honest(&fx, &phone, roster, &since).accepted(&people.volunteer);
    let notes = doorstep_core::document::roster::household(&doc, household).unwrap().notes;
    assert_eq!(notes, "旧\u{7}备注，独居");
    // Adding a second one is refused on the phone, and by the relay when forged.
    let op = Operation::EditNotes { household, notes: "\u{7}旧\u{7}备注".into() };
    assert!(phone.apply(&mut fx.env.env(), &people.volunteer, &op).is_err());
    let forged_too = forged(&fx, roster, |tx| {
        let text = child(tx, &entity(tx, "households", &k), "notes");
        tx.splice_text(&text, 0, 0, "\u{7}").unwrap();
    });
    forged_too.schema_refused(&people.volunteer, &["gained U+0007"]);
}

#[test]
fn a_field_stored_with_a_control_character_before_the_rule_does_not_block_an_edit_of_another() {
    let mut fx = Fixture::default();
    let people = fx.people;
    let roster = roster_id(&fx);
    let household = fx.household("2-1-302");
    let k = household.to_string();
    let since = stored_before_the_rule(&mut fx, roster, |tx| {
        tx.put(entity(tx, "households", &k), "head", "李秀\u{7}英").unwrap();
    });
    let mut phone = fork(&fx.compound, device(12));
    // The dashboard's form or an app sends the head as it is beside the new phone number.
    let edit = doorstep_core::schema::household::HouseholdEdit {
        head: Some("李秀\u{7}英".into()),
        phone: Some("13912345678".into()),
        ..Default::default()
    };
    phone
        .apply(&mut fx.env.env(), &people.coordinator, &Operation::EditHousehold { household, edit })
        .unwrap();
    let doc = honest(&fx, &phone, roster, &since).accepted(&people.coordinator);
    let after = doorstep_core::document::roster::household(&doc, household).unwrap();
    assert_eq!((after.head.as_str(), after.phone.as_str()), ("李秀\u{7}英", "13912345678"));
    // Writing the character anew is refused.
    let edit = doorstep_core::schema::household::HouseholdEdit {
        head: Some("李秀英\u{7}".into()),
        ..Default::default()
    };
    let op = Operation::EditHousehold { household, edit };
    assert!(phone.apply(&mut fx.env.env(), &people.coordinator, &op).is_err());
}
