//! Excel's error values. A formula that failed (a `VLOOKUP` that found nothing, a reference to a
//! deleted sheet) shows `#N/A` or `#REF!` in its cell, and a workbook or its "Save As CSV" carries
//! that text where the value belongs: imported, it would become a household's head, phone or
//! notes. A cell whose whole text is one of these makes its row a bad row (`formula_error`), as
//! a date cell does ([`DateCells`](super::DateCells)).

/// The error values Excel and WPS show, as they show them (a workbook's error cells are written
/// out as these by the dashboard's reader).
pub const FORMULA_ERRORS: [&str; 10] = [
    "#N/A",
    "#REF!",
    "#VALUE!",
    "#DIV/0!",
    "#NAME?",
    "#NULL!",
    "#NUM!",
    "#GETTING_DATA",
    "#SPILL!",
    "#CALC!",
];

/// The error value `cell` is, when its whole text (trimmed, in any case) is one.
pub fn formula_error(cell: &str) -> Option<&'static str> {
    let cell = cell.trim();
    if !cell.starts_with('#') {
        return None;
    }
    FORMULA_ERRORS.into_iter().find(|error| error.eq_ignore_ascii_case(cell))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_whole_cell_of_an_error_value_is_one() {
        assert_eq!(formula_error("#N/A"), Some("#N/A"));
        assert_eq!(formula_error(" #ref! "), Some("#REF!"));
        assert_eq!(formula_error("#GETTING_DATA"), Some("#GETTING_DATA"));
        assert_eq!(formula_error("#N/A 待查"), None);
        assert_eq!(formula_error("3#楼"), None);
        assert_eq!(formula_error("#"), None);
    }
}
