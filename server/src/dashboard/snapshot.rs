//! A compound as the dashboard reads it: every document, closed rounds included, copied out of
//! the relay's cache into a core [`Compound`], so that every view is a core query (or a small
//! function over core's types) and reads exactly what phones sync.
//!
//! Each document is locked only while it is brought up to date and copied; the copy and the
//! query run on the blocking pool. Copying costs less than holding the documents locked while a
//! view is built: phones syncing the roster wait for the copy, not for the view.

use automerge::Automerge;
use doorstep_core::Compound;
use doorstep_core::document::{Document, Header};
use doorstep_core::id::CompoundId;
use doorstep_core::schema::vocabulary::DocKind;

use super::blocking;
use super::error::DashError;
use crate::relay::{Relay, RelayError};

/// Which rounds to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rounds {
    /// Only open rounds: what the overview, the map and the roster need.
    Open,
    /// Closed rounds too: history, exports, the rounds list.
    All,
}

/// The compound's documents, as stored now.
pub async fn load(relay: &Relay, compound: CompoundId, rounds: Rounds) -> Result<Compound, DashError> {
    let mut records = relay.storage().documents_of(vec![compound]).await?;
    records.retain(|r| r.open || rounds == Rounds::All);
    records.sort_by_key(|r| r.header.id);
    let mut copies: Vec<(Header, Automerge)> = Vec::with_capacity(records.len());
    for record in records {
        let mut slot = relay.cache().lock(record.header.id).await;
        if slot.fresh(relay.storage()).await?.is_none() {
            continue;
        }
        let header = record.header;
        let copy = blocking(move || slot.held().map(|cached| cached.doc.clone())).await?;
        if let Some(doc) = copy {
            copies.push((header, doc));
        }
    }
    let actor = relay.actor().clone();
    blocking(move || {
        let mut out = Compound::new(compound, actor);
        for (header, doc) in copies {
            // A copy: migrating it on load (an older schema version) changes nothing stored.
            match Document::from_automerge(header, doc) {
                Ok(document) => out.insert(document),
                Err(e) if header.kind == DocKind::Round => {
                    // One unreadable round should not take the whole dashboard down.
                    tracing::error!(doc = %header.id, error = %e, "round does not load; left out");
                }
                Err(e) => {
                    return Err(RelayError::Inconsistent { id: header.id, reason: e.to_string() }.into());
                }
            }
        }
        Ok(out)
    })
    .await?
}
