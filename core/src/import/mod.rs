//! Importing a coordinator's household ledger (台账) from a spreadsheet.
//!
//! A compound's roster usually starts life as an Excel sheet kept by the community office:
//! hundreds of rows typed by several people, with a full-width digit here, a phone number Excel
//! rounded to "1.99089E+10" there, and a status nobody spelled the same way twice. Refusing the
//! whole file for one bad row would leave the coordinator stuck; silently skipping or guessing
//! would put a wrong address on a volunteer's list. So reading is split from applying:
//!
//! - [`read_roster_csv`] is pure: bytes in, a [`RosterPreview`] out. It never touches a
//!   document. A file that cannot be read at all (unknown encoding, a required column missing,
//!   too large) is an [`ImportError`] and nothing is imported.
//! - Otherwise each row is either an [`ImportedRow`] (a
//!   [`HouseholdDraft`](crate::schema::household::HouseholdDraft) and its line number) or a
//!   [`RowError`] saying which line, which column, what value and why, in words a coordinator
//!   can act on ("line 12, column 户内人数: \"三\" is not a whole number").
//! - Nothing changes until the caller shows the preview and the coordinator accepts the good
//!   rows (or fixes the sheet and tries again).
//!
//! Limits ([`MAX_INPUT_BYTES`], [`MAX_ROWS`], [`MAX_COLUMNS`], [`MAX_FIELD_CHARS`], [`MAX_ERRORS`]) keep a
//! hostile or mistaken upload from exhausting a phone's or the relay's memory and time. The two sample
//! ledgers in `data/` (857 and 1,040 households) are 72 KB and 83 KB (November 2026), so
//! the 10 MiB limit leaves room for about 100,000 households.
//!
//! ```
//! use doorstep_core::import::read_roster_csv;
//!
//! let csv = "小区,楼号,单元,房号,户主,户内人数,重点人群\n\
//!            北林小区,1号楼,1单元,102,谢燕杰,2,独居老人\n\
//!            北林小区,1号楼,1单元,103,徐珍庆,三,\n";
//! let preview = read_roster_csv(csv.as_bytes()).expect("the file is readable");
//! assert_eq!(preview.households.len(), 1);
//! assert_eq!(preview.households[0].draft.address.floor, 1);
//! assert_eq!(preview.errors[0].to_string(), "line 3, column 户内人数: \"三\" is not a whole number");
//! ```

mod birth_dates;
mod cell_characters;
mod columns;
mod date_cells;
mod encoding;
mod error;
pub mod export_version;
mod formula_errors;
mod open_quote;
mod phone;
mod residents;
mod roster_csv;

pub use birth_dates::CalendarDay;
pub use columns::{ColumnSet, RosterColumn};
pub use date_cells::DateCells;
pub use encoding::decode;
pub use error::{ImportError, RowError, RowMessage, RowWarning, header_search_note, shown_names};
pub use formula_errors::formula_error;
pub(crate) use phone::as_imported as phone_as_imported;
pub use roster_csv::{
    HEADER_SEARCH_ROWS, ImportedRow, MAX_COLUMNS, MAX_ERRORS, MAX_FIELD_CHARS, MAX_INPUT_BYTES, MAX_PEOPLE,
    MAX_ROWS, RosterPreview, check_roster_header, line_breaks, read_roster_csv, read_roster_csv_on,
    read_roster_sheet,
};
