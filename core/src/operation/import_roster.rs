//! Applying a roster preview to a compound: the step after the coordinator has seen the
//! preview. A file with row errors changes nothing unless the caller accepts the good rows;
//! then every household goes in as one Automerge change. A household already at the same
//! address is updated in place (a re-import of a corrected sheet), never duplicated.

use std::collections::{BTreeMap, HashMap};

use automerge::transaction::Transactable;
use serde::Serialize;

use super::OperationError;
use super::apply::{check_draft, may_add, transact};
use crate::compound::Compound;
use crate::document::roster;
use crate::env::Env;
use crate::id::{BuildingId, HouseholdId};
use crate::import::RosterPreview;
use crate::role::Actor;
use crate::rulebook::table::HOUSEHOLD;
use crate::schema::household::{Building, HouseholdEdit};
use crate::schema::vocabulary::DocKind;

/// Whether rows with errors block the import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportPolicy {
    /// Import only a clean file (the default).
    AllOrNothing,
    /// Import the rows that were read, leaving out the rows with errors.
    AcceptGoodRows,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    /// Households added.
    pub added: usize,
    /// Households already present at the same address, updated.
    pub updated: usize,
    /// Rows left out because of errors.
    pub rows_left_out: usize,
    /// Buildings added.
    pub buildings_added: usize,
}

type AddressKey = (String, String, String, String);

impl Compound {
    /// Imports `preview` into the roster (coordinators). See [`ImportPolicy`].
    pub fn import_roster(
        &mut self,
        env: &mut Env<'_>,
        actor: &Actor,
        preview: &RosterPreview,
        policy: ImportPolicy,
    ) -> Result<ImportSummary, OperationError> {
        may_add(actor.role, "import a roster", &HOUSEHOLD)?;
        let left_out = preview.errors.len() + preview.omitted_errors;
        if left_out > 0 && policy == ImportPolicy::AllOrNothing {
            return Err(OperationError::ImportHasErrors {
                rows: left_out,
                first: preview.errors.first().map(ToString::to_string).unwrap_or_default(),
            });
        }
        for row in &preview.households {
            check_draft(&row.draft).map_err(|e| OperationError::Invalid {
                field: "roster",
                reason: format!("line {}: {e}", row.line),
            })?;
        }
        let doc_id =
            self.single(DocKind::Roster).ok_or(OperationError::MissingDocument(DocKind::Roster))?.id();
        let doc = self.document(doc_id).ok_or(OperationError::MissingDocument(DocKind::Roster))?;
        let mut buildings: HashMap<(String, String), BuildingId> =
            roster::buildings(doc.automerge()).into_values().map(|b| ((b.estate, b.label), b.id)).collect();
        let existing: BTreeMap<AddressKey, HouseholdId> = roster::households(doc.automerge())
            .into_iter()
            .map(|h| ((h.address.estate, h.address.building, h.address.unit, h.address.flat), h.id))
            .collect();
        let mut new_buildings = Vec::new();
        let mut plan = Vec::new();
        for row in &preview.households {
            let a = &row.draft.address;
            let building = *buildings.entry((a.estate.clone(), a.building.clone())).or_insert_with(|| {
                let b = Building {
                    id: BuildingId::generate(env),
                    estate: a.estate.clone(),
                    label: a.building.clone(),
                    lift: row.draft.lift,
                };
                let id = b.id;
                new_buildings.push(b);
                id
            });
            let key = (a.estate.clone(), a.building.clone(), a.unit.clone(), a.flat.clone());
            let target = existing
                .get(&key)
                .copied()
                .map_or_else(|| (HouseholdId::generate(env), true), |id| (id, false));
            plan.push((target, building, &row.draft));
        }
        let mut summary = ImportSummary {
            rows_left_out: left_out,
            buildings_added: new_buildings.len(),
            ..Default::default()
        };
        let doc = self.document_mut(doc_id).ok_or(OperationError::MissingDocument(DocKind::Roster))?;
        transact(doc, env, |tx| {
            for b in &new_buildings {
                roster::put_building(tx, b)?;
            }
            for ((id, is_new), building, draft) in &plan {
                if *is_new {
                    roster::put_household(tx, *id, *building, draft)?;
                    summary.added += 1;
                } else {
                    let obj = roster::entity(&*tx, roster::HOUSEHOLDS, &id.to_string())
                        .ok_or(OperationError::UnknownHousehold(*id))?;
                    let edit = HouseholdEdit {
                        head: Some(draft.head.clone()),
                        phone: Some(draft.phone.clone()),
                        // A blank count in the file is unknown, not a correction: the count
                        // already recorded stays.
                        people: draft.people,
                        aged_60_plus: Some(draft.aged_60_plus),
                        children_under_6: Some(draft.children_under_6),
                        lift: Some(draft.lift),
                    };
                    roster::edit_household(tx, &obj, &edit)?;
                    tx.put(&obj, "status", draft.status.as_str())?;
                    roster::set_needs(tx, &obj, &draft.needs)?;
                    roster::update_text(tx, &obj, "notes", &draft.notes)?;
                    summary.updated += 1;
                }
            }
            Ok(())
        })?;
        Ok(summary)
    }
}
