//! A revoked phone's report of the work that went with its wipe (core's `sync/wipe_report.rs`),
//! kept in the wiped file until the relay has heard it. The phone wipes itself the moment the
//! relay says its token was revoked, and says then how much of its work the relay never got;
//! on a landing the window of signal could close between the two, and the report, its token
//! wiped, could never be sent again: the coordinator saw a revoked phone and no word of the
//! four requests and the note that went with it (a helper's finding). So the relay's address,
//! the revoked token (which opens nothing but `POST /v1/wiped`) and the count are kept, and
//! every later sync sends them first, until the relay answers.

use serde::{Deserialize, Serialize};

use crate::error::ReplicaError;
use crate::replica::Replica;
use crate::store::Write;

/// The meta key holding the report, as JSON.
pub(crate) const PENDING_WIPE_REPORT: &str = "pending_wipe_report";

/// A wipe's report not yet heard by the relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingWipeReport {
    /// The relay the phone was signed in to.
    pub relay: String,
    /// The revoked token, which the relay still hears on `POST /v1/wiped` alone.
    pub token: String,
    /// The phone's work the relay was not known to have, which went with the wipe.
    pub unsent: u32,
    /// The hashes of the unsynced changes among it, for the relay to leave out those it holds
    /// (none in a report kept by an older app).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<doorstep_core::sync::UnsentChanges>,
}

impl Replica {
    /// Keeps `report` until [`Replica::wipe_report_heard`].
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn keep_wipe_report(&mut self, report: &PendingWipeReport) -> Result<(), ReplicaError> {
        // Strings and a number always serialize; were they not to, the empty value would read
        // as no report.
        let value = serde_json::to_vec(report).unwrap_or_default();
        self.store_mut().commit(&[Write::Meta { key: PENDING_WIPE_REPORT, value: &value }])
    }

    /// The wipe's report the relay has not heard yet, if any. One that does not read is
    /// forgotten: nothing can be sent of it.
    pub fn pending_wipe_report(&self) -> Result<Option<PendingWipeReport>, ReplicaError> {
        let Some(bytes) = self.store().meta(PENDING_WIPE_REPORT)? else { return Ok(None) };
        Ok(serde_json::from_slice(&bytes).ok())
    }

    /// The relay heard the wipe's report (or will never hear it: it no longer knows the token).
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn wipe_report_heard(&mut self) -> Result<(), ReplicaError> {
        self.store_mut().commit(&[Write::DeleteMeta { key: PENDING_WIPE_REPORT }])
    }
}
