//! Care-ledger rules: only coordinators, admins and medics write it (volunteers never even hold
//! it); what they write must follow the schema.

use super::{Effect, entities, in_roster};
use crate::document::care;
use crate::id::CareEntryId;
use crate::permission::Rule;
use crate::rulebook::table::{CARE, CARE_ENTRY};
use crate::validate::schema;
use crate::validate::violation::Problem;

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
    entities::check_root(e, &CARE, "care")?;
    schema::check_collection(e.after, care::ENTRIES)?;
    for present in entities::check(e, care::ENTRIES, &CARE_ENTRY, |_| false)? {
        let id: CareEntryId = schema::parse_key(&present.key, "care entry")?;
        let entry = care::read_entry(e.after, id, &present.obj)
            .map_err(|err| Problem::schema(format!("{}: {err}", present.label)))?;
        if in_roster::names_anew(e, care::ENTRIES, &present) {
            in_roster::check(e, entry.household, &present.label)?;
        }
    }
    Ok(())
}
