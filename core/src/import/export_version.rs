//! The roster's version an exported ledger was made from, carried in the file's last column
//! (导出版本), so that a coordinator who exports the roster in the morning, fixes a phone number in
//! the file and imports it in the afternoon changes only what they changed in the file: a cell
//! still as exported leaves the roster's value alone, whatever volunteers and coordinators wrote
//! there since (the import compares each cell with the roster as it was exported, not only as it
//! is now; `operation::import_plan`).
//!
//! The version is the roster document's heads when exported, each as the first
//! [`PREFIX_HEX`] hex digits of its change hash, joined by `+`: short enough for a column, long
//! enough that no two changes of a roster share it by chance.

use automerge::{Automerge, ChangeHash};

/// The column's header, as exported.
pub const HEADER: &str = "导出版本";
/// The header's English name, also read.
pub const HEADER_EN: &str = "export version";
/// Hex digits kept of each head's hash (64 bits).
pub const PREFIX_HEX: usize = 16;
/// Heads read from one cell at most (a roster has one or a few).
const MAX_HEADS: usize = 16;

/// The version of a roster document whose heads are `heads`, as the column holds it.
pub fn of_heads(heads: &[ChangeHash]) -> String {
    let mut parts: Vec<String> = heads.iter().map(|h| h.to_string()[..PREFIX_HEX].to_owned()).collect();
    parts.sort();
    parts.join("+")
}

/// Whether `header` names the version column.
pub fn is_header(header: &str) -> bool {
    let key: String = header.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_lowercase();
    key == HEADER || key == HEADER_EN.replace(' ', "")
}

/// The heads `version` names in `doc`: `None` when it is not a version of this document (typed
/// over, from another compound's roster, or of changes this one does not hold).
pub fn resolve(doc: &Automerge, version: &str) -> Option<Vec<ChangeHash>> {
    let parts: Vec<&str> = version.trim().split('+').map(str::trim).collect();
    if parts.is_empty()
        || parts.len() > MAX_HEADS
        || parts.iter().any(|p| p.len() != PREFIX_HEX || !p.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return None;
    }
    let wanted: Vec<String> = parts.iter().map(|p| p.to_ascii_lowercase()).collect();
    let mut found: Vec<Option<ChangeHash>> = vec![None; wanted.len()];
    for change in doc.get_changes(&[]) {
        let hash = change.hash();
        let hex = hash.to_string();
        for (at, part) in wanted.iter().enumerate() {
            if hex.starts_with(part.as_str()) {
                if found[at].is_some_and(|other| other != hash) {
                    return None;
                }
                found[at] = Some(hash);
            }
        }
    }
    found.into_iter().collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;

    #[test]
    fn a_version_names_the_heads_it_was_made_from_and_nothing_else() {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        tx.put(automerge::ROOT, "a", 1).unwrap();
        tx.commit();
        let first = doc.get_heads();
        let mut tx = doc.transaction();
        tx.put(automerge::ROOT, "a", 2).unwrap();
        tx.commit();
        let version = of_heads(&first);
        assert_eq!(version.len(), PREFIX_HEX);
        assert_eq!(resolve(&doc, &version), Some(first));
        assert_eq!(resolve(&doc, &format!(" {} ", version.to_uppercase())), resolve(&doc, &version));
        assert_eq!(resolve(&doc, "0123456789abcdef"), None, "not one of this document's changes");
        assert_eq!(resolve(&doc, "12345"), None);
        assert_eq!(resolve(&doc, ""), None);
        assert!(is_header("导出版本") && is_header("Export Version") && !is_header("版本"));
    }
}
