//! Listing and revoking a compound's members, and revoking a lost phone's tokens.

use doorstep_core::Role;
use doorstep_core::id::{CompoundId, PersonId};

use super::{AdminError, Principal, require_compound};
use crate::clock;
use crate::relay::Relay;
use crate::storage::{DeviceId, Member, MemberDevice};

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

/// The devices of a compound's members (revoked ones included), oldest first: what revoking one
/// lost phone names.
pub async fn member_devices(
    relay: &Relay,
    principal: &Principal,
    compound: CompoundId,
) -> Result<Vec<MemberDevice>, AdminError> {
    require_compound(relay, compound).await?;
    principal.require_running(compound, "list members' devices")?;
    Ok(relay.storage().member_devices(compound).await?)
}

/// Revokes a person's membership of a compound: their phone drops the compound's documents at its
/// next sync, and the relay refuses their messages for them. Coordinators may revoke volunteers
/// and medics; revoking a coordinator or an admin takes an admin. Nobody signed in removes
/// themselves (the last admin of a compound would leave it run by no one of its own), and only a
/// district admin ends a district admin's membership: a compound's admin who could would take
/// the compound off the phone of the one person who runs every compound. The relay's operator
/// (the command line) may do either.
pub async fn revoke_membership(
    relay: &Relay,
    principal: &Principal,
    person: PersonId,
    compound: CompoundId,
) -> Result<(), AdminError> {
    require_compound(relay, compound).await?;
    let own = principal.require_running(compound, "revoke a member")?;
    let operator = principal.device.is_none();
    if person == principal.person && !operator {
        return Err(AdminError::Forbidden(
            "不能移出自己，请另一位协调员或管理员操作 / you may not remove yourself; ask another coordinator or an admin".into(),
        ));
    }
    if !principal.district_admin && relay.storage().district_admins().await?.contains(&person) {
        return Err(AdminError::Forbidden(
            "只有区管理员可以移出区管理员 / only a district admin may remove a district admin from a compound".into(),
        ));
    }
    let target = relay
        .storage()
        .members(compound)
        .await?
        .into_iter()
        .find(|m| m.person == person && !m.revoked)
        .ok_or_else(|| {
            AdminError::NotFound(format!(
                "此人已不在本小区（已移除），请刷新页面 / this person is no longer a member of the compound (removed already); reload the page ({person})"
            ))
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
        return Err(AdminError::Forbidden(
            "只有区管理员可以注销此人的全部手机 / only a district admin may revoke a person's devices".into(),
        ));
    }
    let n = relay.storage().revoke_devices(person, clock::now()).await?;
    tracing::info!(%person, devices = n, "devices revoked");
    Ok(n)
}

/// Revokes one device token of a person (one lost phone of two: the other keeps its token and
/// its work not yet synced). District admins only, as [`revoke_devices`]: a token spans every
/// compound its person is in.
pub async fn revoke_device(
    relay: &Relay,
    principal: &Principal,
    person: PersonId,
    device: DeviceId,
) -> Result<(), AdminError> {
    if !principal.district_admin {
        return Err(AdminError::Forbidden(
            "只有区管理员可以这样注销手机 / only a district admin may revoke a person's device".into(),
        ));
    }
    if !relay.storage().revoke_device(person, device, clock::now()).await? {
        return Err(AdminError::NotFound(format!(
            "该手机已停用（或已不属于此人），请刷新页面 / that phone is revoked already (or is not this person's); reload the page ({person}, device {device})"
        )));
    }
    tracing::info!(%person, %device, by = %principal.person, "device revoked");
    Ok(())
}

/// Revokes one device of a member of `compound` from that compound's members page: a district
/// admin may revoke anyone's; a coordinator (or a compound admin) the phones of volunteers and
/// medics only. A coordinator's, an admin's or a district admin's phone takes a district admin:
/// its token works in every compound its person is in, so a compound's own admin could otherwise
/// lock the district admin out of all of them. So a coordinator whose volunteer lost a phone
/// ends its token at once, instead of only removing the volunteer from the compound, which
/// leaves the token alive. The token spans every compound its person is in: it is the phone that
/// is lost.
pub async fn revoke_member_device(
    relay: &Relay,
    principal: &Principal,
    compound: CompoundId,
    person: PersonId,
    device: DeviceId,
) -> Result<(), AdminError> {
    let own = principal.require_running(compound, "revoke a member's phone")?;
    let member = relay
        .storage()
        .members(compound)
        .await?
        .into_iter()
        .find(|m| m.person == person)
        .ok_or_else(|| AdminError::NotFound(format!("person {person} is no member of this compound")))?;
    if !principal.district_admin {
        let district_admin = relay.storage().district_admins().await?.contains(&person);
        if district_admin || member.role.is_coordinating() || !own.may_invite(member.role) {
            let whose = if district_admin { "district admin" } else { member.role.as_str() };
            return Err(AdminError::Forbidden(format!(
                "只有区管理员可以注销协调员、管理员的手机 / a {} may revoke the phones of volunteers and medics only; a {whose}'s phone takes a district admin",
                own.as_str(),
            )));
        }
    }
    if !relay.storage().revoke_device(person, device, clock::now()).await? {
        return Err(AdminError::NotFound(format!(
            "该手机已停用（或已不属于此人），请刷新页面 / that phone is revoked already (or is not this person's); reload the page ({person}, device {device})"
        )));
    }
    tracing::info!(%person, %device, %compound, by = %principal.person, "device revoked");
    Ok(())
}

/// Mints a new device token for a person who holds a live membership somewhere (a phone that
/// was reset, or a demo restarted after its first tokens scrolled away). District admins only;
/// the token is shown once and only its hash is stored.
pub async fn issue_token(
    relay: &Relay,
    principal: &Principal,
    person: PersonId,
    device_name: &str,
) -> Result<String, AdminError> {
    if !principal.district_admin {
        return Err(AdminError::Forbidden("只有区管理员可以为此人签发新手机令牌；协调员请停用丢失的手机后重新邀请 / only a district admin may issue a token for a person; a coordinator revokes the lost phone and invites them again".into()));
    }
    // A district admin runs every compound with or without a membership of one: the way back in
    // for one who lost their token, or removed every membership of their own, before an invite
    // (which makes a new person, never a district admin) could help.
    let district_admin = relay.storage().district_admins().await?.contains(&person);
    if !district_admin && relay.storage().memberships(person).await?.is_empty() {
        return Err(AdminError::NotFound(format!(
            "此人已不在任何小区，请重新邀请 / this person is no longer a member of any compound; invite them instead ({person})"
        )));
    }
    let device_name = super::checked_name("device_name", device_name)?;
    let token = crate::secret::new_token();
    relay
        .storage()
        .create_device(person, device_name, crate::secret::hash_token(&token), clock::now())
        .await?;
    tracing::info!(%person, by = %principal.person, "device token issued");
    Ok(token)
}
