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

/// A state as [`StateIds::sort`] orders it.
#[derive(Clone, Copy, Default)]
struct Keyed {
    prefix: u64,
    node: u32,
    state: u32,
}

/// Room for [`StateIds::sort`], kept by a caller that sorts often.
#[derive(Default)]
pub(super) struct SortScratch {
    keyed: Vec<Keyed>,
    spare: Vec<Keyed>,
}

/// Sorts `keyed` by (node, prefix): a stable counting pass per byte, least
/// significant first, skipping bytes that every key shares (an id's
/// padding, a node number's high bytes).
fn radix_sort(keyed: &mut Vec<Keyed>, spare: &mut Vec<Keyed>) {
    if keyed.len() < 64 {
        keyed.sort_unstable_by_key(|k| (k.node, k.prefix));
        return;
    }
    spare.clear();
    spare.resize(keyed.len(), Keyed::default());
    let byte = |k: &Keyed, pass: u32| -> usize {
        if pass < 8 { (k.prefix >> (8 * pass)) as u8 as usize } else { (k.node >> (8 * (pass - 8))) as u8 as usize }
    };
    for pass in 0..12 {
        let mut counts = [0usize; 256];
        for k in keyed.iter() {
            counts[byte(k, pass)] += 1;
        }
        if counts.contains(&keyed.len()) {
            continue;
        }
        let mut next = [0usize; 256];
        let mut at = 0;
        for (n, c) in next.iter_mut().zip(counts) {
            *n = at;
            at += c;
        }
        for k in keyed.iter() {
            let b = byte(k, pass);
            spare[next[b]] = *k;
            next[b] += 1;
        }
        std::mem::swap(keyed, spare);
        crate::interrupt::poll();
    }
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

    /// Sorts `states` by (plan node, id) ascending. Each state is given a
    /// key once — its node and the first eight bytes of its id, zero-padded
    /// (a shorter id sorts first) — the keys are put in order a byte at a
    /// time (a radix sort: a lookup sorts up to millions of states, and a
    /// comparison sort through the ids was a sixth of a large lookup's
    /// time), and only states whose keys tie are compared by their whole
    /// ids. Polls for cancellation between passes.
    pub(super) fn sort(&self, states: &mut [usize], scratch: &mut SortScratch) {
        let fits = |n: usize| u32::try_from(n).is_ok();
        if !fits(self.ids.len()) || states.iter().any(|&s| !fits(self.nodes[s])) {
            // Beyond what a key holds: compare.
            crate::interrupt::sort_unstable_by(states, |&a, &b| (self.nodes[a], self.id(a)).cmp(&(self.nodes[b], self.id(b))));
            return;
        }
        let keyed = &mut scratch.keyed;
        keyed.clear();
        keyed.extend(states.iter().map(|&s| Keyed { prefix: prefix(self.id(s)), node: self.nodes[s] as u32, state: s as u32 }));
        radix_sort(keyed, &mut scratch.spare);
        // Runs of equal keys: ids that share their first eight bytes.
        let mut start = 0;
        while start < keyed.len() {
            let k = (keyed[start].node, keyed[start].prefix);
            let mut end = start + 1;
            while end < keyed.len() && (keyed[end].node, keyed[end].prefix) == k {
                end += 1;
            }
            if end - start > 1 {
                crate::interrupt::sort_unstable_by(&mut keyed[start..end], |a, b| self.id(a.state as usize).cmp(self.id(b.state as usize)));
            }
            start = end;
        }
        for (s, k) in states.iter_mut().zip(keyed.iter()) {
            *s = k.state as usize;
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
        let mut scratch = SortScratch::default();
        ids.sort(&mut states, &mut scratch);
        let mut want: Vec<usize> = (0..words.len()).collect();
        want.sort_by(|&a, &b| (a % 2, words[a]).cmp(&(b % 2, words[b])));
        assert_eq!(states, want);
    }

    #[test]
    fn many_states_sort_by_node_then_id() {
        // Past the radix sort's threshold, with ids of every length, ties
        // in the first eight bytes and nodes above one byte.
        let mut ids = StateIds::default();
        let mut words = Vec::new();
        for i in 0..5000u32 {
            let w = match i % 4 {
                0 => format!("{}", i.wrapping_mul(2_654_435_761) % 100_000),
                1 => format!("abcdefgh{}", i % 97),
                2 => format!("{:x}", i.wrapping_mul(40_503)),
                _ => String::from(["", "a", "a\0", "zz"][(i as usize / 4) % 4]),
            };
            let node = [0usize, 1, 300, 70_000][(i as usize * 7) % 4];
            if ids.find(node, &w).is_none() {
                ids.add(node, &w);
                words.push((node, w));
            }
        }
        let mut states: Vec<usize> = (0..words.len()).rev().collect();
        ids.sort(&mut states, &mut SortScratch::default());
        let mut want: Vec<usize> = (0..words.len()).collect();
        want.sort_by(|&a, &b| (words[a].0, words[a].1.as_str()).cmp(&(words[b].0, words[b].1.as_str())));
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
