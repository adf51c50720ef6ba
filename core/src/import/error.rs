//! What can go wrong reading a spreadsheet: [`ImportError`] when the whole file is unusable,
//! [`RowError`] for one row that is left out while the others import.

use std::fmt;

use super::roster_csv::HEADER_SEARCH_ROWS;

/// The file as a whole cannot be read; nothing from it is imported. Each message is in Chinese,
/// then English, as the dashboard's import preview and the command line show it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// The bytes are not text in an encoding we read.
    #[error(
        "文件不是可以读取的文本（{reason}）；请在 Excel 中 另存为 → \"CSV UTF-8 (逗号分隔)\" / \
         the file is not readable text ({reason}); in Excel use 另存为 (Save As) → \"CSV UTF-8 (逗号分隔)\""
    )]
    Encoding {
        /// What was wrong with the bytes.
        reason: String,
    },
    /// The bytes are an Excel workbook, not a CSV export of one.
    #[error(
        "这是 Excel 工作簿（{format}），不是 CSV；请在 Excel 中 另存为 → \"CSV UTF-8 (逗号分隔)\" / \
         the file is an Excel workbook ({format}), not CSV; in Excel use 另存为 (Save As) → \"CSV UTF-8 (逗号分隔)\""
    )]
    Workbook {
        /// ".xlsx" or ".xls".
        format: &'static str,
    },
    /// The file is a web page (an HTML table, as some systems export "Excel" files, saved as
    /// .xls), not CSV.
    #[error(
        "这是网页（HTML 表格），不是 CSV 或 Excel 工作簿，尽管文件名可能是 .xls；请用 Excel 打开后 另存为 → \"CSV UTF-8 (逗号分隔)\" 或 .xlsx / \
         the file is a web page (an HTML table), not CSV or an Excel workbook, though it may be named .xls; open it in Excel and use \
         另存为 (Save As) → \"CSV UTF-8 (逗号分隔)\" or .xlsx"
    )]
    WebPage,
    /// The file is bigger than an import may be.
    #[error(
        "文件有 {bytes} 字节，一次最多导入 {limit} 字节；请按小区拆分 / \
         the file is {bytes} bytes; an import may be at most {limit} bytes, so split it by estate (小区)"
    )]
    TooLarge {
        /// The file's size.
        bytes: usize,
        /// The largest accepted size.
        limit: usize,
    },
    /// The file has more rows than an import may have.
    #[error(
        "文件超过 {limit} 行；请按小区拆分后分别导入 / \
         the file has more than {limit} rows; split it by estate (小区) and import each part"
    )]
    TooManyRows {
        /// The most rows accepted.
        limit: usize,
    },
    /// A row where the header is looked for is wider than a roster may be.
    #[error(
        "表头行有 {columns} 列，台账最多 {limit} 列；请删除多余的列 / the header row has {columns} columns; \
         a roster has at most {limit}, so delete the extra columns"
    )]
    TooManyColumns {
        /// The row's width, up to its last non-empty cell.
        columns: usize,
        /// The most columns accepted.
        limit: usize,
    },
    /// There is no header row at all.
    #[error(
        "文件是空的；需要一行表头，如 小区,楼号,单元,楼层,房号,户主,…，下面每户一行 / \
         the file is empty; it needs a header row such as 小区,楼号,单元,楼层,房号,户主,... and one row per household"
    )]
    Empty,
    /// The header row lacks columns we cannot do without.
    #[error(
        "表头没有 {} 列（找到的是：{}）；至少需要 楼号、房号 和 户主 三列{} / \
         the header row has no {} column (found: {}); the file needs at least 楼号, 房号 and 户主 \
         (or building, flat and head){}",
        missing.join("、"),
        shown_names(found, true),
        if *cut_short { format!("；{}", header_search_note(true)) } else { String::new() },
        missing.join(", "),
        shown_names(found, false),
        if *cut_short { format!("; {}", header_search_note(false)) } else { String::new() }
    )]
    MissingColumns {
        /// The required columns that were not found, by their Chinese header.
        missing: Vec<String>,
        /// The headers of the row that came closest to a header row, as written.
        found: Vec<String>,
        /// Whether the search for the header row stopped at [`HEADER_SEARCH_ROWS`] non-blank rows
        /// with more rows below.
        cut_short: bool,
    },
    /// The file's fields are separated by something other than a comma or a tab (a semicolon,
    /// as Excel writes a "CSV" in a European locale), so the header row reads as one field.
    #[error(
        "文件的列是用 {separator:?} 分隔的，不是逗号，所以表头读成了一列（{}）；请在 Excel 中 另存为 → \"CSV UTF-8 (逗号分隔)\" / \
         the file's columns are separated by {separator:?}, not commas, so the header row reads as one column ({}); \
         in Excel use 另存为 (Save As) → \"CSV UTF-8 (逗号分隔)\"",
        shown_names(std::slice::from_ref(header), true),
        shown_names(std::slice::from_ref(header), false)
    )]
    Separator {
        /// The separator the header row uses.
        separator: char,
        /// The header row, as read (one field).
        header: String,
    },
    /// Two headers mean the same column, so we cannot tell which to read.
    #[error(
        "表头 {} 都是 {column} 列，无法判断读哪一列；请删除或改名，只留一列 / \
         the headers {} all mean the {column} column; delete or rename all but one",
        quoted_list(headers),
        quoted_list(headers)
    )]
    DuplicateColumn {
        /// The column, by its Chinese header.
        column: String,
        /// The headers as written.
        headers: Vec<String>,
    },
    /// The CSV itself could not be parsed.
    #[error("第 {line} 行：无法按 CSV 读取（{reason}） / line {line}: the CSV cannot be read: {reason}")]
    Malformed {
        /// The 1-based line where reading failed.
        line: usize,
        /// What the CSV reader reported.
        reason: String,
    },
}

/// What a refusal adds when the header row may be below the rows searched
/// ([`HEADER_SEARCH_ROWS`]), in Chinese (`zh`) or English.
pub fn header_search_note(zh: bool) -> String {
    if zh {
        format!("只在前 {HEADER_SEARCH_ROWS} 个非空行里找表头；表头在更下面时，请删去它上面的行")
    } else {
        format!(
            "only the first {HEADER_SEARCH_ROWS} non-blank rows are searched for the header row; \
             if it is further down, delete the rows above it"
        )
    }
}

/// Names from a file (the headers found, a workbook's sheets), quoted, as many as a message can
/// show: the first [`NAMES_SHOWN`], each cut to [`NAME_CHARS`] characters, and how many more
/// there were; in Chinese (`zh`) or English.
pub fn shown_names(names: &[String], zh: bool) -> String {
    if names.is_empty() {
        return if zh { "无" } else { "nothing" }.to_owned();
    }
    let shown: Vec<String> = names
        .iter()
        .take(NAMES_SHOWN)
        .map(|header| match header.char_indices().nth(NAME_CHARS) {
            Some((cut, _)) => format!("{}…", &header[..cut]),
            None => header.clone(),
        })
        .collect();
    let more = names.len().saturating_sub(NAMES_SHOWN);
    match (more, zh) {
        (0, _) => quoted_list(&shown),
        (_, true) => format!("{} 等，另有 {more} 个", quoted_list(&shown)),
        (_, false) => format!("{} and {more} more", quoted_list(&shown)),
    }
}

/// Names shown in a message.
const NAMES_SHOWN: usize = 20;
/// Characters of each.
const NAME_CHARS: usize = 40;

fn quoted_list(items: &[String]) -> String {
    items.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ")
}

/// What the importer says about one row: why it cannot be imported ([`RowError`]) or what the
/// coordinator should check or fill in although it was ([`RowWarning`]). The other rows are
/// unaffected either way.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RowMessage {
    /// The 1-based physical line in the file where the row starts (the header row is line 1).
    pub line: usize,
    /// The column at fault, by its header as written in the file; `None` when the fault is the
    /// row as a whole (for example, the wrong number of fields).
    pub column: Option<String>,
    /// The offending value as written (shortened when very long).
    pub value: String,
    /// A stable code for the kind of problem (`people_blank`, `duplicate_row`, ...), for
    /// programs and translations.
    pub code: &'static str,
    /// What is wrong, in Chinese, e.g. `"三" 不是整数`.
    pub reason_zh: String,
    /// What is wrong, in English, as a sentence that quotes the value, e.g.
    /// `"三" is not a whole number`.
    pub reason: String,
}

/// One row that cannot be imported, and why.
pub type RowError = RowMessage;

/// One row that was imported, with something the coordinator should check or fill in (a
/// blank 户内人数 imported as unknown, a blank or implausible phone number, an identical row
/// dropped). Warnings never block an import.
pub type RowWarning = RowMessage;

impl RowMessage {
    /// The message in Chinese, then in English, as the command line prints it:
    /// `第 12 行，户内人数："三" 不是整数 / line 12, column 户内人数: "三" is not a whole number`.
    pub fn bilingual(&self) -> String {
        let zh = match &self.column {
            Some(column) => format!("第 {} 行，{column}：{}", self.line, self.reason_zh),
            None => format!("第 {} 行：{}", self.line, self.reason_zh),
        };
        format!("{zh} / {self}")
    }
}

impl fmt::Display for RowMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(column) => write!(f, "line {}, column {column}: {}", self.line, self.reason),
            None => write!(f, "line {}: {}", self.line, self.reason),
        }
    }
}

impl std::error::Error for RowMessage {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_errors_read_as_sentences() {
        let error = RowError {
            line: 12,
            column: Some("户内人数".to_owned()),
            value: "三".to_owned(),
            code: "not_a_number",
            reason_zh: "\"三\" 不是整数".to_owned(),
            reason: "\"三\" is not a whole number".to_owned(),
        };
        assert_eq!(error.to_string(), "line 12, column 户内人数: \"三\" is not a whole number");
        assert_eq!(
            error.bilingual(),
            "第 12 行，户内人数：\"三\" 不是整数 / line 12, column 户内人数: \"三\" is not a whole number"
        );
        let error = RowError { column: None, reason: "has 3 fields".to_owned(), ..error };
        assert_eq!(error.to_string(), "line 12: has 3 fields");
    }

    #[test]
    fn a_long_list_of_headers_found_is_shortened() {
        let e = ImportError::MissingColumns {
            missing: vec!["户主".to_owned()],
            found: (0..200).map(|i| format!("{i}{}", "长".repeat(100))).collect(),
            cut_short: false,
        };
        let said = e.to_string();
        assert!(said.contains("and 180 more"), "{said}");
        assert!(said.chars().count() < 3_000, "{said}");
    }

    /// A CSV's whole-file refusals were in English only, where a workbook's are in Chinese, then
    /// English (the dashboard shows them as they are, Chinese first as its pages are).
    #[test]
    fn every_whole_file_refusal_is_in_chinese_then_english() {
        let all = [
            ImportError::Encoding { reason: "x".to_owned() },
            ImportError::Workbook { format: ".xlsx" },
            ImportError::TooLarge { bytes: 2, limit: 1 },
            ImportError::TooManyRows { limit: 1 },
            ImportError::TooManyColumns { columns: 2, limit: 1 },
            ImportError::Empty,
            ImportError::MissingColumns {
                missing: vec!["户主".to_owned()],
                found: Vec::new(),
                cut_short: true,
            },
            ImportError::DuplicateColumn {
                column: "户主".to_owned(), headers: vec!["户主".to_owned(); 2]
            },
            ImportError::Malformed { line: 3, reason: "x".to_owned() },
            ImportError::Separator { separator: ';', header: "楼号;房号;户主".to_owned() },
            ImportError::WebPage,
        ];
        for error in all {
            let said = error.to_string();
            let (zh, en) = said.split_once(" / ").unwrap_or_else(|| panic!("not bilingual: {said}"));
            assert!(zh.chars().next().is_some_and(|c| ('\u{4E00}'..='\u{9FFF}').contains(&c)), "{said}");
            assert!(en.chars().next().is_some_and(|c| c.is_ascii_lowercase()), "{said}");
        }
    }

    #[test]
    fn missing_columns_name_what_was_found() {
        let error = ImportError::MissingColumns {
            missing: vec!["楼号".to_owned(), "户主".to_owned()],
            found: vec!["小区".to_owned(), "房号".to_owned()],
            cut_short: false,
        };
        assert_eq!(
            error.to_string(),
            "表头没有 楼号、户主 列（找到的是：\"小区\", \"房号\"）；至少需要 楼号、房号 和 户主 三列 / \
             the header row has no 楼号, 户主 column (found: \"小区\", \"房号\"); the file needs at least \
             楼号, 房号 and 户主 (or building, flat and head)"
        );
    }
}
