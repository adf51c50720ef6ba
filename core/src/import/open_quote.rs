//! A quote left open in a CSV: `"张三` with no closing quote makes the reader take every line
//! after it, up to the next quote (or the end of the file), as part of that one cell, so the
//! rows under it vanish into it without a word (flat 102's head became "张三,13800138000,…\n
//! 香樟苑,81号楼,…,李四" and flat 102 was gone).
//!
//! A CSV (not a workbook's sheet, whose cells come quoted by us) row whose cell holds a line
//! break is therefore a bad row, naming the cell, when the cell is a roster cell other than 备注
//! (a head, a phone or an address is one line) and also holds the file's separator (it took in
//! other cells), or when it is 备注 or a column the roster does not read and a line after its
//! first reads like a row of this file (about as many separators as the header has). A note on
//! two lines ("独居\n敲门要大声") imports as before, and a head typed on two lines (Alt+Enter,
//! "张三\n李四") is read as one, as in a workbook. Every physical line the row spans counts as a
//! row left out, as most of them were rows.

use csv::StringRecord;

use super::roster_csv::line_breaks;

/// A row that holds a quote left open, as far as can be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct OpenQuote {
    /// The field holding the line break.
    pub field: usize,
    /// How many physical lines the row spans (1 + the line breaks in its fields).
    pub lines: usize,
    /// Whether the cell may hold line breaks (备注) and a line of it reading like a row of the
    /// file is what gave the quote away.
    pub row_like: bool,
}

/// The open quote `record` shows, if any: `one_line(i)` says whether field `i` is one that holds
/// one line, `width` is the header's number of fields and `delimiter` the file's separator.
pub(super) fn open_quote(
    record: &StringRecord,
    one_line: impl Fn(usize) -> bool,
    width: usize,
    delimiter: u8,
) -> Option<OpenQuote> {
    // A line break at a cell's start or end (an Enter typed after a name) hides nothing.
    let spans = |field: &str| line_breaks(field.trim().as_bytes()) > 0;
    if !record.iter().any(spans) {
        return None;
    }
    // A swallowed row has `width - 1` separators; a line with three quarters of them reads
    // like one (a row cut by the closing quote has fewer, and it then has too many fields).
    let row_like = |line: &str| {
        let separators = line.bytes().filter(|b| *b == delimiter).count();
        separators >= (width.saturating_sub(1) * 3).div_ceil(4).max(2)
    };
    let (field, row_like) = record.iter().enumerate().find_map(|(i, cell)| {
        if !spans(cell) {
            None
        } else if one_line(i) {
            // A head or an address typed on two lines (Alt+Enter) is read as one line, as in a
            // workbook; one that also holds the file's separator took in other cells.
            cell.as_bytes().contains(&delimiter).then_some((i, false))
        } else {
            cell.trim().split(['\n', '\r']).skip(1).any(row_like).then_some((i, true))
        }
    })?;
    // A quote never closed takes the file's last line end too, which ends no further line.
    let last = record.len().saturating_sub(1);
    let lines = 1 + record
        .iter()
        .enumerate()
        .map(|(i, cell)| {
            let cell = if i == last { cell.trim_end_matches(['\r', '\n']) } else { cell };
            line_breaks(cell.as_bytes())
        })
        .sum::<usize>();
    Some(OpenQuote { field, lines, row_like })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(cells: &[&str]) -> StringRecord {
        StringRecord::from(cells.to_vec())
    }

    #[test]
    fn a_line_break_in_a_one_line_cell_or_a_row_in_a_note_is_an_open_quote() {
        let one_line = |i: usize| i < 3;
        assert_eq!(open_quote(&record(&["1", "101", "张三", "独居\n敲门要大声"]), one_line, 4, b','), None);
        assert_eq!(open_quote(&record(&["1", "101", "张三\n", "\n独居"]), one_line, 4, b','), None);
        assert_eq!(open_quote(&record(&["1", "101", "张三\n李四", ""]), one_line, 4, b','), None);
        assert_eq!(
            open_quote(&record(&["1", "101", "张三,1\n1,102,李四", ""]), one_line, 4, b','),
            Some(OpenQuote { field: 2, lines: 2, row_like: false })
        );
        assert_eq!(
            open_quote(
                &record(&["1", "101", "张三", "未闭合\n1,102,李四,\n1,103,王五,\n"]),
                one_line,
                4,
                b','
            ),
            Some(OpenQuote { field: 3, lines: 3, row_like: true })
        );
        // Tabs in a tab-separated file; commas in a note are its own.
        assert_eq!(open_quote(&record(&["1", "101", "张三", "药\n甲,乙,丙"]), one_line, 4, b'\t'), None);
    }
}
