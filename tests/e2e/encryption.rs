//! The command-line phone encrypted at rest with `--key-file`: after joining 香樟苑 from the
//! sample ledger its file holds no plain name, number or request text; it does not open
//! without its key or with another, and says so.

use crate::harness::{Phone, Relay, sample};
use crate::leaks::{Secrets, replica_bytes};

#[test]
fn a_phone_with_a_key_file_keeps_its_compound_encrypted() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(dir.path());
    let compound = relay.compound_from("香樟苑", &sample("xiangzhangyuan-roster.csv"));
    let coordinator = Phone::new(dir.path(), "coordinator");
    coordinator.join(&relay, &relay.invite(&compound, "coordinator"));
    let request = "硝苯地平 每日两次";
    coordinator.ok(&["request", "1-1-201", request, "--category", "medicine"]);
    coordinator.sync();

    let phone = Phone::new(dir.path(), "volunteer");
    let key = dir.path().join("volunteer.key");
    let key_arg = key.to_str().unwrap();
    let code = relay.invite(&compound, "volunteer");
    phone.ok(&["--key-file", key_arg, "join", "--relay", &relay.url, "--name", "李强", &code]);
    assert_eq!(std::fs::read_to_string(&key).unwrap().trim().len(), 64, "a fresh key was written");
    assert_eq!(phone.ok(&["--key-file", key_arg, "find", "1-1-101"])["head"], "管建强");

    let leaks = Secrets::from_ledger(&[request]).found_in(&replica_bytes(&phone.db));
    assert!(leaks.is_empty(), "plain data in an encrypted phone: {:?}", &leaks[..leaks.len().min(10)]);

    let err = phone.run(&["find", "1-1-101"]).unwrap_err();
    assert!(err.contains("encrypted") && err.contains("--key-file"), "{err}");
    let other = dir.path().join("other.key");
    let err = phone.run(&["--key-file", other.to_str().unwrap(), "find", "1-1-101"]).unwrap_err();
    assert!(err.contains("another key"), "{err}");
    assert!(!other.exists(), "the key made for nothing was taken back");
    std::fs::write(dir.path().join("bad.key"), "not a key").unwrap();
    let err = phone.run(&["--key-file", dir.path().join("bad.key").to_str().unwrap(), "status"]).unwrap_err();
    assert!(err.contains("64 hex digits"), "{err}");
}

/// With no key option at all the phone is encrypted: a key file is made next to its file
/// (owner-only), the file holds no plain name, and opening it `--unencrypted` is refused. A phone
/// file from before (plain) is sealed in place the first time it is opened without the option.
#[test]
fn a_phone_is_encrypted_by_default_with_its_key_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(dir.path());
    let compound = relay.compound_from("香樟苑", &sample("xiangzhangyuan-roster.csv"));

    let phone = Phone::new(dir.path(), "volunteer");
    phone.join(&relay, &relay.invite(&compound, "volunteer"));
    let key = dir.path().join("volunteer.sqlite.key");
    assert_eq!(std::fs::read_to_string(&key).unwrap().trim().len(), 64, "the default key file was made");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the key file is readable by its owner only");
    }
    assert_eq!(phone.ok(&["find", "1-1-101"])["head"], "管建强");
    let leaks = Secrets::from_ledger(&[]).found_in(&replica_bytes(&phone.db));
    assert!(leaks.is_empty(), "plain data in a default phone: {:?}", &leaks[..leaks.len().min(10)]);
    let plain = Phone::unencrypted(dir.path(), "volunteer");
    let err = plain.run(&["find", "1-1-101"]).unwrap_err();
    assert!(err.contains("encrypted") && err.contains("--key-file"), "{err}");
    let err = plain.run(&["--key-file", key.to_str().unwrap(), "status"]).unwrap_err();
    assert!(err.contains("--unencrypted") && err.contains("--key-file"), "both options are refused: {err}");

    // A plain phone, as the phone made before encryption was the default.
    let old = Phone::unencrypted(dir.path(), "old");
    old.join(&relay, &relay.invite(&compound, "volunteer"));
    assert!(
        !Secrets::from_ledger(&[]).found_in(&replica_bytes(&old.db)).is_empty(),
        "the plain phone shows names"
    );
    let upgraded = Phone::new(dir.path(), "old");
    assert_eq!(upgraded.ok(&["find", "1-1-101"])["head"], "管建强", "its data survives the sealing");
    let leaks = Secrets::from_ledger(&[]).found_in(&replica_bytes(&old.db));
    assert!(leaks.is_empty(), "plain data after sealing in place: {:?}", &leaks[..leaks.len().min(10)]);

    // A phone file encrypted with a key kept elsewhere is not given a new key beside it.
    let elsewhere = Phone::new(dir.path(), "elsewhere");
    let kept = dir.path().join("usb-stick.key");
    elsewhere.ok(&["--key-file", kept.to_str().unwrap(), "status"]);
    let err = elsewhere.run(&["status"]).unwrap_err();
    assert!(err.contains("encrypted") && err.contains("--key-file"), "{err}");
    assert!(!dir.path().join("elsewhere.sqlite.key").exists(), "no stray key file was left");
}
