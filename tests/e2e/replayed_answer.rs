//! A box on a plain-HTTP path (a caching or transparent proxy, a misconfigured balancer) that
//! hands a phone a sync answer meant for another phone, another relay or an earlier request. The
//! phone applies only an answer naming the request it sent (core's `sync/answer_to.rs`): before,
//! a replayed answer from another compound's relay made the phone wipe its compound, say the
//! volunteer was removed and set their unsynced knock aside for review.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::harness::{Phone, Relay, sample};

/// What the box does with the next sync answers.
#[derive(Clone)]
enum Mode {
    /// Forwards, and keeps each sync answer it forwards.
    Forward,
    /// Answers every sync request with these bytes (head and body), without forwarding it.
    Replay(Vec<u8>),
    /// Forwards, with the header naming the request taken out of the answer (as from a relay
    /// older than request ids).
    Strip,
}

/// The box: one address on 127.0.0.1 forwarding to one relay, one request per connection.
struct PathBox {
    url: String,
    mode: Arc<Mutex<Mode>>,
    last_sync_answer: Arc<Mutex<Option<Vec<u8>>>>,
}

impl PathBox {
    fn start(relay: &Relay) -> PathBox {
        let upstream: SocketAddr = relay.url.trim_start_matches("http://").parse().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mode = Arc::new(Mutex::new(Mode::Forward));
        let last_sync_answer = Arc::new(Mutex::new(None));
        let (m, kept) = (Arc::clone(&mode), Arc::clone(&last_sync_answer));
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let (m, kept) = (Arc::clone(&m), Arc::clone(&kept));
                std::thread::spawn(move || serve_one(client, upstream, &m, &kept));
            }
        });
        PathBox { url, mode, last_sync_answer }
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn last_sync_answer(&self) -> Vec<u8> {
        self.last_sync_answer.lock().unwrap().clone().expect("a sync answer went through the box")
    }
}

/// Reads one request (head and `content-length` body), answers it by `mode`, and closes.
fn serve_one(client: TcpStream, upstream: SocketAddr, mode: &Mutex<Mode>, kept: &Mutex<Option<Vec<u8>>>) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut head = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().unwrap();
        }
        if line == "\r\n" {
            // The relay closes after answering, so the answer can be read to its end.
            head.extend_from_slice(b"connection: close\r\n\r\n");
            break;
        }
        if !line.to_ascii_lowercase().starts_with("connection:") {
            head.extend_from_slice(line.as_bytes());
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let is_sync = head.starts_with(b"POST /v1/sync ");
    let mode = mode.lock().unwrap().clone();
    let answer = match mode {
        Mode::Replay(answer) if is_sync => answer,
        _ => {
            let mut relay = TcpStream::connect(upstream).unwrap();
            relay.write_all(&head).unwrap();
            relay.write_all(&body).unwrap();
            let mut answer = Vec::new();
            relay.read_to_end(&mut answer).unwrap();
            if matches!(mode, Mode::Strip) {
                answer = without_header(&answer, "x-doorstep-answer-to");
            }
            if is_sync {
                *kept.lock().unwrap() = Some(answer.clone());
            }
            answer
        }
    };
    let mut client = client;
    let _ = client.write_all(&answer);
}

/// `answer` without its header `name`.
fn without_header(answer: &[u8], name: &str) -> Vec<u8> {
    let end = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&answer[..end]);
    let kept: String = head
        .split_inclusive("\r\n")
        .filter(|line| !line.to_ascii_lowercase().starts_with(&format!("{name}:")))
        .collect();
    assert_ne!(kept.len(), head.len(), "the relay's answer named the request");
    [kept.as_bytes(), &answer[end..]].concat()
}

/// A relay in `dir`/`name` with a compound of the Beilin ledger, and a volunteer's invite code.
fn relay_with_volunteer_invite(dir: &std::path::Path, name: &str) -> (Relay, String, String) {
    let relay = Relay::start(&dir.join(name));
    let compound = relay.compound_from(name, &sample("beilin-roster.csv"));
    let code = relay.invite(&compound, "volunteer");
    (relay, compound, code)
}

fn refused_as_not_the_relays(phone: &Phone) -> String {
    let (ok, out, err) = phone.text(&["sync"]);
    let said = format!("{out}{err}");
    assert!(!ok, "the sync took an answer that was not to its request: {said}");
    assert!(said.contains(doorstep_replica::NOT_FROM_THE_RELAY), "{said}");
    assert!(!said.contains("removed") && !said.contains("移出"), "{said}");
    said
}

fn status(phone: &Phone) -> Value {
    phone.ok(&["status"])
}

#[test]
fn an_answer_to_another_request_is_not_applied_and_the_work_stays_for_the_next_sync() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("a")).unwrap();
    std::fs::create_dir_all(dir.path().join("b")).unwrap();
    let (relay_a, compound_a, code_a) = relay_with_volunteer_invite(dir.path(), "a");
    let (relay_b, _, code_b) = relay_with_volunteer_invite(dir.path(), "b");
    let path_a = PathBox::start(&relay_a);
    let path_b = PathBox::start(&relay_b);

    // A volunteer of relay A's compound and one of relay B's, each behind its box.
    let phone = Phone::new(dir.path(), "a-phone");
    phone.ok(&["join", "--relay", &path_a.url, "--name", "李强", &code_a]);
    let other = Phone::new(dir.path(), "b-phone");
    other.ok(&["join", "--relay", &path_b.url, "--name", "张伟", &code_b]);
    let answer_of_relay_b = path_b.last_sync_answer();
    let own_earlier_answer = path_a.last_sync_answer();
    let holds = |phone: &Phone| status(phone)["compounds"].clone();
    let held = holds(&phone);
    assert_eq!(held[0]["documents"], 2, "{held}");

    // A knock's note, then relay B's answer handed to this phone by the box.
    phone.ok(&["notes", "北林小区1号楼1单元101", "独居老人，敲门要大声"]);
    for (case, answer) in
        [("relay B's answer", answer_of_relay_b), ("its own earlier answer", own_earlier_answer)]
    {
        path_a.set(Mode::Replay(answer));
        refused_as_not_the_relays(&phone);
        let now = status(&phone);
        assert_eq!(now["unsynced"], 1, "{case}: the note waits for the next sync: {now}");
        assert_eq!(now["set_aside"], 0, "{case}: nothing set aside: {now}");
        assert_eq!(now["removed_from"], serde_json::json!([]), "{case}: {now}");
        assert_eq!(holds(&phone), held, "{case}: the compound is not wiped");
        assert_eq!(phone.ok(&["find", "北林小区1号楼1单元101"])["notes"], "独居老人，敲门要大声", "{case}");
    }

    // An answer naming no request is a relay's older than request ids (one rolled back must go
    // on syncing its phones), and is taken: the note goes up through a box that takes the
    // header out of honest answers.
    path_a.set(Mode::Strip);
    phone.sync();
    assert_eq!(status(&phone)["unsynced"], 0);
    phone.ok(&["notes", "北林小区1号楼1单元102", "透析，周二周五"]);

    // Back on an honest path, the note goes up and nothing was lost or set aside.
    path_a.set(Mode::Forward);
    phone.sync();
    let now = status(&phone);
    assert_eq!((now["unsynced"].clone(), now["set_aside"].clone()), (0.into(), 0.into()), "{now}");
    let reader = Phone::new(dir.path(), "a-reader");
    reader.join_as(&relay_a, "王芳", &relay_a.invite(&compound_a, "coordinator"));
    assert_eq!(reader.ok(&["find", "北林小区1号楼1单元101"])["notes"], "独居老人，敲门要大声");
    assert_eq!(reader.ok(&["find", "北林小区1号楼1单元102"])["notes"], "透析，周二周五");
}
