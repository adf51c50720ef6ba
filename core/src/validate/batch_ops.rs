//! Which operations a batch's changes hold, looked up by actor and counter: a change of an actor
//! holds the operations from its start op to its max op. Asked once per operation and per field a
//! batch writes; a scan of the batch per question made a 20,000-change batch cost 400 million
//! comparisons (30 s of a core with the document locked).

use std::collections::HashMap;

use automerge::{ActorId, Change, ObjId};

/// The batch's operations, as each actor's ranges of counters.
#[derive(Debug, Default)]
pub(super) struct BatchOps {
    /// Each actor's changes' start ops, sorted, each with the highest max op of the changes
    /// starting there or before.
    ranges: HashMap<ActorId, Vec<(u64, u64)>>,
}

impl BatchOps {
    /// The operations `changes` hold.
    pub(super) fn of(changes: &[Change]) -> Self {
        let mut ranges: HashMap<ActorId, Vec<(u64, u64)>> = HashMap::new();
        for change in changes {
            ranges
                .entry(change.actor_id().clone())
                .or_default()
                .push((change.start_op().get(), change.max_op()));
        }
        Self::from_ranges(ranges)
    }

    /// Each actor's (start op, max op) of its changes, in any order.
    fn from_ranges(mut ranges: HashMap<ActorId, Vec<(u64, u64)>>) -> Self {
        for list in ranges.values_mut() {
            list.sort_unstable();
            let mut highest = 0;
            for (_, max) in list.iter_mut() {
                highest = highest.max(*max);
                *max = highest;
            }
        }
        Self { ranges }
    }

    /// Whether operation `counter` of `actor` is one of the batch's: some change of the actor
    /// starting at or before it ends at or after it (ranges a forged batch makes overlap too).
    pub(super) fn hold(&self, counter: u64, actor: &ActorId) -> bool {
        let Some(list) = self.ranges.get(actor) else { return false };
        let starting_before = list.partition_point(|&(start, _)| start <= counter);
        starting_before > 0 && list[starting_before - 1].1 >= counter
    }

    /// Whether the object or value `id` was made by one of the batch's operations.
    pub(super) fn made(&self, id: &ObjId) -> bool {
        match id {
            ObjId::Id(counter, actor, _) => self.hold(*counter, actor),
            ObjId::Root => false,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, ROOT};

    use super::*;

    #[test]
    fn an_operation_is_held_exactly_when_a_change_of_its_actor_covers_its_counter() {
        let mut doc = AutoCommit::new().with_actor(ActorId::from([1; 16]));
        doc.put(ROOT, "a", 1).unwrap();
        doc.commit();
        let first = doc.get_heads();
        doc.put(ROOT, "b", 2).unwrap();
        doc.put(ROOT, "c", 3).unwrap();
        doc.commit();
        doc.put(ROOT, "d", 4).unwrap();
        doc.commit();
        let later = doc.get_changes(&first);
        let ops = BatchOps::of(&later);
        let me = ActorId::from([1; 16]);
        let held: Vec<u64> = (0..=6).filter(|&n| ops.hold(n, &me)).collect();
        assert_eq!(held, [2, 3, 4], "ops 2 and 3 (second change), 4 (third); not 1, before the batch");
        assert!(!ops.hold(2, &ActorId::from([2; 16])));
        assert!(!ops.made(&ObjId::Root));
        // Overlapping ranges (a forged batch): any that covers the counter counts.
        let forged = BatchOps::from_ranges(HashMap::from([(me.clone(), vec![(3, 4), (1, 9)])]));
        assert!(forged.hold(8, &me) && forged.hold(1, &me) && !forged.hold(10, &me));
    }
}
