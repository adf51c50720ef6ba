//! A phone that leaves a compound gives nothing of it away (DESIGN §9), its set-aside work
//! included once the relay holds it.
//!
//! Work set aside in a compound the phone no longer holds (a membership revoked, its last
//! documents withdrawn) stays on the phone only until the relay's review inbox has received it:
//! a coordinator needs it, the phone does not. From then on the phone keeps the item's hash,
//! where it stands and who decided it (by person ID), so a volunteer invited back hears the
//! outcome; its bytes, the operation behind it (a resident's words, a door), its reason and a
//! coordinator's name and note go, and the file is scrubbed. Items the relay has not received,
//! or would not take, keep everything: they still have to reach a coordinator.
//!
//! Each item remembers its compound (schema version 4). Items set aside before that do not: they
//! are let go of only when the phone holds no compound at all.

use std::collections::HashSet;

use doorstep_core::Timestamp;
use doorstep_core::id::CompoundId;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::error::ReplicaError;
use crate::replica::{PEOPLE_NAMES, Replica};
use crate::review::{self, KeptOutcome, ReviewState};
use crate::store::{Codec, Write, bytes_at};

/// The columns added by schema version 4 of the replica's file.
pub(crate) const SCHEMA: &str = "
ALTER TABLE quarantine ADD COLUMN compound TEXT;
ALTER TABLE quarantine ADD COLUMN let_go_at INTEGER;
";

/// The reason a let-go item shows instead of the relay's.
pub const LET_GO: &str = "this phone left the compound, so it no longer keeps what this said; the coordinators' review inbox has it / 本机已离开该小区，不再保留此记录的内容；协调员的审核箱里有这条记录";

/// The reason a let-go item the relay held all along (synced after all: the answer to the sync
/// that took it was cut off) shows instead: no coordinator has it to review, and none needs to.
pub const LET_GO_SYNCED: &str = "this phone left the compound, so it no longer keeps what this said; the relay had it already, so there is nothing for a coordinator to review / 本机已离开该小区，不再保留此记录的内容；中继早已收到这条记录，无需协调员处理";

/// Whether `reason` is one a let-go item shows ([`LET_GO`], [`LET_GO_SYNCED`]).
pub fn is_let_go(reason: &str) -> bool {
    reason == LET_GO || reason == LET_GO_SYNCED
}

/// Items the relay has received and the phone still keeps whole, with their compound (`None`
/// for an item set aside before schema version 4) and whether the relay held it all along.
pub(crate) fn received_and_kept(
    conn: &Connection,
) -> Result<Vec<(String, Option<String>, bool)>, ReplicaError> {
    let mut stmt = conn.prepare_cached(
        "SELECT q.hash, q.compound, r.state = 'synced' FROM quarantine q JOIN set_aside_reviews r ON r.hash = q.hash
         WHERE q.let_go_at IS NULL AND r.state IN ('under_review', 'applied', 'dismissed', 'synced')",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The items already let go of.
pub(crate) fn let_go_hashes(conn: &Connection) -> Result<HashSet<String>, ReplicaError> {
    let mut stmt = conn.prepare_cached("SELECT hash FROM quarantine WHERE let_go_at IS NOT NULL")?;
    let rows = stmt.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// An outcome as a let-go item keeps it: who decided it (person ID) and when, no name or note.
pub(crate) fn stripped(outcome: &KeptOutcome) -> KeptOutcome {
    KeptOutcome { by: outcome.by.clone(), at: outcome.at, by_name: None, note: None }
}

/// Lets go of item `hash`: `bytes` and `reason` (already sealed when the file is) replace its
/// own, its operation goes, and its outcome is stripped.
pub(crate) fn record(
    tx: &Transaction<'_>,
    codec: &Codec,
    hash: &str,
    bytes: Vec<u8>,
    reason: rusqlite::types::Value,
    at: i64,
) -> Result<(), ReplicaError> {
    tx.prepare_cached("UPDATE quarantine SET bytes = ?2, reason = ?3, let_go_at = ?4 WHERE hash = ?1")?
        .execute(params![hash, bytes, reason, at])?;
    tx.prepare_cached("DELETE FROM set_aside_operations WHERE hash = ?1")?.execute([hash])?;
    let review: Option<(String, Option<Vec<u8>>)> = tx
        .prepare_cached("SELECT state, outcome FROM set_aside_reviews WHERE hash = ?1")?
        .query_row([hash], |r| {
            let outcome = match r.get_ref(1)? {
                rusqlite::types::ValueRef::Null => None,
                _ => Some(bytes_at(r, 1)?),
            };
            Ok((r.get(0)?, outcome))
        })
        .optional()?;
    if let Some((state, Some(outcome))) = review {
        let json = codec.text(&review::outcome_context(hash), outcome)?;
        let kept: KeptOutcome = serde_json::from_str(&json).unwrap_or_default();
        review::record(tx, codec, hash, ReviewState::from_str_lossy(&state), Some(&stripped(&kept)))?;
    }
    Ok(())
}

impl Replica {
    /// Lets go of the set-aside work of compounds this phone no longer holds that the relay has
    /// received, and of other people's names once it holds no compound, then scrubs the file so
    /// none of it stays in free pages or the WAL. Returns how many items it let go of. The
    /// review exchange calls it after every answer (`http::exchange_set_aside`); a transport of
    /// its own calls it the same way.
    pub fn let_go_of_left_compounds(&mut self, now: Timestamp) -> Result<usize, ReplicaError> {
        let held: HashSet<CompoundId> = self.compounds.keys().copied().collect();
        let holds_none = held.is_empty();
        let leaving: Vec<(String, bool)> = self
            .store()
            .received_and_kept()?
            .into_iter()
            .filter(|(_, compound, _)| match compound.as_deref().map(str::parse::<CompoundId>) {
                Some(Ok(compound)) => !held.contains(&compound),
                _ => holds_none,
            })
            .map(|(hash, _, synced)| (hash, synced))
            .collect();
        let names_left = holds_none && self.store().meta(PEOPLE_NAMES)?.is_some();
        if leaving.is_empty() && !names_left {
            return Ok(0);
        }
        // Work the relay held all along is in no coordinator's inbox: the reason says so.
        let mut writes: Vec<Write<'_>> = leaving
            .iter()
            .map(|(hash, synced)| Write::LetGo {
                hash,
                reason: if *synced { LET_GO_SYNCED } else { LET_GO },
                at: now.as_millis(),
            })
            .collect();
        if names_left {
            writes.push(Write::DeleteMeta { key: PEOPLE_NAMES });
        }
        self.store_mut().commit(&writes)?;
        self.store_mut().scrub()?;
        tracing::info!(
            items = leaving.len(),
            "set-aside work of a compound this phone left let go of, now that the relay holds it"
        );
        Ok(leaving.len())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use doorstep_core::id::{DocumentId, PersonId};
    use doorstep_core::sync::{SetAsideAnswer, SetAsideDecision, SetAsideOutcome};
    use doorstep_core::{Actor, Compound, Env, Role};

    use super::*;

    const NOW: i64 = 1_790_000_000_000;

    fn id<T: std::str::FromStr>(n: u8) -> T
    where
        T::Err: std::fmt::Debug,
    {
        format!("00000000-0000-7000-8000-0000000000{n:02}").parse().unwrap()
    }

    /// A set-aside item `n` of `compound`, made by `person`, standing at `state`.
    fn set_aside(replica: &mut Replica, n: u8, compound: CompoundId, state: ReviewState) -> String {
        let hash = format!("{n:02x}").repeat(32);
        let doc: DocumentId = id(50 + n);
        let reason = "a resident's words 胰岛素";
        let write = Write::Quarantine {
            hash: &hash,
            compound,
            doc,
            rule: "document_withdrawn",
            reason,
            bytes: b"change bytes",
            at: 1,
        };
        let outcome = KeptOutcome {
            by: Some(id::<PersonId>(9).to_string()),
            by_name: Some("王芳".into()),
            at: Some(2),
            note: Some("已住院".into()),
        };
        let review = Write::Review { hash: &hash, state, outcome: state.decided().then_some(&outcome) };
        replica.store_mut().commit(&[write, review]).unwrap();
        hash
    }

    fn item(replica: &Replica, hash: &str) -> crate::QuarantinedChange {
        replica.quarantine().unwrap().into_iter().find(|c| c.hash == hash).unwrap()
    }

    fn kept_whole(replica: &Replica, hash: &str) -> bool {
        let c = item(replica, hash);
        c.bytes == b"change bytes" && c.reason != LET_GO
    }

    #[test]
    fn only_work_the_relay_received_in_a_compound_the_phone_left_is_let_go_of() {
        let dir = tempfile::tempdir().unwrap();
        let mut replica = Replica::open(dir.path().join("phone.sqlite")).unwrap();
        let person: PersonId = id(1);
        replica.set_identity(person).unwrap();
        let mut seed = 7u128;
        let mut entropy = move || {
            seed = seed.wrapping_add(1);
            seed
        };
        let actor = Actor { person, role: Role::Admin };
        let now = Timestamp::from_millis(NOW);
        let held = Compound::create(
            &mut Env::new(now, &mut entropy),
            &actor,
            replica.device_actor().clone(),
            "香樟苑",
        )
        .unwrap();
        let held_id = held.id();
        replica.adopt(held, Role::Admin).unwrap();
        replica.remember_people_names(&[(id::<PersonId>(9), Some("王芳".to_owned()))].into()).unwrap();
        let left: CompoundId = id(2);

        let not_sent = set_aside(&mut replica, 1, left, ReviewState::NotSent);
        let not_accepted = set_aside(&mut replica, 2, left, ReviewState::NotAccepted);
        let under_review = set_aside(&mut replica, 3, left, ReviewState::UnderReview);
        let applied = set_aside(&mut replica, 4, left, ReviewState::Applied);
        let in_held = set_aside(&mut replica, 5, held_id, ReviewState::UnderReview);

        assert_eq!(replica.let_go_of_left_compounds(now).unwrap(), 2);
        assert!(kept_whole(&replica, &not_sent), "not sent yet: still to reach a coordinator");
        assert!(kept_whole(&replica, &not_accepted), "not taken by the relay: still to be exported");
        assert!(kept_whole(&replica, &in_held), "a compound the phone still holds keeps its items");
        for hash in [&under_review, &applied] {
            let c = item(&replica, hash);
            assert_eq!((c.reason.as_str(), c.bytes.len(), c.operation), (LET_GO, 0, None), "{hash}");
        }
        let c = item(&replica, &applied);
        assert_eq!(c.review_state, "applied", "where it stands is kept");
        assert_eq!(c.reviewed_by, Some(id::<PersonId>(9).to_string()), "and who decided, by ID");
        assert_eq!((c.reviewed_by_name, c.review_note), (None, None), "not their name or note");
        assert!(!replica.people_names().unwrap().is_empty(), "names stay while a compound is held");

        // An outcome heard later for an item let go of keeps no name or note either.
        let answer = SetAsideAnswer {
            outcomes: vec![SetAsideOutcome {
                id: under_review.clone(),
                decision: SetAsideDecision::Dismissed { reason: "已住院 王大爷".into() },
                by: id(9),
                by_name: Some("王芳".into()),
                at: 3,
            }],
            ..SetAsideAnswer::default()
        };
        assert_eq!(replica.record_set_aside_answer(&answer).unwrap().decided, 1);
        let c = item(&replica, &under_review);
        assert_eq!((c.review_state.as_str(), c.reviewed_by_name, c.review_note), ("dismissed", None, None));

        // An item the relay answers it held all along (its sync's answer was cut off): synced,
        // no longer counted as set aside, and let go of as work the relay has.
        let held_all_along = set_aside(&mut replica, 6, left, ReviewState::UnderReview);
        let waiting = |replica: &Replica| {
            let items = replica.quarantine().unwrap();
            items.iter().filter(|c| !ReviewState::from_str_lossy(&c.review_state).decided()).count()
        };
        let before = waiting(&replica);
        let answer = SetAsideAnswer { held: vec![held_all_along.clone()], ..SetAsideAnswer::default() };
        let learned = replica.record_set_aside_answer(&answer).unwrap();
        assert_eq!((learned.decided, learned.synced), (0, 1), "held all along: reviewed by no one");
        assert_eq!(item(&replica, &held_all_along).review_state, "synced");
        assert_eq!(waiting(&replica), before - 1);
        assert_eq!(replica.let_go_of_left_compounds(now).unwrap(), 1);
        // Let go of, it does not say a coordinator has it: no one does, and no one needs to.
        assert_eq!(item(&replica, &held_all_along).reason, LET_GO_SYNCED);

        // Again: nothing more to let go of.
        assert_eq!(replica.let_go_of_left_compounds(now).unwrap(), 0);
    }

    #[test]
    fn an_item_kept_before_compounds_were_recorded_is_let_go_of_once_the_phone_holds_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("phone.sqlite");
        let mut replica = Replica::open(&path).unwrap();
        replica.set_identity(id(1)).unwrap();
        replica.remember_people_names(&[(id::<PersonId>(9), Some("王芳".to_owned()))].into()).unwrap();
        let hash = set_aside(&mut replica, 3, id(2), ReviewState::UnderReview);
        drop(replica);
        // As a file of schema version 3 had it: no compound.
        Connection::open(&path).unwrap().execute("UPDATE quarantine SET compound = NULL", []).unwrap();

        let mut replica = Replica::open(&path).unwrap();
        assert_eq!(replica.let_go_of_left_compounds(Timestamp::from_millis(NOW)).unwrap(), 1);
        assert_eq!(item(&replica, &hash).reason, LET_GO);
        assert!(replica.people_names().unwrap().is_empty(), "a phone in no compound keeps no one's name");
    }

    #[test]
    fn a_file_of_schema_version_3_opens_with_its_set_aside_items() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("phone.sqlite");
        let mut replica = Replica::open(&path).unwrap();
        let hash = set_aside(&mut replica, 3, id(2), ReviewState::UnderReview);
        drop(replica);
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "ALTER TABLE quarantine DROP COLUMN let_go_at; ALTER TABLE quarantine DROP COLUMN compound;
             PRAGMA user_version = 3;",
        )
        .unwrap();
        drop(conn);

        let replica = Replica::open(&path).unwrap();
        assert!(kept_whole(&replica, &hash), "{:?}", item(&replica, &hash));
        let version: i64 =
            Connection::open(&path).unwrap().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, crate::store::VERSION);
    }
}
