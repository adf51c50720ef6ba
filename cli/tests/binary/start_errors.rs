//! A relay that cannot start on its database says why and what to do, once: a missing
//! directory, a read-only directory or file, an unknown scheme, a PostgreSQL that refuses the
//! connection or lacks the database; and a relay that starts names its SQLite file by its
//! absolute path.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::binary::KillOnDrop;

/// `doorstep ARGS` run as `uid` (root may write anything, so the read-only cases run as nobody
/// when the tests run as root).
fn doorstep_as(uid: Option<u32>, args: &[&str]) -> (bool, String, String) {
    let bin = env!("CARGO_BIN_EXE_doorstep");
    let mut command = match uid {
        Some(uid) => {
            let mut c = Command::new("setpriv");
            c.args([&format!("--reuid={uid}"), &format!("--regid={uid}"), "--clear-groups", bin]);
            c
        }
        None => Command::new(bin),
    };
    let out = command.args(args).env("RUST_LOG", "warn").output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn serve_on(db: &str) -> Vec<&str> {
    vec!["serve", "--listen", "127.0.0.1:0", "--db", db]
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

#[test]
fn a_missing_directory_is_named_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nodir/sub/x.db");
    let db = db.to_str().unwrap();
    for args in [serve_on(db), vec!["admin", "--db", db, "create-compound", "--name", "北林小区"]] {
        let (ok, stdout, stderr) = doorstep_as(None, &args);
        assert!(!ok, "{stdout}");
        let missing = format!("the directory {}/nodir/sub does not exist", dir.path().display());
        assert!(stderr.contains(&missing), "{stderr}");
        assert_eq!(stderr.matches("does not exist").count(), 1, "said once: {stderr}");
        assert!(!stdout.contains("admin token"), "{stdout}");
    }
    assert!(!dir.path().join("nodir").exists());
}

/// A writable file in a directory the relay's user cannot write: SQLite cannot make its -wal
/// and -shm files, which is what the operator is told (not "a readonly database"); then a
/// read-only file in a writable directory.
#[test]
fn a_read_only_directory_or_file_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let place = dir.path().join("place");
    std::fs::create_dir(&place).unwrap();
    let db = place.join("relay.db");
    let db_text = db.to_str().unwrap();
    let (ok, _, stderr) =
        doorstep_as(None, &["admin", "--db", db_text, "create-compound", "--name", "北林小区"]);
    assert!(ok, "{stderr}");
    std::fs::remove_file(place.join("relay.db-wal")).ok();
    std::fs::remove_file(place.join("relay.db-shm")).ok();
    // As root: the directory stays root's (0755) and the file becomes nobody's.
    let (uid, nobody) =
        if is_root() { (Some(65534), 65534) } else { (None, rustix::process::geteuid().as_raw()) };
    std::os::unix::fs::chown(&db, Some(nobody), Some(nobody)).unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(&place, std::fs::Permissions::from_mode(0o555)).unwrap();
    let compound = "01935f3e-0000-7000-8000-000000000001";
    for args in [serve_on(db_text), vec!["admin", "--db", db_text, "members", "--compound", compound]] {
        let (ok, stdout, stderr) = doorstep_as(uid, &args);
        assert!(!ok && !stdout.contains("listening"), "{stdout}");
        assert!(
            stderr.contains(&format!("the directory {} is read-only for this user", place.display()))
                && stderr.contains("relay.db-wal")
                && stderr.contains("must be able to write the directory"),
            "{stderr}"
        );
    }

    // The directory writable again, the file read-only for the relay's user.
    std::fs::set_permissions(&place, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::chown(&place, Some(nobody), Some(nobody)).unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o400)).unwrap();
    if is_root() {
        std::os::unix::fs::chown(&db, Some(0), Some(0)).unwrap();
    }
    let (ok, stdout, stderr) = doorstep_as(uid, &serve_on(db_text));
    assert!(!ok && !stdout.contains("listening"), "{stdout}");
    assert!(stderr.contains(&format!("the database file {db_text} is read-only for this user")), "{stderr}");
    assert!(stderr.contains("mode 400"), "{stderr}");
}

/// `postgress://` is not taken for a file path (nor is any other scheme), and the password in
/// it is not repeated.
#[test]
fn an_unknown_scheme_is_refused_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let url = "postgress://doorstep:s3cret@127.0.0.1:5432/doorstep";
    for args in [serve_on(url), vec!["admin", "--db", url, "members", "--compound", "nope"]] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_doorstep"));
        let out = cmd.args(&args).current_dir(dir.path()).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        if args[0] == "serve" {
            assert!(stderr.contains("unknown database scheme postgress://"), "{stderr}");
        }
        assert!(!stderr.contains("s3cret"), "{stderr}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no file or directory made");
    // A PostgreSQL address missing a slash is not a file path either.
    let short = "postgres:/doorstep:s3cret@127.0.0.1:5432/doorstep";
    let out = Command::new(env!("CARGO_BIN_EXE_doorstep"))
        .args(serve_on(short))
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("starts with postgres:// (two slashes)"), "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no file or directory made");
}

/// Nothing listens on the port: the relay waits for it (`--wait-for-database`, 3 s here),
/// saying so, then gives up with the address and what to do, without the password.
#[test]
fn a_refused_postgres_connection_names_the_address() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("postgres://doorstep:s3cret@127.0.0.1:{port}/doorstep");
    let mut args = serve_on(&url);
    args.extend(["--wait-for-database", "3"]);
    let started = Instant::now();
    let (ok, stdout, stderr) = doorstep_as(None, &args);
    assert!(!ok && !stdout.contains("admin token"), "{stdout}");
    assert!(started.elapsed() >= Duration::from_secs(3), "it waited");
    assert!(
        stderr.contains(&format!("could not connect to PostgreSQL at 127.0.0.1:{port}: connection refused")),
        "{stderr}"
    );
    assert!(stderr.contains("the relay waits for it before serving"), "each try is said: {stderr}");
    assert!(stderr.contains("did not answer within 3 s (--wait-for-database)"), "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");
}

/// A database the server does not have is named in the server's words.
#[test]
fn a_missing_postgres_database_is_named() {
    let Ok(server) = std::env::var(doorstep_server::storage::postgres::scratch::ENV) else {
        eprintln!("SKIPPED a_missing_postgres_database_is_named: needs PostgreSQL (scripts/with-postgres)");
        return;
    };
    let url =
        doorstep_server::storage::postgres::scratch::with_database(&server, "doorstep_no_such_db").unwrap();
    let (ok, _, stderr) = doorstep_as(None, &serve_on(&url));
    assert!(!ok);
    assert!(
        stderr.contains("refused the connection: database \"doorstep_no_such_db\" does not exist"),
        "{stderr}"
    );
}

/// Started with a relative `--db` (as a service manager might, in a directory nobody thought
/// of), the relay names the file it opened by its absolute path.
#[test]
fn the_startup_line_names_the_absolute_path() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_doorstep"))
        .args(["serve", "--listen", "127.0.0.1:0", "--db", "relative.db"])
        .current_dir(dir.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let _child = KillOnDrop(child);
    let started = Instant::now();
    let line = loop {
        assert!(started.elapsed() < Duration::from_secs(60), "the relay did not start");
        let line = lines.next().expect("the relay exited before listening").unwrap();
        if line.starts_with("doorstep listening on ") {
            break line;
        }
    };
    let absolute = Path::new(dir.path()).join("relative.db");
    assert!(line.ends_with(&format!("(database {})", absolute.display())), "{line}");
}

/// A certificate past its notAfter is refused at start with that date (every phone would refuse
/// the handshake), before the relay binds or makes a database.
#[test]
fn an_expired_certificate_is_refused_at_start_with_its_date() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2025, 3, 9);
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(dir.path().join("exp.pem"), cert.pem()).unwrap();
    std::fs::write(dir.path().join("exp.key"), key.serialize_pem()).unwrap();
    let db = dir.path().join("relay.db");
    let (ok, stdout, stderr) = doorstep_as(
        None,
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--db",
            db.to_str().unwrap(),
            "--tls-cert",
            dir.path().join("exp.pem").to_str().unwrap(),
            "--tls-key",
            dir.path().join("exp.key").to_str().unwrap(),
        ],
    );
    assert!(!ok && stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("exp.pem expired on Mar  9 00:00:00 2025"), "{stderr}");
    assert!(!db.exists(), "no database for a relay that never ran");
}

/// `--rate 0` and `--max-connections 0` were taken without a word, and the relay served as
/// though they were not given; each is refused before anything is opened, saying what to give.
#[test]
fn limits_of_zero_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("relay.db");
    let db = db.to_str().unwrap();
    for (flag, said) in [
        ("--rate", "requests per second lets no phone sync"),
        ("--max-connections", "not in 1.."),
        ("--max-connections-per-address", "not in 1.."),
    ] {
        let mut args = serve_on(db);
        args.extend([flag, "0"]);
        let (ok, stdout, stderr) = doorstep_as(None, &args);
        assert!(!ok && !stdout.contains("listening") && stderr.contains(said), "{flag}: {stderr}");
    }
    assert!(!Path::new(db).exists(), "nothing was opened");
}
