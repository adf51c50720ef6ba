//! What coordinators and admins do to a compound beyond syncing: create it, import its roster,
//! invite people, revoke them, export the roster. The HTTP API and the `doorstep admin` command
//! line both call these, as a [`Principal`]: the command line as the district admin, the HTTP
//! API as the caller behind the token.

mod compound;
mod error;
mod invite;
mod members;
mod names;
mod roster;

use doorstep_core::Role;
use doorstep_core::id::{CompoundId, PersonId};

pub use compound::create_compound;
pub use error::AdminError;
pub use invite::{Invite, JoinRequest, Joined, create_invite, join};
pub use members::{
    issue_token, member_devices, members, revoke_device, revoke_devices, revoke_member_device,
    revoke_membership,
};
pub use names::{MAX_NAME, checked_name, holds_stray_control, without_controls};
pub use roster::{ImportReport, RowProblem, UNHURRIED_READ, export_roster, import_roster};

use crate::relay::Relay;
use crate::storage::{DeviceId, Membership, Session};

/// Who is asking, and what they hold.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The person.
    pub person: PersonId,
    /// Whether they are a district admin (creates compounds, runs every compound).
    pub district_admin: bool,
    /// Their live memberships.
    pub memberships: Vec<Membership>,
    /// The device whose token they presented (`None` for the command line): what they make with
    /// it, an invite, ends if that device is revoked.
    pub device: Option<DeviceId>,
}

impl Principal {
    /// Loads the memberships of the person signed in as `session`.
    pub async fn load(relay: &Relay, session: &Session) -> Result<Self, AdminError> {
        let memberships = relay.storage().memberships(session.person).await?;
        Ok(Self {
            person: session.person,
            district_admin: session.district_admin,
            memberships,
            device: Some(session.device),
        })
    }

    /// The relay's own district admin, as the command line acts.
    pub fn relay_admin(relay: &Relay) -> Self {
        Self { person: relay.admin(), district_admin: true, memberships: Vec::new(), device: None }
    }

    /// Their role in a compound; a district admin is an admin everywhere.
    pub fn role_in(&self, compound: CompoundId) -> Option<Role> {
        if self.district_admin {
            return Some(Role::Admin);
        }
        self.memberships.iter().find(|m| m.compound == compound).map(|m| m.role)
    }

    /// Fails unless they run `compound` (coordinator or admin).
    pub fn require_running(&self, compound: CompoundId, action: &str) -> Result<Role, AdminError> {
        match self.role_in(compound) {
            Some(role) if role.is_coordinating() => Ok(role),
            Some(role) => Err(AdminError::Forbidden(format!(
                "a {} may not {action}; ask a coordinator of compound {compound}",
                role.as_str()
            ))),
            None => Err(AdminError::Forbidden(format!(
                "you are not a member of compound {compound}, so you may not {action}"
            ))),
        }
    }
}

/// Fails unless the compound exists.
async fn require_compound(
    relay: &Relay,
    compound: CompoundId,
) -> Result<crate::storage::CompoundRecord, AdminError> {
    relay
        .storage()
        .compound(compound)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no compound {compound}")))
}
