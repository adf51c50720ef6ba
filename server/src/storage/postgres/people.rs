//! Persons, devices (token hashes), memberships, invites and actor bindings, in PostgreSQL.

use deadpool_postgres::GenericClient;
use doorstep_core::id::{CompoundId, PersonId};
use doorstep_core::{Role, Timestamp};

use super::{execute, parsed, query, query_opt};
use crate::devices_seen::Seen;
use crate::storage::sqlite::people::{JoinedBefore, require_maker_may_invite};
use crate::storage::{
    ActorBinding, DeviceId, InviteProblem, Joined, Member, MemberDevice, Membership, NewInvite, NewPerson,
    Redemption, SecretHash, Session, StorageError, TokenStatus, WipeHeard, Wiped,
};

pub(super) async fn create_person(
    db: &impl GenericClient,
    person: &NewPerson,
    at: Timestamp,
) -> Result<(), StorageError> {
    execute(
        db,
        "INSERT INTO persons (id, name, district_admin, created_at) VALUES ($1, $2, $3, $4)",
        &[&person.id.to_string(), &person.name, &person.district_admin, &at.as_millis()],
    )
    .await?;
    Ok(())
}

pub(super) async fn district_admins(db: &impl GenericClient) -> Result<Vec<PersonId>, StorageError> {
    let rows = query(db, "SELECT id FROM persons WHERE district_admin ORDER BY created_at, id", &[]).await?;
    rows.iter().map(|row| parsed(&row.try_get::<_, String>(0)?, "person id")).collect()
}

/// The advisory lock a store holds while it looks for the district admin and makes the first
/// ("admin" in ASCII): relays starting at once on one empty database take turns.
const FIRST_ADMIN_LOCK: i64 = 0x0061_646d_696e;

/// The oldest district admin, or `first` made one with its first device (see
/// [`Storage::first_district_admin`](crate::storage::Storage::first_district_admin)), inside the
/// caller's transaction, under [`FIRST_ADMIN_LOCK`].
pub(super) async fn first_district_admin(
    db: &impl GenericClient,
    first: &NewPerson,
    token_hash: SecretHash,
    at: Timestamp,
) -> Result<(PersonId, bool), StorageError> {
    execute(db, "SELECT pg_advisory_xact_lock($1)", &[&FIRST_ADMIN_LOCK]).await?;
    if let Some(admin) = district_admins(db).await?.first() {
        return Ok((*admin, false));
    }
    create_person(db, first, at).await?;
    create_device(db, first.id, "first start", token_hash, at).await?;
    Ok((first.id, true))
}

pub(super) async fn create_device(
    db: &impl GenericClient,
    person: PersonId,
    name: &str,
    token_hash: SecretHash,
    at: Timestamp,
) -> Result<DeviceId, StorageError> {
    let rows = query(
        db,
        "INSERT INTO devices (person, name, token_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        &[&person.to_string(), &name, &token_hash.0.as_slice(), &at.as_millis()],
    )
    .await?;
    let row = rows.first().ok_or_else(|| StorageError::Corrupt("a new device has no id".into()))?;
    Ok(DeviceId(row.try_get(0)?))
}

pub(super) async fn authenticate(
    db: &impl GenericClient,
    token_hash: SecretHash,
) -> Result<TokenStatus, StorageError> {
    let row = query_opt(
        db,
        "SELECT d.id, d.person, d.revoked_at, p.district_admin
         FROM devices d JOIN persons p ON p.id = d.person WHERE d.token_hash = $1",
        &[&token_hash.0.as_slice()],
    )
    .await?;
    let Some(row) = row else { return Ok(TokenStatus::Unknown) };
    if row.try_get::<_, Option<i64>>(2)?.is_some() {
        return Ok(TokenStatus::Revoked);
    }
    Ok(TokenStatus::Valid(Session {
        device: DeviceId(row.try_get(0)?),
        person: parsed(&row.try_get::<_, String>(1)?, "person id")?,
        district_admin: row.try_get(3)?,
    }))
}

pub(super) async fn revoke_devices(
    db: &impl GenericClient,
    person: PersonId,
    at: Timestamp,
) -> Result<usize, StorageError> {
    let n = execute(
        db,
        "UPDATE devices SET revoked_at = $2 WHERE person = $1 AND revoked_at IS NULL",
        &[&person.to_string(), &at.as_millis()],
    )
    .await?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

pub(super) async fn revoke_device(
    db: &impl GenericClient,
    person: PersonId,
    device: DeviceId,
    at: Timestamp,
) -> Result<bool, StorageError> {
    let n = execute(
        db,
        "UPDATE devices SET revoked_at = $3 WHERE id = $2 AND person = $1 AND revoked_at IS NULL",
        &[&person.to_string(), &device.0, &at.as_millis()],
    )
    .await?;
    Ok(n == 1)
}

pub(super) async fn record_wipe(
    db: &impl GenericClient,
    token_hash: SecretHash,
    wiped: Wiped,
) -> Result<WipeHeard, StorageError> {
    let row = query_opt(
        db,
        "SELECT id, person, revoked_at, wiped_at FROM devices WHERE token_hash = $1 FOR UPDATE",
        &[&token_hash.0.as_slice()],
    )
    .await?;
    let Some(row) = row else { return Ok(WipeHeard::Unknown) };
    let device: i64 = row.try_get(0)?;
    Ok(match (row.try_get::<_, Option<i64>>(2)?, row.try_get::<_, Option<i64>>(3)?) {
        (None, _) => WipeHeard::NotRevoked,
        (Some(_), Some(_)) => {
            // Another file holding the same token (a phone's data copied to a new one) wipes
            // too: the most work any of them lost stands, whichever spoke first.
            execute(
                db,
                "UPDATE devices SET wiped_unsent = GREATEST(COALESCE(wiped_unsent, 0), $2) WHERE id = $1",
                &[&device, &i64::from(wiped.unsent)],
            )
            .await?;
            WipeHeard::AlreadyHeard
        }
        (Some(_), None) => {
            execute(
                db,
                "UPDATE devices SET wiped_at = $2, wiped_unsent = $3 WHERE id = $1 AND wiped_at IS NULL",
                &[&device, &wiped.at.as_millis(), &i64::from(wiped.unsent)],
            )
            .await?;
            WipeHeard::Recorded {
                person: parsed(&row.try_get::<_, String>(1)?, "person id")?,
                device: DeviceId(device),
            }
        }
    })
}

pub(super) async fn memberships(
    db: &impl GenericClient,
    person: PersonId,
) -> Result<Vec<Membership>, StorageError> {
    let rows = query(
        db,
        "SELECT compound, role FROM memberships WHERE person = $1 AND revoked_at IS NULL ORDER BY compound",
        &[&person.to_string()],
    )
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Membership {
                compound: parsed(&row.try_get::<_, String>(0)?, "compound id")?,
                role: parsed(&row.try_get::<_, String>(1)?, "role")?,
            })
        })
        .collect()
}

pub(super) async fn members(
    db: &impl GenericClient,
    compound: CompoundId,
) -> Result<Vec<Member>, StorageError> {
    let rows = query(
        db,
        "SELECT m.person, p.name, m.role, m.revoked_at, m.created_at
         FROM memberships m JOIN persons p ON p.id = m.person
         WHERE m.compound = $1 ORDER BY m.created_at, m.person",
        &[&compound.to_string()],
    )
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Member {
                person: parsed(&row.try_get::<_, String>(0)?, "person id")?,
                name: row.try_get(1)?,
                role: parsed(&row.try_get::<_, String>(2)?, "role")?,
                revoked: row.try_get::<_, Option<i64>>(3)?.is_some(),
                revoked_at: row.try_get::<_, Option<i64>>(3)?.map(Timestamp::from_millis),
                joined_at: Timestamp::from_millis(row.try_get(4)?),
            })
        })
        .collect()
}

/// Notes when devices last asked to sync and how far off their clocks were, keeping a later
/// request stored already (by this relay or another on the database; the offset goes with its
/// time): one statement for a sweep's devices, each once (its latest request; a row may be
/// updated once per statement), in the order of their IDs (so two relays writing the same
/// devices take their rows' locks in the same order).
pub(super) async fn record_devices_seen(
    db: &impl GenericClient,
    seen: &[(DeviceId, Seen)],
) -> Result<(), StorageError> {
    let mut latest: std::collections::BTreeMap<i64, Seen> = std::collections::BTreeMap::new();
    for (device, seen) in seen {
        let last = latest.entry(device.0).or_insert(*seen);
        *last = (*last).max(*seen);
    }
    let mut devices = Vec::with_capacity(latest.len());
    let mut times = Vec::with_capacity(latest.len());
    let mut offsets = Vec::with_capacity(latest.len());
    for (device, seen) in latest {
        devices.push(device);
        times.push(seen.at.as_millis());
        offsets.push(seen.clock_off_by_ms);
    }
    execute(
        db,
        "INSERT INTO devices_seen (device, last_at, clock_off_by_ms)
         SELECT s.device, s.last_at, s.clock_off_by_ms
         FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::BIGINT[]) AS s(device, last_at, clock_off_by_ms)
         WHERE EXISTS (SELECT 1 FROM devices WHERE id = s.device)
         ON CONFLICT (device) DO UPDATE SET
           clock_off_by_ms = CASE WHEN excluded.last_at >= devices_seen.last_at
                                  THEN excluded.clock_off_by_ms ELSE devices_seen.clock_off_by_ms END,
           last_at = GREATEST(devices_seen.last_at, excluded.last_at)",
        &[&devices, &times, &offsets],
    )
    .await?;
    Ok(())
}

pub(super) async fn member_devices(
    db: &impl GenericClient,
    compound: CompoundId,
) -> Result<Vec<MemberDevice>, StorageError> {
    let rows = query(
        db,
        "SELECT d.person, d.name, d.created_at, d.revoked_at IS NOT NULL,
                GREATEST((SELECT MAX(s.updated_at) FROM sync_states s WHERE s.device = d.id), v.last_at),
                v.clock_off_by_ms, d.id, d.wiped_at, d.wiped_unsent
         FROM devices d JOIN memberships m ON m.person = d.person
         LEFT JOIN devices_seen v ON v.device = d.id
         WHERE m.compound = $1 ORDER BY d.created_at, d.id",
        &[&compound.to_string()],
    )
    .await?;
    rows.iter()
        .map(|row| {
            Ok(MemberDevice {
                device: DeviceId(row.try_get(6)?),
                person: parsed(&row.try_get::<_, String>(0)?, "person id")?,
                name: row.try_get(1)?,
                created_at: Timestamp::from_millis(row.try_get(2)?),
                revoked: row.try_get(3)?,
                last_seen: row.try_get::<_, Option<i64>>(4)?.map(Timestamp::from_millis),
                clock_off_by_ms: row.try_get(5)?,
                wiped: row.try_get::<_, Option<i64>>(7)?.map(|at| {
                    let unsent = row.try_get::<_, Option<i64>>(8).ok().flatten().unwrap_or_default();
                    Wiped {
                        at: Timestamp::from_millis(at),
                        unsent: u32::try_from(unsent).unwrap_or(u32::MAX),
                    }
                }),
            })
        })
        .collect()
}

pub(super) async fn set_membership(
    db: &impl GenericClient,
    person: PersonId,
    compound: CompoundId,
    role: Role,
    at: Timestamp,
) -> Result<(), StorageError> {
    execute(
        db,
        "INSERT INTO memberships (person, compound, role, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (person, compound) DO UPDATE SET role = excluded.role, revoked_at = NULL",
        &[&person.to_string(), &compound.to_string(), &role.as_str(), &at.as_millis()],
    )
    .await?;
    Ok(())
}

pub(super) async fn revoke_membership(
    db: &impl GenericClient,
    person: PersonId,
    compound: CompoundId,
    at: Timestamp,
) -> Result<bool, StorageError> {
    let n = execute(
        db,
        "UPDATE memberships SET revoked_at = $3 WHERE person = $1 AND compound = $2 AND revoked_at IS NULL",
        &[&person.to_string(), &compound.to_string(), &at.as_millis()],
    )
    .await?;
    Ok(n > 0)
}

pub(super) async fn create_invite(db: &impl GenericClient, invite: &NewInvite) -> Result<(), StorageError> {
    execute(
        db,
        "INSERT INTO invites (code_hash, compound, role, created_by, created_at, expires_at, created_with_device)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &invite.code_hash.0.as_slice(),
            &invite.compound.to_string(),
            &invite.role.as_str(),
            &invite.created_by.to_string(),
            &invite.created_at.as_millis(),
            &invite.expires_at.as_millis(),
            &invite.created_with.map(|device| device.0),
        ],
    )
    .await?;
    Ok(())
}

/// Redeems an invite inside the caller's transaction. The invite row is locked first
/// (`FOR UPDATE`), so two relays redeeming one code at once take turns and the second finds it
/// used.
pub(super) async fn redeem_invite(db: &impl GenericClient, r: &Redemption) -> Result<Joined, StorageError> {
    let row = query_opt(
        db,
        // The maker's live membership of the invite's compound, if any, and whether the device
        // it was made with has been revoked since.
        "SELECT i.compound, i.role, i.expires_at, i.used_at, p.district_admin, m.role,
                i.join_key_hash, i.used_device, i.used_by, d.revoked_at IS NOT NULL
         FROM invites i JOIN persons p ON p.id = i.created_by
         LEFT JOIN memberships m ON m.person = i.created_by AND m.compound = i.compound AND m.revoked_at IS NULL
         LEFT JOIN devices d ON d.id = i.created_with_device
         WHERE i.code_hash = $1 FOR UPDATE OF i",
        &[&r.code_hash.0.as_slice()],
    )
    .await?;
    let row = row.ok_or(InviteProblem::Unknown)?;
    let compound: CompoundId = parsed(&row.try_get::<_, String>(0)?, "compound id")?;
    let role: Role = parsed(&row.try_get::<_, String>(1)?, "role")?;
    if let Some(used_at) = row.try_get::<_, Option<i64>>(3)? {
        // Sent again with the key it was used with, soon after: the answer was lost.
        let key: Option<Vec<u8>> = row.try_get(6)?;
        let person: Option<String> = row.try_get(8)?;
        let again = JoinedBefore::read(r, used_at, key.as_deref(), row.try_get(7)?, person.as_deref())?;
        let member = query_opt(
            db,
            "SELECT 1 FROM memberships WHERE person = $1 AND compound = $2 AND revoked_at IS NULL",
            &[&again.person.to_string(), &compound.to_string()],
        )
        .await?;
        if member.is_none() {
            return Err(InviteProblem::JoinerRemoved.into());
        }
        let rotated = execute(
            db,
            "UPDATE devices SET token_hash = $2 WHERE id = $1 AND revoked_at IS NULL",
            &[&again.device.0, &r.token_hash.0.as_slice()],
        )
        .await?;
        if rotated != 1 {
            return Err(InviteProblem::Used.into());
        }
        return Ok(Joined { person: again.person, device: again.device, compound, role });
    }
    if row.try_get::<_, i64>(2)? <= r.at.as_millis() {
        return Err(InviteProblem::Expired.into());
    }
    if row.try_get::<_, bool>(9)? {
        return Err(InviteProblem::MadeOnARevokedDevice.into());
    }
    let maker_role: Option<Role> =
        row.try_get::<_, Option<String>>(5)?.map(|m| parsed(&m, "role")).transpose()?;
    require_maker_may_invite(row.try_get(4)?, maker_role, role)?;
    create_person(db, &r.person, r.at).await?;
    set_membership(db, r.person.id, compound, role, r.at).await?;
    let device = create_device(db, r.person.id, &r.device_name, r.token_hash, r.at).await?;
    execute(
        db,
        "UPDATE invites SET used_at = $2, used_by = $3, used_device = $4, join_key_hash = $5 WHERE code_hash = $1",
        &[
            &r.code_hash.0.as_slice(),
            &r.at.as_millis(),
            &r.person.id.to_string(),
            &device.0,
            &r.join_key.map(|k| k.0.to_vec()),
        ],
    )
    .await?;
    Ok(Joined { person: r.person.id, device, compound, role })
}

pub(super) async fn actor_owner(
    db: &impl GenericClient,
    actor: &str,
) -> Result<Option<PersonId>, StorageError> {
    let row = query_opt(db, "SELECT person FROM actor_bindings WHERE actor = $1", &[&actor]).await?;
    row.map(|row| parsed(&row.try_get::<_, String>(0)?, "person id")).transpose()
}

/// Binds the actor unless it is bound already; fails if it is bound to someone else. If another
/// relay is binding the same actor in a transaction not yet committed, the insert waits for it,
/// so the owner read afterwards is the one that won.
pub(super) async fn bind_actor(
    db: &impl GenericClient,
    binding: &ActorBinding,
    at: Timestamp,
) -> Result<(), StorageError> {
    execute(
        db,
        "INSERT INTO actor_bindings (actor, person, bound_at) VALUES ($1, $2, $3) ON CONFLICT (actor) DO NOTHING",
        &[&binding.actor, &binding.person.to_string(), &at.as_millis()],
    )
    .await?;
    match actor_owner(db, &binding.actor).await? {
        Some(owner) if owner == binding.person => Ok(()),
        Some(owner) => Err(StorageError::ActorTaken { actor: binding.actor.clone(), owner }),
        None => Err(StorageError::Corrupt(format!("actor {} vanished after binding", binding.actor))),
    }
}
