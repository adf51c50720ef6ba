//! Rows hidden in Excel (右键 → 隐藏, or left out by a filter, 筛选), which calamine reads as any
//! other row. They are read, as the coordinator's sheet holds them, and the preview says so
//! (`roster_file.rs`, `hidden_rows`): a filter hides most of a sheet while a coordinator looks at
//! one building, and skipping what it hides would leave those households out of an import
//! without a word. A hidden sheet is another thing: not a view of the roster but a sheet the
//! coordinator never sees (数据字典 behind the drop-down lists), and it is not read.
//!
//! calamine does not say which rows are hidden, so the sheet's part is read again for its
//! `<row r="3" hidden="1">` tags, found through `xl/workbook.xml` and its relationships. Only
//! called once the archive passed `bounds::check_archive`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Read};

use zip::ZipArchive;

/// The hidden rows (1-based, as Excel numbers them) of each of `sheets` that has any, by name.
/// A workbook whose parts cannot be found or read this way has none said: its cells were read.
pub fn hidden_rows(bytes: &[u8], sheets: &[&str]) -> BTreeMap<String, BTreeSet<usize>> {
    let mut out = BTreeMap::new();
    let Ok(mut archive) = ZipArchive::new(Cursor::new(bytes)) else {
        return out;
    };
    let mut part = |name: &str| -> Option<String> {
        let mut text = String::new();
        archive.by_name(name).ok()?.read_to_string(&mut text).ok()?;
        Some(text)
    };
    let (Some(workbook), Some(rels)) = (part("xl/workbook.xml"), part("xl/_rels/workbook.xml.rels")) else {
        return out;
    };
    let targets: BTreeMap<String, String> = tags(&rels, "Relationship")
        .filter_map(|tag| Some((attribute(tag, "Id")?, attribute(tag, "Target")?)))
        .collect();
    for tag in tags(&workbook, "sheet") {
        let Some(name) = attribute(tag, "name") else { continue };
        if !sheets.contains(&name.as_str()) {
            continue;
        }
        let Some(target) = attribute(tag, ":id").and_then(|id| targets.get(&id)) else { continue };
        let path = match target.strip_prefix('/') {
            Some(absolute) => absolute.to_owned(),
            None => format!("xl/{target}"),
        };
        let Some(xml) = part(&path) else { continue };
        let hidden: BTreeSet<usize> = tags(&xml, "row")
            .filter(|tag| matches!(attribute(tag, "hidden").as_deref(), Some("1" | "true")))
            .filter_map(|tag| attribute(tag, "r")?.parse().ok())
            .collect();
        if !hidden.is_empty() {
            out.insert(name, hidden);
        }
    }
    out
}

/// The start tags named `name` (or `prefix:name`) in `xml`, each without its `<` and `>`.
fn tags<'a>(xml: &'a str, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    xml.split('<').filter_map(move |piece| {
        let tag = piece.split('>').next()?;
        let tag_name = tag.split(|c: char| c.is_ascii_whitespace() || c == '/').next()?;
        let local = tag_name.rsplit(':').next()?;
        (local == name).then_some(tag)
    })
}

/// The value of the attribute whose name is `name`, or ends with it when it starts with ':'
/// (`r:id` under whatever prefix), unescaped.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let mut rest = tag;
    while let Some(eq) = rest.find('=') {
        let key = rest[..eq].rsplit(|c: char| c.is_ascii_whitespace()).next().unwrap_or("");
        let after = rest[eq + 1..].trim_start();
        let quote = after.chars().next()?;
        if quote != '"' && quote != '\'' {
            return None;
        }
        let end = after[1..].find(quote)?;
        let value = &after[1..=end];
        let matches =
            if name.starts_with(':') { key.ends_with(name) || key == &name[1..] } else { key == name };
        if matches {
            return Some(
                value
                    .replace("&lt;", "<")
                    .replace("&gt;", ">")
                    .replace("&quot;", "\"")
                    .replace("&apos;", "'")
                    .replace("&amp;", "&"),
            );
        }
        rest = &after[end + 2..];
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_read_whatever_their_quotes_and_prefix() {
        let tag = r#"sheet name="A&amp;B" sheetId='2' r:id="rId7""#;
        assert_eq!(attribute(tag, "name").as_deref(), Some("A&B"));
        assert_eq!(attribute(tag, ":id").as_deref(), Some("rId7"));
        assert_eq!(attribute(tag, "sheetId").as_deref(), Some("2"));
        let rows: Vec<&str> =
            tags(r#"<row r="2"><c r="A2"/></row><x:row r="3" hidden="1">"#, "row").collect();
        assert_eq!(rows, [r#"row r="2""#, r#"x:row r="3" hidden="1""#]);
    }
}
