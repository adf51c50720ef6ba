//! A modified phone: besides the operations its app offers, it writes hand-made Automerge
//! transactions into the documents it holds — random puts, deletes, replacements and inserts at
//! random places, with values of the wrong type, foreign names, times far from now and texts
//! holding control characters or bidirectional overrides. Each is
//! one real Automerge change under the phone's own actor, exactly what a patched app could send.

use automerge::transaction::Transactable;
use automerge::{ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};
use doorstep_core::document::Document;
use doorstep_core::id::PersonId;
use doorstep_core::{Compound, Timestamp};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;

/// Keys a forged write uses: the schema's own and a few it does not know.
const KEYS: &[&str] = &[
    "notes",
    "attempts",
    "assignee",
    "cancelled",
    "status",
    "head",
    "people",
    "needs",
    "text",
    "by",
    "at",
    "outcome",
    "note",
    "title",
    "closed_at",
    "tasks",
    "households",
    "buildings",
    "requests",
    "entries",
    "household",
    "items",
    "junk",
];

/// Makes one hand-made change (1 to 3 writes) in a random document `compound` holds, as `me`,
/// at `now`. Returns whether a change was made.
pub fn forge(
    rng: &mut StdRng,
    compound: &mut Compound,
    me: PersonId,
    others: &[PersonId],
    now: Timestamp,
) -> bool {
    let ids: Vec<_> = compound.documents().filter(|d| !d.is_placeholder()).map(Document::id).collect();
    let Some(id) = ids.choose(rng).copied() else { return false };
    let Some(doc) = compound.document_mut(id) else { return false };
    let am = doc.automerge_mut();
    let targets = objects(am);
    let mut tx = am.transaction();
    for _ in 0..rng.random_range(1..=3) {
        let Some((obj, kind)) = targets.choose(rng).cloned() else { break };
        let who = if rng.random_bool(0.5) { me } else { *others.choose(rng).unwrap_or(&me) };
        let _ignored = write(rng, &mut tx, &obj, kind, who, now);
    }
    let hash = tx.commit_with(automerge::transaction::CommitOptions::default().with_time(now.as_millis()));
    hash.0.is_some()
}

/// Every map, list and text object of the document, with its type (a document is small here).
fn objects(doc: &automerge::Automerge) -> Vec<(ObjId, ObjType)> {
    let mut out = vec![(ROOT, ObjType::Map)];
    let mut i = 0;
    while i < out.len() && out.len() < 400 {
        let (obj, kind) = out[i].clone();
        i += 1;
        let children: Vec<(ObjId, ObjType)> = match kind {
            ObjType::Map | ObjType::Table => doc
                .map_range(&obj, ..)
                .filter_map(|item| {
                    let id = item.id();
                    match item.value.into_value() {
                        Value::Object(t) => Some((id, t)),
                        Value::Scalar(_) => None,
                    }
                })
                .collect(),
            ObjType::List => doc
                .list_range(&obj, ..)
                .filter_map(|item| {
                    let id = item.id();
                    match item.value.into_value() {
                        Value::Object(t) => Some((id, t)),
                        Value::Scalar(_) => None,
                    }
                })
                .collect(),
            ObjType::Text => Vec::new(),
        };
        out.extend(children);
    }
    out
}

/// Texts no field may hold: control characters, a line break in what may be a one-line field,
/// bidirectional overrides and isolates.
const UNWELCOME: &[&str] = &[
    "已送达\u{202E}",
    "\u{1B}[2J",
    "a\u{0}b",
    "\u{2066}1011\u{2069}",
    "\u{7}",
    "3\n单元",
    "王\t芳",
    "1\u{2028}01",
];

fn value(rng: &mut StdRng, who: PersonId, now: Timestamp) -> ScalarValue {
    match rng.random_range(0..9) {
        8 => ScalarValue::Str((*UNWELCOME.choose(rng).unwrap_or(&"\u{7}")).into()),
        0 => ScalarValue::Str(who.to_string().into()),
        1 => ScalarValue::Str("delivered".into()),
        2 => ScalarValue::Int(now.as_millis()),
        3 => ScalarValue::Int(*[0_i64, 7_258_118_400_000, -1, 1_000_000].choose(rng).unwrap_or(&0)),
        4 => ScalarValue::Boolean(rng.random()),
        5 => ScalarValue::Null,
        6 => ScalarValue::Str("closed".into()),
        _ => ScalarValue::Str("字".repeat(rng.random_range(0..300)).into()),
    }
}

fn write(
    rng: &mut StdRng,
    tx: &mut automerge::transaction::Transaction<'_>,
    obj: &ObjId,
    kind: ObjType,
    who: PersonId,
    now: Timestamp,
) -> Result<(), automerge::AutomergeError> {
    match kind {
        ObjType::Map | ObjType::Table => {
            let keys: Vec<String> = tx.keys(obj).collect();
            let key = if !keys.is_empty() && rng.random_bool(0.7) {
                keys.choose(rng).cloned().unwrap_or_default()
            } else {
                (*KEYS.choose(rng).unwrap_or(&"junk")).to_owned()
            };
            // A string field rewritten with a text no field may hold (a head, a flat or a
            // title with a line break): the one-line rule is only met where a string was.
            let holds_a_string = matches!(
                tx.get(obj, key.as_str()),
                Ok(Some((Value::Scalar(s), _))) if matches!(s.as_ref(), ScalarValue::Str(_))
            );
            if holds_a_string && rng.random_bool(0.25) {
                let text = *UNWELCOME.choose(rng).unwrap_or(&"3\n单元");
                return tx.put(obj, key.as_str(), text);
            }
            match rng.random_range(0..4) {
                0 => tx.delete(obj, key.as_str()),
                1 => tx
                    .put_object(
                        obj,
                        key.as_str(),
                        *[ObjType::Map, ObjType::List, ObjType::Text].choose(rng).unwrap_or(&ObjType::Map),
                    )
                    .map(drop),
                _ => tx.put(obj, key.as_str(), value(rng, who, now)),
            }
        }
        ObjType::List => {
            let len = tx.length(obj);
            let at = if rng.random_bool(0.5) { len } else { rng.random_range(0..=len) };
            match rng.random_range(0..3) {
                0 if len > 0 => tx.delete(obj, rng.random_range(0..len)),
                1 => tx.insert(obj, at, value(rng, who, now)),
                _ => {
                    // Something shaped like an attempt, in anyone's name, at any time.
                    let attempt = tx.insert_object(obj, at, ObjType::Map)?;
                    tx.put(&attempt, "by", who.to_string())?;
                    let at_time = if rng.random_bool(0.6) { now.as_millis() } else { 0 };
                    tx.put(&attempt, "at", at_time)?;
                    tx.put(&attempt, "outcome", "delivered")?;
                    tx.put(&attempt, "note", "")
                }
            }
        }
        ObjType::Text => {
            let len = tx.length(obj);
            let at = rng.random_range(0..=len);
            let del = if len > at { rng.random_range(0..=(len - at).min(3)) } else { 0 };
            let inserted =
                if rng.random_bool(0.8) { "伪" } else { UNWELCOME.choose(rng).unwrap_or(&"\u{7}") };
            tx.splice_text(obj, at, del as isize, inserted)
        }
    }
}
