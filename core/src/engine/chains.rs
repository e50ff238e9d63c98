//! Positions in a list by the hash of their key, as chains through one
//! array: an index over millions of items in a few allocations.

use std::hash::{Hash, Hasher};

use rustc_hash::FxHashMap as HashMap;
use rustc_hash::FxHasher;

/// The hash of a key made of `parts`, for [`Chains::build`] and
/// [`Chains::positions`].
pub fn key_hash(parts: &[&str]) -> u64 {
    let mut h = FxHasher::default();
    for p in parts {
        p.hash(&mut h);
    }
    h.finish()
}

/// The end of a chain.
const NONE: u32 = u32::MAX;

/// The positions of a list's items by the hash of their key, as chains
/// through one array in list order: a few allocations however many keys a
/// list has (a context's items, a lookup's answers), so that dropping it
/// (also when a cancelled call unwinds) takes no time worth mentioning.
/// (One vector per key made a million contextual attributes a million
/// allocations to free.)
pub struct Chains {
    /// Key hash → the first position with it.
    first: HashMap<u64, u32>,
    /// Per position: the next position with the same hash, or [`NONE`].
    next: Vec<u32>,
}

impl Chains {
    /// Chains over positions `0..len`, `key(i)` being the hash of item
    /// `i`'s key (polls for interrupts as it goes).
    pub fn build(len: usize, key: impl Fn(usize) -> u64) -> Chains {
        let mut first: HashMap<u64, u32> = HashMap::default();
        let mut next = vec![NONE; len];
        // Backwards, so that each chain runs in list order.
        for i in (0..len).rev() {
            crate::engine::context::poll_every(i);
            if let Some(after) = first.insert(key(i), i as u32) {
                next[i] = after;
            }
        }
        Chains { first, next }
    }

    /// The positions whose key has `hash`, in list order (callers compare
    /// the keys themselves: hashes collide).
    pub fn positions(&self, hash: u64) -> Chain<'_> {
        Chain {
            at: self.first.get(&hash).copied().unwrap_or(NONE),
            next: &self.next,
        }
    }
}

/// The positions of one hash, in list order.
pub struct Chain<'s> {
    at: u32,
    next: &'s [u32],
}

impl Iterator for Chain<'_> {
    type Item = usize;
    fn next(&mut self) -> Option<usize> {
        if self.at == NONE {
            return None;
        }
        let at = self.at as usize;
        self.at = self.next.get(at).copied().unwrap_or(NONE);
        Some(at)
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_come_in_list_order_per_hash() {
        // Hashes collide on purpose: 0 and 2 share one, 1 has its own.
        let hashes = [7u64, 9, 7];
        let chains = Chains::build(hashes.len(), |i| hashes[i]);
        assert_eq!(chains.positions(7).collect::<Vec<_>>(), [0, 2]);
        assert_eq!(chains.positions(9).collect::<Vec<_>>(), [1]);
        assert_eq!(chains.positions(8).count(), 0);
        assert_eq!(Chains::build(0, |_| 0).positions(0).count(), 0);
    }
}
