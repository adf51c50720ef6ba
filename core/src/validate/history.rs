//! What a change of a batch was made on: its author's previous change, and every operation it
//! names. Automerge makes a change on the state its author held, so the change follows the
//! author's previous one, and every object it writes into, every element it inserts after or
//! deletes, every value it overwrites is one its author had seen: one of the change's own
//! earlier operations or one of a change it depends on, directly or not. A crafted change can
//! name anything; Automerge applies it wherever what it names is held, and a phone that gets it
//! before what it names (nothing in the dependencies orders the two) cannot apply it.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use automerge::{ActorId, Automerge, Change, ChangeHash};

/// An operation, as its counter and actor.
pub(super) type OpRef = (u64, ActorId);

/// Most changes one batch's checks walk back through to find each author's previous change:
/// an honest phone's first change of a batch walks back through what others made since its last
/// one (a team's day: a few thousand), the rest find it among their own dependencies.
const WALK_BUDGET: usize = 200_000;

/// Most of the document's changes one batch's checks may count as not seen, summed over the
/// distinct states its changes were made on: an honest phone's batch is made on one state or a
/// few (one per sync that brought changes between its own), each missing what others made
/// since; a crafted batch of changes each made on another old state would cost the document's
/// whole history once per change.
const UNSEEN_BUDGET: usize = 2_000_000;

/// A change of the batch, already checked.
struct Checked {
    author: ActorId,
    seq: u64,
    deps: Vec<ChangeHash>,
    /// The document's changes this change depends on, directly or through the batch: what its
    /// author had seen of the document is these and their history.
    document_frontier: Vec<ChangeHash>,
}

/// The change that holds an operation.
#[derive(Clone)]
struct Owner {
    hash: ChangeHash,
    author: ActorId,
    seq: u64,
    in_batch: bool,
}

/// The document a batch is about to be applied to, and the batch's changes checked so far.
pub(super) struct History<'a> {
    doc: &'a Automerge,
    batch: HashMap<ChangeHash, Checked>,
    /// The operations of the batch's checked changes, by author: first, last, change.
    checked_ops: HashMap<ActorId, Vec<(u64, u64, ChangeHash)>>,
    /// The document's changes not in the history of a frontier, by frontier.
    unseen: HashMap<Vec<ChangeHash>, HashSet<ChangeHash>>,
    owners: HashMap<OpRef, Option<Owner>>,
    /// Changes walked through so far in this batch.
    walked: usize,
    /// The document's changes counted as not seen so far in this batch.
    counted_unseen: usize,
}

impl<'a> History<'a> {
    pub(super) fn new(doc: &'a Automerge) -> Self {
        History {
            doc,
            batch: HashMap::new(),
            checked_ops: HashMap::new(),
            unseen: HashMap::new(),
            owners: HashMap::new(),
            walked: 0,
            counted_unseen: 0,
        }
    }

    /// Records `change` as checked, for the batch's later changes.
    pub(super) fn record(&mut self, change: &Change) {
        let document_frontier = self.document_frontier(change);
        let author = change.actor_id().clone();
        self.checked_ops.entry(author.clone()).or_default().push((
            change.start_op().get(),
            change.max_op(),
            change.hash(),
        ));
        self.batch.insert(
            change.hash(),
            Checked { author, seq: change.seq(), deps: change.deps().to_vec(), document_frontier },
        );
    }

    /// Whether `change` is made on its author's previous change (numbered one less), as
    /// Automerge makes every change. Two changes of one author made on the same state number
    /// their operations alike; Automerge applied both, and then could not load the document it
    /// saved (`collector.rs` asserts): one volunteer's crafted pair made the roster unloadable
    /// for every new phone and bricked the phones that compacted it (a helper's finding).
    pub(super) fn follows_its_authors_last(&mut self, change: &Change) -> Result<(), String> {
        let (actor, seq) = (change.actor_id(), change.seq());
        if seq == 0 {
            return Err("it is numbered 0 among its author's changes; Automerge numbers them from 1, so the change was crafted".into());
        }
        if seq == 1 {
            return Ok(());
        }
        let mut to_visit: Vec<ChangeHash> = change.deps().to_vec();
        let mut seen = HashSet::new();
        while let Some(hash) = to_visit.pop() {
            if !seen.insert(hash) {
                continue;
            }
            self.count_walked(1)?;
            let (author, number, deps) = match self.batch.get(&hash) {
                Some(checked) => (checked.author.clone(), checked.seq, checked.deps.clone()),
                None => match self.doc.get_change_meta_by_hash(&hash) {
                    Some(meta) => (meta.actor.into_owned(), meta.seq, meta.deps),
                    // Missing dependencies are refused by their own check.
                    None => continue,
                },
            };
            if author == *actor {
                if number == seq - 1 {
                    return Ok(());
                }
                if number >= seq {
                    return Err(format!(
                        "it is numbered {seq} among its author's changes but depends on their change numbered {number}; Automerge never writes that, so the change was crafted"
                    ));
                }
                // An earlier change of the author: what it depends on is earlier still.
                continue;
            }
            to_visit.extend(deps);
        }
        Err(format!(
            "it is numbered {seq} among its author's changes but is not made on their change numbered {}; Automerge makes each change of an author on the one before, so the change was crafted",
            seq - 1
        ))
    }

    /// Whether the operation `named`, named by the operation numbered `counter` of `change`
    /// (as the object it writes into, the element it follows or deletes, or what it
    /// overwrites), is one the change's author had seen. Call after
    /// [`follows_its_authors_last`](Self::follows_its_authors_last) passed for `change`.
    pub(super) fn has_seen(&mut self, change: &Change, counter: u64, named: &OpRef) -> Result<(), String> {
        let (named_counter, named_author) = named;
        let author = change.actor_id();
        if named_author == author && *named_counter >= change.start_op().get() {
            if named_counter < &counter {
                return Ok(());
            }
            return Err(format!(
                "names operation {named_counter}@{named_author}, which is not before it in its own change"
            ));
        }
        let Some(owner) = self.owner(named) else {
            return Err(format!("names operation {named_counter}@{named_author}, which no change holds"));
        };
        // The author's changes are a chain, each made on the one before.
        let seen = if owner.author == *author {
            owner.seq < change.seq()
        } else if owner.in_batch {
            self.batch_history_holds(change, owner.hash)?
        } else {
            let frontier = self.document_frontier(change);
            !self.unseen_from(frontier)?.contains(&owner.hash)
        };
        if seen {
            Ok(())
        } else {
            Err(format!(
                "names operation {named_counter}@{named_author}, made in change {} which is not among what it depends on: its author had not seen it",
                owner.hash
            ))
        }
    }

    fn count_walked(&mut self, changes: usize) -> Result<(), String> {
        self.walked = self.walked.saturating_add(changes);
        if self.walked > WALK_BUDGET {
            return Err(format!(
                "checking what it was made on went through more than {WALK_BUDGET} changes; send fewer changes at once"
            ));
        }
        Ok(())
    }

    /// The change holding the operation `named`: in the batch, or in the document.
    fn owner(&mut self, named: &OpRef) -> Option<Owner> {
        if let Some(owner) = self.owners.get(named) {
            return owner.clone();
        }
        let (counter, author) = named;
        let in_batch = self.checked_ops.get(author).and_then(|ops| {
            ops.iter().find(|(first, last, _)| (first..=last).contains(&counter)).map(|(_, _, hash)| *hash)
        });
        let owner = match in_batch {
            Some(hash) => self.batch.get(&hash).map(|checked| Owner {
                hash,
                author: checked.author.clone(),
                seq: checked.seq,
                in_batch: true,
            }),
            None => {
                self.doc.hash_for_opid(&automerge::ObjId::Id(*counter, author.clone(), 0)).and_then(|hash| {
                    let meta = self.doc.get_change_meta_by_hash(&hash)?;
                    Some(Owner { hash, author: meta.actor.into_owned(), seq: meta.seq, in_batch: false })
                })
            }
        };
        self.owners.insert(named.clone(), owner.clone());
        owner
    }

    /// Whether the batch's change `hash` is `change` itself or in its history.
    fn batch_history_holds(&mut self, change: &Change, hash: ChangeHash) -> Result<bool, String> {
        let mut to_visit: Vec<ChangeHash> = change.deps().to_vec();
        let mut visited = HashSet::new();
        while let Some(next) = to_visit.pop() {
            if next == hash {
                return Ok(true);
            }
            if !visited.insert(next) {
                continue;
            }
            self.count_walked(1)?;
            if let Some(checked) = self.batch.get(&next) {
                to_visit.extend(checked.deps.iter().copied());
            }
        }
        Ok(false)
    }

    /// The document's changes `change` depends on, directly or through the batch.
    fn document_frontier(&self, change: &Change) -> Vec<ChangeHash> {
        let mut frontier = Vec::new();
        for dep in change.deps() {
            match self.batch.get(dep) {
                Some(checked) => frontier.extend(checked.document_frontier.iter().copied()),
                None => frontier.push(*dep),
            }
        }
        frontier.sort_unstable();
        frontier.dedup();
        frontier
    }

    /// The document's changes outside the history of `frontier` (Automerge's clocks find
    /// them without walking the whole history).
    fn unseen_from(&mut self, frontier: Vec<ChangeHash>) -> Result<&HashSet<ChangeHash>, String> {
        match self.unseen.entry(frontier) {
            Entry::Occupied(known) => Ok(known.into_mut()),
            Entry::Vacant(new) => {
                let unseen: HashSet<ChangeHash> =
                    self.doc.get_changes_meta(new.key()).into_iter().map(|meta| meta.hash).collect();
                self.counted_unseen = self.counted_unseen.saturating_add(unseen.len());
                if self.counted_unseen > UNSEEN_BUDGET {
                    return Err(format!(
                        "its batch's changes are made on so many earlier states of the document that checking what each had seen would take more than {UNSEEN_BUDGET} lookups; a phone makes its changes on the state it last synced, so the batch was crafted"
                    ));
                }
                Ok(new.insert(unseen))
            }
        }
    }
}
