//! What a volunteer reads from the terminal phone, run as a person runs it (text output piped,
//! `RUST_BACKTRACE=1` set): every line in Chinese with the English beside it, the person named
//! rather than an ID, counts that agree with their English nouns, what the last sync brought,
//! rounds with their tasks by door, conflicts and refused claims by door rather than task ID,
//! no stack trace and no colour codes.

use crate::harness::{Phone, Relay, sample};

/// Whether `text` has a Chinese character (the Chinese half of a line).
fn has_chinese(text: &str) -> bool {
    text.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

/// Whether `text` holds a 36-character UUID.
fn has_uuid(text: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
        .any(|word| word.len() == 36 && word.chars().filter(|c| *c == '-').count() == 4)
}

#[test]
fn the_terminal_phone_speaks_chinese_and_english_and_names_doors_and_people() {
    let dir = tempfile::tempdir().unwrap();
    let relay = Relay::start(dir.path());
    let compound = relay.compound_from("香樟苑", &sample("xiangzhangyuan-roster.csv"));
    let coordinator = Phone::new(dir.path(), "coordinator");
    coordinator.join_as(&relay, "王芳", &relay.invite(&compound, "coordinator"));
    coordinator.create_vegetable_round();
    coordinator.sync();

    // Joining names the person and the compound, with the role in both languages.
    let li = Phone::new(dir.path(), "li");
    let code = relay.invite(&compound, "volunteer");
    let (ok, joined, stderr) = li.text(&["join", "--relay", &relay.url, "--name", "李强", &code]);
    assert!(ok, "{stderr}");
    assert!(
        joined.contains("李强 joined 香樟苑 as volunteer") && joined.contains("已以志愿者身份加入 香樟苑"),
        "{joined}"
    );
    assert!(stderr.is_empty(), "no log lines for a volunteer to read: {stderr}");

    // `status` names Li and says what the last sync brought from the relay.
    let (_, status, _) = li.text(&["status"]);
    assert!(status.starts_with("李强 (person "), "{status}");
    assert!(status.contains("香樟苑 as volunteer / 以志愿者身份"), "{status}");
    assert!(
        status.contains("the relay had news for 3 documents then / 当时中继带来 3 份文件的更新"),
        "{status}"
    );

    // A second volunteer takes a task; Li's claim of it is refused by door, not by IDs.
    let zhao = Phone::new(dir.path(), "zhao");
    zhao.ok(&["join", "--relay", &relay.url, "--name", "赵敏", &relay.invite(&compound, "volunteer")]);
    let task = zhao.doors(true)[0]["tasks"][0]["id"].as_str().unwrap().to_owned();
    zhao.ok(&["claim", &task]);
    zhao.sync();
    li.sync();
    let (ok, _, refused) = li.text(&["claim", &task]);
    assert!(!ok);
    assert!(refused.contains("香樟苑 1号楼1单元101") && refused.contains("已分配给其他志愿者"), "{refused}");
    assert!(!has_uuid(&refused), "a claim error names the door, not IDs: {refused}");
    assert!(!refused.contains("stack backtrace"), "no stack trace for a person's mistake: {refused}");
    let (ok, _, unknown) = li.text(&["claim", "zzzzzz"]);
    assert!(!ok && has_chinese(&unknown) && unknown.contains("no open task"), "{unknown}");

    // A sync reads in both languages, its counts agreeing with their nouns.
    li.ok(&["attempt", &task, "delivered"]);
    zhao.ok(&["attempt", &task, "delivered"]);
    let (_, synced, _) = li.text(&["sync"]);
    assert!(synced.starts_with("synced in 1 request ("), "{synced}");
    assert!(synced.contains("同步完成，1 次请求"), "{synced}");
    assert!(!synced.contains("1 requests") && !synced.contains("1 documents"), "{synced}");
    zhao.sync();
    coordinator.sync();

    // The coordinator's conflicts name the door and the round, never the task's ID.
    let (_, conflicts, _) = coordinator.text(&["conflicts"]);
    assert!(
        conflicts.contains("香樟苑 1号楼1单元101, 蔬菜包 第1轮: 重复送达 2 次 / delivered 2 times"),
        "{conflicts}"
    );
    assert!(!has_uuid(&conflicts), "{conflicts}");

    // `rounds` lists every task of the round by door, as its help says.
    let (_, rounds, _) = coordinator.text(&["rounds"]);
    let lines: Vec<&str> = rounds.lines().collect();
    assert!(
        lines[0].starts_with("蔬菜包 第1轮 [进行中 / Open] 2026-11-23: 已送达 / delivered 1/42"),
        "{rounds}"
    );
    assert_eq!(lines.len(), 43, "the round and its 42 tasks: {rounds}");
    assert!(
        lines.iter().any(|l| l.contains("香樟苑 1号楼1单元101 [已送达 / Delivered]")
            && l.contains("2 次上门 / 2 attempts")),
        "{rounds}"
    );

    // Counts, empty lists and requests are bilingual too; no line carries a colour code.
    let (_, counts, _) = coordinator.text(&["counts"]);
    assert!(counts.contains("户 / households") && counts.contains("任务 / tasks: "), "{counts}");
    let (_, quarantine, _) = li.text(&["quarantine"]);
    assert_eq!(quarantine.trim(), "no refused changes / 没有被拒绝的修改");
    li.ok(&["request", "1号楼1单元201", "需要降压药", "--category", "medicine"]);
    li.sync();
    coordinator.sync();
    let (_, requests, _) = coordinator.text(&["requests"]);
    assert!(requests.contains("香樟苑 1号楼1单元201") && requests.contains("需要降压药"), "{requests}");
    for text in [&joined, &status, &synced, &conflicts, &rounds, &counts, &requests, &refused] {
        assert!(!text.contains('\u{1b}'), "no ANSI codes in piped output: {text:?}");
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            assert!(has_chinese(line), "every line has its Chinese: {line:?} in\n{text}");
        }
    }
}
