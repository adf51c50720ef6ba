//! What a sync did and where the device stands: the records behind "N changes not yet
//! synced", "last synced at", and the list of changes the relay refused.

use doorstep_core::Timestamp;
use doorstep_core::id::DocumentId;
use doorstep_core::sync::Rejection;
use doorstep_replica::QuarantinedChange;

/// A change (or a document's message) the relay refused, and why. Nothing of it was stored but
/// the changes in `taken`; the refused change waits in `quarantine()`.
#[uniffi::remote(Record)]
pub struct Rejection {
    /// The document.
    pub doc: DocumentId,
    /// The refused change's hash (hex), when one change is to blame.
    pub change: Option<String>,
    /// The rule's code (`attempts_are_append_only`), or `schema`, `malformed`, `forbidden`.
    pub rule: String,
    /// A sentence a person can act on.
    pub reason: String,
    /// The changes of the same message the relay took all the same (hex): those that do not
    /// build on the refused one.
    pub taken: Vec<String>,
}

/// A local change the relay refused, kept on the device for review and export.
#[uniffi::remote(Record)]
pub struct QuarantinedChange {
    /// The change hash, hex.
    pub hash: String,
    /// The document it was made in.
    pub document: String,
    /// The compound it was made in, when recorded (items set aside since replica schema 4).
    pub compound: Option<String>,
    /// The rule's code.
    pub rule: String,
    /// The relay's explanation.
    pub reason: String,
    /// The raw Automerge change, for export to a coordinator.
    pub bytes: Vec<u8>,
    /// When it was quarantined (device time, Unix ms).
    pub at: i64,
    /// Who made it (person ID), when the operation was journaled.
    pub person: Option<String>,
    /// The operation that made it, as JSON, when journaled: what to show the volunteer.
    pub operation: Option<String>,
    /// When it was made (device time, Unix ms), when journaled.
    pub made_at: Option<i64>,
    /// Where it stands with the coordinators: `not_sent` (sent with the next sync),
    /// `under_review`, `applied`, `dismissed`, `not_accepted` (the relay would not take it;
    /// `review_note` says why), or `synced` (the relay had its change all along: a sync took it
    /// and the answer was cut off; nothing to review). Show "under review / 待协调员处理" until it
    /// is decided.
    pub review_state: String,
    /// The coordinator who applied or dismissed it (person ID).
    pub reviewed_by: Option<String>,
    /// Their name.
    pub reviewed_by_name: Option<String>,
    /// When they decided (relay time, Unix ms).
    pub reviewed_at: Option<i64>,
    /// Why it was dismissed, or why the relay would not take it.
    pub review_note: Option<String>,
}

/// What one `sync()` did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncReport {
    /// HTTP requests made (a normal backlog needs one or two).
    pub requests: u32,
    /// Bytes sent.
    pub bytes_up: u64,
    /// Bytes received.
    pub bytes_down: u64,
    /// Documents that changed on this device.
    pub changed: Vec<DocumentId>,
    /// Documents that arrived (a new round, a newly granted compound).
    pub fetched: Vec<DocumentId>,
    /// Documents that left the device (a closed round, a revoked membership).
    pub dropped: Vec<DocumentId>,
    /// What the relay refused for good; the refused operations are set aside, under review, in
    /// `quarantine()`.
    pub rejected: Vec<Rejection>,
    /// What the relay could not take just now (storage busy, a full document): kept on the
    /// phone and sent again by a later sync, never set aside. A sync with anything here is not
    /// "all synced": those documents' news did not arrive. One rule is cured by no wait:
    /// `document_damaged` (the relay's stored copy does not load; its reason says a coordinator
    /// must have the relay's database restored), so say that rather than "will sync later".
    pub retrying: Vec<Rejection>,
    /// Changes this sync set aside.
    pub set_aside: u32,
    /// Later operations carried out again after an earlier one was set aside.
    pub reapplied: u32,
    /// Times the sync waited and tried again because the relay was busy or out of reach.
    pub retries: u32,
    /// Replies that could not be applied (they are fetched again next time).
    pub failed: Vec<String>,
    /// Set-aside changes this sync sent to the coordinators' review inbox.
    pub set_aside_sent: u32,
    /// Set-aside changes a coordinator applied or dismissed, learned by this sync (see
    /// `quarantine()` for who and why).
    pub set_aside_decided: u32,
    /// Set-aside changes the relay turned out to hold all along (it took them in a sync whose
    /// answer was cut off), learned by this sync: synced after all, for no coordinator to review.
    pub set_aside_synced: u32,
    /// Operations the relay refused for a time this phone's wrong clock wrote, carried out again
    /// at that time moved by the relay's clock, and synced: nothing set aside.
    pub retimed: u32,
    /// Records kept from this phone's damaged copy of a document (one that did not load when the
    /// replica opened, see `load_problems()`), carried out again on the relay's copy and synced.
    pub recovered: u32,
    /// This phone's clock minus the relay's, in milliseconds (positive: the phone's is ahead, as
    /// on the members page), when they are more than five minutes apart: the phone's date, time or time zone is wrong. Ask the volunteer to set it
    /// (what the phone records is stamped with its own clock).
    pub clock_off_by_ms: Option<i64>,
}

impl From<doorstep_replica::SyncReport> for SyncReport {
    fn from(r: doorstep_replica::SyncReport) -> Self {
        Self {
            requests: r.requests,
            bytes_up: r.bytes_up as u64,
            bytes_down: r.bytes_down as u64,
            changed: r.changed,
            fetched: r.fetched,
            dropped: r.dropped,
            rejected: r.rejected,
            retrying: r.retrying,
            set_aside: u32::try_from(r.set_aside).unwrap_or(u32::MAX),
            reapplied: u32::try_from(r.reapplied).unwrap_or(u32::MAX),
            retries: r.retries,
            failed: r.failed,
            set_aside_sent: u32::try_from(r.set_aside_sent).unwrap_or(u32::MAX),
            set_aside_decided: u32::try_from(r.set_aside_decided).unwrap_or(u32::MAX),
            set_aside_synced: u32::try_from(r.set_aside_synced).unwrap_or(u32::MAX),
            retimed: u32::try_from(r.retimed).unwrap_or(u32::MAX),
            recovered: u32::try_from(r.recovered).unwrap_or(u32::MAX),
            clock_off_by_ms: r.clock_off_by_ms,
        }
    }
}

impl SyncReport {
    /// Every document the sync touched on this device, once each.
    pub(crate) fn touched(&self) -> Vec<DocumentId> {
        let mut all: Vec<DocumentId> =
            self.changed.iter().chain(&self.fetched).chain(&self.dropped).copied().collect();
        all.sort();
        all.dedup();
        all
    }
}

/// Where the device stands with the relay: what the app shows next to the sync button.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct SyncState {
    /// Changes made on this device that the relay is not known to have.
    pub unsynced_changes: u32,
    /// Changes set aside and not yet decided by a coordinator: show "N set aside, under review /
    /// N 项待协调员处理", and never "all synced" while this is above zero.
    pub set_aside: u32,
    /// When the last sync finished (device time), if ever.
    pub last_sync: Option<Timestamp>,
    /// This phone's clock minus the relay's, in milliseconds (positive: ahead), at the last sync,
    /// when they were more than five minutes apart: keep asking the volunteer to set the phone's date, time and
    /// time zone until a sync finds them right.
    pub clock_off_by_ms: Option<i64>,
    /// A sync began and has not returned: one is under way, or the app ended mid-sync (killed,
    /// reclaimed, its battery gone). Outside a sync, show "the last sync did not finish: sync
    /// where there is signal / 上次同步未完成" instead of "all synced": the relay's news (a
    /// roster still coming, tasks assigned since) may not all be here.
    pub sync_unfinished: bool,
}
