//! The bindings' HTTPS transport (feature `tls`) against a real relay serving TLS itself, its
//! certificate signed by a throwaway CA made in the test: a phone given the CA through
//! `Replica.open(…, relay_ca_pem)` joins and syncs the roster; one without it is told the
//! relay's certificate is not trusted; plain HTTP to the TLS port is told to use HTTPS.
//!
//! `cargo test -p doorstep-ffi --features tls --test https` (scripts/test runs it).
#![cfg(feature = "tls")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::Path;
use std::sync::Arc;

use doorstep_ffi::{DoorstepError, Replica};
use doorstep_server::connections::tls::acceptor;
use doorstep_server::relay::Relay;
use doorstep_server::storage::sqlite::SqliteStorage;
use doorstep_server::{AppState, Config};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use serde_json::json;
use support::{Admin, Keys, ROSTER_CSV};

/// A CA and a relay certificate for 127.0.0.1 it signed, as PEM files in `dir`; returns the
/// CA's PEM.
fn make_certificates(dir: &Path) -> String {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "Doorstep bindings test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let relay_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, "doorstep relay");
    let cert = params.signed_by(&relay_key, &ca).unwrap();
    std::fs::write(dir.join("relay.pem"), format!("{}{}", cert.pem(), ca.pem())).unwrap();
    std::fs::write(dir.join("relay.key"), relay_key.serialize_pem()).unwrap();
    ca.pem()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_given_the_relay_s_ca_syncs_over_https_and_one_without_it_is_told_why() {
    let dir = tempfile::tempdir().unwrap();
    let ca_pem = make_certificates(dir.path());
    let tls = acceptor(&dir.path().join("relay.pem"), &dir.path().join("relay.key")).unwrap();
    let storage = SqliteStorage::open(dir.path().join("relay.db")).await.unwrap();
    let opened = Relay::open(Arc::new(storage)).await.unwrap();
    let admin_token = opened.admin_token.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = AppState::new(opened.relay, Config::default());
    tokio::spawn(doorstep_server::serve(listener, state, Some(tls), async move {
        let _ = stopped.await;
    }));
    let url = format!("https://{addr}");

    // Opening the phone installs rustls' ring provider, which the admin's client below uses too.
    let phone_db = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let phone =
        Replica::open(phone_db("trusting.sqlite"), url.clone(), None, Arc::new(Keys), Some(ca_pem.clone()))
            .unwrap();

    // The coordinator's side over HTTPS: a compound, its roster, an invite.
    let admin = reqwest::Client::builder()
        .tls_certs_merge([reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap()])
        .build()
        .unwrap();
    let api = Admin { client: admin.clone(), url: url.clone(), token: admin_token.clone() };
    let compound = api.post("/v1/compounds", "application/json", json!({"name": "香樟苑"}).to_string()).await;
    let compound = compound["id"].as_str().unwrap().to_owned();
    api.post(&format!("/v1/compounds/{compound}/roster"), "text/csv", ROSTER_CSV.to_owned()).await;
    let invite = api
        .post(
            &format!("/v1/compounds/{compound}/invites"),
            "application/json",
            json!({"role": "volunteer"}).to_string(),
        )
        .await;
    let code = invite["code"].as_str().unwrap().to_owned();

    // A phone told the relay's CA: joins, syncs, holds the roster, encrypted at rest.
    let joined = phone.join(code.clone(), "李强的手机".to_owned()).await.unwrap();
    let report = phone.sync().await.unwrap();
    assert!(report.rejected.is_empty(), "{report:?}");
    let households = phone.households(joined.compound).unwrap();
    assert_eq!(households.len(), 2, "the roster arrived over HTTPS");
    assert!(households.iter().any(|h| h.head == "管建强"), "{households:?}");

    // A phone not told the CA refuses the relay, and says so in both languages.
    let untrusting =
        Replica::open(phone_db("untrusting.sqlite"), url.clone(), None, Arc::new(Keys), None).unwrap();
    let refused = untrusting.join(code.clone(), "陌生手机".to_owned()).await.unwrap_err();
    assert!(
        matches!(&refused, DoorstepError::Untrusted { reason }
            if reason.contains("不受信任") && reason.contains("not trusted")),
        "{refused:?}"
    );

    // Plain HTTP to the TLS port is refused with a pointer to HTTPS.
    let plain = Replica::open(phone_db("plain.sqlite"), format!("http://{addr}"), None, Arc::new(Keys), None)
        .unwrap();
    let refused = plain.join(code, "明文手机".to_owned()).await.unwrap_err();
    assert!(
        matches!(&refused, DoorstepError::Rejected { reason } if reason.contains("https://")),
        "{refused:?}"
    );
    drop(stop);
}
