//! The review inbox: operations phones set aside (refused for good by the relay) arrive here in
//! readable form (`POST /v1/set-aside`), wait for their compound's coordinators on the dashboard,
//! who apply or dismiss each, and the outcome goes back to the phone that sent it on its next
//! exchange. See `doorstep_core::sync::SetAsideExchange` for the wire.
//!
//! What the relay takes: only from a signed-in device, only items naming the caller (or no one,
//! then the caller is taken), only for documents of a compound the caller is, or was until a
//! coordinator removed them at most [`FORMER_MEMBER_DAYS`] ago, a member of (work made before
//! the removal still reaches the coordinators, by the phone's first sync after it), each stored
//! once per device and change hash, and at most [`WAITING_PER_DEVICE`] waiting for a decision
//! per device: past that, items are left unanswered and the phone sends them again with a later
//! sync, so no honest item is turned away for good; the inbox lists items by turns between
//! devices past its limit, so no one device can bury it. A decision goes back to the person who
//! sent the item, whichever of their devices asks after it. An
//! item over the shared size limits, or an exchange with too many, is refused whole with 413:
//! an honest phone never sends one.

use std::collections::{HashMap, HashSet};

use doorstep_core::id::{CompoundId, DocumentId, PersonId};
use doorstep_core::sync::{
    MAX_SET_ASIDE_AWAITING, MAX_SET_ASIDE_ITEMS, SetAsideAnswer, SetAsideExchange, SetAsideOutcome,
    SetAsideRefusal,
};
use doorstep_core::{Operation, Timestamp};

use crate::error::AppError;
use crate::state::AppState;
use crate::storage::{NewSetAside, Session, SetAsideRecord};

/// Most set-aside items of one device waiting for a coordinator's decision. An honest phone sets
/// aside a handful in a lockdown (a knock after a round closed, a note on a household removed).
pub const WAITING_PER_DEVICE: usize = 1_000;

/// How long after a coordinator removed someone the relay still takes set-aside work from their
/// phone for that compound. Their phone sends it at its first sync after the removal (then wipes
/// the compound); a phone offline a month in a lockdown still gets through. Past it, a token the
/// person still holds (for their other compounds, or a lost phone) can no longer post to a
/// compound's inbox that is no longer theirs.
pub const FORMER_MEMBER_DAYS: i64 = 30;

/// Stores what `session`'s device sent and answers with the outcomes it asked after.
pub async fn exchange(
    state: &AppState,
    session: Session,
    exchange: SetAsideExchange,
    now: Timestamp,
) -> Result<SetAsideAnswer, AppError> {
    if exchange.items.len() > MAX_SET_ASIDE_ITEMS {
        return Err(AppError::TooLarge(format!(
            "{} set-aside items in one request; at most {MAX_SET_ASIDE_ITEMS} are taken, send the rest with the next sync (一次最多上传 {MAX_SET_ASIDE_ITEMS} 项)",
            exchange.items.len()
        )));
    }
    if exchange.awaiting.len() > MAX_SET_ASIDE_AWAITING {
        return Err(AppError::TooLarge(format!(
            "asking after {} set-aside items in one request; at most {MAX_SET_ASIDE_AWAITING} (一次最多查询 {MAX_SET_ASIDE_AWAITING} 项)",
            exchange.awaiting.len()
        )));
    }
    if let Some(why) = exchange.items.iter().find_map(|i| i.oversize()) {
        return Err(AppError::TooLarge(why));
    }
    let storage = state.relay.storage();
    let memberships: HashSet<CompoundId> =
        storage.memberships(session.person).await?.into_iter().map(|m| m.compound).collect();
    let mut former: HashMap<CompoundId, Option<Timestamp>> = HashMap::new();
    let mut room = WAITING_PER_DEVICE.saturating_sub(storage.set_aside_waiting(session.device).await?);
    let mut left_for_later = 0_usize;
    let mut answer = SetAsideAnswer::default();
    let mut taken = Vec::new();
    // The items' change hashes by document, to ask each document once which it holds.
    let mut asked: HashMap<DocumentId, Vec<String>> = HashMap::new();
    for item in &exchange.items {
        asked.entry(item.doc).or_default().push(item.id.clone());
    }
    let mut held: HashMap<DocumentId, HashSet<String>> = HashMap::new();
    for item in exchange.items {
        let refuse = |reason: String| SetAsideRefusal { id: item.id.clone(), reason };
        if !is_change_hash(&item.id) {
            answer.refused.push(refuse(format!(
                "item {:?} is not a change hash (64 hex digits); nothing was stored",
                item.id.chars().take(80).collect::<String>()
            )));
            continue;
        }
        if item.person.is_some_and(|p| p != session.person) {
            answer.refused.push(refuse(
                "the item names another person; a device sends only its own set-aside operations (只能上传本机本人的操作)"
                    .to_owned(),
            ));
            continue;
        }
        let operation = match item.operation.as_deref().map(serde_json::from_str::<Operation>) {
            Some(Err(e)) => {
                answer
                    .refused
                    .push(refuse(format!("the item's operation is not an operation this relay knows: {e}")));
                continue;
            }
            Some(Ok(op)) => Some(op),
            None => None,
        };
        // The document's compound; for a document this relay does not hold (restored from a
        // backup older than a round), the one the phone names.
        let record = storage.document(item.doc).await?;
        // An operation is set aside under the document its change was refused in: one held
        // under another (removing a household, under a round's knock) is no phone's, and would
        // have the coordinators apply what the card does not show.
        if let (Some(op), Some(record)) = (&operation, &record)
            && let Some((kind, round)) = op.document()
            && (kind != record.header.kind || round.is_some_and(|r| r != item.doc))
        {
            answer.refused.push(refuse(format!(
                "the item's operation writes the {} document{}, not the {} document {} it is set aside under; nothing was stored",
                kind.as_str(),
                round.map(|r| format!(" {r}")).unwrap_or_default(),
                record.header.kind.as_str(),
                item.doc
            )));
            continue;
        }
        let compound = match record.map(|r| r.header.compound).or(item.compound) {
            Some(compound) if memberships.contains(&compound) => compound,
            Some(compound) => match removed_at(storage, &mut former, compound, session.person).await? {
                Some(at) if now.as_millis() - at.as_millis() <= FORMER_MEMBER_DAYS * DAY_MS => compound,
                Some(at) => {
                    answer.refused.push(refuse(format!(
                        "you were removed from this compound on {} UTC, more than {FORMER_MEMBER_DAYS} days ago; its coordinators no longer take set-aside work from you, so tell one of them yourself (你已被移出该小区超过 {FORMER_MEMBER_DAYS} 天，请直接联系协调员)",
                        doorstep_core::schema::utc_offset::UtcOffset::from_minutes(0).map(|utc| utc.local_time(at)).unwrap_or_default()
                    )));
                    continue;
                }
                None => {
                    answer.refused.push(refuse(not_yours(item.doc)));
                    continue;
                }
            },
            None => {
                answer.refused.push(refuse(not_yours(item.doc)));
                continue;
            }
        };
        // Work the relay already holds (it took the change in a sync whose answer the link lost,
        // and the phone, removed meanwhile, set it aside unanswered) is synced, not for review:
        // applied by a coordinator it would be done twice.
        let held_in_doc = match held.entry(item.doc) {
            std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                let ids = asked.get(&item.doc).map(Vec::as_slice).unwrap_or_default();
                slot.insert(held_by_the_relay(state, item.doc, ids).await?)
            }
        };
        if held_in_doc.contains(&item.id) {
            answer.held.push(item.id.clone());
            continue;
        }
        if room == 0 {
            // Not answered: the phone keeps it as not sent and offers it again next time.
            left_for_later += 1;
            continue;
        }
        room -= 1;
        answer.received.push(item.id.clone());
        taken.push(NewSetAside {
            device: session.device,
            person: session.person,
            compound,
            // What the phone wrote for people to read is kept with any control character marked
            // (PostgreSQL stores no NUL): refusing it would strand the work it describes.
            item: doorstep_core::sync::SetAsideUpload {
                person: Some(session.person),
                summary: crate::admin::without_controls(&item.summary),
                rule: crate::admin::without_controls(&item.rule),
                reason: crate::admin::without_controls(&item.reason),
                ..item
            },
            received_at: now,
        });
    }
    if left_for_later > 0 {
        tracing::info!(items = left_for_later, device = %session.device, "set-aside items left for a later sync: the device has {WAITING_PER_DEVICE} waiting");
    }
    if !taken.is_empty() {
        tracing::info!(items = taken.len(), device = %session.device, "set-aside items received for review");
        storage.put_set_aside(taken).await?;
    }
    let awaiting: Vec<String> = exchange.awaiting.into_iter().filter(|h| is_change_hash(h)).collect();
    if !awaiting.is_empty() {
        let decided = storage.set_aside_outcomes(session.person, awaiting).await?;
        let mut names: HashMap<CompoundId, HashMap<PersonId, String>> = HashMap::new();
        for record in decided {
            let compound = record.received.compound;
            if let std::collections::hash_map::Entry::Vacant(slot) = names.entry(compound) {
                let members = storage.members(compound).await?;
                slot.insert(members.into_iter().map(|m| (m.person, m.name)).collect());
            }
            if let Some(outcome) = outcome(&record, names.get(&compound)) {
                answer.outcomes.push(outcome);
            }
        }
    }
    Ok(answer)
}

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Which of the change hashes `ids` (hex) document `doc` as the relay stores it holds: read
/// once per document of an exchange, under its lock.
pub(crate) async fn held_by_the_relay(
    state: &AppState,
    doc: DocumentId,
    ids: &[String],
) -> Result<HashSet<String>, AppError> {
    let relay = &state.relay;
    let mut slot = relay.cache().lock(doc).await;
    let cached =
        slot.fresh(relay.storage()).await.map_err(|e| AppError::Unavailable(format!("{e}; try again")))?;
    let Some(cached) = cached else { return Ok(HashSet::new()) };
    Ok(ids
        .iter()
        .filter(|id| {
            id.parse::<automerge::ChangeHash>()
                .is_ok_and(|hash| cached.doc.get_change_meta_by_hash(&hash).is_some())
        })
        .cloned()
        .collect())
}

/// The refusal of an item for a document of no compound the sender is or was a member of.
fn not_yours(doc: DocumentId) -> String {
    format!(
        "document {doc} is not in a compound you are a member of; set-aside work goes only to your own compound's coordinators (不属于你所在的小区)"
    )
}

/// When a coordinator removed `person` from `compound`, if they were once a member of it, looked
/// up once per compound of an exchange.
async fn removed_at(
    storage: &dyn crate::storage::Storage,
    former: &mut HashMap<CompoundId, Option<Timestamp>>,
    compound: CompoundId,
    person: PersonId,
) -> Result<Option<Timestamp>, AppError> {
    if let Some(known) = former.get(&compound) {
        return Ok(*known);
    }
    let at =
        storage.members(compound).await?.iter().filter(|m| m.person == person).find_map(|m| m.revoked_at);
    former.insert(compound, at);
    Ok(at)
}

/// What the phone learns of a decided item.
pub fn outcome(
    record: &SetAsideRecord,
    names: Option<&HashMap<PersonId, String>>,
) -> Option<SetAsideOutcome> {
    let decided = record.decided.as_ref()?;
    Some(SetAsideOutcome {
        id: record.received.item.id.clone(),
        decision: decided.decision.clone(),
        by: decided.by,
        by_name: names.and_then(|n| n.get(&decided.by).cloned()),
        at: decided.at.as_millis(),
    })
}

/// Whether `text` is an Automerge change hash as phones write it: 64 lower-case hex digits.
fn is_change_hash(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
