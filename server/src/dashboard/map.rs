//! `GET …/map`: the colour-coded compound map (参谋图) coordinators print and post, as data:
//! building → unit → floor (top floor first, as the building stands) → flat, with the legend
//! (`map_marks.rs`: a fill per control status, a mark per need tag) and, when the coordinator
//! picks an open round (`?round=…`), each door's place in it (`map_round.rs`).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use doorstep_core::Compound;
use doorstep_core::id::{BadId, DocumentId, HouseholdId};
use doorstep_core::query;
use doorstep_core::schema::address::NumericKey;
use doorstep_core::schema::control_status::ControlStatus;
use doorstep_core::schema::need_tag::NeedTag;
use serde::{Deserialize, Serialize};

use super::error::DashError;
use super::map_marks::{Fill, Legend};
use super::map_round::{Door, RoundDoors, RoundOnMap};
use super::signed_in::SignedIn;
use super::snapshot::{self, Rounds};
use super::{DashState, Params, blocking};
use crate::error::AppError;
use crate::http::json::PathParams;

/// The map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Map {
    /// What the fills and marks mean.
    pub legend: Legend,
    /// The round shown, with its doors counted, when one was asked for.
    pub round: Option<RoundOnMap>,
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
    /// Its need tags, each shown as its own mark, in the legend's order.
    pub needs: Vec<NeedTag>,
    /// Its fill: `red`, `pink`, `brown`, `yellow`, `green` or `none`.
    pub colour: Fill,
    /// Its door in the round shown; `null` when no round is shown or the flat is not in it.
    pub door: Option<Door>,
}

/// A building's place in climbing order, and its label as written.
type BuildingKey = (String, NumericKey, String);
/// A unit's place in climbing order, and its label as written.
type UnitKey = (NumericKey, String);

/// The map of a compound, with one round's doors when `round` is given.
pub fn map(compound: &Compound, round: Option<&RoundDoors>) -> Map {
    // Building → unit → floor → flats; BTreeMaps keep everything in climbing order.
    let mut tree: BTreeMap<BuildingKey, BTreeMap<UnitKey, BTreeMap<i32, Vec<MapFlat>>>> = BTreeMap::new();
    for h in query::households_in_order(compound) {
        let a = &h.address;
        let flat = MapFlat {
            household: h.id,
            flat: a.flat.clone(),
            status: h.status,
            needs: h.needs.iter().copied().collect(),
            colour: Fill::of(&h),
            door: round.and_then(|r| r.doors.get(&h.id).copied()),
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
    Map { legend: Legend::default(), round: round.map(|r| r.summary.clone()), buildings }
}

/// The map's query string.
#[derive(Debug, Default, Deserialize)]
pub struct MapParams {
    /// An open round whose doors to show.
    #[serde(default)]
    pub round: Option<String>,
}

/// The doors of an open round of the compound.
fn open_round(compound: &Compound, id: DocumentId) -> Result<RoundDoors, AppError> {
    let doc = compound.rounds().find(|d| d.id() == id).ok_or_else(|| {
        AppError::NotFound(format!(
            "这一轮不存在或已结束，参谋图只显示进行中的轮次 / no open round {id} in this compound \
             (the map shows open rounds only)"
        ))
    })?;
    let drawn = compound.households().into_iter().map(|h| h.id).collect();
    RoundDoors::of(doc, &drawn).ok_or_else(|| {
        AppError::NotFound(format!("这一轮的信息读不出来 / round {id} has no readable header"))
    })
}

/// `GET /dashboard/api/compounds/{compound}/map`.
pub async fn get(
    State(state): State<DashState>,
    signed: SignedIn,
    PathParams(compound): PathParams<String>,
    Params(params): Params<MapParams>,
) -> Result<Json<Map>, DashError> {
    let scope = signed.scope(&state, &compound).await?;
    let round: Option<DocumentId> = match params.round.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(text.parse().map_err(|e: BadId| {
            AppError::invalid(format!("round 参数不是轮次编号 / the round parameter is not a round ID: {e}"))
        })?),
    };
    let compound = snapshot::load(&state, &scope, Rounds::Open).await?;
    let built = blocking(move || -> Result<Map, AppError> {
        let doors = round.map(|id| open_round(&compound, id)).transpose()?;
        Ok(map(&compound, doors.as_ref()))
    })
    .await??;
    Ok(Json(built))
}

/// `GET /dashboard/api/legend`: the 参谋图's legend alone, so that the roster pages badge each
/// need tag with the map's own mark (one list, [`Legend`], for both).
pub async fn legend(_signed: SignedIn) -> Json<Legend> {
    Json(Legend::default())
}
