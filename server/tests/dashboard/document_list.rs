//! A real phone replica (a SQLite file) against the real relay: it keeps the list of documents it
//! may hold, across restarts, so a reconnect with nothing new carries no list; a role change and
//! a revocation still reach it, and joining again starts from the relay's list.

use std::sync::Mutex;

use doorstep_core::Role;
use doorstep_core::schema::vocabulary::DocKind;
use doorstep_replica::Replica;
use doorstep_replica::http::{self, RelayClient};
use reqwest::StatusCode;

use crate::harness::{Dash, now};

fn kinds(replica: &Mutex<Replica>) -> Vec<DocKind> {
    let replica = replica.lock().unwrap();
    let mut kinds: Vec<DocKind> = replica.compounds().flat_map(|c| c.documents()).map(|d| d.kind()).collect();
    kinds.sort_by_key(|k| k.as_str());
    kinds
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_gets_the_document_list_only_when_it_changed() {
    let dash = Dash::start().await;
    let (compound, _coordinator) = dash.small_compound().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.db");
    let replica = Mutex::new(Replica::open(&path).unwrap());
    let client = RelayClient::new(dash.url(), None).unwrap();
    let joined =
        http::join_as(&replica, &client, &dash.volunteer_invite(compound).await, "李强的手机", Some("李强"))
            .await
            .unwrap();
    let client = client.with_token(joined.token.clone());

    let first = http::sync(&replica, &client, now).await.unwrap();
    assert_eq!(first.document_lists, 1, "the first sync brings the list: {first:?}");
    assert!(replica.lock().unwrap().keeps_document_list());
    let held = kinds(&replica);
    assert_eq!(held, [DocKind::Requests, DocKind::Roster]);

    let again = http::sync(&replica, &client, now).await.unwrap();
    assert_eq!(again.document_lists, 0, "a reconnect with nothing new carries no list");
    assert!(again.bytes_down < first.bytes_down);
    assert_eq!(kinds(&replica), held, "the kept list keeps the documents");

    // The list is in the file: after a restart, the reconnect still carries none.
    crate::relay_harness::reopen(&replica, &path);
    assert!(replica.lock().unwrap().keeps_document_list());
    let restarted = http::sync(&replica, &client, now).await.unwrap();
    assert_eq!(restarted.document_lists, 0);
    assert_eq!(kinds(&replica), held);

    // Made a coordinator: the list comes with the new role, and the care ledger with it.
    dash.state
        .relay
        .storage()
        .set_membership(joined.person, compound, Role::Coordinator, now())
        .await
        .unwrap();
    let promoted = http::sync(&replica, &client, now).await.unwrap();
    assert_eq!(promoted.document_lists, 1, "a role change changes the list");
    assert_eq!(replica.lock().unwrap().role(compound), Some(Role::Coordinator));
    assert_eq!(kinds(&replica), [DocKind::Care, DocKind::Requests, DocKind::Roster]);
    assert_eq!(http::sync(&replica, &client, now).await.unwrap().document_lists, 0);

    // Revoked after an unchanged reconnect: the empty list comes, and the phone drops everything.
    let (status, body) = dash
        .relay
        .json(
            "POST",
            &format!("/v1/compounds/{compound}/members/{}/revoke", joined.person),
            &dash.relay.admin_token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let revoked = http::sync(&replica, &client, now).await.unwrap();
    assert_eq!(revoked.document_lists, 1);
    assert_eq!(revoked.removed_from, vec!["香樟苑".to_owned()]);
    assert_eq!(replica.lock().unwrap().compounds().count(), 0, "the revoked phone holds no compound");

    // Joining again (here as another person) starts from the relay's list, not the kept one.
    let rejoined =
        http::join_as(&replica, &client, &dash.volunteer_invite(compound).await, "李强的手机", Some("赵敏"))
            .await
            .unwrap();
    assert!(!replica.lock().unwrap().keeps_document_list(), "joining forgets the kept list");
    let client = client.with_token(rejoined.token.clone());
    let back = http::sync(&replica, &client, now).await.unwrap();
    assert_eq!(back.document_lists, 1);
    assert_eq!(kinds(&replica), [DocKind::Requests, DocKind::Roster]);
}
