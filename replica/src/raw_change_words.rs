//! What a set-aside change says, read from its own operations, for an item whose operation the
//! phone no longer has (synced before the relay was restored from an older backup, then set
//! aside: the journal had forgotten it). The review inbox shows "a change to document …: outcome
//! delivered; note 药已送到" rather than the document alone, so a coordinator can record what
//! was done even though the change cannot be applied as an operation.

use automerge::legacy::{Key, OpType};
use automerge::{Change, ScalarValue};

/// Most fields said.
const MOST_FIELDS: usize = 6;
/// Most characters of one value said.
const MOST_CHARS: usize = 60;

/// The fields a change sets, and the text it writes, as `key value` pairs; `None` when it says
/// nothing readable (or the bytes are not a change).
pub(crate) fn words(bytes: &[u8]) -> Option<String> {
    let change = Change::from_bytes(bytes.to_vec()).ok()?;
    let mut said: Vec<String> = Vec::new();
    let mut text = String::new();
    for op in change.decode().operations {
        match (&op.key, &op.action) {
            // Characters typed into a text (a household's notes): said together.
            (Key::Seq(_), OpType::Put(ScalarValue::Str(s))) if op.insert => text.push_str(s),
            (Key::Map(key), OpType::Put(value)) => {
                let value = match value {
                    ScalarValue::Str(s) => s.to_string(),
                    ScalarValue::Int(n) => n.to_string(),
                    ScalarValue::Uint(n) => n.to_string(),
                    ScalarValue::Boolean(b) => b.to_string(),
                    _ => continue,
                };
                said.push(format!("{key} {}", clip(&value)));
            }
            _ => {}
        }
    }
    if !text.is_empty() {
        said.push(format!("text {}", clip(&text)));
    }
    said.truncate(MOST_FIELDS);
    (!said.is_empty()).then(|| said.join("; "))
}

fn clip(value: &str) -> String {
    let mut chars = value.chars();
    let clipped: String = chars.by_ref().take(MOST_CHARS).collect();
    if chars.next().is_some() { format!("{clipped}…") } else { clipped }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ObjType, ROOT};

    use super::*;

    #[test]
    fn a_knock_and_a_note_say_their_fields_and_text() {
        let mut doc = AutoCommit::new();
        let attempts = doc.put_object(ROOT, "attempts", ObjType::List).unwrap();
        let notes = doc.put_object(ROOT, "notes", ObjType::Text).unwrap();
        doc.commit();
        let attempt = doc.insert_object(&attempts, 0, ObjType::Map).unwrap();
        doc.put(&attempt, "outcome", "delivered").unwrap();
        doc.put(&attempt, "note", "药已送到").unwrap();
        doc.put(&attempt, "at", 1_796_000_000_000_i64).unwrap();
        doc.splice_text(&notes, 0, 0, "腿脚不便").unwrap();
        doc.commit();
        let change = doc.get_last_local_change().unwrap().raw_bytes().to_vec();
        let said = words(&change).unwrap();
        assert!(said.contains("outcome delivered") && said.contains("note 药已送到"), "{said}");
        assert!(said.contains("text 腿脚不便"), "{said}");
        assert_eq!(words(b"not a change"), None);
        assert_eq!(clip(&"长".repeat(70)).chars().count(), MOST_CHARS + 1, "clipped with an ellipsis");
    }
}
