//! Changes whose operations refer to operations not made before them: an object made inside
//! itself, an element inserted after a later one, an operation overwriting a later one.
//! Automerge never writes these, and Automerge 0.12 trusts that it does not: an object inside
//! itself made the relay's check walk its path to the root forever, growing memory until the
//! process died (found by the `relay_document` fuzzer; a 483-byte message). Each is refused as
//! malformed before Automerge applies it, and the document is left as it was.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use automerge::legacy::{ElementId, Key, ObjectId, OpId};
use automerge::{Automerge, Change, ExpandedChange};
use doorstep_core::relay_engine::{self as engine, Unlimited, rejection};
use doorstep_core::schema::vocabulary::DocKind;
use doorstep_core::sync::{MessageLimits, PeerState, decode, generate};
use doorstep_core::{Operation, Timestamp};
use support::crafted::{counter_of, make_object_inside_itself};
use support::{Fixture, TestEnv, device, fork};

/// A coordinator's honest edit of the roster's notes, made on a phone: the relay's copy of the
/// roster and the phone's one new change, decoded.
fn an_honest_edit(fx: &Fixture) -> (Automerge, ExpandedChange) {
    let mut phone = fork(&fx.compound, device(7));
    let mut env = TestEnv::seeded(7);
    env.set_now(Timestamp::from_millis(fx.env.now().as_millis() + 60_000));
    let household = fx.household("2-1-101");
    let edit = Operation::EditNotes { household, notes: "门口放".into() };
    phone.apply(&mut env.env(), &fx.people.coordinator, &edit).unwrap();
    let roster = phone.single(DocKind::Roster).unwrap();
    let relay = fx.compound.document(roster.id()).unwrap().automerge().clone();
    let change = roster.automerge().get_changes(&relay.get_heads()).pop().expect("the edit");
    (relay, change.decode())
}

/// The relay engine's answer to a message carrying `change` for the roster, as a coordinator,
/// and how long it took: taken, the relay's copy holds it; refused, the copy is unchanged.
fn relay_takes(fx: &Fixture, relay: &Automerge, change: ExpandedChange) -> (Result<(), String>, Duration) {
    let change = Change::from(change);
    let mut message =
        decode(&generate(relay, &mut PeerState::new()).unwrap(), &MessageLimits::default()).unwrap();
    message.heads = vec![change.hash()];
    message.changes = vec![change.raw_bytes().to_vec()].into();
    let bytes = message.encode();
    let roster = fx.compound.single(DocKind::Roster).unwrap();
    let mut doc = relay.clone();
    let started = Instant::now();
    let result =
        engine::read(roster.id(), &bytes, &MessageLimits::default(), &Unlimited).and_then(|incoming| {
            engine::apply(
                &mut doc,
                roster.header(),
                &fx.people.coordinator,
                incoming,
                &HashMap::new(),
                PeerState::new(),
                Timestamp::from_millis(fx.env.now().as_millis() + 120_000),
                &Unlimited,
            )
            .map_err(|refused| refused.rejection)
        });
    let took = started.elapsed();
    let result =
        result.map(|_| assert_eq!(doc.get_heads(), vec![change.hash()], "taken")).map_err(|rejection| {
            assert_eq!(
                doc.get_heads(),
                relay.get_heads(),
                "a refused message left the relay's copy as it was"
            );
            assert_eq!(rejection.rule, rejection::MALFORMED, "{}", rejection.reason);
            rejection.reason
        });
    (result, took)
}

#[test]
fn the_honest_edit_is_taken() {
    let fx = Fixture::default();
    let (relay, change) = an_honest_edit(&fx);
    let (result, _) = relay_takes(&fx, &relay, change);
    result.expect("an honest change passes the order check");
}

#[test]
fn an_object_made_inside_itself_is_refused_at_once() {
    let fx = Fixture::default();
    let (relay, mut change) = an_honest_edit(&fx);
    // The fuzzer's shape: the change's last operation made a map whose parent is itself.
    make_object_inside_itself(&mut change);
    let (result, took) = relay_takes(&fx, &relay, change);
    let reason = result.expect_err("an object inside itself is refused");
    assert!(reason.contains("not earlier than itself"), "{reason}");
    assert!(took < Duration::from_secs(5), "refused before Automerge walked the cycle: {took:?}");
}

#[test]
fn writing_into_an_object_made_later_is_refused() {
    let fx = Fixture::default();
    let (relay, mut change) = an_honest_edit(&fx);
    let later = OpId(counter_of(&change, change.operations.len()) + 5, change.actor_id.clone());
    change.operations[0].obj = ObjectId::Id(later);
    let reason = relay_takes(&fx, &relay, change).0.expect_err("refused");
    assert!(reason.contains("refers to the object"), "{reason}");
}

#[test]
fn inserting_after_a_later_element_is_refused() {
    let fx = Fixture::default();
    let (relay, mut change) = an_honest_edit(&fx);
    let own = OpId(counter_of(&change, 0), change.actor_id.clone());
    change.operations[0].key = Key::Seq(ElementId::Id(own));
    change.operations[0].insert = true;
    let reason = relay_takes(&fx, &relay, change).0.expect_err("refused");
    assert!(reason.contains("refers to the list element"), "{reason}");
}

#[test]
fn overwriting_a_later_operation_is_refused() {
    let fx = Fixture::default();
    let (relay, mut change) = an_honest_edit(&fx);
    let later = OpId(counter_of(&change, 0) + 1, change.actor_id.clone());
    change.operations[0].pred = vec![later].into();
    let reason = relay_takes(&fx, &relay, change).0.expect_err("refused");
    assert!(reason.contains("refers to the operation it overwrites"), "{reason}");
}
