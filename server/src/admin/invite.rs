//! Invites: a coordinator makes a single-use code; a new phone redeems it for a device token.

use std::time::Duration;

use doorstep_core::id::{CompoundId, PersonId};
use doorstep_core::{Role, Timestamp};
use serde::{Deserialize, Serialize};

use super::{AdminError, Principal, checked_name, require_compound};
use crate::clock;
use crate::relay::Relay;
use crate::secret;
use crate::storage::{NewInvite, NewPerson, Redemption};

/// A new invite; the code is shown once and stored only as a hash.
#[derive(Debug, Clone, Serialize)]
pub struct Invite {
    /// The code to hand to the new member.
    pub code: String,
    /// The compound it joins.
    pub compound: CompoundId,
    /// The role it grants.
    pub role: Role,
    /// Until when it can be used (Unix milliseconds).
    pub expires_at: Timestamp,
}

/// Makes an invite. Coordinators invite volunteers and medics; inviting a coordinator or an admin
/// takes an admin.
pub async fn create_invite(
    relay: &Relay,
    principal: &Principal,
    compound: CompoundId,
    role: Role,
    lifetime: Duration,
) -> Result<Invite, AdminError> {
    require_compound(relay, compound).await?;
    let own = principal.require_running(compound, "invite people")?;
    if !own.may_invite(role) {
        let role = role.as_str();
        let article = if role.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
        let zh = if role == "admin" { "管理员" } else { "协调员" };
        return Err(AdminError::Forbidden(format!(
            "协调员不能邀请{zh}，请找管理员 / a coordinator may not invite {article} {role}; ask an admin"
        )));
    }
    let code = secret::new_invite_code();
    let now = clock::now();
    let millis = i64::try_from(lifetime.as_millis()).unwrap_or(i64::MAX);
    let expires_at = Timestamp::from_millis(now.as_millis().saturating_add(millis));
    relay
        .storage()
        .create_invite(NewInvite {
            code_hash: secret::hash_invite_code(&code),
            compound,
            role,
            created_by: principal.person,
            created_with: principal.device,
            created_at: now,
            expires_at,
        })
        .await?;
    tracing::info!(%compound, role = role.as_str(), by = %principal.person, "invite created");
    Ok(Invite { code, compound, role, expires_at })
}

/// `POST /v1/join`'s body.
#[derive(Debug, Clone, Deserialize)]
pub struct JoinRequest {
    /// The invite code, as typed.
    pub invite_code: String,
    /// A name for the device ("张伟's phone").
    pub device_name: String,
    /// The person's name; the device name if absent.
    #[serde(default)]
    pub name: Option<String>,
    /// A secret the phone made for this join and keeps until it has its answer: a join sent
    /// again with it, after the relay took the first but its answer was lost on the link, gets
    /// the same person and device with a new token (the first one's, never seen, stops working)
    /// rather than "used already".
    #[serde(default)]
    pub join_key: Option<String>,
}

/// The longest join key taken (the phone's are 32 hex characters).
const JOIN_KEY_CHARS: usize = 128;

/// What joining gives the new device.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Joined {
    /// The device token: keep it, it is shown once.
    pub token: String,
    /// The new person.
    pub person: PersonId,
    /// The compound joined.
    pub compound: CompoundId,
    /// The role held there.
    pub role: Role,
}

/// Redeems an invite: a new person with the invite's role, and a device token for them.
pub async fn join(relay: &Relay, request: JoinRequest) -> Result<Joined, AdminError> {
    let device_name = checked_name("device_name", &request.device_name)?;
    let name = match &request.name {
        Some(name) => checked_name("name", name)?,
        None => device_name.clone(),
    };
    let join_key = match request.join_key.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(key) if key.len() > JOIN_KEY_CHARS || !key.bytes().all(|b| b.is_ascii_graphic()) => {
            return Err(AdminError::Invalid(format!(
                "join_key must be at most {JOIN_KEY_CHARS} printable ASCII characters"
            )));
        }
        Some(key) => Some(secret::hash_token(key)),
    };
    let token = secret::new_token();
    let person = clock::with_env(PersonId::generate);
    let joined = relay
        .storage()
        .redeem_invite(Redemption {
            code_hash: secret::hash_invite_code(&request.invite_code),
            person: NewPerson { id: person, name, district_admin: false },
            device_name,
            token_hash: secret::hash_token(&token),
            join_key,
            at: clock::now(),
        })
        .await?;
    tracing::info!(person = %joined.person, compound = %joined.compound, role = joined.role.as_str(), "joined");
    Ok(Joined { token, person: joined.person, compound: joined.compound, role: joined.role })
}
