//! How many of something each caller holds now (live streams, syncs in progress, bytes of request
//! bodies), for the caps per device and per person: a count per key, and no entry for a key whose
//! count is back to nothing, so the map holds only callers with something in hand.

use std::collections::HashMap;
use std::hash::Hash;

/// A count per key; a key counted down to zero leaves the map.
#[derive(Debug)]
pub struct CountsByKey<K>(HashMap<K, usize>);

impl<K> Default for CountsByKey<K> {
    fn default() -> Self {
        Self(HashMap::new())
    }
}

impl<K: Hash + Eq> CountsByKey<K> {
    /// What `key` holds now.
    pub fn of(&self, key: &K) -> usize {
        self.0.get(key).copied().unwrap_or(0)
    }

    /// One more for `key`.
    pub fn add(&mut self, key: K) {
        self.add_many(key, 1);
    }

    /// `n` more for `key` (bytes held, say).
    pub fn add_many(&mut self, key: K, n: usize) {
        if n > 0 {
            *self.0.entry(key).or_default() += n;
        }
    }

    /// One fewer for `key`; at zero it leaves the map.
    pub fn remove(&mut self, key: &K) {
        self.remove_many(key, 1);
    }

    /// `n` fewer for `key`; at zero it leaves the map.
    pub fn remove_many(&mut self, key: &K, n: usize) {
        if let Some(count) = self.0.get_mut(key) {
            *count = count.saturating_sub(n);
            if *count == 0 {
                self.0.remove(key);
            }
        }
    }

    /// Keys that hold something.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no key holds anything.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_counted_back_to_nothing_leaves_no_entry() {
        let mut counts = CountsByKey::default();
        counts.add("a");
        counts.add("a");
        counts.add("b");
        assert_eq!((counts.of(&"a"), counts.of(&"b"), counts.len()), (2, 1, 2));
        counts.remove(&"a");
        counts.remove(&"b");
        counts.remove(&"c");
        assert_eq!((counts.of(&"a"), counts.of(&"b"), counts.len()), (1, 0, 1));
        counts.remove(&"a");
        assert!(counts.is_empty());
        counts.add_many("a", 5);
        counts.add_many("b", 0);
        counts.remove_many(&"a", 3);
        assert_eq!((counts.of(&"a"), counts.len()), (2, 1));
        counts.remove_many(&"a", 7);
        assert!(counts.is_empty());
    }
}
