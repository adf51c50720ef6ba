//! Counting the changes a peer lacks, for many peers answered from one state of a document.
//!
//! Whether a reply carries the changes or the whole document depends on how many changes the
//! peer lacks ([`PeerState`](super::PeerState)'s `wants_whole_document`). Automerge counts them by
//! building the metadata of every one (`get_changes_meta`): for each phone of a team coming back
//! together, every change the rest of the team made. Once per phone, that made the relay's cost
//! per edit grow with the team (17 % of the relay's time at 1,000 phones, BENCHMARKS.md §4).
//!
//! Phones that come back together announce the same last sync (the state they all left with).
//! The changes since it are listed once per state of the document; a phone lacks all of them
//! except the ones its own heads reach, found by walking back from its heads through the list,
//! which costs what the phone itself sent. A reply built from the kept bytes of those changes
//! (`kept_changes.rs`) needs them listed, not only counted: the same list serves, when the walk
//! shows the phone's last sync is an ancestor of its heads, so that nothing before it is lacking.
//!
//! Whether a reply carries the changes or the whole document is decided by their bytes
//! (`changes_or_whole.rs`). Those too are summed once per last sync, over the kept bytes of the
//! changes since it, with the share DEFLATE leaves of them measured on a sample; a phone lacks
//! that sum less the bytes of the changes its own heads reach.

use std::cell::{OnceCell, RefCell};
use std::collections::{HashMap, HashSet};

use automerge::{Automerge, ChangeHash};

use super::KeptChanges;
use super::body_deflate::{self, Effort};

/// The changes since each last sync asked about, for one state of a document: in the order the
/// document holds them, and as a set.
#[derive(Debug, Default)]
pub(crate) struct LackingCounts(RefCell<HashMap<Vec<ChangeHash>, Since>>);

#[derive(Debug)]
struct Since {
    ordered: Vec<ChangeHash>,
    set: HashSet<ChangeHash>,
    /// The kept bytes of every change since, if all are kept.
    kept: OnceCell<Option<KeptSince>>,
}

#[derive(Debug, Clone, Copy)]
struct KeptSince {
    bytes: usize,
    /// What DEFLATE leaves of a sample of them, as a share.
    deflated_share: f64,
}

/// The bytes of the changes a peer lacks, as kept, and as an estimate of what they come to
/// compressed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct LackingBytes {
    pub(crate) plain: usize,
    pub(crate) deflated: usize,
}

/// The compressed share of the changes since a last sync is measured on at most this many of
/// their bytes: a bounded cost per state.
const SAMPLE_BYTES: usize = 64 << 10;

/// The sample is taken from this many stretches of equal bytes across the changes, each a run
/// of adjacent changes (as DEFLATE meets them in a reply) of at most an equal share of
/// [`SAMPLE_BYTES`]. Only the newest, as it was, measured a day of short repeated notes ending
/// in a few long incompressible ones at the share of the long ones: twice their real size,
/// more than the roster, which went whole instead (82 KB for 46 KB of changes).
const SAMPLE_STRETCHES: usize = 8;

/// What a walk back from a peer's heads through the changes since its last sync met: the ones
/// among them it reached, and the changes outside them where it stopped.
struct Walk {
    reached: HashSet<ChangeHash>,
    stopped_at: HashSet<ChangeHash>,
}

impl LackingCounts {
    /// How many changes of `doc` are not ancestors of `heads`, for a peer whose last sync was
    /// `since`. Exact when every ancestor of `since` is an ancestor of `heads` (a peer's last sync
    /// is a state it held); otherwise it may count too few, which only changes which reply a
    /// peer gets, never what it holds afterwards.
    pub(crate) fn count(&self, doc: &Automerge, heads: &[ChangeHash], since: &[ChangeHash]) -> usize {
        self.with_since(doc, since, |after| after.set.len() - walk(doc, heads, &after.set).reached.len())
    }

    /// The changes of `doc` that are not ancestors of `heads`, in the order `doc` holds them, as
    /// `get_changes_meta(heads)` lists them: from the list since `since` when the walk shows every
    /// head of `since` is an ancestor of `heads` (then nothing before `since` is lacking), else
    /// from Automerge.
    pub(crate) fn list(
        &self,
        doc: &Automerge,
        heads: &[ChangeHash],
        since: &[ChangeHash],
    ) -> Vec<ChangeHash> {
        let exact = self.with_since(doc, since, |after| {
            let walk = walk(doc, heads, &after.set);
            since
                .iter()
                .all(|h| walk.stopped_at.contains(h))
                .then(|| after.ordered.iter().filter(|h| !walk.reached.contains(*h)).copied().collect())
        });
        exact.unwrap_or_else(|| doc.get_changes_meta(heads).into_iter().map(|change| change.hash).collect())
    }

    /// The kept bytes of the changes of `doc` that are not ancestors of `heads`, counted as
    /// [`LackingCounts::count`] counts them; `None` if one of them, or of the changes since
    /// `since`, is not kept.
    pub(crate) fn bytes(
        &self,
        doc: &Automerge,
        heads: &[ChangeHash],
        since: &[ChangeHash],
        kept: &KeptChanges,
    ) -> Option<LackingBytes> {
        self.with_since(doc, since, |after| {
            let all = *after.kept.get_or_init(|| kept_since(&after.ordered, kept));
            let all = all?;
            let reached = walk(doc, heads, &after.set).reached;
            let plain = all.bytes.checked_sub(kept.bytes_of_all(&reached)?)?;
            // Truncation of an estimate: exact to a byte is not needed.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
            let deflated = (plain as f64 * all.deflated_share).ceil() as usize;
            Some(LackingBytes { plain, deflated })
        })
    }

    fn with_since<T>(&self, doc: &Automerge, since: &[ChangeHash], read: impl FnOnce(&Since) -> T) -> T {
        let mut key = since.to_vec();
        key.sort_unstable();
        let mut memo = self.0.borrow_mut();
        let after = memo.entry(key).or_insert_with(|| {
            let ordered: Vec<ChangeHash> =
                doc.get_changes_meta(since).into_iter().map(|change| change.hash).collect();
            Since { set: ordered.iter().copied().collect(), ordered, kept: OnceCell::new() }
        });
        read(after)
    }
}

/// The kept bytes of `ordered`, and the share DEFLATE leaves of a sample spread across them
/// (all of them when they are at most [`SAMPLE_BYTES`]).
fn kept_since(ordered: &[ChangeHash], kept: &KeptChanges) -> Option<KeptSince> {
    let bytes = kept.bytes_of_all(ordered)?;
    let quota = SAMPLE_BYTES / SAMPLE_STRETCHES;
    let mut taken = [0_usize; SAMPLE_STRETCHES];
    let mut sample = Vec::new();
    let mut at = 0_usize;
    for hash in ordered {
        let change = kept.bytes_of(hash)?;
        // Which stretch of the bytes this change starts in.
        let stretch = (at.saturating_mul(SAMPLE_STRETCHES) / bytes.max(1)).min(SAMPLE_STRETCHES - 1);
        if bytes <= SAMPLE_BYTES {
            sample.extend_from_slice(change);
        } else if taken[stretch] < quota {
            // A change longer than a stretch's share (a roster imported whole) is sampled by
            // its start: what it compresses to is what its first kilobytes do.
            let part = &change[..change.len().min(quota - taken[stretch])];
            sample.extend_from_slice(part);
            taken[stretch] += part.len();
        }
        at += change.len();
    }
    let deflated = body_deflate::compress(&sample, Effort::Light).map_or(sample.len(), |z| z.len());
    #[allow(clippy::cast_precision_loss)]
    let deflated_share = if sample.is_empty() { 1.0 } else { deflated as f64 / sample.len() as f64 };
    Some(KeptSince { bytes, deflated_share })
}

/// Walks back from `heads` through `after`'s changes.
fn walk(doc: &Automerge, heads: &[ChangeHash], after: &HashSet<ChangeHash>) -> Walk {
    let mut reached = HashSet::new();
    let mut stopped_at = HashSet::new();
    let mut to_visit = heads.to_vec();
    while let Some(hash) = to_visit.pop() {
        if !after.contains(&hash) {
            stopped_at.insert(hash);
        } else if reached.insert(hash) {
            to_visit.extend(doc.get_change_meta_by_hash(&hash).map(|change| change.deps).unwrap_or_default());
        }
    }
    Walk { reached, stopped_at }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use automerge::transaction::Transactable;
    use automerge::{ActorId, ROOT};

    use super::*;

    fn edit(doc: &mut Automerge, key: &str) {
        let mut tx = doc.transaction();
        tx.put(ROOT, key, 1).unwrap();
        tx.commit();
    }

    #[test]
    fn each_peer_lacks_what_the_others_made_since_their_common_last_sync() {
        let mut relay = Automerge::new().with_actor(ActorId::from([1; 16]));
        for i in 0..5 {
            edit(&mut relay, &format!("base-{i}"));
        }
        let since = relay.get_heads();
        let mut phones: Vec<Automerge> =
            (2..6u8).map(|i| relay.fork().with_actor(ActorId::from([i; 16]))).collect();
        for (n, phone) in phones.iter_mut().enumerate() {
            for i in 0..=n {
                edit(phone, &format!("phone-{n}-{i}"));
            }
        }
        for phone in &mut phones {
            relay.merge(phone).unwrap();
        }
        edit(&mut relay, "after-all");
        let counts = LackingCounts::default();
        for phone in &phones {
            let expected = relay.get_changes_meta(&phone.get_heads()).len();
            assert_eq!(counts.count(&relay, &phone.get_heads(), &since), expected);
        }
        assert_eq!(counts.0.borrow().len(), 1, "the changes since the common last sync are listed once");
        assert_eq!(counts.count(&relay, &since, &since), relay.get_changes_meta(&since).len());
        assert_eq!(counts.count(&relay, &relay.get_heads(), &since), 0);
        assert_eq!(
            counts.count(&relay, &phones[0].get_heads(), &[]),
            relay.get_changes_meta(&phones[0].get_heads()).len()
        );
    }

    #[test]
    fn the_list_a_peer_lacks_is_automerges_whatever_last_sync_it_announces() {
        let mut relay = Automerge::new().with_actor(ActorId::from([1; 16]));
        edit(&mut relay, "base");
        let since = relay.get_heads();
        let mut phone = relay.fork().with_actor(ActorId::from([2; 16]));
        edit(&mut phone, "phone");
        let mut other = relay.fork().with_actor(ActorId::from([3; 16]));
        for i in 0..4 {
            edit(&mut other, &format!("other-{i}"));
        }
        relay.merge(&mut phone).unwrap();
        relay.merge(&mut other).unwrap();
        let hashes = |heads: &[ChangeHash]| -> Vec<ChangeHash> {
            relay.get_changes_meta(heads).into_iter().map(|c| c.hash).collect()
        };
        let lists = LackingCounts::default();
        assert_eq!(lists.list(&relay, &phone.get_heads(), &since), hashes(&phone.get_heads()));
        assert_eq!(lists.list(&relay, &since, &since), hashes(&since));
        assert_eq!(lists.list(&relay, &relay.get_heads(), &since), Vec::<ChangeHash>::new());
        // A last sync the peer never held (another phone's heads): not taken on trust.
        let bogus = other.get_heads();
        assert_eq!(lists.list(&relay, &phone.get_heads(), &bogus), hashes(&phone.get_heads()));
    }

    /// A day of short repeated notes, then a few long ones that do not compress: the estimate is
    /// near what the changes compress to, not the long ones' share applied to all.
    #[test]
    fn the_compressed_estimate_follows_all_the_changes_not_only_the_newest() {
        let mut relay = Automerge::new().with_actor(ActorId::from([1; 16]));
        edit(&mut relay, "base");
        let since = relay.get_heads();
        let mut phone = relay.fork().with_actor(ActorId::from([2; 16]));
        let mut kept = KeptChanges::default();
        let mut all = Vec::new();
        let mut seed = 7_u32;
        for i in 0..113 {
            let note: String = if i < 65 {
                "老人独居，行动不便，需要送药上楼，请敲门三次后等待两分钟。".repeat(12)
            } else {
                (0..400)
                    .map(|_| {
                        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                        char::from_u32(0x4e00 + (seed >> 8) % 20_000).unwrap()
                    })
                    .collect()
            };
            let mut tx = phone.transaction();
            tx.put(ROOT, format!("note-{i}"), note).unwrap();
            tx.commit();
            let change = phone.get_last_local_change().unwrap();
            all.extend_from_slice(change.raw_bytes());
            kept.keep(change.hash(), change.raw_bytes().to_vec());
        }
        relay.merge(&mut phone).unwrap();
        assert!(all.len() > 2 * SAMPLE_BYTES, "more than the sample: {}", all.len());
        let real = body_deflate::compress(&all, Effort::Light).unwrap().len();
        let estimate = LackingCounts::default().bytes(&relay, &since, &since, &kept).unwrap().deflated;
        #[allow(clippy::cast_precision_loss)]
        let ratio = estimate as f64 / real as f64;
        assert!((0.7..1.4).contains(&ratio), "estimated {estimate} B for {real} B compressed");
    }

    #[test]
    fn each_peer_lacks_the_kept_bytes_of_what_the_others_made_and_none_if_one_is_not_kept() {
        let mut relay = Automerge::new().with_actor(ActorId::from([1; 16]));
        edit(&mut relay, "base");
        let since = relay.get_heads();
        let mut kept = KeptChanges::default();
        let mut phones = Vec::new();
        for n in 2..6u8 {
            let mut phone = relay.fork().with_actor(ActorId::from([n; 16]));
            for i in 0..usize::from(n) {
                edit(&mut phone, &format!("phone-{n}-{i}"));
                let change = phone.get_last_local_change().unwrap();
                kept.keep(change.hash(), change.raw_bytes().to_vec());
            }
            phones.push(phone);
        }
        for phone in &mut phones {
            relay.merge(phone).unwrap();
        }
        let lists = LackingCounts::default();
        for phone in &phones {
            let lacking: Vec<ChangeHash> =
                relay.get_changes_meta(&phone.get_heads()).into_iter().map(|c| c.hash).collect();
            let plain = kept.bytes_of_all(&lacking).unwrap();
            let bytes = lists.bytes(&relay, &phone.get_heads(), &since, &kept).unwrap();
            assert_eq!(bytes.plain, plain, "the others' changes, less its own");
            assert!(bytes.deflated > 0 && bytes.deflated <= plain, "{bytes:?}");
        }
        assert_eq!(lists.0.borrow().len(), 1, "summed once for the common last sync");
        // A change the relay did not keep (a coordinator's edit on the dashboard): not counted.
        edit(&mut relay, "dashboard");
        let lists = LackingCounts::default();
        assert_eq!(lists.bytes(&relay, &phones[0].get_heads(), &since, &kept), None);
    }
}
