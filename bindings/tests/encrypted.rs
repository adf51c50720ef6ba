//! `Replica.open` with a host key provider (the only way to open a replica): the key the host gives opens the file, any
//! other is refused as `Locked`, and a key store that fails is `Locked` with its reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use doorstep_ffi::{DoorstepError, KeyProviderError, Replica, ReplicaKeyProvider};

/// A host key store holding one key (or failing).
#[derive(Debug)]
struct Keys(Result<Vec<u8>, String>);

impl ReplicaKeyProvider for Keys {
    fn replica_key(&self) -> Result<Vec<u8>, KeyProviderError> {
        self.0.clone().map_err(|reason| KeyProviderError::Unavailable { reason })
    }
}

fn open(path: &str, keys: Keys) -> Result<Arc<Replica>, DoorstepError> {
    Replica::open(path.to_owned(), "http://127.0.0.1:9".to_owned(), None, Arc::new(keys), None)
}

#[test]
fn the_host_s_key_opens_the_replica_and_no_other_does() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.sqlite").to_str().unwrap().to_owned();
    drop(open(&path, Keys(Ok(vec![7; 32]))).unwrap());
    drop(open(&path, Keys(Ok(vec![7; 32]))).unwrap());

    let wrong = open(&path, Keys(Ok(vec![8; 32]))).unwrap_err();
    assert!(
        matches!(&wrong, DoorstepError::Locked { reason } if reason.contains("another key")),
        "{wrong:?}"
    );
    let short = open(&path, Keys(Ok(vec![7; 16]))).unwrap_err();
    assert!(matches!(&short, DoorstepError::Locked { reason } if reason.contains("32 bytes")), "{short:?}");
    let failing = open(&path, Keys(Err("user not authenticated".into()))).unwrap_err();
    assert!(
        matches!(&failing, DoorstepError::Locked { reason } if reason.contains("user not authenticated")),
        "{failing:?}"
    );
}

/// A replica file written before the app encrypted its data (plain, by the replica crate
/// itself) is sealed in place when the bindings open it: its data stays, its text is gone from
/// the file, and it opens with that key only from then on.
#[test]
fn a_plain_file_from_an_older_app_is_encrypted_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("phone.sqlite");
    let relay = "http://127.0.0.1:9";
    let token = "a-device-token-only-this-phone-holds";
    doorstep_replica::Replica::open(&db).unwrap().remember_relay(relay, token).unwrap();
    let plain = std::fs::read(&db).unwrap();
    assert!(plain.windows(token.len()).any(|w| w == token.as_bytes()), "the plain file holds the token");

    let path = db.to_str().unwrap().to_owned();
    drop(open(&path, Keys(Ok(vec![7; 32]))).unwrap());
    let mut sealed = std::fs::read(&db).unwrap();
    for suffix in ["-wal", "-shm"] {
        sealed.extend(std::fs::read(format!("{path}{suffix}")).unwrap_or_default());
    }
    assert!(!sealed.windows(token.len()).any(|w| w == token.as_bytes()), "the token is still in plain text");
    let reopened = doorstep_replica::Replica::open_with(
        &db,
        Some(&doorstep_replica::ReplicaKey::from_bytes(&[7; 32]).unwrap()),
    )
    .unwrap()
    .remembered_relay()
    .unwrap();
    assert_eq!(reopened, Some((relay.to_owned(), token.to_owned())), "the data survived the sealing");
    let wrong = open(&path, Keys(Ok(vec![8; 32]))).unwrap_err();
    assert!(matches!(&wrong, DoorstepError::Locked { .. }), "{wrong:?}");
}

#[test]
fn a_relay_url_or_ca_that_is_not_one_is_refused_before_the_key_is_asked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("phone.sqlite").to_str().unwrap().to_owned();
    let ftp = Replica::open(
        path.clone(),
        "ftp://relay".to_owned(),
        None,
        Arc::new(Keys(Err("asked".into()))),
        None,
    )
    .unwrap_err();
    assert!(matches!(&ftp, DoorstepError::InvalidInput { reason } if reason.contains("http")), "{ftp:?}");
    let ca = Some("not a certificate".to_owned());
    let bad = Replica::open(path, "https://relay".to_owned(), None, Arc::new(Keys(Ok(vec![7; 32]))), ca)
        .unwrap_err();
    assert!(matches!(&bad, DoorstepError::InvalidInput { .. }), "{bad:?}");
}
