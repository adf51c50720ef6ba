//! Persons, devices (token hashes), memberships, invites and actor bindings, in SQLite.

use doorstep_core::id::{CompoundId, PersonId};
use doorstep_core::{Role, Timestamp};
use rusqlite::{Connection, OptionalExtension, params};

use super::parsed;
use crate::devices_seen::Seen;
use crate::storage::{
    ActorBinding, DeviceId, InviteProblem, JOIN_RETRY_MS, Joined, Member, MemberDevice, Membership,
    NewInvite, NewPerson, Redemption, SecretHash, Session, StorageError, TokenStatus, WipeHeard, Wiped,
};

pub(super) fn create_person(
    conn: &Connection,
    person: &NewPerson,
    at: Timestamp,
) -> Result<(), StorageError> {
    conn.execute(
        "INSERT INTO persons (id, name, district_admin, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![person.id.to_string(), person.name, person.district_admin, at.as_millis()],
    )?;
    Ok(())
}

pub(super) fn district_admins(conn: &Connection) -> Result<Vec<PersonId>, StorageError> {
    let mut stmt =
        conn.prepare_cached("SELECT id FROM persons WHERE district_admin = 1 ORDER BY created_at, id")?;
    let ids: Vec<String> = stmt.query_map([], |row| row.get(0))?.collect::<Result<_, _>>()?;
    ids.iter().map(|id| parsed(id, "person id")).collect()
}

/// The oldest district admin, or `first` made one with its first device (see
/// [`Storage::first_district_admin`](crate::storage::Storage::first_district_admin)); in the
/// caller's write transaction, which one writer at a time holds.
pub(super) fn first_district_admin(
    conn: &Connection,
    first: &NewPerson,
    token_hash: SecretHash,
    at: Timestamp,
) -> Result<(PersonId, bool), StorageError> {
    if let Some(admin) = district_admins(conn)?.first() {
        return Ok((*admin, false));
    }
    create_person(conn, first, at)?;
    create_device(conn, first.id, "first start", token_hash, at)?;
    Ok((first.id, true))
}

pub(super) fn create_device(
    conn: &Connection,
    person: PersonId,
    name: &str,
    token_hash: SecretHash,
    at: Timestamp,
) -> Result<DeviceId, StorageError> {
    conn.execute(
        "INSERT INTO devices (person, name, token_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![person.to_string(), name, token_hash.0, at.as_millis()],
    )?;
    Ok(DeviceId(conn.last_insert_rowid()))
}

pub(super) fn authenticate(conn: &Connection, token_hash: SecretHash) -> Result<TokenStatus, StorageError> {
    let row: Option<(i64, String, Option<i64>, bool)> = conn
        .prepare_cached(
            "SELECT d.id, d.person, d.revoked_at, p.district_admin
             FROM devices d JOIN persons p ON p.id = d.person WHERE d.token_hash = ?1",
        )?
        .query_row([token_hash.0], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))
        .optional()?;
    Ok(match row {
        None => TokenStatus::Unknown,
        Some((_, _, Some(_), _)) => TokenStatus::Revoked,
        Some((device, person, None, district_admin)) => TokenStatus::Valid(Session {
            device: DeviceId(device),
            person: parsed(&person, "person id")?,
            district_admin,
        }),
    })
}

pub(super) fn revoke_devices(
    conn: &Connection,
    person: PersonId,
    at: Timestamp,
) -> Result<usize, StorageError> {
    Ok(conn.execute(
        "UPDATE devices SET revoked_at = ?2 WHERE person = ?1 AND revoked_at IS NULL",
        params![person.to_string(), at.as_millis()],
    )?)
}

pub(super) fn revoke_device(
    conn: &Connection,
    person: PersonId,
    device: DeviceId,
    at: Timestamp,
) -> Result<bool, StorageError> {
    Ok(conn.execute(
        "UPDATE devices SET revoked_at = ?3 WHERE id = ?2 AND person = ?1 AND revoked_at IS NULL",
        params![person.to_string(), device.0, at.as_millis()],
    )? == 1)
}

pub(super) fn record_wipe(
    conn: &Connection,
    token_hash: SecretHash,
    wiped: Wiped,
) -> Result<WipeHeard, StorageError> {
    let row: Option<(i64, String, Option<i64>, Option<i64>)> = conn
        .prepare_cached("SELECT id, person, revoked_at, wiped_at FROM devices WHERE token_hash = ?1")?
        .query_row([token_hash.0], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))
        .optional()?;
    Ok(match row {
        None => WipeHeard::Unknown,
        Some((_, _, None, _)) => WipeHeard::NotRevoked,
        Some((device, _, Some(_), Some(_))) => {
            // Another file holding the same token (a phone's data copied to a new one) wipes
            // too: the most work any of them lost stands, whichever spoke first.
            conn.execute(
                "UPDATE devices SET wiped_unsent = MAX(COALESCE(wiped_unsent, 0), ?2) WHERE id = ?1",
                params![device, wiped.unsent],
            )?;
            WipeHeard::AlreadyHeard
        }
        Some((device, person, Some(_), None)) => {
            conn.execute(
                "UPDATE devices SET wiped_at = ?2, wiped_unsent = ?3 WHERE id = ?1 AND wiped_at IS NULL",
                params![device, wiped.at.as_millis(), wiped.unsent],
            )?;
            WipeHeard::Recorded { person: parsed(&person, "person id")?, device: DeviceId(device) }
        }
    })
}

pub(super) fn memberships(conn: &Connection, person: PersonId) -> Result<Vec<Membership>, StorageError> {
    let mut stmt = conn.prepare_cached(
        "SELECT compound, role FROM memberships WHERE person = ?1 AND revoked_at IS NULL ORDER BY compound",
    )?;
    let rows: Vec<(String, String)> = stmt
        .query_map([person.to_string()], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    rows.iter()
        .map(|(compound, role)| {
            Ok(Membership { compound: parsed(compound, "compound id")?, role: parsed(role, "role")? })
        })
        .collect()
}

pub(super) fn members(conn: &Connection, compound: CompoundId) -> Result<Vec<Member>, StorageError> {
    let mut stmt = conn.prepare_cached(
        "SELECT m.person, p.name, m.role, m.revoked_at, m.created_at
         FROM memberships m JOIN persons p ON p.id = m.person
         WHERE m.compound = ?1 ORDER BY m.created_at, m.person",
    )?;
    let rows: Vec<(String, String, String, Option<i64>, i64)> = stmt
        .query_map([compound.to_string()], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?))
        })?
        .collect::<Result<_, _>>()?;
    rows.into_iter()
        .map(|(person, name, role, revoked_at, joined_at)| {
            Ok(Member {
                person: parsed(&person, "person id")?,
                name,
                role: parsed(&role, "role")?,
                revoked: revoked_at.is_some(),
                revoked_at: revoked_at.map(Timestamp::from_millis),
                joined_at: Timestamp::from_millis(joined_at),
            })
        })
        .collect()
}

/// Notes when devices last asked to sync and how far off their clocks were, keeping a later
/// request stored already (the offset goes with its time).
pub(super) fn record_devices_seen(conn: &Connection, seen: &[(DeviceId, Seen)]) -> Result<(), StorageError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO devices_seen (device, last_at, clock_off_by_ms)
         SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM devices WHERE id = ?1)
         ON CONFLICT (device) DO UPDATE SET
           clock_off_by_ms = CASE WHEN excluded.last_at >= last_at THEN excluded.clock_off_by_ms ELSE clock_off_by_ms END,
           last_at = MAX(last_at, excluded.last_at)",
    )?;
    for (device, seen) in seen {
        stmt.execute(rusqlite::params![device.0, seen.at.as_millis(), seen.clock_off_by_ms])?;
    }
    Ok(())
}

/// A member device's row: person, name, created, revoked, last seen, clock off by, device.
type DeviceRow = (String, String, i64, bool, Option<i64>, Option<i64>, i64, Option<i64>, Option<u32>);

pub(super) fn member_devices(
    conn: &Connection,
    compound: CompoundId,
) -> Result<Vec<MemberDevice>, StorageError> {
    let mut stmt = conn.prepare_cached(
        "SELECT d.person, d.name, d.created_at, d.revoked_at IS NOT NULL,
                NULLIF(MAX(COALESCE((SELECT MAX(s.updated_at) FROM sync_states s WHERE s.device = d.id), 0),
                           COALESCE(v.last_at, 0)), 0),
                v.clock_off_by_ms, d.id, d.wiped_at, d.wiped_unsent
         FROM devices d JOIN memberships m ON m.person = d.person
         LEFT JOIN devices_seen v ON v.device = d.id
         WHERE m.compound = ?1 ORDER BY d.created_at, d.id",
    )?;
    let rows: Vec<DeviceRow> =
        stmt.query_map([compound.to_string()], |row| DeviceRow::try_from(row))?.collect::<Result<_, _>>()?;
    rows.into_iter()
        .map(|(person, name, created_at, revoked, last_seen, clock_off_by_ms, device, wiped_at, unsent)| {
            Ok(MemberDevice {
                device: DeviceId(device),
                person: parsed(&person, "person id")?,
                name,
                created_at: Timestamp::from_millis(created_at),
                revoked,
                last_seen: last_seen.map(Timestamp::from_millis),
                clock_off_by_ms,
                wiped: wiped_at
                    .map(|at| Wiped { at: Timestamp::from_millis(at), unsent: unsent.unwrap_or_default() }),
            })
        })
        .collect()
}

pub(super) fn set_membership(
    conn: &Connection,
    person: PersonId,
    compound: CompoundId,
    role: Role,
    at: Timestamp,
) -> Result<(), StorageError> {
    conn.execute(
        "INSERT INTO memberships (person, compound, role, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (person, compound) DO UPDATE SET role = excluded.role, revoked_at = NULL",
        params![person.to_string(), compound.to_string(), role.as_str(), at.as_millis()],
    )?;
    Ok(())
}

pub(super) fn revoke_membership(
    conn: &Connection,
    person: PersonId,
    compound: CompoundId,
    at: Timestamp,
) -> Result<bool, StorageError> {
    let n = conn.execute(
        "UPDATE memberships SET revoked_at = ?3 WHERE person = ?1 AND compound = ?2 AND revoked_at IS NULL",
        params![person.to_string(), compound.to_string(), at.as_millis()],
    )?;
    Ok(n > 0)
}

pub(super) fn create_invite(conn: &Connection, invite: &NewInvite) -> Result<(), StorageError> {
    conn.execute(
        "INSERT INTO invites (code_hash, compound, role, created_by, created_at, expires_at, created_with_device)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            invite.code_hash.0,
            invite.compound.to_string(),
            invite.role.as_str(),
            invite.created_by.to_string(),
            invite.created_at.as_millis(),
            invite.expires_at.as_millis(),
            invite.created_with.map(|device| device.0)
        ],
    )?;
    Ok(())
}

/// The person and device a used invite made, for a join sent again with the key it was used
/// with, within [`JOIN_RETRY_MS`] of its use; [`InviteProblem::Used`] for any other.
pub(crate) struct JoinedBefore {
    pub person: PersonId,
    pub device: DeviceId,
}

impl JoinedBefore {
    pub(crate) fn read(
        r: &Redemption,
        used_at: i64,
        key: Option<&[u8]>,
        device: Option<i64>,
        person: Option<&str>,
    ) -> Result<Self, StorageError> {
        let same_key = r.join_key.is_some_and(|sent| key == Some(sent.0.as_slice()));
        let soon = r.at.as_millis().saturating_sub(used_at) <= JOIN_RETRY_MS;
        match (same_key && soon, device, person) {
            (true, Some(device), Some(person)) => {
                Ok(Self { person: parsed(person, "person id")?, device: DeviceId(device) })
            }
            _ => Err(InviteProblem::Used.into()),
        }
    }
}

/// Fails unless the invite's maker may still invite people in `role` to its compound: a district
/// admin, or in the role they hold there now (`maker_role`, `None` once removed).
pub(crate) fn require_maker_may_invite(
    maker_runs_the_district: bool,
    maker_role: Option<Role>,
    role: Role,
) -> Result<(), InviteProblem> {
    let maker = if maker_runs_the_district { Some(Role::Admin) } else { maker_role };
    if maker.is_some_and(|maker| maker.may_invite(role)) {
        Ok(())
    } else {
        Err(InviteProblem::MakerMayNoLongerInvite)
    }
}

pub(super) fn redeem_invite(conn: &Connection, r: &Redemption) -> Result<Joined, StorageError> {
    type InviteRow = (
        String,
        String,
        i64,
        Option<i64>,
        bool,
        Option<String>,
        Option<Vec<u8>>,
        Option<i64>,
        Option<String>,
        bool,
    );
    let invite: Option<InviteRow> = conn
        .query_row(
            // The maker's live membership of the invite's compound, if any, and whether the
            // device it was made with has been revoked since.
            "SELECT i.compound, i.role, i.expires_at, i.used_at, p.district_admin, m.role,
                    i.join_key_hash, i.used_device, i.used_by, d.revoked_at IS NOT NULL
             FROM invites i JOIN persons p ON p.id = i.created_by
             LEFT JOIN memberships m ON m.person = i.created_by AND m.compound = i.compound AND m.revoked_at IS NULL
             LEFT JOIN devices d ON d.id = i.created_with_device
             WHERE i.code_hash = ?1",
            [r.code_hash.0],
            |row| InviteRow::try_from(row),
        )
        .optional()?;
    let (
        compound,
        role,
        expires_at,
        used_at,
        maker_runs_the_district,
        maker_role,
        key,
        used_device,
        used_by,
        made_on_a_revoked_device,
    ) = invite.ok_or(InviteProblem::Unknown)?;
    let compound: CompoundId = parsed(&compound, "compound id")?;
    let role: Role = parsed(&role, "role")?;
    if let Some(used_at) = used_at {
        // Sent again with the key it was used with, soon after: the answer was lost.
        let again = JoinedBefore::read(r, used_at, key.as_deref(), used_device, used_by.as_deref())?;
        let still_a_member: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM memberships WHERE person = ?1 AND compound = ?2 AND revoked_at IS NULL)",
            params![again.person.to_string(), compound.to_string()],
            |row| row.get(0),
        )?;
        if !still_a_member {
            return Err(InviteProblem::JoinerRemoved.into());
        }
        let rotated = conn.execute(
            "UPDATE devices SET token_hash = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            params![again.device.0, r.token_hash.0],
        )?;
        if rotated != 1 {
            return Err(InviteProblem::Used.into());
        }
        return Ok(Joined { person: again.person, device: again.device, compound, role });
    }
    if expires_at <= r.at.as_millis() {
        return Err(InviteProblem::Expired.into());
    }
    if made_on_a_revoked_device {
        return Err(InviteProblem::MadeOnARevokedDevice.into());
    }
    let maker_role: Option<Role> = maker_role.map(|m| parsed(&m, "role")).transpose()?;
    require_maker_may_invite(maker_runs_the_district, maker_role, role)?;
    create_person(conn, &r.person, r.at)?;
    set_membership(conn, r.person.id, compound, role, r.at)?;
    let device = create_device(conn, r.person.id, &r.device_name, r.token_hash, r.at)?;
    let marked = conn.execute(
        "UPDATE invites SET used_at = ?2, used_by = ?3, used_device = ?4, join_key_hash = ?5
         WHERE code_hash = ?1 AND used_at IS NULL",
        params![
            r.code_hash.0,
            r.at.as_millis(),
            r.person.id.to_string(),
            device.0,
            r.join_key.map(|k| k.0.to_vec())
        ],
    )?;
    if marked != 1 {
        return Err(InviteProblem::Used.into());
    }
    Ok(Joined { person: r.person.id, device, compound, role })
}

pub(super) fn actor_owner(conn: &Connection, actor: &str) -> Result<Option<PersonId>, StorageError> {
    let owner: Option<String> = conn
        .prepare_cached("SELECT person FROM actor_bindings WHERE actor = ?1")?
        .query_row([actor], |row| row.get(0))
        .optional()?;
    owner.map(|p| parsed(&p, "person id")).transpose()
}

/// Binds the actor unless it is bound already; fails if it is bound to someone else.
pub(super) fn bind_actor(
    conn: &Connection,
    binding: &ActorBinding,
    at: Timestamp,
) -> Result<(), StorageError> {
    conn.execute(
        "INSERT INTO actor_bindings (actor, person, bound_at) VALUES (?1, ?2, ?3) ON CONFLICT (actor) DO NOTHING",
        params![binding.actor, binding.person.to_string(), at.as_millis()],
    )?;
    match actor_owner(conn, &binding.actor)? {
        Some(owner) if owner == binding.person => Ok(()),
        Some(owner) => Err(StorageError::ActorTaken { actor: binding.actor.clone(), owner }),
        None => Err(StorageError::Corrupt(format!("actor {} vanished after binding", binding.actor))),
    }
}
