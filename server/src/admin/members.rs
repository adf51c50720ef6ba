//! Listing and revoking a compound's members, and revoking a lost phone's tokens.

use doorstep_core::Role;
use doorstep_core::id::{CompoundId, PersonId};

use super::{AdminError, Principal, require_compound};
use crate::clock;
use crate::relay::Relay;
use crate::storage::Member;

/// A compound's members, revoked ones included.
pub async fn members(
    relay: &Relay,
    principal: &Principal,
    compound: CompoundId,
) -> Result<Vec<Member>, AdminError> {
    require_compound(relay, compound).await?;
    principal.require_running(compound, "list members")?;
    Ok(relay.storage().members(compound).await?)
}

/// Revokes a person's membership of a compound: their phone drops the compound's documents at its
/// next sync, and the relay refuses their messages for them. Coordinators may revoke volunteers
/// and medics; revoking a coordinator or an admin takes an admin.
pub async fn revoke_membership(
    relay: &Relay,
    principal: &Principal,
    person: PersonId,
    compound: CompoundId,
) -> Result<(), AdminError> {
    require_compound(relay, compound).await?;
    let own = principal.require_running(compound, "revoke a member")?;
    let target = relay
        .storage()
        .members(compound)
        .await?
        .into_iter()
        .find(|m| m.person == person && !m.revoked)
        .ok_or_else(|| {
            AdminError::NotFound(format!("person {person} holds no live membership of compound {compound}"))
        })?;
    if target.role.is_coordinating() && own != Role::Admin {
        return Err(AdminError::Forbidden(format!(
            "a coordinator may not revoke a {}; ask an admin",
            target.role.as_str()
        )));
    }
    relay.storage().revoke_membership(person, compound, clock::now()).await?;
    tracing::info!(%person, %compound, by = %principal.person, "membership revoked");
    Ok(())
}

/// Revokes every device token of a person (a lost or stolen phone). District admins only.
pub async fn revoke_devices(
    relay: &Relay,
    principal: &Principal,
    person: PersonId,
) -> Result<usize, AdminError> {
    if !principal.district_admin {
        return Err(AdminError::Forbidden("only a district admin may revoke a person's devices".into()));
    }
    let n = relay.storage().revoke_devices(person, clock::now()).await?;
    tracing::info!(%person, devices = n, "devices revoked");
    Ok(n)
}
