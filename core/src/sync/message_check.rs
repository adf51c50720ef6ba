//! Reads an Automerge 0.12 sync message's bytes without Automerge, and checks every field
//! against [`MessageLimits`] before Automerge is allowed to see it.
//!
//! Automerge decodes whatever a peer sends and trusts it later: a bloom filter's probe count
//! becomes an allocation (`Vec::with_capacity(num_probes)` per hash, in `generate_sync_message`),
//! a zero-length bit array a division by zero, a second filter an `expect`. A memory allocation
//! failure aborts the process, which no `catch_unwind` can stop, so the only defence is not to
//! hand such a message over. This reader allocates nothing: it walks the bytes once.
//!
//! The encoding (`automerge/src/sync.rs`, `Message::parse` and `encode`):
//!
//! ```text
//! type byte          0x42 (V1) or 0x43 (V2)
//! heads              LEB128 count, then count × 32-byte hashes
//! need               LEB128 count, then count × 32-byte hashes
//! have               LEB128 count, then per entry:
//!                      last_sync: LEB128 count, count × 32-byte hashes
//!                      bloom:     LEB128 length, then that many bytes, either empty or
//!                                 LEB128 num_entries, bits_per_entry, num_probes, then
//!                                 ceil(num_entries × bits_per_entry / 8) bytes of bits
//! changes            LEB128 count, then per entry: LEB128 length, that many bytes
//! flags (optional)   LEB128 length, that many bytes (0x02 then 0x80|bits in 0.12)
//! ```
//!
//! Automerge ignores bytes after the flags; no honest peer sends any, so they are refused.

use super::message_limits::{BLOOM_BITS_PER_ENTRY, BLOOM_PROBES, MessageLimits};

/// The first byte of a V1 sync message.
const MESSAGE_TYPE_V1: u8 = 0x42;
/// The first byte of a V2 sync message.
const MESSAGE_TYPE_V2: u8 = 0x43;
/// The size of a change hash.
const HASH_BYTES: u64 = 32;
/// The names of the fields of hashes, as a refusal names them.
const HEADS: &str = "heads";
const NEEDED: &str = "needed hashes";
const LAST_SYNC: &str = "last-sync hashes";

/// What a sync message carries, counted: enough to budget a request and to see whether the
/// sender asks for a whole document, with nothing of the message kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MessageShape {
    /// The sender's heads.
    pub heads: usize,
    /// Hashes the sender asks for by name.
    pub need: usize,
    /// `have` entries (bloom filters).
    pub have: usize,
    /// Hashes in all `last_sync` lists together.
    pub last_sync: usize,
    /// Entries claimed by all bloom filters together.
    pub bloom_entries: u64,
    /// Change entries (chunks).
    pub changes: usize,
    /// Bytes of change entries.
    pub change_bytes: usize,
}

impl MessageShape {
    /// Whether the message asks for a whole document: it names no heads and no sync point.
    pub fn asks_for_everything(&self) -> bool {
        self.heads == 0 && self.last_sync == 0
    }
}

/// Why a sync message was refused before Automerge saw it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageProblem {
    /// No bytes at all.
    #[error("the sync message is empty")]
    Empty,
    /// The first byte is not a sync message type.
    #[error("the sync message starts with byte 0x{found:02x}; a sync message starts with 0x42 or 0x43")]
    WrongType {
        /// The byte found.
        found: u8,
    },
    /// The bytes end inside a field.
    #[error("the sync message is cut short in its {field} at byte {at}")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Where the bytes ran out.
        at: usize,
    },
    /// A LEB128 number is not one Automerge would write or read.
    #[error("the sync message's {field} at byte {at} is not a valid number ({problem})")]
    BadNumber {
        /// The field being read.
        field: &'static str,
        /// Where the number starts.
        at: usize,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A count is over its cap.
    #[error("the sync message carries {count} {field}; at most {limit} are accepted")]
    OverLimit {
        /// What was counted.
        field: &'static str,
        /// How many the message says it carries.
        count: u64,
        /// The cap.
        limit: u64,
    },
    /// A bloom filter parameter is not the one Automerge uses.
    #[error(
        "bloom filter {filter} of the sync message has {parameter} = {found}; Automerge always uses {expected}"
    )]
    BloomParameter {
        /// Which `have` entry.
        filter: usize,
        /// `bits_per_entry` or `num_probes`.
        parameter: &'static str,
        /// The value sent.
        found: u64,
        /// Automerge's constant.
        expected: u64,
    },
    /// A bloom filter's bit array does not match its entry count.
    #[error(
        "bloom filter {filter} of the sync message claims {entries} entries, which take {expected} bytes of bits, but holds {found}"
    )]
    BloomLength {
        /// Which `have` entry.
        filter: usize,
        /// The entries claimed.
        entries: u64,
        /// The bytes of bits those entries take.
        expected: u64,
        /// The bytes of bits sent.
        found: u64,
    },
    /// A bloom filter of no entries sent as bytes (Automerge sends it as an empty field).
    #[error("bloom filter {filter} of the sync message has zero entries but is not empty")]
    EmptyBloom {
        /// Which `have` entry.
        filter: usize,
    },
    /// Bytes after the end of the message.
    #[error("the sync message has {count} bytes after its end, at byte {at}")]
    TrailingBytes {
        /// How many.
        count: usize,
        /// Where they start.
        at: usize,
    },
}

impl MessageProblem {
    /// Whether the message is well formed but carries more than a cap allows (as opposed to not
    /// being a message an honest Automerge could have written).
    pub fn is_over_limit(&self) -> bool {
        matches!(self, MessageProblem::OverLimit { .. })
    }

    /// Whether the message names more heads, shared heads or needed hashes than a message may:
    /// its sender's document has more branches than a sync carries, and every message it
    /// sends is refused alike until they are merged.
    pub fn is_too_many_heads(&self) -> bool {
        matches!(self, MessageProblem::OverLimit { field: HEADS | NEEDED | LAST_SYNC, .. })
    }
}

/// Reads `bytes` as a sync message and checks it against `limits`, without Automerge.
pub fn check_message(bytes: &[u8], limits: &MessageLimits) -> Result<MessageShape, MessageProblem> {
    let mut r = Reader { bytes, at: 0 };
    let mut shape = MessageShape::default();
    match r.byte("type byte")? {
        MESSAGE_TYPE_V1 | MESSAGE_TYPE_V2 => {}
        found => return Err(MessageProblem::WrongType { found }),
    }
    shape.heads = r.hashes(HEADS, limits.max_heads)?;
    shape.need = r.hashes(NEEDED, limits.max_need)?;
    let have = r.count("have entries (bloom filters)", limits.max_have as u64)?;
    for filter in 0..have {
        let last_sync = r.hashes(LAST_SYNC, limits.max_last_sync)?;
        shape.last_sync = shape.last_sync.saturating_add(last_sync);
        let length = r.length("bloom filter")?;
        let bloom = r.take(length, "bloom filter")?;
        let entries = check_bloom(bloom, filter as usize, limits)?;
        shape.bloom_entries = shape.bloom_entries.saturating_add(entries);
    }
    shape.have = have as usize;
    let changes = r.count("change entries", limits.max_changes as u64)?;
    for _ in 0..changes {
        let length = r.length("change entry")?;
        r.take(length, "change entry")?;
        shape.change_bytes = shape.change_bytes.saturating_add(length);
    }
    shape.changes = changes as usize;
    if !r.is_empty() {
        let length = r.length("flags")?;
        if length > limits.max_flags_bytes {
            return Err(MessageProblem::OverLimit {
                field: "bytes of flags",
                count: length as u64,
                limit: limits.max_flags_bytes as u64,
            });
        }
        r.take(length, "flags")?;
    }
    if !r.is_empty() {
        return Err(MessageProblem::TrailingBytes { count: r.bytes.len() - r.at, at: r.at });
    }
    Ok(shape)
}

/// Checks one bloom filter's bytes; returns the entries it claims.
fn check_bloom(bytes: &[u8], filter: usize, limits: &MessageLimits) -> Result<u64, MessageProblem> {
    if bytes.is_empty() {
        // Automerge's empty filter: no entries, nothing to probe.
        return Ok(0);
    }
    let mut r = Reader { bytes, at: 0 };
    let entries = r.number("bloom filter's entry count")?;
    let bits_per_entry = r.number("bloom filter's bits per entry")?;
    let probes = r.number("bloom filter's probe count")?;
    if entries == 0 {
        return Err(MessageProblem::EmptyBloom { filter });
    }
    if entries > limits.max_bloom_entries {
        return Err(MessageProblem::OverLimit {
            field: "bloom filter entries",
            count: entries,
            limit: limits.max_bloom_entries,
        });
    }
    if bits_per_entry != BLOOM_BITS_PER_ENTRY {
        return Err(MessageProblem::BloomParameter {
            filter,
            parameter: "bits per entry",
            found: bits_per_entry,
            expected: BLOOM_BITS_PER_ENTRY,
        });
    }
    if probes != BLOOM_PROBES {
        return Err(MessageProblem::BloomParameter {
            filter,
            parameter: "probes",
            found: probes,
            expected: BLOOM_PROBES,
        });
    }
    // Automerge's `bits_capacity`: ceil(entries × bits per entry / 8). Both are small here.
    let expected = (entries * BLOOM_BITS_PER_ENTRY).div_ceil(8);
    let found = (bytes.len() - r.at) as u64;
    if found != expected {
        return Err(MessageProblem::BloomLength { filter, entries, expected, found });
    }
    Ok(entries)
}

/// A cursor over the bytes that allocates nothing.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn is_empty(&self) -> bool {
        self.at >= self.bytes.len()
    }

    fn byte(&mut self, field: &'static str) -> Result<u8, MessageProblem> {
        let Some(&byte) = self.bytes.get(self.at) else {
            return Err(if self.bytes.is_empty() {
                MessageProblem::Empty
            } else {
                MessageProblem::Truncated { field, at: self.at }
            });
        };
        self.at += 1;
        Ok(byte)
    }

    /// An unsigned LEB128 number, refused exactly where Automerge's `leb128_u64` refuses it
    /// (overlong, or more than 64 bits).
    fn number(&mut self, field: &'static str) -> Result<u64, MessageProblem> {
        let start = self.at;
        let mut value: u64 = 0;
        let mut shift = 0u32;
        loop {
            let byte = self.byte(field)?;
            let bad = |problem| MessageProblem::BadNumber { field, at: start, problem };
            if shift == 63 && byte & 0x7f > 1 {
                return Err(bad("more than 64 bits"));
            }
            value |= u64::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                if shift > 7 && byte == 0 {
                    return Err(bad("overlong encoding"));
                }
                return Ok(value);
            }
            if shift > 63 {
                return Err(bad("more than 64 bits"));
            }
        }
    }

    /// A count with a cap; the cap is checked before anything it counts is read.
    fn count(&mut self, field: &'static str, limit: u64) -> Result<u64, MessageProblem> {
        let count = self.number(field)?;
        if count > limit {
            return Err(MessageProblem::OverLimit { field, count, limit });
        }
        Ok(count)
    }

    /// A byte length that must fit in what is left.
    fn length(&mut self, field: &'static str) -> Result<usize, MessageProblem> {
        let length = self.number(field)?;
        let left = (self.bytes.len() - self.at) as u64;
        if length > left {
            return Err(MessageProblem::Truncated { field, at: self.bytes.len() });
        }
        Ok(length as usize)
    }

    fn take(&mut self, length: usize, field: &'static str) -> Result<&[u8], MessageProblem> {
        let end = self.at.checked_add(length).filter(|&end| end <= self.bytes.len());
        let Some(end) = end else { return Err(MessageProblem::Truncated { field, at: self.bytes.len() }) };
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    /// A counted list of change hashes.
    fn hashes(&mut self, field: &'static str, limit: usize) -> Result<usize, MessageProblem> {
        let count = self.count(field, limit as u64)?;
        let left = (self.bytes.len() - self.at) as u64;
        if count.saturating_mul(HASH_BYTES) > left {
            return Err(MessageProblem::Truncated { field, at: self.bytes.len() });
        }
        self.at += (count * HASH_BYTES) as usize;
        Ok(count as usize)
    }
}
