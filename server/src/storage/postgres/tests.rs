//! What the shared suite cannot show: two relays' stores on one database at once.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use doorstep_core::document::Header;
use doorstep_core::id::{CompoundId, DocumentId, PersonId};
use doorstep_core::schema::vocabulary::DocKind;
use doorstep_core::{Role, Timestamp};

use super::PostgresStorage;
use super::scratch::ScratchDatabase;
use crate::storage::{CompoundRecord, DocCommit, DocumentRecord, NewPerson, Storage};

const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);

fn uuid<T: std::str::FromStr>(n: u32) -> T
where
    T::Err: std::fmt::Debug,
{
    format!("00000000-0000-7000-8000-{n:012x}").parse().unwrap()
}

/// Two stores ("relays") on one scratch database with one roster in it.
async fn two_relays(db: &ScratchDatabase) -> (Arc<PostgresStorage>, Arc<PostgresStorage>, DocumentRecord) {
    let a = Arc::new(PostgresStorage::open(db.url()).await.unwrap());
    let b = Arc::new(PostgresStorage::open(db.url()).await.unwrap());
    let admin: PersonId = uuid(1);
    a.create_person(NewPerson { id: admin, name: "admin".into(), district_admin: true }, T0).await.unwrap();
    let compound: CompoundId = uuid(2);
    let roster: DocumentId = uuid(3);
    let record =
        DocumentRecord { header: Header { id: roster, kind: DocKind::Roster, compound }, open: true };
    a.create_compound(
        CompoundRecord { id: compound, name: "c".into(), created_at: T0 },
        vec![(record, b"snapshot".to_vec())],
        vec![(admin, Role::Admin)],
    )
    .await
    .unwrap();
    (a, b, record)
}

fn chunk(record: DocumentRecord, bytes: Vec<u8>) -> DocCommit {
    DocCommit {
        record,
        create: None,
        chunk: bytes,
        known_seq: 0,
        bindings: Vec::new(),
        sync_state: None,
        decides: None,
        at: T0,
    }
}

/// Writers on both stores commit to one document while a reader catches up by `seq` the way a
/// relay's cache does. If a chunk could become visible after one with a higher `seq`, the reader
/// would step over it and miss it for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_catching_up_by_seq_misses_no_chunk_of_concurrent_writers() {
    let Some(db) = ScratchDatabase::from_env().await else { return };
    let (a, b, record) = two_relays(&db).await;
    const PER_WRITER: usize = 40;
    let mut writers = Vec::new();
    for (w, store) in [a.clone(), b.clone(), a.clone(), b.clone()].into_iter().enumerate() {
        writers.push(tokio::spawn(async move {
            for i in 0..PER_WRITER {
                store.commit(chunk(record, format!("{w}:{i}").into_bytes())).await.unwrap();
            }
        }));
    }
    let reader = {
        let b = b.clone();
        tokio::spawn(async move {
            let (mut known, mut seen) = (0, Vec::new());
            while seen.len() < 4 * PER_WRITER {
                let catchup = b.changes_since(record.header.id, known).await.unwrap();
                for c in catchup.chunks {
                    assert!(c.seq > known);
                    known = c.seq;
                    seen.push(String::from_utf8(c.bytes).unwrap());
                }
                tokio::task::yield_now().await;
            }
            seen
        })
    };
    for writer in writers {
        writer.await.unwrap();
    }
    let seen = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .expect("the reader saw every chunk within a minute")
        .unwrap();
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 4 * PER_WRITER, "every chunk seen exactly once");
}

/// A commit through one store reaches the other's `remote_changes` with its `seq`; a store does
/// not hear its own commits (the relay announces those itself).
#[tokio::test]
async fn another_relays_commit_is_announced_and_ones_own_is_not() {
    let Some(db) = ScratchDatabase::from_env().await else { return };
    let (a, b, record) = two_relays(&db).await;
    let mut heard_by_b = b.remote_changes().unwrap();
    let mut heard_by_a = a.remote_changes().unwrap();
    let committed = a.commit(chunk(record, b"hello".to_vec())).await.unwrap();
    let notice = tokio::time::timeout(Duration::from_secs(10), heard_by_b.recv()).await.unwrap().unwrap();
    assert_eq!(notice.header, record.header);
    assert_eq!(notice.seq, committed.known_seq);
    // B's own commit: A hears it, B does not hear itself.
    b.commit(chunk(record, b"again".to_vec())).await.unwrap();
    let to_a = tokio::time::timeout(Duration::from_secs(10), heard_by_a.recv()).await.unwrap().unwrap();
    assert!(to_a.seq > committed.known_seq);
    assert!(heard_by_a.try_recv().is_err());
    assert!(heard_by_b.try_recv().is_err(), "B heard its own commit");
}

/// An address that is not PostgreSQL's, and a server that is not there, fail with a reason.
#[tokio::test]
async fn bad_addresses_fail_with_a_reason() {
    let err = PostgresStorage::open("postgres://u@127.0.0.1:notaport/db").await.unwrap_err();
    assert!(err.to_string().contains("not a PostgreSQL address"), "{err}");
    // A password in a mistyped address is never repeated (it was, whole, on every line).
    for typo in [
        "postgres://u:S3cretPW@db:54x32/db",
        "postgres://u:S3cretPW@[::1/db",
        "postgres://u:S3cretPW@db:99999/db",
    ] {
        let err = PostgresStorage::open(typo).await.unwrap_err().to_string();
        assert!(!err.contains("S3cretPW") && err.contains("u:***@"), "{err}");
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let err = PostgresStorage::open(&format!("postgres://u@127.0.0.1:{port}/db")).await.unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("could not connect to PostgreSQL at 127.0.0.1:{port}: connection refused")),
        "{err}"
    );
}

/// Two stores take from one bucket at once: exactly the burst is granted in all, and a store
/// opened afresh on the database (a restarted relay) finds the bucket still empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowances_are_shared_by_every_relay_and_survive_a_restart() {
    use crate::storage::SecretHash;
    use crate::throttle::Allowance;

    let Some(db) = ScratchDatabase::from_env().await else { return };
    let (a, b, _) = two_relays(&db).await;
    let (ta, tb) = (a.shared_throttles().unwrap(), b.shared_throttles().unwrap());
    // Five at once, then one every 1,000 seconds: nothing refills during the test.
    let allowance = Allowance { per_second: 0.001, burst: 5.0 };
    let key = SecretHash([42; 32]);
    let takes = (0..12).map(|i| {
        let throttles = if i % 2 == 0 { Arc::clone(&ta) } else { Arc::clone(&tb) };
        tokio::spawn(async move { throttles.take(key, allowance).await.unwrap() })
    });
    let mut granted = 0;
    for take in takes.collect::<Vec<_>>() {
        match take.await.unwrap() {
            Ok(()) => granted += 1,
            Err(wait) => assert!(wait > Duration::from_secs(100), "the next one is far off: {wait:?}"),
        }
    }
    assert_eq!(granted, 5, "the burst is granted once across both relays");
    drop((a, ta));
    let restarted = PostgresStorage::open(db.url()).await.unwrap();
    let throttles = restarted.shared_throttles().unwrap();
    assert!(throttles.take(key, allowance).await.unwrap().is_err(), "a restart does not refill it");
    assert!(throttles.take(SecretHash([43; 32]), allowance).await.unwrap().is_ok(), "other keys are apart");
    // A fast bucket refills as the database's clock moves on.
    let fast = Allowance { per_second: 50.0, burst: 1.0 };
    let quick = SecretHash([44; 32]);
    assert!(tb.take(quick, fast).await.unwrap().is_ok());
    let wait = match tb.take(quick, fast).await.unwrap() {
        Err(wait) => wait,
        Ok(()) => Duration::ZERO,
    };
    tokio::time::sleep(wait + Duration::from_millis(30)).await;
    assert!(throttles.take(quick, fast).await.unwrap().is_ok(), "refilled after the wait it named");
}

/// Forwards every connection to `listener` to `to` until aborted, which closes them all.
fn forward(listener: tokio::net::TcpListener, to: std::net::SocketAddr) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        while let Ok((mut inbound, _)) = listener.accept().await {
            connections.spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(to).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    })
}

/// A store whose link to the database is cut for a while (its listening connection lost, the
/// port refusing) misses the notices sent meanwhile; once it listens again it asks what changed
/// and passes that on, so a relay's live streams learn of a commit another relay made during
/// the gap. Before, they never did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_made_while_a_store_was_not_listening_is_passed_on_once_it_listens_again() {
    let Some(db) = ScratchDatabase::from_env().await else { return };
    let pg: tokio_postgres::Config = db.url().parse().unwrap();
    let tokio_postgres::config::Host::Tcp(host) = &pg.get_hosts()[0] else { panic!("{:?}", pg.get_hosts()) };
    let server: std::net::SocketAddr = format!("{host}:{}", pg.get_ports()[0]).parse().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cut_at = listener.local_addr().unwrap();
    let link = forward(listener, server);
    let proxied = format!("postgres://{}@{cut_at}/{}", pg.get_user().unwrap(), pg.get_dbname().unwrap());
    let (b, _, record) = two_relays(&db).await;
    let a = PostgresStorage::open(&proxied).await.unwrap();
    let mut heard_by_a = a.remote_changes().unwrap();
    b.commit(chunk(record, b"before".to_vec())).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), heard_by_a.recv()).await.unwrap().unwrap();
    assert_eq!(first.header, record.header, "heard while listening");

    link.abort();
    let _ = link.await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    b.commit(chunk(record, b"during the gap".to_vec())).await.unwrap();
    let during = b.changes_since(record.header.id, 0).await.unwrap().chunks.last().unwrap().seq;
    assert!(during > first.seq);
    let relinked = forward(tokio::net::TcpListener::bind(cut_at).await.unwrap(), server);
    let caught_up = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let heard = heard_by_a.recv().await.unwrap();
            if heard.header == record.header && heard.seq >= during {
                return heard;
            }
        }
    })
    .await
    .expect("the commit made during the gap was passed on once the store listened again");
    assert_eq!(caught_up.seq, during);
    relinked.abort();
}

/// Relays starting at once on one empty database make one district admin between them, whose
/// token exactly one of them prints. Before, two or three of three often made one each.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn relays_starting_at_once_on_an_empty_database_make_one_admin() {
    let Some(db) = ScratchDatabase::from_env().await else { return };
    let mut starting = Vec::new();
    for _ in 0..4 {
        let url = db.url().to_owned();
        starting.push(tokio::spawn(async move {
            let store = Arc::new(PostgresStorage::open(&url).await.unwrap());
            crate::relay::Relay::open(store).await.unwrap().admin_token
        }));
    }
    let mut tokens = Vec::new();
    for start in starting {
        tokens.extend(start.await.unwrap());
    }
    assert_eq!(tokens.len(), 1, "one relay made the admin and printed its token");
    let store = PostgresStorage::open(db.url()).await.unwrap();
    assert_eq!(store.district_admins().await.unwrap().len(), 1);
}

/// `sslmode=require` with the cluster's CA as `sslrootcert`: the relay's connections are TLS
/// (PostgreSQL's own `pg_stat_ssl` says so); without a root its certificate chains to, the
/// relay refuses to connect rather than talk to whoever answers; with no `sslmode`, plaintext as
/// before. Needs the TLS cluster `scripts/with-postgres` starts where openssl is found.
#[tokio::test]
async fn the_relay_speaks_tls_to_postgresql_when_its_address_asks_and_checks_the_certificate() {
    let Some(db) = ScratchDatabase::from_env().await else { return };
    let Some(ca) = std::env::var_os("DOORSTEP_TEST_POSTGRES_CA") else {
        #[allow(clippy::print_stderr)]
        {
            eprintln!(
                "SKIPPED: the test cluster has no TLS (scripts/with-postgres makes one where openssl is found)"
            );
        }
        return;
    };
    let ca = ca.to_str().unwrap().to_owned();
    let joined =
        |query: &str| format!("{}{}{query}", db.url(), if db.url().contains('?') { '&' } else { '?' });
    let over_tls = |store: &PostgresStorage| {
        let store = store.clone();
        async move {
            let client = store.client().await.unwrap();
            let row = client
                .query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[])
                .await
                .unwrap();
            row.get::<_, bool>(0)
        }
    };
    let tls = PostgresStorage::open(&joined(&format!("sslmode=require&sslrootcert={ca}"))).await.unwrap();
    assert!(over_tls(&tls).await, "the pooled connection is TLS");
    tls.district_admins().await.unwrap();

    let unchecked = PostgresStorage::open(&joined("sslmode=require")).await.unwrap_err().to_string();
    assert!(unchecked.to_lowercase().contains("certificate"), "refused for its certificate: {unchecked}");

    let plain = PostgresStorage::open(db.url()).await.unwrap();
    assert!(!over_tls(&plain).await, "no sslmode: plaintext, as before");
}

/// A failed statement says PostgreSQL's own words, not only the driver's "db error".
#[tokio::test]
async fn a_failed_statement_says_what_postgresql_said() {
    let Some(db) = ScratchDatabase::from_env().await else { return };
    let store = PostgresStorage::open(db.url()).await.unwrap();
    let client = store.client().await.unwrap();
    let failed = client.execute("SELECT * FROM no_such_table", &[]).await.unwrap_err();
    let said = crate::storage::StorageError::from(failed).to_string();
    assert!(said.contains("db error") && said.contains("no_such_table"), "{said}");
}

/// A write turn whose session ends (terminated by an operator, a network drop) is no longer held,
/// and says so before its writer commits; the other relay gets the turn. A wait given up on
/// (its request gone) leaves no server process waiting: turns are asked for, not waited on, and
/// a connection never goes back to the pool holding one. Before, the writer committed after its
/// turn had passed to another relay (an import through each put every household in twice), and
/// abandoned waits piled up until PostgreSQL refused every connection (helper findings).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_whose_session_ended_is_no_longer_held_and_abandoned_waits_leave_nothing_waiting() {
    let Some(db) = ScratchDatabase::from_env().await else { return };
    let (a, b, record) = two_relays(&db).await;
    let compound = record.header.compound;
    let held = a.write_turn(compound).await.unwrap().unwrap();
    assert!(held.still_held().await.unwrap());
    // Relay B's writers give up waiting, again and again.
    for _ in 0..20 {
        assert!(tokio::time::timeout(Duration::from_millis(60), b.write_turn(compound)).await.is_err());
    }
    let (admin, connection) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls).await.unwrap();
    let connection = tokio::spawn(connection);
    let waiting: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND application_name = 'doorstep'
                 AND datname = current_database()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(waiting, 0, "no server process waits for the turn");
    // The holding session is ended from outside.
    let terminate = format!(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_locks
             WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND classid = {}
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())) ended",
        super::write_turn::MARK
    );
    let ended: i64 = admin.query_one(&terminate, &[]).await.unwrap().get(0);
    assert_eq!(ended, 1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!held.still_held().await.unwrap(), "the turn ended with its session");
    let taken = tokio::time::timeout(Duration::from_secs(5), b.write_turn(compound)).await;
    let taken = taken.expect("the other relay gets the turn").unwrap().unwrap();
    assert!(taken.still_held().await.unwrap());
    taken.release().await.unwrap();
    drop(held);
    connection.abort();
}

/// A database that answers but cannot serve is said so by the health probe, with what to do:
/// one turned read-only (a standby after a failover, `default_transaction_read_only`), and one
/// whose tables are gone (dropped and made again). Both answered `SELECT 1`, so `/healthz` said
/// "ok" while every write failed; a write refused as read-only is one its operator must see to.
#[tokio::test]
async fn a_database_that_refuses_writes_or_lost_its_tables_is_named_by_the_probe() {
    let Some(db) = ScratchDatabase::from_env().await else { return };
    let first = PostgresStorage::open(db.url()).await.unwrap();
    first.answers().await.unwrap();
    let set_read_only = |on: bool| {
        let setting =
            if on { "SET default_transaction_read_only = on" } else { "RESET default_transaction_read_only" };
        format!("DO $$ BEGIN EXECUTE format('ALTER DATABASE %I {setting}', current_database()); END $$")
    };
    first.client().await.unwrap().batch_execute(&set_read_only(true)).await.unwrap();
    // Sessions opened from now on are read-only.
    match PostgresStorage::open(db.url()).await {
        Ok(second) => {
            let said = second.answers().await.unwrap_err();
            assert!(matches!(said, crate::storage::StorageError::CannotServe(_)), "{said:?}");
            assert!(said.to_string().contains("refuses writes"), "{said}");
            let person = NewPerson { id: uuid(9), name: "x".into(), district_admin: false };
            let refused = second.create_person(person, T0).await.unwrap_err();
            assert!(refused.is_read_only(), "{refused:?}");
            assert!(
                refused.needs_the_operator().is_some_and(|words| words.contains("read-only")),
                "{refused}"
            );
            // A relay starting on it says so, not PostgreSQL's "cannot execute INSERT".
            let Err(refused) = crate::relay::Relay::open(Arc::new(second)).await else {
                panic!("a relay started on a read-only database")
            };
            assert!(refused.to_string().contains("cannot start on it"), "{refused}");
        }
        Err(refused) => assert!(refused.to_string().contains("refuses writes"), "{refused}"),
    }
    first.client().await.unwrap().batch_execute(&set_read_only(false)).await.unwrap();
    first.client().await.unwrap().batch_execute("DROP TABLE devices CASCADE").await.unwrap();
    let said = first.answers().await.unwrap_err();
    assert!(said.to_string().contains("holds none of the relay's tables"), "{said}");
}
