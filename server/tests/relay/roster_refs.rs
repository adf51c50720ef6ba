//! New work names a household of its compound's roster: a modified phone's request or task for a
//! household the roster does not know is refused (`households_are_in_the_roster`), as the honest
//! phone refuses to write one, while honest work is never refused: at a door a coordinator
//! removed meanwhile, for a household added offline and synced in the same request, or by a
//! phone whose roster is ahead of the relay's.

use std::collections::BTreeSet;

use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT, ReadDoc, ScalarValue};
use doorstep_core::Operation;
use doorstep_core::id::{DocumentId, HouseholdId, RequestId, TaskId};
use doorstep_core::permission::Rule;
use doorstep_core::schema::address::Address;
use doorstep_core::schema::control_status::ControlStatus;
use doorstep_core::schema::household::HouseholdDraft;
use doorstep_core::schema::vocabulary::{Category, Channel, DocKind, Outcome, Priority, TaskKind, Urgency};
use doorstep_core::sync::{ClientSession, RejectionClass};

use crate::harness::{Fixture, Phone, device_now};

const RULE: &str = "households_are_in_the_roster";

fn random_id() -> uuid::Uuid {
    // Version 7's bits, as the phone's IDs have them.
    uuid::Uuid::from_u128((rand::random::<u128>() & !(0xF << 76) & !(0x3 << 62)) | (0x7 << 76) | (0x2 << 62))
}

/// A modified phone's request, written straight into its requests document (no operation, so no
/// check of the household), in one change.
fn forge_request(phone: &mut Phone, household: &str, text: &str) {
    let compound = phone.compound().id();
    let requests = phone.doc_of(DocKind::Requests).id();
    let by = phone.person.to_string();
    let doc = phone.compounds.get_mut(&compound).unwrap().document_mut(requests).unwrap().automerge_mut();
    let mut tx = doc.transaction();
    let map = match tx.get(ROOT, "requests").unwrap() {
        Some((_, map)) => map,
        None => tx.put_object(ROOT, "requests", ObjType::Map).unwrap(),
    };
    let obj = tx.put_object(&map, RequestId::from_uuid(random_id()).to_string(), ObjType::Map).unwrap();
    tx.put(&obj, "household", household).unwrap();
    tx.put(&obj, "channel", "door").unwrap();
    tx.put(&obj, "category", "medicine").unwrap();
    let words = tx.put_object(&obj, "text", ObjType::Text).unwrap();
    tx.splice_text(&words, 0, 0, text).unwrap();
    tx.put(&obj, "urgency", "critical").unwrap();
    tx.put(&obj, "status", "new").unwrap();
    tx.put_object(&obj, "tasks", ObjType::Map).unwrap();
    tx.put(&obj, "by", by).unwrap();
    tx.put(&obj, "at", device_now().as_millis()).unwrap();
    tx.commit();
}

/// A modified coordinator's phone's task, written straight into the round, in one change.
fn forge_task(phone: &mut Phone, round: DocumentId, household: &str) {
    let compound = phone.compound().id();
    let doc = phone.compounds.get_mut(&compound).unwrap().document_mut(round).unwrap().automerge_mut();
    let mut tx = doc.transaction();
    let (_, map) = tx.get(ROOT, "tasks").unwrap().unwrap();
    let obj = tx.put_object(&map, TaskId::from_uuid(random_id()).to_string(), ObjType::Map).unwrap();
    tx.put(&obj, "household", household).unwrap();
    tx.put(&obj, "kind", "groceries").unwrap();
    tx.put(&obj, "items", "蔬菜包").unwrap();
    tx.put(&obj, "priority", "normal").unwrap();
    tx.put(&obj, "assignee", ScalarValue::Null).unwrap();
    tx.put(&obj, "request", ScalarValue::Null).unwrap();
    tx.put_object(&obj, "attempts", ObjType::List).unwrap();
    tx.commit();
}

fn add_request(phone: &mut Phone, household: HouseholdId, text: &str) {
    phone
        .apply(&Operation::AddRequest {
            household,
            channel: Channel::Door,
            category: Category::Medicine,
            text: text.into(),
            urgency: Urgency::Critical,
        })
        .unwrap();
}

fn draft(flat: &str) -> HouseholdDraft {
    HouseholdDraft {
        address: Address {
            estate: String::new(),
            building: "1".into(),
            unit: "1".into(),
            floor: 9,
            flat: flat.into(),
        },
        head: format!("户主{flat}"),
        phone: String::new(),
        people: Some(2),
        aged_60_plus: 1,
        children_under_6: 0,
        needs: BTreeSet::new(),
        status: ControlStatus::Normal,
        lift: false,
        notes: String::new(),
    }
}

fn texts(phone: &Phone) -> Vec<String> {
    phone.compound().requests().into_iter().map(|r| r.text).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_request_for_a_household_not_in_the_roster_is_refused_for_good() {
    let mut fx = Fixture::new().await;
    // A household of another compound, which this compound's roster never held.
    let elsewhere = fx.relay.create_compound("金桂园").await;
    fx.relay.import_roster(elsewhere, crate::harness::ROSTER_CSV).await;
    let mut theirs = fx.relay.phone(elsewhere, doorstep_core::Role::Volunteer, "周杰").await;
    theirs.sync(&fx.relay).await;
    let other_compounds = theirs.compound().households()[0].id.to_string();
    let made_up = HouseholdId::from_uuid(random_id()).to_string();
    let a_document = fx.round.to_string();

    let token = fx.volunteers[0].token.clone();
    let person = fx.volunteers[0].person;
    for (n, household) in [made_up, a_document, other_compounds].iter().enumerate() {
        // A fresh install each time: a refused change stays on the phone that made it.
        let mut forger = Phone::new(&token, person);
        forger.sync(&fx.relay).await;
        let real = forger.compound().households()[1].id;
        add_request(&mut forger, real, &format!("honest {n}"));
        forge_request(&mut forger, household, &format!("急需胰岛素 {n}"));
        let synced = forger.sync_up_to(&fx.relay, 4).await;
        let rejection = synced.rejected.iter().find(|r| r.rule == RULE).unwrap_or_else(|| {
            panic!("the request for household {household} is refused: {:?}", synced.rejected)
        });
        assert!(rejection.change.is_some(), "the forged change is named");
        assert!(rejection.reason.contains(household.as_str()), "{}", rejection.reason);
        assert_eq!(rejection.class(), RejectionClass::Permanent, "set aside, as a forbidden write is");
        assert_eq!(Rule::from_code(&rejection.rule), Some(Rule::HouseholdsAreInTheRoster));
        assert_eq!(rejection.taken.len(), 1, "the honest request before it went up: {rejection:?}");
    }

    fx.coordinator.sync(&fx.relay).await;
    let texts = texts(&fx.coordinator);
    for n in 0..3 {
        assert!(texts.contains(&format!("honest {n}")), "{texts:?}");
        assert!(!texts.contains(&format!("急需胰岛素 {n}")), "{texts:?}");
    }
    let metrics = fx.relay.metrics().await;
    assert!(metrics.contains(&format!("doorstep_sync_rejections_total{{rule=\"{RULE}\"}} 3")), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_task_for_a_household_not_in_the_roster_is_refused() {
    let mut fx = Fixture::new().await;
    let round = fx.round;
    let before = fx.coordinator.compound().tasks().len();
    forge_task(&mut fx.coordinator, round, &HouseholdId::from_uuid(random_id()).to_string());
    let synced = fx.coordinator.sync_up_to(&fx.relay, 4).await;
    let rejection = synced.rejected.iter().find(|r| r.rule == RULE).expect("the task is refused");
    assert_eq!(rejection.doc, round);
    assert_eq!(rejection.class(), RejectionClass::Permanent);

    // What the relay holds: a volunteer's fresh copy has the round's tasks, all at known doors.
    let mut fresh = Phone::new(&fx.volunteers[1].token, fx.volunteers[1].person);
    fresh.sync(&fx.relay).await;
    let tasks = fresh.compound().tasks();
    assert_eq!(tasks.len(), before, "the forged task is not in the round");
    let doors: BTreeSet<HouseholdId> = fresh.compound().households().iter().map(|h| h.id).collect();
    assert!(tasks.iter().all(|t| doors.contains(&t.household)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_at_a_door_a_coordinator_removed_meanwhile_is_taken() {
    let mut fx = Fixture::new().await;
    let round = fx.round;
    // A second coordinator, synced before the removal, plans offline.
    let mut planner = fx.relay.phone(fx.compound, doorstep_core::Role::Coordinator, "陈静").await;
    planner.sync(&fx.relay).await;
    let task = fx.volunteers[0].compound().tasks()[0].clone();
    let door = task.household;
    fx.coordinator.apply(&Operation::RemoveHousehold { household: door }).unwrap();
    assert!(fx.coordinator.sync(&fx.relay).await.rejected.is_empty());

    // Offline, neither saw the removal: the volunteer knocks and takes a request at that door,
    // the planner adds a task there.
    let volunteer = &mut fx.volunteers[0];
    volunteer
        .apply(&Operation::RecordAttempt {
            round,
            task: task.id,
            outcome: Outcome::Delivered,
            note: String::new(),
        })
        .unwrap();
    add_request(volunteer, door, "门已拆除前登记的需求");
    planner
        .apply(&Operation::AddTask {
            round,
            household: door,
            kind: TaskKind::Medicine,
            items: "降压药".into(),
            priority: Priority::Urgent,
            request: None,
        })
        .unwrap();
    let synced = volunteer.sync(&fx.relay).await;
    assert!(synced.rejected.is_empty(), "{:?}", synced.rejected);
    let synced = planner.sync(&fx.relay).await;
    assert!(synced.rejected.is_empty(), "{:?}", synced.rejected);

    fx.coordinator.sync(&fx.relay).await;
    assert!(texts(&fx.coordinator).contains(&"门已拆除前登记的需求".to_owned()));
    let at_the_door = fx.coordinator.compound().tasks().into_iter().filter(|t| t.household == door).count();
    assert_eq!(at_the_door, 2, "the round's task and the planner's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_household_added_offline_syncs_with_its_task_and_request_in_one_request() {
    let mut fx = Fixture::new().await;
    let round = fx.round;
    let coordinator = &mut fx.coordinator;
    let added = coordinator.apply(&Operation::AddHousehold { draft: draft("901") }).unwrap();
    let household: HouseholdId = added.new_entity.expect("the household's ID").parse().unwrap();
    coordinator
        .apply(&Operation::AddTask {
            round,
            household,
            kind: TaskKind::Groceries,
            items: "蔬菜包".into(),
            priority: Priority::Normal,
            request: None,
        })
        .unwrap();
    add_request(coordinator, household, "新住户需要药");

    // The session's first request carries the roster, the round and the requests together.
    let mut session: ClientSession = coordinator.session();
    let request = session.request(&coordinator.compounds).unwrap();
    let sent: BTreeSet<DocumentId> = request.messages.iter().map(|m| m.doc).collect();
    for kind in [DocKind::Roster, DocKind::Round, DocKind::Requests] {
        assert!(sent.contains(&coordinator.doc_of(kind).id()), "{kind} is in the first request");
    }
    let response = fx.relay.sync(&coordinator.token, &request).await;
    assert!(response.rejected.is_empty(), "{:?}", response.rejected);
    session.handle(&mut coordinator.compounds, response);
    coordinator.states = session.states().clone();
    assert!(coordinator.sync(&fx.relay).await.rejected.is_empty());

    let volunteer = &mut fx.volunteers[0];
    volunteer.sync(&fx.relay).await;
    assert!(volunteer.compound().tasks().iter().any(|t| t.household == household));
    assert!(volunteer.compound().requests().iter().any(|r| r.household == household));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_for_a_household_only_another_phone_brought_waits_instead_of_being_set_aside() {
    let mut fx = Fixture::new().await;
    // The coordinator adds a household offline; a volunteer's phone gets the roster from theirs
    // (met in the stairwell) and takes a request at the new door before the coordinator syncs.
    let added = fx.coordinator.apply(&Operation::AddHousehold { draft: draft("902") }).unwrap();
    let household: HouseholdId = added.new_entity.unwrap().parse().unwrap();
    let roster = fx.coordinator.doc_of(DocKind::Roster).id();
    let mut theirs = fx.coordinator.doc_of(DocKind::Roster).automerge().clone();
    let volunteer = &mut fx.volunteers[0];
    let compound = volunteer.compound().id();
    let mine = volunteer.compounds.get_mut(&compound).unwrap().document_mut(roster).unwrap();
    mine.automerge_mut().merge(&mut theirs).unwrap();
    add_request(volunteer, household, "新住户的需求");

    let synced = volunteer.sync_up_to(&fx.relay, 4).await;
    assert!(
        synced.rejected.iter().all(|r| r.class() == RejectionClass::Transient),
        "nothing is set aside: {:?}",
        synced.rejected
    );
    assert!(synced.rejected.iter().all(|r| r.rule != RULE), "{:?}", synced.rejected);

    assert!(fx.coordinator.sync(&fx.relay).await.rejected.is_empty());
    let synced = fx.volunteers[0].sync(&fx.relay).await;
    assert!(synced.rejected.is_empty(), "{:?}", synced.rejected);
    fx.coordinator.sync(&fx.relay).await;
    assert!(texts(&fx.coordinator).contains(&"新住户的需求".to_owned()));
}
