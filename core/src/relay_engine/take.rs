//! Taking one message's changes into the document: the actor bindings, then the validator.

use std::collections::{BTreeSet, HashMap, HashSet};

use automerge::sync::Message;
use automerge::{Automerge, Change, ChangeHash};

use super::budget::Budget;
use super::incoming::Incoming;
use super::rejection::{self, reject};
use crate::document::Header;
use crate::id::PersonId;
use crate::role::Actor;
use crate::sync::{Rejection, UntakenChanges};
use crate::time::Timestamp;
use crate::validate;

/// A message whose new changes were checked and applied to the document, not yet answered.
#[derive(Debug)]
pub struct Taken {
    /// Actors to bind to the caller, first seen in this message.
    pub bindings: Vec<String>,
    /// The message without its changes: its heads, needs and bloom filter, still to be received.
    pub message: Message,
    /// Whether the message changed the document (it carried changes the document lacked).
    pub changed: bool,
    /// The changes it added to the document, each with its own bytes, in the order applied: what
    /// the relay stores and keeps for it. Copied from the message rather than saved from the
    /// document, which in Automerge 0.12 rebuilds changes from the whole op set (BENCHMARKS.md §4).
    pub changes: Vec<(ChangeHash, Vec<u8>)>,
    /// The bytes of those changes: what the message added to the document (changes it already
    /// held count nothing).
    pub added: usize,
    /// Part of the message was refused: the change it names and every change built on it. The
    /// rest was taken ([`Rejection::taken`] lists it for the phone).
    pub refused: Option<Rejection>,
    /// The message's changes the document lacked, to read the phone's heads through those not
    /// taken (`sync/untaken_changes.rs`).
    pub untaken: UntakenChanges,
}

/// A message whose changes were refused; the document is unchanged.
#[derive(Debug)]
pub struct Turned {
    /// Why.
    pub rejection: Rejection,
    /// The message without its changes, to answer from a fresh state so the phone still
    /// receives everyone else's changes; `None` when the work stopped on its budget.
    pub message: Option<Message>,
    /// Its changes the document lacked, through which the phone's heads are read.
    pub untaken: UntakenChanges,
}

/// Checks the new changes of `incoming` (the ones `doc` lacks) and applies them, on behalf of
/// `author`. `owners` are the people the changes' actors are bound to, as far as they are
/// bound; an actor bound to someone else refuses the message, an unbound one is returned in
/// [`Taken::bindings`] for the caller to bind. `now` is the relay's clock, which recorded times
/// must follow. The budget is checked before the changes are checked.
///
/// The answer is [`answer`](super::answer)'s: a batch takes all its messages first and answers
/// them once all are in, so each phone also hears what the others in its batch brought.
pub fn take(
    doc: &mut Automerge,
    header: &Header,
    author: &Actor,
    incoming: Incoming,
    owners: &HashMap<String, PersonId>,
    now: Timestamp,
    budget: &impl Budget,
) -> Result<Taken, Turned> {
    let Incoming { mut message, changes, writers, roster, .. } = incoming;
    // Whatever happens, the message's changes are never handed to Automerge's receive: it would
    // queue those with missing dependencies and apply them later, unchecked.
    message.changes = Vec::<Vec<u8>>::new().into();
    let mut seen = BTreeSet::new();
    let new: Vec<Change> = changes
        .into_iter()
        .filter(|c| doc.get_change_meta_by_hash(&c.hash()).is_none() && seen.insert(c.hash()))
        .collect();
    let untaken = UntakenChanges::of(&new);
    // Another person's changes the relay lacks (it was restored from an older backup, and this
    // phone had them from it): only their author's phone may send them, so they, and what this
    // phone built on them, wait here until it has; the rest is taken. So do changes under an
    // actor the relay has never seen that is not one the phone says it writes under: after
    // a restore, the first phone to offer another's new actor would otherwise be bound to it.
    let (new, held) = hold_others_changes(new, owners, author.person, writers.as_deref(), header);
    let mut bindings = BTreeSet::new();
    for change in &new {
        let actor = change.actor_id().to_hex_string();
        if !owners.contains_key(&actor) {
            bindings.insert(actor);
        }
    }
    if new.is_empty()
        && let Some(rejection) = held
    {
        return Err(Turned { rejection, message: Some(message), untaken });
    }
    if bindings.len() > crate::limits::NEW_ACTORS_PER_MESSAGE {
        let rejection = reject(
            header.id,
            rejection::MALFORMED,
            new.first().map(Change::hash),
            format!(
                "the message brings changes under {} actors the relay has never seen; a phone writes under its own, and at most {} new ones are taken in one message",
                bindings.len(),
                crate::limits::NEW_ACTORS_PER_MESSAGE
            ),
        );
        return Err(Turned { rejection, message: Some(message), untaken });
    }
    if let Err(stopped) = budget.check("checking its changes") {
        return Err(Turned {
            rejection: rejection::over_budget(header.id, &stopped),
            message: None,
            untaken,
        });
    }
    let mut bytes: HashMap<ChangeHash, Vec<u8>> =
        new.iter().map(|c| (c.hash(), c.raw_bytes().to_vec())).collect();
    let go_on = still_wanted(budget);
    let checked = validate::check_and_apply_against(doc, header, author, new, now, &roster, &go_on);
    let (applied, refused) = match checked {
        Ok(applied) => {
            let held = held.map(|mut rejection| {
                rejection.taken = applied.iter().map(ToString::to_string).collect();
                rejection
            });
            (applied, held)
        }
        Err(violation) => match take_apart(doc, header, author, &roster, &bytes, &violation, now, budget) {
            Some(applied) => {
                let mut rejection = rejection::from_violation(header.id, violation);
                rejection.taken = applied.iter().map(ToString::to_string).collect();
                (applied, Some(rejection))
            }
            None => {
                return Err(Turned {
                    rejection: rejection::from_violation(header.id, violation),
                    message: Some(message),
                    untaken,
                });
            }
        },
    };
    let changes: Vec<(ChangeHash, Vec<u8>)> =
        applied.iter().filter_map(|hash| bytes.remove(hash).map(|b| (*hash, b))).collect();
    // Only the changes taken are bound to the sender.
    let bindings = if refused.is_some() {
        let actors: BTreeSet<String> = changes
            .iter()
            .filter_map(|(_, b)| Change::from_bytes(b.clone()).ok())
            .map(|c| c.actor_id().to_hex_string())
            .collect();
        bindings.into_iter().filter(|a| actors.contains(a)).collect()
    } else {
        bindings.into_iter().collect()
    };
    let added = changes.iter().map(|(_, bytes)| bytes.len()).sum();
    Ok(Taken { bindings, message, changed: !applied.is_empty(), changes, added, refused, untaken })
}

/// Splits `changes` into the ones `author` may send and the refusal of the others: changes made
/// under an actor bound to another person, or, when the phone said which actors it writes under
/// (`writers`), under an unbound actor not among them; and every change built on one of them.
fn hold_others_changes(
    changes: Vec<Change>,
    owners: &HashMap<String, PersonId>,
    author: PersonId,
    writers: Option<&[String]>,
    header: &Header,
) -> (Vec<Change>, Option<Rejection>) {
    let others = |c: &Change| {
        let actor = c.actor_id().to_hex_string();
        match owners.get(&actor) {
            Some(owner) => *owner != author,
            None => writers.is_some_and(|w| !w.contains(&actor)),
        }
    };
    let Some(first) = changes.iter().find(|c| others(c)) else { return (changes, None) };
    let (first, actor) = (first.hash(), first.actor_id().to_hex_string());
    // In one walk along who builds on whom: passes over the message until none grows the set cost
    // a pass per change of a chain sent last-first (20,000 changes: 45 s of a core, the document
    // locked, after the request's 408).
    let others_changes: Vec<ChangeHash> = changes.iter().filter(|c| others(c)).map(Change::hash).collect();
    let held = with_builders_on(&changes, others_changes);
    let count = held.len();
    let rule = rejection::HELD_FOR_ITS_AUTHOR;
    let reason = format!(
        "change {first} was made on another phone (actor {actor}) and this relay does not hold it (was it restored from a backup?): only that phone may send it; it and the {} built on it stay on this phone and go up once that phone has synced",
        match count - 1 {
            1 => "1 change".to_owned(),
            n => format!("{n} changes"),
        }
    );
    let kept = changes.into_iter().filter(|c| !held.contains(&c.hash())).collect();
    (kept, Some(reject(header.id, rule, Some(first), reason)))
}

/// Whether finding the change a refused batch's problem comes from may go on: the budget allows
/// another application of the batch.
fn still_wanted(budget: &impl Budget) -> impl Fn() -> bool + '_ {
    || budget.check("finding the change that broke a rule").is_ok()
}

/// How many times a message is taken apart: an honest phone's changes are one chain per actor, so
/// the first refusal names the change everything after it builds on, and a second try takes the
/// rest. A few more cover a phone with several actors; beyond them the message is refused whole
/// (each try checks the message's changes again).
const TRIES_APART: usize = 3;

/// The changes of a refused message (`bytes`, the ones `doc` lacked) that do not build on the
/// change `violation` blames, applied to `doc` if every rule holds for them: the hashes applied.
/// `None` (and `doc` unchanged) when the violation blames no single change, is not about a rule
/// the change broke (malformed bytes, missing dependencies, a reused actor), the document is new
/// to the relay (its first change must come whole), nothing independent passes, or the budget
/// runs out.
#[allow(clippy::too_many_arguments)]
fn take_apart(
    doc: &mut Automerge,
    header: &Header,
    author: &Actor,
    roster: &validate::RosterAtHand,
    bytes: &HashMap<ChangeHash, Vec<u8>>,
    violation: &validate::Violation,
    now: Timestamp,
    budget: &impl Budget,
) -> Option<Vec<ChangeHash>> {
    use validate::ViolationKind;
    if doc.get_heads().is_empty() {
        return None;
    }
    let one_change_broke_a_rule =
        |kind| matches!(kind, ViolationKind::Forbidden(_) | ViolationKind::Schema | ViolationKind::TooLarge);
    if !one_change_broke_a_rule(violation.kind) {
        return None;
    }
    let mut changes: Vec<Change> =
        bytes.values().filter_map(|b| Change::from_bytes(b.clone()).ok()).collect();
    let mut blamed = violation.change;
    for _ in 0..TRIES_APART {
        let hash = blamed?;
        changes = without_builders_on(changes, hash);
        if changes.is_empty()
            || budget.check("checking the changes that do not build on a refused one").is_err()
        {
            return None;
        }
        let go_on = still_wanted(budget);
        match validate::check_and_apply_against(doc, header, author, changes.clone(), now, roster, &go_on) {
            Ok(applied) => return (!applied.is_empty()).then_some(applied),
            Err(next) if one_change_broke_a_rule(next.kind) => blamed = next.change,
            Err(_) => return None,
        }
    }
    None
}

/// `changes` without `refused` and every change that builds on it, directly or through others.
fn without_builders_on(changes: Vec<Change>, refused: ChangeHash) -> Vec<Change> {
    let out = with_builders_on(&changes, [refused]);
    changes.into_iter().filter(|c| !out.contains(&c.hash())).collect()
}

/// `roots` and every change of `changes` that builds on one of them, directly or not: one walk
/// from each root along the message's own dependency edges, reversed.
fn with_builders_on(changes: &[Change], roots: impl IntoIterator<Item = ChangeHash>) -> HashSet<ChangeHash> {
    let mut builders: HashMap<ChangeHash, Vec<ChangeHash>> = HashMap::new();
    for change in changes {
        for dep in change.deps() {
            builders.entry(*dep).or_default().push(change.hash());
        }
    }
    let mut out: HashSet<ChangeHash> = HashSet::new();
    let mut next: Vec<ChangeHash> = roots.into_iter().filter(|root| out.insert(*root)).collect();
    while let Some(hash) = next.pop() {
        for builder in builders.get(&hash).map(Vec::as_slice).unwrap_or_default() {
            if out.insert(*builder) {
                next.push(*builder);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use automerge::transaction::Transactable;
    use automerge::{ActorId, AutoCommit, ROOT};

    use super::*;

    #[test]
    fn builders_are_found_in_one_walk_whatever_order_the_changes_come_in() {
        let mut doc = AutoCommit::new().with_actor(ActorId::from([1; 16]));
        doc.put(ROOT, "base", 0).unwrap();
        doc.commit();
        let mut aside = doc.fork().with_actor(ActorId::from([2; 16]));
        aside.put(ROOT, "aside", 1).unwrap();
        aside.commit();
        for n in 0..50 {
            doc.put(ROOT, "chain", n).unwrap();
            doc.commit();
        }
        doc.merge(&mut aside).unwrap();
        let mut changes: Vec<Change> = doc.get_changes(&[]);
        let (base, aside) = (changes[0].hash(), aside.get_heads()[0]);
        // Last first: each change's dependency comes after it.
        changes.reverse();
        let chain_start =
            changes.iter().rev().find(|c| c.actor_id() == &ActorId::from([1; 16]) && c.seq() == 2);
        let chain_start = chain_start.unwrap().hash();
        let held = with_builders_on(&changes, [chain_start]);
        assert_eq!(held.len(), 50, "the chain's first change and the 49 built on it");
        assert!(
            !held.contains(&base) && !held.contains(&aside),
            "what it builds on, and what stands aside, are not held"
        );
        assert_eq!(with_builders_on(&changes, [base]).len(), changes.len(), "everything builds on the first");
        assert_eq!(without_builders_on(changes, chain_start).len(), 2);
    }
}
