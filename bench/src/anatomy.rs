//! Where the relay's time goes when a whole team has written to one round: the Automerge work a
//! sync request costs the relay on that document, measured directly on the document (no HTTP, no
//! SQLite), so the burst's figures can be explained. It also measures one alternative the relay
//! could take: answering a phone that is behind with its missing changes rather than the whole
//! document (Automerge 0.12 sends the whole document whenever a reply would carry more than a
//! third of the document's changes).

use std::time::Duration;

use automerge::sync::{Capability, State, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge, Change, ChangeHash, ObjType, ROOT, ReadDoc, Value};
use doorstep_core::document::Header;
use doorstep_core::id::PersonId;
use doorstep_core::import::read_roster_csv;
use doorstep_core::schema::vocabulary::{Priority, TaskKind};
use doorstep_core::{Actor, Compound, Env, ImportPolicy, Operation, Role, Selection, Timestamp};

use crate::figures::{bytes, ms, percentile, ratio, timed};
use crate::workload::SAMPLE;

/// The round document as the coordinator created it, and its header.
fn round_document() -> (Automerge, Header) {
    let admin = Actor { person: person(1), role: Role::Admin };
    let mut seed = 0x2545F4914F6CDD1Du128;
    let mut entropy = move || {
        seed = seed.wrapping_mul(0x9E3779B97F4A7C15).wrapping_add(0x2545F4914F6CDD1D);
        seed
    };
    let mut env = Env::new(Timestamp::from_millis(1_790_000_000_000), &mut entropy);
    let mut compound = Compound::create(&mut env, &admin, ActorId::from(vec![1u8; 16]), "香樟苑").unwrap();
    let preview = read_roster_csv(SAMPLE).unwrap();
    compound.import_roster(&mut env, &admin, &preview, ImportPolicy::AllOrNothing).unwrap();
    let op = Operation::CreateRound {
        title: "蔬菜包".into(),
        kind: TaskKind::Groceries,
        date: "2026-11-23".into(),
        selection: Selection::All,
        items: "蔬菜包1份".into(),
        priority: Priority::Normal,
    };
    compound.apply(&mut env, &admin, &op).unwrap();
    let round = compound.rounds().next().unwrap();
    (round.automerge().clone(), *round.header())
}

/// Person number `n`.
fn person(n: usize) -> PersonId {
    format!("01935f3e-0000-7000-8000-{n:012}").parse().unwrap()
}

/// A phone's copy of `base` with `n` attempts appended under its own actor, as the core writes
/// them (one change each).
fn phone_copy(base: &Automerge, phone: usize, n: usize) -> Automerge {
    let mut doc = base.fork().with_actor(ActorId::from(((phone as u128) << 8 | 0xAB).to_be_bytes().to_vec()));
    let tasks = match doc.get(ROOT, "tasks").unwrap() {
        Some((Value::Object(ObjType::Map), id)) => id,
        _ => panic!("the round has no tasks map"),
    };
    let keys: Vec<String> = doc.keys(&tasks).collect();
    for k in 0..n {
        let task = match doc.get(&tasks, keys[(phone * 20 + k) % keys.len()].as_str()).unwrap() {
            Some((Value::Object(ObjType::Map), id)) => id,
            _ => panic!("a task is not a map"),
        };
        let mut tx = doc.transaction();
        let list = match tx.get(&task, "attempts").unwrap() {
            Some((Value::Object(ObjType::List), id)) => id,
            _ => panic!("a task has no attempts list"),
        };
        let at = tx.length(&list);
        let attempt = tx.insert_object(&list, at, ObjType::Map).unwrap();
        tx.put(&attempt, "by", person(phone + 100).to_string()).unwrap();
        tx.put(&attempt, "at", 1_790_000_000_000i64 + k as i64).unwrap();
        tx.put(&attempt, "outcome", "delivered").unwrap();
        tx.put(&attempt, "note", format!("第{k}次 志愿者{phone}")).unwrap();
        tx.commit();
    }
    doc
}

/// The relay's reply to a phone that synced last at `shared` and has made its own edits since,
/// with Automerge's own choice and with whole-document replies switched off. Returns the reply's
/// bytes and the time the relay took to generate it.
fn reply(relay: &Automerge, phone: &Automerge, shared: &[ChangeHash], whole: bool) -> (Vec<u8>, Duration) {
    let mut phone_state = State::new();
    phone_state.shared_heads = shared.to_vec();
    let first = phone.generate_sync_message(&mut phone_state).unwrap();
    let mut relay_copy = relay.clone();
    let mut relay_state = State::new();
    relay_copy.receive_sync_message(&mut relay_state, first).unwrap();
    if !whole {
        relay_state.their_capabilities = Some(vec![Capability::MessageV1]);
    }
    let (message, took) = timed(|| relay_copy.generate_sync_message(&mut relay_state));
    (message.map_or_else(Vec::new, automerge::sync::Message::encode), took)
}

/// Bytes each way of a full sync between a phone and the relay that share `shared`, with
/// Automerge's own choice of message or with whole-document messages hidden from both sides.
fn exchange(relay: &Automerge, phone: &Automerge, shared: &[ChangeHash], whole: bool) -> (usize, usize) {
    let (mut relay, mut phone) = (relay.clone(), phone.clone());
    let mut phone_state = State::new();
    phone_state.shared_heads = shared.to_vec();
    let mut relay_state = State::new();
    relay_state.shared_heads = shared.to_vec();
    let (mut up, mut down) = (0, 0);
    for _ in 0..10 {
        if !whole {
            phone_state.their_capabilities = Some(vec![Capability::MessageV1]);
        }
        let to_relay = phone.generate_sync_message(&mut phone_state);
        if let Some(m) = &to_relay {
            let m = m.clone();
            up += m.clone().encode().len();
            relay.receive_sync_message(&mut relay_state, m).unwrap();
        }
        if !whole {
            relay_state.their_capabilities = Some(vec![Capability::MessageV1]);
        }
        let to_phone = relay.generate_sync_message(&mut relay_state);
        if let Some(m) = &to_phone {
            let m = m.clone();
            down += m.clone().encode().len();
            phone.receive_sync_message(&mut phone_state, m).unwrap();
        }
        if to_relay.is_none() && to_phone.is_none() {
            break;
        }
    }
    assert_eq!(relay.get_heads(), phone.get_heads(), "the exchange did not converge");
    (up, down)
}

/// Prints what compressing the replies above for the link costs the relay: one zlib stream at
/// zlib's level 2, as `body_deflate` does for every answer a phone can read compressed.
fn compressed_replies(replies: &[(usize, Vec<u8>, Vec<u8>)]) {
    use doorstep_core::sync::body_deflate::{self, Effort};
    println!(
        "\n## Compressing a reply for the link (`body_deflate`, the relay's level 2, median of 15)\n\n\
         | phones | reply | bytes | compressed | time |\n|---|---|---|---|---|"
    );
    for (phones, whole, changes) in replies {
        for (what, body) in [("whole document", whole), ("changes only", changes)] {
            let compress = || body_deflate::compress(body, Effort::Light).map_or(body.len(), |z| z.len());
            let size = compress();
            let time = median(|| timed(compress).1, 15);
            println!("| {phones} | {what} | {} | {} | {} |", bytes(body.len()), bytes(size), ms(time));
        }
    }
}

/// Prints the warm-sync bytes of the round alone, with and without whole-document messages.
fn warm(base: &Automerge, quick: bool) {
    let sizes: &[usize] = if quick { &[1, 20] } else { &[1, 20, 50, 200] };
    println!(
        "\n## The round alone, warm sync in Automerge: as today, and with whole-document messages hidden from a peer that has the document"
    );
    println!(
        "phone: N attempts; relay: M = N attempts from another phone; bytes are Automerge sync messages only\n"
    );
    println!(
        "| N | floor up / down | today: up / down | changes only: up / down |\n\
         |---|---|---|---|"
    );
    let heads = base.get_heads();
    for &n in sizes {
        let phone = phone_copy(base, 1, n);
        let other = phone_copy(base, 2, n);
        let mut relay = base.clone();
        relay.apply_changes(other.get_changes(&heads)).unwrap();
        let (floor_up, floor_down) = (phone.save_after(&heads).len(), other.save_after(&heads).len());
        let (up, down) = exchange(&relay, &phone, &heads, true);
        let (up_v1, down_v1) = exchange(&relay, &phone, &heads, false);
        println!(
            "| {n} | {} / {} | {} / {} ({} / {}) | {} / {} ({} / {}) |",
            bytes(floor_up),
            bytes(floor_down),
            bytes(up),
            bytes(down),
            ratio(up, floor_up),
            ratio(down, floor_down),
            bytes(up_v1),
            bytes(down_v1),
            ratio(up_v1, floor_up),
            ratio(down_v1, floor_down)
        );
    }
}

/// How long the relay's check (`validate::check_and_apply`, as its engine's `take` calls it)
/// takes to check and apply the 15 attempts phone number `phone` made on its copy `phone_doc`.
fn check_attempts(
    relay: &Automerge,
    header: &Header,
    phone_doc: &Automerge,
    since: &[ChangeHash],
    phone: usize,
) -> Duration {
    let author = Actor { person: person(phone + 100), role: Role::Volunteer };
    let changes = phone_doc.get_changes(since);
    let now = Timestamp::from_millis(1_790_000_060_000);
    let mut doc = relay.clone();
    let (result, took) =
        timed(|| doorstep_core::validate::check_and_apply(&mut doc, header, &author, changes, now));
    if let Err(violation) = result {
        panic!("the relay refused an honest phone's attempts: {violation}");
    }
    took
}

/// How long the document takes `changes` (no check, no patches) on a copy of `relay` that
/// already holds `first`: the cost of Automerge's own apply. Applying changes under an actor new
/// to the document also renumbers the actor of every op the document holds (Automerge 0.12 keeps
/// its actors sorted, `OpSet::insert_actor`), unless the new actor sorts after all of them.
fn apply_time(relay: &Automerge, first: &[Change], changes: &[Change]) -> Duration {
    let mut doc = relay.clone();
    doc.apply_changes(first.to_vec()).unwrap();
    timed(|| doc.apply_changes(changes.to_vec()).unwrap()).1
}

fn median(mut f: impl FnMut() -> Duration, runs: usize) -> Duration {
    let mut samples: Vec<Duration> = (0..runs).map(|_| f()).collect();
    percentile(&mut samples, 50.0)
}

/// Prints the table for a round after `phones` phones' 15 attempts each.
pub fn run(quick: bool) {
    let sizes: &[usize] = if quick { &[20] } else { &[130, 1000] };
    println!("\n## Where the relay's time goes: one round after a team's edits (Automerge work only)");
    println!(
        "each phone: 15 attempts, one change each; \"behind\" = a phone that synced before the team came back and has its own 15 new changes\n"
    );
    println!(
        "| phones | changes | clone (validation copy) | check and apply a phone's 15 attempts | of which applying them: under an actor new to the document / one it holds | save() | load | reply to a phone behind: whole document | reply: changes only |\n\
         |---|---|---|---|---|---|---|---|---|"
    );
    let (base, header) = round_document();
    let base_heads = base.get_heads();
    let mut listing = Vec::new();
    let mut compressing = Vec::new();
    for &phones in sizes {
        let mut relay = base.clone();
        let mut changes = Vec::new();
        for phone in 0..phones {
            let copy = phone_copy(&base, phone, 15);
            changes.extend(copy.get_changes(&base_heads));
        }
        relay.apply_changes(changes).unwrap();
        let runs = 15;
        let clone = median(|| timed(|| relay.clone()).1, runs);
        let saved = relay.save();
        let save = median(|| timed(|| relay.save()).1, runs);
        let load = median(|| timed(|| Automerge::load(&saved).unwrap()).1, runs);
        let late = phone_copy(&base, phones + 1, 15);
        let check = median(|| check_attempts(&relay, &header, &late, &base_heads, phones + 1), runs);
        let twice = phone_copy(&base, phones + 1, 30).get_changes(&base_heads);
        let (first, then) = twice.split_at(15);
        let new_actor = median(|| apply_time(&relay, &[], first), runs);
        let known_actor = median(|| apply_time(&relay, first, then), runs);
        let mut phone = relay.clone();
        phone.apply_changes(first.to_vec()).unwrap();
        let since = relay.get_heads();
        let as_changes = median(|| timed(|| phone.get_changes(&since).len()).1, runs);
        let as_metadata = median(|| timed(|| phone.get_changes_meta(&since).len()).1, runs);
        listing.push((phones, as_changes, as_metadata));
        let (whole_reply, whole_time) = reply(&relay, &late, &base_heads, true);
        let (changes_reply, changes_time) = reply(&relay, &late, &base_heads, false);
        let (whole_size, changes_size) = (whole_reply.len(), changes_reply.len());
        compressing.push((phones, whole_reply, changes_reply));
        println!(
            "| {phones} | {} | {} | {} | {} / {} | {} ({}) | {} | {} in {} | {} in {} |",
            relay.get_changes(&[]).len(),
            ms(clone),
            ms(check),
            ms(new_actor),
            ms(known_actor),
            ms(save),
            bytes(saved.len()),
            ms(load),
            bytes(whole_size),
            ms(whole_time),
            bytes(changes_size),
            ms(changes_time)
        );
    }
    println!(
        "\n## A phone's next request, after the team's edits: listing its own 15 changes since its last sync\n\n\
         | phones | the changes (`get_changes`) | their metadata (`get_changes_meta`) |\n|---|---|---|"
    );
    for (phones, as_changes, as_metadata) in listing {
        println!("| {phones} | {} | {} |", ms(as_changes), ms(as_metadata));
    }
    compressed_replies(&compressing);
    warm(&base, quick);
}
