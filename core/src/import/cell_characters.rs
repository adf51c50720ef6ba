//! A spreadsheet's cells cleaned of the characters no text of a compound holds
//! ([`rulebook::characters`](crate::rulebook::characters)): control characters and
//! bidirectional overrides are taken out, and a line break or tab inside a one-line cell (a
//! name typed with Alt+Enter in a workbook) becomes a space. 备注 keeps its line breaks. (In a CSV
//! file such a line break is a quote left open first: `open_quote`.)
//!
//! A roster is read before it is checked, so without this a stray character pasted into one
//! cell would make its whole row a bad row the coordinator cannot see the reason for; taking it
//! out is what they would do, and the preview says so on the row, naming the column.

use std::collections::HashMap;

use csv::StringRecord;

use super::columns::RosterColumn;
use super::error::RowWarning;
use crate::rulebook::{Kind, characters};
use crate::schema::address::is_invisible;

/// `record` with every cell cleaned, the 备注 cell as a multi-line text and the others as
/// one-line texts, the address cells (小区, 楼号, 单元, 楼层, 房号), 户主 and 联系电话 also without the
/// characters that show as nothing ([`is_invisible`]: a zero-width space made `1\u{200b}号楼` a
/// second building 1, and `张\u{200b}三` a head no search for 张三 finds), and a warning for each cell that lost a character (line `line`, the column named
/// by its header in `headers`); `None` when no cell holds such a character (nearly every row),
/// so that the row is read as it is.
pub(super) fn clean_record(
    record: &StringRecord,
    index: &HashMap<RosterColumn, usize>,
    headers: &[String],
    line: usize,
) -> Option<(StringRecord, Vec<RowWarning>)> {
    let kinds = Kinds::of(index);
    let untouched = record.iter().enumerate().all(|(i, cell)| {
        characters::first_unwelcome(cell, kinds.kind_of(i)).is_none()
            && !(kinds.is_word(i) && cell.chars().any(is_invisible))
    });
    if untouched {
        return None;
    }
    let mut warnings = Vec::new();
    let cells: Vec<String> = record
        .iter()
        .enumerate()
        .map(|(i, cell)| {
            let (clean, removed) = characters::clean(cell, kinds.kind_of(i));
            let warning = |code, reason_zh, reason| RowWarning {
                line,
                column: headers.get(i).cloned(),
                value: clean.chars().take(100).collect(),
                code,
                reason_zh,
                reason,
            };
            if removed > 0 {
                warnings.push(warning(
                    "invisible_characters_removed",
                    format!("去掉了 {removed} 个看不见的控制字符或文字方向符，请核对这一格"),
                    format!(
                        "{removed} invisible control or text-direction character(s) were taken out; check the cell"
                    ),
                ));
            }
            let invisible = if kinds.is_word(i) { clean.chars().filter(|c| is_invisible(*c)).count() } else { 0 };
            if invisible == 0 {
                return clean;
            }
            let clean: String = clean.chars().filter(|c| !is_invisible(*c)).collect();
            warnings.push(RowWarning {
                value: clean.chars().take(100).collect(),
                ..warning(
                    "invisible_characters_removed",
                    format!(
                        "去掉了 {invisible} 个看不见的字符（零宽空格、软连字符等），按 {clean:?} 读取；请核对这一格"
                    ),
                    format!(
                        "{invisible} invisible character(s) (zero-width space, soft hyphen or the like) were taken out, read as {clean:?}; check the cell"
                    ),
                )
            });
            clean
        })
        .collect();
    let mut clean = StringRecord::from(cells);
    clean.set_position(record.position().cloned());
    Some((clean, warnings))
}

/// Which fields of a record are 备注 and which are words no invisible character belongs in (the
/// address, 户主 and 联系电话).
struct Kinds {
    notes: Option<usize>,
    words: Vec<usize>,
}

impl Kinds {
    fn of(index: &HashMap<RosterColumn, usize>) -> Self {
        let words = [
            RosterColumn::Estate,
            RosterColumn::Building,
            RosterColumn::Unit,
            RosterColumn::Floor,
            RosterColumn::Flat,
            RosterColumn::Head,
            RosterColumn::Phone,
        ];
        Kinds {
            notes: index.get(&RosterColumn::Notes).copied(),
            words: words.iter().filter_map(|column| index.get(column).copied()).collect(),
        }
    }

    /// The kind of text the cell at `i` becomes.
    fn kind_of(&self, i: usize) -> Kind {
        if Some(i) == self.notes { Kind::Text } else { Kind::Short }
    }

    fn is_word(&self, i: usize) -> bool {
        self.words.contains(&i)
    }
}
