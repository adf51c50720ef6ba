//! Starting the real `doorstep` relay and command-line phones as processes on loopback.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The `doorstep` binary next to this test's binary (`cargo test --workspace` builds it). A
/// binary older than the relay's, phone's or core's sources is refused: the tests would
/// otherwise try yesterday's relay and pass or fail for the wrong reason.
pub fn doorstep() -> PathBuf {
    static CHECKED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    CHECKED.get_or_init(fresh_doorstep).clone()
}

fn fresh_doorstep() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("doorstep");
    let built = std::fs::metadata(&bin).and_then(|m| m.modified()).unwrap_or_else(|_| {
        panic!("{} is missing: run `cargo test --workspace` (or `cargo build --workspace`)", bin.display())
    });
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace");
    for sources in
        ["cli/src", "phone/src", "server/src", "server/assets", "server/build.rs", "core/src", "replica/src"]
    {
        if let Some((newest, file)) = newest_file(&repo.join(sources)) {
            assert!(
                newest <= built,
                "{} is older than {}: run `cargo test --workspace` (or `cargo build --workspace`) so the \
                 end-to-end tests try the relay just built",
                bin.display(),
                file.display()
            );
        }
    }
    bin
}

/// The most recently modified file under `path` (or `path` itself), with its time.
fn newest_file(path: &Path) -> Option<(std::time::SystemTime, PathBuf)> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.is_file() {
        return Some((meta.modified().ok()?, path.to_path_buf()));
    }
    std::fs::read_dir(path)
        .ok()?
        .flatten()
        .filter_map(|entry| newest_file(&entry.path()))
        .max_by_key(|(time, _)| *time)
}

/// A relay process on 127.0.0.1 with its own SQLite file.
pub struct Relay {
    pub db: PathBuf,
    pub url: String,
    child: Option<Child>,
    pub admin_token: Option<String>,
    /// Where the relay's log (its stderr) goes, if kept: see [`Relay::start_keeping_log`].
    pub log: Option<PathBuf>,
}

impl Relay {
    /// Starts a relay on a fresh database in `dir`.
    pub fn start(dir: &Path) -> Relay {
        let mut relay =
            Relay { db: dir.join("relay.db"), url: String::new(), child: None, admin_token: None, log: None };
        relay.spawn(None);
        relay
    }

    /// Starts a relay on a fresh database in `dir` whose log (warnings and above, with
    /// `RUST_BACKTRACE=1` as an operator chasing a fault would set it) is kept in `dir/relay.log`.
    pub fn start_keeping_log(dir: &Path) -> Relay {
        let mut relay = Relay {
            db: dir.join("relay.db"),
            url: String::new(),
            child: None,
            admin_token: None,
            log: Some(dir.join("relay.log")),
        };
        relay.spawn(None);
        relay
    }

    /// What the relay has logged so far ([`Relay::start_keeping_log`]).
    pub fn log_text(&self) -> String {
        self.log.as_ref().map(|path| std::fs::read_to_string(path).unwrap_or_default()).unwrap_or_default()
    }

    /// The scene the delivery tests start from: a relay on a fresh database in `dir` holding
    /// 香樟苑's roster, and its coordinator 王芳, joined, who has created the vegetable round
    /// ([`Phone::create_vegetable_round`]) and synced it. Returns the relay, the compound's ID and
    /// the coordinator's phone.
    pub fn with_vegetable_round(dir: &Path) -> (Relay, String, Phone) {
        let relay = Relay::start(dir);
        let compound = relay.compound_from("香樟苑", &sample("xiangzhangyuan-roster.csv"));
        let coordinator = Phone::new(dir, "coordinator");
        coordinator.join_as(&relay, "王芳", &relay.invite(&compound, "coordinator"));
        coordinator.create_vegetable_round();
        coordinator.sync();
        (relay, compound, coordinator)
    }

    /// Starts a relay on the database at `db`: a PostgreSQL URL that other relays may share, or
    /// an SQLite file.
    pub fn start_on(db: &str) -> Relay {
        let mut relay =
            Relay { db: PathBuf::from(db), url: String::new(), child: None, admin_token: None, log: None };
        relay.spawn(None);
        relay
    }

    fn spawn(&mut self, listen: Option<&str>) {
        let listen = listen.map_or_else(|| "127.0.0.1:0".to_owned(), str::to_owned);
        let mut child = Command::new(doorstep())
            .args(["serve", "--db"])
            .arg(&self.db)
            .args(["--listen", &listen, "--rate", "1000"])
            .env("RUST_LOG", "warn")
            .env("RUST_BACKTRACE", if self.log.is_some() { "1" } else { "0" })
            .stdout(Stdio::piped())
            .stderr(match &self.log {
                Some(path) => Stdio::from(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .expect("open the relay's log"),
                ),
                None => Stdio::null(),
            })
            .spawn()
            .expect("start doorstep serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            assert!(Instant::now() < deadline, "relay did not start within 30 s");
            let line = lines.next().expect("relay exited before listening").expect("read relay output");
            if let Some(token) = line.strip_prefix("admin token: ") {
                self.admin_token = Some(token.trim().to_owned());
            }
            if let Some(rest) = line.strip_prefix("doorstep listening on ") {
                self.url = rest.split_whitespace().next().expect("url").to_owned();
                break;
            }
        }
        // Keep draining stdout so the relay never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        self.child = Some(child);
    }

    /// The address part of the URL, to restart on the same port.
    fn addr(&self) -> String {
        self.url.trim_start_matches("http://").to_owned()
    }

    /// Kills the relay with SIGKILL (no chance to flush anything).
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL the relay");
            child.wait().expect("reap the relay");
        }
    }

    /// Starts the relay again on the same database and port.
    pub fn restart(&mut self) {
        self.kill9();
        let addr = self.addr();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // The port is free again at once after SIGKILL on Linux; retry briefly in case not.
            let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut fresh = Relay {
                    db: self.db.clone(),
                    url: String::new(),
                    child: None,
                    admin_token: None,
                    log: self.log.clone(),
                };
                fresh.spawn(Some(&addr));
                fresh
            }));
            match attempt {
                Ok(mut fresh) => {
                    self.child = fresh.child.take();
                    self.url = fresh.url.clone();
                    return;
                }
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
                Err(e) => std::panic::resume_unwind(e),
            }
        }
    }

    /// Runs `doorstep admin …` on the relay's database; returns stdout, panics on failure.
    pub fn admin(&self, args: &[&str]) -> String {
        let out = Command::new(doorstep())
            .arg("admin")
            .arg("--db")
            .arg(&self.db)
            .args(args)
            .output()
            .expect("run admin");
        assert!(
            out.status.success(),
            "admin {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A compound imported from a sample ledger; returns its ID.
    pub fn compound_from(&self, name: &str, csv: &Path) -> String {
        let id = self.admin(&["create-compound", "--name", name]).trim().to_owned();
        self.admin(&["import-roster", "--compound", &id, csv.to_str().expect("utf-8 path")]);
        id
    }

    /// A single-use invite code.
    pub fn invite(&self, compound: &str, role: &str) -> String {
        self.admin(&["invite", "--compound", compound, "--role", role]).trim().to_owned()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A command-line phone: its own replica file, encrypted at rest with the key file beside it
/// (the phone's default) unless made with [`Phone::unencrypted`].
#[derive(Clone)]
pub struct Phone {
    pub db: PathBuf,
    /// Passes `--unencrypted`, for tests that read or edit the phone's file themselves.
    pub unencrypted: bool,
    /// How far ahead of the machine's the phone's clock runs (`DOORSTEP_PHONE_CLOCK_AHEAD_MS`).
    pub clock_ahead_ms: i64,
}

/// What a phone command printed, parsed, or its error.
pub type PhoneResult = Result<Value, String>;

impl Phone {
    pub fn new(dir: &Path, name: &str) -> Phone {
        Phone { db: dir.join(format!("{name}.sqlite")), unencrypted: false, clock_ahead_ms: 0 }
    }

    /// A phone whose file is not encrypted (`--unencrypted`): for tests that read its bytes to
    /// show a wipe, or edit its rows to play a tampered phone.
    pub fn unencrypted(dir: &Path, name: &str) -> Phone {
        Phone { unencrypted: true, ..Phone::new(dir, name) }
    }

    /// `doorstep phone --json …` run to its end.
    fn json_command(&self, args: &[&str]) -> std::process::Output {
        Command::new(doorstep())
            .arg("phone")
            .arg("--db")
            .arg(&self.db)
            .arg("--json")
            .args(self.unencrypted.then_some("--unencrypted"))
            .args(args)
            .env("RUST_LOG", "error")
            .env("DOORSTEP_PHONE_CLOCK_AHEAD_MS", self.clock_ahead_ms.to_string())
            .output()
            .expect("run phone")
    }

    /// Runs `doorstep phone --json …`.
    pub fn run(&self, args: &[&str]) -> PhoneResult {
        let out = self.json_command(args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        if out.status.success() {
            Ok(serde_json::from_str(stdout.trim()).unwrap_or(Value::String(stdout.into_owned())))
        } else {
            Err(format!("{}{}", stdout, String::from_utf8_lossy(&out.stderr)))
        }
    }

    /// Runs `doorstep phone --json …` that must fail; returns what it printed on stdout (one
    /// JSON line naming the failure) and on stderr.
    pub fn json_failure(&self, args: &[&str]) -> (String, String) {
        let out = self.json_command(args);
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        assert!(!out.status.success(), "phone {args:?} must fail: {}", text(&out.stdout));
        (text(&out.stdout), text(&out.stderr))
    }

    /// Runs `doorstep phone …` as a person would (text, not JSON), with `RUST_BACKTRACE=1` set
    /// and its output piped (not a terminal); returns whether it succeeded, stdout and stderr.
    pub fn text(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(doorstep())
            .arg("phone")
            .arg("--db")
            .arg(&self.db)
            .args(self.unencrypted.then_some("--unencrypted"))
            .args(args)
            .env_remove("RUST_LOG")
            .env("RUST_BACKTRACE", "1")
            .env("DOORSTEP_PHONE_CLOCK_AHEAD_MS", self.clock_ahead_ms.to_string())
            .output()
            .expect("run phone");
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        (out.status.success(), text(&out.stdout), text(&out.stderr))
    }

    /// Runs a command that must succeed.
    pub fn ok(&self, args: &[&str]) -> Value {
        self.run(args).unwrap_or_else(|e| panic!("phone {args:?} failed: {e}"))
    }

    pub fn join(&self, relay: &Relay, code: &str) -> Value {
        self.join_as(relay, "李强", code)
    }

    /// Joins with the invite `code` under the person's `name`.
    pub fn join_as(&self, relay: &Relay, name: &str, code: &str) -> Value {
        self.ok(&["join", "--relay", &relay.url, "--name", name, code])
    }

    pub fn sync(&self) -> Value {
        self.ok(&["sync"])
    }

    /// Creates the round the delivery scenarios share: a vegetable bag for every household of
    /// building 1 of 香樟苑 (42 households).
    pub fn create_vegetable_round(&self) {
        let round = serde_json::json!({
            "op": "create_round", "title": "蔬菜包 第1轮", "kind": "groceries", "date": "2026-11-23",
            "selection": {"by": "building", "estate": "香樟苑", "building": "1"},
            "items": "蔬菜包1份", "priority": "normal"
        });
        self.ok(&["op", &round.to_string()]);
    }

    /// The phone's pending tasks by door (`all`: everyone's).
    pub fn doors(&self, all: bool) -> Vec<Value> {
        let v = if all { self.ok(&["tasks", "--all"]) } else { self.ok(&["tasks"]) };
        v.as_array().cloned().unwrap_or_default()
    }
}

/// The sample ledgers kept in the repository's `data/`.
pub fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data").join(name)
}
