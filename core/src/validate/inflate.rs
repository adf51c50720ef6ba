//! Automerge inflates DEFLATE data with no limit: a compressed change chunk whole
//! (`storage/chunk.rs`), and each compressed column of a document chunk
//! (`storage/columns/raw_column.rs`), both with `read_to_end`. DEFLATE packs about a thousand
//! bytes into one, so a few megabytes in a sync message would become gigabytes in the relay
//! before any size check ran, and a failed allocation aborts the process. So every compressed
//! part of a chunk is inflated here first, into a counting sink that stops at a budget, and a
//! chunk over it never reaches Automerge.

use std::io::{Read, Write};

use crate::limits;

/// Chunk types of the Automerge binary format.
pub(crate) const DOCUMENT: u8 = 0;
pub(super) const CHANGE: u8 = 1;
pub(super) const COMPRESSED_CHANGE: u8 = 2;
/// The bit of a column specification that marks its data as DEFLATE-compressed.
pub(super) const DEFLATE_COLUMN: u64 = 0b1000;
/// Most columns a chunk may declare (Automerge 0.12 writes about twenty).
const MAX_COLUMNS: usize = 1024;

/// Checks what a chunk (header included) inflates to: a compressed change at most
/// [`limits::CHANGE_BYTES`], a document's compressed columns together at most
/// [`limits::DOCUMENT_INFLATED_BYTES`]. Other chunks pass; so do chunks too broken to walk
/// (Automerge refuses those itself, without inflating anything).
pub(super) fn check_inflated(kind: u8, chunk: &[u8]) -> Result<(), String> {
    let Some(body) = body_of(chunk) else { return Ok(()) };
    match kind {
        COMPRESSED_CHANGE => {
            let size = inflated_size(body, limits::CHANGE_BYTES)?;
            if size > limits::CHANGE_BYTES {
                return Err(format!(
                    "inflates to more than {} bytes, the most a change may hold",
                    limits::CHANGE_BYTES
                ));
            }
            Ok(())
        }
        DOCUMENT => {
            let mut left = limits::DOCUMENT_INFLATED_BYTES;
            for column in compressed_columns(body).unwrap_or_default() {
                left = left.checked_sub(inflated_size(column, left)?).ok_or_else(|| {
                    format!(
                        "is a document whose compressed columns inflate to more than {} bytes, the most the relay reads",
                        limits::DOCUMENT_INFLATED_BYTES
                    )
                })?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The bytes after a chunk's header (magic, checksum, type, LEB128 length).
pub(super) fn body_of(chunk: &[u8]) -> Option<&[u8]> {
    let mut r = Cursor(chunk.get(9..)?);
    let length = usize::try_from(r.number()?).ok()?;
    r.0.get(..length)
}

/// How many bytes `deflated` inflates to, counting at most `limit + 1` of them.
fn inflated_size(deflated: &[u8], limit: usize) -> Result<usize, String> {
    let mut sink = Counting(0);
    let budget = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    std::io::copy(&mut flate2::read::DeflateDecoder::new(deflated).take(budget), &mut sink)
        .map_err(|e| format!("holds DEFLATE data that does not inflate: {e}"))?;
    Ok(sink.0)
}

/// The data of a document chunk's compressed columns.
fn compressed_columns(body: &[u8]) -> Option<Vec<&[u8]>> {
    Some(
        document_columns(body)?
            .into_iter()
            .filter(|(spec, _)| spec & DEFLATE_COLUMN != 0)
            .map(|(_, data)| data)
            .collect(),
    )
}

/// Every column of a document chunk's body as (specification, data as stored), walked as
/// `storage/document.rs` parses it: actors, heads, change column metadata, op column metadata,
/// then the columns' data.
pub(super) fn document_columns(body: &[u8]) -> Option<Vec<(u64, &[u8])>> {
    let mut r = Cursor(body);
    for _ in 0..r.number()? {
        let length = usize::try_from(r.number()?).ok()?;
        r.take(length)?;
    }
    let heads = usize::try_from(r.number()?).ok()?;
    r.take(heads.checked_mul(32)?)?;
    let specs = column_specs(&mut r, 2)?;
    specs.into_iter().map(|(spec, length)| Some((spec, r.take(length)?))).collect()
}

/// `sets` column metadata lists, each a count and then (specification, length) pairs; at most
/// [`MAX_COLUMNS`] columns in all.
pub(super) fn column_specs(r: &mut Cursor<'_>, sets: usize) -> Option<Vec<(u64, usize)>> {
    let mut specs = Vec::new();
    for _ in 0..sets {
        for _ in 0..r.number()? {
            let spec = r.number()?;
            let length = usize::try_from(r.number()?).ok()?;
            specs.push((spec, length));
            if specs.len() > MAX_COLUMNS {
                return None;
            }
        }
    }
    Some(specs)
}

/// Reads LEB128 numbers and byte runs off a slice; `None` when it runs out.
pub(super) struct Cursor<'a>(pub &'a [u8]);

impl<'a> Cursor<'a> {
    pub(super) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (taken, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(taken)
    }

    pub(super) fn number(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.take(1)?.first()?;
            value |= u64::from(byte & 0x7f).checked_shl(shift)?;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    /// A signed LEB128 number.
    pub(super) fn signed(&mut self) -> Option<i64> {
        let mut value = 0i64;
        for shift in (0..64).step_by(7) {
            let byte = *self.take(1)?.first()?;
            value |= i64::from(byte & 0x7f).checked_shl(shift)?;
            if byte & 0x80 == 0 {
                if shift + 7 < 64 && byte & 0x40 != 0 {
                    value |= -1i64 << (shift + 7);
                }
                return Some(value);
            }
        }
        None
    }
}

/// A writer that only counts.
struct Counting(usize);

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn deflate(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(bytes).expect("in memory");
        encoder.finish().expect("in memory")
    }

    fn chunk(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, kind];
        crate::validate::changes::write_uleb128(&mut out, body.len() as u64);
        out.extend(body);
        out
    }

    #[test]
    fn a_compressed_change_that_inflates_past_the_change_limit_is_refused_without_inflating_it_all() {
        let bomb = deflate(&vec![0u8; 8 * limits::CHANGE_BYTES]);
        assert!(bomb.len() < 100 * 1024, "{} bytes", bomb.len());
        let refused =
            check_inflated(COMPRESSED_CHANGE, &chunk(COMPRESSED_CHANGE, &bomb)).expect_err("a bomb");
        assert!(refused.contains("1048576"), "{refused}");
        let small = deflate(&[7u8; 1000]);
        assert!(check_inflated(COMPRESSED_CHANGE, &chunk(COMPRESSED_CHANGE, &small)).is_ok());
        let garbage = chunk(COMPRESSED_CHANGE, &[0xff; 32]);
        assert!(check_inflated(COMPRESSED_CHANGE, &garbage).expect_err("not deflate").contains("inflate"));
    }

    #[test]
    fn a_document_whose_compressed_columns_inflate_past_the_limit_is_refused() {
        let column = deflate(&vec![0u8; limits::DOCUMENT_INFLATED_BYTES / 2 + 1]);
        // No actors, no heads; one change column and two op columns, all deflated.
        let mut body = vec![0, 0, 1, 0x18];
        let leb = |out: &mut Vec<u8>, v: usize| crate::validate::changes::write_uleb128(out, v as u64);
        leb(&mut body, column.len());
        body.extend([2, 0x28]);
        leb(&mut body, column.len());
        body.push(0x38);
        leb(&mut body, column.len());
        for _ in 0..3 {
            body.extend(&column);
        }
        let refused = check_inflated(DOCUMENT, &chunk(DOCUMENT, &body)).expect_err("over the limit");
        assert!(refused.contains("inflate"), "{refused}");
        // A real document passes.
        let mut doc = automerge::AutoCommit::new();
        automerge::transaction::Transactable::put(&mut doc, automerge::ROOT, "k", "v".repeat(5000))
            .expect("a put");
        let saved = doc.save();
        assert!(check_inflated(DOCUMENT, &saved).is_ok());
        let columns = body_of(&saved).and_then(compressed_columns).expect("the walker reads a real document");
        assert!(!columns.is_empty(), "a 5,000-character value is stored in a compressed column");
    }
}
