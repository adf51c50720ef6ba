//! The list of documents a phone may hold comes with a response only when it changed: a phone
//! that sends the digest of the list it keeps gets "unchanged" while it is, and the new list as
//! soon as a round opens or closes or its membership is revoked.

use doorstep_core::Operation;
use doorstep_core::schema::vocabulary::{DocKind, Priority, TaskKind};
use doorstep_core::sync::{GrantsDigest, SyncRequest};
use reqwest::StatusCode;

use crate::harness::Fixture;

fn round_ids(phone: &crate::harness::Phone) -> Vec<doorstep_core::id::DocumentId> {
    phone.compound().documents().filter(|d| d.kind() == DocKind::Round).map(|d| d.id()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_is_left_out_while_unchanged_and_sent_when_a_round_closes_or_opens() {
    let mut fx = Fixture::new().await;
    let volunteer = &mut fx.volunteers[0];
    let kept = volunteer.known_grants.clone().expect("the first sync kept the list");
    assert_eq!(kept.len(), 3, "roster, requests and the open round");

    // A reconnect with nothing new: the relay leaves the list out, and the phone keeps its
    // documents, as the kept list says.
    let synced = volunteer.sync(&fx.relay).await;
    assert_eq!(synced.document_lists, 0, "an unchanged list is not sent again");
    assert_eq!(synced.granted.len(), 3);
    assert_eq!(volunteer.compound().documents().count(), 3, "nothing dropped on an unchanged list");

    // The same on the wire: with the digest, no list and the flag; without it (an older phone),
    // the list, whose digest is the one the phone sent.
    let digest = GrantsDigest::of(&kept);
    let with_digest = SyncRequest { documents_digest: Some(digest), ..SyncRequest::new(Vec::new()) };
    let unchanged = fx.relay.sync(&volunteer.token, &with_digest).await;
    assert_eq!(unchanged.documents, None);
    let listed = fx.relay.sync(&volunteer.token, &SyncRequest::new(Vec::new())).await;
    let list = listed.documents.clone().expect("a request without a digest gets the list");
    assert_eq!(GrantsDigest::of(&list), digest);
    assert!(unchanged.encode().len() + 300 < listed.encode().len(), "three grants cost over 300 B");
    // A digest of some other list gets the list.
    let stale = SyncRequest { documents_digest: Some(GrantsDigest::of(&[])), ..SyncRequest::new(Vec::new()) };
    assert_eq!(fx.relay.sync(&volunteer.token, &stale).await.documents, Some(list));

    // The coordinator closes the round: at the next sync the list comes, and the phone drops it.
    fx.coordinator.apply(&Operation::CloseRound { round: fx.round }).unwrap();
    fx.coordinator.sync(&fx.relay).await;
    let volunteer = &mut fx.volunteers[0];
    let synced = volunteer.sync(&fx.relay).await;
    assert!(synced.document_lists >= 1, "a closed round changes the list");
    assert!(round_ids(volunteer).is_empty(), "the closed round left the phone");
    let synced = volunteer.sync(&fx.relay).await;
    assert_eq!(synced.document_lists, 0, "unchanged again");
    assert!(round_ids(volunteer).is_empty(), "the kept list does not bring the round back");

    // A new round: the list comes again, and the phone fetches the round.
    let applied = fx
        .coordinator
        .apply(&Operation::CreateRound {
            title: "蔬菜包 第2轮".into(),
            kind: TaskKind::Groceries,
            date: "2026-11-24".into(),
            selection: doorstep_core::Selection::Building { estate: String::new(), building: "1".into() },
            items: "蔬菜包".into(),
            priority: Priority::Normal,
        })
        .unwrap();
    let second = applied.created[0];
    fx.coordinator.sync(&fx.relay).await;
    let volunteer = &mut fx.volunteers[0];
    let synced = volunteer.sync(&fx.relay).await;
    assert!(synced.document_lists >= 1, "a new round changes the list");
    assert_eq!(round_ids(volunteer), vec![second]);
    assert!(volunteer.compound().documents().all(|d| !d.is_placeholder()), "the new round arrived");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_after_an_unchanged_reconnect_still_empties_the_phone() {
    let mut fx = Fixture::new().await;
    let synced = fx.volunteers[0].sync(&fx.relay).await;
    assert_eq!(synced.document_lists, 0, "the reconnect before the revocation got no list");
    let person = fx.volunteers[0].person;
    let (status, body) = fx
        .relay
        .json(
            "POST",
            &format!("/v1/compounds/{}/members/{person}/revoke", fx.compound),
            &fx.relay.admin_token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    let volunteer = &mut fx.volunteers[0];
    let synced = volunteer.sync(&fx.relay).await;
    assert!(synced.document_lists >= 1, "the empty list is sent, not \"unchanged\"");
    assert!(synced.granted.is_empty(), "nothing is granted");
    assert!(volunteer.compounds.is_empty(), "the phone dropped the compound's documents");
    assert_eq!(volunteer.known_grants.as_deref(), Some(&[][..]), "the phone keeps the empty list");

    // The empty list is a list like any other: unchanged, it is not sent again, and the phone
    // still holds nothing.
    let synced = volunteer.sync(&fx.relay).await;
    assert_eq!(synced.document_lists, 0);
    assert!(volunteer.compounds.is_empty());
    // The other volunteer, whose list did not change, still gets "unchanged".
    assert_eq!(fx.volunteers[1].sync(&fx.relay).await.document_lists, 0);
}
