//! A household (one flat) in the roster.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::address::Address;
use super::control_status::ControlStatus;
use super::need_tag::NeedTag;
use crate::id::{BuildingId, HouseholdId};

/// The fields a coordinator fills in for a new household (also one row of an import).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HouseholdDraft {
    /// Where it is.
    pub address: Address,
    /// 户主.
    pub head: String,
    /// 联系电话.
    pub phone: String,
    /// 户内人数; `None` when the ledger left it blank (未填): unknown, never guessed.
    #[serde(default)]
    pub people: Option<u32>,
    /// 60岁以上人数.
    pub aged_60_plus: u32,
    /// 6岁以下儿童.
    pub children_under_6: u32,
    /// 重点人群.
    pub needs: BTreeSet<NeedTag>,
    /// 管控状态.
    pub status: ControlStatus,
    /// 有无电梯.
    pub lift: bool,
    /// 备注.
    pub notes: String,
}

/// A household as the roster holds it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Household {
    /// Stable ID.
    pub id: HouseholdId,
    /// The building it is in.
    pub building: BuildingId,
    /// Where it is.
    pub address: Address,
    /// 户主.
    pub head: String,
    /// 联系电话.
    pub phone: String,
    /// 户内人数; `None` when the ledger left it blank (未填): unknown, never guessed.
    #[serde(default)]
    pub people: Option<u32>,
    /// 60岁以上人数.
    pub aged_60_plus: u32,
    /// 6岁以下儿童.
    pub children_under_6: u32,
    /// 重点人群.
    pub needs: BTreeSet<NeedTag>,
    /// 管控状态 (the winner when coordinators set it concurrently).
    pub status: ControlStatus,
    /// 有无电梯.
    pub lift: bool,
    /// 备注, merged from every concurrent edit.
    pub notes: String,
}

/// A partial edit of a household's ledger fields; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HouseholdEdit {
    /// New head of household.
    pub head: Option<String>,
    /// New phone.
    pub phone: Option<String>,
    /// New number of people.
    pub people: Option<u32>,
    /// New number aged 60+.
    pub aged_60_plus: Option<u32>,
    /// New number of children under 6.
    pub children_under_6: Option<u32>,
    /// New lift flag.
    pub lift: Option<bool>,
}

/// A building of the compound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Building {
    /// Stable ID.
    pub id: BuildingId,
    /// The estate (小区) it belongs to.
    pub estate: String,
    /// Its number or name ("17").
    pub label: String,
    /// Whether it has a working lift.
    pub lift: bool,
}
