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

/// The first eight bytes of `id`, zero-padded, as a big-endian number:
/// ordered as the ids are wherever two prefixes differ.
fn prefix(id: &str) -> u64 {
    let mut bytes = [0u8; 8];
    let n = id.len().min(8);
    bytes[..n].copy_from_slice(&id.as_bytes()[..n]);
    u64::from_be_bytes(bytes)
}

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

    /// Sorts `states` by (plan node, id) ascending. Each state is compared
    /// by a key made once, its node and the first eight bytes of its id
    /// (zero-padded: a shorter id sorts first), and by the whole id only
    /// where those are equal. A lookup sorts up to millions of states, and
    /// comparing ids through the buffer at every step was a third of a
    /// large lookup's time. Polls for cancellation as it sorts.
    pub(super) fn sort(&self, states: &mut [usize], scratch: &mut Vec<(usize, u64, usize)>) {
        scratch.clear();
        scratch.extend(states.iter().map(|&s| (self.nodes[s], prefix(self.id(s)), s)));
        crate::interrupt::sort_unstable_by(scratch, |a, b| {
            (a.0, a.1).cmp(&(b.0, b.1)).then_with(|| self.id(a.2).cmp(self.id(b.2)))
        });
        for (s, k) in states.iter_mut().zip(scratch.iter()) {
            *s = k.2;
        }
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
    fn states_sort_by_node_then_id() {
        let mut ids = StateIds::default();
        let words = ["b", "a", "", "abcdefgh", "abcdefghZ", "abcdefgh\0", "abcdefgA", "a\0", "ab", "10", "9", "100000000", "10000000"];
        for (i, w) in words.iter().enumerate() {
            ids.add(i % 2, w);
        }
        let mut states: Vec<usize> = (0..words.len()).collect();
        let mut scratch = Vec::new();
        ids.sort(&mut states, &mut scratch);
        let mut want: Vec<usize> = (0..words.len()).collect();
        want.sort_by(|&a, &b| (a % 2, words[a]).cmp(&(b % 2, words[b])));
        assert_eq!(states, want);
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
