//! Finding a household by the address a person types.

use crate::Compound;
use crate::schema::address::{BadAddress, building_label, flat_key, parse_address, unit_label};
use crate::schema::household::Household;

/// Why an address did not lead to one household.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// The text is not an address.
    #[error(transparent)]
    BadAddress(#[from] BadAddress),
    /// No household there.
    #[error("no household at {0} in this compound")]
    NotFound(String),
    /// Several households match (e.g. no unit given, or the same building in two estates).
    #[error("{text} matches {} households: {}; add the estate or unit", .candidates.len(), .candidates.join(", "))]
    Ambiguous {
        /// What was typed.
        text: String,
        /// The matching addresses.
        candidates: Vec<String>,
    },
}

/// The household at `text` ("17号楼3单元702", "17栋3单元702室", "17-3-702", full-width digits).
pub fn find_household(compound: &Compound, text: &str) -> Result<Household, LookupError> {
    let query = parse_address(text)?;
    let mut found: Vec<Household> = compound
        .households()
        .into_iter()
        .filter(|h| {
            let a = &h.address;
            // As addresses are compared (`DoorKey`): invisible characters and the spelling of
            // the building and unit do not count.
            building_label(&a.building) == building_label(&query.building)
                && flat_key(&a.flat) == flat_key(&query.flat)
                && query.unit.as_ref().is_none_or(|u| unit_label(u) == unit_label(&a.unit))
                && query
                    .estate
                    .as_ref()
                    .is_none_or(|e| a.estate.contains(e.as_str()) || e.contains(a.estate.as_str()))
        })
        .collect();
    match found.len() {
        0 => Err(LookupError::NotFound(text.to_owned())),
        1 => Ok(found.remove(0)),
        _ => Err(LookupError::Ambiguous {
            text: text.to_owned(),
            candidates: found.iter().map(|h| h.address.to_string()).collect(),
        }),
    }
}
