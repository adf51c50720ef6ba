//! How much one sync message may carry. Every count below is a number the sender chooses and
//! the receiver pays for, so each has a cap a little above anything an honest peer sends.
//!
//! The caps were chosen from what Automerge 0.12 itself produces (see `automerge/src/sync.rs`
//! and `sync/bloom.rs`):
//!
//! - `have`: `generate_sync_message` sends no filter (while it still needs changes) or exactly
//!   one (`vec![self.make_bloom_filter(shared_heads)]`; a reset message sends one empty filter).
//!   A second filter is never honest, and Automerge's `get_hashes_to_send` panics (`expect`) on a
//!   second filter whose `last_sync` names a change the document lacks.
//! - Bloom filters are made with fixed constants, 10 bits per entry and 7 probes, and `num_entries`
//!   is the number of changes since the last sync. Anything else is a modified peer: one with
//!   2^32−1 probes makes Automerge allocate 16 GiB per change hash and aborts the process.
//! - `heads`, `need` and `last_sync` are sets of branch tips: one per concurrent writer. A round
//!   edited by a thousand offline phones has about a thousand.
//! - Changes: one per operation a person made. A volunteer's day offline is a few hundred; a
//!   reply to a phone that missed a third of a busy round a few thousand.

/// Caps on what one sync message may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageLimits {
    /// Most heads (the sender's branch tips).
    pub max_heads: usize,
    /// Most hashes the sender asks for by name.
    pub max_need: usize,
    /// Most `have` entries, each holding one bloom filter.
    pub max_have: usize,
    /// Most hashes in one `have` entry's `last_sync`.
    pub max_last_sync: usize,
    /// Most entries one bloom filter may claim (changes since the last sync).
    pub max_bloom_entries: u64,
    /// Most change entries (chunks) the message carries.
    pub max_changes: usize,
    /// Longest trailing flags section, in bytes (Automerge 0.12 sends two).
    pub max_flags_bytes: usize,
}

/// The bits per bloom filter entry Automerge 0.12 uses (`sync/bloom.rs`, `BITS_PER_ENTRY`).
pub const BLOOM_BITS_PER_ENTRY: u64 = 10;
/// The probes per hash Automerge 0.12 uses (`sync/bloom.rs`, `NUM_PROBES`).
pub const BLOOM_PROBES: u64 = 7;

impl MessageLimits {
    /// The caps for messages the relay sends a phone: the same shape checks, and no cap on
    /// counts beyond what the bytes hold (a reply may carry thousands of changes, and the phone
    /// trusts its relay for volume, not for shape).
    pub fn for_replies() -> Self {
        Self {
            max_heads: usize::MAX,
            max_need: usize::MAX,
            max_have: 1,
            max_last_sync: usize::MAX,
            max_bloom_entries: u64::from(u32::MAX),
            max_changes: usize::MAX,
            max_flags_bytes: 16,
        }
    }
}

impl Default for MessageLimits {
    /// The caps for messages a phone sends the relay.
    fn default() -> Self {
        Self {
            max_heads: 4096,
            max_need: 4096,
            max_have: 1,
            max_last_sync: 4096,
            // A filter of a million entries is 1.25 MB of bits: a document of a million changes.
            max_bloom_entries: 1_000_000,
            max_changes: 20_000,
            max_flags_bytes: 16,
        }
    }
}
