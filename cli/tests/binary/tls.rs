//! TLS on the relay, end to end: a throwaway CA made in the test signs the relay's
//! certificate; the relay serves HTTPS itself (rustls, ring); a phone (the real replica and its
//! HTTPS transport, told to trust the CA) joins and syncs; without the CA the phone refuses the
//! relay; plain HTTP to the TLS port gets a clear 400; over HTTPS responses carry HSTS and the
//! dashboard's cookie is `Secure`. The command-line phone (the real binary) is told the CA with
//! `--ca-cert`, and says the certificate is not trusted without it.

use std::path::Path;
use std::sync::{Arc, Mutex};

use doorstep_core::Timestamp;
use doorstep_replica::Replica;
use doorstep_replica::http::{self, RelayClient, TransportError};
use doorstep_server::connections::tls::{TlsError, acceptor};
use doorstep_server::relay::Relay;
use doorstep_server::storage::sqlite::SqliteStorage;
use doorstep_server::{AppState, Config};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::ROSTER_CSV;

/// A CA and a relay certificate for 127.0.0.1 and localhost it signed, as PEM files in `dir`;
/// returns the CA's PEM.
fn make_certificates(dir: &Path) -> String {
    make_certificates_ending(dir, None)
}

/// [`make_certificates`], the relay's certificate ending at `not_after` (seconds since the
/// epoch) if given.
fn make_certificates_ending(dir: &Path, not_after: Option<u64>) -> String {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "Doorstep test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let relay_key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, "doorstep relay");
    if let Some(secs) = not_after {
        params.not_after = rcgen::date_time_ymd(1970, 1, 1) + std::time::Duration::from_secs(secs);
    }
    let cert = params.signed_by(&relay_key, &ca).unwrap();
    // The chain the relay presents: its certificate, then the CA's.
    std::fs::write(dir.join("relay.pem"), format!("{}{}", cert.pem(), ca.pem())).unwrap();
    std::fs::write(dir.join("relay.key"), relay_key.serialize_pem()).unwrap();
    ca.pem()
}

struct TlsRelay {
    url: String,
    addr: std::net::SocketAddr,
    admin_token: String,
    ca_pem: String,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start() -> TlsRelay {
    start_ending(None).await
}

/// [`start`], the relay's certificate ending at `not_after` (seconds since the epoch) if given.
async fn start_ending(not_after: Option<u64>) -> TlsRelay {
    // reqwest's rustls without a provider of its own: the ring provider, as the replica installs it.
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let ca_pem = make_certificates_ending(dir.path(), not_after);
    let tls = acceptor(&dir.path().join("relay.pem"), &dir.path().join("relay.key")).unwrap();
    let storage = SqliteStorage::open(dir.path().join("relay.db")).await.unwrap();
    let opened = Relay::open(Arc::new(storage)).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = AppState::new(opened.relay, Config::default());
    tokio::spawn(doorstep_server::serve(listener, state, Some(tls), async move {
        let _ = stopped.await;
    }));
    TlsRelay {
        url: format!("https://{addr}"),
        addr,
        admin_token: opened.admin_token.unwrap(),
        ca_pem,
        _dir: dir,
        _stop: stop,
    }
}

/// A plain HTTPS client that trusts the test CA.
fn client(relay: &TlsRelay) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(relay.ca_pem.as_bytes()).unwrap();
    reqwest::Client::builder().tls_certs_merge([ca]).build().unwrap()
}

async fn post(
    client: &reqwest::Client,
    url: String,
    token: &str,
    body: Value,
) -> (StatusCode, Value, String) {
    let res = client
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let hsts = res
        .headers()
        .get("strict-transport-security")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let status = res.status();
    (status, serde_json::from_slice(&res.bytes().await.unwrap()).unwrap_or(Value::Null), hsts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_joins_and_syncs_over_https_with_a_private_ca() {
    let relay = start().await;
    let admin = client(&relay);
    let (status, compound, hsts) =
        post(&admin, format!("{}/v1/compounds", relay.url), &relay.admin_token, json!({"name": "香樟苑"}))
            .await;
    assert_eq!(status, StatusCode::CREATED, "{compound}");
    assert_eq!(hsts, "max-age=31536000", "HSTS over HTTPS");
    let compound = compound["id"].as_str().unwrap().to_owned();
    let res = admin
        .post(format!("{}/v1/compounds/{compound}/roster", relay.url))
        .bearer_auth(&relay.admin_token)
        .header("content-type", "text/csv")
        .body(ROSTER_CSV)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let invite = |role: &'static str| {
        let admin = admin.clone();
        let url = format!("{}/v1/compounds/{compound}/invites", relay.url);
        let token = relay.admin_token.clone();
        async move {
            post(&admin, url, &token, json!({"role": role})).await.1["code"].as_str().unwrap().to_owned()
        }
    };

    // The phone: a real replica file and its HTTPS transport, trusting the private CA.
    let dir = tempfile::tempdir().unwrap();
    let replica = Mutex::new(Replica::open(dir.path().join("phone.sqlite")).unwrap());
    let transport = RelayClient::with_root_certificate(&relay.url, None, relay.ca_pem.as_bytes()).unwrap();
    let joined = http::join(&replica, &transport, &invite("volunteer").await, "李强的手机").await.unwrap();
    let transport = transport.with_token(joined.token);
    let report =
        http::sync(&replica, &transport, || Timestamp::from_millis(1_790_000_000_000)).await.unwrap();
    assert!(report.rejected.is_empty() && report.failed.is_empty(), "{report:?}");
    assert!(report.fetched.len() >= 2, "roster and requests arrived: {report:?}");
    let households = replica.lock().unwrap().compounds().next().map(|c| c.households().len());
    assert_eq!(households, Some(6), "the roster arrived over HTTPS");

    // Without the CA the phone refuses the relay's certificate.
    let untrusting = RelayClient::new(&relay.url, None).unwrap();
    let refused = untrusting.join(&invite("volunteer").await, "陌生手机", None, None).await.unwrap_err();
    assert!(matches!(refused, TransportError::Untrusted(_)), "{refused:?}");
    let said = refused.to_string();
    assert!(
        said.contains("不受信任") && said.contains("not trusted") && said.contains("--ca-cert"),
        "{said}"
    );
    // The relay counts the handshake the phone broke off (it is what an expired or untrusted
    // certificate looks like from the relay's side), once it has read the phone's alert.
    let started = std::time::Instant::now();
    loop {
        let metrics = admin.get(format!("{}/metrics", relay.url)).send().await.unwrap().text().await.unwrap();
        let failures: u64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix("doorstep_tls_handshake_failures_total "))
            .unwrap()
            .parse()
            .unwrap();
        if failures >= 1 {
            break;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "no failed handshake counted");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // The dashboard's cookie is Secure over HTTPS.
    let (status, coordinator, _) = post(
        &admin,
        format!("{}/v1/join", relay.url),
        "",
        json!({"invite_code": invite("coordinator").await, "device_name": "王芳的电脑"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{coordinator}");
    let res = admin
        .post(format!("{}/dashboard/login", relay.url))
        .header("content-type", "application/json")
        .body(json!({"token": coordinator["token"]}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = res.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(cookie.ends_with("; Secure"), "{cookie}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_the_tls_port_is_told_to_use_https() {
    let relay = start().await;
    let res = reqwest::get(format!("http://{}/healthz", relay.addr)).await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let text = res.text().await.unwrap();
    assert!(text.contains("https://") && text.contains("HTTPS"), "{text}");

    // A raw client that sends garbage gets the same answer, then the connection closes.
    let mut raw = tokio::net::TcpStream::connect(relay.addr).await.unwrap();
    raw.write_all(b"hello\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    raw.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 400 Bad Request"), "{answer}");

    // And HTTPS on the same port still works.
    let res = client(&relay).get(format!("{}/healthz", relay.url)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

/// A relay that serves on past its certificate's notAfter says so: while it ends soon a warning
/// line on `/healthz` (still 200), and once it has ended a 503 naming the file and the date,
/// without a restart (the check at start alone let weeks of serving pass it silently).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_says_the_certificate_ends_soon_and_fails_once_it_has_ended() {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let relay = start_ending(Some(now + 3)).await;
    let health = |client: reqwest::Client| {
        let url = format!("{}/healthz", relay.url);
        async move {
            let res = client.get(url).send().await.unwrap();
            (res.status(), res.text().await.unwrap())
        }
    };
    let (status, text) = health(client(&relay)).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(text.starts_with("ok\n"), "{text}");
    assert!(
        text.contains("warning: the relay's certificate in") && text.contains("expires in 0 days"),
        "{text}"
    );

    // Past its notAfter: a load balancer's check (which does not judge the certificate) is
    // told. Phones refuse the handshake by then.
    tokio::time::sleep(std::time::Duration::from_millis(4_500)).await;
    let anyway = reqwest::Client::builder().danger_accept_invalid_certs(true).build().unwrap();
    let (status, text) = health(anyway).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
    assert!(text.contains("relay.pem") && text.contains("expired on") && text.contains("restart"), "{text}");
}

#[test]
fn unusable_certificates_and_keys_are_named() {
    let dir = tempfile::tempdir().unwrap();
    make_certificates(dir.path());
    let (cert, key) = (dir.path().join("relay.pem"), dir.path().join("relay.key"));
    let missing = dir.path().join("missing.pem");
    assert!(matches!(acceptor(&missing, &key), Err(TlsError::Certificate { .. })));
    assert!(matches!(acceptor(&key, &key), Err(TlsError::Certificate { .. })), "a key is not a certificate");
    assert!(matches!(acceptor(&cert, &cert), Err(TlsError::Key { .. })), "a certificate is not a key");
    std::fs::write(dir.path().join("other.key"), KeyPair::generate().unwrap().serialize_pem()).unwrap();
    let e = acceptor(&cert, &dir.path().join("other.key")).err().unwrap();
    assert!(matches!(e, TlsError::Config(_)), "{e:?}");
    assert!(e.to_string().contains("不匹配"), "{e}");
    assert!(acceptor(&cert, &key).is_ok());
}

/// Runs the real binary's `doorstep phone --db <db> --json <args>`.
fn phone(db: &Path, args: &[&str]) -> Result<Value, String> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_doorstep"))
        .arg("phone")
        .arg("--db")
        .arg(db)
        .arg("--json")
        .args(args)
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.success() {
        Ok(serde_json::from_str(stdout.trim()).unwrap_or(Value::String(stdout.into_owned())))
    } else {
        Err(format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_phone_trusts_the_relay_s_ca_with_ca_cert_and_says_why_without_it() {
    let relay = start().await;
    let admin = client(&relay);
    let (status, compound, _) =
        post(&admin, format!("{}/v1/compounds", relay.url), &relay.admin_token, json!({"name": "香樟苑"}))
            .await;
    assert_eq!(status, StatusCode::CREATED, "{compound}");
    let compound = compound["id"].as_str().unwrap().to_owned();
    let res = admin
        .post(format!("{}/v1/compounds/{compound}/roster", relay.url))
        .bearer_auth(&relay.admin_token)
        .header("content-type", "text/csv")
        .body(ROSTER_CSV)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let invite_url = format!("{}/v1/compounds/{compound}/invites", relay.url);
    let (_, invite, _) =
        post(&admin, invite_url.clone(), &relay.admin_token, json!({"role": "volunteer"})).await;
    let code = invite["code"].as_str().unwrap().to_owned();

    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("relay-ca.pem");
    std::fs::write(&ca, &relay.ca_pem).unwrap();
    let ca_arg = ca.to_str().unwrap();
    let db = dir.path().join("phone.sqlite");
    let join = |extra: &[&str]| {
        let mut args = extra.to_vec();
        args.extend(["join", "--relay", &relay.url, "--name", "李强", &code]);
        phone(&db, &args)
    };

    // Without the CA: refused, in both languages, saying what to pass.
    let err = tokio::task::block_in_place(|| join(&[])).unwrap_err();
    assert!(err.contains("不受信任") && err.contains("not trusted") && err.contains("--ca-cert"), "{err}");

    // A CA file that is not one is named.
    let bad = dir.path().join("not-a-ca.pem");
    std::fs::write(&bad, "hello").unwrap();
    let err = tokio::task::block_in_place(|| join(&["--ca-cert", bad.to_str().unwrap()])).unwrap_err();
    assert!(err.contains("--ca-cert") && err.contains("PEM"), "{err}");

    // With it: joined over HTTPS, the roster arrived, and later syncs use it too.
    let joined = tokio::task::block_in_place(|| join(&["--ca-cert", ca_arg])).unwrap();
    assert_eq!(joined["role"], "volunteer", "{joined}");
    let found = tokio::task::block_in_place(|| phone(&db, &["find", "1-1-101"])).unwrap();
    assert_eq!(found["head"], "管建强");
    let synced = tokio::task::block_in_place(|| phone(&db, &["--ca-cert", ca_arg, "sync"]));
    assert!(synced.is_ok(), "{synced:?}");
    let err = tokio::task::block_in_place(|| phone(&db, &["sync"])).unwrap_err();
    assert!(err.contains("not trusted"), "a later sync without the CA is refused too: {err}");

    // Plain HTTP to the TLS port: told to use https://.
    let (_, invite, _) = post(&admin, invite_url, &relay.admin_token, json!({"role": "volunteer"})).await;
    let code = invite["code"].as_str().unwrap().to_owned();
    let plain_url = format!("http://{}", relay.addr);
    let other = dir.path().join("plain-http.sqlite");
    let err = tokio::task::block_in_place(|| {
        phone(&other, &["join", "--relay", &plain_url, "--name", "赵敏", &code])
    })
    .unwrap_err();
    assert!(err.contains("https://") && err.contains("HTTPS"), "{err}");
}
