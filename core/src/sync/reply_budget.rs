//! A reply cut to what the phone's link has lately carried.
//!
//! A phone whose requests the link has dropped asks for replies of at most a budget of bytes
//! (its request budget, 2–64 KiB: a quarter of a second to eight seconds of a landing's 64 kbit/s). A reply is
//! sent whole or not at all: the round a volunteer lacks after a day away, or a roster whose
//! notes were rewritten by the hundred kilobytes, takes longer to cross than a window of signal
//! on the stairs, and a reply cut off by the link brought nothing. Window after window the phone
//! asked again and got the same reply, never in sync.
//!
//! So when neither the changes the phone lacks nor the whole document fit the budget, the reply
//! carries the first of those changes in the order the document holds them (each one's
//! dependencies before it), as many as fit and at least one. The phone applies and stores them,
//! and its next request, from its new heads, gets the next ones: each window of signal keeps what
//! it carried. A phone that holds nothing of the document gets its changes from the first on.
//! The reply still says the relay's heads, so the phone knows there is more.
//!
//! The budget bounds the whole answer, not each document's reply: the relay makes the replies
//! of a request's documents one after another, each with what the ones before it left
//! ([`ReplyBudget::after`]). A document whose next change does not fit what is left gets only
//! the relay's heads in that answer, and its piece in a later one.
//!
//! Replies that fit go as before, whole document or changes, whichever is smaller; so does the
//! whole document when it is no bigger than the piece would be (a roster imported as one change
//! saves, compressed in columns, smaller than that change).

use automerge::sync::{Message, SyncDoc};
use automerge::{Automerge, ChangeHash, ReadDoc};

use super::{PeerState, SavedOnce};

/// The request header in which a phone asks for replies of at most so many bytes. A relay that
/// does not know it answers as before.
pub const REPLY_BUDGET_HEADER: &str = "x-doorstep-reply-bytes";

/// The least budget a relay honours: a smaller one is raised to it (a reply still carries at
/// least one change, whatever the budget).
pub const LEAST_REPLY_BUDGET: usize = 1024;

/// The budget a request's header value asks for, raised to [`LEAST_REPLY_BUDGET`]; `None` if the
/// value is not a whole number of bytes.
pub fn parse_reply_budget(value: &[u8]) -> Option<usize> {
    std::str::from_utf8(value).ok()?.trim().parse::<usize>().ok().map(|b| b.max(LEAST_REPLY_BUDGET))
}

/// What one document's reply may carry of a phone's budget, which bounds the whole answer: the
/// replies of a request's documents are made one after another, each with what the ones before
/// it left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyBudget {
    bytes: usize,
    /// The reply carries the first change the phone lacks even when it alone is over `bytes`:
    /// true until an earlier reply of the answer has taken some of the budget, so that every
    /// answer brings something and a change bigger than the budget still arrives.
    at_least_one: bool,
}

impl ReplyBudget {
    /// The budget a phone asked for (see [`parse_reply_budget`]), for the first reply of its
    /// answer.
    pub fn asked(bytes: usize) -> Self {
        Self { bytes, at_least_one: true }
    }

    /// What is left for the next reply once the answer's earlier replies took `spent` bytes.
    /// Replies under [`LEAST_REPLY_BUDGET`] are taken as acknowledgements, not pieces: the next
    /// reply still carries at least one change. Past that, a document whose next change does not
    /// fit what is left gets none in this answer, only the relay's heads; it gets its piece in a
    /// later answer, once the documents before it lack nothing.
    pub fn after(self, spent: usize) -> Self {
        Self {
            bytes: self.bytes.saturating_sub(spent),
            at_least_one: self.at_least_one && spent < LEAST_REPLY_BUDGET,
        }
    }

    /// The most bytes of changes the reply may carry.
    pub fn bytes(self) -> usize {
        self.bytes
    }
}

/// The reply to a peer that asked for replies of at most its budget, when what it lacks does
/// not fit: the first changes it lacks, as many as fit, at least one; or the whole document, when
/// no piece can be smaller than it. `None` when the normal reply should go: the peer set no
/// budget, its heads are not known, it lacks nothing, or its changes or the whole document fit
/// the budget. `since` is the last sync the peer announced (what it lacks is listed from
/// `saved`'s list since then, shared by every reply from this state of the document).
///
/// A peer whose heads are not all in `doc` holds work we lack (a message refused, or still to
/// come in pieces): what it holds of ours is then taken as its heads we know and its last sync,
/// which it held. That may list changes it already has (received since its last sync and built
/// on), which costs bytes of the budget, never a change: the reply stays within what its link
/// carries instead of going whole.
pub(crate) fn reply_within(
    doc: &Automerge,
    state: &mut PeerState,
    saved: &SavedOnce<'_>,
    since: &[ChangeHash],
) -> Option<Option<Message>> {
    let budget = state.reply_budget()?;
    let known = |h: &ChangeHash| doc.get_change_meta_by_hash(h).is_some();
    let mut theirs = state.their_heads()?.to_vec();
    if !theirs.iter().all(known) {
        theirs.retain(known);
        theirs.extend(since.iter().filter(|h| known(h)));
        theirs.sort_unstable();
        theirs.dedup();
    }
    let lacking = saved.lacking.list(doc, &theirs, since);
    if lacking.is_empty() {
        return None;
    }
    let bytes_of = |hash: &ChangeHash| -> Option<Vec<u8>> {
        match saved.kept.and_then(|kept| kept.bytes_of(hash)) {
            Some(kept) => Some(kept.to_vec()),
            None => doc.get_change_by_hash(hash).map(|c| c.raw_bytes().to_vec()),
        }
    };
    let (limit, at_least_one) = (budget.bytes(), budget.at_least_one);
    let mut prefix = Vec::new();
    let mut size = 0usize;
    // The first change that did not fit, by its size.
    let mut next = None;
    for hash in &lacking {
        let bytes = bytes_of(hash)?;
        if size + bytes.len() > limit && (!prefix.is_empty() || !at_least_one) {
            next = Some(bytes.len());
            break;
        }
        size += bytes.len();
        prefix.push(bytes);
    }
    if next.is_none() && size <= limit {
        return None;
    }
    let whole = saved.whole(doc).len();
    if whole <= limit {
        return None;
    }
    // No piece can be smaller than the whole document when the piece, or a change it would
    // leave for later, is not: a roster imported as one change saves (compressed, in columns)
    // several times smaller than that change. The whole document then goes at once, unless the
    // answer's earlier replies took the budget: then nothing goes in this answer.
    if size >= whole || next.is_some_and(|n| n >= whole) {
        if at_least_one {
            return state.reads_whole().then(|| super::whole_message(doc, state, saved));
        }
        prefix.clear();
    }
    let mut message = state.without_changes(|state| doc.generate_sync_message(state));
    if let Some(message) = message.as_mut() {
        message.changes = prefix.into();
    }
    Some(message)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use automerge::sync::Message;
    use automerge::transaction::Transactable;
    use automerge::{ActorId, Automerge, ObjType, ROOT};

    use super::ReplyBudget;
    use crate::sync::{
        KeptChanges, MessageLimits, PeerState, SavedOnce, decode, generate, generate_sharing, receive,
        whole_document,
    };

    /// A roster of 600 households in one change, and 40 notes of 2,000 characters rewritten on
    /// it: about 240 KB of changes on a document that saves to far more than a landing's window
    /// carries.
    fn roster_with_long_notes() -> (Automerge, KeptChanges) {
        let mut relay = Automerge::new().with_actor(ActorId::from([1; 16]));
        let mut tx = relay.transaction();
        for i in 0..600 {
            let household = tx.put_object(ROOT, format!("household-{i}"), ObjType::Map).unwrap();
            tx.put(&household, "address", format!("{} 号楼 {} 单元 {}", i / 40, i % 4, 100 + i)).unwrap();
            tx.put(&household, "head", format!("张{i}")).unwrap();
        }
        tx.commit();
        let mut kept = KeptChanges::default();
        let mut volunteer = relay.fork().with_actor(ActorId::from([3; 16]));
        let mut seed = 0x9e37_79b9_u64;
        for n in 0..40 {
            let text: String = (0..2000)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    char::from_u32(0x4e00 + u32::try_from(seed % 2000).unwrap()).unwrap()
                })
                .collect();
            let mut tx = volunteer.transaction();
            tx.put(ROOT, format!("notes-{}", n % 10), text).unwrap();
            tx.commit();
            let change = volunteer.get_last_local_change().unwrap().clone();
            kept.keep(change.hash(), change.raw_bytes().to_vec());
            relay.apply_changes([change]).unwrap();
        }
        (relay, kept)
    }

    /// Syncs `phone` with `relay` request by request, the relay answering each as a fresh
    /// exchange (it keeps nothing of a peer between requests) with replies of at most `budget`;
    /// returns the changes' bytes of each reply.
    fn sync_within(
        phone: &mut Automerge,
        relay: &mut Automerge,
        kept: &KeptChanges,
        budget: Option<usize>,
    ) -> Vec<usize> {
        let mut phone_state = PeerState::new();
        let mut replies = Vec::new();
        for _ in 0..200 {
            let Some(hello) = generate(phone, &mut phone_state) else { break };
            let mut relay_state = PeerState::new();
            relay_state.set_reply_budget(budget.map(ReplyBudget::asked));
            receive(relay, &mut relay_state, decode(&hello, &MessageLimits::default()).unwrap()).unwrap();
            let saved = SavedOnce::keeping(kept);
            let Some(reply) = generate_sharing(relay, &mut relay_state, &saved) else { break };
            let mut message: Message = decode(&reply, &MessageLimits::for_replies()).unwrap();
            replies.push(message.changes.iter().map(<[u8]>::len).sum());
            whole_document::adopt(phone, &mut message, None).unwrap();
            receive(phone, &mut phone_state, message).unwrap();
            if phone.get_heads() == relay.get_heads() {
                break;
            }
        }
        replies
    }

    #[test]
    fn a_phone_that_asks_small_replies_gets_the_changes_it_lacks_in_pieces_that_fit() {
        let (mut relay, kept) = roster_with_long_notes();
        let base = relay.get_changes(&[]).first().unwrap().clone();
        let mut phone = Automerge::new().with_actor(ActorId::from([2; 16]));
        phone.apply_changes([base]).unwrap();
        let whole = relay.save().len();
        let budget = 16 << 10;
        assert!(whole > budget, "the case: the document saves to {whole} B");

        let replies = sync_within(&mut phone, &mut relay, &kept, Some(budget));
        assert_eq!(phone.get_heads(), relay.get_heads(), "in step at the end");
        assert!(replies.len() > 4, "in pieces: {replies:?}");
        assert!(replies.iter().all(|&b| b <= budget), "each piece fits: {replies:?}");

        // Without a budget, one reply, as before.
        let mut again = Automerge::new().with_actor(ActorId::from([4; 16]));
        again.apply_changes([relay.get_changes(&[]).first().unwrap().clone()]).unwrap();
        let replies = sync_within(&mut again, &mut relay, &kept, None);
        assert_eq!(replies.len(), 1, "{replies:?}");
        assert_eq!(again.get_heads(), relay.get_heads());
    }

    /// One exchange of a phone holding the roster's first change with `relay`, answered within
    /// `budget`: the bytes of changes the reply carried.
    fn one_reply_within(relay: &mut Automerge, kept: &KeptChanges, budget: ReplyBudget) -> usize {
        let mut phone = Automerge::new().with_actor(ActorId::from([2; 16]));
        phone.apply_changes([relay.get_changes(&[]).first().unwrap().clone()]).unwrap();
        let hello = generate(&phone, &mut PeerState::new()).unwrap();
        let mut relay_state = PeerState::new();
        relay_state.set_reply_budget(Some(budget));
        receive(relay, &mut relay_state, decode(&hello, &MessageLimits::default()).unwrap()).unwrap();
        let reply = generate_sharing(relay, &mut relay_state, &SavedOnce::keeping(kept)).unwrap();
        let message: Message = decode(&reply, &MessageLimits::for_replies()).unwrap();
        message.changes.iter().map(<[u8]>::len).sum()
    }

    /// Two documents of one answer lacking more than the budget: the second gets what the first
    /// left, and nothing once the first took it; after a mere acknowledgement, its piece.
    #[test]
    fn the_budget_bounds_the_whole_answer_not_each_document() {
        let (mut first, kept_first) = roster_with_long_notes();
        let (mut second, kept_second) = roster_with_long_notes();
        let asked = ReplyBudget::asked(40 << 10);

        let spent = one_reply_within(&mut first, &kept_first, asked);
        assert!(spent > 20 << 10 && spent <= 40 << 10, "the first takes its piece: {spent} B");
        let left = asked.after(spent);
        let second_got = one_reply_within(&mut second, &kept_second, left);
        assert!(
            second_got <= left.bytes(),
            "the second gets at most what is left: {second_got} B of {}",
            left.bytes()
        );
        assert!(spent + second_got <= 40 << 10, "the answer within the budget");

        let taken = asked.after(40 << 10);
        assert_eq!(one_reply_within(&mut second, &kept_second, taken), 0, "nothing left: nothing sent");

        let after_ack = asked.after(300);
        assert!(
            one_reply_within(&mut second, &kept_second, after_ack) > 0,
            "an acknowledgement takes no piece"
        );
        // A change bigger than a budget still arrives when nothing came before it.
        assert!(one_reply_within(&mut second, &kept_second, ReplyBudget::asked(1024)) > 1024);
    }

    #[test]
    fn a_phone_holding_nothing_gets_the_document_from_its_first_change_in_pieces() {
        let (mut relay, kept) = roster_with_long_notes();
        let mut phone = Automerge::new().with_actor(ActorId::from([2; 16]));
        let budget = 16 << 10;
        let replies = sync_within(&mut phone, &mut relay, &kept, Some(budget));
        assert_eq!(phone.get_heads(), relay.get_heads(), "in step at the end");
        assert!(replies.len() > 4, "in pieces: {replies:?}");
        // The first piece is the roster's one change, bigger than the budget: at least one goes.
        assert!(replies.iter().skip(1).all(|&b| b <= budget), "{replies:?}");

        // A budget the whole document fits: the whole document, once.
        let mut roomy = Automerge::new().with_actor(ActorId::from([5; 16]));
        let whole = relay.save().len();
        let replies = sync_within(&mut roomy, &mut relay, &kept, Some(whole));
        assert_eq!(replies.len(), 1, "{replies:?}");
        assert_eq!(roomy.get_heads(), relay.get_heads());
    }

    /// A roster's header and kind, two small changes, then its import: cutting after the small
    /// ones would leave a phone holding part of the document, which the import (bytes not kept:
    /// counted, one change) would then reach as that change, seven times the whole document.
    #[test]
    fn small_changes_before_one_heavier_than_the_document_do_not_make_a_piece() {
        let kept = KeptChanges::default();
        let mut roster = Automerge::new().with_actor(ActorId::from([7; 16]));
        for key in ["header", "kind"] {
            let mut tx = roster.transaction();
            tx.put(ROOT, key, "roster").unwrap();
            tx.commit();
        }
        let mut with_import = Automerge::new().with_actor(ActorId::from([1; 16]));
        with_import.merge(&mut roster).unwrap();
        let mut tx = with_import.transaction();
        for i in 0..600 {
            let household = tx.put_object(ROOT, format!("household-{i}"), ObjType::Map).unwrap();
            tx.put(&household, "address", format!("{} 号楼 {} 单元 {}", i / 40, i % 4, 100 + i)).unwrap();
        }
        tx.commit();
        let whole = with_import.save().len();
        let mut phone = Automerge::new().with_actor(ActorId::from([2; 16]));
        let replies = sync_within(&mut phone, &mut with_import, &kept, Some(whole / 2));
        assert_eq!(replies, vec![whole], "the whole document at once, not two small changes first");
        assert_eq!(phone.get_heads(), with_import.get_heads());
    }

    #[test]
    fn a_document_that_saves_smaller_than_its_first_change_goes_whole_whatever_the_budget() {
        let (relay, kept) = roster_with_long_notes();
        let mut roster = relay.fork_at(&[relay.get_changes(&[]).first().unwrap().hash()]).unwrap();
        let import = roster.get_changes(&[]).first().unwrap().raw_bytes().len();
        let whole = roster.save().len();
        assert!(whole < import, "the case: {whole} B whole, {import} B the import");
        let mut phone = Automerge::new().with_actor(ActorId::from([2; 16]));
        let replies = sync_within(&mut phone, &mut roster, &kept, Some(whole / 4));
        assert_eq!(replies, vec![whole], "the whole document, once, not the bigger change");
        assert_eq!(phone.get_heads(), roster.get_heads());
    }
}
