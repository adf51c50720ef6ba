//! The care ledger document (coordinators and medics only).

use automerge::transaction::Transactable;
use automerge::{Automerge, AutomergeError, ObjId, ObjType, ROOT, ScalarValue};

use super::read::{self, SchemaError};
use super::roster::collection;
use super::text_update::update_text;
use crate::id::CareEntryId;
use crate::schema::request::{CareDraft, CareEntry};

/// Key of the entries map.
pub const ENTRIES: &str = "entries";

/// Every readable entry.
pub fn entries(doc: &Automerge) -> Vec<CareEntry> {
    read::entries(doc, &ROOT, ENTRIES, |id, obj| read_entry(doc, id, obj))
}

pub(crate) fn read_entry(doc: &Automerge, id: CareEntryId, obj: &ObjId) -> Result<CareEntry, SchemaError> {
    Ok(CareEntry {
        id,
        household: read::parsed(doc, obj, "household")?,
        person_name: read::string(doc, obj, "person_name")?,
        condition: read::parsed(doc, obj, "condition")?,
        schedule: read::string(doc, obj, "schedule")?,
        medicines: read::string(doc, obj, "medicines")?,
        insurance_card_held_by: read::opt_parsed(doc, obj, "insurance_card_held_by")?,
        notes: read::text(doc, obj, "notes"),
    })
}

/// Writes `draft` into the entry `id`, creating it if needed.
pub(crate) fn put_entry(
    tx: &mut impl Transactable,
    id: CareEntryId,
    draft: &CareDraft,
) -> Result<(), AutomergeError> {
    let map = collection(tx, ENTRIES)?;
    let obj = match tx.get(&map, id.to_string())? {
        Some((automerge::Value::Object(ObjType::Map), obj)) => obj,
        _ => tx.put_object(&map, id.to_string(), ObjType::Map)?,
    };
    tx.put(&obj, "household", draft.household.to_string())?;
    tx.put(&obj, "person_name", draft.person_name.as_str())?;
    tx.put(&obj, "condition", draft.condition.as_str())?;
    tx.put(&obj, "schedule", draft.schedule.as_str())?;
    tx.put(&obj, "medicines", draft.medicines.as_str())?;
    match draft.insurance_card_held_by {
        Some(p) => tx.put(&obj, "insurance_card_held_by", p.to_string())?,
        None => tx.put(&obj, "insurance_card_held_by", ScalarValue::Null)?,
    }
    update_text(tx, &obj, "notes", &draft.notes)
}
