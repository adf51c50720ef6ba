//! Reviewed conflicts over real HTTP: a coordinator's review of a double delivery reaches every
//! phone through the relay; a volunteer's review is refused by the phone's own check and, from a
//! modified phone, by the relay under the same rule; and a third delivery that was made offline
//! before the review shows the conflict as unreviewed again on every phone.

use automerge::transaction::Transactable;
use automerge::{ObjType, ROOT, ReadDoc};
use doorstep_core::document::reviews::REVIEWS;
use doorstep_core::permission::Rule;
use doorstep_core::query::{all_reviews, unreviewed_conflicts};
use doorstep_core::schema::review::ConflictSubject;
use doorstep_core::schema::vocabulary::Outcome;
use doorstep_core::{Operation, OperationError};

use crate::harness::{Fixture, Phone};

fn delivered(fx: &Fixture, task: doorstep_core::id::TaskId, note: &str) -> Operation {
    Operation::RecordAttempt { round: fx.round, task, outcome: Outcome::Delivered, note: note.into() }
}

fn unreviewed(phone: &Phone) -> usize {
    unreviewed_conflicts(phone.compound()).len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_reaches_every_phone_and_a_later_delivery_reopens_it() {
    let mut fx = Fixture::new().await;
    let task = fx.coordinator.compound().open_tasks()[0].id;
    let review = Operation::ReviewConflict {
        conflict: ConflictSubject::DoubleDelivery { round: fx.round, task },
        note: "已核实，第二份转给 2-1-302".into(),
    };

    // Two volunteers deliver the same door offline, then sync: a double delivery.
    for (i, note) in ["放门口", "交给本人"].into_iter().enumerate() {
        let op = delivered(&fx, task, note);
        fx.volunteers[i].apply(&op).unwrap();
        assert!(fx.volunteers[i].sync(&fx.relay).await.rejected.is_empty());
    }
    fx.volunteers[0].sync(&fx.relay).await;
    fx.coordinator.sync(&fx.relay).await;
    assert_eq!(unreviewed(&fx.coordinator), 1);

    // The second volunteer's phone records one more delivery and stays offline.
    let third = delivered(&fx, task, "又送了一份");
    fx.volunteers[1].apply(&third).unwrap();

    // A volunteer's own phone refuses to write a review.
    let err = fx.volunteers[0].apply(&review).unwrap_err();
    assert!(
        matches!(err, OperationError::Forbidden { rule: Rule::ConflictsAreReviewedByCoordinators, .. }),
        "{err}"
    );

    // The coordinator reviews it; the relay takes the review, and the first volunteer's phone
    // sees it after a sync.
    fx.coordinator.apply(&review).unwrap();
    assert_eq!(unreviewed(&fx.coordinator), 0);
    let synced = fx.coordinator.sync(&fx.relay).await;
    assert!(synced.rejected.is_empty(), "{:?}", synced.rejected);
    fx.volunteers[0].sync(&fx.relay).await;
    assert_eq!(unreviewed(&fx.volunteers[0]), 0, "the review reached the volunteer's phone");
    let seen = all_reviews(fx.volunteers[0].compound());
    assert_eq!(seen.len(), 1);
    assert_eq!((seen[0].by, seen[0].note.as_str()), (fx.coordinator.person, "已核实，第二份转给 2-1-302"));

    // The offline phone comes back with its third delivery: the conflict shows again, everywhere.
    let synced = fx.volunteers[1].sync(&fx.relay).await;
    assert!(synced.rejected.is_empty(), "{:?}", synced.rejected);
    fx.coordinator.sync(&fx.relay).await;
    fx.volunteers[0].sync(&fx.relay).await;
    for phone in [&fx.coordinator, &fx.volunteers[0], &fx.volunteers[1]] {
        let open = unreviewed_conflicts(phone.compound());
        assert_eq!(open.len(), 1, "{open:?}");
        assert!(
            matches!(&open[0], doorstep_core::query::Conflict::DoubleDelivery { deliveries, .. } if deliveries.len() == 3)
        );
        assert_eq!(all_reviews(phone.compound()).len(), 1, "the first review stays on record");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_modified_volunteer_phones_review_is_refused_by_the_relay() {
    let mut fx = Fixture::new().await;
    let task = fx.coordinator.compound().open_tasks()[0].id;
    for i in 0..2 {
        let op = delivered(&fx, task, "");
        fx.volunteers[i].apply(&op).unwrap();
        fx.volunteers[i].sync(&fx.relay).await;
    }
    fx.volunteers[0].sync(&fx.relay).await;
    assert_eq!(unreviewed(&fx.volunteers[0]), 1);

    // A modified app writes a review record behind the operations' back.
    let volunteer = &mut fx.volunteers[0];
    let compound_id = volunteer.compound().id();
    let person = volunteer.person.to_string();
    let covers: Vec<String> = unreviewed_conflicts(volunteer.compound())[0].values().into_iter().collect();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    let round = volunteer.compounds.get_mut(&compound_id).unwrap().document_mut(fx.round).unwrap();
    let map = round.automerge().get(ROOT, REVIEWS).unwrap().unwrap().1;
    let mut tx = round.automerge_mut().transaction();
    let obj = tx.put_object(&map, "019400a0-0000-7000-8000-0000000000aa", ObjType::Map).unwrap();
    tx.put(&obj, "conflict", "double_delivery").unwrap();
    tx.put(&obj, "entity", task.to_string()).unwrap();
    tx.put(&obj, "covers", covers.join("\n")).unwrap();
    tx.put(&obj, "by", person).unwrap();
    tx.put(&obj, "at", i64::try_from(now).unwrap()).unwrap();
    tx.put(&obj, "note", "自己核实了").unwrap();
    tx.commit();
    assert_eq!(unreviewed(volunteer), 0, "on the modified phone the conflict looks reviewed");

    let synced = volunteer.sync_up_to(&fx.relay, 4).await;
    let rejection = synced.rejected.iter().find(|r| r.doc == fx.round).expect("the review is refused");
    assert_eq!(rejection.rule, "conflicts_are_reviewed_by_coordinators", "{rejection:?}");
    assert!(rejection.change.is_some(), "the offending change is named");

    fx.coordinator.sync(&fx.relay).await;
    assert_eq!(unreviewed(&fx.coordinator), 1, "nothing of the forged review was stored");
    assert!(all_reviews(fx.coordinator.compound()).is_empty());
}
