//! Reading an uploaded Excel workbook (.xlsx) as the CSV text core's importer reads, so that a
//! workbook and its "Save As CSV" import by the same rules and fail with the same row errors.
//!
//! Each roster sheet ([`sheets`]: every visible one with a roster header row) is
//! written out row by row, cell by cell: text as it is, whole numbers without
//! Excel's ".0" (a phone number typed as a number, 19908923609, stays 19908923609), other numbers
//! in their shortest form, booleans as `true`/`false`, error cells as Excel shows them (`#N/A`,
//! which the importer refuses as `formula_error`, as it does in a CSV; an error value calamine
//! cannot read, such as `#SPILL!`, likewise, read as text by [`error_cells`]),
//! dates as `2026-11-20` (`09:30` after it with a time of day), each date cell marked
//! ([`SheetCsv::dates`]) so that the importer refuses a date where an address or a count belongs.
//! A formula whose value the file does not hold (a workbook a program wrote and no spreadsheet
//! ever calculated; calamine reads it as an empty cell, its formula aside) refuses the roster's
//! sheet, naming the cell ([`WorkbookError::FormulaWithoutValue`]): read as a blank, its row
//! would import without what the formula says.
//! Each sheet row becomes the CSV line of the same number (empty rows become empty lines, which
//! the importer skips), so "line 12" in a row error is row 12 in Excel; a cell holding a line
//! break would shift the lines after it, so errors are mapped back to sheet rows.
//!
//! Before calamine inflates anything, [`bounds`] checks the archive's entries (how
//! many, and how large they declare and really inflate to), so a zip bomb is refused without
//! being inflated into memory. Cells are then streamed, never laid out as a whole-sheet grid: a
//! sheet whose used range claims a million rows by sixteen thousand columns costs only the cells
//! it really has, every cell that is not empty counts against [`MAX_COLUMNS`] and
//! [`MAX_SHEET_ROWS`] (the first past them is named), and every cell, empty ones too, against
//! [`MAX_CELLS`] together with the cells of the sheets read before it (`Budget`), and conversion stops as soon as the text of the sheets read outgrows
//! what the importer accepts or the request's deadline passes.
//!
//! Merged cells take their merged value down the rows they cover, so a ledger whose 楼号 cell
//! is merged over all of a building's rows reads as if 楼号 were typed on every row.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;
use std::time::Instant;

use calamine::{CellErrorType, DataRef, Dimensions, ExcelDateTime, Reader, Xlsx, XlsxError};
use doorstep_core::import::{self, DateCells, ImportError, MAX_INPUT_BYTES, MAX_ROWS, shown_names};

pub mod bounds;
pub mod error_cells;
pub mod hidden_rows;
pub mod kind;
pub mod sheets;

use bounds::MAX_ENTRIES;
use sheets::Closest;
pub use sheets::{RosterSheets, SkippedSheet};

/// An .xlsx workbook is a ZIP archive.
pub const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
/// An .xls workbook (Excel 97–2003) is an OLE compound file.
pub const OLE_MAGIC: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";

/// Columns a sheet may use, the same bound as a CSV header row's; a roster has 14, and a sheet
/// that uses more is not a roster.
#[allow(clippy::cast_possible_truncation)]
pub const MAX_COLUMNS: u32 = import::MAX_COLUMNS as u32;
/// Rows a sheet may use: the import's row limit, plus room for titles and blank rows.
pub const MAX_SHEET_ROWS: u32 = 101_000;
/// Cells read, empty ones included (a cell Excel wrote only for its formatting still costs
/// parsing), from all the sheets read together: 100,000 households of 14 columns, with room to
/// spare.
pub const MAX_CELLS: usize = 2_000_000;
/// Merged regions read from one sheet; a ledger has one per building, or a few per row.
pub const MAX_MERGED_REGIONS: usize = 100_000;
/// How many cells are read between deadline checks.
const CELLS_PER_DEADLINE_CHECK: usize = 4_096;

/// Why a workbook cannot be read. Each message is in Chinese, then English, because the
/// dashboard's import preview shows it as it is.
#[derive(Debug, thiserror::Error)]
pub enum WorkbookError {
    /// The bytes are not a workbook we read.
    #[error("无法作为 Excel 工作簿 (.xlsx) 读取 / the file cannot be read as an Excel workbook (.xlsx): {0}")]
    Unreadable(String),
    /// A cell holds an error value the reader cannot take (a formula that failed).
    #[error(
        "工作表里有显示为公式错误 {0} 的单元格（公式没有算出结果），无法读取；请在 Excel 中按 Ctrl+F 查找 {0}，改正公式或直接输入内容后再导入 / \
         a cell of the sheet shows the formula error {0}, so the sheet cannot be read; in Excel find {0} (Ctrl+F), fix the formula or type the value, and import again"
    )]
    FormulaError(String),
    /// The reader failed on a damaged part.
    #[error(
        "工作簿的内部结构已损坏，无法读取；请在 Excel 或 WPS 中打开后另存为新的 .xlsx 或 CSV / \
         the workbook's inner structure is damaged and cannot be read; open it in Excel or WPS and save it again as a new .xlsx or as CSV"
    )]
    ReaderFailed,
    /// The file is something else: an .xls, a password-protected workbook, a CSV under an
    /// .xlsx name, an .ods, … (`kind.rs`).
    #[error(transparent)]
    NotAWorkbook(#[from] kind::NotAWorkbook),
    /// The workbook has no sheet.
    #[error("工作簿里没有工作表 / the workbook has no sheet")]
    NoSheet,
    /// A sheet uses too many columns.
    #[error(
        "工作表 {} 的单元格 {cell} 用到了第 {column} 列；台账最多 {MAX_COLUMNS} 列，请删除多余的列 / \
         sheet {} uses column {column} (cell {cell}); a roster has at most {MAX_COLUMNS} columns, so delete the extra ones",
        shown(sheet),
        shown(sheet)
    )]
    TooManyColumns {
        /// The sheet's name.
        sheet: String,
        /// The 1-based column.
        column: u32,
        /// The cell that is not empty there, as Excel names it (`KP1`).
        cell: String,
    },
    /// A sheet uses rows past what an import may have.
    #[error(
        "工作表 {} 的单元格 {cell} 用到了第 {row} 行；一次最多导入 {MAX_ROWS} 户，请按小区拆分 / \
         sheet {} uses row {row} (cell {cell}); an import has at most {MAX_ROWS} households, so split it by estate (小区)",
        shown(sheet),
        shown(sheet)
    )]
    TooManyRows {
        /// The sheet's name.
        sheet: String,
        /// The 1-based row.
        row: u32,
        /// The cell that is not empty there, as Excel names it (`A1048576`).
        cell: String,
    },
    /// The sheets read have more cells (empty ones included) than an import may have.
    #[error(
        "读到工作表 {} 时，单元格已超过 {MAX_CELLS} 个（含空白但有格式的单元格，也含之前读过的工作表）；请删除多余的行列或按小区拆分 / \
         reading sheet {} took the cells read past {MAX_CELLS} (formatted empty cells and the sheets read before it included); delete unused rows and columns or split it by estate (小区)",
        shown(sheet),
        shown(sheet)
    )]
    TooManyCells {
        /// The sheet being read when the bound was passed.
        sheet: String,
    },
    /// A sheet has more merged regions than an import reads.
    #[error(
        "工作表 {} 有 {regions} 个合并单元格，最多 {MAX_MERGED_REGIONS} 个 / \
         sheet {} has {regions} merged regions; at most {MAX_MERGED_REGIONS} are read",
        shown(sheet),
        shown(sheet)
    )]
    TooManyMergedRegions {
        /// The sheet's name.
        sheet: String,
        /// How many the sheet has.
        regions: usize,
    },
    /// The merged regions, taken together, span more rows than the sheets read may have cells:
    /// they overlap, which Excel itself does not allow.
    #[error(
        "工作表 {} 的合并单元格相互重叠，或（连同之前读过的工作表）合计跨越超过 {MAX_CELLS} 个单元格；请取消合并后再导入，或另存为 CSV / \
         the merged regions of sheet {} overlap or (with the sheets read before it) together span more than {MAX_CELLS} cells; unmerge them and import again, or save the sheet as CSV",
        shown(sheet),
        shown(sheet)
    )]
    MergedRegionsTooLarge {
        /// The sheet's name.
        sheet: String,
    },
    /// No visible sheet has a roster header row.
    #[error("{}", sheets::no_roster_sheet(read, hidden, closest.as_ref(), searched_short))]
    NoRosterSheet {
        /// The sheets read, in tab order.
        read: Vec<String>,
        /// The sheets read whose search for a header row stopped with rows below the rows
        /// searched ([`import::HEADER_SEARCH_ROWS`]).
        searched_short: Vec<String>,
        /// The hidden sheets, which were not read.
        hidden: Vec<String>,
        /// The sheet read that came closest to a roster header row, if any named one of the
        /// required columns.
        closest: Option<Closest>,
    },
    /// The archive holds more files than a workbook needs.
    #[error(
        "这个 .xlsx 压缩包里有 {entries} 个文件，最多 {MAX_ENTRIES} 个；请在 Excel 中另存为新的工作簿或 CSV / \
         the .xlsx archive holds {entries} files, at most {MAX_ENTRIES} are accepted; save it again from Excel as a new workbook or as CSV"
    )]
    TooManyEntries {
        /// How many it holds.
        entries: usize,
    },
    /// One part of the archive says it inflates to more than allowed.
    #[error(
        "这个 .xlsx 解压后过大（{part} 为 {bytes} 字节，上限 {limit} 字节），没有读取；请按小区拆分或另存为 CSV / \
         the .xlsx inflates too large ({part} is {bytes} bytes, the limit is {limit}), so it was not read; split it by estate (小区) or save it as CSV"
    )]
    PartTooLarge {
        /// The part's name in the archive.
        part: String,
        /// Its declared uncompressed size.
        bytes: u64,
        /// The limit for that part.
        limit: u64,
    },
    /// All parts together inflate to more than allowed.
    #[error(
        "这个 .xlsx 解压后共 {bytes} 字节以上，超过上限 {limit} 字节，没有读取；请按小区拆分或另存为 CSV / \
         the .xlsx inflates to {bytes} bytes or more, over the limit of {limit}, so it was not read; split it by estate (小区) or save it as CSV"
    )]
    InflatesTooLarge {
        /// Bytes inflated (or declared) when the limit was passed.
        bytes: u64,
        /// [`bounds::MAX_INFLATED_BYTES`].
        limit: u64,
    },
    /// A part inflates to more than its header declares: the file is damaged or crafted.
    #[error(
        "这个 .xlsx 已损坏：{part} 解压后比声明的 {declared} 字节大，没有读取；请在 Excel 中重新保存 / \
         the .xlsx is damaged: {part} inflates to more than the {declared} bytes it declares, so it was not read; save it again from Excel"
    )]
    SizeLies {
        /// The part's name in the archive.
        part: String,
        /// Its declared uncompressed size.
        declared: u64,
    },
    /// A cell of the roster's sheet is a formula whose value the file does not hold (a workbook
    /// a program wrote, never opened in Excel): read as a blank, its row would import without
    /// what the formula says.
    #[error(
        "工作表 {} 的单元格 {cell} 是公式，但文件里没有它算出的值（这样的单元格共 {count} 个）；请在 Excel 或 WPS 中打开文件，保存后重新导入 / \
         cell {cell} of sheet {} is a formula with no computed value ({count} such cells); open the file in Excel or WPS, save it, and import it again",
        shown(sheet),
        shown(sheet)
    )]
    FormulaWithoutValue {
        /// The sheet's name.
        sheet: String,
        /// The first such cell, as Excel names it (`F2`).
        cell: String,
        /// How many cells of the sheet are such.
        count: usize,
    },
    /// Reading took longer than the request may.
    #[error(
        "读取工作簿超时，已停止；请按小区拆分或另存为 CSV 后再试 / \
         reading the workbook took too long and was stopped; split it by estate (小区) or save it as CSV and try again"
    )]
    TimedOut,
    /// The sheet is larger than an import may be.
    #[error(transparent)]
    TooLarge(#[from] ImportError),
}

/// A sheet's name as a message shows it: quoted, and cut when a crafted workbook names it at
/// length.
fn shown(sheet: &str) -> String {
    shown_names(&[sheet.to_owned()], true)
}

/// The roster's sheet as CSV, and where each CSV line came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SheetCsv {
    /// The sheet's name.
    pub sheet: String,
    /// How many sheets the workbook has, hidden ones included.
    pub sheets: usize,
    /// UTF-8 CSV text.
    pub csv: String,
    /// CSV line → sheet row (both 1-based), for every row that has cells.
    rows: BTreeMap<usize, usize>,
    /// The cells Excel held as dates, written as their text (2026-05-01).
    pub dates: DateCells,
    /// The first cell that is a formula with no value stored (0-based row and column), and how
    /// many there are: a sheet read for its roster is refused with them.
    uncomputed: Option<((u32, u32), usize)>,
}

impl SheetCsv {
    /// The sheet row a CSV line (as a row error reports it) came from.
    pub fn sheet_row(&self, line: usize) -> usize {
        self.rows.get(&line).copied().unwrap_or(line)
    }
}

/// Row → column → text, for the cells that hold something, and the text's size so far.
///
/// Compact, because a sheet may hold up to [`MAX_CELLS`] cells: the text of every cell is in one
/// string, and each row is a list of where its cells' text lies, in column order (12 bytes a
/// cell). A map of maps of strings took about 97 bytes a cell: one 5 MB upload of 1.9 million
/// one-digit cells took the relay from 22 to 199 MiB, three at once to 559 MiB.
#[derive(Debug, Default)]
struct Grid {
    rows: BTreeMap<u32, Vec<Cell>>,
    text: String,
    /// The text of this sheet's cells, and a little for the CSV's commas.
    size: usize,
    /// The same for the sheets read before this one: the bound is on all of them together.
    before: usize,
    /// (row, column) of the cells that are dates; only those cost room here.
    dates: BTreeSet<(u32, u32)>,
    /// The first cell that is a formula with no value stored, and how many there are.
    uncomputed: Option<((u32, u32), usize)>,
}

/// Where a cell's text lies in [`Grid::text`].
#[derive(Debug, Clone, Copy)]
struct Cell {
    column: u32,
    start: u32,
    len: u32,
}

impl Grid {
    fn insert(&mut self, row: u32, column: u32, text: &str) -> Result<(), WorkbookError> {
        self.size += text.len() + 3;
        if self.before + self.size > MAX_INPUT_BYTES {
            let bytes = self.before + self.size;
            return Err(ImportError::TooLarge { bytes, limit: MAX_INPUT_BYTES }.into());
        }
        // Within MAX_INPUT_BYTES (10 MiB), so an offset fits a u32; a cell written twice leaves
        // its first text behind, counted in `size` all the same.
        let (start, len) = (u32::try_from(self.text.len()), u32::try_from(text.len()));
        let (Ok(start), Ok(len)) = (start, len) else {
            return Err(ImportError::TooLarge { bytes: self.size, limit: MAX_INPUT_BYTES }.into());
        };
        self.text.push_str(text);
        let cell = Cell { column, start, len };
        let cells = self.rows.entry(row).or_default();
        match cells.last() {
            // Cells come in column order: appended.
            Some(last) if last.column < column => cells.push(cell),
            None => cells.push(cell),
            _ => match cells.binary_search_by_key(&column, |c| c.column) {
                Ok(at) => cells[at] = cell,
                Err(at) => cells.insert(at, cell),
            },
        }
        Ok(())
    }

    fn text_of(&self, cell: Cell) -> &str {
        let start = cell.start as usize;
        &self.text[start..start + cell.len as usize]
    }

    fn get(&self, row: u32, column: u32) -> Option<&str> {
        let cells = self.rows.get(&row)?;
        let at = cells.binary_search_by_key(&column, |c| c.column).ok()?;
        Some(self.text_of(cells[at]))
    }

    /// Gives every row of a vertically merged region the region's value, as a coordinator
    /// reads the sheet (楼号 merged over all of a building's rows). Only rows that hold
    /// something else get it, so a region drawn past the table adds no rows; a horizontal span
    /// keeps its value in its first column, as Excel's own "Save As CSV" does.
    ///
    /// Excel's merged regions never overlap, so together they span at most the sheet's cells: a
    /// workbook whose regions span more (the same region thousands of times over the whole
    /// sheet), counted with those of the sheets read before, is refused once they do, and the
    /// work stops at the deadline like reading the cells.
    fn fill_merged(
        &mut self,
        sheet: &str,
        regions: &[Dimensions],
        budget: &mut Budget,
    ) -> Result<(), WorkbookError> {
        for region in regions {
            let (top, column) = region.start;
            // A region one row high (a title merged across the table) has no rows below; a
            // crafted region may even end above where it starts.
            if region.end.0 <= top {
                continue;
            }
            let Some(value) = self.get(top, column).map(str::to_owned) else {
                continue;
            };
            let date = self.dates.contains(&(top, column));
            let mut below = Vec::new();
            for (row, cells) in self.rows.range(top.saturating_add(1)..=region.end.0) {
                budget.spanned += 1;
                if budget.spanned > MAX_CELLS {
                    return Err(WorkbookError::MergedRegionsTooLarge { sheet: sheet.to_owned() });
                }
                if budget.spanned.is_multiple_of(CELLS_PER_DEADLINE_CHECK) && budget.past_deadline() {
                    return Err(WorkbookError::TimedOut);
                }
                if cells.binary_search_by_key(&column, |c| c.column).is_err() {
                    below.push(*row);
                }
            }
            for row in below {
                self.insert(row, column, &value)?;
                if date {
                    self.dates.insert((row, column));
                }
            }
        }
        Ok(())
    }
}

/// What reading a workbook's sheets may take, counted across every sheet read, so that reading
/// several costs no more than one sheet at the bounds: the cells read (empty ones included)
/// against [`MAX_CELLS`], their text against the importer's [`MAX_INPUT_BYTES`], the rows merged
/// regions fill against [`MAX_CELLS`]; and the request's deadline.
#[derive(Debug, Clone)]
struct Budget {
    deadline: Instant,
    cells: usize,
    text: usize,
    spanned: usize,
    /// Whether the workbook read is one whose error cells [`error_cells`] marked as text, so
    /// that a text cell holding an error value is one.
    error_cells_as_text: bool,
}

impl Budget {
    fn new(deadline: Instant, error_cells_as_text: bool) -> Self {
        Budget { deadline, cells: 0, text: 0, spanned: 0, error_cells_as_text }
    }

    fn past_deadline(&self) -> bool {
        Instant::now() > self.deadline
    }
}

/// Reads the first roster sheet of an .xlsx workbook into CSV ([`roster_sheets`] reads them
/// all): for the fuzz target and the tests of how cells become CSV.
pub fn sheet_to_csv(bytes: &[u8], deadline: Instant) -> Result<SheetCsv, WorkbookError> {
    let mut sheets = roster_sheets(bytes, deadline)?;
    Ok(sheets.read.remove(0))
}

/// Reads the roster sheets of an .xlsx workbook into CSV: every visible sheet with a roster
/// header row, never none ([`sheets`]), and the sheets passed over with why. Refuses before
/// anything is inflated a workbook whose parts inflate past the limits of [`bounds`], and stops
/// once `deadline` passes.
#[expect(
    clippy::redundant_closure,
    reason = "the function item takes one lifetime of the workbook's bytes; the closure takes any, as a second read needs"
)]
pub fn roster_sheets(bytes: &[u8], deadline: Instant) -> Result<RosterSheets, WorkbookError> {
    read_workbook(bytes, deadline, |workbook, budget| sheets::roster_sheets(workbook, budget))
}

/// The workbook behind an upload: checked by [`bounds`] first, then opened, and the
/// sheets `choose` picks read within one `Budget`. A workbook holding an error value calamine
/// does not read (`#SPILL!`) is read again with its error cells as text
/// ([`error_cells`]), so each is a bad row naming its cell, as `#N/A` is.
fn read_workbook(
    bytes: &[u8],
    deadline: Instant,
    choose: impl Fn(&mut Xlsx<Cursor<&[u8]>>, &mut Budget) -> Result<RosterSheets, WorkbookError>,
) -> Result<RosterSheets, WorkbookError> {
    if let Some(kind) = kind::not_a_workbook(bytes) {
        return Err(kind.into());
    }
    bounds::check_archive(bytes, deadline)?;
    let sheets = match open_and_choose(bytes, deadline, false, &choose) {
        Err(WorkbookError::FormulaError(_)) => {
            let as_text = error_cells::as_text(bytes)?;
            open_and_choose(&as_text, deadline, true, &choose)
        }
        read => read,
    }?;
    // A formula's value, not the formula, is what the sheet says; a workbook that never
    // stored one is refused rather than read as blanks.
    if let Some((sheet, ((row, column), count))) =
        sheets.read.iter().find_map(|s| s.uncomputed.map(|u| (&s.sheet, u)))
    {
        return Err(WorkbookError::FormulaWithoutValue {
            sheet: sheet.clone(),
            cell: cell_name(row, column),
            count,
        });
    }
    Ok(sheets)
}

fn open_and_choose(
    bytes: &[u8],
    deadline: Instant,
    error_cells_as_text: bool,
    choose: &impl Fn(&mut Xlsx<Cursor<&[u8]>>, &mut Budget) -> Result<RosterSheets, WorkbookError>,
) -> Result<RosterSheets, WorkbookError> {
    // calamine 0.38 panics on some malformed parts (an inverted range such as "Z9:A1" overflows
    // a subtraction in debug builds); a damaged upload is the coordinator's problem to fix, not
    // a failed request to retry, so a panic while reading is the same refusal as an error.
    doorstep_core::expected_panic::catch(|| {
        let mut workbook: Xlsx<_> =
            Xlsx::new(Cursor::new(bytes)).map_err(|e| WorkbookError::Unreadable(e.to_string()))?;
        choose(&mut workbook, &mut Budget::new(deadline, error_cells_as_text))
    })
    .unwrap_or_else(|message| {
        tracing::warn!(%message, "the workbook reader panicked on an upload; refusing it");
        Err(WorkbookError::ReaderFailed)
    })
}

/// Reads one sheet of a workbook whose archive passed [`bounds::check_archive`], its
/// cost counted in `budget`.
fn read_sheet<R: std::io::Read + std::io::Seek>(
    workbook: &mut Xlsx<R>,
    sheet: &str,
    budget: &mut Budget,
) -> Result<SheetCsv, WorkbookError> {
    let mut grid = Grid { before: budget.text, ..Grid::default() };
    let mut cells =
        workbook.worksheet_cells_reader(sheet).map_err(|e| WorkbookError::Unreadable(e.to_string()))?;
    // With each cell's formula, if it has one, to tell a formula whose value the file does not
    // hold from a blank cell (calamine reads both as empty).
    while let Some(cell) = cells.next_cell_with_formula_metadata().map_err(|e| match e {
        // An error value calamine 0.38 does not read (#SPILL!, #CALC!, #GETTING_DATA) ends its
        // reading of the sheet: `read_workbook` reads the workbook again with it as text.
        XlsxError::CellError(value) => WorkbookError::FormulaError(value),
        e => WorkbookError::Unreadable(e.to_string()),
    })? {
        // Every cell counts, empty or not: a sheet of a million formatted empty cells costs as
        // much to parse as a full one.
        budget.cells += 1;
        if budget.cells > MAX_CELLS {
            return Err(WorkbookError::TooManyCells { sheet: sheet.to_owned() });
        }
        if budget.cells.is_multiple_of(CELLS_PER_DEADLINE_CHECK) && budget.past_deadline() {
            return Err(WorkbookError::TimedOut);
        }
        let (row, column) = cell.pos;
        let value = &cell.value;
        if cell.formula.is_some() && matches!(value, DataRef::Empty) {
            let (first, count) = grid.uncomputed.get_or_insert(((row, column), 0));
            *count += 1;
            *first = (*first).min((row, column));
        }
        let text = as_csv_cell(value, budget.error_cells_as_text);
        // An empty cell (one Excel wrote for its formatting, or a blank string) is no part of
        // the sheet's rows and columns, however far out: it counts only against the cells read.
        if text.is_empty() {
            continue;
        }
        if column >= MAX_COLUMNS {
            let cell = cell_name(row, column);
            return Err(WorkbookError::TooManyColumns { sheet: sheet.to_owned(), column: column + 1, cell });
        }
        if row >= MAX_SHEET_ROWS {
            let cell = cell_name(row, column);
            return Err(WorkbookError::TooManyRows { sheet: sheet.to_owned(), row: row + 1, cell });
        }
        // A cell over a roster cell's length makes its row a bad row, as in a CSV (the reader
        // names it); the sheet's text as a whole is bounded by the grid. A NUL (Excel's
        // `_x0000_`) or another control character is taken out by the importer, which says so on
        // the row, naming the column (`read_roster_sheet`), as in a CSV cell.
        grid.insert(row, column, &text)?;
        if matches!(value, DataRef::DateTimeIso(_))
            || matches!(value, DataRef::DateTime(d) if d.is_datetime())
        {
            grid.dates.insert((row, column));
        }
    }
    drop(cells);
    let regions =
        workbook.merge_cells_by_sheet_name(sheet).map_err(|e| WorkbookError::Unreadable(e.to_string()))?;
    if regions.len() > MAX_MERGED_REGIONS {
        return Err(WorkbookError::TooManyMergedRegions { sheet: sheet.to_owned(), regions: regions.len() });
    }
    grid.fill_merged(sheet, &regions, budget)?;
    budget.text += grid.size;
    Ok(grid_to_csv(sheet.to_owned(), workbook.sheets_metadata().len(), grid))
}

/// A cell's name as Excel shows it, from its 0-based row and column: `A1`, `KP1`, `XFD1048576`.
// Not `rust_xlsxwriter::utility::row_col_to_cell`: that takes a u16 column (Excel's own limit),
// and the cell named here may be one past every limit in a damaged or hostile file.
fn cell_name(row: u32, column: u32) -> String {
    let mut letters = Vec::new();
    let mut n = column + 1;
    while n > 0 {
        let digit = u8::try_from((n - 1) % 26).unwrap_or(0);
        letters.push(char::from(b'A' + digit));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect::<String>() + &(u64::from(row) + 1).to_string()
}

/// Writes the grid as CSV, every row as wide as the widest, as Excel's own "Save As CSV"
/// writes them: a row whose last cells are empty still has their commas.
fn grid_to_csv(sheet: String, sheets: usize, grid: Grid) -> SheetCsv {
    let width = grid.rows.values().filter_map(|cells| cells.last()).map(|c| c.column + 1).max().unwrap_or(0);
    let mut csv = String::with_capacity(grid.size + grid.rows.len() * usize::try_from(width).unwrap_or(0));
    let mut rows = BTreeMap::new();
    let mut dates = DateCells::default();
    let mut line = 1usize;
    let mut next_row = 0u32;
    for (&row, cells) in &grid.rows {
        // Empty rows become empty lines, so that CSV lines stay sheet rows.
        for _ in next_row..row {
            csv.push('\n');
            line += 1;
        }
        rows.insert(line, usize::try_from(row).unwrap_or(usize::MAX).saturating_add(1));
        let mut cells_in_order = cells.iter().peekable();
        let mut breaks = 0;
        for column in 0..width {
            if column > 0 {
                csv.push(',');
            }
            if let Some(cell) = cells_in_order.next_if(|c| c.column == column) {
                if grid.dates.contains(&(row, column)) {
                    dates.insert(line, column as usize);
                }
                let text = grid.text_of(*cell);
                // As the importer counts them, so that a row error's line maps back to its row.
                breaks += import::line_breaks(text.as_bytes());
                push_field(&mut csv, text);
            }
        }
        csv.push('\n');
        line += 1 + breaks;
        next_row = row + 1;
    }
    SheetCsv { sheet, sheets, csv, rows, dates, uncomputed: grid.uncomputed }
}

/// A cell as text, the way the coordinator sees it in Excel; borrowed when it is text already
/// (the grid copies it into its own string).
fn text_of<'a>(value: &'a DataRef<'_>) -> Cow<'a, str> {
    match value {
        DataRef::Empty => Cow::Borrowed(""),
        DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => Cow::Borrowed(s),
        DataRef::SharedString(s) => Cow::Borrowed(s),
        DataRef::Int(i) => Cow::Owned(i.to_string()),
        DataRef::Float(f) => Cow::Owned(number(*f)),
        DataRef::Bool(b) => Cow::Owned(b.to_string()),
        DataRef::DateTime(d) if d.is_datetime() => Cow::Owned(date_text(d)),
        DataRef::DateTime(d) => Cow::Owned(d.to_string()),
        // As Excel shows it, so that the importer refuses it as a formula error
        // (`doorstep_core::import::FORMULA_ERRORS`); calamine writes this one "#DATA!" (it reads
        // it from .xlsb only; in an .xlsx it is a `FormulaError`, as #SPILL! is).
        DataRef::Error(CellErrorType::GettingData) => Cow::Borrowed("#GETTING_DATA"),
        DataRef::Error(e) => Cow::Owned(e.to_string()),
    }
}

/// A cell as the text of a CSV cell the relay wrote: a text cell that a spreadsheet would read
/// as a formula or an error value (`=1`, `#N/A`, a volunteer's note exported in a typed text
/// cell) quoted as the CSV export quotes it, so that the importer, which undoes that quote,
/// reads it as the text it is; an error cell (a formula that failed) as Excel shows it.
fn as_csv_cell<'a>(value: &'a DataRef<'_>, error_cells_as_text: bool) -> Cow<'a, str> {
    match value {
        DataRef::String(s) if error_cells_as_text && import::formula_error(s).is_some() => Cow::Borrowed(s),
        DataRef::String(s) => crate::csv_cell::neutralise(s),
        DataRef::SharedString(s) => crate::csv_cell::neutralise(s),
        value => text_of(value),
    }
}

/// A date as a coordinator reads it: 2026-11-20, or 2026-11-20 09:30 when it has a time of day
/// (Excel's serial number, 46346, means nothing to anyone).
fn date_text(d: &ExcelDateTime) -> String {
    let (year, month, day, hour, minute, second, _) = d.to_ymd_hms_milli();
    match (hour, minute, second) {
        (0, 0, 0) => format!("{year:04}-{month:02}-{day:02}"),
        (_, _, 0) => format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}"),
        _ => format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}"),
    }
}

/// Whole numbers without a fraction (Excel stores every number as a float); others in their
/// shortest exact form.
fn number(f: f64) -> String {
    // 2^53: every whole number below it is exact in a float, and a phone number (11 digits) is.
    if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 { format!("{f:.0}") } else { f.to_string() }
}

/// Appends a CSV field, quoted when it must be.
fn push_field(out: &mut String, text: &str) {
    if text.contains([',', '"', '\n', '\r']) || text.starts_with(' ') || text.ends_with(' ') {
        out.push('"');
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(text);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rust_xlsxwriter::Workbook;

    use super::*;

    fn later() -> Instant {
        Instant::now() + std::time::Duration::from_secs(60)
    }

    fn workbook(fill: impl FnOnce(&mut rust_xlsxwriter::Worksheet)) -> Vec<u8> {
        let mut book = Workbook::new();
        fill(book.add_worksheet());
        book.add_worksheet().write_string(0, 0, "second sheet, ignored").unwrap();
        book.save_to_buffer().unwrap()
    }

    /// The first sheet as CSV, roster or not, within the same bounds as an upload's sheet: for
    /// the tests of how cells become CSV.
    fn first_sheet(bytes: &[u8]) -> Result<SheetCsv, WorkbookError> {
        let mut sheets = read_workbook(bytes, later(), first_of)?;
        Ok(sheets.read.remove(0))
    }

    /// A cell longer than a roster cell makes its row a bad row, as in a CSV, and the good rows
    /// beside it import; a NUL in a cell (Excel's `_x0000_`) is taken out, as another control
    /// character is there and in a CSV cell, with a warning naming the cell's row and column.
    /// Before: a 4,001-character cell refused the whole workbook, a NUL made it "not a text
    /// file; save as CSV", and then it was kept as U+FFFD without a word (`张�三`).
    #[test]
    fn an_overlong_cell_or_a_nul_spoils_only_its_row() {
        let bytes = workbook(|s| {
            for (c, h) in ["楼号", "房号", "户主", "备注"].iter().enumerate() {
                s.write_string(0, u16::try_from(c).unwrap(), *h).unwrap();
            }
            for r in 1..=4u32 {
                s.write_string(r, 0, "1").unwrap();
                s.write_number(r, 1, f64::from(100 + r)).unwrap();
                s.write_string(r, 2, "张三").unwrap();
            }
            s.write_string(1, 3, "长".repeat(4_001)).unwrap();
            s.write_string(2, 2, "王\0五").unwrap();
            s.write_string(3, 2, "李\u{1}四").unwrap();
        });
        let sheet = sheet_to_csv(&bytes, later()).unwrap();
        let preview =
            import::read_roster_sheet(sheet.csv.as_bytes(), &sheet.dates, crate::roster_file::today())
                .unwrap();
        let good: Vec<&str> = preview.households.iter().map(|h| h.draft.head.as_str()).collect();
        assert_eq!(good, ["王五", "李四", "张三"]);
        assert_eq!(preview.errors.len(), 1, "{:?}", preview.errors);
        assert_eq!((preview.errors[0].line, preview.errors[0].code), (2, "field_too_long"));
        assert!(preview.errors[0].reason.contains("4001 characters"), "{}", preview.errors[0].reason);
        let warned: Vec<String> = preview.warnings.iter().map(import::RowMessage::bilingual).collect();
        assert_eq!(
            warned,
            [3, 4].map(|line| format!(
                "第 {line} 行，户主：去掉了 1 个看不见的控制字符或文字方向符，请核对这一格 / line {line}, column 户主: \
                 1 invisible control or text-direction character(s) were taken out; check the cell"
            ))
        );
        // The same cells in a CSV file: the control character alike; a NUL there is a file that
        // is not text.
        let csv = "楼号,房号,户主\n1,103,李\u{1}四\n";
        assert_eq!(
            import::read_roster_csv(csv.as_bytes()).unwrap().warnings[0].bilingual(),
            warned[0].replace("第 3 行", "第 2 行").replace("line 3", "line 2")
        );
        assert!(import::read_roster_csv(b"1,2,3\n1,103,\0").is_err());
    }

    #[test]
    fn numbers_lose_excels_fraction_and_text_is_quoted_when_needed() {
        let bytes = workbook(|s| {
            s.write_string(0, 0, "房号").unwrap();
            s.write_string(0, 1, "联系电话").unwrap();
            s.write_string(0, 2, "备注").unwrap();
            s.write_number(1, 0, 702.0).unwrap();
            s.write_number(1, 1, 19908923609.0).unwrap();
            s.write_string(1, 2, "需送货上门, \"高层\"").unwrap();
            s.write_number(2, 0, 2.5).unwrap();
            s.write_boolean(2, 1, true).unwrap();
        });
        let sheet = first_sheet(&bytes).unwrap();
        assert_eq!(
            sheet.csv,
            "房号,联系电话,备注\n702,19908923609,\"需送货上门, \"\"高层\"\"\"\n2.5,true,\n"
        );
    }

    #[test]
    fn sheet_rows_stay_csv_lines_across_gaps_and_line_breaks() {
        let bytes = workbook(|s| {
            s.write_string(2, 1, "楼号").unwrap();
            s.write_string(3, 1, "1").unwrap();
            s.write_string(3, 2, "two\nlines").unwrap();
            s.write_string(5, 1, "2").unwrap();
        });
        let sheet = first_sheet(&bytes).unwrap();
        assert_eq!(sheet.csv, "\n\n,楼号,\n,1,\"two\nlines\"\n\n,2,\n");
        assert_eq!(sheet.sheet_row(3), 3);
        assert_eq!(sheet.sheet_row(4), 4);
        // Row 6 starts on line 7, after the line break in row 4.
        assert_eq!(sheet.sheet_row(7), 6);
    }

    #[test]
    fn what_is_not_an_xlsx_says_so() {
        assert!(matches!(
            sheet_to_csv(OLE_MAGIC, later()),
            Err(WorkbookError::NotAWorkbook(kind::NotAWorkbook::OldExcel))
        ));
        let e = sheet_to_csv(b"PK\x03\x04 not really a zip", later()).unwrap_err();
        assert!(e.to_string().contains("the file cannot be read as an Excel workbook"), "{e}");
        let wide = workbook(|s| {
            s.write_string(0, 300, "x").unwrap();
        });
        let e = sheet_to_csv(&wide, later()).unwrap_err();
        assert!(matches!(e, WorkbookError::TooManyColumns { column: 301, .. }), "{e}");
        assert!(e.to_string().contains("sheet \"Sheet1\" uses column 301 (cell KO1)"), "{e}");
    }

    /// One empty cell Excel kept for its formatting at the sheet's last row or column refused
    /// the whole workbook ("uses row 1048576"): empty cells are no part of the rows and columns
    /// read, and a cell that is not empty past them is named.
    #[test]
    fn an_empty_formatted_cell_far_out_is_ignored_and_a_far_cell_with_a_value_is_named() {
        let household = |s: &mut rust_xlsxwriter::Worksheet| {
            for (c, (h, v)) in [("楼号", "1"), ("房号", "101"), ("户主", "张三")].iter().enumerate() {
                s.write_string(0, u16::try_from(c).unwrap(), *h).unwrap();
                s.write_string(1, u16::try_from(c).unwrap(), *v).unwrap();
            }
        };
        let bold = rust_xlsxwriter::Format::new().set_bold();
        for far in [(1_048_575, 0), (0, 16_383)] {
            let bytes = workbook(|s| {
                household(s);
                s.write_blank(far.0, far.1, &bold).unwrap();
            });
            let sheet = sheet_to_csv(&bytes, later()).unwrap();
            assert_eq!(sheet.csv, "楼号,房号,户主\n1,101,张三\n", "{far:?}");
        }
        let e = sheet_to_csv(
            &workbook(|s| {
                household(s);
                s.write_string(1_048_575, 0, "x").unwrap();
            }),
            later(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("sheet \"Sheet1\" uses row 1048576 (cell A1048576)"), "{e}");
        assert!(e.to_string().contains("单元格 A1048576"), "{e}");
        let e = sheet_to_csv(
            &workbook(|s| {
                household(s);
                s.write_string(0, 16_383, "x").unwrap();
            }),
            later(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("uses column 16384 (cell XFD1)"), "{e}");
    }

    /// Rewrites one part of a workbook, keeping every other part as it is.
    fn with_part(bytes: &[u8], name: &str, rewrite: impl Fn(String) -> String) -> Vec<u8> {
        use std::io::{Read, Write};
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        let mut out = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for i in 0..archive.len() {
            let mut entry = archive.by_index(i).unwrap();
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            let entry_name = entry.name().unwrap().into_owned();
            out.start_file(entry_name.as_str(), zip::write::SimpleFileOptions::default()).unwrap();
            let text = if entry_name == name { rewrite(text) } else { text };
            out.write_all(text.as_bytes()).unwrap();
        }
        out.finish().unwrap().into_inner()
    }

    /// A failed formula's error value (`#N/A` from a `VLOOKUP` that found nothing) was written
    /// out as text and imported as the head, phone and notes; it is now a bad row naming the
    /// cell, as the same cell of the sheet saved as CSV is; so is an error value calamine does not
    /// know (#SPILL!, #CALC!), which refused the whole workbook before.
    #[test]
    fn excel_error_values_are_bad_rows_naming_the_cell() {
        use rust_xlsxwriter::Formula;
        let bytes = workbook(|s| {
            for (c, h) in ["楼号", "房号", "户主", "联系电话", "备注"].iter().enumerate() {
                s.write_string(0, u16::try_from(c).unwrap(), *h).unwrap();
            }
            for r in 1..=3u32 {
                s.write_number(r, 0, 1.0).unwrap();
                s.write_number(r, 1, f64::from(100 + r)).unwrap();
                s.write_string(r, 2, "张三").unwrap();
            }
            let failed = |result: &str| Formula::new("=VLOOKUP(B2,户籍!A:C,2,0)").set_result(result);
            s.write_formula(1, 2, failed("#N/A")).unwrap();
            s.write_formula(1, 3, failed("#N/A")).unwrap();
            s.write_formula(1, 4, failed("#REF!")).unwrap();
            s.write_formula(2, 4, failed("#DIV/0!")).unwrap();
        });
        let sheet = sheet_to_csv(&bytes, later()).unwrap();
        let preview =
            import::read_roster_sheet(sheet.csv.as_bytes(), &sheet.dates, crate::roster_file::today())
                .unwrap();
        assert_eq!(preview.households.iter().map(|h| h.line).collect::<Vec<_>>(), [4]);
        let bad: Vec<(usize, &str, &str, &str)> = preview
            .errors
            .iter()
            .map(|e| (e.line, e.column.as_deref().unwrap(), e.value.as_str(), e.code))
            .collect();
        assert_eq!(
            bad,
            [
                (2, "户主", "#N/A", "formula_error"),
                (2, "联系电话", "#N/A", "formula_error"),
                (2, "备注", "#REF!", "formula_error"),
                (3, "备注", "#DIV/0!", "formula_error"),
            ]
        );
        assert_eq!(
            preview.errors[0].to_string(),
            "line 2, column 户主: formula error #N/A in 户主: fix the formula or type the value"
        );

        let spill = workbook(|s| {
            s.write_string(0, 0, "楼号").unwrap();
            s.write_formula(1, 0, Formula::new("=SEQUENCE(3)").set_result("#SPILL!")).unwrap();
        });
        let spill = with_part(&spill, "xl/worksheets/sheet1.xml", |xml| {
            assert!(xml.contains(r#"t="str""#), "{xml}");
            xml.replace(r#"t="str""#, r#"t="e""#)
        });
        // calamine refuses #SPILL!; read again with error cells as text, it is a bad row naming
        // its cell, as #N/A is, and the rows around it import.
        let sheet = first_sheet(&spill).unwrap();
        assert!(sheet.csv.contains("#SPILL!"), "{}", sheet.csv);
        let spill = workbook(|s| {
            for (c, h) in ["楼号", "房号", "户主"].iter().enumerate() {
                s.write_string(0, u16::try_from(c).unwrap(), *h).unwrap();
            }
            for r in 1..=3u32 {
                s.write_number(r, 0, 1.0).unwrap();
                s.write_number(r, 1, f64::from(100 + r)).unwrap();
                s.write_string(r, 2, "张三").unwrap();
            }
            s.write_formula(2, 2, Formula::new("=FILTER(户籍!A:A,户籍!B:B=B3)").set_result("#CALC!"))
                .unwrap();
            s.write_formula(3, 1, Formula::new("=SEQUENCE(3)").set_result("#SPILL!")).unwrap();
        });
        let spill =
            with_part(&spill, "xl/worksheets/sheet1.xml", |xml| xml.replace(r#"t="str""#, r#"t="e""#));
        assert!(matches!(
            open_and_choose(&spill, later(), false, &first_of),
            Err(WorkbookError::FormulaError(_))
        ));
        let sheet = sheet_to_csv(&spill, later()).unwrap();
        let preview =
            import::read_roster_sheet(sheet.csv.as_bytes(), &sheet.dates, crate::roster_file::today())
                .unwrap();
        assert_eq!(preview.households.iter().map(|h| h.line).collect::<Vec<_>>(), [2]);
        let bad: Vec<(usize, &str, &str)> =
            preview.errors.iter().map(|e| (e.line, e.column.as_deref().unwrap(), e.value.as_str())).collect();
        assert_eq!(bad, [(3, "户主", "#CALC!"), (4, "房号", "#SPILL!")]);
    }

    /// A formula cell with no value stored (`<c t="str"><f>…</f></c>`, as a workbook a program
    /// writes has) was read as a blank: "户主 is empty", a blank 户内人数 imported as unknown. It
    /// is a refusal naming the cell and saying to save the file in Excel or WPS; a formula with a
    /// value stored, even an empty one, reads as its value, and so does another sheet's formula.
    #[test]
    fn a_formula_with_no_value_stored_is_refused_naming_its_cell() {
        use rust_xlsxwriter::Formula;
        let ledger = |s: &mut rust_xlsxwriter::Worksheet| {
            for (c, h) in ["楼号", "房号", "户主", "户内人数", "备注"].iter().enumerate() {
                s.write_string(0, u16::try_from(c).unwrap(), *h).unwrap();
            }
            for r in 1..=3u32 {
                s.write_number(r, 0, 1.0).unwrap();
                s.write_number(r, 1, f64::from(100 + r)).unwrap();
                s.write_string(r, 2, "张三").unwrap();
            }
            s.write_formula(2, 2, Formula::new(r#"="王"&"五""#).set_result("UNSTORED")).unwrap();
            s.write_formula(3, 3, Formula::new("=1+1").set_result("UNSTORED")).unwrap();
            s.write_formula(1, 4, Formula::new(r#"="""#).set_result("")).unwrap();
        };
        let unstored = |xml: String| xml.replace("<v>UNSTORED</v>", "");
        let bytes = with_part(&workbook(ledger), "xl/worksheets/sheet1.xml", unstored);
        let e = sheet_to_csv(&bytes, later()).unwrap_err();
        assert!(
            matches!(&e, WorkbookError::FormulaWithoutValue { cell, count: 2, .. } if cell == "C3"),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "工作表 \"Sheet1\" 的单元格 C3 是公式，但文件里没有它算出的值（这样的单元格共 2 个）；请在 Excel 或 WPS 中打开文件，保存后重新导入 / \
             cell C3 of sheet \"Sheet1\" is a formula with no computed value (2 such cells); open the file in Excel or WPS, save it, and import it again"
        );

        // Stored, the values read as they are.
        let sheet = sheet_to_csv(&workbook(ledger), later()).unwrap();
        assert!(sheet.csv.contains("1,102,UNSTORED,,\n"), "{}", sheet.csv);

        // On a sheet before the roster's (instructions), it is not the roster's problem.
        let mut book = Workbook::new();
        let notes = book.add_worksheet();
        notes.write_string(0, 0, "说明").unwrap();
        notes.write_formula(1, 0, Formula::new("=TODAY()").set_result("UNSTORED")).unwrap();
        ledger(book.add_worksheet());
        let bytes = book.save_to_buffer().unwrap();
        let bytes = with_part(&bytes, "xl/worksheets/sheet1.xml", unstored);
        let bytes = with_part(&bytes, "xl/worksheets/sheet2.xml", |xml| xml.replace("UNSTORED", "X"));
        assert_eq!(sheet_to_csv(&bytes, later()).unwrap().sheet, "Sheet2");
    }

    fn first_of(
        workbook: &mut Xlsx<Cursor<&[u8]>>,
        budget: &mut Budget,
    ) -> Result<RosterSheets, WorkbookError> {
        let first = workbook.sheet_names().into_iter().next().unwrap();
        Ok(RosterSheets { read: vec![read_sheet(workbook, &first, budget)?], skipped: Vec::new() })
    }

    /// A `<dimension>` that ends before it starts overflows a subtraction inside calamine 0.38.
    /// The workspace turns overflow checks on for calamine in release builds too, so the
    /// answer is the same refusal in every build (and in the fuzzer) instead of a row count
    /// that wraps silently in release.
    #[test]
    fn a_dimension_that_ends_before_it_starts_is_a_refusal() {
        let bytes = workbook(|s| {
            s.write_string(0, 0, "楼号").unwrap();
            s.write_string(2, 2, "1").unwrap();
        });
        let sheet = "xl/worksheets/sheet1.xml";
        let plain = first_sheet(&bytes).unwrap();
        assert_eq!(plain.csv, "楼号,,\n\n,,1\n");
        let inverted = with_part(&bytes, sheet, |xml| {
            assert!(xml.contains("<dimension ref=\"A1:C3\"/>"), "{xml}");
            xml.replace("<dimension ref=\"A1:C3\"/>", "<dimension ref=\"C3:A1\"/>")
        });
        let e = first_sheet(&inverted).unwrap_err();
        assert!(matches!(e, WorkbookError::ReaderFailed), "{e}");
        assert!(e.to_string().contains("save it again as a new .xlsx or as CSV"), "{e}");
    }

    /// A workbook of `rows` rows (楼号 in column A, 7 in B1) whose sheet repeats the merge
    /// B1:B`rows` `copies` times.
    fn merged_over_and_over(rows: u32, copies: usize) -> Vec<u8> {
        let bytes = workbook(|s| {
            for row in 0..rows {
                s.write_string(row, 0, "楼").unwrap();
            }
            s.write_string(0, 1, "7").unwrap();
        });
        with_part(&bytes, "xl/worksheets/sheet1.xml", |xml| {
            let merge = format!("<mergeCell ref=\"B1:B{rows}\"/>");
            let merges =
                format!("</sheetData><mergeCells count=\"{copies}\">{}</mergeCells>", merge.repeat(copies));
            xml.replacen("</sheetData>", &merges, 1)
        })
    }

    /// Excel never writes overlapping merged regions. A crafted sheet repeating one region over
    /// the whole table thousands of times made the relay walk every row once per region, long
    /// after answering 408; now the regions may span no more rows together than a sheet may
    /// have cells, and the walk stops at the deadline.
    #[test]
    fn merged_regions_that_overlap_past_a_sheets_cells_are_refused_and_stop_at_the_deadline() {
        let once = first_sheet(&merged_over_and_over(3_000, 1)).unwrap();
        assert_eq!(once.csv.lines().filter(|line| *line == "楼,7").count(), 3_000, "a merge fills its rows");
        let started = Instant::now();
        let e = sheet_to_csv(&merged_over_and_over(3_000, 1_000), later()).unwrap_err();
        assert!(matches!(e, WorkbookError::MergedRegionsTooLarge { .. }), "{e}");
        assert!(e.to_string().contains("unmerge them"), "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "refused once past the bound");
        // Under the bound, a deadline that has passed stops the walk.
        let mut grid = Grid::default();
        for row in 0..3_000 {
            grid.insert(row, 0, "楼").unwrap();
        }
        grid.insert(0, 1, "7").unwrap();
        let regions = vec![Dimensions::new((0, 1), (2_999, 1)); 600];
        let e = grid.fill_merged("s", &regions, &mut Budget::new(Instant::now(), false)).unwrap_err();
        assert!(matches!(e, WorkbookError::TimedOut), "{e}");
    }

    /// Reading several sheets to find the roster costs no more than one sheet at the bounds:
    /// the cells and the text of every sheet read count together. Here an instructions sheet of
    /// one cell (15 bytes as CSV) comes before a roster header of three (27 bytes).
    #[test]
    fn the_bounds_hold_across_every_sheet_read() {
        let mut book = Workbook::new();
        book.add_worksheet().write_string(0, 0, "填表说明").unwrap();
        let roster = book.add_worksheet();
        for (c, header) in ["楼号", "房号", "户主"].into_iter().enumerate() {
            roster.write_string(0, u16::try_from(c).unwrap(), header).unwrap();
        }
        let bytes = book.save_to_buffer().unwrap();
        let read = |spent: Budget| {
            read_workbook(&bytes, later(), |workbook, budget| {
                *budget = spent.clone();
                sheets::roster_sheets(workbook, budget)
            })
        };
        let cells_left = |cells| Budget { cells: MAX_CELLS - cells, ..Budget::new(later(), false) };
        assert_eq!(read(cells_left(4)).unwrap().read[0].sheet, "Sheet2");
        let e = read(cells_left(3)).unwrap_err();
        assert!(matches!(&e, WorkbookError::TooManyCells { sheet } if sheet == "Sheet2"), "{e}");
        let text_left = |bytes| Budget { text: MAX_INPUT_BYTES - bytes, ..Budget::new(later(), false) };
        assert_eq!(read(text_left(42)).unwrap().read[0].sheet, "Sheet2");
        let e = read(text_left(41)).unwrap_err();
        assert!(
            matches!(e, WorkbookError::TooLarge(ImportError::TooLarge { bytes, .. }) if bytes == MAX_INPUT_BYTES + 1),
            "{e}"
        );
    }

    #[test]
    fn a_cell_takes_its_text_and_twelve_bytes_whatever_order_it_comes_in() {
        // A million one-digit cells: about 97 MB as a map of maps of strings, now under 20 MB.
        let mut grid = Grid::default();
        for row in 0..10_000 {
            for column in 0..100 {
                grid.insert(row, column, "7").unwrap();
            }
        }
        let cells: usize = grid.rows.values().map(Vec::len).sum();
        let bytes = grid.text.capacity()
            + grid.rows.values().map(|row| row.capacity() * size_of::<Cell>()).sum::<usize>();
        assert_eq!(cells, 1_000_000);
        assert!(bytes < 20 * cells, "{bytes} bytes for {cells} cells");
        // Out of column order, and a cell written twice: the CSV as Excel would save it.
        let mut grid = Grid::default();
        grid.insert(2, 2, "c").unwrap();
        grid.insert(2, 0, "a").unwrap();
        grid.insert(2, 1, "b").unwrap();
        grid.insert(2, 1, "B").unwrap();
        grid.insert(0, 0, "楼号").unwrap();
        let csv = grid_to_csv("s".into(), 1, grid);
        assert_eq!(csv.csv, "楼号,,\n\na,B,c\n");
        assert_eq!((csv.sheet_row(1), csv.sheet_row(3)), (1, 3));
    }
}
