//! `Replica.openEncrypted` with a host key provider: the key the host gives opens the file, any
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
    Replica::open_encrypted(path.to_owned(), "http://127.0.0.1:9".to_owned(), None, Arc::new(keys))
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
    let plain = Replica::open(path, "http://127.0.0.1:9".to_owned(), None).unwrap_err();
    assert!(matches!(&plain, DoorstepError::Locked { .. }), "{plain:?}");
}
