//! How many rows (operations, for the op columns) a chunk's columns describe, counted from their
//! run lengths without decoding one operation. Automerge's columns are run-length encoded, so a
//! few bytes can say "this operation, 2^40 times"; Automerge would then verify and apply the
//! operations one by one (hours of CPU on one relay thread, inside a single step no work budget
//! can interrupt). So every change and document chunk is walked here first, and one whose
//! columns describe more rows than [`limits::CHANGE_OPS`] or [`limits::DOCUMENT_OPS`] never
//! reaches Automerge.

use std::borrow::Cow;
use std::io::Read;

use super::inflate::{CHANGE, COMPRESSED_CHANGE, Cursor, DEFLATE_COLUMN, DOCUMENT, body_of, column_specs};
use crate::limits;

/// Column types: the low three bits of a column specification (`storage/columns`).
const GROUP: u64 = 0;
const ACTOR: u64 = 1;
const INTEGER: u64 = 2;
const DELTA: u64 = 3;
const BOOLEAN: u64 = 4;
const STRING: u64 = 5;
const VALUE_METADATA: u64 = 6;

/// Refuses a change or document chunk (header included) whose columns describe more rows than
/// the limits. Chunks too broken to walk pass: Automerge refuses those itself, cheaply.
pub(super) fn check_op_rows(kind: u8, chunk: &[u8]) -> Result<(), String> {
    let Some(body) = body_of(chunk) else { return Ok(()) };
    match kind {
        CHANGE => check_columns(change_columns(body), limits::CHANGE_OPS, "a change"),
        COMPRESSED_CHANGE => {
            // `check_inflated` has already bounded what this inflates to.
            let mut inflated = Vec::new();
            let budget = u64::try_from(limits::CHANGE_BYTES).unwrap_or(u64::MAX).saturating_add(1);
            if flate2::read::DeflateDecoder::new(body).take(budget).read_to_end(&mut inflated).is_err() {
                return Ok(());
            }
            check_columns(change_columns(&inflated), limits::CHANGE_OPS, "a change")
        }
        DOCUMENT => check_columns(document_columns(body), limits::DOCUMENT_OPS, "a document"),
        _ => Ok(()),
    }
}

fn check_columns(columns: Option<Vec<(u64, Cow<'_, [u8]>)>>, limit: u64, what: &str) -> Result<(), String> {
    for (spec, data) in columns.unwrap_or_default() {
        if let Some(rows) = rows(spec & 0b111, &data, limit)
            && rows > limit
        {
            return Err(format!(
                "describes more than {limit} rows in one column (column {spec}); {what} may hold at most {limit} operations"
            ));
        }
    }
    Ok(())
}

/// A change body's op columns, walked as `storage/change.rs` parses it: dependencies, actor,
/// sequence number, start op, time, message, other actors, column metadata, column data.
fn change_columns(body: &[u8]) -> Option<Vec<(u64, Cow<'_, [u8]>)>> {
    let mut r = Cursor(body);
    let deps = usize::try_from(r.number()?).ok()?;
    r.take(deps.checked_mul(32)?)?;
    let actor = usize::try_from(r.number()?).ok()?;
    r.take(actor)?;
    r.number()?;
    r.number()?;
    r.signed()?;
    let message = usize::try_from(r.number()?).ok()?;
    r.take(message)?;
    for _ in 0..r.number()? {
        let length = usize::try_from(r.number()?).ok()?;
        r.take(length)?;
    }
    let specs = column_specs(&mut r, 1)?;
    let mut columns = Vec::new();
    for (spec, length) in specs {
        columns.push((spec, Cow::Borrowed(r.take(length)?)));
    }
    Some(columns)
}

/// A document body's change and op columns (inflated where compressed; `check_inflated` has
/// already bounded that).
fn document_columns(body: &[u8]) -> Option<Vec<(u64, Cow<'_, [u8]>)>> {
    let budget = u64::try_from(limits::DOCUMENT_INFLATED_BYTES).unwrap_or(u64::MAX).saturating_add(1);
    let mut columns = Vec::new();
    for (spec, data) in super::inflate::document_columns(body)? {
        if spec & DEFLATE_COLUMN == 0 {
            columns.push((spec, Cow::Borrowed(data)));
            continue;
        }
        let mut inflated = Vec::new();
        flate2::read::DeflateDecoder::new(data).take(budget).read_to_end(&mut inflated).ok()?;
        columns.push((spec, Cow::Owned(inflated)));
    }
    Some(columns)
}

/// The rows a column of `kind` holds, counting no further than just past `limit`; `None` when
/// the column cannot be walked (Automerge refuses it) or holds raw values, which have no rows of
/// their own.
fn rows(kind: u64, data: &[u8], limit: u64) -> Option<u64> {
    let mut r = Cursor(data);
    let mut rows = 0u64;
    match kind {
        // Alternating run lengths of false and true.
        BOOLEAN => {
            while !r.0.is_empty() && rows <= limit {
                rows = rows.saturating_add(r.number()?);
            }
        }
        GROUP | ACTOR | INTEGER | DELTA | STRING | VALUE_METADATA => {
            while !r.0.is_empty() && rows <= limit {
                let count = r.signed()?;
                let (run, values) = match count {
                    // A run of one value repeated.
                    c if c > 0 => (c.unsigned_abs(), 1),
                    // Literal values, one after another.
                    c if c < 0 => (c.unsigned_abs(), c.unsigned_abs()),
                    // A run of nulls: its length follows.
                    _ => (r.number()?, 0),
                };
                for _ in 0..values {
                    match kind {
                        DELTA => {
                            r.signed()?;
                        }
                        STRING => {
                            let length = usize::try_from(r.number()?).ok()?;
                            r.take(length)?;
                        }
                        _ => {
                            r.number()?;
                        }
                    }
                }
                rows = rows.saturating_add(run);
            }
        }
        _ => return None,
    }
    Some(rows)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};

    use super::*;

    /// A real change chunk: one map holding `n` keys.
    fn change_with(n: usize) -> Vec<u8> {
        let mut doc = AutoCommit::new();
        for i in 0..n {
            doc.put(ROOT, format!("k{i}"), "v").unwrap();
        }
        doc.get_last_local_change().unwrap().raw_bytes().to_vec()
    }

    use crate::validate::changes::write_uleb128 as leb;

    fn sleb(out: &mut Vec<u8>, mut v: i64) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            let done = (v == 0 && byte & 0x40 == 0) || (v == -1 && byte & 0x40 != 0);
            out.push(if done { byte } else { byte | 0x80 });
            if done {
                break;
            }
        }
    }

    #[test]
    fn honest_changes_and_documents_pass() {
        for n in [1, 10, 5_000] {
            let chunk = change_with(n);
            check_op_rows(chunk[8], &chunk).unwrap();
            let rows = change_columns(body_of(&chunk).unwrap()).unwrap();
            let keys = rows.iter().find(|(spec, _)| spec & 0b111 == STRING).unwrap();
            assert_eq!(super::rows(STRING, &keys.1, u64::MAX), Some(n as u64), "one key per op");
        }
        let mut doc = AutoCommit::new();
        for i in 0..2_000 {
            doc.put(ROOT, format!("k{i}"), i64::from(i)).unwrap();
        }
        let saved = doc.save();
        check_op_rows(saved[8], &saved).unwrap();
    }

    #[test]
    fn runs_nulls_literals_and_booleans_are_counted() {
        let mut column = Vec::new();
        sleb(&mut column, 5);
        leb(&mut column, 7);
        sleb(&mut column, -2);
        leb(&mut column, 1);
        leb(&mut column, 2);
        sleb(&mut column, 0);
        leb(&mut column, 10);
        assert_eq!(rows(INTEGER, &column, u64::MAX), Some(17));
        let mut booleans = Vec::new();
        for count in [3, 4, 5] {
            leb(&mut booleans, count);
        }
        assert_eq!(rows(BOOLEAN, &booleans, u64::MAX), Some(12));
        // Cut short in a literal run: not walkable.
        let mut cut = Vec::new();
        sleb(&mut cut, -3);
        leb(&mut cut, 1);
        assert_eq!(rows(INTEGER, &cut, u64::MAX), None);
    }

    #[test]
    fn a_run_of_a_trillion_operations_in_a_few_bytes_is_refused() {
        let mut column = Vec::new();
        sleb(&mut column, 1 << 40);
        leb(&mut column, 1);
        assert!(column.len() < 10);
        assert_eq!(rows(ACTOR, &column, limits::CHANGE_OPS), Some(1 << 40));
        // A change whose every op column is such a run: a body of a few dozen bytes.
        let mut body = vec![0];
        leb(&mut body, 16);
        body.extend([7u8; 16]);
        body.extend([1, 1, 0, 0, 0]);
        let columns: Vec<(u64, Vec<u8>)> =
            [(0x15, STRING), (0x22, INTEGER), (0x34, BOOLEAN), (0x42, INTEGER), (0x56, VALUE_METADATA)]
                .into_iter()
                .map(|(spec, kind)| {
                    let mut data = Vec::new();
                    if kind == BOOLEAN {
                        leb(&mut data, 1 << 40);
                    } else {
                        sleb(&mut data, 1 << 40);
                        if kind == STRING {
                            data.extend([1, b'k']);
                        } else {
                            data.push(1);
                        }
                    }
                    (spec, data)
                })
                .collect();
        leb(&mut body, columns.len() as u64);
        for (spec, data) in &columns {
            leb(&mut body, *spec);
            leb(&mut body, data.len() as u64);
        }
        for (_, data) in &columns {
            body.extend(data);
        }
        let mut chunk = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, CHANGE];
        leb(&mut chunk, body.len() as u64);
        chunk.extend(&body);
        let refused = check_op_rows(CHANGE, &chunk).expect_err("a trillion operations");
        assert!(refused.contains(&limits::CHANGE_OPS.to_string()), "{refused}");
    }
}
