//! Which households a new round covers.

use serde::{Deserialize, Serialize};

use crate::schema::address::{building_label, normalize_width};

use crate::id::HouseholdId;
use crate::schema::control_status::ControlStatus;
use crate::schema::household::Household;
use crate::schema::need_tag::NeedTag;

/// A choice of households, as a coordinator makes it when planning a round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Selection {
    /// Every household.
    All,
    /// One building.
    Building {
        /// Estate name ("" for single-estate compounds).
        estate: String,
        /// Building label.
        building: String,
    },
    /// Households with a control status.
    Status {
        /// The status.
        status: ControlStatus,
    },
    /// Households with a need tag.
    Need {
        /// The tag.
        need: NeedTag,
    },
    /// Named households.
    Households {
        /// The IDs.
        ids: Vec<HouseholdId>,
    },
}

impl Selection {
    /// Whether `household` is selected.
    pub fn matches(&self, household: &Household) -> bool {
        match self {
            Selection::All => true,
            Selection::Building { estate, building } => {
                // As addresses are compared (`DoorKey`): "1号楼" and "1\u{200b}" are building 1.
                building_label(&household.address.building) == building_label(building)
                    && (estate.is_empty()
                        || normalize_width(&household.address.estate) == normalize_width(estate))
            }
            Selection::Status { status } => household.status == *status,
            Selection::Need { need } => household.needs.contains(need),
            Selection::Households { ids } => ids.contains(&household.id),
        }
    }
}
