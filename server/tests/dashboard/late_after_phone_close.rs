//! Late attempts when a coordinator closes a round on a phone that had not synced for hours: a
//! knock that reached the relay while the round was open is not late, however old the closing
//! phone's copy was; a knock made offline before the close that reaches the relay after it is.
//! The relay marks where it took the close (`relay_engine/close_mark.rs`), and the dashboard
//! counts from there (phones read it with the same core query).

use doorstep_core::Operation;
use doorstep_core::schema::vocabulary::Outcome;

use crate::harness::Dash;
use crate::operations::{TwoVolunteersOnARound, two_volunteers_on_a_round};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knocks_the_relay_held_before_a_close_made_on_an_out_of_date_phone_are_not_late() {
    let dash = Dash::start().await;
    let TwoVolunteersOnARound { compound, mut coordinator, session, round, mut li, mut zhao } =
        two_volunteers_on_a_round(&dash).await;
    coordinator.sync(&dash.relay).await; // 王芳's phone, in the morning: the round is open.
    let tasks = li.compound().open_tasks();
    assert_eq!(tasks.len(), 3);
    let delivered =
        |task| Operation::RecordAttempt { round, task, outcome: Outcome::Delivered, note: String::new() };
    // 李强 knocks two doors and syncs while the round is open.
    li.apply(&delivered(tasks[0].id)).unwrap();
    li.apply(&delivered(tasks[1].id)).unwrap();
    assert!(li.sync(&dash.relay).await.rejected.is_empty());
    // 赵敏 knocks the third door offline, and stays offline through the close.
    zhao.apply(&delivered(tasks[2].id)).unwrap();
    // In the evening 王芳 closes the round on her phone, which has not synced since the morning.
    coordinator.apply(&Operation::CloseRound { round }).unwrap();
    let synced = coordinator.sync(&dash.relay).await;
    assert!(synced.rejected.is_empty(), "{:?}", synced.rejected);

    let overview_path = format!("/dashboard/api/compounds/{compound}/overview");
    let rounds_path = format!("/dashboard/api/compounds/{compound}/rounds");
    let overview = session.get_json(&overview_path).await;
    assert_eq!(
        overview["counts"]["late_attempts"], 0,
        "李强's knocks reached the relay before the close: {overview}"
    );
    let rounds = session.get_json(&rounds_path).await;
    assert_eq!(
        (rounds[0]["round"]["status"].as_str(), rounds[0]["late"].as_u64()),
        (Some("closed"), Some(0)),
        "{rounds}"
    );

    // 赵敏's knock reaches the relay after the close: it alone is late.
    let synced = zhao.sync(&dash.relay).await;
    assert!(synced.rejected.is_empty(), "a late field fact is kept: {:?}", synced.rejected);
    let overview = session.get_json(&overview_path).await;
    assert_eq!(overview["counts"]["late_attempts"], 1, "赵敏's knock came after the close: {overview}");
    let rounds = session.get_json(&rounds_path).await;
    assert_eq!(rounds[0]["late"], 1, "{rounds}");
    let detail = session.get_json(&format!("/dashboard/api/compounds/{compound}/rounds/{round}")).await;
    assert!(detail.to_string().contains(&tasks[2].id.to_string()), "{detail}");
}
