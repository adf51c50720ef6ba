//! One behavioural suite for every [`Storage`] backend: each test takes an `Arc<dyn Storage>`,
//! and `storage_suite!` instantiates them for each backend: SQLite on a temporary file, and
//! PostgreSQL on a scratch database when `DOORSTEP_TEST_POSTGRES` names a server (otherwise each
//! PostgreSQL test prints that it was skipped).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use doorstep_core::document::Header;
use doorstep_core::id::{CompoundId, DocumentId, PersonId};
use doorstep_core::schema::vocabulary::DocKind;
use doorstep_core::{Role, Timestamp};

use super::*;

fn uuid<T: std::str::FromStr>(n: u32) -> T
where
    T::Err: fmt::Debug,
{
    format!("00000000-0000-7000-8000-{n:012x}").parse().unwrap()
}

const T0: Timestamp = Timestamp::from_millis(1_700_000_000_000);

fn later(ms: i64) -> Timestamp {
    Timestamp::from_millis(T0.as_millis() + ms)
}

async fn person(s: &dyn Storage, n: u32, admin: bool) -> PersonId {
    let id = uuid(n);
    s.create_person(NewPerson { id, name: format!("p{n}"), district_admin: admin }, T0).await.unwrap();
    id
}

async fn compound_with_roster(s: &dyn Storage, n: u32, admin: PersonId) -> (CompoundId, DocumentId) {
    let compound: CompoundId = uuid(1000 + n);
    let roster: DocumentId = uuid(2000 + n);
    let record = CompoundRecord { id: compound, name: format!("c{n}"), created_at: T0 };
    let doc = DocumentRecord { header: Header { id: roster, kind: DocKind::Roster, compound }, open: true };
    s.create_compound(record, vec![(doc, b"snapshot".to_vec())], vec![(admin, Role::Admin)]).await.unwrap();
    (compound, roster)
}

fn commit(doc: DocumentRecord, chunk: &[u8], known_seq: i64) -> DocCommit {
    DocCommit {
        record: doc,
        create: None,
        chunk: chunk.to_vec(),
        known_seq,
        bindings: Vec::new(),
        sync_state: None,
        decides: None,
        at: T0,
    }
}

pub async fn tokens_authenticate_until_revoked(s: Arc<dyn Storage>) {
    let p = person(s.as_ref(), 1, true).await;
    let hash = SecretHash([1; 32]);
    let device = s.create_device(p, "phone".into(), hash, T0).await.unwrap();
    assert_eq!(
        s.authenticate(hash).await.unwrap(),
        TokenStatus::Valid(Session { device, person: p, district_admin: true })
    );
    assert_eq!(s.authenticate(SecretHash([2; 32])).await.unwrap(), TokenStatus::Unknown);
    // One lost phone of two: that token only.
    let spare = s.create_device(p, "spare phone".into(), SecretHash([3; 32]), T0).await.unwrap();
    let other = person(s.as_ref(), 2, false).await;
    assert!(!s.revoke_device(other, spare, later(1)).await.unwrap(), "not another person's device");
    assert!(s.revoke_device(p, spare, later(1)).await.unwrap());
    assert!(!s.revoke_device(p, spare, later(2)).await.unwrap(), "revoked already");
    assert_eq!(s.authenticate(SecretHash([3; 32])).await.unwrap(), TokenStatus::Revoked);
    assert!(
        matches!(s.authenticate(hash).await.unwrap(), TokenStatus::Valid(_)),
        "the other phone keeps working"
    );
    assert_eq!(s.revoke_devices(p, later(1)).await.unwrap(), 1);
    assert_eq!(s.authenticate(hash).await.unwrap(), TokenStatus::Revoked);
    assert_eq!(s.district_admins().await.unwrap(), vec![p]);
}

/// The first district admin is made once: asked again, the store names the one it has.
pub async fn the_first_district_admin_is_made_once(s: Arc<dyn Storage>) {
    let first = |n: u32| NewPerson { id: uuid(n), name: "admin".into(), district_admin: true };
    let (made, now) = s.first_district_admin(first(70), SecretHash([70; 32]), T0).await.unwrap();
    assert_eq!((made, now), (uuid(70), true));
    let (again, now) = s.first_district_admin(first(71), SecretHash([71; 32]), later(1)).await.unwrap();
    assert_eq!((again, now), (uuid(70), false), "the admin it has, no second one");
    assert_eq!(s.district_admins().await.unwrap(), vec![uuid(70)]);
    assert!(matches!(s.authenticate(SecretHash([70; 32])).await.unwrap(), TokenStatus::Valid(_)));
    assert!(matches!(s.authenticate(SecretHash([71; 32])).await.unwrap(), TokenStatus::Unknown));
}

pub async fn invites_are_single_use_and_expire(s: Arc<dyn Storage>) {
    let admin = person(s.as_ref(), 1, true).await;
    let (compound, _) = compound_with_roster(s.as_ref(), 1, admin).await;
    let invite = |code: u8, expires_at| NewInvite {
        code_hash: SecretHash([code; 32]),
        compound,
        role: Role::Volunteer,
        created_by: admin,
        created_with: None,
        created_at: T0,
        expires_at,
    };
    s.create_invite(invite(7, later(1000))).await.unwrap();
    s.create_invite(invite(8, later(10))).await.unwrap();
    let redeem = |code: u8, n: u32, at| Redemption {
        code_hash: SecretHash([code; 32]),
        person: NewPerson { id: uuid(n), name: format!("v{n}"), district_admin: false },
        device_name: "phone".into(),
        token_hash: SecretHash([u8::try_from(n).unwrap(); 32]),
        join_key: None,
        at,
    };
    let joined = s.redeem_invite(redeem(7, 50, later(5))).await.unwrap();
    assert_eq!((joined.compound, joined.role, joined.person), (compound, Role::Volunteer, uuid(50)));
    assert!(matches!(s.authenticate(SecretHash([50; 32])).await.unwrap(), TokenStatus::Valid(_)));
    assert_eq!(s.memberships(uuid(50)).await.unwrap(), vec![Membership { compound, role: Role::Volunteer }]);

    let again = s.redeem_invite(redeem(7, 51, later(6))).await.unwrap_err();
    assert!(matches!(again, StorageError::Invite(InviteProblem::Used)), "{again}");
    let expired = s.redeem_invite(redeem(8, 52, later(10))).await.unwrap_err();
    assert!(matches!(expired, StorageError::Invite(InviteProblem::Expired)), "{expired}");
    let unknown = s.redeem_invite(redeem(9, 53, later(1))).await.unwrap_err();
    assert!(matches!(unknown, StorageError::Invite(InviteProblem::Unknown)), "{unknown}");
    // A failed redemption created nobody.
    assert!(s.memberships(uuid(51)).await.unwrap().is_empty());
    assert_eq!(s.members(compound).await.unwrap().len(), 2);

    // A coordinator's codes join people while they coordinate the compound, and no one once
    // they are removed or made a volunteer; a district admin's without a membership do.
    let coordinator = person(s.as_ref(), 3, false).await;
    s.set_membership(coordinator, compound, Role::Coordinator, T0).await.unwrap();
    let by = |code: u8, maker: PersonId, role: Role| NewInvite {
        created_by: maker,
        role,
        ..invite(code, later(1000))
    };
    for code in [20, 21, 22] {
        s.create_invite(by(code, coordinator, Role::Volunteer)).await.unwrap();
    }
    s.create_invite(by(23, admin, Role::Coordinator)).await.unwrap();
    s.redeem_invite(redeem(20, 60, later(5))).await.unwrap();
    s.set_membership(coordinator, compound, Role::Volunteer, later(6)).await.unwrap();
    let demoted = s.redeem_invite(redeem(21, 61, later(7))).await.unwrap_err();
    assert!(matches!(demoted, StorageError::Invite(InviteProblem::MakerMayNoLongerInvite)), "{demoted}");
    s.set_membership(coordinator, compound, Role::Coordinator, later(8)).await.unwrap();
    assert!(s.revoke_membership(coordinator, compound, later(9)).await.unwrap());
    let removed = s.redeem_invite(redeem(22, 62, later(10))).await.unwrap_err();
    assert!(matches!(removed, StorageError::Invite(InviteProblem::MakerMayNoLongerInvite)), "{removed}");
    assert!(s.memberships(uuid(62)).await.unwrap().is_empty(), "nobody joined");
    let by_the_district = s.redeem_invite(redeem(23, 63, later(11))).await.unwrap();
    assert_eq!(by_the_district.role, Role::Coordinator);

    // An invite made on a phone revoked since (reported lost) joins nobody, whoever holds the
    // code; the same person's invites made on another phone, or on the command line, still do.
    let lost = s.create_device(admin, "lost phone".into(), SecretHash([40; 32]), T0).await.unwrap();
    let kept = s.create_device(admin, "other phone".into(), SecretHash([41; 32]), T0).await.unwrap();
    let made_on =
        |code: u8, device: Option<DeviceId>| NewInvite { created_with: device, ..invite(code, later(1000)) };
    for (code, device) in [(24, Some(lost)), (25, Some(lost)), (26, Some(kept)), (27, None)] {
        s.create_invite(made_on(code, device)).await.unwrap();
    }
    s.redeem_invite(redeem(24, 64, later(12))).await.unwrap();
    assert!(s.revoke_device(admin, lost, later(13)).await.unwrap());
    let from_the_lost_phone = s.redeem_invite(redeem(25, 65, later(14))).await.unwrap_err();
    assert!(
        matches!(from_the_lost_phone, StorageError::Invite(InviteProblem::MadeOnARevokedDevice)),
        "{from_the_lost_phone}"
    );
    assert!(s.memberships(uuid(65)).await.unwrap().is_empty(), "nobody joined");
    assert_eq!(s.memberships(uuid(64)).await.unwrap().len(), 1, "a join made before the loss stands");
    s.redeem_invite(redeem(26, 66, later(15))).await.unwrap();
    s.redeem_invite(redeem(27, 67, later(16))).await.unwrap();

    // A join sent again with its key after its answer was lost: the same person and device,
    // under the new token (the first one, never seen, stops working); another key, no key, or
    // the same key past a day, is "used already" and makes nobody.
    s.create_invite(invite(30, later(1000))).await.unwrap();
    let keyed = |n: u32, key: Option<u8>, at| Redemption {
        join_key: key.map(|k| SecretHash([k; 32])),
        ..redeem(30, n, at)
    };
    let first = s.redeem_invite(keyed(70, Some(1), later(12))).await.unwrap();
    let again = s.redeem_invite(keyed(71, Some(1), later(13))).await.unwrap();
    assert_eq!(
        (again.person, again.device, again.compound, again.role),
        (first.person, first.device, compound, Role::Volunteer)
    );
    assert!(
        matches!(s.authenticate(SecretHash([71; 32])).await.unwrap(), TokenStatus::Valid(d) if d.person == first.person)
    );
    assert!(
        matches!(s.authenticate(SecretHash([70; 32])).await.unwrap(), TokenStatus::Unknown),
        "the lost answer's token"
    );
    for (n, key, at) in
        [(72, Some(2), later(14)), (73, None, later(15)), (74, Some(1), later(12 + JOIN_RETRY_MS + 1))]
    {
        let refused = s.redeem_invite(keyed(n, key, at)).await.unwrap_err();
        assert!(matches!(refused, StorageError::Invite(InviteProblem::Used)), "{refused}");
        assert!(s.memberships(uuid(n)).await.unwrap().is_empty());
    }
    assert!(matches!(s.authenticate(SecretHash([71; 32])).await.unwrap(), TokenStatus::Valid(_)), "kept");
    // Once the person it made is removed from the compound, the same key gets them nothing back:
    // no new token, no membership, and a refusal that says why.
    assert!(s.revoke_membership(first.person, compound, later(16)).await.unwrap());
    let removed = s.redeem_invite(keyed(75, Some(1), later(17))).await.unwrap_err();
    assert!(matches!(removed, StorageError::Invite(InviteProblem::JoinerRemoved)), "{removed}");
    assert!(matches!(s.authenticate(SecretHash([75; 32])).await.unwrap(), TokenStatus::Unknown));
    assert!(s.memberships(first.person).await.unwrap().is_empty());
}

pub async fn memberships_revoke_and_return(s: Arc<dyn Storage>) {
    let admin = person(s.as_ref(), 1, true).await;
    let v = person(s.as_ref(), 2, false).await;
    let (compound, _) = compound_with_roster(s.as_ref(), 1, admin).await;
    s.set_membership(v, compound, Role::Volunteer, T0).await.unwrap();
    assert!(s.revoke_membership(v, compound, later(1)).await.unwrap());
    assert!(!s.revoke_membership(v, compound, later(2)).await.unwrap(), "already revoked");
    assert!(s.memberships(v).await.unwrap().is_empty());
    let members = s.members(compound).await.unwrap();
    assert!(members.iter().any(|m| m.person == v && m.revoked));
    s.set_membership(v, compound, Role::Medic, later(3)).await.unwrap();
    assert_eq!(s.memberships(v).await.unwrap(), vec![Membership { compound, role: Role::Medic }]);
}

pub async fn member_devices_name_every_device_and_its_last_sync(s: Arc<dyn Storage>) {
    let admin = person(s.as_ref(), 1, false).await;
    let (compound, roster) = compound_with_roster(s.as_ref(), 1, admin).await;
    let (other, _) = compound_with_roster(s.as_ref(), 2, admin).await;
    let v = person(s.as_ref(), 2, false).await;
    let outsider = person(s.as_ref(), 3, false).await;
    s.set_membership(v, compound, Role::Volunteer, later(5)).await.unwrap();
    s.set_membership(outsider, other, Role::Volunteer, later(5)).await.unwrap();
    let old = s.create_device(v, "old phone".into(), SecretHash([3; 32]), later(6)).await.unwrap();
    let new = s.create_device(v, "new phone".into(), SecretHash([4; 32]), later(7)).await.unwrap();
    s.create_device(outsider, "elsewhere".into(), SecretHash([5; 32]), later(7)).await.unwrap();
    s.put_sync_states(
        vec![SyncStateWrite { device: old, doc: roster, state: Some(b"s".to_vec()) }],
        later(9),
    )
    .await
    .unwrap();
    s.revoke_devices(v, later(10)).await.unwrap();
    let devices = s.member_devices(compound).await.unwrap();
    let named: Vec<(&str, bool, Option<Timestamp>)> =
        devices.iter().map(|d| (d.name.as_str(), d.revoked, d.last_seen)).collect();
    assert_eq!(named, vec![("old phone", true, Some(later(9))), ("new phone", true, None)]);
    assert!(devices.iter().all(|d| d.person == v));
    // A sync that changed no state still counts as the device's last: the later of the two
    // times, whichever relay wrote it last, with how far off its clock was then (or unsaid); a
    // device no longer stored is skipped; a device named twice in one sweep keeps its later
    // request.
    let seen = |at: Timestamp, off: Option<i64>| Seen { at, clock_off_by_ms: off };
    s.record_devices_seen(vec![
        (new, seen(later(10), Some(-40))),
        (old, seen(later(8), Some(7))),
        (new, seen(later(12), Some(3_600_000))),
        (DeviceId(987_654), seen(later(12), None)),
        (new, seen(later(7), Some(-5))),
    ])
    .await
    .unwrap();
    s.record_devices_seen(vec![(new, seen(later(11), Some(1)))]).await.unwrap();
    let devices = s.member_devices(compound).await.unwrap();
    let last: Vec<(&str, Option<Timestamp>, Option<i64>)> =
        devices.iter().map(|d| (d.name.as_str(), d.last_seen, d.clock_off_by_ms)).collect();
    assert_eq!(
        last,
        vec![("old phone", Some(later(9)), Some(7)), ("new phone", Some(later(12)), Some(3_600_000))],
        "an earlier request's clock does not replace a later one's"
    );
    // A later request that did not say its clock says nothing of it.
    s.record_devices_seen(vec![(new, seen(later(13), None))]).await.unwrap();
    let devices = s.member_devices(compound).await.unwrap();
    assert_eq!((devices[1].last_seen, devices[1].clock_off_by_ms), (Some(later(13)), None));
    let joined: Vec<(PersonId, Timestamp)> =
        s.members(compound).await.unwrap().iter().map(|m| (m.person, m.joined_at)).collect();
    assert_eq!(joined, vec![(admin, T0), (v, later(5))]);
}

/// A revoked phone's word that it wiped itself is kept on that device and shown with it: dated
/// by the first word, with the most unsent work any word reported.
pub async fn a_revoked_phone_s_wipe_keeps_the_most_work_any_file_lost(s: Arc<dyn Storage>) {
    let admin = person(s.as_ref(), 1, false).await;
    let (compound, _) = compound_with_roster(s.as_ref(), 1, admin).await;
    let v = person(s.as_ref(), 2, false).await;
    s.set_membership(v, compound, Role::Volunteer, later(1)).await.unwrap();
    let lost = s.create_device(v, "lost phone".into(), SecretHash([3; 32]), later(2)).await.unwrap();
    s.create_device(v, "other phone".into(), SecretHash([4; 32]), later(2)).await.unwrap();
    let wiped = |at, unsent| Wiped { at: later(at), unsent };

    assert_eq!(s.record_wipe(SecretHash([9; 32]), wiped(3, 1)).await.unwrap(), WipeHeard::Unknown);
    assert_eq!(s.record_wipe(SecretHash([3; 32]), wiped(3, 1)).await.unwrap(), WipeHeard::NotRevoked);
    assert!(s.revoke_device(v, lost, later(4)).await.unwrap());
    assert_eq!(
        s.record_wipe(SecretHash([3; 32]), wiped(5, 7)).await.unwrap(),
        WipeHeard::Recorded { person: v, device: lost }
    );
    assert_eq!(s.record_wipe(SecretHash([3; 32]), wiped(6, 0)).await.unwrap(), WipeHeard::AlreadyHeard);
    let said = || async {
        let devices = s.member_devices(compound).await.unwrap();
        devices.iter().map(|d| (d.name.clone(), d.wiped)).collect::<Vec<(String, Option<Wiped>)>>()
    };
    let lost_phone = |wipe| vec![("lost phone".to_owned(), Some(wipe)), ("other phone".to_owned(), None)];
    assert_eq!(said().await, lost_phone(wiped(5, 7)), "a retry saying less hides nothing");
    // A second file holding the token (a phone's data copied to another) lost more: that stands,
    // dated by the first word.
    assert_eq!(s.record_wipe(SecretHash([3; 32]), wiped(7, 9)).await.unwrap(), WipeHeard::AlreadyHeard);
    assert_eq!(said().await, lost_phone(wiped(5, 9)));
}

pub async fn share_refusals_count_per_person_and_compound_and_keep_the_last(s: Arc<dyn Storage>) {
    let admin = person(s.as_ref(), 1, false).await;
    let (compound, roster) = compound_with_roster(s.as_ref(), 1, admin).await;
    let (other, elsewhere) = compound_with_roster(s.as_ref(), 2, admin).await;
    let v = person(s.as_ref(), 2, false).await;
    assert!(s.share_refusals(compound).await.unwrap().is_empty());
    let round: DocumentId = uuid(900);
    s.record_share_refusal(v, compound, roster, DocKind::Roster, later(1)).await.unwrap();
    s.record_share_refusal(v, compound, round, DocKind::Round, later(2)).await.unwrap();
    s.record_share_refusal(admin, compound, roster, DocKind::Roster, later(3)).await.unwrap();
    s.record_share_refusal(v, other, elsewhere, DocKind::Roster, later(4)).await.unwrap();
    let mut here = s.share_refusals(compound).await.unwrap();
    here.sort_by_key(|(p, _)| *p == v);
    let v_here = ShareRefused { times: 2, last_at: later(2), document: round, kind: DocKind::Round };
    let admin_here = ShareRefused { times: 1, last_at: later(3), document: roster, kind: DocKind::Roster };
    assert_eq!(here, vec![(admin, admin_here), (v, v_here)]);
    let there = ShareRefused { times: 1, last_at: later(4), document: elsewhere, kind: DocKind::Roster };
    assert_eq!(s.share_refusals(other).await.unwrap(), vec![(v, there)]);
}

pub async fn actors_bind_once(s: Arc<dyn Storage>) {
    let a = person(s.as_ref(), 1, true).await;
    let b = person(s.as_ref(), 2, false).await;
    s.bind_actor(ActorBinding { actor: "aa".into(), person: a }, T0).await.unwrap();
    s.bind_actor(ActorBinding { actor: "aa".into(), person: a }, T0).await.unwrap();
    let err = s.bind_actor(ActorBinding { actor: "aa".into(), person: b }, T0).await.unwrap_err();
    assert!(matches!(err, StorageError::ActorTaken { owner, .. } if owner == a), "{err}");
    assert_eq!(s.actor_owner("aa".into()).await.unwrap(), Some(a));
    assert_eq!(s.actor_owner("bb".into()).await.unwrap(), None);
}

pub async fn chunks_append_catch_up_and_compact(s: Arc<dyn Storage>) {
    let admin = person(s.as_ref(), 1, true).await;
    let (compound, roster) = compound_with_roster(s.as_ref(), 1, admin).await;
    let record = s.document(roster).await.unwrap().unwrap();
    assert_eq!(record.header.compound, compound);
    assert_eq!(s.documents_of(vec![compound]).await.unwrap(), vec![record]);

    let first = s.commit(commit(record, b"one", 0)).await.unwrap();
    assert!(first.known_seq > 0);
    // Another writer appends; a commit from a stale view keeps its known seq so it catches up.
    let other = s.commit(commit(record, b"two", first.known_seq)).await.unwrap();
    let stale = s.commit(commit(record, b"three", first.known_seq)).await.unwrap();
    assert_eq!(stale.known_seq, first.known_seq);
    let catchup = s.changes_since(roster, first.known_seq).await.unwrap();
    let chunks: Vec<&[u8]> = catchup.chunks.iter().map(|c| c.bytes.as_slice()).collect();
    assert_eq!(chunks, [b"two".as_slice(), b"three".as_slice()]);
    assert!(catchup.chunks[0].seq == other.known_seq);

    let loaded = s.load_document(roster).await.unwrap().unwrap();
    assert_eq!(loaded.snapshot, b"snapshot");
    assert_eq!(loaded.chunks.len(), 3);

    assert!(s.compact(roster, b"compacted".to_vec(), other.known_seq).await.unwrap());
    // A copy compacted earlier (through a lower seq) arriving late must not replace the newer
    // snapshot, nor delete anything.
    assert!(!s.compact(roster, b"stale".to_vec(), first.known_seq).await.unwrap());
    let loaded = s.load_document(roster).await.unwrap().unwrap();
    assert_eq!(loaded.snapshot, b"compacted");
    assert_eq!(loaded.compacted_seq, other.known_seq);
    assert_eq!(loaded.chunks.iter().map(|c| c.bytes.as_slice()).collect::<Vec<_>>(), [b"three".as_slice()]);
    assert!(s.changes_since(roster, 0).await.unwrap().compacted_seq > 0);
    assert!(s.load_document(uuid(9999)).await.unwrap().is_none());
}

pub async fn releasing_memory_keeps_every_document_and_connection(s: Arc<dyn Storage>) {
    let admin = person(s.as_ref(), 1, true).await;
    let (_, roster) = compound_with_roster(s.as_ref(), 1, admin).await;
    let record = s.document(roster).await.unwrap().unwrap();
    let first = s.commit(commit(record, b"one", 0)).await.unwrap();
    let before = s.load_document(roster).await.unwrap().unwrap();

    // After an eviction sweep the relay empties the store's caches; what is stored stays, and
    // the same connections read and write on.
    s.release_memory().await.unwrap();
    let after = s.load_document(roster).await.unwrap().unwrap();
    assert_eq!((after.snapshot, after.chunks.len()), (before.snapshot, before.chunks.len()));
    let second = s.commit(commit(record, b"two", first.known_seq)).await.unwrap();
    assert!(second.known_seq > first.known_seq);
    s.release_memory().await.unwrap();
    assert_eq!(s.load_document(roster).await.unwrap().unwrap().chunks.len(), 2);
}

pub async fn an_older_compaction_never_replaces_a_newer_one(s: Arc<dyn Storage>) {
    let admin = person(s.as_ref(), 1, true).await;
    let (_, roster) = compound_with_roster(s.as_ref(), 1, admin).await;
    let record = s.document(roster).await.unwrap().unwrap();
    let first = s.commit(commit(record, b"one", 0)).await.unwrap();
    let second = s.commit(commit(record, b"two", first.known_seq)).await.unwrap();
    // Two relays compact the same document; the one that saw more finishes first.
    s.compact(roster, b"through two".to_vec(), second.known_seq).await.unwrap();
    s.compact(roster, b"through one".to_vec(), first.known_seq).await.unwrap();
    let loaded = s.load_document(roster).await.unwrap().unwrap();
    assert_eq!(loaded.snapshot, b"through two");
    assert_eq!(loaded.compacted_seq, second.known_seq);
    assert!(loaded.chunks.is_empty());
}

pub async fn requests_in_pieces_are_kept_whole_settled_bounded_and_let_go_at_revocation(s: Arc<dyn Storage>) {
    use crate::held_requests::PieceRefused;
    let p = person(s.as_ref(), 1, true).await;
    let q = person(s.as_ref(), 2, false).await;
    let phone = s.create_device(p, "phone".into(), SecretHash([1; 32]), T0).await.unwrap();
    let other = s.create_device(q, "other".into(), SecretHash([2; 32]), T0).await.unwrap();
    let piece = |device, digest: &str, at: usize, bytes: &[u8]| NewPiece {
        device,
        digest: digest.into(),
        total: 10,
        deflated: true,
        at,
        bytes: bytes.to_vec(),
        most_bytes: 16,
        now: later(at as i64),
        forget_before: T0,
    };
    assert_eq!(s.held_request(phone).await.unwrap(), None);
    assert_eq!(s.hold_piece(piece(phone, "aa", 0, b"0123")).await.unwrap().unwrap().held, 4);
    // A piece sent again, overlapping what is held: only its new bytes are kept.
    assert_eq!(s.hold_piece(piece(phone, "aa", 2, b"2345")).await.unwrap().unwrap().held, 6);
    assert_eq!(
        s.hold_piece(piece(phone, "aa", 8, b"89")).await.unwrap(),
        Err(PieceRefused::NotNext { held: 6 })
    );
    assert_eq!(s.held_request_bytes(phone, "aa".into()).await.unwrap(), None, "not whole yet");
    let kept = s.hold_piece(piece(phone, "aa", 6, b"6789")).await.unwrap().unwrap();
    assert_eq!(kept, PieceKept { held: 10, held_everywhere: 10, let_go_of: 0 });
    assert_eq!(s.held_request_bytes(phone, "aa".into()).await.unwrap().unwrap(), b"0123456789");
    // The bound counts every device's bytes; a person's own requests make no room for each other.
    let tablet = s.create_device(p, "tablet".into(), SecretHash([4; 32]), T0).await.unwrap();
    assert_eq!(
        s.hold_piece(piece(tablet, "bb", 0, b"0123456")).await.unwrap(),
        Err(PieceRefused::Full { most: 16 })
    );
    assert_eq!(s.settle_held_request(phone, "aa".into(), true, later(20)).await.unwrap(), 0);
    let taken = s.held_request(phone).await.unwrap().unwrap();
    assert!(taken.taken && taken.digest == "aa", "{taken:?}");
    assert_eq!(s.held_request_bytes(phone, "aa".into()).await.unwrap(), None, "its bytes let go");
    assert_eq!(s.hold_piece(piece(phone, "aa", 4, b"4")).await.unwrap(), Err(PieceRefused::Taken));
    // The same bytes from byte 0 are a new request (`held_requests::place`), and start anew.
    assert_eq!(s.hold_piece(piece(phone, "aa", 0, b"0")).await.unwrap().unwrap().held, 1);
    // A new request replaces the taken one; a discarded one is forgotten.
    assert_eq!(s.hold_piece(piece(phone, "cc", 0, b"01")).await.unwrap().unwrap().held, 2);
    assert_eq!(s.settle_held_request(phone, "cc".into(), false, later(30)).await.unwrap(), 0);
    assert_eq!(s.held_request(phone).await.unwrap(), None);
    // Revoking a person's devices lets go of what they held; others keep theirs.
    s.hold_piece(piece(phone, "dd", 0, b"0123")).await.unwrap().unwrap();
    s.hold_piece(piece(other, "ee", 0, b"012")).await.unwrap().unwrap();
    s.revoke_devices(p, later(40)).await.unwrap();
    assert_eq!(s.held_request(phone).await.unwrap(), None);
    assert_eq!(s.held_request(other).await.unwrap().unwrap().held, 3);
    // A request left untouched past `forget_before` is forgotten at the next piece, and no longer
    // counts against the bound: 3 stale bytes + 14 new would not fit in 16.
    let q_phone = s.create_device(q, "second".into(), SecretHash([3; 32]), T0).await.unwrap();
    let fresh = NewPiece { total: 14, forget_before: later(1_000), ..piece(q_phone, "ff", 0, &[7; 14]) };
    assert_eq!(s.hold_piece(fresh).await.unwrap().unwrap().held, 14);
    assert_eq!(s.held_request(other).await.unwrap(), None, "stale");
}

pub async fn a_full_bound_lets_go_of_whoever_holds_the_most_for_someone_holding_less(s: Arc<dyn Storage>) {
    use crate::held_requests::PieceRefused;
    let hoarder = person(s.as_ref(), 1, false).await;
    let second = person(s.as_ref(), 2, false).await;
    let volunteer = person(s.as_ref(), 3, false).await;
    let device = |p, n: u8| {
        let s = Arc::clone(&s);
        async move { s.create_device(p, format!("d{n}"), SecretHash([n; 32]), T0).await.unwrap() }
    };
    let (a, b, c) = (device(hoarder, 1).await, device(second, 2).await, device(volunteer, 3).await);
    let piece = |device, digest: &str, at: usize, len: usize| NewPiece {
        device,
        digest: digest.into(),
        total: 12,
        deflated: true,
        at,
        bytes: vec![7; len],
        most_bytes: 16,
        now: later(at as i64),
        forget_before: T0,
    };
    // Two people hold 8 and 6 of the 16 bytes, never finishing.
    s.hold_piece(piece(a, "aa", 0, 8)).await.unwrap().unwrap();
    s.hold_piece(piece(b, "bb", 0, 6)).await.unwrap().unwrap();
    // A volunteer's 4 bytes do not fit (18): the one holding the most (8 > 4) is let go of.
    let kept = s.hold_piece(piece(c, "cc", 0, 4)).await.unwrap().unwrap();
    assert_eq!(kept, PieceKept { held: 4, held_everywhere: 10, let_go_of: 1 });
    assert_eq!(s.held_request(a).await.unwrap(), None, "the hoarder's request is let go of");
    assert_eq!(s.held_request(b).await.unwrap().unwrap().held, 6, "the other is kept");
    // The volunteer goes on: 6 + 8 fit.
    assert_eq!(s.hold_piece(piece(c, "cc", 4, 4)).await.unwrap().unwrap().held, 8);
    // The hoarder starting again with 8 would hold as much as the most anyone holds (8): refused,
    // and nobody is let go of.
    assert_eq!(s.hold_piece(piece(a, "aa", 0, 8)).await.unwrap(), Err(PieceRefused::Full { most: 16 }));
    assert_eq!(s.held_request(c).await.unwrap().unwrap().held, 8);
    assert_eq!(s.held_request(b).await.unwrap().unwrap().held, 6);
    // With 2 it fits beside them; the volunteer then finishes, letting go of the larger of the two
    // others (6 > 12 is false: nobody holds more than the volunteer would) — refused, the
    // volunteer sends the rest whole.
    assert_eq!(s.hold_piece(piece(a, "aa", 0, 2)).await.unwrap().unwrap().held, 2);
    assert_eq!(s.hold_piece(piece(c, "cc", 8, 4)).await.unwrap(), Err(PieceRefused::Full { most: 16 }));
    // A request the relay took counts for nobody and is never let go of.
    s.settle_held_request(b, "bb".into(), true, later(50)).await.unwrap();
    assert_eq!(s.hold_piece(piece(c, "cc", 8, 4)).await.unwrap().unwrap().held, 12);
    assert!(s.held_request(b).await.unwrap().unwrap().taken);
}

pub async fn dashboard_sessions_expire_close_and_are_bounded_per_person(s: Arc<dyn Storage>) {
    let p = person(s.as_ref(), 1, true).await;
    let q = person(s.as_ref(), 2, false).await;
    let session = |n: u8, person, opened_at: i64| DashboardSession {
        secret_hash: SecretHash([n; 32]),
        person,
        token: SecretHash([200; 32]),
        opened_at: later(opened_at),
        expires_at: later(opened_at + 1000),
    };
    s.open_session(session(1, p, 0), 3).await.unwrap();
    assert_eq!(s.session(SecretHash([1; 32]), later(10)).await.unwrap(), Some(session(1, p, 0)));
    assert_eq!(s.session(SecretHash([1; 32]), later(1000)).await.unwrap(), None, "expired");
    assert_eq!(s.session(SecretHash([9; 32]), later(10)).await.unwrap(), None, "unknown");
    s.close_session(SecretHash([1; 32])).await.unwrap();
    assert_eq!(s.session(SecretHash([1; 32]), later(10)).await.unwrap(), None, "closed");

    // A person holds at most three: the fourth ends the oldest, and others' are untouched.
    s.open_session(session(20, q, 0), 3).await.unwrap();
    for n in 2..=5 {
        s.open_session(session(n, p, 5), 3).await.unwrap();
    }
    let live = |n: u8| {
        let s = Arc::clone(&s);
        async move { s.session(SecretHash([n; 32]), later(10)).await.unwrap().is_some() }
    };
    assert!(!live(2).await, "the oldest made room");
    assert!(live(3).await && live(4).await && live(5).await && live(20).await);
    // Opening a session sweeps the expired ones away.
    s.open_session(session(6, q, 2000), 3).await.unwrap();
    assert!(!live(20).await);
}

pub async fn commits_are_all_or_nothing(s: Arc<dyn Storage>) {
    let a = person(s.as_ref(), 1, true).await;
    let b = person(s.as_ref(), 2, false).await;
    let (_, roster) = compound_with_roster(s.as_ref(), 1, a).await;
    let record = s.document(roster).await.unwrap().unwrap();
    s.bind_actor(ActorBinding { actor: "aa".into(), person: a }, T0).await.unwrap();
    let device = s.create_device(b, "phone".into(), SecretHash([3; 32]), T0).await.unwrap();
    let mut c = commit(record, b"chunk", 0);
    c.bindings =
        vec![ActorBinding { actor: "bb".into(), person: b }, ActorBinding { actor: "aa".into(), person: b }];
    c.sync_state = Some(SyncStateWrite { device, doc: roster, state: Some(b"state".to_vec()) });
    assert!(matches!(s.commit(c).await.unwrap_err(), StorageError::ActorTaken { .. }));
    assert!(s.load_document(roster).await.unwrap().unwrap().chunks.is_empty(), "no chunk stored");
    assert_eq!(s.actor_owner("bb".into()).await.unwrap(), None, "no binding stored");
    assert_eq!(s.sync_state(device, roster).await.unwrap(), None, "no state stored");

    let mut c = commit(record, b"chunk", 0);
    c.sync_state = Some(SyncStateWrite { device, doc: roster, state: Some(b"state".to_vec()) });
    s.commit(c).await.unwrap();
    assert_eq!(s.sync_state(device, roster).await.unwrap(), Some(b"state".to_vec()));
    s.put_sync_states(vec![SyncStateWrite { device, doc: roster, state: None }], T0).await.unwrap();
    assert_eq!(s.sync_state(device, roster).await.unwrap(), None);
}

/// An open round of `compound`, stored whole (its snapshot `round`), and its commit.
async fn new_round(s: &dyn Storage, compound: CompoundId) -> (DocumentRecord, Committed) {
    let round =
        DocumentRecord { header: Header { id: uuid(3000), kind: DocKind::Round, compound }, open: true };
    let mut c = commit(round, b"", 0);
    c.create = Some(b"round".to_vec());
    (round, s.commit(c).await.unwrap())
}

pub async fn new_documents_and_round_status(s: Arc<dyn Storage>) {
    let a = person(s.as_ref(), 1, true).await;
    let (compound, _) = compound_with_roster(s.as_ref(), 1, a).await;
    let (round, _) = new_round(s.as_ref(), compound).await;
    assert_eq!(s.load_document(round.header.id).await.unwrap().unwrap().snapshot, b"round");
    s.commit(commit(DocumentRecord { open: false, ..round }, b"close", 0)).await.unwrap();
    assert!(!s.document(round.header.id).await.unwrap().unwrap().open);
    let missing = DocumentRecord { header: Header { id: uuid(3001), ..round.header }, open: true };
    assert!(matches!(s.commit(commit(missing, b"x", 0)).await.unwrap_err(), StorageError::NotFound(_)));
    assert_eq!(s.compounds().await.unwrap().len(), 1);
    assert_eq!(s.compound(compound).await.unwrap().unwrap().name, "c1");
}

/// A round closed through one relay while a volunteer's change commits through another (from a
/// copy that had not heard of the close): the second commit says it found the other's chunk,
/// and the open flag is settled only from a view that holds every chunk. Before, the stale
/// commit's flag stood and the round stayed marked open (or closed) for good.
pub async fn an_open_flag_written_from_a_stale_view_is_settled_from_every_chunk(s: Arc<dyn Storage>) {
    let a = person(s.as_ref(), 1, true).await;
    let (compound, _) = compound_with_roster(s.as_ref(), 1, a).await;
    let (round, made) = new_round(s.as_ref(), compound).await;
    assert!(!made.others);
    let closed = s.commit(commit(DocumentRecord { open: false, ..round }, b"close", 0)).await.unwrap();
    assert!(!closed.others, "nothing written since the closer looked");
    // The other relay still holds the round as open, from before the close.
    let knock = s.commit(commit(round, b"knock", 0)).await.unwrap();
    assert!(knock.others, "the close was written since");
    assert!(s.document(round.header.id).await.unwrap().unwrap().open, "the stale flag, until settled");
    let catchup = s.changes_since(round.header.id, 0).await.unwrap();
    let close_seq = catchup.chunks[0].seq;
    let knock_seq = catchup.chunks[1].seq;
    // Settled from a view without the knock: refused, something was written since.
    assert!(!s.settle_open(round.header.id, false, close_seq).await.unwrap());
    assert!(s.settle_open(round.header.id, false, knock_seq).await.unwrap());
    assert!(!s.document(round.header.id).await.unwrap().unwrap().open);
}

/// Writes worked out from what a compound's documents hold take turns: a second turn waits until
/// the first is given back, and a turn dropped unreleased ends too. (SQLite, one writer per file,
/// has no turns.)
pub async fn writes_to_one_compound_take_turns(s: Arc<dyn Storage>) {
    let a = person(s.as_ref(), 1, true).await;
    let (compound, _) = compound_with_roster(s.as_ref(), 1, a).await;
    let (other, _) = compound_with_roster(s.as_ref(), 2, a).await;
    let Some(first) = s.write_turn(compound).await.unwrap() else { return };
    let wait = std::time::Duration::from_millis(300);
    let elsewhere = tokio::time::timeout(wait, s.write_turn(other)).await;
    assert!(elsewhere.is_ok(), "another compound's turn does not wait");
    elsewhere.unwrap().unwrap().unwrap().release().await.unwrap();
    assert!(tokio::time::timeout(wait, s.write_turn(compound)).await.is_err(), "the second waited");
    first.release().await.unwrap();
    let second = tokio::time::timeout(wait, s.write_turn(compound)).await.expect("given back").unwrap();
    drop(second);
    let third = tokio::time::timeout(std::time::Duration::from_secs(5), s.write_turn(compound)).await;
    assert!(third.is_ok(), "a turn dropped unreleased ends with its connection");
}

pub async fn set_aside_items_are_stored_once_and_decided_once(s: Arc<dyn Storage>) {
    use doorstep_core::sync::{SetAsideDecision, SetAsideUpload};
    let a = person(s.as_ref(), 1, true).await;
    let (compound, roster) = compound_with_roster(s.as_ref(), 1, a).await;
    let device = s.create_device(a, "phone".into(), SecretHash([7; 32]), T0).await.unwrap();
    let other = s.create_device(a, "second phone".into(), SecretHash([8; 32]), T0).await.unwrap();
    let item = |hash: char| SetAsideUpload {
        id: hash.to_string().repeat(64),
        doc: roster,
        compound: None,
        person: Some(a),
        operation: Some(r#"{"op":"close_round","round":"x"}"#.into()),
        summary: "close_round".into(),
        made_at: Some(1),
        set_aside_at: 2,
        rule: "forbidden".into(),
        reason: "不行 / not allowed".into(),
    };
    let new =
        |device, hash| NewSetAside { device, person: a, compound, item: item(hash), received_at: later(3) };
    s.put_set_aside(vec![new(device, 'a'), new(device, 'b')]).await.unwrap();
    // Sent again (a retried request): stored once. Another device's item of the same hash is its own.
    s.put_set_aside(vec![new(device, 'a'), new(other, 'a')]).await.unwrap();
    let all = s.set_aside_of(compound, 10).await.unwrap();
    assert_eq!(all.len(), 3, "{all:?}");
    assert_eq!(all[2].received.item, item('a'), "newest first, read back as sent");
    assert_eq!(all[2].received.received_at, later(3));
    assert!(all.iter().all(|r| r.decided.is_none()));
    assert_eq!(s.set_aside_of(compound, 1).await.unwrap().len(), 1, "the limit holds");
    assert_eq!(s.set_aside_waiting(device).await.unwrap(), 2);
    assert_eq!(s.set_aside_waiting(other).await.unwrap(), 1);

    let first = all[2].id;
    let dismissed = SetAsideDecided {
        decision: SetAsideDecision::Dismissed { reason: "重复".into() },
        by: a,
        at: later(4),
    };
    assert!(s.decide_set_aside(first, dismissed.clone()).await.unwrap());
    assert_eq!(s.set_aside_waiting(device).await.unwrap(), 1, "a decided item no longer waits");
    let listed = s.set_aside_of(compound, 10).await.unwrap();
    assert_eq!(listed.last().map(|r| r.id), Some(first), "waiting items first, then decided ones");
    let applied = SetAsideDecided { decision: SetAsideDecision::Applied, by: a, at: later(5) };
    assert!(!s.decide_set_aside(first, applied.clone()).await.unwrap(), "decided once");
    assert_eq!(s.set_aside_item(first).await.unwrap().unwrap().decided, Some(dismissed.clone()));
    assert!(s.set_aside_item(999_999).await.unwrap().is_none());

    let hashes = vec!["a".repeat(64), "b".repeat(64), "c".repeat(64)];
    let outcomes = s.set_aside_outcomes(a, hashes.clone()).await.unwrap();
    assert_eq!(outcomes.len(), 1, "only decided items: {outcomes:?}");
    // The person's other device sent the same change too, undecided: the decision on it is the
    // person's, whichever device asks (a phone signed in again with a new token).
    assert_eq!(outcomes[0].id, first);
    let b = person(s.as_ref(), 2, false).await;
    assert!(s.set_aside_outcomes(b, hashes.clone()).await.unwrap().is_empty(), "not another person's");
    // Nor a fellow member's; but once the sender is removed from the compound, its members may
    // hear it: the same phone invited back as a new person asks after what it sent as the old
    // one. A member removed in turn hears nothing more.
    s.set_membership(b, compound, Role::Volunteer, T0).await.unwrap();
    assert!(s.set_aside_outcomes(b, hashes.clone()).await.unwrap().is_empty(), "a fellow member's items");
    assert!(s.revoke_membership(a, compound, later(1)).await.unwrap());
    let heard = s.set_aside_outcomes(b, hashes.clone()).await.unwrap();
    assert_eq!(
        heard.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![first],
        "a removed sender's, to a member"
    );
    assert!(s.revoke_membership(b, compound, later(2)).await.unwrap());
    assert!(s.set_aside_outcomes(b, hashes.clone()).await.unwrap().is_empty(), "not once removed");
    s.set_membership(a, compound, Role::Admin, later(3)).await.unwrap();

    // Applying an item stores its decision with the change, in one transaction: a commit that
    // decides an item decided already stores nothing, and one that decides a pending item
    // stores both.
    let second = all[1].id;
    let record =
        DocumentRecord { header: Header { id: roster, kind: DocKind::Roster, compound }, open: true };
    let mut deciding = commit(record, b"the change that applies it", 0);
    deciding.decides = Some(Deciding { item: first, decided: applied.clone() });
    assert!(matches!(s.commit(deciding).await.unwrap_err(), StorageError::AlreadyDecided(id) if id == first));
    assert!(s.changes_since(roster, 0).await.unwrap().chunks.is_empty(), "nothing stored with it");
    assert_eq!(s.set_aside_item(first).await.unwrap().unwrap().decided, Some(dismissed), "unchanged");
    let mut deciding = commit(record, b"the change that applies it", 0);
    deciding.decides = Some(Deciding { item: second, decided: applied.clone() });
    s.commit(deciding).await.unwrap();
    assert_eq!(s.changes_since(roster, 0).await.unwrap().chunks.len(), 1);
    assert_eq!(s.set_aside_item(second).await.unwrap().unwrap().decided, Some(applied.clone()));
    assert_eq!(s.set_aside_outcomes(a, hashes).await.unwrap().len(), 2);
}

pub async fn one_devices_many_set_aside_items_never_hide_anothers(s: Arc<dyn Storage>) {
    use doorstep_core::sync::{SetAsideDecision, SetAsideUpload};
    let a = person(s.as_ref(), 1, true).await;
    let (compound, roster) = compound_with_roster(s.as_ref(), 1, a).await;
    let honest = s.create_device(a, "phone".into(), SecretHash([7; 32]), T0).await.unwrap();
    let flood = s.create_device(a, "second phone".into(), SecretHash([8; 32]), T0).await.unwrap();
    let new = |device, n: usize| NewSetAside {
        device,
        person: a,
        compound,
        item: SetAsideUpload {
            id: format!("{n:064x}"),
            doc: roster,
            compound: None,
            person: Some(a),
            operation: None,
            summary: format!("item {n}"),
            made_at: Some(1),
            set_aside_at: 2,
            rule: "forbidden".into(),
            reason: "不行 / not allowed".into(),
        },
        received_at: later(3),
    };
    s.put_set_aside(vec![new(honest, 0), new(honest, 1)]).await.unwrap();
    s.put_set_aside((2..40).map(|n| new(flood, n)).collect()).await.unwrap();
    let decided = SetAsideDecided { decision: SetAsideDecision::Applied, by: a, at: later(4) };
    let oldest_flood = s
        .set_aside_of(compound, 100)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.received.item.summary == "item 2");
    assert!(s.decide_set_aside(oldest_flood.unwrap().id, decided).await.unwrap());

    let listed = s.set_aside_of(compound, 6).await.unwrap();
    let from = |device| listed.iter().filter(|r| r.received.device == device).count();
    assert_eq!((from(honest), from(flood)), (2, 4), "turns between the devices: {listed:?}");
    assert!(listed.iter().all(|r| r.decided.is_none()), "waiting items before decided ones");
    assert!(listed.windows(2).all(|w| w[0].id > w[1].id), "listed newest first");
    assert_eq!(listed[0].received.item.summary, "item 39");
    let all = s.set_aside_of(compound, 100).await.unwrap();
    assert_eq!(all.len(), 40);
    assert_eq!(all.last().map(|r| r.received.item.summary.as_str()), Some("item 2"), "the decided one last");
}

/// Instantiates the suite for a backend: `$make` is an async expression giving
/// `(Arc<dyn Storage>, guard)`, where the guard keeps the backend's resources alive.
macro_rules! storage_suite {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;
            storage_suite!(@tests $make; tokens_authenticate_until_revoked, invites_are_single_use_and_expire, the_first_district_admin_is_made_once,
                memberships_revoke_and_return, member_devices_name_every_device_and_its_last_sync,
                a_revoked_phone_s_wipe_keeps_the_most_work_any_file_lost,
                share_refusals_count_per_person_and_compound_and_keep_the_last, actors_bind_once, chunks_append_catch_up_and_compact,
                commits_are_all_or_nothing, new_documents_and_round_status,
                an_open_flag_written_from_a_stale_view_is_settled_from_every_chunk, writes_to_one_compound_take_turns,
                an_older_compaction_never_replaces_a_newer_one,
                releasing_memory_keeps_every_document_and_connection,
                dashboard_sessions_expire_close_and_are_bounded_per_person,
                set_aside_items_are_stored_once_and_decided_once, one_devices_many_set_aside_items_never_hide_anothers,
                requests_in_pieces_are_kept_whole_settled_bounded_and_let_go_at_revocation,
                a_full_bound_lets_go_of_whoever_holds_the_most_for_someone_holding_less);
        }
    };
    (@tests $make:expr; $($name:ident),+) => {
        $(
            #[tokio::test]
            async fn $name() {
                let (storage, _guard) = $make;
                super::$name(storage).await;
            }
        )+
    };
}

storage_suite!(sqlite, {
    let dir = tempfile::tempdir().unwrap();
    let storage = crate::storage::sqlite::SqliteStorage::open(dir.path().join("relay.db")).await.unwrap();
    (Arc::new(storage) as Arc<dyn Storage>, dir)
});

storage_suite!(postgres, {
    let Some(db) = crate::storage::postgres::scratch::ScratchDatabase::from_env().await else {
        return;
    };
    let storage = crate::storage::postgres::PostgresStorage::open(db.url()).await.unwrap();
    (Arc::new(storage) as Arc<dyn Storage>, db)
});
