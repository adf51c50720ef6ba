//! The cells of a workbook that Excel held as dates. A sheet is read as the CSV text it becomes,
//! where a date is written as its text (2026-05-01); these say which cells those were, so that a
//! flat Excel turned from "5-1" into a date is a bad row naming the date, not flat 46143 on
//! floor 461.

use std::collections::BTreeSet;

/// Cells held as dates, by the CSV line their row starts on and their field (0-based).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DateCells(BTreeSet<(usize, usize)>);

impl DateCells {
    /// Marks the cell at `field` of the row starting on `line` as a date.
    pub fn insert(&mut self, line: usize, field: usize) {
        self.0.insert((line, field));
    }

    /// Whether the cell at `field` of the row starting on `line` was a date.
    pub fn contains(&self, line: usize, field: usize) -> bool {
        self.0.contains(&(line, field))
    }

    /// Whether no cell was a date.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
