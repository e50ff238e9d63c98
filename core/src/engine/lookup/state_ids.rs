//! The ids of a lookup's states, end to end in one string, found by a
//! hash of (plan node, id).
//!
//! A lookup over a large context or a large table makes a state for every
//! entity it meets, a million of them and more. One allocation per id made
//! dropping them the slowest part of a cancelled lookup (a second for a
//! million, with PostgreSQL waiting for the unwinding to finish before it
//! reports the cancel); here they cost a few large buffers.

use crate::engine::text_list::TextList;
use rustc_hash::FxHashMap as HashMap;
use rustc_hash::FxHasher;
use std::hash::{Hash, Hasher};

/// No state: the end of a hash chain.
const NONE: usize = usize::MAX;

#[derive(Default)]
pub(super) struct StateIds {
    /// Per state: its id.
    ids: TextList,
    /// Per state: its plan node.
    nodes: Vec<usize>,
    /// Hash of (node, id) → the newest state with that hash.
    heads: HashMap<u64, usize>,
    /// Per state: the next older state with the same hash, or [`NONE`].
    older: Vec<usize>,
}

fn key(node: usize, id: &str) -> u64 {
    let mut h = FxHasher::default();
    node.hash(&mut h);
    id.hash(&mut h);
    h.finish()
}

impl StateIds {
    /// The id of state `s`.
    pub(super) fn id(&self, s: usize) -> &str {
        self.ids.get(s)
    }

    /// The state of `id` at plan node `node`, if there is one.
    pub(super) fn find(&self, node: usize, id: &str) -> Option<usize> {
        let mut s = *self.heads.get(&key(node, id))?;
        while s != NONE {
            if self.nodes[s] == node && self.id(s) == id {
                return Some(s);
            }
            s = self.older[s];
        }
        None
    }

    /// Adds a state for `id` at `node` (the caller found none) and returns
    /// its number: the number of states added before it.
    pub(super) fn add(&mut self, node: usize, id: &str) -> usize {
        let s = self.ids.len();
        self.ids.push(id);
        self.nodes.push(node);
        let older = self.heads.insert(key(node, id), s).unwrap_or(NONE);
        self.older.push(older);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_found_per_node() {
        let mut ids = StateIds::default();
        assert_eq!(ids.add(0, "a"), 0);
        assert_eq!(ids.add(1, "a"), 1);
        assert_eq!(ids.add(0, ""), 2);
        assert_eq!(ids.add(0, "bc"), 3);
        assert_eq!(ids.find(0, "a"), Some(0));
        assert_eq!(ids.find(1, "a"), Some(1));
        assert_eq!(ids.find(0, ""), Some(2));
        assert_eq!(ids.find(0, "bc"), Some(3));
        assert_eq!(ids.find(1, "bc"), None);
        assert_eq!(ids.find(0, "b"), None);
        assert_eq!((ids.id(0), ids.id(1), ids.id(2), ids.id(3)), ("a", "a", "", "bc"));
    }

    #[test]
    fn colliding_hashes_are_told_apart() {
        let mut ids = StateIds::default();
        let a = ids.add(0, "x");
        // Force a chain: a second state under the first one's hash.
        let b = ids.ids.len();
        ids.ids.push("y");
        ids.nodes.push(0);
        let head = ids.heads.insert(key(0, "x"), b).unwrap();
        ids.older.push(head);
        assert_eq!(ids.find(0, "x"), Some(a));
        assert_eq!(ids.find(0, "y"), None, "only reachable under its own hash");
    }
}
