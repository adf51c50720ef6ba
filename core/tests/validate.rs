//! The relay's check of incoming changes (`doorstep_core::validate`), driven with real changes:
//! a phone (another Automerge actor) makes an edit through core operations on its copy of the
//! compound, and the relay checks the resulting changes as if they came from each role — the
//! roles the rule allows get the batch applied, the others get a violation naming the rule, and
//! the relay's document does not move (same heads, same saved bytes). Hostile changes that no
//! operation would make (deleting a household, rewriting an attempt, a status of "banana", a
//! huge text) are made with raw Automerge transactions. Sync messages are produced by the real
//! Automerge sync protocol, V1 and V2.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use automerge::sync::{ChunkList, Message, MessageVersion, State, SyncDoc};
use automerge::transaction::{Transactable, Transaction};
use automerge::{ActorId, Automerge, Change, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue};
use doorstep_core::document::Header;
use doorstep_core::id::{DocumentId, PersonId, RequestId, TaskId};
use doorstep_core::permission::Rule;
use doorstep_core::schema::need_tag::NeedTag;
use doorstep_core::schema::request::CareDraft;
use doorstep_core::schema::vocabulary::{Category, Channel, DocKind, Outcome, RequestStatus, Urgency};
use doorstep_core::validate::{
    Violation, ViolationKind, changes_in, check_and_apply, check_and_apply_within,
};
use doorstep_core::{Actor, Compound, Operation, Selection, limits};
use support::{Fixture, MORNING, device, fork};

/// The relay's clock in these tests: an hour after the fixture's morning.
const RELAY_NOW: doorstep_core::Timestamp =
    doorstep_core::Timestamp::from_millis(MORNING.as_millis() + 3_600_000);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// One document as the relay holds it, and a batch of changes a phone sends for it.
#[derive(Clone)]
struct Batch {
    header: Header,
    relay: Automerge,
    changes: Vec<Change>,
}

impl Batch {
    /// Checks the batch as `author` against a copy of the relay's document.
    fn check(&self, author: &Actor) -> (Result<Vec<ChangeHash>, Violation>, Automerge) {
        let mut doc = self.relay.clone();
        let result = check_and_apply(&mut doc, &self.header, author, self.changes.clone(), RELAY_NOW);
        (result, doc)
    }

    /// The batch must be applied for `author`: every change is new, and the document then holds
    /// exactly what the phone holds.
    fn accepted(&self, author: &Actor) -> Automerge {
        let (result, doc) = self.check(author);
        let mut applied = result.unwrap_or_else(|v| panic!("{:?} was refused: {v}", author.role));
        let mut sent: Vec<ChangeHash> = self.changes.iter().map(Change::hash).collect();
        applied.sort();
        sent.sort();
        assert_eq!(applied, sent, "the changes applied are the ones sent");
        for hash in &sent {
            assert!(doc.get_change_by_hash(hash).is_some(), "change {hash} is in the document");
        }
        doc
    }

    /// The batch must be refused for `author`, with the relay's document exactly as before.
    fn rejected(&self, author: &Actor) -> Violation {
        let (result, doc) = self.check(author);
        let violation = match result {
            Ok(applied) => panic!("{:?} was allowed to apply {applied:?}", author.role),
            Err(v) => v,
        };
        assert_eq!(doc.get_heads(), self.relay.get_heads(), "a refused batch moved the heads");
        assert_eq!(doc.save(), self.relay.save(), "a refused batch changed the document");
        assert_eq!(violation.document, self.header.id);
        violation
    }

    /// The batch must be refused for `author` under `rule`, naming one of the batch's changes.
    fn forbidden(&self, author: &Actor, rule: Rule) -> Violation {
        let violation = self.rejected(author);
        assert_eq!(violation.kind, ViolationKind::Forbidden(rule), "{:?}: {violation}", author.role);
        let change = violation.change.expect("a forbidden batch names a change");
        assert!(self.changes.iter().any(|c| c.hash() == change), "the named change is in the batch");
        assert!(violation.to_string().contains(rule.code()), "{violation}");
        violation
    }

    /// The batch must be refused for `author` with `kind`.
    fn refused_as(&self, author: &Actor, kind: ViolationKind) -> Violation {
        let violation = self.rejected(author);
        assert_eq!(violation.kind, kind, "{violation}");
        violation
    }
}

/// The relay's copy of document `id` (empty if the relay does not hold it yet).
fn relay_doc(relay: &Compound, id: DocumentId) -> Automerge {
    relay.document(id).map(|d| d.automerge().clone()).unwrap_or_default()
}

/// A phone on device `n`: a copy of the relay's documents under its own Automerge actor.
/// Phone `n`, whose copy of `round` is from `since` (before a close it has not seen).
fn after_close_copy(fx: &Fixture, round: DocumentId, since: &[ChangeHash], n: u8) -> Compound {
    let mut copy = phone(fx, n);
    copy.insert(
        doorstep_core::document::Document::load(
            *fx.compound.document(round).unwrap().header(),
            &relay_doc(&fx.compound, round).fork_at(since).unwrap().save(),
            device(n),
        )
        .unwrap(),
    );
    copy
}

fn phone(fx: &Fixture, n: u8) -> Compound {
    fork(&fx.compound, device(n))
}

/// The changes `phone` holds for document `id` that the relay's copy (as it was when the phone
/// forked, `since`) lacks, as the batch the relay receives.
fn batch(relay: &Compound, phone: &Compound, id: DocumentId, since: &[ChangeHash]) -> Batch {
    let doc = phone.document(id).expect("the phone holds the document");
    Batch { header: *doc.header(), relay: relay_doc(relay, id), changes: doc.automerge().get_changes(since) }
}

/// The batch a phone sends for document `id` after making `op` as `maker` on a fresh copy.
fn made_by(fx: &mut Fixture, maker: Actor, op: &Operation, id: DocumentId) -> Batch {
    let mut phone = phone(fx, 9);
    let since = relay_doc(&fx.compound, id).get_heads();
    fx.env.advance(1000);
    phone.apply(&mut fx.env.env(), &maker, op).unwrap_or_else(|e| panic!("{op:?}: {e}"));
    batch(&fx.compound, &phone, id, &since)
}

/// A batch of one hand-made change to document `id`, written with a raw Automerge transaction
/// on a copy of the relay's document by the hostile device `d6`.
fn hostile(fx: &Fixture, id: DocumentId, edit: impl FnOnce(&mut Transaction<'_>) + 'static) -> Batch {
    hostile_changes(fx, id, vec![Box::new(edit)])
}

type Edit = Box<dyn FnOnce(&mut Transaction<'_>)>;

/// A batch of several hand-made changes to document `id`, one per edit, in order.
fn hostile_changes(fx: &Fixture, id: DocumentId, edits: Vec<Edit>) -> Batch {
    let relay = relay_doc(&fx.compound, id);
    let since = relay.get_heads();
    let mut doc = relay.clone().with_actor(ActorId::from([0xD6; 16]));
    for edit in edits {
        let mut tx = doc.transaction();
        edit(&mut tx);
        tx.commit();
    }
    let header = *fx.compound.document(id).unwrap().header();
    Batch { header, relay, changes: doc.get_changes(&since) }
}

/// The object at `parent.key`.
fn child(doc: &impl ReadDoc, parent: &ObjId, key: &str) -> ObjId {
    doc.get(parent, key).unwrap().unwrap_or_else(|| panic!("no {key:?}")).1
}

/// The object of entity `id` in the root collection `collection`.
fn entity(doc: &impl ReadDoc, collection: &str, id: &str) -> ObjId {
    let map = child(doc, &ROOT, collection);
    child(doc, &map, id)
}

fn id_of(fx: &Fixture, kind: DocKind) -> DocumentId {
    fx.compound.single(kind).expect("the fixture holds the document").id()
}

/// A round over every fixture household, with the task at 2-1-101.
fn round_with_task(fx: &mut Fixture) -> (DocumentId, TaskId) {
    let round = fx.round("蔬菜包 第1轮", Selection::All);
    let task = fx.task_at(round, "2-1-101");
    (round, task)
}

/// A request taken down by `by`.
fn add_request(fx: &mut Fixture, by: Actor) -> RequestId {
    let op = Operation::AddRequest {
        household: fx.household("2-1-302"),
        channel: Channel::Phone,
        category: Category::Medicine,
        text: "降压药两盒".into(),
        urgency: Urgency::Normal,
    };
    fx.ok(&by, &op).new_entity.unwrap().parse().unwrap()
}

fn care_draft(fx: &Fixture) -> CareDraft {
    CareDraft {
        household: fx.household("10-1-201"),
        person_name: "陈刚".into(),
        condition: NeedTag::Dialysis,
        schedule: "每周二、四、六上午血透".into(),
        medicines: String::new(),
        insurance_card_held_by: None,
        notes: String::new(),
    }
}

/// Runs the real sync protocol from `from` towards `to` until `from` sends a message carrying
/// changes, and returns that message (decoded from its bytes, as the relay receives it).
fn first_message_with_changes(from: &Automerge, to: &Automerge) -> Message {
    let (mut from_state, mut to_state) = (State::new(), State::new());
    let (mut from, mut to) = (from.clone(), to.clone());
    for _ in 0..10 {
        if let Some(m) = to.generate_sync_message(&mut to_state) {
            from.receive_sync_message(&mut from_state, m).unwrap();
        }
        if let Some(m) = from.generate_sync_message(&mut from_state) {
            let m = Message::decode(&m.clone().encode()).unwrap();
            if !m.changes.is_empty() {
                return m;
            }
            to.receive_sync_message(&mut to_state, m).unwrap();
        }
    }
    panic!("no message with changes");
}

/// Roster.
mod validate_roster {
    use super::*;

    #[test]
    fn anyone_in_the_compound_may_edit_a_households_notes() {
        let mut fx = Fixture::default();
        let people = fx.people;
        let roster = id_of(&fx, DocKind::Roster);
        let op = Operation::EditNotes {
            household: fx.household("2-1-302"),
            notes: "独居，敲门要大声".into(),
        };
        let batch = made_by(&mut fx, people.volunteer, &op, roster);
        for author in people.each_role() {
            let doc = batch.accepted(&author);
            let notes =
                doorstep_core::document::roster::household(&doc, fx.household("2-1-302")).unwrap().notes;
            assert_eq!(notes, "独居，敲门要大声");
        }
    }

    #[test]
    fn a_household_whose_people_count_is_unknown_is_accepted_and_read_as_unknown() {
        let mut fx = Fixture::default();
        let people = fx.people;
        let roster = id_of(&fx, DocKind::Roster);
        let mut draft = support::draft("2-1-1702");
        draft.people = None;
        draft.aged_60_plus = 2;
        let batch = made_by(&mut fx, people.coordinator, &Operation::AddHousehold { draft }, roster);
        let doc = batch.accepted(&people.coordinator);
        let households = doorstep_core::document::roster::households(&doc);
        let added = households.iter().find(|h| h.address.flat == "1702").unwrap();
        assert_eq!((added.people, added.aged_60_plus), (None, 2));
        // Documents written before the count could be unknown still read their counts.
        assert!(households.iter().filter(|h| h.address.flat != "1702").all(|h| h.people.is_some()));
    }

    #[test]
    fn only_coordinators_change_the_roster_beyond_notes() {
        let mut fx = Fixture::default();
        let people = fx.people;
        let roster = id_of(&fx, DocKind::Roster);
        let h = fx.household("2-1-101");
        let ops = [
            Operation::EditHousehold {
                household: h,
                edit: doorstep_core::schema::household::HouseholdEdit {
                    phone: Some("13900000000".into()),
                    ..Default::default()
                },
            },
            Operation::SetControlStatus {
                household: h,
                status: doorstep_core::schema::control_status::ControlStatus::Confirmed,
            },
            Operation::SetNeedTags { household: h, needs: [NeedTag::Dialysis].into_iter().collect() },
            Operation::RemoveHousehold { household: h },
            Operation::AddHousehold { draft: support::draft("2-1-501") },
            Operation::AddBuilding { estate: String::new(), label: "11".into(), lift: true },
        ];
        for op in &ops {
            let batch = made_by(&mut fx, people.coordinator, op, roster);
            for author in [people.volunteer, people.medic] {
                let v = batch.forbidden(&author, Rule::RosterIsEditedByCoordinators);
                assert!(v.reason.contains(author.role.as_str()), "{v}");
            }
            for author in [people.coordinator, people.admin] {
                batch.accepted(&author);
            }
        }
    }

    #[test]
    fn a_volunteer_cannot_delete_a_household_or_touch_a_field_beside_notes() {
        let fx = Fixture::default();
        let people = fx.people;
        let roster = id_of(&fx, DocKind::Roster);
        let key = fx.household("2-1-101").to_string();
        let k = key.clone();
        let delete = hostile(&fx, roster, move |tx| {
            let map = child(tx, &ROOT, "households");
            tx.delete(&map, k.as_str()).unwrap();
        });
        let v = delete.forbidden(&people.volunteer, Rule::RosterIsEditedByCoordinators);
        assert!(v.reason.contains(&format!("may not remove household {key}")), "{v}");
        delete.accepted(&people.coordinator);

        let k = key.clone();
        let rewrite = hostile(&fx, roster, move |tx| {
            tx.put(entity(tx, "households", &k), "head", "冒名").unwrap();
        });
        let v = rewrite.forbidden(&people.volunteer, Rule::RosterIsEditedByCoordinators);
        assert!(v.reason.contains("\"head\", only its notes"), "{v}");
        rewrite.forbidden(&people.medic, Rule::RosterIsEditedByCoordinators);
        rewrite.accepted(&people.coordinator);
    }

    #[test]
    fn the_time_zone_is_set_by_coordinators_to_an_offset_that_exists() {
        let mut fx = Fixture::default();
        let people = fx.people;
        let roster = id_of(&fx, DocKind::Roster);
        let set = made_by(&mut fx, people.coordinator, &Operation::SetUtcOffset { minutes: -300 }, roster);
        set.forbidden(&people.volunteer, Rule::RosterIsEditedByCoordinators);
        set.forbidden(&people.medic, Rule::RosterIsEditedByCoordinators);
        set.accepted(&people.coordinator);
        let absurd = hostile(&fx, roster, |tx| {
            tx.put(ROOT, "utc_offset_minutes", 100_000_i64).unwrap();
        });
        let v = absurd.refused_as(&people.coordinator, ViolationKind::Schema);
        assert!(v.reason.contains("time zone"), "{v}");
        let text = hostile(&fx, roster, |tx| {
            tx.put(ROOT, "utc_offset_minutes", "UTC+8").unwrap();
        });
        text.refused_as(&people.coordinator, ViolationKind::Schema);
    }
}

/// Rounds.
mod validate_rounds {
    use super::*;

    #[test]
    fn only_coordinators_plan_rounds() {
        let mut fx = Fixture::default();
        let people = fx.people;
        let (round, task) = round_with_task(&mut fx);
        let ops = [
            Operation::AddTask {
                round,
                household: fx.household("2-2-101"),
                kind: doorstep_core::schema::vocabulary::TaskKind::Medicine,
                items: "降压药".into(),
                priority: doorstep_core::schema::vocabulary::Priority::High,
                request: None,
            },
            Operation::AssignTask { round, task, volunteer: people.volunteer2.person },
            Operation::CancelTask { round, task, reason: "住户已转移".into() },
            Operation::CloseRound { round },
        ];
        for op in &ops {
            let batch = made_by(&mut fx, people.coordinator, op, round);
            for author in [people.volunteer, people.medic] {
                let rule = match op {
                    // Assigning someone else is what the claim rule forbids.
                    Operation::AssignTask { .. } => Rule::VolunteersClaimOnlyFreeTasks,
                    _ => Rule::RoundsArePlannedByCoordinators,
                };
                batch.forbidden(&author, rule);
            }
            for author in [people.coordinator, people.admin] {
                batch.accepted(&author);
            }
        }
    }

    #[test]
    fn a_volunteer_cannot_change_a_rounds_title() {
        let mut fx = Fixture::default();
        let people = fx.people;
        let (round, _) = round_with_task(&mut fx);
        let batch = hostile(&fx, round, |tx| tx.put(ROOT, "title", "改名").unwrap());
        let v = batch.forbidden(&people.volunteer, Rule::RoundsArePlannedByCoordinators);
        assert!(v.reason.contains("\"title\""), "{v}");
        batch.forbidden(&people.medic, Rule::RoundsArePlannedByCoordinators);
        batch.accepted(&people.coordinator);
    }

    /// A round's day is a day written YYYY-MM-DD that exists, or nothing: the phone refuses
    /// another before it makes a change, and the relay refuses one a change writes.
    #[test]
    fn a_rounds_day_is_a_day_written_year_month_day() {
        let mut fx = Fixture::default();
        let people = fx.people;
        let (round, _) = round_with_task(&mut fx);
        for not_a_day in ["明天", "2026/11/23", "2026-02-30", "9999-12-31", " 2026-11-23"] {
            let batch = hostile(&fx, round, move |tx| tx.put(ROOT, "date", not_a_day).unwrap());
            let v = batch.refused_as(&people.coordinator, ViolationKind::Schema);
            assert!(v.reason.contains("YYYY-MM-DD") && v.reason.contains("\"date\""), "{v}");
            let mut phone = phone(&fx, 9);
            let op = Operation::CreateRound {
                title: "药品 第1轮".into(),
                kind: doorstep_core::schema::vocabulary::TaskKind::Medicine,
                date: not_a_day.into(),
                selection: Selection::Need { need: NeedTag::Dialysis },
                items: "透析药".into(),
                priority: doorstep_core::schema::vocabulary::Priority::Urgent,
            };
            let refused = phone.apply(&mut fx.env.env(), &people.coordinator, &op).unwrap_err();
            assert!(refused.to_string().contains("YYYY-MM-DD"), "{not_a_day:?}: {refused}");
        }
        for day in ["2026-11-24", "2028-02-29", ""] {
            hostile(&fx, round, move |tx| tx.put(ROOT, "date", day).unwrap()).accepted(&people.coordinator);
        }
        // A round stored with a date from before days were checked is still closed and
        // retitled: only the values a batch writes are judged.
        let mut legacy = hostile(&fx, round, |tx| tx.put(ROOT, "date", "明天").unwrap());
        legacy.relay.apply_changes(legacy.changes.clone()).unwrap();
        let mut closing = legacy.relay.fork().with_actor(device(6));
        let mut tx = closing.transaction();
        tx.put(ROOT, "title", "蔬菜包 第1轮（改）").unwrap();
        tx.put(ROOT, "status", "closed").unwrap();
        tx.commit();
        let changes = closing.get_changes(&legacy.relay.get_heads());
        Batch { changes, ..legacy }.accepted(&people.coordinator);
    }

    #[test]
    fn only_coordinators_and_admins_create_rounds() {
        let mut fx = Fixture::default();
        let people = fx.people;
        let mut phone = phone(&fx, 9);
        let op = Operation::CreateRound {
            title: "药品 第1轮".into(),
            kind: doorstep_core::schema::vocabulary::TaskKind::Medicine,
            date: "2026-11-24".into(),
            selection: Selection::Need { need: NeedTag::Dialysis },
            items: "透析药".into(),
            priority: doorstep_core::schema::vocabulary::Priority::Urgent,
        };
        fx.env.advance(1000);
        let round = phone.apply(&mut fx.env.env(), &people.coordinator, &op).unwrap().created[0];
        let batch = batch(&fx.compound, &phone, round, &[]);
        assert!(batch.relay.get_heads().is_empty(), "the round is new to the relay");
        for author in [people.volunteer, people.medic] {
            batch.forbidden(&author, Rule::RoundsArePlannedByCoordinators);
        }
        for author in [people.coordinator, people.admin] {
            let doc = batch.accepted(&author);
            assert_eq!(doc.get_heads(), phone.document(round).unwrap().heads());
        }

        // The same changes presented as another document are refused: the header is the one the
        // relay expects or nothing.
        let mut wrong =
            Batch { header: batch.header, relay: Automerge::new(), changes: batch.changes.clone() };
        wrong.header.id = DocumentId::from_uuid(uuid::Uuid::from_u128(42));
        let v = wrong.refused_as(&people.coordinator, ViolationKind::Schema);
        assert!(v.reason.contains("header"), "{v}");
    }

    #[test]
    fn a_new_documents_first_change_must_write_its_header() {
        let fx = Fixture::default();
        let people = fx.people;
        let header = Header {
            id: DocumentId::from_uuid(uuid::Uuid::from_u128(77)),
            kind: DocKind::Round,
            compound: fx.compound.id(),
        };
        let mut doc = Automerge::new().with_actor(ActorId::from([0xD6; 16]));
        let mut tx = doc.transaction();
        tx.put(ROOT, "title", "先写内容").unwrap();
        tx.put(ROOT, "round_kind", "groceries").unwrap();
        tx.put(ROOT, "date", "2026-11-24").unwrap();
        tx.put(ROOT, "status", "open").unwrap();
        tx.put_object(ROOT, "tasks", ObjType::Map).unwrap();
        tx.commit();
        let mut tx = doc.transaction();
        tx.put(ROOT, "schema", 1u64).unwrap();
        tx.put(ROOT, "id", header.id.to_string()).unwrap();
        tx.put(ROOT, "kind", "round").unwrap();
        tx.put(ROOT, "compound", header.compound.to_string()).unwrap();
        tx.commit();
        let changes = doc.get_changes(&[]);
        let batch = Batch { header, relay: Automerge::new(), changes: changes.clone() };
        let v = batch.refused_as(&people.coordinator, ViolationKind::Schema);
        assert_eq!(v.change, Some(changes[0].hash()), "the first change is blamed: {v}");
        assert!(v.reason.contains("first change must write its header"), "{v}");
    }

    #[test]
    fn a_volunteer_claims_only_free_tasks_and_releases_only_their_own() {
        let mut fx = Fixture::default();
        let people = fx.people;
        let (round, task) = round_with_task(&mut fx);
        let (volunteer, volunteer2) = (people.volunteer, people.volunteer2);

        // Claiming a free task: fine for the claimer, not for anyone else under their name.
        let claim = made_by(&mut fx, volunteer, &Operation::ClaimTask { round, task }, round);
        claim.accepted(&volunteer);
        claim.accepted(&people.coordinator);
        let v = claim.forbidden(&volunteer2, Rule::VolunteersClaimOnlyFreeTasks);
        assert!(v.reason.contains(&volunteer.person.to_string()), "{v}");

        // Taking a task assigned to someone else.
        fx.ok(&people.coordinator, &Operation::AssignTask { round, task, volunteer: volunteer2.person });
        let take = made_by(
            &mut fx,
            people.coordinator,
            &Operation::AssignTask { round, task, volunteer: volunteer.person },
            round,
        );
        let v = take.forbidden(&volunteer, Rule::VolunteersClaimOnlyFreeTasks);
        assert!(v.reason.contains("which is assigned to"), "{v}");
        take.forbidden(&people.medic, Rule::VolunteersClaimOnlyFreeTasks);
        // The same take, written as if concurrent (overwriting nothing) by a modified phone
        // that had seen the task assigned: its author saw it taken, so it is a take.
        let mut concurrent = take.changes[0].decode();
        for op in &mut concurrent.operations {
            op.pred = Vec::new().into();
        }
        concurrent.hash = None;
        let forged = Batch { changes: vec![Change::from(concurrent)], ..take.clone() };
        let v = forged.refused_as(&volunteer, ViolationKind::Malformed);
        assert!(v.reason.contains("naming other operations than the ones it held"), "{v}");
        take.accepted(&people.coordinator);

        // Releasing: one's own task yes, someone else's no.
        let release = made_by(&mut fx, volunteer2, &Operation::UnassignTask { round, task }, round);
        release.accepted(&volunteer2);
        release.forbidden(&volunteer, Rule::VolunteersClaimOnlyFreeTasks);
    }

    #[test]
    fn two_volunteers_claiming_one_task_offline_both_get_through_and_the_conflict_stays() {
        let mut fx = Fixture::default();
        let people = fx.people;
        let (round, task) = round_with_task(&mut fx);
        let (volunteer, volunteer2) = (people.volunteer, people.volunteer2);
        let since = relay_doc(&fx.compound, round).get_heads();
        let mut a = phone(&fx, 10);
        let mut b = phone(&fx, 11);
        a.apply(&mut fx.env.env(), &volunteer, &Operation::ClaimTask { round, task }).unwrap();
        b.apply(&mut fx.env.env(), &volunteer2, &Operation::ClaimTask { round, task }).unwrap();

        let mut relay = relay_doc(&fx.compound, round);
        let header = *fx.compound.document(round).unwrap().header();
        let from_a = batch(&fx.compound, &a, round, &since).changes;
        let from_b = batch(&fx.compound, &b, round, &since).changes;
        check_and_apply(&mut relay, &header, &volunteer, from_a, RELAY_NOW).unwrap();
        check_and_apply(&mut relay, &header, &volunteer2, from_b, RELAY_NOW)
            .expect("a concurrent claim of a free task");
        let values = relay.get_all(entity(&relay, "tasks", &task.to_string()), "assignee").unwrap();
        assert_eq!(values.len(), 2, "both claims are kept for the coordinator to settle");
    }

    #[test]
    fn attempts_are_appended_in_ones_own_name_only() {
        let mut fx = Fixture::default();
        let people = fx.people;
        let (round, task) = round_with_task(&mut fx);
        let op =
            Operation::RecordAttempt { round, task, outcome: Outcome::Delivered, note: "放门口".into() };
        let batch = made_by(&mut fx, people.volunteer, &op, round);
        batch.accepted(&people.volunteer);
        for author in [people.volunteer2, people.medic, people.coordinator, people.admin] {
            let v = batch.forbidden(&author, Rule::AttemptsAreAppendOnly);
            assert!(v.reason.contains(&format!("in the name of {}", people.volunteer.person)), "{v}");
        }
    }

    /// A knock recorded for someone else (naming its knocker and time beside the recorder: a
    /// coordinator applying a volunteer's knock from the review inbox) is taken from
    /// coordinators only; a volunteer's modified phone may not credit anyone, nor date its own
    /// knock by another time.
    #[test]
    fn a_knock_is_recorded_for_someone_else_by_coordinators_only() {
        let mut fx = Fixture::default();
        let people = fx.people;
        let (round, task) = round_with_task(&mut fx);
        let knocked_at = doorstep_core::Timestamp::from_millis(RELAY_NOW.as_millis() - 3_600_000);
        let op = Operation::RecordAttemptFor {
            round,
            task,
            outcome: Outcome::Delivered,
            note: "放门口".into(),
            knocked_by: people.volunteer2.person,
            knocked_at,
        };
        let batch = made_by(&mut fx, people.coordinator, &op, round);
        batch.accepted(&people.coordinator);
        // The same change from a volunteer's phone that thinks it coordinates.
        let modified = Actor { person: people.volunteer.person, role: doorstep_core::Role::Coordinator };
        let batch = made_by(&mut fx, modified, &op, round);
        let v = batch.forbidden(&people.volunteer, Rule::AttemptsAreAppendOnly);
        assert!(v.reason.contains(&format!("for {}", people.volunteer2.person)), "{v}");
    }

    /// A task holds at most `limits::ATTEMPTS_PER_TASK` attempts: each new one is checked against
    /// the list as its author saw it, and a batch of 20,000 knocks on one task held a round for
    /// minutes. Up to the limit is taken.
    #[test]
    fn a_task_takes_no_more_attempts_by_one_person_than_the_limit() {
        let mut fx = Fixture::default();
        let people = fx.people;
        let (round, task) = round_with_task(&mut fx);
        let mut phone = phone(&fx, 9);
        let since = relay_doc(&fx.compound, round).get_heads();
        let knock =
            Operation::RecordAttempt { round, task, outcome: Outcome::NobodyHome, note: String::new() };
        for _ in 0..limits::ATTEMPTS_BY_ONE_PERSON {
            fx.env.advance(1000);
            phone.apply(&mut fx.env.env(), &people.volunteer2, &knock).unwrap();
        }
        let full = batch(&fx.compound, &phone, round, &since);
        let relay = full.accepted(&people.volunteer2);
        // The phone refuses the next, in words; the relay refuses a crafted one.
        fx.env.advance(1000);
        let refused = phone.apply(&mut fx.env.env(), &people.volunteer2, &knock).unwrap_err();
        assert!(refused.to_string().contains("you have recorded 200 attempts on this task"), "{refused}");
        let crafted_knock = |relay: &Automerge, by: PersonId| {
            let mut crafted = relay.clone().with_actor(ActorId::from([0xD6; 16]));
            let mut tx = crafted.transaction();
            let list = child(&tx, &entity(&tx, "tasks", &task.to_string()), "attempts");
            let at = tx.length(&list);
            let attempt = tx.insert_object(&list, at, ObjType::Map).unwrap();
            tx.put(&attempt, "by", by.to_string()).unwrap();
            tx.put(&attempt, "at", RELAY_NOW.as_millis()).unwrap();
            tx.put(&attempt, "outcome", "delivered").unwrap();
            tx.put(&attempt, "note", "").unwrap();
            tx.commit();
            Batch {
                header: full.header,
                changes: crafted.get_changes(&relay.get_heads()),
                relay: relay.clone(),
            }
        };
        let v = crafted_knock(&relay, people.volunteer2.person)
            .refused_as(&people.volunteer2, ViolationKind::TooLarge);
        assert!(v.reason.contains("at most 200 by one person are accepted on one task"), "{v}");
        // Another volunteer's 200 knocks do not lock the task's own volunteer out: their
        // delivery is taken, from the phone as from the wire.
        crafted_knock(&relay, people.volunteer.person).accepted(&people.volunteer);
        phone
            .apply(
                &mut fx.env.env(),
                &people.volunteer,
                &Operation::RecordAttempt { round, task, outcome: Outcome::Delivered, note: String::new() },
            )
            .unwrap();
    }

    #[test]
    fn attempts_are_never_edited_or_removed_even_by_coordinators() {
        let mut fx = Fixture::default();
        let people = fx.people;
        let (round, task) = round_with_task(&mut fx);
        let volunteer = people.volunteer;
        fx.ok(
            &volunteer,
            &Operation::RecordAttempt { round, task, outcome: Outcome::NobodyHome, note: String::new() },
        );
        let key = task.to_string();

        let k = key.clone();
        let rewrite = hostile(&fx, round, move |tx| {
            let list = child(tx, &entity(tx, "tasks", &k), "attempts");
            let attempt = child_at(tx, &list, 0);
            tx.put(&attempt, "outcome", "delivered").unwrap();
        });
        let k = key.clone();
        let unset = hostile(&fx, round, move |tx| {
            let list = child(tx, &entity(tx, "tasks", &k), "attempts");
            let attempt = child_at(tx, &list, 0);
            tx.delete(&attempt, "note").unwrap();
        });
        let k = key.clone();
        let remove = hostile(&fx, round, move |tx| {
            let list = child(tx, &entity(tx, "tasks", &k), "attempts");
            tx.delete(&list, 0).unwrap();
        });
        let k = key.clone();
        let replace_list = hostile(&fx, round, move |tx| {
            let obj = entity(tx, "tasks", &k);
            tx.put_object(&obj, "attempts", ObjType::List).unwrap();
        });
        let k = key.clone();
        let delete_task = hostile(&fx, round, move |tx| {
            let map = child(tx, &ROOT, "tasks");
            tx.delete(&map, k.as_str()).unwrap();
        });
        // Written into, whatever the write reads as: a field no reader knows, an object.
        let k = key.clone();
        let unknown_field = hostile(&fx, round, move |tx| {
            let list = child(tx, &entity(tx, "tasks", &k), "attempts");
            let attempt = child_at(tx, &list, 0);
            tx.put(&attempt, "zzz", "forged").unwrap();
        });
        let k = key.clone();
        let nested = hostile(&fx, round, move |tx| {
            let list = child(tx, &entity(tx, "tasks", &k), "attempts");
            let attempt = child_at(tx, &list, 0);
            let evidence = tx.put_object(&attempt, "evidence", ObjType::Map).unwrap();
            tx.put(&evidence, "outcome", "refused").unwrap();
        });
        for (what, batch) in [
            ("edit", &rewrite),
            ("edit", &unset),
            ("remove", &remove),
            ("edit", &unknown_field),
            ("edit", &nested),
        ] {
            for author in [volunteer, people.coordinator, people.admin] {
                let v = batch.forbidden(&author, Rule::AttemptsAreAppendOnly);
                assert!(v.reason.contains(what), "{v}");
            }
        }
        for author in [volunteer, people.coordinator, people.admin] {
            let v = replace_list.forbidden(&author, Rule::CreatedObjectsAreKept);
            assert!(v.reason.contains("\"attempts\""), "{v}");
        }
        delete_task.forbidden(&people.coordinator, Rule::AttemptsAreAppendOnly);
        delete_task.forbidden(&volunteer, Rule::RoundsArePlannedByCoordinators);
    }

    fn child_at(doc: &impl ReadDoc, list: &ObjId, index: usize) -> ObjId {
        doc.get(list, index).unwrap().unwrap().1
    }

    #[test]
    fn a_hand_made_attempt_in_someone_elses_name_is_refused() {
        let mut fx = Fixture::default();
        let people = fx.people;
        let (round, task) = round_with_task(&mut fx);
        let someone_else = people.volunteer2.person.to_string();
        let k = task.to_string();
        let batch = hostile(&fx, round, move |tx| {
            let list = child(tx, &entity(tx, "tasks", &k), "attempts");
            let attempt = tx.insert_object(&list, 0, ObjType::Map).unwrap();
            tx.put(&attempt, "by", someone_else).unwrap();
            tx.put(&attempt, "at", 1_795_392_000_000i64).unwrap();
            tx.put(&attempt, "outcome", "delivered").unwrap();
            tx.put(&attempt, "note", "").unwrap();
        });
        batch.forbidden(&people.volunteer, Rule::AttemptsAreAppendOnly);
        batch.accepted(&people.volunteer2);

        // An attempt whose `by` holds the author and, beside it, someone else (two values at
        // once, as two concurrent writes would leave): written by hand.
        let (me, k) = (people.volunteer.person.to_string(), task.to_string());
        let someone_else = people.volunteer2.person.to_string();
        let two_names = hostile_changes(
            &fx,
            round,
            vec![Box::new(move |tx: &mut Transaction<'_>| {
                let list = child(tx, &entity(tx, "tasks", &k), "attempts");
                let attempt = tx.insert_object(&list, 0, ObjType::Map).unwrap();
                tx.put(&attempt, "by", me).unwrap();
                tx.put(&attempt, "at", 1_795_392_000_000i64).unwrap();
                tx.put(&attempt, "outcome", "delivered").unwrap();
                tx.put(&attempt, "note", "").unwrap();
            })],
        );
        let mut changes = two_names.changes.clone();
        let mut expanded = changes[0].decode();
        // A second `by` beside the first, overwriting nothing: a concurrent value in one change.
        let by = expanded
            .operations
            .iter()
            .position(|op| matches!(&op.key, automerge::legacy::Key::Map(k) if k == "by"))
            .unwrap();
        let mut second = expanded.operations[by].clone();
        second.action = automerge::legacy::OpType::Put(ScalarValue::Str(someone_else.into()));
        expanded.operations.push(second);
        expanded.hash = None;
        changes[0] = Change::from(expanded);
        let v = Batch { changes, ..two_names }.rejected(&people.volunteer);
        assert!(v.reason.contains("naming other operations than the ones it held"), "{v}");
    }

    #[test]
    fn a_closed_round_takes_late_field_facts_and_a_coordinator_reopening_it_only() {
        let mut fx = Fixture::default();
        let people = fx.people;
        let (round, task) = round_with_task(&mut fx);
        let other = fx.task_at(round, "2-1-302");
        let since = relay_doc(&fx.compound, round).get_heads();
        // The volunteer records an attempt offline, while the coordinator closes the round.
        let mut offline = phone(&fx, 12);
        let op = Operation::RecordAttempt { round, task, outcome: Outcome::Delivered, note: String::new() };
        offline.apply(&mut fx.env.env(), &people.volunteer, &op).unwrap();
        fx.ok(&people.coordinator, &Operation::CloseRound { round });

        // Made before the close by someone who could not know: kept, as a late field fact.
        let late = batch(&fx.compound, &offline, round, &since);
        late.accepted(&people.volunteer);

        // Made (offline, not knowing) after the close: refused.
        let mut after_close = after_close_copy(&fx, round, &since, 13);
        // Dated within what two honest clocks can disagree by (a phone a few minutes fast): kept.
        let mut clock_fast = after_close_copy(&fx, round, &since, 14);
        fx.env.advance(doorstep_core::rulebook::state::LATE_ATTEMPT_GRACE_MS);
        let op =
            Operation::RecordAttempt { round, task: other, outcome: Outcome::Delivered, note: String::new() };
        clock_fast.apply(&mut fx.env.env(), &people.volunteer2, &op).unwrap();
        batch(&fx.compound, &clock_fast, round, &since).accepted(&people.volunteer2);
        fx.env.advance(60_000);
        let op = Operation::RecordAttempt {
            round,
            task: other,
            outcome: Outcome::NobodyHome,
            note: String::new(),
        };
        after_close.apply(&mut fx.env.env(), &people.volunteer2, &op).unwrap();
        let too_late = batch(&fx.compound, &after_close, round, &since);
        let v = too_late.forbidden(&people.volunteer2, Rule::ClosedRoundsAreFinal);
        assert!(v.reason.contains("after the close"), "{v}");

        // Made by a phone that had seen the close, even dated before it: refused.
        let k = task.to_string();
        let (me, before_close) = (people.volunteer.person.to_string(), MORNING.as_millis());
        let forged = hostile(&fx, round, move |tx| {
            let list = child(tx, &entity(tx, "tasks", &k), "attempts");
            let end = tx.length(&list);
            let attempt = tx.insert_object(&list, end, ObjType::Map).unwrap();
            tx.put(&attempt, "by", me.as_str()).unwrap();
            tx.put(&attempt, "at", before_close).unwrap();
            tx.put(&attempt, "outcome", "delivered").unwrap();
            tx.put(&attempt, "note", "").unwrap();
        });
        let v = forged.forbidden(&people.volunteer, Rule::ClosedRoundsAreFinal);
        assert!(v.reason.contains("蔬菜包 第1轮"), "{v}");

        let retitle = hostile(&fx, round, |tx| tx.put(ROOT, "title", "改名").unwrap());
        let v = retitle.forbidden(&people.coordinator, Rule::ClosedRoundsAreFinal);
        assert!(v.reason.contains("reopen it first"), "{v}");

        let reopen = hostile(&fx, round, |tx| tx.put(ROOT, "status", "open").unwrap());
        reopen.accepted(&people.coordinator);
        reopen.accepted(&people.admin);
        reopen.forbidden(&people.volunteer, Rule::ClosedRoundsAreFinal);
        reopen.forbidden(&people.medic, Rule::ClosedRoundsAreFinal);
    }

    /// A review is a coordinator's record beside a conflict, and closing a round settles no
    /// conflict: a closed round takes a review made by a coordinator who saw it closed, as the
    /// phone's check does (`state::require_open_round`), but not a fact written with it.
    #[test]
    fn a_closed_round_takes_a_coordinators_review_and_no_fact_beside_it() {
        let mut fx = Fixture::default();
        let people = fx.people;
        let (round, task) = round_with_task(&mut fx);
        let delivered =
            Operation::RecordAttempt { round, task, outcome: Outcome::Delivered, note: String::new() };
        fx.ok(&people.volunteer, &delivered);
        fx.ok(&people.volunteer2, &delivered);
        fx.ok(&people.coordinator, &Operation::CloseRound { round });

        let review = Operation::ReviewConflict {
            conflict: doorstep_core::schema::review::ConflictSubject::DoubleDelivery { round, task },
            note: "已核实".into(),
        };
        let reviewed = made_by(&mut fx, people.coordinator, &review, round);
        let doc = reviewed.accepted(&people.coordinator);
        assert_eq!(doorstep_core::document::reviews::reviews(round, &doc).len(), 1);
        assert_eq!(doorstep_core::document::round::info(round, &doc).unwrap().status.as_str(), "closed");
        reviewed.forbidden(&people.volunteer, Rule::ConflictsAreReviewedByCoordinators);

        // The review's change with a new title in it: a fact, refused as the title alone is.
        let mut changes = reviewed.changes.clone();
        let mut doc = relay_doc(&fx.compound, round).with_actor(ActorId::from([0xD7; 16]));
        doc.apply_changes(changes.clone()).unwrap();
        let mut tx = doc.transaction();
        tx.put(ROOT, "title", "改名").unwrap();
        let reviews = child(&tx, &ROOT, "reviews");
        tx.put(&reviews, "junk", "x").unwrap();
        tx.commit();
        changes.push(doc.get_last_local_change().unwrap().clone());
        let v = Batch { changes, ..reviewed }.forbidden(&people.coordinator, Rule::ClosedRoundsAreFinal);
        assert!(v.reason.contains("reopen it first"), "{v}");
    }
}

/// Requests.
mod validate_requests {
    use super::*;

    #[test]
    fn anyone_adds_requests_in_their_own_name() {
        let mut fx = Fixture::default();
        let people = fx.people;
        let requests = id_of(&fx, DocKind::Requests);
        let op = Operation::AddRequest {
            household: fx.household("2-1-302"),
            channel: Channel::Door,
            category: Category::Groceries,
            text: "需要米和油".into(),
            urgency: Urgency::Urgent,
        };
        for maker in people.each_role() {
            let batch = made_by(&mut fx, maker, &op, requests);
            batch.accepted(&maker);
            let other =
                if maker.person == people.volunteer2.person { people.volunteer } else { people.volunteer2 };
            batch.forbidden(&other, Rule::ActorsBelongToTheirPerson);
        }
    }

    #[test]
    fn a_volunteer_may_not_add_a_request_already_triaged() {
        let fx = Fixture::default();
        let people = fx.people;
        let requests = id_of(&fx, DocKind::Requests);
        let by = people.volunteer.person.to_string();
        let household = fx.household("2-1-101").to_string();
        let batch = hostile(&fx, requests, move |tx| {
            // The collection exists from the document's creation; add into it.
            let (_, map) = tx.get(ROOT, "requests").unwrap().unwrap();
            let obj = tx.put_object(&map, uuid::Uuid::from_u128(0xABC).to_string(), ObjType::Map).unwrap();
            tx.put(&obj, "household", household).unwrap();
            tx.put(&obj, "channel", "phone").unwrap();
            tx.put(&obj, "category", "other").unwrap();
            let text = tx.put_object(&obj, "text", ObjType::Text).unwrap();
            tx.splice_text(&text, 0, 0, "要求优先").unwrap();
            tx.put(&obj, "urgency", "critical").unwrap();
            tx.put(&obj, "status", "accepted").unwrap();
            tx.put_object(&obj, "tasks", ObjType::Map).unwrap();
            tx.put(&obj, "by", by).unwrap();
            tx.put(&obj, "at", 1_795_392_000_000i64).unwrap();
        });
        let v = batch.forbidden(&people.volunteer, Rule::RequestsAreTriagedByCoordinators);
        assert!(v.reason.contains("\"new\""), "{v}");
    }

    #[test]
    fn only_coordinators_triage_requests() {
        let mut fx = Fixture::default();
        let people = fx.people;
        let requests = id_of(&fx, DocKind::Requests);
        let request = add_request(&mut fx, people.volunteer);
        let (round, task) = round_with_task(&mut fx);
        let ops = [
            Operation::TriageRequest {
                request,
                status: RequestStatus::Accepted,
                urgency: Some(Urgency::Critical),
            },
            Operation::LinkRequest { request, round, task },
        ];
        for op in &ops {
            let batch = made_by(&mut fx, people.coordinator, op, requests);
            for author in [people.volunteer, people.medic] {
                batch.forbidden(&author, Rule::RequestsAreTriagedByCoordinators);
            }
            for author in [people.coordinator, people.admin] {
                batch.accepted(&author);
            }
        }
    }

    #[test]
    fn a_volunteer_edits_the_text_of_their_own_request_only() {
        let mut fx = Fixture::default();
        let people = fx.people;
        let requests = id_of(&fx, DocKind::Requests);
        let request = add_request(&mut fx, people.volunteer);
        let k = request.to_string();
        let batch = hostile(&fx, requests, move |tx| {
            let text = child(tx, &entity(tx, "requests", &k), "text");
            tx.update_text(&text, "降压药三盒").unwrap();
        });
        batch.accepted(&people.volunteer);
        batch.accepted(&people.coordinator);
        let v = batch.forbidden(&people.volunteer2, Rule::RequestsAreTriagedByCoordinators);
        assert!(v.reason.contains("their own requests only"), "{v}");

        let k = request.to_string();
        let delete = hostile(&fx, requests, move |tx| {
            let map = child(tx, &ROOT, "requests");
            tx.delete(&map, k.as_str()).unwrap();
        });
        delete.forbidden(&people.volunteer, Rule::RequestsAreTriagedByCoordinators);
        delete.accepted(&people.coordinator);
    }

    /// Once a coordinator has triaged a request, its author may no longer rewrite it: a new text
    /// would stand under their decision ("需要降压药1盒" done, then "需要胰岛素10盒"). A request's
    /// text is never emptied, by anyone.
    #[test]
    fn a_triaged_request_is_not_rewritten_by_its_author_and_no_text_is_emptied() {
        let mut fx = Fixture::default();
        let people = fx.people;
        let requests = id_of(&fx, DocKind::Requests);
        let request = add_request(&mut fx, people.volunteer);
        let k = request.to_string();
        let empty = hostile(&fx, requests, move |tx| {
            let text = child(tx, &entity(tx, "requests", &k), "text");
            tx.update_text(&text, "  ").unwrap();
        });
        for author in [people.volunteer, people.coordinator] {
            let v = empty.refused_as(&author, ViolationKind::Schema);
            assert!(v.reason.contains("must not be empty"), "{v}");
        }
        let triage = Operation::TriageRequest { request, status: RequestStatus::Done, urgency: None };
        fx.ok(&people.coordinator, &triage);
        let k = request.to_string();
        let rewrite = hostile(&fx, requests, move |tx| {
            let text = child(tx, &entity(tx, "requests", &k), "text");
            tx.update_text(&text, "需要胰岛素10盒，已答应今天送到").unwrap();
        });
        let v = rewrite.forbidden(&people.volunteer, Rule::RequestsAreTriagedByCoordinators);
        assert!(v.reason.contains("until a coordinator has handled them"), "{v}");
        rewrite.accepted(&people.coordinator);
    }
}

/// Care ledger.
mod validate_care {
    use super::*;

    #[test]
    fn only_coordinators_admins_and_medics_write_the_care_ledger() {
        let mut fx = Fixture::default();
        let people = fx.people;
        let care = id_of(&fx, DocKind::Care);
        let op = Operation::AddCareEntry { draft: care_draft(&fx) };
        let batch = made_by(&mut fx, people.medic, &op, care);
        for author in [people.medic, people.coordinator, people.admin] {
            batch.accepted(&author);
        }
        let v = batch.forbidden(&people.volunteer, Rule::CareLedgerIsForCoordinatorsAndMedics);
        assert!(v.reason.starts_with("a volunteer may not write the care ledger"), "{v}");
    }
}

/// Headers and creation.
mod validate_headers {
    use super::*;

    #[test]
    fn headers_are_fixed_for_everyone() {
        let fx = Fixture::default();
        let people = fx.people;
        let roster = id_of(&fx, DocKind::Roster);
        let other = uuid::Uuid::from_u128(0xBAD).to_string();
        for field in ["compound", "id", "kind"] {
            let value = other.clone();
            let batch = hostile(&fx, roster, move |tx| tx.put(ROOT, field, value).unwrap());
            for author in people.each_role() {
                let v = batch.forbidden(&author, Rule::HeadersAreFixed);
                assert!(v.reason.contains(field), "{v}");
            }
        }
        let newer = hostile(&fx, roster, |tx| tx.put(ROOT, "schema", 99u64).unwrap());
        newer.forbidden(&people.admin, Rule::HeadersAreFixed);
    }

    #[test]
    fn only_admins_create_a_compounds_documents() {
        let mut fx = Fixture::default();
        let people = fx.people;
        let admins_phone = Compound::create(&mut fx.env.env(), &people.admin, device(13), "新社区")
            .expect("an admin creates");
        let relay = Compound::new(admins_phone.id(), device(1));
        for doc in admins_phone.documents() {
            let batch = batch(&relay, &admins_phone, doc.id(), &[]);
            batch.accepted(&people.admin);
            for author in [people.coordinator, people.medic, people.volunteer] {
                batch.forbidden(&author, Rule::CompoundsAreCreatedByAdmins);
            }
        }
    }
}

/// Schema and size.
mod validate_schema {
    use super::*;

    #[test]
    fn values_outside_the_schema_are_refused_naming_the_field() {
        let mut fx = Fixture::default();
        let people = fx.people;
        let (round, task) = round_with_task(&mut fx);
        let request = add_request(&mut fx, people.volunteer);
        fx.ok(&people.medic, &Operation::AddCareEntry { draft: care_draft(&fx) });
        let entry = fx.compound.care_entries()[0].id.to_string();
        let household = fx.household("2-1-101").to_string();
        let (roster, requests, care) =
            (id_of(&fx, DocKind::Roster), id_of(&fx, DocKind::Requests), id_of(&fx, DocKind::Care));

        let h = household.clone();
        let banana_status = hostile(&fx, roster, move |tx| {
            tx.put(entity(tx, "households", &h), "status", "banana").unwrap();
        });
        let v = banana_status.refused_as(&people.coordinator, ViolationKind::Schema);
        assert!(v.reason.contains("\"status\"") && v.reason.contains("banana"), "{v}");
        // A volunteer is told first that the field is not theirs to write.
        banana_status.forbidden(&people.volunteer, Rule::RosterIsEditedByCoordinators);

        let h = household.clone();
        let missing_field = hostile(&fx, roster, move |tx| {
            tx.delete(entity(tx, "households", &h), "flat").unwrap();
        });
        let v = missing_field.refused_as(&people.coordinator, ViolationKind::Schema);
        assert!(v.reason.contains("\"flat\" is missing"), "{v}");

        let h = household.clone();
        let unknown_field = hostile(&fx, roster, move |tx| {
            tx.put(entity(tx, "households", &h), "secret", "x").unwrap();
        });
        let v = unknown_field.refused_as(&people.coordinator, ViolationKind::Schema);
        assert!(v.reason.contains("\"secret\" is not part of a household"), "{v}");

        let h = household.clone();
        let bad_tag = hostile(&fx, roster, move |tx| {
            let needs = child(tx, &entity(tx, "households", &h), "needs");
            tx.put(&needs, "banana", true).unwrap();
        });
        let v = bad_tag.refused_as(&people.coordinator, ViolationKind::Schema);
        assert!(v.reason.contains("banana"), "{v}");

        let h = household.clone();
        let notes_as_string = hostile(&fx, roster, move |tx| {
            tx.put(entity(tx, "households", &h), "notes", "plain").unwrap();
        });
        let v = notes_as_string.forbidden(&people.volunteer, Rule::CreatedObjectsAreKept);
        assert!(v.reason.contains("\"notes\""), "{v}");

        let bad_key = hostile(&fx, roster, |tx| {
            let map = child(tx, &ROOT, "households");
            tx.put_object(&map, "not-a-uuid", ObjType::Map).unwrap();
        });
        let v = bad_key.refused_as(&people.coordinator, ViolationKind::Schema);
        assert!(v.reason.contains("not-a-uuid"), "{v}");

        let round_status = hostile(&fx, round, |tx| tx.put(ROOT, "status", "banana").unwrap());
        let v = round_status.refused_as(&people.coordinator, ViolationKind::Schema);
        assert!(v.reason.contains("\"status\""), "{v}");

        let k = task.to_string();
        let task_kind =
            hostile(&fx, round, move |tx| tx.put(entity(tx, "tasks", &k), "kind", "banana").unwrap());
        let v = task_kind.refused_as(&people.coordinator, ViolationKind::Schema);
        assert!(v.reason.contains(&format!("task {task}")) && v.reason.contains("\"kind\""), "{v}");

        let k = request.to_string();
        let urgency = hostile(&fx, requests, move |tx| {
            tx.put(entity(tx, "requests", &k), "urgency", "banana").unwrap();
        });
        let v = urgency.refused_as(&people.coordinator, ViolationKind::Schema);
        assert!(v.reason.contains("\"urgency\""), "{v}");

        let condition = hostile(&fx, care, move |tx| {
            tx.put(entity(tx, "entries", &entry), "condition", ScalarValue::Int(3)).unwrap();
        });
        let v = condition.refused_as(&people.medic, ViolationKind::Schema);
        assert!(v.reason.contains("\"condition\" is not a string"), "{v}");
    }

    /// A value of the wrong shape in a field the typed readers read leniently (an object where
    /// the table says scalar, a number where it says string, a string where it says map) is
    /// refused for every field kind, and so is one that loses to a concurrent value: the batch's
    /// own values are judged, not only the one a reader sees.
    #[test]
    fn every_value_a_batch_writes_has_the_shape_of_its_fields_kind() {
        let mut fx = Fixture::default();
        let people = fx.people;
        let (round, task) = round_with_task(&mut fx);
        let roster = id_of(&fx, DocKind::Roster);
        let household = fx.household("2-1-101").to_string();

        let h = household.clone();
        let people_as_text = hostile(&fx, roster, move |tx| {
            tx.put_object(entity(tx, "households", &h), "people", ObjType::Text).unwrap();
        });
        let v = people_as_text.refused_as(&people.coordinator, ViolationKind::Schema);
        assert!(v.reason.contains("\"people\" holds an Automerge text; it must hold a whole number"), "{v}");

        let h = household.clone();
        let head_as_number = hostile(&fx, roster, move |tx| {
            tx.put(entity(tx, "households", &h), "head", 42_i64).unwrap();
        });
        let v = head_as_number.refused_as(&people.coordinator, ViolationKind::Schema);
        assert!(v.reason.contains("\"head\" holds an integer; it must hold a string"), "{v}");

        let status_as_map =
            hostile(&fx, round, |tx| drop(tx.put_object(ROOT, "status", ObjType::Map).unwrap()));
        let v = status_as_map.refused_as(&people.coordinator, ViolationKind::Schema);
        assert!(v.reason.contains("\"status\" holds a map"), "{v}");

        let k = task.to_string();
        let cancelled_as_word =
            hostile(&fx, round, move |tx| tx.put(entity(tx, "tasks", &k), "cancelled", "yes").unwrap());
        let v = cancelled_as_word.refused_as(&people.coordinator, ViolationKind::Schema);
        assert!(v.reason.contains(&format!("task {task}")) && v.reason.contains("must hold a map"), "{v}");

        // Two concurrent changes in one batch: the higher actor's count wins and a reader sees a
        // good household; the text that lost is still refused.
        let relay = relay_doc(&fx.compound, roster);
        let since = relay.get_heads();
        let mut losing = relay.clone().with_actor(ActorId::from([0x01; 16]));
        let mut winning = relay.clone().with_actor(ActorId::from([0xF1; 16]));
        let obj = entity(&relay, "households", &household);
        let mut tx = losing.transaction();
        tx.put_object(&obj, "people", ObjType::Text).unwrap();
        tx.commit();
        let mut tx = winning.transaction();
        tx.put(&obj, "people", 3_i64).unwrap();
        tx.commit();
        let mut changes = losing.get_changes(&since);
        changes.extend(winning.get_changes(&since));
        let header = *fx.compound.document(roster).unwrap().header();
        let concurrent = Batch { header, relay, changes };
        let v = concurrent.refused_as(&people.coordinator, ViolationKind::Schema);
        assert!(v.reason.contains("\"people\" holds an Automerge text"), "{v}");
        let mut winner_only = relay_doc(&fx.compound, roster);
        winner_only.merge(&mut winning).unwrap();
        let read = doorstep_core::document::roster::household(&winner_only, household.parse().unwrap());
        assert_eq!(read.unwrap().people, Some(3), "the winning value alone reads as a good household");
    }

    #[test]
    fn texts_counts_and_changes_beyond_the_limits_are_too_large() {
        let fx = Fixture::default();
        let people = fx.people;
        let roster = id_of(&fx, DocKind::Roster);
        let household = fx.household("2-1-101").to_string();

        let h = household.clone();
        let huge_notes = hostile(&fx, roster, move |tx| {
            let notes = child(tx, &entity(tx, "households", &h), "notes");
            tx.update_text(&notes, "很".repeat(limits::LONG_TEXT + 1)).unwrap();
        });
        let v = huge_notes.refused_as(&people.volunteer, ViolationKind::TooLarge);
        assert!(v.reason.contains("\"notes\" is 4001 characters; at most 4000"), "{v}");

        let h = household.clone();
        let long_head = hostile(&fx, roster, move |tx| {
            tx.put(entity(tx, "households", &h), "head", "王".repeat(limits::SHORT_TEXT + 1)).unwrap();
        });
        long_head.refused_as(&people.coordinator, ViolationKind::TooLarge);

        let h = household.clone();
        let crowd = hostile(&fx, roster, move |tx| {
            tx.put(entity(tx, "households", &h), "people", 5000i64).unwrap();
        });
        let v = crowd.refused_as(&people.coordinator, ViolationKind::TooLarge);
        assert!(v.reason.contains("\"people\" is 5000"), "{v}");

        // A floor past the rulebook's (one the roster's import would refuse on re-import), and a
        // floor that is not a number, from a coordinator's modified phone; one within it is taken.
        for (floor, refused) in
            [(201i64, true), (-10, true), (i64::from(i32::MAX) + 1, true), (200, false), (-9, false)]
        {
            let h = household.clone();
            let high = hostile(&fx, roster, move |tx| {
                tx.put(entity(tx, "households", &h), "floor", floor).unwrap();
            });
            if refused {
                let v = high.refused_as(&people.coordinator, ViolationKind::Schema);
                assert!(v.reason.contains("is not a floor between -9 and 200"), "{v}");
            } else {
                high.accepted(&people.coordinator);
            }
        }
        let h = household.clone();
        let text_floor = hostile(&fx, roster, move |tx| {
            tx.put(entity(tx, "households", &h), "floor", "七").unwrap();
        });
        text_floor.refused_as(&people.coordinator, ViolationKind::Schema);

        let h = household.clone();
        let huge_change = hostile(&fx, roster, move |tx| {
            tx.put(entity(tx, "households", &h), "phone", "1".repeat(limits::CHANGE_BYTES + 10)).unwrap();
        });
        let v = huge_change.refused_as(&people.admin, ViolationKind::TooLarge);
        assert_eq!(v.change, Some(huge_change.changes[0].hash()));
        assert!(v.reason.contains("bytes"), "{v}");
    }
}

/// Batches: blame, retries, missing dependencies.
mod validate_batches {
    use super::*;

    #[test]
    fn the_change_that_breaks_a_rule_is_named() {
        let fx = Fixture::default();
        let people = fx.people;
        let roster = id_of(&fx, DocKind::Roster);
        let h = fx.household("2-1-101").to_string();
        let (h1, h2, h3) = (h.clone(), h.clone(), h);
        let batch = hostile_changes(
            &fx,
            roster,
            vec![
                Box::new(move |tx: &mut Transaction<'_>| {
                    let notes = child(tx, &entity(tx, "households", &h1), "notes");
                    tx.update_text(&notes, "第一次").unwrap();
                }),
                Box::new(move |tx: &mut Transaction<'_>| {
                    tx.put(entity(tx, "households", &h2), "status", "confirmed").unwrap();
                }),
                Box::new(move |tx: &mut Transaction<'_>| {
                    let notes = child(tx, &entity(tx, "households", &h3), "notes");
                    tx.update_text(&notes, "第二次").unwrap();
                }),
            ],
        );
        assert_eq!(batch.changes.len(), 3);
        let v = batch.forbidden(&people.volunteer, Rule::RosterIsEditedByCoordinators);
        assert_eq!(v.change, Some(batch.changes[1].hash()), "the status change is to blame: {v}");
        assert!(
            v.to_string().contains(&batch.changes[1].hash().to_string()),
            "the hash is shown in hex: {v}"
        );
        // Out of time to look for it (the relay's budget for the document), the batch is refused
        // with no change named, and stays unapplied.
        let mut doc = batch.relay.clone();
        let (changes, header) = (batch.changes.clone(), batch.header);
        let v = check_and_apply_within(&mut doc, &header, &people.volunteer, changes, RELAY_NOW, &|| false)
            .expect_err("still refused");
        assert_eq!(
            (v.kind, v.change),
            (ViolationKind::Forbidden(Rule::RosterIsEditedByCoordinators), None),
            "{v}"
        );
        assert_eq!(doc.get_heads(), batch.relay.get_heads());
        batch.accepted(&people.coordinator);
    }

    #[test]
    fn a_retried_batch_is_a_harmless_no_op() {
        let mut fx = Fixture::default();
        let people = fx.people;
        let roster = id_of(&fx, DocKind::Roster);
        let op = Operation::EditNotes { household: fx.household("2-2-101"), notes: "三楼右手".into() };
        let batch = made_by(&mut fx, people.volunteer, &op, roster);
        let mut doc = batch.relay.clone();
        let first =
            check_and_apply(&mut doc, &batch.header, &people.volunteer, batch.changes.clone(), RELAY_NOW)
                .unwrap();
        assert_eq!(first.len(), batch.changes.len());
        let (heads, bytes) = (doc.get_heads(), doc.save());
        let mut twice = batch.changes.clone();
        twice.extend(batch.changes.clone());
        let again = check_and_apply(&mut doc, &batch.header, &people.volunteer, twice, RELAY_NOW).unwrap();
        assert!(again.is_empty(), "nothing new to apply");
        assert_eq!((doc.get_heads(), doc.save()), (heads, bytes));
    }

    #[test]
    fn a_change_whose_dependencies_are_missing_waits() {
        let mut fx = Fixture::default();
        let people = fx.people;
        let roster = id_of(&fx, DocKind::Roster);
        let mut phone = phone(&fx, 9);
        let since = relay_doc(&fx.compound, roster).get_heads();
        let household = fx.household("2-2-101");
        for notes in ["一", "二"] {
            let op = Operation::EditNotes { household, notes: notes.into() };
            phone.apply(&mut fx.env.env(), &people.volunteer, &op).unwrap();
        }
        let mut batch = batch(&fx.compound, &phone, roster, &since);
        assert_eq!(batch.changes.len(), 2);
        let second = batch.changes.remove(1);
        batch.changes = vec![second.clone()];
        let v = batch.refused_as(&people.volunteer, ViolationKind::MissingDeps);
        assert_eq!(v.change, Some(second.hash()));
        assert!(v.reason.contains("neither the relay nor this batch"), "{v}");
    }
}

/// Changes no Automerge API would make, crafted by re-encoding decoded changes: Automerge 0.12
/// panics on some of them, and the relay must still answer with a violation.
mod validate_crafted {
    use super::*;

    /// Two changes by a hostile device: one creates a map at the root, the next writes into it.
    fn two_changes(fx: &Fixture, roster: DocumentId) -> (Vec<Change>, Vec<ChangeHash>) {
        let relay = relay_doc(&fx.compound, roster);
        let since = relay.get_heads();
        let mut doc = relay.with_actor(ActorId::from([0xD6; 16]));
        let mut tx = doc.transaction();
        let map = tx.put_object(ROOT, "name_history", ObjType::Map).unwrap();
        tx.commit();
        let mut tx = doc.transaction();
        tx.put(&map, "k", "v").unwrap();
        tx.commit();
        (doc.get_changes(&since), since)
    }

    /// A batch of `changes` for the fixture's roster.
    fn roster_batch(fx: &Fixture, changes: Vec<Change>) -> Batch {
        let roster = id_of(fx, DocKind::Roster);
        let header = *fx.compound.document(roster).unwrap().header();
        Batch { header, relay: relay_doc(&fx.compound, roster), changes }
    }

    #[test]
    fn a_new_documents_header_is_read_without_trusting_its_changes() {
        let fx = Fixture::default();
        let roster = id_of(&fx, DocKind::Roster);
        let all = relay_doc(&fx.compound, roster).get_changes(&[]);
        let header = doorstep_core::validate::new_document_header(roster, &all).unwrap();
        assert_eq!(header, *fx.compound.document(roster).unwrap().header());

        // A root change that writes into an object no change creates: Automerge panics on it.
        let (changes, _) = two_changes(&fx, roster);
        let mut expanded = changes[1].decode();
        expanded.deps = Vec::new();
        expanded.hash = None;
        let crafted = Change::from(expanded);
        let v =
            doorstep_core::validate::new_document_header(roster, std::slice::from_ref(&crafted)).unwrap_err();
        assert_eq!((v.kind, v.change), (ViolationKind::Malformed, Some(crafted.hash())), "{v}");

        let v = doorstep_core::validate::new_document_header(roster, &all[1..]).unwrap_err();
        assert_eq!(v.kind, ViolationKind::Schema, "{v}");
        assert!(v.reason.contains("start from 0"), "{v}");
    }

    #[test]
    fn a_write_into_an_object_that_does_not_exist_is_malformed_not_a_panic() {
        let fx = Fixture::default();
        let people = fx.people;
        let (changes, since) = two_changes(&fx, id_of(&fx, DocKind::Roster));
        // The second change, claiming to depend only on what the relay has: its object is
        // created by a change the relay never sees.
        let mut expanded = changes[1].decode();
        expanded.deps = since;
        expanded.hash = None;
        let dangling = Change::from(expanded);
        let batch = roster_batch(&fx, vec![dangling.clone()]);
        let v = batch.refused_as(&people.admin, ViolationKind::Malformed);
        assert_eq!(v.change, Some(dangling.hash()), "{v}");
        // Its numbers follow the change it no longer names, and its object is that change's.
        assert!(v.reason.contains("so the change was crafted"), "{v}");
    }

    #[test]
    fn a_gap_in_an_actors_sequence_is_malformed() {
        let fx = Fixture::default();
        let people = fx.people;
        let (changes, _) = two_changes(&fx, id_of(&fx, DocKind::Roster));
        let mut expanded = changes[0].decode();
        expanded.seq = 5;
        expanded.hash = None;
        let batch = roster_batch(&fx, vec![Change::from(expanded)]);
        batch.refused_as(&people.admin, ViolationKind::Malformed);
    }

    /// A change reusing a sequence number the document holds under its actor: what a phone
    /// restored from an older copy of its data sends. Refused as `actor_reused` (the phone
    /// writes its work again under a new actor), never stored.
    #[test]
    fn a_second_change_with_an_existing_actors_sequence_number_is_refused_as_actor_reused() {
        let fx = Fixture::default();
        let people = fx.people;
        let (changes, _) = two_changes(&fx, id_of(&fx, DocKind::Roster));
        let mut expanded = changes[0].decode();
        expanded.actor_id = fx.compound.device().clone();
        expanded.seq = 1;
        expanded.hash = None;
        let forged = Change::from(expanded);
        let batch = roster_batch(&fx, vec![forged.clone()]);
        let v = batch.refused_as(&people.admin, ViolationKind::ActorReused);
        assert_eq!(v.change, Some(forged.hash()));
        assert!(v.reason.contains("is already held with other content"), "{v}");
        assert!(v.rejection().actor_reused(), "{v}");
    }
}

/// Sync messages.
mod validate_messages {
    use super::*;

    #[test]
    fn a_v2_message_with_a_whole_document_is_checked_change_by_change() {
        let fx = Fixture::default();
        let people = fx.people;
        let roster = fx.compound.single(DocKind::Roster).unwrap();
        let message = first_message_with_changes(roster.automerge(), &Automerge::new());
        assert_eq!(message.version, MessageVersion::V2, "a peer with nothing gets the whole document");
        assert_eq!(message.changes.len(), 1, "as one document chunk");
        let changes = changes_in(&message).unwrap();
        assert_eq!(changes.len(), roster.automerge().get_changes(&[]).len());

        let batch = Batch { header: *roster.header(), relay: Automerge::new(), changes };
        let doc = batch.accepted(&people.admin);
        assert_eq!(doc.get_heads(), roster.heads());
        batch.forbidden(&people.coordinator, Rule::CompoundsAreCreatedByAdmins);
    }

    #[test]
    fn a_v2_document_chunk_carrying_a_known_history_applies_only_what_is_new() {
        let mut fx = Fixture::default();
        let people = fx.people;
        let roster = id_of(&fx, DocKind::Roster);
        let op = Operation::EditNotes { household: fx.household("10-1-902"), notes: "电梯坏了".into() };
        let notes = made_by(&mut fx, people.volunteer, &op, roster);
        let mut phone_doc = notes.relay.clone();
        phone_doc.apply_changes(notes.changes.clone()).unwrap();
        // What a phone really sends the relay after one edit: Automerge answers with its whole
        // document as soon as the missing changes outnumber a third of its actors.
        let message = first_message_with_changes(&phone_doc, &notes.relay);
        assert_eq!(message.version, MessageVersion::V2);
        let batch = Batch {
            header: notes.header,
            relay: notes.relay.clone(),
            changes: changes_in(&message).unwrap(),
        };
        let mut doc = batch.relay.clone();
        let applied =
            check_and_apply(&mut doc, &batch.header, &people.volunteer, batch.changes.clone(), RELAY_NOW)
                .unwrap();
        assert_eq!(applied, notes.changes.iter().map(Change::hash).collect::<Vec<_>>());
        // Only the new change is judged: the coordinator's history in the same chunk is not
        // held against the volunteer, but a volunteer's own forbidden edit in it would be.
        let (result, _) = batch.check(&people.medic);
        assert_eq!(result.unwrap(), applied);
    }

    #[test]
    fn a_v2_message_carrying_several_changes_back_to_back_is_split() {
        let mut fx = Fixture::default();
        let people = fx.people;
        let roster = id_of(&fx, DocKind::Roster);
        let mut phone = phone(&fx, 9);
        let since = relay_doc(&fx.compound, roster).get_heads();
        let household = fx.household("2-2-101");
        for notes in ["一楼", "二楼", "三楼"] {
            phone
                .apply(
                    &mut fx.env.env(),
                    &people.volunteer,
                    &Operation::EditNotes { household, notes: notes.into() },
                )
                .unwrap();
        }
        let sent = batch(&fx.compound, &phone, roster, &since);
        let message = first_message_with_changes(phone.document(roster).unwrap().automerge(), &sent.relay);
        assert_eq!((message.version.clone(), message.changes.len()), (MessageVersion::V2, 1), "one entry");
        let changes = changes_in(&message).unwrap();
        assert_eq!(changes.len(), 3, "three change chunks back to back");
        let batch = Batch { header: sent.header, relay: sent.relay, changes };
        batch.accepted(&people.volunteer);
    }

    #[test]
    fn a_v1_message_carries_one_change_per_chunk() {
        let mut fx = Fixture::default();
        let people = fx.people;
        let roster = id_of(&fx, DocKind::Roster);
        let op = Operation::SetControlStatus {
            household: fx.household("2-1-302"),
            status: doorstep_core::schema::control_status::ControlStatus::Normal,
        };
        let status = made_by(&mut fx, people.coordinator, &op, roster);
        // Automerge 0.12 answers a peer that advertises V2 with the whole document whenever the
        // missing changes outnumber a third of the document's actors, which with a handful of
        // devices is nearly always; a V1 message is what a peer without V2 sends: each change's
        // (compressed) chunk, as `automerge::sync` builds it.
        let message = Message {
            heads: status.changes.iter().map(Change::hash).collect(),
            need: Vec::new(),
            have: Vec::new(),
            changes: ChunkList::from(
                status.changes.clone().iter_mut().map(|c| c.bytes().into_owned()).collect::<Vec<_>>(),
            ),
            flags: None,
            version: MessageVersion::V1,
        };
        let message = Message::decode(&message.encode()).unwrap();
        assert_eq!(message.version, MessageVersion::V1);
        let changes = changes_in(&message).unwrap();
        assert_eq!(
            changes.iter().map(Change::hash).collect::<Vec<_>>(),
            status.changes.iter().map(Change::hash).collect::<Vec<_>>()
        );
        let batch = Batch { header: status.header, relay: status.relay, changes };
        batch.accepted(&people.coordinator);
        batch.forbidden(&people.volunteer, Rule::RosterIsEditedByCoordinators);
    }

    /// Automerge's change reader takes a change whose checksum (the first four bytes of its hash,
    /// in its header) was altered; loading refuses it. Taken, such a change would be stored, and
    /// lost with whatever followed it in its chunk when the document is loaded again: found by
    /// the `relay_batch` fuzzer (`fuzz/artifacts/relay_batch/`).
    #[test]
    fn a_change_whose_checksum_was_altered_is_refused_before_anything_stores_it() {
        let mut fx = Fixture::default();
        let people = fx.people;
        let roster = id_of(&fx, DocKind::Roster);
        let household = fx.household("2-1-302");
        let short = Operation::EditNotes { household, notes: "电梯坏了".into() };
        let long = Operation::EditNotes { household, notes: "独居老人，敲门要大声。".repeat(40) };
        for op in [short, long] {
            let made = made_by(&mut fx, people.volunteer, &op, roster);
            let mut change = made.changes[0].clone();
            // As it travels (compressed when long), and as it is stored.
            for good in [change.bytes().into_owned(), change.raw_bytes().to_vec()] {
                let message = |chunk: Vec<u8>| Message {
                    heads: vec![change.hash()],
                    need: Vec::new(),
                    have: Vec::new(),
                    changes: ChunkList::from(vec![chunk]),
                    flags: None,
                    version: MessageVersion::V1,
                };
                assert_eq!(changes_in(&message(good.clone())).unwrap()[0].hash(), change.hash());
                let mut altered = good.clone();
                altered[4] ^= 0x01;
                let refused = changes_in(&message(altered.clone())).unwrap_err();
                assert_eq!(refused.kind, ViolationKind::Malformed);
                assert!(refused.reason.contains("checksum"), "{}", refused.reason);
                // Why: the reader alone takes it, with the same hash, and a stored copy with it
                // does not load.
                let read = Change::from_bytes(altered).expect("Automerge's reader takes it");
                assert_eq!(read.hash(), change.hash());
                let stored = [made.relay.save(), read.raw_bytes().to_vec()].concat();
                assert!(Automerge::load(&stored).is_err(), "the altered change loads");
            }
        }
    }

    /// What the relay stores is read back whole or named as damaged: a batch's chunk (changes
    /// back to back) names its changes; a compacted copy (a document chunk) names none; a byte
    /// changed in either is caught by its checksum before Automerge's loader skips it.
    #[test]
    fn a_stored_chunk_names_its_changes_and_a_damaged_one_is_caught() {
        let mut fx = Fixture::default();
        let people = fx.people;
        let roster = id_of(&fx, DocKind::Roster);
        let mut made = Vec::new();
        for notes in ["一楼", "二楼"] {
            let op = Operation::EditNotes { household: fx.household("2-1-302"), notes: notes.into() };
            made.push(made_by(&mut fx, people.volunteer, &op, roster).changes[0].clone());
            fx.compound
                .document_mut(roster)
                .unwrap()
                .automerge_mut()
                .apply_changes([made[made.len() - 1].clone()])
                .unwrap();
        }
        let batch: Vec<u8> = made.iter().flat_map(|c| c.raw_bytes().to_vec()).collect();
        let hashes = doorstep_core::validate::stored_chunk_changes(&batch).unwrap();
        assert_eq!(hashes, made.iter().map(Change::hash).collect::<Vec<_>>());
        let snapshot = fx.compound.document(roster).unwrap().automerge().save();
        assert_eq!(doorstep_core::validate::stored_chunk_changes(&snapshot).unwrap(), Vec::new());
        for (what, good) in [("a batch's chunk", batch), ("a compacted copy", snapshot)] {
            let mut damaged = good.clone();
            *damaged.last_mut().unwrap() ^= 0x01;
            let problem = doorstep_core::validate::stored_chunk_changes(&damaged).unwrap_err();
            assert!(
                problem.contains("checksum") || problem.contains("not an Automerge change"),
                "{what}: {problem}"
            );
        }
    }

    #[test]
    fn malformed_chunks_are_reported_not_panicked_on() {
        let fx = Fixture::default();
        let roster = fx.compound.single(DocKind::Roster).unwrap();
        let good = roster.automerge().get_changes(&[])[0].raw_bytes().to_vec();
        let mut trailing = good.clone();
        trailing.extend_from_slice(b"and then some bytes");
        let mut truncated_doc = roster.save();
        truncated_doc.truncate(truncated_doc.len() / 2);
        for (what, chunk) in [
            ("garbage", b"not an automerge chunk".to_vec()),
            ("a change followed by junk", trailing),
            ("an unknown chunk type", [&good[..8], &[7u8], &good[9..]].concat()),
            ("truncated document", truncated_doc),
            ("truncated change", good[..good.len() - 3].to_vec()),
        ] {
            let message = Message {
                heads: Vec::new(),
                need: Vec::new(),
                have: Vec::new(),
                changes: ChunkList::from(vec![chunk]),
                flags: None,
                version: MessageVersion::V1,
            };
            let v = changes_in(&message).expect_err(what);
            assert_eq!(v.kind, ViolationKind::Malformed, "{what}: {v}");
            assert!(v.reason.contains("entry 0"), "{what}: {v}");
            let v = v.in_document(roster.id());
            assert_eq!(v.rejection().rule, "malformed");
            assert_eq!(v.rejection().doc, roster.id());
        }
    }

    #[test]
    fn a_violation_reads_as_a_sentence_and_travels_as_a_rejection() {
        let mut fx = Fixture::default();
        let people = fx.people;
        let care = id_of(&fx, DocKind::Care);
        let op = Operation::AddCareEntry { draft: care_draft(&fx) };
        let batch = made_by(&mut fx, people.coordinator, &op, care);
        let v = batch.forbidden(&people.volunteer, Rule::CareLedgerIsForCoordinatorsAndMedics);
        let change = v.change.unwrap().to_string();
        assert_eq!(change.len(), 64, "hex");
        let text = v.to_string();
        assert!(
            text.starts_with(&format!("{care}: change {change}: a volunteer may not write the care ledger")),
            "{text}"
        );
        let rejection = v.rejection();
        assert_eq!(rejection.rule, "care_ledger_is_for_coordinators_and_medics");
        assert_eq!(rejection.change.as_deref(), Some(change.as_str()));
        assert_eq!(rejection.reason, v.reason);
    }
}

/// Cost on a real-sized roster.
mod validate_cost {
    use super::*;

    /// The 1,040-household sample ledger (香樟苑).
    const SAMPLE_ROSTER: &[u8] = include_bytes!("../../data/xiangzhangyuan-roster.csv");

    /// The best of `runs` timings of `f`, in microseconds.
    fn best_micros(runs: usize, mut f: impl FnMut()) -> u128 {
        (0..runs)
            .map(|_| {
                let start = std::time::Instant::now();
                f();
                start.elapsed().as_micros()
            })
            .min()
            .unwrap_or(0)
    }

    /// Measures what checking costs the relay on the 1,040-household roster, and why the batch is
    /// applied to a copy rather than applied and then undone. Run in release:
    /// `cargo test --release -p doorstep-core --test validate validate_cost -- --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement; run in release with --ignored --nocapture"]
    fn on_the_1040_household_roster() {
        let mut fx = Fixture::default();
        let people = fx.people;
        let preview = doorstep_core::import::read_roster_csv(SAMPLE_ROSTER).unwrap();
        for row in &preview.households {
            fx.ok(&people.coordinator, &Operation::AddHousehold { draft: row.draft.clone() });
        }
        let roster = fx.compound.single(DocKind::Roster).unwrap();
        let doc = roster.automerge().clone();
        let households = doorstep_core::document::roster::households(&doc).len();
        assert!(households >= 1_040, "{households} households");
        let header = *roster.header();
        let someone = preview.households[500].draft.address.clone();
        let household = doorstep_core::document::roster::households(&doc)
            .into_iter()
            .find(|h| {
                h.address.building == someone.building
                    && h.address.unit == someone.unit
                    && h.address.flat == someone.flat
            })
            .unwrap()
            .id;

        let notes = made_by(
            &mut fx,
            people.volunteer,
            &Operation::EditNotes { household, notes: "门口放".into() },
            header.id,
        );
        let status = made_by(
            &mut fx,
            people.coordinator,
            &Operation::SetControlStatus {
                household,
                status: doorstep_core::schema::control_status::ControlStatus::Confirmed,
            },
            header.id,
        );
        let runs = 20;
        let with_patches = best_micros(runs, || {
            let mut d = doc.clone();
            let mut log = automerge::PatchLog::active();
            d.apply_changes_log_patches(notes.changes.clone(), &mut log).unwrap();
            drop(d.make_patches(&mut log));
        });
        let clone = best_micros(runs, || drop(doc.clone()));
        let plain_apply = best_micros(runs, || {
            let mut d = doc.clone();
            d.apply_changes(notes.changes.clone()).unwrap();
        });
        let accepted = best_micros(runs, || {
            let mut d = doc.clone();
            check_and_apply(&mut d, &header, &people.volunteer, notes.changes.clone(), RELAY_NOW).unwrap();
        });
        let rejected = best_micros(runs, || {
            let mut d = doc.clone();
            check_and_apply(&mut d, &header, &people.volunteer, status.changes.clone(), RELAY_NOW)
                .unwrap_err();
        });
        let heads = doc.get_heads();
        let restore_fork_at = best_micros(3, || {
            let mut d = doc.clone();
            d.apply_changes(notes.changes.clone()).unwrap();
            let restored = d.fork_at(&heads).unwrap();
            assert_eq!(restored.get_heads(), heads);
        });
        let bytes = doc.save();
        let restore_reload = best_micros(3, || drop(Automerge::load(&bytes).unwrap()));
        let mut phone_doc = doc.clone();
        phone_doc.apply_changes(notes.changes.clone()).unwrap();
        let message = first_message_with_changes(&phone_doc, &doc);
        let v2_extract = best_micros(3, || drop(changes_in(&message).unwrap()));
        let from_v2 = changes_in(&message).unwrap();
        let whole = Message {
            heads: phone_doc.get_heads(),
            need: Vec::new(),
            have: Vec::new(),
            changes: ChunkList::from(phone_doc.save()),
            flags: None,
            version: MessageVersion::V2,
        };
        let whole_extract = best_micros(3, || drop(changes_in(&whole).unwrap()));
        let from_whole = changes_in(&whole).unwrap();
        let whole_check = best_micros(3, || {
            let mut d = doc.clone();
            let applied =
                check_and_apply(&mut d, &header, &people.volunteer, from_whole.clone(), RELAY_NOW).unwrap();
            assert_eq!(applied.len(), 1);
        });
        let v2_check = best_micros(3, || {
            let mut d = doc.clone();
            let applied =
                check_and_apply(&mut d, &header, &people.volunteer, from_v2.clone(), RELAY_NOW).unwrap();
            assert_eq!(applied.len(), 1);
        });
        eprintln!(
            "roster of {households} households: {} saved bytes, {} changes\n\
             clone of the document                 {clone:>8} µs (the price of checking on a copy)\n\
             clone + apply, no checks              {plain_apply:>8} µs\n\
             clone + apply + patches, no checks    {with_patches:>8} µs\n\
             check_and_apply, note edit accepted   {accepted:>8} µs (includes the caller's clone of the fixture)\n\
             check_and_apply, status edit refused  {rejected:>8} µs (includes bisection to name the change)\n\
             restore by fork_at(before heads)      {restore_fork_at:>8} µs (the apply-then-restore alternative)\n\
             restore by reloading saved bytes      {restore_reload:>8} µs\n\
             changes_in, V2 message from changes   {v2_extract:>8} µs ({} changes)\n\
             check_and_apply of those V2 changes   {v2_check:>8} µs (1 new)\n\
             changes_in, whole-document V2 chunk   {whole_extract:>8} µs ({} changes)\n\
             check_and_apply of those changes      {whole_check:>8} µs (1 new)",
            bytes.len(),
            doc.get_changes(&[]).len(),
            from_v2.len(),
            from_whole.len(),
        );
    }
}

/// Notes near the limit, two phones adding to them offline, each within the limit on its own
/// phone: merged, the notes are over it. The relay takes both (each author kept within the
/// limit as they saw it), and the merged notes can still be edited down, on a phone and at the
/// relay; what grows notes already past the limit is refused on the phone and at the relay; and
/// nothing grows them past `MERGED_TEXT`. Before: the second phone's honest edit was refused
/// ("too large"), its work set aside.
#[test]
fn notes_merged_past_the_limit_from_honest_phones_are_taken_and_can_be_edited_down() {
    let mut fx = Fixture::default();
    let people = fx.people;
    let roster = id_of(&fx, DocKind::Roster);
    let household = fx.household("2-1-302");
    let base = "字".repeat(limits::LONG_TEXT - 100);
    let start = relay_doc(&fx.compound, roster);
    fx.ok(&people.coordinator, &Operation::EditNotes { household, notes: base.clone() });
    let since = relay_doc(&fx.compound, roster).get_heads();
    let (mut a, mut b) = (phone(&fx, 7), phone(&fx, 8));
    fx.env.advance(1000);
    let grown = |tail: &str| Operation::EditNotes { household, notes: format!("{base}{}", tail.repeat(100)) };
    a.apply(&mut fx.env.env(), &people.volunteer, &grown("甲")).unwrap();
    b.apply(&mut fx.env.env(), &people.volunteer2, &grown("乙")).unwrap();
    let from_a = batch(&fx.compound, &a, roster, &since);
    let after_a = from_a.accepted(&people.volunteer);
    let from_b = Batch {
        header: from_a.header,
        relay: after_a,
        changes: batch(&fx.compound, &b, roster, &since).changes,
    };
    let merged = from_b.accepted(&people.volunteer2);
    let notes = doorstep_core::document::roster::household(&merged, household).unwrap().notes;
    assert_eq!(notes.chars().count(), limits::LONG_TEXT + 100, "both phones' words are kept");

    // A phone holding the merged notes may edit them down, not up.
    let mut c = fork(&fx.compound, device(6));
    let merged_heads = merged.get_heads();
    c.insert(doorstep_core::document::Document::load(from_a.header, &merged.save(), device(6)).unwrap());
    let mut up = notes.clone();
    up.push('丙');
    fx.env.advance(1000);
    let refused =
        c.apply(&mut fx.env.env(), &people.volunteer, &Operation::EditNotes { household, notes: up });
    assert!(
        matches!(refused, Err(doorstep_core::OperationError::Invalid { field: "notes", .. })),
        "{refused:?}"
    );
    let down: String = notes.chars().skip(1).collect();
    c.apply(&mut fx.env.env(), &people.volunteer, &Operation::EditNotes { household, notes: down }).unwrap();
    let edited = Batch {
        header: from_a.header,
        relay: merged.clone(),
        changes: c.document(roster).unwrap().automerge().get_changes(&merged_heads),
    };
    edited.accepted(&people.volunteer);

    // Growing notes already past the limit, made by hand, is refused at the relay; and so is
    // any batch leaving them past MERGED_TEXT.
    let by_hand = |insert: &str| {
        let mut doc = merged.clone().with_actor(ActorId::from([0xD6; 16]));
        let text = child(&doc, &entity(&doc, "households", &household.to_string()), "notes");
        let mut tx = doc.transaction();
        tx.splice_text(&text, 0, 0, insert).unwrap();
        tx.commit();
        Batch { header: from_a.header, relay: merged.clone(), changes: doc.get_changes(&merged_heads) }
    };
    by_hand("丁").refused_as(&people.volunteer, ViolationKind::TooLarge);

    // Nine devices each filling the notes from the same old copy: each within the limit as its
    // author saw it, merged past MERGED_TEXT.
    let fills: Vec<Change> = (0..9u8)
        .flat_map(|n| {
            let mut doc = start.clone().with_actor(ActorId::from([0xA0 + n; 16]));
            let text = child(&doc, &entity(&doc, "households", &household.to_string()), "notes");
            let mut tx = doc.transaction();
            tx.splice_text(&text, 0, 0, &"满".repeat(limits::LONG_TEXT - 100)).unwrap();
            tx.commit();
            doc.get_changes(&start.get_heads())
        })
        .collect();
    let fill = |n: usize| Batch { header: from_a.header, relay: start.clone(), changes: fills[..n].to_vec() };
    let _ = fill(8).accepted(&people.volunteer);
    const { assert!(9 * (limits::LONG_TEXT - 100) > limits::MERGED_TEXT) };
    fill(9).refused_as(&people.volunteer, ViolationKind::TooLarge);
}

/// A round one task short of the most it may hold; two coordinators each add a task offline,
/// each within the limit on their own phone: merged, the round holds one more than the limit.
/// The relay takes both, as it takes merged notes; a phone holding the full round refuses to add
/// another (before, the phone added it and the relay refused it: honest work set aside).
#[test]
fn tasks_added_offline_to_a_nearly_full_round_are_taken_and_a_full_round_takes_no_more() {
    let mut fx = Fixture::default();
    let people = fx.people;
    let (round, task) = round_with_task(&mut fx);
    // Fill the relay's round by hand with copies of one task, to one short of the limit.
    let mut doc = relay_doc(&fx.compound, round).with_actor(ActorId::from([0xC0; 16]));
    let tasks = child(&doc, &ROOT, "tasks");
    let template = child(&doc, &tasks, &task.to_string());
    let fields: Vec<(String, automerge::Value<'static>)> = doc
        .map_range(&template, ..)
        .map(|item| (item.key.to_string(), automerge::Value::from(item.value).to_owned()))
        .collect();
    let held = doc.length(&tasks);
    let mut tx = doc.transaction();
    for n in held..limits::TASKS_PER_ROUND - 1 {
        let copy = tx
            .put_object(
                &tasks,
                TaskId::from_uuid(uuid::Uuid::from_u128(0xF000_0000 + n as u128)).to_string(),
                ObjType::Map,
            )
            .unwrap();
        for (key, value) in &fields {
            match value {
                automerge::Value::Object(kind) => {
                    tx.put_object(&copy, key.as_str(), *kind).unwrap();
                }
                automerge::Value::Scalar(s) => {
                    tx.put(&copy, key.as_str(), s.as_ref().clone()).unwrap();
                }
            }
        }
    }
    tx.commit();
    let header = *fx.compound.document(round).unwrap().header();
    fx.compound.insert(doorstep_core::document::Document::load(header, &doc.save(), device(1)).unwrap());
    let full = relay_doc(&fx.compound, round);
    assert_eq!(full.length(&tasks), limits::TASKS_PER_ROUND - 1);
    let since = full.get_heads();

    let household = fx.household("2-1-101");
    let add = Operation::AddTask {
        round,
        household,
        kind: doorstep_core::schema::vocabulary::TaskKind::Medicine,
        items: "降压药".into(),
        priority: doorstep_core::schema::vocabulary::Priority::Urgent,
        request: None,
    };
    let (mut a, mut b) = (phone(&fx, 7), phone(&fx, 8));
    fx.env.advance(1000);
    a.apply(&mut fx.env.env(), &people.coordinator, &add).unwrap();
    b.apply(&mut fx.env.env(), &people.coordinator2, &add).unwrap();
    let from_a = batch(&fx.compound, &a, round, &since);
    let after_a = from_a.accepted(&people.coordinator);
    let from_b = Batch { header, relay: after_a, changes: batch(&fx.compound, &b, round, &since).changes };
    let merged = from_b.accepted(&people.coordinator2);
    assert_eq!(merged.length(&tasks), limits::TASKS_PER_ROUND + 1, "both tasks are kept");

    // A phone holding the full round adds no more.
    let mut c = fork(&fx.compound, device(6));
    c.insert(doorstep_core::document::Document::load(header, &merged.save(), device(6)).unwrap());
    fx.env.advance(1000);
    let refused = c.apply(&mut fx.env.env(), &people.coordinator, &add);
    assert!(
        matches!(refused, Err(doorstep_core::OperationError::Invalid { field: "round", .. })),
        "{refused:?}"
    );
}

/// What no household may be (a head named, no more over-60s than people, an address an import
/// reads back), judged per author as the phone judges an edit. Two coordinators offline, one
/// lowering 户内人数 and one raising 60岁以上人数, each leave a household within the rules: both
/// are taken, though merged the household holds more over-60s than people, and it can still be
/// edited. A modified phone writing such a household itself is refused, field by field.
#[test]
fn household_rules_are_judged_as_each_author_saw_the_household() {
    use doorstep_core::schema::household::HouseholdEdit;
    let mut fx = Fixture::default();
    let people = fx.people;
    let roster = id_of(&fx, DocKind::Roster);
    let household = fx.household("2-1-302");
    let edit = |e: HouseholdEdit| Operation::EditHousehold { household, edit: e };
    fx.ok(
        &people.coordinator,
        &edit(HouseholdEdit { people: Some(4), aged_60_plus: Some(1), ..HouseholdEdit::default() }),
    );
    let since = relay_doc(&fx.compound, roster).get_heads();
    let (mut a, mut b) = (phone(&fx, 7), phone(&fx, 8));
    fx.env.advance(1000);
    a.apply(
        &mut fx.env.env(),
        &people.coordinator,
        &edit(HouseholdEdit { people: Some(2), ..HouseholdEdit::default() }),
    )
    .unwrap();
    b.apply(
        &mut fx.env.env(),
        &people.admin,
        &edit(HouseholdEdit { aged_60_plus: Some(3), ..HouseholdEdit::default() }),
    )
    .unwrap();
    let from_a = batch(&fx.compound, &a, roster, &since);
    let after_a = from_a.accepted(&people.coordinator);
    let from_b = Batch {
        header: from_a.header,
        relay: after_a,
        changes: batch(&fx.compound, &b, roster, &since).changes,
    };
    let merged = from_b.accepted(&people.admin);
    let h = doorstep_core::document::roster::household(&merged, household).unwrap();
    assert_eq!((h.people, h.aged_60_plus), (Some(2), 3), "both coordinators' edits are kept");

    // A phone holding the merged household may edit its phone number, and may not add a rule
    // it breaks (more under-6s than people); the relay takes the first.
    let mut c = fork(&fx.compound, device(6));
    let merged_heads = merged.get_heads();
    c.insert(doorstep_core::document::Document::load(from_a.header, &merged.save(), device(6)).unwrap());
    fx.env.advance(1000);
    let refused = c.apply(
        &mut fx.env.env(),
        &people.coordinator,
        &edit(HouseholdEdit { children_under_6: Some(3), ..HouseholdEdit::default() }),
    );
    assert!(
        matches!(refused, Err(doorstep_core::OperationError::Invalid { field: "children_under_6", .. })),
        "{refused:?}"
    );
    c.apply(
        &mut fx.env.env(),
        &people.coordinator,
        &edit(HouseholdEdit { phone: Some("13800000000".into()), ..HouseholdEdit::default() }),
    )
    .unwrap();
    let phone_edit = Batch {
        header: from_a.header,
        relay: merged.clone(),
        changes: c.document(roster).unwrap().automerge().get_changes(&merged_heads),
    };
    phone_edit.accepted(&people.coordinator);

    // A modified coordinator's phone writing what the phone refuses, on the fixture's roster.
    let key = household.to_string();
    let building = {
        let doc = relay_doc(&fx.compound, roster);
        let household = entity(&doc, "households", &key);
        match doc.get(&household, "building").unwrap().unwrap().0 {
            automerge::Value::Scalar(s) => s.as_str().unwrap().to_owned(),
            other => panic!("{other:?}"),
        }
    };
    let forged: Vec<(&str, ScalarValue, &str, &str)> = vec![
        ("households", ScalarValue::Uint(9), "aged_60_plus", "more than the"),
        ("households", ScalarValue::Str("  ".into()), "head", "must not be empty"),
        ("households", ScalarValue::Str("3-1".into()), "unit", "is not a unit number"),
        ("households", ScalarValue::Str("17-3-702".into()), "flat", "is not a flat number"),
        ("buildings", ScalarValue::Str("2号楼".into()), "label", "is not a building number or name"),
    ];
    for (collection, value, field, reason) in forged {
        let id = if collection == "households" { key.clone() } else { building.clone() };
        let batch = hostile(&fx, roster, move |tx| {
            let obj = entity(tx, collection, &id);
            tx.put(obj, field, value).unwrap();
        });
        let v = batch.refused_as(&people.coordinator, ViolationKind::Schema);
        assert!(v.reason.contains(field) && v.reason.contains(reason), "{field}: {v}");
    }
    for (collection, field, value) in [("households", "flat", "7A"), ("buildings", "label", "B")] {
        let id = if collection == "households" { key.clone() } else { building.clone() };
        hostile(&fx, roster, move |tx| {
            let obj = entity(tx, collection, &id);
            tx.put(obj, field, value).unwrap();
        })
        .accepted(&people.coordinator);
    }
}
