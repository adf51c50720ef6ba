//! Care-ledger rules: only coordinators, admins and medics write it (volunteers never even hold
//! it); what they write must follow the schema.

use super::Effect;
use crate::document::care;
use crate::id::CareEntryId;
use crate::permission::Rule;
use crate::validate::schema::{self, CARE_ENTRY};
use crate::validate::violation::Problem;

/// Root fields of a care document besides the header.
const ROOT_FIELDS: &[&str] = &[care::ENTRIES];

pub(super) fn check(e: &Effect<'_>) -> Result<(), Problem> {
    if !e.author.role.reads_care() {
        let touched = e.touched.root.iter().find(|k| !schema::HEADER_FIELDS.contains(&k.as_str())).cloned();
        let touched = touched
            .or_else(|| e.touched.in_collection(care::ENTRIES).next().map(|(k, _)| format!("entry {k}")));
        if let Some(what) = touched {
            return Err(Problem::forbidden(
                Rule::CareLedgerIsForCoordinatorsAndMedics,
                format!("{} may not write the care ledger ({what})", e.who()),
            ));
        }
    }
    schema::check_root_keys(e.touched.root.iter(), ROOT_FIELDS, "care")?;
    schema::check_collection(e.after, care::ENTRIES)?;
    for (key, _) in e.touched.in_collection(care::ENTRIES) {
        let label = format!("care entry {key}");
        let id: CareEntryId = schema::parse_key(key, "care entry")?;
        let after = schema::slot(e.after, care::ENTRIES, key);
        let Some(obj) = schema::map_after(&after, &label)? else {
            continue;
        };
        care::read_entry(e.after, id, &obj).map_err(|err| Problem::schema(format!("{label}: {err}")))?;
        schema::check_fields(e.after, &obj, &CARE_ENTRY, &label)?;
    }
    Ok(())
}
