//! Relays on one PostgreSQL database writing one compound at once. The tests need
//! `DOORSTEP_TEST_POSTGRES` (run under `scripts/with-postgres`); without it they say they were
//! skipped.

use doorstep_core::Role;
use doorstep_server::Config;
use doorstep_server::storage::postgres::scratch::ScratchDatabase;
use reqwest::StatusCode;

use crate::harness::TestRelay;

/// One roster imported through two relays at the same moment (a coordinator's double click
/// behind a balancer, or two coordinators): the second import waits for the first's turn and
/// finds every household there. Before, each worked from the roster as it was and added every
/// household, and the compound held each door twice (helper finding: 1,714 households at 857
/// addresses).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_roster_imported_through_two_relays_at_once_is_imported_once() {
    let Some(db) = ScratchDatabase::from_env().await else { return };
    let a = TestRelay::start_on(db.url(), Config::default()).await;
    let b = TestRelay::start_on(db.url(), Config::default()).await;
    let beilin =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../data/beilin-roster.csv")).unwrap();
    for round in 0..3 {
        let compound = a.create_compound("两台中继苑").await;
        let import = |relay: &TestRelay| {
            relay
                .http
                .post(format!("{}/v1/compounds/{compound}/roster", relay.url))
                .bearer_auth(&a.admin_token)
                .header("content-type", "text/csv")
                .body(beilin.clone())
                .send()
        };
        let (first, second) = tokio::join!(import(&a), import(&b));
        let (first, second) = (first.unwrap(), second.unwrap());
        assert_eq!((first.status(), second.status()), (StatusCode::OK, StatusCode::OK), "round {round}");
        let mut phone = a.phone(compound, Role::Coordinator, "王芳").await;
        phone.sync(&b).await;
        assert_eq!(phone.compound().households().len(), 857, "round {round}: each door once");
    }
}
