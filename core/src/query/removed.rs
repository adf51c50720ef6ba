//! Households removed from the roster, as they last stood, read from the roster's own history.
//!
//! A coordinator may remove a household (a duplicate row, a family moved out) while a volunteer,
//! offline, takes an urgent request at its door, knocks there or edits its notes. That work names
//! the household by ID, and it still reaches the coordinators, but the live roster no longer
//! says where the door is. Automerge keeps every removed value: the household as it stood just
//! before the change that removed it is the roster at that change's dependencies. So whoever
//! shows such work (the dashboard's requests, rounds, review inbox and exports) can still give
//! its address and head, marked as removed, instead of an ID.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use automerge::Automerge;
use automerge::legacy::{Key, OpType};

use crate::Compound;
use crate::Timestamp;
use crate::document::{Document, roster};
use crate::id::HouseholdId;
use crate::schema::household::Household;
use crate::schema::vocabulary::DocKind;

/// When and by which actor a household was removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    /// The removing change's time, by its writer's device clock.
    pub at: Timestamp,
    /// The Automerge actor that removed it, hex (the relay's bindings name the person).
    pub actor: String,
}

/// The households a caller is about to show: every live one, and those of `referenced` no
/// longer in the roster as they last stood, with their removal.
#[derive(Debug, Clone, Default)]
pub struct HouseholdBook {
    /// The roster's households, as [`Compound::households`] reads them.
    live: Vec<Household>,
    /// Where each live household is in `live`.
    index: HashMap<HouseholdId, usize>,
    removed: BTreeMap<HouseholdId, (Household, Removal)>,
}

impl HouseholdBook {
    /// The live households of `compound` (the roster read once), and the removed ones among
    /// `referenced`. The roster's history is read only when some referenced ID is not live.
    pub fn of(compound: &Compound, referenced: impl IntoIterator<Item = HouseholdId>) -> Self {
        let live = compound.households();
        let index: HashMap<HouseholdId, usize> = live.iter().enumerate().map(|(i, h)| (h.id, i)).collect();
        let missing: BTreeSet<HouseholdId> =
            referenced.into_iter().filter(|id| !index.contains_key(id)).collect();
        let removed = compound
            .single(DocKind::Roster)
            .map(|roster| removed_households(roster, &missing))
            .unwrap_or_default();
        Self { live, index, removed }
    }

    /// The roster's households, as [`Compound::households`] gives them.
    pub fn live(&self) -> &[Household] {
        &self.live
    }

    /// The household, live or as it stood when removed.
    pub fn get(&self, id: HouseholdId) -> Option<&Household> {
        self.index.get(&id).map(|&i| &self.live[i]).or_else(|| self.removed.get(&id).map(|(h, _)| h))
    }

    /// Its removal, if it is no longer in the roster.
    pub fn removal(&self, id: HouseholdId) -> Option<&Removal> {
        self.removed.get(&id).map(|(_, removal)| removal)
    }
}

/// The households of `wanted` that `roster` once held and holds no more, each as it stood just
/// before its last removal, with that removal. IDs the roster never held are left out.
pub fn removed_households(
    roster: &Document,
    wanted: &BTreeSet<HouseholdId>,
) -> BTreeMap<HouseholdId, (Household, Removal)> {
    let doc = roster.automerge();
    let live = roster::household_ids(doc);
    let keys: BTreeMap<String, HouseholdId> =
        wanted.iter().filter(|id| !live.contains(id)).map(|id| (id.to_string(), *id)).collect();
    let mut found = BTreeMap::new();
    if keys.is_empty() || roster.kind() != DocKind::Roster {
        return found;
    }
    // The removing changes are found by their own operations (a delete of a key of the
    // households map), not by diffing the document at every change: a diff walks the whole
    // document, and a roster's history is long.
    let Some(households) = super::change_ops::root_map(doc, roster::HOUSEHOLDS) else { return found };
    for change in doc.get_changes(&[]) {
        let removed_here: Vec<HouseholdId> = super::change_ops::operations(&change)
            .iter()
            .map(|(_, op)| op)
            .filter(|op| matches!(op.action, OpType::Delete) && op.obj == households)
            .filter_map(|op| match &op.key {
                Key::Map(key) => keys.get(key.as_str()).copied(),
                Key::Seq(_) => None,
            })
            .collect();
        if removed_here.is_empty() {
            continue;
        }
        let Ok(before) = doc.fork_at(change.deps()) else { continue };
        let removal = Removal {
            at: Timestamp::from_millis(change.timestamp()),
            actor: change.actor_id().to_hex_string(),
        };
        for id in removed_here {
            // A later removal (of a household brought back) overrides an earlier one.
            if let Some(household) = roster::household(&before, id) {
                found.insert(id, (household, removal.clone()));
            }
        }
    }
    found
}

/// Whether a change of `roster` (a roster's Automerge document) removed household `id` from its
/// households map: the relay's check that work naming a household no longer live names one a
/// coordinator removed meanwhile, not one the roster never held. Reads every change's
/// operations, as [`removed_households`] does, so it is for an ID already found not live.
pub fn once_removed(roster: &Automerge, id: HouseholdId) -> bool {
    let Some(households) = super::change_ops::root_map(roster, roster::HOUSEHOLDS) else { return false };
    let key = id.to_string();
    roster.get_changes(&[]).iter().any(|change| {
        super::change_ops::operations(change).iter().any(|(_, op)| {
            matches!(op.action, OpType::Delete)
                && op.obj == households
                && matches!(&op.key, Key::Map(k) if k.as_str() == key)
        })
    })
}
