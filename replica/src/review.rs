//! What became of the set-aside operations: each is sent once to the relay's review inbox, in
//! readable form, and the phone asks after it on every sync until a coordinator applied or
//! dismissed it. Until then it counts as "N set aside, under review"; afterwards the listing
//! shows who applied it, or who dismissed it and why.
//!
//! The state lives in its own table of the replica's file (schema version 3), keyed by the
//! refused change's hash. No row means not sent yet. The outcome (a coordinator's name and
//! reason) is sealed in an encrypted file like every other value a person wrote.

use std::collections::HashMap;

use doorstep_core::Operation;
use doorstep_core::sync::{
    MAX_SET_ASIDE_AWAITING, MAX_SET_ASIDE_ITEMS, SetAsideAnswer, SetAsideDecision, SetAsideExchange,
    SetAsideUpload,
};
use rusqlite::{Connection, Transaction, params};
use serde::{Deserialize, Serialize};

use crate::error::ReplicaError;
use crate::replica::Replica;
use crate::store::{Codec, Write, bytes_at};

/// The table, created by schema version 3 of the replica's file.
pub(crate) const SCHEMA: &str = "
CREATE TABLE set_aside_reviews (
    hash TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    outcome BLOB
);
";

/// Where a set-aside item stands with the coordinators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    /// Not sent to the review inbox yet (next sync).
    NotSent,
    /// In the review inbox, waiting for a coordinator.
    UnderReview,
    /// A coordinator applied it as their own operation.
    Applied,
    /// A coordinator dismissed it, with a reason.
    Dismissed,
    /// The relay would not take it (`review_note` says why); export it for a coordinator.
    NotAccepted,
    /// The relay's document held its change all along: a sync took it and its answer never
    /// reached the phone. Synced, with nothing to review.
    Synced,
}

impl ReviewState {
    /// The word stored and shown (`under_review`).
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewState::NotSent => "not_sent",
            ReviewState::UnderReview => "under_review",
            ReviewState::Applied => "applied",
            ReviewState::Dismissed => "dismissed",
            ReviewState::NotAccepted => "not_accepted",
            ReviewState::Synced => "synced",
        }
    }

    /// The state a stored word names; an unknown word reads as not sent (it is sent again).
    pub fn from_str_lossy(text: &str) -> Self {
        match text {
            "under_review" => ReviewState::UnderReview,
            "applied" => ReviewState::Applied,
            "dismissed" => ReviewState::Dismissed,
            "not_accepted" => ReviewState::NotAccepted,
            "synced" => ReviewState::Synced,
            _ => ReviewState::NotSent,
        }
    }

    /// Whether a coordinator decided it, or the relay had it all along: it no longer counts as
    /// set aside, under review.
    pub fn decided(self) -> bool {
        matches!(self, ReviewState::Applied | ReviewState::Dismissed | ReviewState::Synced)
    }
}

/// What one answer of the review inbox told of set-aside items, new to the phone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnswerLearned {
    /// Items a coordinator applied or dismissed.
    pub decided: usize,
    /// Items the relay held all along (taken in a sync whose answer was cut off): synced after
    /// all, reviewed by no one.
    pub synced: usize,
}

/// A review's outcome as kept on the phone (sealed in an encrypted file).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeptOutcome {
    pub by: Option<String>,
    pub by_name: Option<String>,
    pub at: Option<i64>,
    pub note: Option<String>,
}

/// The row names that seal each outcome (its associated data).
pub(crate) fn outcome_context(hash: &str) -> String {
    format!("set_aside review {hash}")
}

/// Records an item's state and outcome.
pub(crate) fn record(
    tx: &Transaction<'_>,
    codec: &Codec,
    hash: &str,
    state: ReviewState,
    outcome: Option<&KeptOutcome>,
) -> Result<(), ReplicaError> {
    let outcome = outcome
        .map(|o| {
            let json = serde_json::to_string(o)
                .map_err(|e| ReplicaError::Journal(format!("review outcome does not serialize: {e}")))?;
            codec.text_value(&outcome_context(hash), &json)
        })
        .transpose()?;
    tx.prepare_cached(
        "INSERT INTO set_aside_reviews (hash, state, outcome) VALUES (?1, ?2, ?3)
         ON CONFLICT(hash) DO UPDATE SET state = excluded.state, outcome = excluded.outcome",
    )?
    .execute(params![hash, state.as_str(), outcome])?;
    Ok(())
}

/// Every item's state and outcome, by hash.
pub(crate) fn all(
    conn: &Connection,
    codec: &Codec,
) -> Result<HashMap<String, (ReviewState, KeptOutcome)>, ReplicaError> {
    let mut stmt = conn.prepare_cached("SELECT hash, state, outcome FROM set_aside_reviews")?;
    let rows: Vec<(String, String, Option<Vec<u8>>)> = stmt
        .query_map([], |r| {
            let outcome = match r.get_ref(2)? {
                rusqlite::types::ValueRef::Null => None,
                _ => Some(bytes_at(r, 2)?),
            };
            Ok((r.get(0)?, r.get(1)?, outcome))
        })?
        .collect::<Result<_, _>>()?;
    let mut out = HashMap::new();
    for (hash, state, outcome) in rows {
        let outcome = match outcome {
            Some(stored) => {
                let json = codec.text(&outcome_context(&hash), stored)?;
                serde_json::from_str(&json).unwrap_or_default()
            }
            None => KeptOutcome::default(),
        };
        out.insert(hash, (ReviewState::from_str_lossy(&state), outcome));
    }
    Ok(out)
}

/// A line a person reads for an operation: its tag and the door it names, when the phone knows
/// it; for a change without one, what the change itself writes (`raw_change_words.rs`).
fn summary(replica: &Replica, operation: Option<&str>, document: &str, bytes: &[u8]) -> String {
    let raw = || match crate::raw_change_words::words(bytes) {
        Some(words) => format!("a change to document {document}: {words}"),
        None => format!("a change to document {document}"),
    };
    let Some(json) = operation else { return raw() };
    let Ok(op) = serde_json::from_str::<Operation>(json) else { return raw() };
    let tag = serde_json::to_value(&op)
        .ok()
        .and_then(|v| v.get("op").and_then(|t| t.as_str()).map(str::to_owned))
        .unwrap_or_default();
    let value: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    let household = value.get("household").and_then(|h| h.as_str()).and_then(|h| h.parse().ok());
    let task = value.get("task").and_then(|t| t.as_str()).and_then(|t| t.parse().ok());
    let door = replica.compounds().find_map(|c| {
        let id = household
            .or_else(|| task.and_then(|t| c.tasks().into_iter().find(|k| k.id == t).map(|k| k.household)))?;
        c.households().into_iter().find(|h| h.id == id).map(|h| h.address.to_string())
    });
    match door {
        Some(door) => format!("{tag} · {door}"),
        None => tag,
    }
}

/// About what `upload` comes to in a request: its texts and a margin for the rest.
fn upload_bytes(upload: &SetAsideUpload) -> usize {
    256 + upload.summary.len()
        + upload.reason.len()
        + upload.rule.len()
        + upload.operation.as_ref().map_or(0, String::len)
}

impl Replica {
    /// What to send to the review inbox now: the set-aside items not sent yet (as many as one
    /// exchange may carry) and those sent but not yet decided. Items over the shared size limits
    /// are marked not accepted instead, with the reason, and kept for export.
    ///
    /// On a link that dropped a request lately (a reply budget), the items sent at once come to
    /// about the request budget, at least one: 32 items of a removed volunteer's day (46 KB)
    /// sent whole were cut by every short window, and none reached the coordinators.
    pub fn set_aside_exchange(&mut self) -> Result<SetAsideExchange, ReplicaError> {
        let changes = self.store().quarantine()?;
        let mut exchange = SetAsideExchange::default();
        let mut too_large: Vec<(String, String)> = Vec::new();
        let mut room = self.reply_budget();
        for c in &changes {
            match ReviewState::from_str_lossy(&c.review_state) {
                ReviewState::NotSent
                    if exchange.items.len() < MAX_SET_ASIDE_ITEMS
                        && (exchange.items.is_empty() || room.is_none_or(|left| left > 0)) =>
                {
                    let upload = SetAsideUpload {
                        id: c.hash.clone(),
                        doc: match c.document.parse() {
                            Ok(doc) => doc,
                            Err(_) => continue,
                        },
                        compound: c.compound.as_deref().and_then(|id| id.parse().ok()),
                        // The relay takes an item naming only its sender: one made by an earlier
                        // person whose sign-in the relay lost goes without a name, as the
                        // sender's, its reason saying who made it (`lost_sign_in.rs`).
                        person: c
                            .person
                            .as_deref()
                            .and_then(|p| p.parse().ok())
                            .filter(|p| self.person.is_none_or(|signed_in| signed_in == *p)),
                        summary: summary(self, c.operation.as_deref(), &c.document, &c.bytes),
                        operation: c.operation.clone(),
                        made_at: c.made_at,
                        set_aside_at: c.at,
                        rule: c.rule.clone(),
                        reason: c.reason.clone(),
                    };
                    match upload.oversize() {
                        Some(why) => too_large.push((c.hash.clone(), why)),
                        None => {
                            if let Some(left) = room.as_mut() {
                                *left = left.saturating_sub(upload_bytes(&upload));
                            }
                            exchange.items.push(upload);
                        }
                    }
                }
                ReviewState::UnderReview if exchange.awaiting.len() < MAX_SET_ASIDE_AWAITING => {
                    exchange.awaiting.push(c.hash.clone());
                }
                _ => {}
            }
        }
        if !too_large.is_empty() {
            let outcomes: Vec<(String, KeptOutcome)> = too_large
                .into_iter()
                .map(|(hash, note)| (hash, KeptOutcome { note: Some(note), ..KeptOutcome::default() }))
                .collect();
            let writes: Vec<Write<'_>> = outcomes
                .iter()
                .map(|(hash, outcome)| Write::Review {
                    hash,
                    state: ReviewState::NotAccepted,
                    outcome: Some(outcome),
                })
                .collect();
            self.store_mut().commit(&writes)?;
        }
        Ok(exchange)
    }

    /// Records the relay's answer: items received are under review, refused ones not accepted,
    /// decided ones applied or dismissed, ones the relay held all along synced. Returns how many
    /// outcomes were new, those a coordinator decided apart from those the relay held all along
    /// (no one reviewed them: "reviewed by a coordinator" said what did not happen).
    pub fn record_set_aside_answer(
        &mut self,
        answer: &SetAsideAnswer,
    ) -> Result<AnswerLearned, ReplicaError> {
        let mut rows: Vec<(String, ReviewState, Option<KeptOutcome>)> = Vec::new();
        for id in &answer.received {
            rows.push((id.clone(), ReviewState::UnderReview, None));
        }
        for id in &answer.held {
            rows.push((id.clone(), ReviewState::Synced, None));
        }
        for refusal in &answer.refused {
            let note = KeptOutcome { note: Some(refusal.reason.clone()), ..KeptOutcome::default() };
            rows.push((refusal.id.clone(), ReviewState::NotAccepted, Some(note)));
        }
        for outcome in &answer.outcomes {
            let (state, note) = match &outcome.decision {
                SetAsideDecision::Applied => (ReviewState::Applied, None),
                SetAsideDecision::Dismissed { reason } => (ReviewState::Dismissed, Some(reason.clone())),
            };
            let kept = KeptOutcome {
                by: Some(outcome.by.to_string()),
                by_name: outcome.by_name.clone(),
                at: Some(outcome.at),
                note,
            };
            rows.push((outcome.id.clone(), state, Some(kept)));
        }
        // Only items this phone set aside; an answer naming anything else is ignored. An item
        // the phone let go of keeps no coordinator's name or note (`let_go.rs`).
        let known: std::collections::HashSet<String> =
            self.store().quarantine()?.into_iter().map(|c| c.hash).collect();
        rows.retain(|(hash, _, _)| known.contains(hash));
        let let_go = self.store().let_go_hashes()?;
        for (hash, _, outcome) in &mut rows {
            if let (true, Some(kept)) = (let_go.contains(hash.as_str()), outcome.as_mut()) {
                *kept = crate::let_go::stripped(kept);
            }
        }
        let writes: Vec<Write<'_>> = rows
            .iter()
            .map(|(hash, state, outcome)| Write::Review { hash, state: *state, outcome: outcome.as_ref() })
            .collect();
        self.store_mut().commit(&writes)?;
        let count = |of: fn(&ReviewState) -> bool| rows.iter().filter(|(_, state, _)| of(state)).count();
        Ok(AnswerLearned {
            decided: count(|s| matches!(s, ReviewState::Applied | ReviewState::Dismissed)),
            synced: count(|s| *s == ReviewState::Synced),
        })
    }
}
