//! Roles and the person acting. What each role may do is decided in
//! [`permission`](crate::permission).

use serde::{Deserialize, Serialize};

use crate::id::PersonId;

/// A person's role in one compound (DESIGN §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// District staff: creates compounds and appoints coordinators; may do what coordinators do.
    Admin,
    /// Runs a compound: keeps the ledger, plans rounds, triages requests.
    Coordinator,
    /// Area doctor: keeps the care ledger.
    Medic,
    /// Carries deliveries: claims tasks, records attempts, takes requests, edits notes.
    Volunteer,
}

impl Role {
    /// The stable wire name (`"coordinator"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Coordinator => "coordinator",
            Role::Medic => "medic",
            Role::Volunteer => "volunteer",
        }
    }

    /// Whether this role runs the compound (coordinator or admin).
    pub fn is_coordinating(self) -> bool {
        matches!(self, Role::Admin | Role::Coordinator)
    }

    /// Whether someone holding this role may invite people to the compound in role `invited`:
    /// coordinators invite volunteers and medics, inviting a coordinator or an admin takes an
    /// admin. Asked when the invite is made and again when it is redeemed, so the codes of
    /// someone removed (or no longer coordinating) join no one.
    pub fn may_invite(self, invited: Role) -> bool {
        self.is_coordinating() && (!invited.is_coordinating() || self == Role::Admin)
    }

    /// Whether this role may read the care ledger.
    pub fn reads_care(self) -> bool {
        matches!(self, Role::Admin | Role::Coordinator | Role::Medic)
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "admin" => Ok(Role::Admin),
            "coordinator" => Ok(Role::Coordinator),
            "medic" => Ok(Role::Medic),
            "volunteer" => Ok(Role::Volunteer),
            other => Err(format!("unknown role {other:?}; expected admin, coordinator, medic or volunteer")),
        }
    }
}

/// Who is making an operation, and in what role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The person.
    pub person: PersonId,
    /// Their role in the compound the operation touches.
    pub role: Role,
}
