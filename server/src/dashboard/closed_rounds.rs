//! What a closed round still asks of a coordinator: its conflicts (closing a round settles none
//! of them, and two deliveries arriving late make one after the close) and its late attempts.
//! The conflicts page and the overview list them beside the open rounds'.
//!
//! They do so without holding every closed round in memory: a compound's closed rounds only
//! grow in number, and those views are read at every change a phone syncs. Each closed round is
//! read from storage outside the relay's document cache, once per state of it, and what it shows
//! is kept ([`ClosedRoundNotes`]: its conflicts with their review state, its late attempts); a
//! later view asks storage only whether a chunk was written to it since (a late attempt, a
//! review), and reads it again if so. A round closed with nothing to review keeps an empty note.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use doorstep_core::id::{CompoundId, DocumentId};
use doorstep_core::query::{self, ConflictReview, LateAttempt};
use doorstep_core::schema::vocabulary::DocKind;

use super::error::DashError;
use super::{DashState, blocking};
use crate::cache;

/// What one closed round shows, as of a state of it.
#[derive(Debug)]
pub struct ClosedRound {
    /// The round.
    pub round: DocumentId,
    /// The highest stored chunk read.
    seq: i64,
    /// Its conflicts, each with the latest review covering it.
    pub conflicts: Vec<ConflictReview>,
    /// Its attempts that arrived after the close.
    pub late: Vec<LateAttempt>,
}

impl ClosedRound {
    /// Its conflicts no review covers.
    pub fn unreviewed(&self) -> usize {
        self.conflicts.iter().filter(|c| !c.is_reviewed()).count()
    }
}

/// The notes kept of closed rounds, by round.
#[derive(Debug, Default)]
pub struct ClosedRoundNotes {
    notes: Mutex<HashMap<DocumentId, Arc<ClosedRound>>>,
}

impl ClosedRoundNotes {
    fn kept(&self, round: DocumentId) -> Option<Arc<ClosedRound>> {
        self.notes.lock().unwrap_or_else(PoisonError::into_inner).get(&round).cloned()
    }

    fn keep(&self, note: Arc<ClosedRound>) {
        self.notes.lock().unwrap_or_else(PoisonError::into_inner).insert(note.round, note);
    }
}

/// The closed rounds of `compound`, as stored now, each read again only if written to since it
/// was last read.
pub async fn of(state: &DashState, compound: CompoundId) -> Result<Vec<Arc<ClosedRound>>, DashError> {
    let storage = state.app.relay.storage();
    let mut records = storage.documents_of(vec![compound]).await?;
    records.retain(|r| !r.open && r.header.kind == DocKind::Round);
    records.sort_by_key(|r| r.header.id);
    let mut out = Vec::with_capacity(records.len());
    for record in records {
        let round = record.header.id;
        if let Some(note) = state.closed_rounds.kept(round) {
            let since = storage.changes_since(round, note.seq).await?;
            if since.compacted_seq <= note.seq && since.chunks.is_empty() {
                out.push(note);
                continue;
            }
        }
        let Some(stored) = storage.load_document(round).await? else { continue };
        let loaded = cache::load(round, state.app.relay.actor().clone(), stored).await?;
        let note = blocking(move || {
            Arc::new(ClosedRound {
                round,
                seq: loaded.known_seq,
                conflicts: query::round_conflict_reviews(round, &loaded.doc),
                late: query::late_in_round(round, &loaded.doc),
            })
        })
        .await?;
        state.closed_rounds.keep(Arc::clone(&note));
        out.push(note);
    }
    Ok(out)
}
