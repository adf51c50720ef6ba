//! `GET …/map`: the colour-coded compound map (参谋图) coordinators print and post, as data:
//! building → unit → floor (top floor first, as the building stands) → flat.
//!
//! Colours follow the field practice: red = confirmed, pink = central quarantine, brown = home
//! quarantine, and green = mobility impaired for a household not under control; every other
//! household is uncoloured.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use doorstep_core::Compound;
use doorstep_core::id::HouseholdId;
use doorstep_core::query;
use doorstep_core::schema::address::NumericKey;
use doorstep_core::schema::control_status::ControlStatus;
use doorstep_core::schema::household::Household;
use doorstep_core::schema::need_tag::NeedTag;
use serde::Serialize;

use super::error::DashError;
use super::signed_in::SignedIn;
use super::snapshot::{self, Rounds};
use super::{DashState, blocking};

/// The map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Map {
    /// Buildings in climbing order.
    pub buildings: Vec<MapBuilding>,
}

/// One building.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MapBuilding {
    /// Its estate ("" for a single-estate compound).
    pub estate: String,
    /// Its label ("17").
    pub label: String,
    /// Its units in order ("" when it has none).
    pub units: Vec<MapUnit>,
}

/// One unit (stairwell).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MapUnit {
    /// Its label ("3", or "").
    pub unit: String,
    /// Floors, top first.
    pub floors: Vec<MapFloor>,
}

/// One floor of a unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MapFloor {
    /// The floor number.
    pub floor: i32,
    /// Flats in order.
    pub flats: Vec<MapFlat>,
}

/// One flat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MapFlat {
    /// The household living there.
    pub household: HouseholdId,
    /// The flat ("702").
    pub flat: String,
    /// Its control status.
    pub status: ControlStatus,
    /// Its need tags.
    pub needs: Vec<NeedTag>,
    /// `red`, `pink`, `brown`, `green` or `none`.
    pub colour: &'static str,
}

/// A household's colour on the map.
pub fn colour(h: &Household) -> &'static str {
    match h.status {
        ControlStatus::Confirmed => "red",
        ControlStatus::CentralQuarantine => "pink",
        ControlStatus::HomeQuarantine => "brown",
        ControlStatus::Normal | ControlStatus::HomeMonitoring
            if h.needs.contains(&NeedTag::MobilityImpaired) =>
        {
            "green"
        }
        ControlStatus::Normal | ControlStatus::HomeMonitoring => "none",
    }
}

/// A building's place in climbing order, and its label as written.
type BuildingKey = (String, NumericKey, String);
/// A unit's place in climbing order, and its label as written.
type UnitKey = (NumericKey, String);

/// The map of a compound.
pub fn map(compound: &Compound) -> Map {
    // Building → unit → floor → flats; BTreeMaps keep everything in climbing order.
    let mut tree: BTreeMap<BuildingKey, BTreeMap<UnitKey, BTreeMap<i32, Vec<MapFlat>>>> = BTreeMap::new();
    for h in query::households_in_order(compound) {
        let a = &h.address;
        let flat = MapFlat {
            household: h.id,
            flat: a.flat.clone(),
            status: h.status,
            needs: h.needs.iter().copied().collect(),
            colour: colour(&h),
        };
        tree.entry((a.estate.clone(), NumericKey::new(&a.building), a.building.clone()))
            .or_default()
            .entry((NumericKey::new(&a.unit), a.unit.clone()))
            .or_default()
            .entry(a.floor)
            .or_default()
            .push(flat);
    }
    let buildings = tree
        .into_iter()
        .map(|((estate, _, label), units)| MapBuilding {
            estate,
            label,
            units: units
                .into_iter()
                .map(|((_, unit), floors)| MapUnit {
                    unit,
                    floors: floors
                        .into_iter()
                        .rev()
                        .map(|(floor, flats)| MapFloor { floor, flats })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    Map { buildings }
}

/// `GET /dashboard/api/compounds/{compound}/map`.
pub async fn get(
    State(state): State<DashState>,
    signed: SignedIn,
    Path(compound): Path<String>,
) -> Result<Json<Map>, DashError> {
    let scope = signed.scope(&state, &compound).await?;
    let compound = snapshot::load(&state.app.relay, scope.compound.id, Rounds::Open).await?;
    Ok(Json(blocking(move || map(&compound)).await?))
}
