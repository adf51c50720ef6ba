//! Syncing one document of a request: decide whether the caller may, read the message and look
//! up what needs no lock (the owners of its actors, the device's sync state), then queue it in
//! the place its request was promised in the document's work queue; the queue's batch checks,
//! applies, commits and answers it (see [`super::batch`]). A round created offline is the
//! exception: it has no queue to join yet, so it is stored here, under the document's lock.
//!
//! The order matters. A reply is generated before the commit but sent only after it, so a phone
//! never hears "I have your change" about a change that is not on disk. If the commit fails, the
//! in-memory copy (which already holds the changes) is thrown away and reloaded from disk on
//! next use, and the phone gets an `unavailable` rejection and will send them again.

use std::collections::HashMap;

use doorstep_core::Role;
use doorstep_core::document::Header;
use doorstep_core::id::{DocumentId, PersonId};
use doorstep_core::permission::Rule;
use doorstep_core::relay_engine::{self as engine, Incoming};
use doorstep_core::sync::{DocMessage, MessageLimits, Rejection, writer_header};

use super::Caller;
use super::batch::Job;
use super::budget::WorkBudget;
use super::queue::{self, Place};
use super::rejection::{self, reject};
use super::roster_at_hand::{SenderRosters, roster_at_hand};
use crate::access::{Access, Decision};
use crate::cache::CachedDoc;
use crate::clock;
use crate::growth_share;
use crate::relay::Relay;
use crate::state::AppState;
use crate::storage::{ActorBinding, DocCommit, DocumentRecord, StorageError, SyncStateWrite};

/// What syncing one document produced.
#[derive(Debug, Default)]
pub struct DocOutcome {
    /// The reply message.
    pub reply: Option<Vec<u8>>,
    /// The rejection, if the message was refused.
    pub rejection: Option<Rejection>,
    /// A sync state still to write (when nothing else about the document had to be).
    pub state: Option<SyncStateWrite>,
    /// The bytes of the changes the message added to the document: what its sender's share of
    /// the document's growth is charged in the end (`growth_share.rs`).
    pub added: usize,
    /// The actors it bound to its sender, first seen in it: each charged to the share too.
    pub bound_actors: usize,
}

impl DocOutcome {
    /// A refusal, with no reply and no state to write.
    pub(super) fn rejected(rejection: Rejection) -> Self {
        Self { rejection: Some(rejection), ..Self::default() }
    }
}

/// Syncs one document message; `place` is the place its request was promised in the document's
/// work queue, if the caller may sync the document.
pub async fn sync_document(
    state: &AppState,
    caller: &Caller,
    access: &Access,
    rosters: &SenderRosters,
    message: DocMessage,
    place: Option<Place>,
) -> DocOutcome {
    let (relay, config) = (&state.relay, &state.config);
    let id = message.doc;
    // Dropped with this future (the request timed out or the client left): the blocking work
    // then stops before its next step.
    let (budget, _cancel_on_drop) = WorkBudget::start(config.limits.document_work);
    let decision = match access.decide(id) {
        Some(decision) => decision,
        None => match relay.storage().document(id).await {
            Ok(stored) => Access::decide_elsewhere(stored),
            Err(e) => return unavailable(id, &e),
        },
    };
    match decision {
        Decision::Forbidden { rule, reason } => DocOutcome::rejected(reject(id, rule, None, reason)),
        Decision::Allowed { record, role } => match place {
            Some(place) => {
                let ctx = Context { caller, access, rosters, budget: &budget };
                existing(state, &ctx, record, role, message.message, place).await
            }
            // Admission promises a place to every document the caller may sync.
            None => unavailable(id, &"no place in the document's queue"),
        },
        Decision::Unknown if access.coordinates_any() => {
            let ctx = Context { caller, access, rosters, budget: &budget };
            new_document(state, &ctx, id, message.message).await
        }
        // A document this relay never held, or lost (restored from an older backup): the phone
        // keeps it and its work; a coordinator's phone holding it brings it back.
        Decision::Unknown => DocOutcome::rejected(reject(
            id,
            rejection::NOT_HELD,
            None,
            format!(
                "the relay does not hold document {id} (was it restored from an older backup?): this phone keeps it and its changes, and sends them once a coordinator's phone that holds it has synced"
            ),
        )),
    }
}

async fn read(
    id: DocumentId,
    bytes: Vec<u8>,
    limits: MessageLimits,
    budget: &WorkBudget,
) -> Result<Incoming, Rejection> {
    let budget = budget.clone();
    match tokio::task::spawn_blocking(move || engine::read(id, &bytes, &limits, &budget)).await {
        Ok(read) => read,
        Err(e) => {
            Err(reject(id, rejection::MALFORMED, None, format!("the sync message could not be read: {e}")))
        }
    }
}

/// Why a message was not let past its sender's share of the growth of its document.
enum NotWithinShare {
    /// The share is used up: the refusal, to answer like any refused message (with the news
    /// of the document, so the phone still hears everyone else's work).
    Over(Rejection),
    /// The store failed; nothing was taken.
    Unavailable(DocOutcome),
}

/// Takes the bytes of the message's changes, and [`growth_share::new_actor_cost`] for each of
/// its `new_actors` (actors the relay has never seen), from its sender's shares of the
/// document's growth and its compound's (`growth_share.rs`); past either, the refusal.
async fn within_growth_share(
    state: &AppState,
    caller: &Caller,
    role: Role,
    header: &Header,
    incoming: &Incoming,
    new_actors: usize,
) -> Result<growth_share::HeldCharge, NotWithinShare> {
    let id = header.id;
    let (throttles, share) = (state.relay.throttles(), state.config.limits.growth_share);
    let per_new_actor = growth_share::new_actor_cost(role, share);
    let adding = incoming.change_bytes().saturating_add(new_actors.saturating_mul(per_new_actor));
    if adding == 0 {
        return Ok(growth_share::HeldCharge::none(state.relay.throttles_held()));
    }
    match growth_share::take(throttles, caller.person, role, header.compound, id, adding, share).await {
        // Held from here on, so a request dropped before its message is answered (looking up
        // owners and sync state, waiting in the queue, creating a round) gives the bytes back.
        Ok(Ok(charge)) => {
            Ok(growth_share::HeldCharge::new(charge, state.relay.throttles_held(), per_new_actor))
        }
        Ok(Err(over)) => {
            tracing::warn!(
                person = %caller.person, doc = %id, compound = %header.compound, adding, share = over.share,
                of = ?over.of, "a message past its sender's share of the growth of its documents was refused"
            );
            state.metrics.share_refused();
            let recorded = state.relay.storage().record_share_refusal(
                caller.person,
                header.compound,
                id,
                header.kind,
                clock::now(),
            );
            if let Err(e) = recorded.await {
                tracing::warn!(error = %e, person = %caller.person, "a share refusal was not recorded for the members page");
            }
            Err(NotWithinShare::Over(reject(id, rejection::DOCUMENT_FULL, None, over.to_string())))
        }
        Err(e) => Err(NotWithinShare::Unavailable(unavailable(id, &e))),
    }
}

/// The owners of the actors a message's changes were made under.
async fn owners(relay: &Relay, incoming: &Incoming) -> Result<HashMap<String, PersonId>, StorageError> {
    let mut owners = HashMap::new();
    for actor in &incoming.actors {
        if let Some(owner) = relay.actor_owner(actor).await? {
            owners.insert(actor.clone(), owner);
        }
    }
    Ok(owners)
}

/// The document's lock, if it comes free within the budget: a message whose document is held
/// longer by others' work waits no longer than its own work could take.
async fn lock_within(
    relay: &Relay,
    id: DocumentId,
    budget: &WorkBudget,
) -> Option<tokio::sync::OwnedMutexGuard<crate::cache::Slot>> {
    tokio::time::timeout(budget.remaining(), relay.cache().lock(id)).await.ok()
}

/// How long a queued message waits for its batch before its phone is told to sync again: the
/// request's timeout less one document's work, and never less than that work.
fn queue_patience(limits: &crate::config::Limits) -> std::time::Duration {
    limits.request_timeout.saturating_sub(limits.document_work).max(limits.document_work)
}

fn busy(id: DocumentId) -> DocOutcome {
    DocOutcome::rejected(reject(
        id,
        rejection::UNAVAILABLE,
        None,
        "the document was busy with other phones' work for longer than one sync may wait; nothing was accepted, sync again",
    ))
}

pub(super) fn unavailable(id: DocumentId, error: &dyn std::fmt::Display) -> DocOutcome {
    tracing::error!(doc = %id, error = %error, "document not synced");
    DocOutcome::rejected(reject(
        id,
        rejection::UNAVAILABLE,
        None,
        "the relay could not read or store this document just now; nothing was accepted, sync again later",
    ))
}

/// A document that could not be brought into memory: damaged on disk (permanent, named), or
/// a passing storage failure.
pub(super) fn load_failed(id: DocumentId, error: &crate::cache::CacheError) -> DocOutcome {
    let damaged = match error {
        crate::cache::CacheError::Corrupt { .. } => true,
        crate::cache::CacheError::Storage(e) => crate::storage::sqlite::integrity::is_damage(e),
    };
    if !damaged {
        return unavailable(id, error);
    }
    tracing::error!(doc = %id, error = %error, "stored document is damaged");
    DocOutcome::rejected(reject(
        id,
        rejection::DOCUMENT_DAMAGED,
        None,
        format!(
            "document {id} is damaged on the relay and cannot be read, so nothing was accepted; a retry will \
             not help until a coordinator has the relay's database restored from a backup \
             (该文档在中继服务器上已损坏，无法读取；请协调员从备份恢复数据库)"
        ),
    ))
}

/// What a document's sync needs of its request: who sent it, what they may hold, what their
/// phone holds of its rosters, and the message's work budget.
struct Context<'a> {
    caller: &'a Caller,
    access: &'a Access,
    rosters: &'a SenderRosters,
    budget: &'a WorkBudget,
}

impl Context<'_> {
    /// `incoming`, its new work to be checked against the roster of `header`'s compound.
    async fn against_roster(&self, relay: &Relay, header: &Header, incoming: Incoming) -> Incoming {
        let (compound, kind) = (header.compound, header.kind);
        let roster =
            roster_at_hand(relay, self.access, self.rosters, compound, kind, &incoming.changes, self.budget)
                .await;
        incoming.against(roster)
    }
}

async fn existing(
    state: &AppState,
    ctx: &Context<'_>,
    record: DocumentRecord,
    role: Role,
    bytes: Vec<u8>,
    place: Place,
) -> DocOutcome {
    let (caller, budget) = (ctx.caller, ctx.budget);
    let relay = &state.relay;
    let id = record.header.id;
    let size = bytes.len();
    let incoming = match read(id, bytes, state.config.limits.sync_message, budget).await {
        Ok(incoming) => incoming.written_by(caller.writers.as_ref().map(writer_header::Writers::hex)),
        Err(rejection) => return forget_state(caller, rejection),
    };
    let incoming = ctx.against_roster(relay, &record.header, incoming).await;
    // The owners first: an actor bound to no one costs its sender's share (a new head).
    let owners = match owners(relay, &incoming).await {
        Ok(owners) => owners,
        Err(e) => return unavailable(id, &e),
    };
    let new_actors = incoming.actors.iter().filter(|a| !owners.contains_key(*a)).count();
    let charge = match within_growth_share(state, caller, role, &record.header, &incoming, new_actors).await {
        Ok(charge) => charge,
        // Answered in its turn like a refused message: its changes dropped, the document's news
        // sent from a fresh state, the device's sync state forgotten.
        Err(NotWithinShare::Over(rejection)) => {
            let job = Job::new(*caller, role, incoming, HashMap::new(), None, 0, budget.clone());
            let outcome = queued(state, id, place, job.turned(rejection.clone())).await;
            // A queue that gave up on it still owes the phone the reason.
            return match outcome.rejection {
                Some(ref answered) if answered.rule == rejection.rule => outcome,
                _ => forget_state(caller, rejection),
            };
        }
        Err(NotWithinShare::Unavailable(outcome)) => return outcome,
    };
    let stored_state = match relay.storage().sync_state(caller.device, id).await {
        Ok(found) => found,
        Err(e) => {
            charge.settle(0, 0).await;
            return unavailable(id, &e);
        }
    };
    // What the document already held, or refused, goes back to the sender's shares once the
    // message is answered; all of it if the message is dropped unread (its request gone).
    let job = Job::new(*caller, role, incoming, owners, stored_state, size, budget.clone()).charged(charge);
    queued(state, id, place, job).await
}

/// Queues `job` in `place` of document `id`'s work queue and waits for its outcome.
async fn queued(state: &AppState, id: DocumentId, place: Place, job: Job) -> DocOutcome {
    // Admission let the message in only if its batch should start within `max_wait`. The wait
    // is bounded again here, from the moment it is queued, for a document held longer than
    // admission foresaw (a large relay write, batches slower than the rate measured so far): by
    // what the request's timeout leaves once a batch's work is set aside, not by one document's
    // work budget. Giving up sooner throws nothing of the batch away but sends the phone back
    // into the stampede: at 1,000 phones, messages given up after 5 s came back at once, were
    // shed with `Retry-After` slots up to 30 s, and missed the 90 s deadline (BENCHMARKS.md §4).
    // A message whose request is gone is dropped unread when its turn comes; once its batch has
    // taken it, its outcome is awaited.
    let patience = queue_patience(&state.config.limits);
    match queue::submit(state, id, place, job).outcome(patience).await {
        Ok(outcome) => outcome,
        Err(queue::NoOutcome::GaveUp) => busy(id),
        Err(stopped @ queue::NoOutcome::Stopped) => unavailable(id, &stopped),
    }
}

/// The refusal of a message that would grow its document past the most a document may hold.
pub(super) fn document_full(id: DocumentId, limit: usize) -> Rejection {
    reject(
        id,
        rejection::DOCUMENT_FULL,
        None,
        format!(
            "document {id} would grow past {limit} bytes, the most a document may hold; \
             ask a coordinator to close old rounds or split the compound"
        ),
    )
}

/// Folds a document's chunks into one snapshot. Runs with the document locked, so nothing is
/// written to it meanwhile by this process.
pub(super) async fn compact(relay: &Relay, cached: &mut CachedDoc) {
    let id = cached.record.header.id;
    let doc = std::mem::take(&mut cached.doc);
    let (doc, snapshot) = match tokio::task::spawn_blocking(move || {
        let snapshot = doorstep_core::sync::loadable_snapshot(&doc);
        (doc, snapshot)
    })
    .await
    {
        Ok(done) => done,
        Err(e) => {
            tracing::error!(doc = %id, error = %e, "compaction task failed");
            return;
        }
    };
    cached.doc = doc;
    let snapshot = match snapshot {
        Ok(snapshot) => snapshot,
        Err(e) => {
            tracing::error!(doc = %id, error = %e, "not compacted: the document's saved copy would not load; its stored changes stay");
            return;
        }
    };
    let size = snapshot.len();
    match relay.storage().compact(id, snapshot, cached.known_seq).await {
        Ok(true) => {
            tracing::debug!(doc = %id, bytes = size, "compacted");
            cached.stored_bytes = size;
            cached.chunks_since_compaction = 0;
        }
        // Another process compacted it further since this copy was loaded; the next use reloads.
        Ok(false) => tracing::debug!(doc = %id, "already compacted further; kept"),
        Err(e) => tracing::warn!(doc = %id, error = %e, "compaction failed; the chunks stay"),
    }
}

/// A rejection that also forgets the device's sync state for the document, so its next sync
/// negotiates from scratch.
pub(super) fn forget_state(caller: &Caller, rejection: Rejection) -> DocOutcome {
    let state = SyncStateWrite { device: caller.device, doc: rejection.doc, state: None };
    DocOutcome { rejection: Some(rejection), state: Some(state), ..DocOutcome::default() }
}

/// A message for a document the relay does not have, from someone who runs a compound: a round
/// created offline. The first message of a session carries no changes, so the relay answers
/// from an empty document (asking for everything) and stores nothing; the next one carries the
/// round, which is checked like any change and stored whole.
async fn new_document(state: &AppState, ctx: &Context<'_>, id: DocumentId, bytes: Vec<u8>) -> DocOutcome {
    let (caller, access, budget) = (ctx.caller, ctx.access, ctx.budget);
    let relay = &state.relay;
    let incoming = match read(id, bytes, state.config.limits.sync_message, budget).await {
        Ok(incoming) => incoming.written_by(caller.writers.as_ref().map(writer_header::Writers::hex)),
        Err(rejection) => return DocOutcome::rejected(rejection),
    };
    let Some(mut slot) = lock_within(relay, id, budget).await else { return busy(id) };
    match slot.fresh(relay.storage()).await {
        Ok(None) => {}
        Ok(Some(_)) => {
            // Created by a request that ran while this one waited: the phone's next sync treats
            // it like any other document.
            return DocOutcome::rejected(reject(
                id,
                rejection::UNAVAILABLE,
                None,
                "the document was just created; sync again",
            ));
        }
        Err(e) => return unavailable(id, &e),
    }
    if incoming.changes.is_empty() {
        return match engine::answer_unheld(id, incoming.message) {
            Ok(reply) => DocOutcome { reply, ..DocOutcome::default() },
            Err(rejection) => DocOutcome::rejected(rejection),
        };
    }
    let owners = match owners(relay, &incoming).await {
        Ok(owners) => owners,
        Err(e) => return unavailable(id, &e),
    };
    let changes = incoming.changes.clone();
    let header = match tokio::task::spawn_blocking(move || engine::header_of(id, &changes)).await {
        Ok(Ok(header)) => header,
        Ok(Err(rejection)) => return DocOutcome::rejected(rejection),
        Err(e) => return unavailable(id, &e),
    };
    let role = access.role_in(header.compound);
    let incoming = ctx.against_roster(relay, &header, incoming).await;
    // Someone with no role in the round's compound is refused by the engine, taking nothing.
    let shared = match role {
        Some(role) => within_growth_share(state, caller, role, &header, &incoming, 0).await,
        None => Ok(growth_share::HeldCharge::none(relay.throttles_held())),
    };
    let charge = match shared {
        Ok(charge) => charge,
        Err(NotWithinShare::Over(rejection)) => return DocOutcome::rejected(rejection),
        Err(NotWithinShare::Unavailable(outcome)) => return outcome,
    };
    let outcome = create(relay, caller, role, header, incoming, owners, slot, budget).await;
    // A request dropped while the round is made gives all of its charge back, even if the
    // store then takes the round: the error is on the coordinator's side.
    charge.settle(outcome.added, outcome.bound_actors).await;
    outcome
}

/// Creates the round `header` names from the changes of `incoming`, under its lock (`slot`).
#[allow(clippy::too_many_arguments)]
async fn create(
    relay: &Relay,
    caller: &Caller,
    role: Option<Role>,
    header: Header,
    incoming: Incoming,
    owners: HashMap<String, PersonId>,
    mut slot: tokio::sync::OwnedMutexGuard<crate::cache::Slot>,
    budget: &WorkBudget,
) -> DocOutcome {
    let id = header.id;
    let added = incoming.change_bytes();
    let (person, actor, now, work_budget) =
        (caller.person, relay.actor().clone(), clock::now(), budget.clone());
    let worked = tokio::task::spawn_blocking(move || {
        engine::create(header, person, role, incoming, &owners, now, &work_budget, actor)
    })
    .await;
    let engine::Created { doc, header, snapshot, bindings, state, reply } = match worked {
        Ok(Ok(created)) => created,
        Ok(Err(refused)) => {
            return DocOutcome {
                reply: refused.reply,
                rejection: Some(refused.rejection),
                ..DocOutcome::default()
            };
        }
        Err(e) => return unavailable(id, &e),
    };
    let created = CachedDoc::created(header, doc, snapshot.len());
    let commit = DocCommit {
        record: created.record,
        create: Some(snapshot),
        chunk: Vec::new(),
        known_seq: 0,
        bindings: bindings.iter().map(|a| ActorBinding { actor: a.clone(), person: caller.person }).collect(),
        sync_state: Some(SyncStateWrite { device: caller.device, doc: id, state: Some(state.encode()) }),
        decides: None,
        at: clock::now(),
    };
    match relay.storage().commit(commit).await {
        Ok(_) => {
            for actor in &bindings {
                relay.remember_owner(actor, caller.person);
            }
            tracing::info!(doc = %id, compound = %header.compound, person = %caller.person, "round created by sync");
            slot.put(created);
            DocOutcome { reply, rejection: None, state: None, added, bound_actors: 0 }
        }
        Err(StorageError::ActorTaken { actor, .. }) => {
            let rule = Rule::ActorsBelongToTheirPerson;
            DocOutcome::rejected(reject(
                id,
                rule.code(),
                None,
                format!("actor {actor} belongs to another person: {}", rule.explain()),
            ))
        }
        Err(e) => unavailable(id, &e),
    }
}
