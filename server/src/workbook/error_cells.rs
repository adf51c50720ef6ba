//! Error cells calamine cannot read. A cell whose formula failed is stored as an error value
//! (`<c t="e"><v>#SPILL!</v></c>`); calamine 0.38 knows `#N/A`, `#REF!` and the other classic
//! ones, and ends its reading of the sheet at any other (`#SPILL!` from a dynamic array that
//! cannot spill, `#CALC!`, `#GETTING_DATA`, `#BLOCKED!`, …), so the whole workbook was refused
//! without naming the cell. [`as_text`] gives the same workbook with every error cell of every
//! sheet marked as text holding its value, which calamine reads; the importer then refuses each
//! one as a formula error naming its row and column, as it does `#N/A`
//! (`doorstep_core::import::FORMULA_ERRORS`), and imports the rest.
//!
//! Only called once a workbook's archive passed `bounds::check_archive`, and only
//! when calamine refused an error value: a workbook without one is never rewritten.

use std::io::{Cursor, Read, Write};

use zip::ZipArchive;
use zip::write::SimpleFileOptions;

use super::WorkbookError;

/// The workbook in `bytes` with the error cells of its sheets marked as text; every other part
/// copied as it is, still compressed.
pub fn as_text(bytes: &[u8]) -> Result<Vec<u8>, WorkbookError> {
    let unreadable = |e: &dyn std::fmt::Display| WorkbookError::Unreadable(e.to_string());
    let mut archive = ZipArchive::new(Cursor::new(bytes)).map_err(|e| unreadable(&e))?;
    let mut out = zip::ZipWriter::new(Cursor::new(Vec::with_capacity(bytes.len())));
    for i in 0..archive.len() {
        let name = archive
            .by_index_raw(i)
            .map_err(|e| unreadable(&e))?
            .name()
            .map_err(|e| unreadable(&e))?
            .into_owned();
        if !is_sheet(&name) {
            let entry = archive.by_index_raw(i).map_err(|e| unreadable(&e))?;
            out.raw_copy_file(entry).map_err(|e| unreadable(&e))?;
            continue;
        }
        let mut xml = String::new();
        archive
            .by_index(i)
            .map_err(|e| unreadable(&e))?
            .read_to_string(&mut xml)
            .map_err(|e| unreadable(&e))?;
        out.start_file(name, SimpleFileOptions::default()).map_err(|e| unreadable(&e))?;
        out.write_all(error_cells_as_text(&xml).as_bytes()).map_err(|e| unreadable(&e))?;
    }
    Ok(out.finish().map_err(|e| unreadable(&e))?.into_inner())
}

/// A worksheet's part (`xl/worksheets/sheet1.xml`), where cells live.
fn is_sheet(name: &str) -> bool {
    name.starts_with("xl/worksheets/") && name.ends_with(".xml") && !name[14..].contains('/')
}

/// `xml` with the type of every cell start tag (`<c …>`, or `<x:c …>` under a prefix) that says
/// `t="e"` changed to `t="str"` (a formula's text result); nothing outside cell tags changes.
fn error_cells_as_text(xml: &str) -> String {
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(open) = rest.find('<') {
        out.push_str(&rest[..open]);
        let tag_and_after = &rest[open..];
        let Some(close) = tag_and_after.find('>') else {
            out.push_str(tag_and_after);
            return out;
        };
        let tag = &tag_and_after[..=close];
        let name =
            tag[1..].split(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/').next().unwrap_or("");
        if name == "c" || name.ends_with(":c") {
            out.push_str(&tag.replace(" t=\"e\"", " t=\"str\"").replace(" t='e'", " t='str'"));
        } else {
            out.push_str(tag);
        }
        rest = &tag_and_after[close + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_type_of_error_cells_changes() {
        let xml = r#"<row r="2"><c r="A2" t="e"><f>SEQUENCE(3)</f><v>#SPILL!</v></c><c r="B2" t="s"><v>0</v></c><x:c r="C2" t='e'><v>#CALC!</v></x:c><is><t>t="e"</t></is><cols t="e"/></row>"#;
        assert_eq!(
            error_cells_as_text(xml),
            r#"<row r="2"><c r="A2" t="str"><f>SEQUENCE(3)</f><v>#SPILL!</v></c><c r="B2" t="s"><v>0</v></c><x:c r="C2" t='str'><v>#CALC!</v></x:c><is><t>t="e"</t></is><cols t="e"/></row>"#
        );
        assert_eq!(error_cells_as_text("no tags <c"), "no tags <c");
    }

    #[test]
    fn sheets_are_the_worksheet_parts_only() {
        assert!(is_sheet("xl/worksheets/sheet1.xml"));
        assert!(!is_sheet("xl/worksheets/_rels/sheet1.xml.rels"));
        assert!(!is_sheet("xl/sharedStrings.xml"));
    }
}
