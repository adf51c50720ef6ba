//! Replacing a text's content so that concurrent edits still merge, at a cost bounded by the
//! text's length.
//!
//! Automerge's `update_text` diffs the old text against the new (Myers, by grapheme) and writes
//! only what changed, so a volunteer's sentence added to a note merges with a coordinator's edit
//! elsewhere in it. The diff costs about the texts' length times the characters that differ: a
//! note of 4,000 characters rewritten whole took a quarter of a second on the phone and on the
//! relay, which tries set-aside operations again when its review inbox is listed, so a few dozen
//! such items held a request for half a minute. Past [`MAX_DIFF_EDITS`] differing characters the
//! text is written as one splice of the part between what old and new share at the start and at
//! the end: the same text, and a concurrent edit inside that part is kept beside the new words
//! rather than woven into them.

use automerge::transaction::Transactable;
use automerge::{AutomergeError, ObjId, ObjType, TextEncoding};

/// Most characters inserted or deleted for which a text is written as a diff. An honest edit of
/// a note (a sentence added, a phone number changed, a line struck) is far under it; checking
/// costs at most this many passes over the texts.
pub const MAX_DIFF_EDITS: usize = 256;

/// Makes the text at `obj.key` read `new` (created if missing), as a diff when old and new
/// differ by at most [`MAX_DIFF_EDITS`] characters, else as one splice.
pub(crate) fn update_text(
    tx: &mut impl Transactable,
    obj: &ObjId,
    key: &str,
    new: &str,
) -> Result<(), AutomergeError> {
    let text = match tx.get(obj, key)? {
        Some((automerge::Value::Object(ObjType::Text), id)) => id,
        _ => tx.put_object(obj, key, ObjType::Text)?,
    };
    let old = tx.text(&text)?;
    if old == new {
        return Ok(());
    }
    let (old_chars, new_chars): (Vec<char>, Vec<char>) = (old.chars().collect(), new.chars().collect());
    let start = old_chars.iter().zip(&new_chars).take_while(|(a, b)| a == b).count();
    let end = old_chars[start..]
        .iter()
        .rev()
        .zip(new_chars[start..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let (old_middle, new_middle) =
        (&old_chars[start..old_chars.len() - end], &new_chars[start..new_chars.len() - end]);
    // Characters of the old text a diff must keep for the new one to be an edit of it.
    let to_keep = old_chars.len().div_ceil(2).saturating_sub(start + end);
    if edits_within(old_middle, new_middle, diff_bound(old_middle.len(), new_middle.len(), to_keep)) {
        return tx.update_text(&text, new);
    }
    let encoding = tx.text_encoding();
    if to_keep > 0 {
        // A rewrite: the whole text replaced, so a rewrite made meanwhile is kept whole beside it.
        return tx.splice_text(&text, 0, width(encoding, &old) as isize, new);
    }
    let before: String = old_chars[..start].iter().collect();
    let removed: String = old_middle.iter().collect();
    let inserted: String = new_middle.iter().collect();
    tx.splice_text(&text, width(encoding, &before), width(encoding, &removed) as isize, &inserted)
}

/// The most characters inserted or deleted for which the parts that differ, `old` and `new`
/// characters long, are written as a diff: [`MAX_DIFF_EDITS`], and no more than keeps `to_keep`
/// of the old part's characters in place (with what the texts share at their ends, half of the
/// old text). An edit keeps most of what was there; a rewrite keeps a few scattered characters
/// (a "台账", a "：", a "已"), and two rewrites made at once (a volunteer's note offline, a
/// coordinator's ledger imported meanwhile) written as diffs were woven around them into text
/// nobody wrote. Written whole, one splice each, both are kept whole, one after the other.
fn diff_bound(old: usize, new: usize, to_keep: usize) -> usize {
    MAX_DIFF_EDITS.min((old + new).saturating_sub(2 * to_keep))
}

/// `s`'s length in the units the document counts text positions in.
fn width(encoding: TextEncoding, s: &str) -> usize {
    match encoding {
        TextEncoding::Utf8CodeUnit => s.len(),
        TextEncoding::Utf16CodeUnit => s.encode_utf16().count(),
        // Core never asks for graphemes; were it to, a splice at a code point inside a cluster
        // would still leave the text right.
        TextEncoding::UnicodeCodePoint | TextEncoding::GraphemeCluster => s.chars().count(),
    }
}

/// How many characters one text has that the other has not, counting repeats: each insertion or
/// deletion changes it by one, so no shorter edit exists. A rewrite is found here in one pass.
fn characters_apart(old: &[char], new: &[char]) -> usize {
    let mut counts: std::collections::HashMap<char, isize> = std::collections::HashMap::new();
    for c in old {
        *counts.entry(*c).or_default() += 1;
    }
    for c in new {
        *counts.entry(*c).or_default() -= 1;
    }
    counts.values().map(|n| n.unsigned_abs()).sum()
}

/// Whether `old` becomes `new` with at most `max` characters inserted or deleted: Myers' greedy
/// search for the shortest edit script, stopped at `max`, in at most `max` passes over the
/// texts and `2 max + 3` numbers of memory.
fn edits_within(old: &[char], new: &[char], max: usize) -> bool {
    let (n, m) = (old.len(), new.len());
    if n.abs_diff(m) > max || characters_apart(old, new) > max {
        return false;
    }
    let offset = max + 1;
    // `furthest[k + offset]`: how far into `old` the furthest path on diagonal k (x − y) reaches.
    let mut furthest = vec![0_usize; 2 * max + 3];
    for d in 0..=max {
        for k in (0..=2 * d).map(|i| i as isize - d as isize).step_by(2) {
            let at = (k + offset as isize) as usize;
            let mut x = if k == -(d as isize) || (k != d as isize && furthest[at - 1] < furthest[at + 1]) {
                furthest[at + 1]
            } else {
                furthest[at - 1] + 1
            };
            let Some(mut y) = x.checked_add_signed(-k) else { continue };
            while x < n && y < m && old[x] == new[y] {
                x += 1;
                y += 1;
            }
            furthest[at] = x;
            if x >= n && y >= m {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use automerge::transaction::Transactable;
    use automerge::{Automerge, ROOT, ReadDoc};

    use super::*;

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    #[test]
    fn the_edit_distance_is_bounded_exactly() {
        assert!(edits_within(&chars("abc"), &chars("abc"), 0));
        assert!(edits_within(&chars(""), &chars("abc"), 3) && !edits_within(&chars(""), &chars("abc"), 2));
        // "kitten" → "sitting": k→s and e→i are 2 each (delete and insert), g added: 5.
        assert!(edits_within(&chars("kitten"), &chars("sitting"), 5));
        assert!(!edits_within(&chars("kitten"), &chars("sitting"), 4));
        assert!(
            edits_within(&chars("abcdef"), &chars("azcdyf"), 4)
                && !edits_within(&chars("abcdef"), &chars("azcdyf"), 3)
        );
        assert!(
            !edits_within(&chars("甲乙丙"), &chars("丁戊己"), 5)
                && edits_within(&chars("甲乙丙"), &chars("丁戊己"), 6)
        );
        // The same characters in another order: only the search tells.
        assert_eq!(characters_apart(&chars("abcd"), &chars("dcba")), 0);
        assert!(
            edits_within(&chars("abcd"), &chars("dcba"), 6)
                && !edits_within(&chars("abcd"), &chars("dcba"), 5)
        );
    }

    /// Two replicas of a note; `edit` writes on the first, then each is read.
    fn write(old: &str, new: &str) -> String {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        update_text(&mut tx, &ROOT, "notes", old).unwrap();
        update_text(&mut tx, &ROOT, "notes", new).unwrap();
        tx.commit();
        let (_, text) = doc.get(ROOT, "notes").unwrap().unwrap();
        doc.text(&text).unwrap()
    }

    #[test]
    fn the_text_reads_what_was_written_either_way() {
        let long_a: String =
            (0..4000).map(|i| char::from_u32(0x4E00 + (i * 7919 % 20000)).unwrap()).collect();
        let long_b: String =
            (0..4000).map(|i| char::from_u32(0x4E00 + (i * 104_729 % 20000)).unwrap()).collect();
        for (old, new) in [
            ("", "新的备注"),
            ("三楼有老人", ""),
            ("三楼有老人", "三楼有两位老人，需要上门"),
            ("a😀b", "a😀😀b"),
            (long_a.as_str(), long_b.as_str()),
            (long_a.as_str(), &format!("前言{long_a}后记")),
            (long_b.as_str(), &format!("{}{}", &long_a[..3000], &long_b[3000..])),
        ] {
            assert_eq!(write(old, new), new, "{old:.20} → {new:.20}");
        }
    }

    /// Two notes rewritten whole at once, sharing a few characters with the old one: both are
    /// kept whole, not woven together ("志愿者第二版：老人腿脚不便，放门口社区联系").
    #[test]
    fn two_short_rewrites_made_at_once_are_both_kept_whole() {
        let mut a = Automerge::new();
        let mut tx = a.transaction();
        update_text(&mut tx, &ROOT, "notes", "台账：已转居家隔离").unwrap();
        tx.commit();
        let mut b = a.fork();
        let volunteer = "志愿者：老人腿脚不便，放门口";
        let ledger = "台账第二版：社区已联系";
        let mut tx = a.transaction();
        update_text(&mut tx, &ROOT, "notes", volunteer).unwrap();
        tx.commit();
        let mut tx = b.transaction();
        update_text(&mut tx, &ROOT, "notes", ledger).unwrap();
        tx.commit();
        a.merge(&mut b).unwrap();
        let (_, text) = a.get(ROOT, "notes").unwrap().unwrap();
        let merged = a.text(&text).unwrap();
        assert!(merged.contains(volunteer) && merged.contains(ledger), "{merged}");
        assert_eq!(merged.chars().count(), volunteer.chars().count() + ledger.chars().count(), "{merged}");
    }

    #[test]
    fn a_small_edit_merges_with_a_concurrent_one_and_a_rewrite_keeps_both() {
        let base = "一楼 王奶奶 需要降压药。二楼 李叔 行动不便。三楼 空置。";
        let mut a = Automerge::new();
        let mut tx = a.transaction();
        update_text(&mut tx, &ROOT, "notes", base).unwrap();
        tx.commit();
        let mut b = a.fork();
        // Small edits at both ends merge character by character.
        let mut tx = a.transaction();
        update_text(&mut tx, &ROOT, "notes", &base.replace("降压药", "降压药和胰岛素")).unwrap();
        tx.commit();
        let mut tx = b.transaction();
        update_text(&mut tx, &ROOT, "notes", &base.replace("空置", "已搬走")).unwrap();
        tx.commit();
        a.merge(&mut b).unwrap();
        let (_, text) = a.get(ROOT, "notes").unwrap().unwrap();
        assert_eq!(
            a.text(&text).unwrap(),
            "一楼 王奶奶 需要降压药和胰岛素。二楼 李叔 行动不便。三楼 已搬走。"
        );

        // A rewrite past the bound is one splice: the concurrent words are kept beside it.
        let rewrite: String = "全部重写".repeat(100);
        let mut c = a.fork();
        let mut tx = a.transaction();
        update_text(&mut tx, &ROOT, "notes", &rewrite).unwrap();
        tx.commit();
        let mut tx = c.transaction();
        let (_, text) = tx.get(ROOT, "notes").unwrap().unwrap();
        tx.splice_text(&text, 0, 0, "【急】").unwrap();
        tx.commit();
        a.merge(&mut c).unwrap();
        let (_, text) = a.get(ROOT, "notes").unwrap().unwrap();
        let merged = a.text(&text).unwrap();
        assert!(merged.contains("【急】") && merged.contains(&rewrite), "{merged}");
    }
}
