//! A spreadsheet's cells cleaned of the characters no text of a compound holds
//! ([`rulebook::characters`](crate::rulebook::characters)): control characters and
//! bidirectional overrides are taken out, and a line break or tab inside a one-line cell (a
//! name typed with Alt+Enter in Excel) becomes a space. 备注 keeps its line breaks.
//!
//! A roster is read before it is checked, so without this a stray character pasted into one
//! cell would make its whole row a bad row the coordinator cannot see the reason for; taking it
//! out is what they would do, and the preview says so on the row, naming the column.

use csv::StringRecord;

use super::columns::RosterColumn;
use super::error::RowWarning;
use crate::rulebook::{Kind, characters};

/// `record` with every cell cleaned, the cell at `notes` as a multi-line text and the others as
/// one-line texts, and a warning for each cell that lost a character (line `line`, the column
/// named by its header in `headers`); `None` when no cell holds such a character (nearly every
/// row), so that the row is read as it is.
pub(super) fn clean_record(
    record: &StringRecord,
    notes: Option<usize>,
    headers: &[String],
    line: usize,
) -> Option<(StringRecord, Vec<RowWarning>)> {
    let untouched = record
        .iter()
        .enumerate()
        .all(|(i, cell)| characters::first_unwelcome(cell, kind_of(i, notes)).is_none());
    if untouched {
        return None;
    }
    let mut warnings = Vec::new();
    let cells: Vec<String> = record
        .iter()
        .enumerate()
        .map(|(i, cell)| {
            let (clean, removed) = characters::clean(cell, kind_of(i, notes));
            if removed > 0 {
                warnings.push(RowWarning {
                    line,
                    column: headers.get(i).cloned(),
                    value: clean.chars().take(100).collect(),
                    code: "invisible_characters_removed",
                    reason_zh: format!("去掉了 {removed} 个看不见的控制字符或文字方向符，请核对这一格"),
                    reason: format!(
                        "{removed} invisible control or text-direction character(s) were taken out; check the cell"
                    ),
                });
            }
            clean
        })
        .collect();
    let mut clean = StringRecord::from(cells);
    clean.set_position(record.position().cloned());
    Some((clean, warnings))
}

/// The kind of text the cell at `i` becomes.
fn kind_of(i: usize, notes: Option<usize>) -> Kind {
    if Some(i) == notes { Kind::Text } else { Kind::Short }
}

/// The index of the 备注 column among `index`'s, if the file has one.
pub(super) fn notes_column(index: &std::collections::HashMap<RosterColumn, usize>) -> Option<usize> {
    index.get(&RosterColumn::Notes).copied()
}
