//! What a volunteer reads from the terminal phone, run as a person runs it (text output piped,
//! `RUST_BACKTRACE=1` set): every line in Chinese with the English beside it, the person named
//! rather than an ID, counts that agree with their English nouns, what the last sync brought,
//! rounds with their tasks by door, conflicts and refusals by door, round and name, tasks
//! claimed and recorded by the handle `tasks` shows, no UUID anywhere, no stack trace and no
//! colour codes.

use regex::Regex;
use serde_json::json;

use crate::harness::{Phone, Relay};

/// Whether `text` has a Chinese character (the Chinese half of a line).
fn has_chinese(text: &str) -> bool {
    text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

/// A UUID, in either case.
fn uuid() -> Regex {
    Regex::new(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}").unwrap()
}

/// The handle of the task listed under the door `address` by `tasks` text output: the first word
/// of the indented line after the door's line.
fn handle_under(tasks: &str, address: &str) -> String {
    let lines: Vec<&str> = tasks.lines().collect();
    let door =
        lines.iter().position(|l| l.starts_with(address)).unwrap_or_else(|| panic!("{address} in\n{tasks}"));
    lines[door + 1].split_whitespace().next().unwrap().to_owned()
}

#[test]
fn the_terminal_phone_speaks_chinese_and_english_and_names_doors_and_people() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, compound, coordinator) = Relay::with_vegetable_round(dir.path());
    let mut read: Vec<(&str, String)> = Vec::new();

    // Joining names the person and the compound, with the role in both languages.
    let li = Phone::new(dir.path(), "li");
    let code = relay.invite(&compound, "volunteer");
    let (ok, joined, stderr) = li.text(&["join", "--relay", &relay.url, "--name", "李强", &code]);
    assert!(ok, "{stderr}");
    assert!(
        joined.contains("李强 joined 香樟苑 as volunteer") && joined.contains("已以志愿者身份加入 香樟苑"),
        "{joined}"
    );
    // Before anyone knocks: no conflicts, said of the open rounds a phone holds.
    let (_, no_conflicts, _) = li.text(&["conflicts"]);
    assert!(
        no_conflicts.contains("in the open rounds on this phone")
            && no_conflicts.contains("已结束轮次的冲突请看看板"),
        "{no_conflicts}"
    );
    assert!(stderr.is_empty(), "no log lines for a volunteer to read: {stderr}");
    read.push(("join", joined));

    // `status` names Li and the compound, without their IDs, and says what the last sync brought.
    let (_, status, _) = li.text(&["status"]);
    assert!(status.starts_with("李强\n香樟苑 as volunteer / 以志愿者身份\n"), "{status}");
    assert!(
        status.contains("the relay had news for 3 documents then / 当时中继带来 3 份文件的更新"),
        "{status}"
    );
    read.push(("status", status));

    // `tasks` gives each task a handle: its door. A second volunteer claims 1-1-101 by it.
    let zhao = Phone::new(dir.path(), "zhao");
    zhao.ok(&["join", "--relay", &relay.url, "--name", "赵敏", &relay.invite(&compound, "volunteer")]);
    let (_, all, _) = zhao.text(&["tasks", "--all"]);
    assert!(
        all.lines()
            .nth(1)
            .unwrap()
            .starts_with("    1-1-101  生活物资 / Groceries: 蔬菜包1份 [待领取 / Open] 普通 / Normal"),
        "{all}"
    );
    assert_eq!(handle_under(&all, "香樟苑 1号楼1单元101"), "1-1-101");
    let (ok, claimed, stderr) = zhao.text(&["claim", "1-1-101"]);
    assert!(ok && claimed.contains("已保存在手机上"), "{claimed}{stderr}");
    read.push(("tasks --all", all));
    zhao.sync();
    li.sync();

    // Li's claim and release of Zhao's task are refused by door and round, never by IDs.
    let (ok, _, refused) = li.text(&["claim", "1-1-101"]);
    assert!(!ok);
    assert!(refused.contains("香樟苑 1号楼1单元101") && refused.contains("已分配给其他志愿者"), "{refused}");
    assert!(!refused.contains("stack backtrace"), "no stack trace for a person's mistake: {refused}");
    let (ok, _, not_released) = li.text(&["release", "1号楼1单元101"]);
    assert!(!ok);
    assert!(
        not_released.contains(
            "cannot release the task at 香樟苑 1号楼1单元101 (蔬菜包 第1轮), which another volunteer holds"
        ) && not_released.contains("无法放弃香樟苑 1号楼1单元101（蔬菜包 第1轮）的任务（由其他志愿者领取）"),
        "{not_released}"
    );
    let (ok, _, unknown) = li.text(&["claim", "9-9-909"]);
    assert!(!ok && unknown.contains("找不到") && unknown.contains("e.g. 1-1-101"), "{unknown}");
    read.extend([("claim refused", refused), ("release refused", not_released), ("unknown handle", unknown)]);

    // Li claims a free task and records an attempt with the handle `tasks` shows.
    let (_, mine_all, _) = li.text(&["tasks", "--all"]);
    let free = handle_under(&mine_all, "香樟苑 1号楼1单元201");
    assert_eq!(free, "1-1-201");
    li.ok(&["claim", &free]);
    // What it recorded, and on which task: a list renumbered by a sync since it was read would
    // show here.
    let (ok, knocked, _) = li.text(&["attempt", &free, "nobody_home", "--note", "敲门无人"]);
    assert!(
        ok && knocked.starts_with("无人应答 / Nobody home: 香樟苑 1号楼1单元201 蔬菜包1份 — 蔬菜包 第1轮, 生活物资 / Groceries (1-1-201)\nsaved on this phone"),
        "{knocked}"
    );
    read.push(("attempt", knocked));
    let (_, mine, _) = li.text(&["tasks"]);
    assert!(mine.contains("    1-1-201  生活物资 / Groceries: 蔬菜包1份 [未送达 / Attempted]"), "{mine}");
    read.push(("tasks", mine));

    // A sync reads in both languages, its counts agreeing with their nouns.
    li.ok(&["attempt", "1-1-101", "delivered"]);
    zhao.ok(&["attempt", "1-1-101", "delivered"]);
    let (_, synced, _) = li.text(&["sync"]);
    assert!(synced.starts_with("synced in 1 request ("), "{synced}");
    assert!(synced.contains("同步完成，1 次请求"), "{synced}");
    assert!(!synced.contains("1 requests") && !synced.contains("1 documents"), "{synced}");
    read.push(("sync", synced));
    zhao.sync();
    coordinator.sync();

    // The coordinator's conflicts name the door and the round, and the handle to review it by.
    let (_, conflicts, _) = coordinator.text(&["conflicts"]);
    assert!(
        conflicts.contains("香樟苑 1号楼1单元101, 蔬菜包 第1轮: 重复送达 2 次 / delivered 2 times\n  待核实 / to review: doorstep phone review 1-1-101"),
        "{conflicts}"
    );
    read.push(("conflicts (coordinator)", conflicts));
    coordinator.ok(&["review", "1-1-101", "--note", "已核实"]);
    coordinator.sync();
    // Li's phone names the reviewer, whom the relay named when Li's phone first saw the review.
    li.sync();
    let (_, reviewed, _) = li.text(&["conflicts"]);
    assert!(reviewed.contains("已核实 / reviewed by 王芳 at "), "{reviewed}");
    read.push(("conflicts (volunteer)", reviewed));

    // `rounds` lists every task of the round by door, as its help says, with its handle.
    let (_, rounds, _) = coordinator.text(&["rounds"]);
    let lines: Vec<&str> = rounds.lines().collect();
    assert!(
        lines[0].starts_with("蔬菜包 第1轮 [进行中 / Open] 2026-11-23: 已送达 / delivered 1/42"),
        "{rounds}"
    );
    assert_eq!(lines.len(), 43, "the round and its 42 tasks: {rounds}");
    assert!(
        lines.iter().any(|l| l.starts_with("    1-1-101  香樟苑 1号楼1单元101 [已送达 / Delivered]")
            && l.contains("2 次上门 / 2 attempts")),
        "{rounds}"
    );
    read.push(("rounds", rounds));

    // A second round to 1-1-101 and 1-1-201: at 1-1-201, with two tasks still to do, the bare
    // door is ambiguous and the phone lists the choices; at 1-1-101, whose first task is
    // delivered, the bare door names the one still to do.
    let at = |door: &str| coordinator.ok(&["find", door])["id"].as_str().unwrap().to_owned();
    let second = json!({
        "op": "create_round", "title": "药品 第1轮", "kind": "medicine", "date": "2026-11-24",
        "selection": {"by": "households", "ids": [at("1-1-101"), at("1-1-201")]}, "items": "降压药", "priority": "urgent"
    });
    coordinator.ok(&["op", &second.to_string()]);
    coordinator.sync();
    li.sync();
    let (ok, _, choose) = li.text(&["attempt", "1-1-201", "delivered"]);
    assert!(!ok);
    assert!(
        choose.contains("1-1-201/1: 蔬菜包 第1轮, 生活物资 / Groceries, 未送达 / Attempted")
            && choose.contains("1-1-201/2: 药品 第1轮, 药品 / Medicine, 待领取 / Open")
            && choose.contains("请输入以下之一"),
        "{choose}"
    );
    read.push(("ambiguous handle", choose));
    let (_, both, _) = li.text(&["tasks", "--all"]);
    assert!(both.contains("    1-1-101  药品 / Medicine: 降压药 [待领取 / Open] 紧急 / Urgent"), "{both}");
    read.push(("tasks --all, two rounds", both));

    // The coordinator cancels 1-1-202's task: Li's attempt there names who cancelled it and why.
    let round = coordinator
        .ok(&["rounds"])
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["round"]["title"] == "蔬菜包 第1轮")
        .unwrap()
        .clone();
    let at_202 = coordinator.ok(&["find", "1-1-202"])["id"].clone();
    let task_202 =
        round["tasks"].as_array().unwrap().iter().find(|t| t["task"]["household"] == at_202).unwrap()["task"]
            ["id"]
            .clone();
    let cancel = json!({"op": "cancel_task", "round": round["round"]["document"], "task": task_202, "reason": "住户已转院"});
    coordinator.ok(&["op", &cancel.to_string()]);
    coordinator.sync();
    li.sync();
    let (ok, _, cancelled) = li.text(&["attempt", "1-1-202", "delivered"]);
    assert!(!ok);
    assert!(
        cancelled.contains("cannot record an attempt on the task at 香樟苑 1号楼1单元202 (蔬菜包 第1轮): 王芳 cancelled it (住户已转院)")
            && cancelled.contains("王芳已取消该任务（住户已转院）"),
        "{cancelled}"
    );
    read.push(("attempt on a cancelled task", cancelled));

    // The medicine round closes while Li is offline: Li's later attempt there is set aside, and the
    // quarantine names the door and the round although the phone let the closed round go.
    let medicine = coordinator
        .ok(&["rounds"])
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["round"]["title"] == "药品 第1轮")
        .unwrap()["round"]["document"]
        .clone();
    coordinator.ok(&["op", &json!({"op": "close_round", "round": medicine}).to_string()]);
    coordinator.sync();
    // After the close by more than two honest clocks can disagree: Li's clock now 11 minutes on.
    let li_later = Phone { clock_ahead_ms: 11 * 60_000, ..li.clone() };
    li_later.ok(&["attempt", "1-1-101", "nobody_home"]);
    li_later.sync();
    let (_, quarantine, _) = li.text(&["quarantine"]);
    assert!(
        quarantine.starts_with(
            "attempt / 上门记录 at 香樟苑 1号楼1单元101, 药品 第1轮, in round 药品 第1轮 / 配送轮次 药品 第1轮: 已结束的配送轮次不再接受修改 / "
        ),
        "{quarantine}"
    );
    read.push(("quarantine", quarantine));
    let (_, status, _) = li.text(&["status"]);
    read.push(("status with a set-aside change", status));

    // Counts, empty lists and requests are bilingual too; no line carries a colour code.
    let (_, counts, _) = coordinator.text(&["counts"]);
    assert!(counts.contains("户 / households") && counts.contains("任务 / tasks: "), "{counts}");
    // The phone holds open rounds only: its figures say so, not "tasks 0" beside the
    // dashboard's late knocks of a closed round.
    assert!(
        counts.contains("closed rounds are on the dashboard") && counts.contains("已结束的轮次请看看板"),
        "{counts}"
    );
    read.push(("counts", counts));
    let (_, nothing_set_aside, _) = zhao.text(&["quarantine"]);
    assert_eq!(nothing_set_aside.trim(), "no refused changes / 没有被拒绝的修改");
    li.ok(&["request", "1号楼1单元201", "需要降压药", "--category", "medicine"]);
    li.sync();
    coordinator.sync();
    let (_, requests, _) = coordinator.text(&["requests"]);
    assert!(
        requests.contains("香樟苑 1号楼1单元201 [待处理 / New]") && requests.contains("需要降压药"),
        "{requests}"
    );
    read.push(("requests", requests));
    for (what, text) in &read {
        assert!(!text.contains('\u{1b}'), "no ANSI codes in piped output of {what}: {text:?}");
        assert!(!uuid().is_match(text), "{what} shows no UUID:\n{text}");
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            assert!(has_chinese(line), "every line has its Chinese: {line:?} in {what}:\n{text}");
        }
    }
}

/// A sign-in whose first download was cut off leaves a phone that knows who it is and nothing
/// else: `status` says nothing has come yet and to sync where there is signal, never "all
/// synced", which would send the volunteer up the stairs with no tasks.
#[test]
fn a_phone_signed_in_with_nothing_fetched_yet_does_not_say_all_synced() {
    let dir = tempfile::tempdir().unwrap();
    let phone = Phone::unencrypted(dir.path(), "cut");
    {
        let mut replica = doorstep_replica::Replica::open(&phone.db).unwrap();
        replica.set_identity("01a24e14-88ed-7be2-9550-9f5aaeb30c6e".parse().unwrap()).unwrap();
        replica.remember_relay("http://127.0.0.1:9", "dst_not_checked_here").unwrap();
    }
    let (ok, status, _) = phone.text(&["status"]);
    assert!(ok, "{status}");
    assert!(
        status.contains("signed in, but nothing has come from the relay yet: sync where there is signal / 已登录，但尚未从中继取得任何数据"),
        "{status}"
    );
    assert!(!status.contains("all synced"), "{status}");
}

/// With `--json`, a command that fails says so on stdout as one JSON line, with a code a script
/// or app decides on: before, stdout was empty and only stderr's sentence said what went wrong.
#[test]
fn a_failed_command_with_json_says_its_failure_on_stdout_by_code() {
    let dir = tempfile::tempdir().unwrap();
    let (mut relay, compound, _) = Relay::with_vegetable_round(dir.path());
    let volunteer = Phone::new(dir.path(), "volunteer");
    volunteer.join_as(&relay, "李强", &relay.invite(&compound, "volunteer"));
    let failure = |args: &[&str], code: &str| {
        let (stdout, stderr) = volunteer.json_failure(args);
        assert_eq!(stdout.lines().count(), 1, "one line: {stdout}");
        let line: serde_json::Value =
            serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
        assert_eq!(line["error"], code, "{line}");
        let message = line["message"].as_str().unwrap();
        assert!(has_chinese(message) && stderr.contains(message), "{message} / {stderr}");
    };
    failure(&["claim", "99-9-999"], "unknown_task");
    relay.kill9();
    failure(&["sync"], "no_signal");
}

/// "Delivered" recorded twice on one task (a volunteer's second tap) is kept, and the phone says
/// so at once, naming the first delivery: before, nothing was said until the coordinators found
/// a double delivery.
#[test]
fn delivered_recorded_again_on_a_delivered_task_is_said_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, compound, _) = Relay::with_vegetable_round(dir.path());
    let li = Phone::new(dir.path(), "li");
    let (ok, _, stderr) =
        li.text(&["join", "--relay", &relay.url, "--name", "李强", &relay.invite(&compound, "volunteer")]);
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = li.text(&["claim", "1-1-101"]);
    assert!(ok, "{stderr}");
    let (ok, first, stderr) = li.text(&["attempt", "1-1-101", "delivered"]);
    assert!(ok && stderr.is_empty(), "the first delivery says nothing more: {first}{stderr}");
    let (ok, second, stderr) = li.text(&["attempt", "1-1-101", "delivered"]);
    assert!(ok, "kept: {second}{stderr}");
    assert!(
        stderr.contains("this task was already marked delivered (李强 ")
            && stderr.contains("此任务之前已标记为送达")
            && stderr.contains("double delivery to review"),
        "{stderr}"
    );
    // `--json` keeps its stdout one answer.
    let json = li.ok(&["attempt", "1-1-101", "nobody_home"]);
    assert!(json.is_object(), "{json}");
}

/// A volunteer lists a door's two tasks, a sync brings a round dated earlier to the same door
/// (renumbering it), and the volunteer types the number they read: it records on the task they
/// read it for, and says that task's number now. Before, it recorded on the new round's task.
#[test]
fn a_number_typed_from_the_last_listing_records_on_the_task_it_was_listed_for() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, compound, coordinator) = Relay::with_vegetable_round(dir.path());
    let at = |door: &str| coordinator.ok(&["find", door])["id"].as_str().unwrap().to_owned();
    let round = |title: &str, date: &str| {
        json!({
            "op": "create_round", "title": title, "kind": "medicine", "date": date,
            "selection": {"by": "households", "ids": [at("1-1-101")]}, "items": "药品", "priority": "high"
        })
        .to_string()
    };
    coordinator.ok(&["op", &round("药品 第2轮", "2026-11-25")]);
    coordinator.sync();
    let li = Phone::new(dir.path(), "li");
    li.join_as(&relay, "李强", &relay.invite(&compound, "volunteer"));
    let (_, listed, _) = li.text(&["tasks", "--all"]);
    assert!(listed.contains("1-1-101/2  药品 / Medicine"), "{listed}");

    coordinator.ok(&["op", &round("药品 第1轮", "2026-11-20")]);
    coordinator.sync();
    li.sync();
    let (ok, recorded, stderr) = li.text(&["attempt", "1-1-101/2", "nobody_home"]);
    assert!(ok, "{stderr}");
    assert!(recorded.contains("药品 第2轮") && recorded.contains("(1-1-101/3)"), "{recorded}");
    // Listed again, the numbers are the new ones.
    li.text(&["tasks", "--all"]);
    let (ok, recorded, stderr) = li.text(&["attempt", "1-1-101/1", "nobody_home"]);
    assert!(ok && recorded.contains("药品 第1轮"), "{recorded}{stderr}");
}

/// A sync the app did not live to finish (killed, reclaimed, its battery gone on the stairs)
/// leaves its mark in the phone's file (`replica/src/sync_unfinished.rs`); the relay test
/// `document_copy::a_new_volunteer_whose_app_is_killed…` leaves it with a real kill. Until a sync
/// returns, the phone does not say "all synced" and says what it shows may lack the relay's news;
/// a sign-in whose first download was cut off says that nothing has come yet, not "no tasks" or
/// "not joined yet".
#[test]
fn a_sync_the_app_did_not_finish_is_said_until_one_does() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, compound, _) = Relay::with_vegetable_round(dir.path());
    let li = Phone::unencrypted(dir.path(), "li");
    let (ok, _, stderr) =
        li.text(&["join", "--relay", &relay.url, "--name", "李强", &relay.invite(&compound, "volunteer")]);
    assert!(ok, "{stderr}");
    let (_, status, _) = li.text(&["status"]);
    assert!(status.contains("all synced / 已全部同步"), "{status}");

    // The app ends mid-sync: the mark a sync leaves as it begins stays.
    let mut replica = doorstep_replica::Replica::open(&li.db).unwrap();
    let person = replica.identity().unwrap().person;
    let (url, token) = replica.remembered_relay().unwrap().unwrap();
    assert!(!replica.sync_begins().unwrap());
    drop(replica);
    let (ok, status, _) = li.text(&["status"]);
    assert!(ok && !status.contains("all synced"), "{status}");
    assert!(status.contains("the last sync did not finish") && status.contains("上次同步未完成"), "{status}");
    assert_eq!(li.ok(&["status"])["sync_unfinished"], true);
    let (ok, tasks, stderr) = li.text(&["tasks", "--all"]);
    assert!(ok && tasks.contains("1-1-101"), "what the phone holds is still shown: {tasks}");
    assert!(stderr.contains("the last sync did not finish"), "and said to lack news: {stderr}");
    let (ok, _, stderr) = li.text(&["sync"]);
    assert!(ok, "{stderr}");
    let (_, status, _) = li.text(&["status"]);
    assert!(status.contains("all synced / 已全部同步"), "a sync returned: {status}");
    let (_, _, stderr) = li.text(&["tasks"]);
    assert!(!stderr.contains("did not finish"), "{stderr}");

    // A sign-in whose first download the app did not live to finish: signed in, nothing held.
    let newcomer = Phone::unencrypted(dir.path(), "newcomer");
    let mut replica = doorstep_replica::Replica::open(&newcomer.db).unwrap();
    replica.remember_relay(&url, &token).unwrap();
    replica.set_identity(person).unwrap();
    assert!(!replica.sync_begins().unwrap());
    drop(replica);
    for command in [&["tasks"][..], &["find", "1-1-101"], &["counts"], &["claim", "1-1-101"]] {
        let (stdout, stderr) = newcomer.json_failure(command);
        let line: serde_json::Value =
            serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
        assert_eq!(line["error"], "nothing_yet", "{command:?}: {line}");
        assert!(
            stderr.contains("nothing has come from the relay yet") && stderr.contains("doorstep phone sync"),
            "{stderr}"
        );
        assert!(!stderr.contains("has not joined"), "{stderr}");
    }
    let (ok, _, stderr) = newcomer.text(&["sync"]);
    assert!(ok, "{stderr}");
    let (ok, tasks, stderr) = newcomer.text(&["tasks", "--all"]);
    assert!(ok && tasks.contains("1-1-101") && stderr.is_empty(), "{tasks}{stderr}");
}

/// A phone never signed in (or whose join's answer the signal cut off) says so, not "all synced",
/// which told a volunteer their work had gone up (helper finding).
#[test]
fn a_phone_never_signed_in_says_so_not_all_synced() {
    let dir = tempfile::tempdir().unwrap();
    let phone = Phone::new(dir.path(), "新手机");
    let status = phone.ok(&["status"]);
    let standing = status["standing"].as_str().unwrap();
    assert!(standing.contains("not signed in") && standing.contains("尚未登录"), "{status}");
    assert!(!standing.contains("all synced"), "{status}");
}
