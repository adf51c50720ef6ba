//! The changes a sync message carries. The relay checks changes before it lets Automerge's sync
//! protocol see them, so it needs them as [`Change`]s rather than as the opaque bytes the
//! protocol hands to `load_incremental`. Automerge 0.12 sends three shapes, all handled here:
//!
//! - V1: one change chunk per entry of the message's chunk list;
//! - V2, from changes: one entry holding several change chunks back to back;
//! - V2, whole document: one entry holding a compressed document chunk (sent when the peer is
//!   missing much of the document), loaded into a scratch document to take its changes out.
//!
//! Each entry is split into Automerge chunks by their headers (magic bytes, checksum, chunk type,
//! LEB128 length), so a malformed entry is reported with its position rather than half-loaded.

use automerge::sync::Message;
use automerge::{Automerge, Change, ChangeHash, LoadOptions, OnPartialLoad, ReadDoc, VerificationMode};
use sha2::{Digest, Sha256};

use super::canonical::check_canonical;
use super::contain::contained;
use super::inflate::{CHANGE, COMPRESSED_CHANGE, DOCUMENT, check_inflated};
use super::op_order::check_op_order;
use super::op_rows::check_op_rows;
use super::violation::{Violation, ViolationKind};
use crate::id::DocumentId;

/// The bytes every Automerge chunk starts with.
pub(crate) const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// The change bundle chunk type (the other types are in `inflate`).
const BUNDLE: u8 = 3;

/// Every change carried by a sync message: V1 messages carry change chunks; V2 messages carry
/// one entry with several change chunks or one compressed document chunk (loaded into a scratch
/// document to take its changes). Malformed chunks give a [`Violation`] of kind
/// [`ViolationKind::Malformed`].
///
/// The message does not say which document it is for, so the violation's `document` is the nil
/// ID; the relay names the document with [`Violation::in_document`].
pub fn changes_in(message: &Message) -> Result<Vec<Change>, Violation> {
    let mut changes = Vec::new();
    for (entry, bytes) in message.changes.iter().enumerate() {
        for (position, (kind, chunk)) in
            split(bytes).map_err(|e| malformed(entry, e))?.into_iter().enumerate()
        {
            let at = |problem: String| malformed(entry, format!("its chunk {position} {problem}"));
            match kind {
                CHANGE | COMPRESSED_CHANGE | DOCUMENT => {
                    changes.extend(chunk_changes(kind, chunk).map_err(at)?)
                }
                BUNDLE => return Err(at("is a change bundle, which the relay does not accept".into())),
                other => return Err(at(format!("has unknown chunk type {other}"))),
            }
        }
    }
    Ok(changes)
}

/// [`check_op_order`], with Automerge's decoding contained: for a document chunk's changes,
/// which loading wrote again already, so they are canonical.
fn ordered(change: &Change) -> Result<(), String> {
    contained("a change's operations", || check_op_order(change, &change.decode()))?
}

/// [`check_op_order`] and [`check_canonical`] on the change's operations, decoded once, with
/// Automerge's decoding and encoding contained.
fn ordered_and_canonical(change: &Change) -> Result<(), String> {
    contained("a change's operations", || {
        let expanded = change.decode();
        check_op_order(change, &expanded)?;
        check_canonical(change, expanded)
    })?
}

/// The changes of one change or document chunk, refused (with the problem) before Automerge
/// inflates, expands or applies anything it would choke on inside one uninterruptible step: a
/// DEFLATE bomb, a run-length bomb, an operation referring to itself or to a later operation.
fn chunk_changes(kind: u8, chunk: &[u8]) -> Result<Vec<Change>, String> {
    if kind == DOCUMENT {
        return checked_document(chunk).map(|(_, changes)| changes);
    }
    bounded(kind, chunk)?;
    let change = checked_change(chunk)?;
    ordered_and_canonical(&change)?;
    Ok(vec![change])
}

/// A change chunk read by Automerge's change reader (its panics contained), and its checksum
/// checked, which that reader does not do ([`checksum_matches`]).
fn checked_change(chunk: &[u8]) -> Result<Change, String> {
    let change = contained("a change chunk", || Change::try_from(chunk))?;
    let change = change.map_err(|e| format!("is not an Automerge change: {e}"))?;
    checksum_matches(chunk, &change)?;
    Ok(change)
}

/// The changes a stored chunk must add to its document when it is loaded (Automerge chunks back
/// to back, as the relay commits a batch), once every chunk's checksum is checked against its
/// contents as loading checks it. Loading a stored chunk (`load_incremental`) stops at the first
/// chunk that fails and still reports success for what came before, so a chunk damaged on disk
/// would leave a document silently shorter, and the next compaction would make that for good: the
/// caller checks that each change named here is in the document once the chunk is loaded. A
/// document chunk (a compacted copy) names no changes; its checksum is still checked.
pub fn stored_chunk_changes(bytes: &[u8]) -> Result<Vec<ChangeHash>, String> {
    let mut hashes = Vec::new();
    for (position, (kind, chunk)) in split(bytes)?.into_iter().enumerate() {
        let at = |problem: String| format!("its chunk {position} {problem}");
        match kind {
            // A change's hash is its chunk's: no need to read the change to check it.
            CHANGE => hashes.push(ChangeHash(checked_chunk_hash(chunk).map_err(at)?)),
            DOCUMENT => {
                checked_chunk_hash(chunk).map_err(at)?;
            }
            // The relay stores changes as their raw bytes, never compressed; one that is was
            // written by something else, and is read to be checked.
            COMPRESSED_CHANGE => hashes.push(checked_change(chunk).map_err(at)?.hash()),
            other => return Err(at(format!("has chunk type {other}, which the relay never stores"))),
        }
    }
    Ok(hashes)
}

/// The hash of a chunk (the SHA-256 of its type, its length as Automerge writes it, LEB128, and
/// its data), once the checksum in its header is found to be the hash's first four bytes.
fn checked_chunk_hash(chunk: &[u8]) -> Result<[u8; 32], String> {
    let (length, leb_size) = uleb128(&chunk[9..]).ok_or("is cut short")?;
    let data = &chunk[9 + leb_size..];
    let mut header = vec![chunk[8]];
    write_uleb128(&mut header, length);
    let hash: [u8; 32] = Sha256::new().chain_update(&header).chain_update(data).finalize().into();
    if chunk[4..8] != hash[..4] {
        return Err(format!(
            "has a checksum ({}) that does not match its contents (begins {}): its bytes were damaged",
            hex(&chunk[4..8]),
            hex(&hash[..4])
        ));
    }
    Ok(hash)
}

/// The checksum in a change chunk's header (and, for a compressed chunk, in the change it
/// inflates to) is the first four bytes of the change's hash. Automerge's change reader does not
/// check it, but loading does: a change whose checksum was altered would be taken, acknowledged
/// and stored, and the relay reloading the document would stop reading the chunk that holds it
/// there (`load_incremental` loads what it can and logs `BadChecksum`), losing that change and
/// every change its batch's chunk held after it, other phones' work included.
fn checksum_matches(chunk: &[u8], change: &Change) -> Result<(), String> {
    let hash = change.hash();
    let expected = &hash.0[..4];
    let said = |bytes: &[u8]| bytes.get(MAGIC.len()..MAGIC.len() + 4).map(<[u8]>::to_vec);
    for (what, header) in [("its header", said(chunk)), ("the change it holds", said(change.raw_bytes()))] {
        if header.as_deref() != Some(expected) {
            return Err(format!(
                "has a checksum in {what} ({}) that does not match its contents (change {hash} begins {}): \
                 its bytes were altered after it was made",
                hex(header.as_deref().unwrap_or_default()),
                hex(expected)
            ));
        }
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A document chunk loaded into a scratch document, and its changes, once the chunk passed
/// [`chunk_changes`]'s checks.
fn checked_document(chunk: &[u8]) -> Result<(Automerge, Vec<Change>), String> {
    bounded(DOCUMENT, chunk)?;
    let (scratch, changes) = contained("a document chunk", || load_document(chunk))??;
    changes.iter().try_for_each(ordered)?;
    Ok((scratch, changes))
}

/// Refuses a chunk Automerge would inflate or expand past any bound, before it reads a byte of
/// it: a DEFLATE bomb, or columns describing more operations than a change may hold (a
/// run-length bomb).
fn bounded(kind: u8, chunk: &[u8]) -> Result<(), String> {
    check_inflated(kind, chunk)?;
    check_op_rows(kind, chunk)
}

/// Refuses Automerge bytes (a sync message's entry, or a saved document) that the relay would
/// refuse from a phone ([`changes_in`]'s checks of each chunk): a DEFLATE or run-length bomb,
/// which would take a process's memory or hours of its CPU inside Automerge, or an operation
/// referring to itself or to a later one, which makes the object tree a cycle that Automerge
/// walks forever (a phone's history view, for one). For bytes a phone takes from its relay
/// (replies, copies), which it then hands to Automerge as they are. Chunks of other types are
/// left to Automerge, which refuses what it cannot read.
pub fn check_received(bytes: &[u8]) -> Result<(), String> {
    load_received_document(bytes).map(drop)
}

/// [`check_received`], which for a whole document (a copy of it, or a reply that is one
/// compressed document) loads it into a scratch document to take its changes out; when `bytes`
/// are exactly one document chunk, that scratch document is returned, so the phone does not load
/// the same bytes a second time (a third of what taking a copy cost, BENCHMARKS.md §7). `Ok(None)`
/// for bytes that passed but are not one document chunk: the caller loads them as usual.
pub fn load_received_document(bytes: &[u8]) -> Result<Option<Automerge>, String> {
    let chunks = split(bytes)?;
    let whole = chunks.len() == 1;
    let mut loaded = None;
    for (position, (kind, chunk)) in chunks.into_iter().enumerate() {
        let at = |problem: String| format!("its chunk {position} {problem}");
        match kind {
            DOCUMENT => {
                let (scratch, _) = checked_document(chunk).map_err(at)?;
                loaded = whole.then_some(scratch);
            }
            CHANGE | COMPRESSED_CHANGE => {
                chunk_changes(kind, chunk).map_err(at)?;
            }
            _ => {}
        }
    }
    Ok(loaded)
}

/// Splits bytes into Automerge chunks, each as its type and its bytes (header included).
fn split(mut bytes: &[u8]) -> Result<Vec<(u8, &[u8])>, String> {
    let mut chunks = Vec::new();
    let mut offset = 0;
    while !bytes.is_empty() {
        let short = || format!("is cut short at byte {offset}");
        if bytes.len() < 9 {
            return Err(short());
        }
        if bytes[..4] != MAGIC {
            return Err(format!("has no Automerge chunk at byte {offset}"));
        }
        let kind = bytes[8];
        let (length, leb_size) = uleb128(&bytes[9..]).ok_or_else(short)?;
        let total = usize::try_from(length)
            .ok()
            .and_then(|l| l.checked_add(9 + leb_size))
            .filter(|&t| t <= bytes.len())
            .ok_or_else(short)?;
        let (chunk, rest) = bytes.split_at(total);
        chunks.push((kind, chunk));
        bytes = rest;
        offset += total;
    }
    Ok(chunks)
}

/// Appends `value` as the shortest unsigned LEB128, as Automerge writes a chunk's length.
pub(super) fn write_uleb128(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// An unsigned LEB128 number and how many bytes it took, if the bytes hold one.
pub(super) fn uleb128(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    for (i, byte) in bytes.iter().take(10).enumerate() {
        let bits = u64::from(byte & 0x7f);
        let shift = 7 * u32::try_from(i).ok()?;
        if shift == 63 && bits > 1 {
            return None;
        }
        value |= bits << shift;
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// A document chunk loaded, and its changes in an order Automerge can apply them.
fn load_document(chunk: &[u8]) -> Result<(Automerge, Vec<Change>), String> {
    let options =
        LoadOptions::new().on_partial_load(OnPartialLoad::Error).verification_mode(VerificationMode::Check);
    let scratch = Automerge::load_with_options(chunk, options)
        .map_err(|e| format!("is not an Automerge document: {e}"))?;
    if !scratch.get_missing_deps(&[]).is_empty() {
        return Err("is a document whose history is incomplete".into());
    }
    let changes = scratch.get_changes(&[]);
    Ok((scratch, changes))
}

fn malformed(entry: usize, problem: String) -> Violation {
    Violation {
        document: DocumentId::from_uuid(uuid::Uuid::nil()),
        change: None,
        kind: ViolationKind::Malformed,
        reason: format!("the message's change entry {entry} {problem}"),
    }
}

#[cfg(test)]
mod tests {
    use super::uleb128;

    #[test]
    fn uleb128_reads_lengths_and_refuses_overflow() {
        assert_eq!(uleb128(&[0x00]), Some((0, 1)));
        assert_eq!(uleb128(&[0xE5, 0x8E, 0x26]), Some((624_485, 3)));
        assert_eq!(uleb128(&[0x80]), None, "unterminated");
        assert_eq!(uleb128(&[0xFF; 11]), None, "longer than a u64");
        assert_eq!(
            uleb128(&[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
            Some((u64::MAX, 10))
        );
    }
}
