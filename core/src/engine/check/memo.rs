//! The checker's memo: final results of nodes for one subject, keyed by
//! node kind and id (see "Memo" in the module docs of [`check`](super)).

use rustc_hash::FxHashMap as HashMap;
use rustc_hash::FxHasher;
use std::hash::{Hash, Hasher};

use crate::model::{EntityDef, Member};
use crate::tuple::SubjectRef;

/// Memo key of a node kind: the entity definition's address (stable while
/// the schema is borrowed) and the member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct NodeKind {
    entity: usize,
    member: u64,
}

impl NodeKind {
    pub(super) fn new(entity: &EntityDef, member: Member) -> NodeKind {
        let member = match member {
            Member::Relation(i) => i as u64,
            Member::Attribute(i) => (1 << 32) | i as u64,
            Member::Permission(i) => (2 << 32) | i as u64,
        };
        NodeKind {
            entity: entity as *const EntityDef as usize,
            member,
        }
    }
}

/// A final result in the memo: the value and the *height* it relied on,
/// the distance from the node down to the deepest depth test that decided
/// it. At position `p` the entry gives the value a fresh evaluation gives
/// iff `p + height <= max_depth` (see "Memo" in the module docs).
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry {
    pub(super) value: bool,
    pub(super) height: u32,
    /// Made by settling: `height` is the smallest proof height (the
    /// depth-first search records the height of the proof it found first,
    /// which may be taller). Only such entries stand in for nodes while
    /// settling, where heights must be the smallest.
    pub(super) settled: bool,
}

impl Entry {
    /// Of two entries for one node (both exact, so with the same value),
    /// the one usable in more places: the lower, or a settled one (whose
    /// height is the smallest there is).
    fn better_than(&self, other: &Entry) -> bool {
        self.height < other.height || (self.settled && !other.settled)
    }
}

/// Members of the entity a `check` call is about that the memo holds
/// without an id (it is the call's entity), so without allocating: enough
/// for the members one check of an ordinary schema touches.
const ROOT_SLOTS: usize = 16;

/// Final results of nodes for one subject.
///
/// Keyed entries are stored without an allocation per entry: their ids end
/// to end in one string, found through a map from the hash of (kind, id) to
/// a chain of entries (every hit verified against the stored id, so a hash
/// collision costs time, not truth) — the same idea as the context's index.
#[derive(Default)]
pub(super) struct Memo {
    subject: Option<SubjectRef>,
    index: HashMap<u64, usize>,
    entries: Vec<Keyed>,
    /// The ids of `entries`, end to end.
    ids: String,
    /// Nodes about the entity of the current `check` call, without their
    /// id. Valid during that call only: [`Checker::check`] moves them into
    /// the keyed entries at the end when the memo is kept across calls,
    /// and drops them otherwise.
    root: [Option<(NodeKind, Entry)>; ROOT_SLOTS],
    root_len: usize,
}

/// A keyed memo entry.
struct Keyed {
    kind: NodeKind,
    /// `ids[start..end]` is the node's id.
    start: usize,
    end: usize,
    entry: Entry,
    /// The next entry with the same hash.
    next: Option<usize>,
}

/// Capacity reserved by the first keyed insert of a memo, so that a check
/// of an ordinary hierarchy grows none of the memo's buffers.
const KEYED_CAPACITY: usize = 64;

fn memo_hash(kind: NodeKind, id: &str) -> u64 {
    let mut h = FxHasher::default();
    kind.hash(&mut h);
    id.hash(&mut h);
    h.finish()
}

impl Memo {
    /// Keyed results held.
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Gives back the room reserved up front (see [`KEYED_CAPACITY`]) that
    /// few results use: for memos kept between calls, where memory counts
    /// more than a reallocation. Room left by doubling (at most as much as
    /// is used) stays, so a memo that keeps growing is not copied again.
    pub(super) fn trim(&mut self) {
        let len = self.entries.len();
        if self.entries.capacity() > 2 * len + 16 {
            self.entries.shrink_to(len + len / 2);
            self.index.shrink_to(len + len / 2);
            self.ids.shrink_to(self.ids.len() + self.ids.len() / 2);
        }
    }

    /// Forgets everything if the subject changes.
    pub(super) fn prepare(&mut self, subject: &SubjectRef) {
        self.root_len = 0;
        if self.subject.as_ref().is_some_and(|s| s != subject) {
            self.index.clear();
            self.entries.clear();
            self.ids.clear();
            self.subject = None;
        }
    }

    /// `on_root`: the node is about the entity of the current call.
    pub(super) fn get(&self, kind: NodeKind, id: &str, on_root: bool) -> Option<Entry> {
        if on_root {
            let slots = self.root.get(..self.root_len).unwrap_or_default();
            if let Some((_, e)) = slots.iter().flatten().find(|(k, _)| *k == kind) {
                return Some(*e);
            }
        }
        if self.entries.is_empty() {
            return None;
        }
        let at = self.find(memo_hash(kind, id), kind, id)?;
        self.entries.get(at).map(|k| k.entry)
    }

    fn find(&self, hash: u64, kind: NodeKind, id: &str) -> Option<usize> {
        let mut next = self.index.get(&hash).copied();
        while let Some(at) = next {
            let keyed = self.entries.get(at)?;
            if keyed.kind == kind && self.ids.get(keyed.start..keyed.end) == Some(id) {
                return Some(at);
            }
            next = keyed.next;
        }
        None
    }

    /// Records a final result; of two entries for one node (both exact, so
    /// with the same value) the one usable in more places, the lower, wins.
    pub(super) fn insert(
        &mut self,
        kind: NodeKind,
        id: &str,
        on_root: bool,
        entry: Entry,
        subject: &SubjectRef,
    ) {
        if on_root {
            let len = self.root_len;
            let slots = self.root.get_mut(..len).unwrap_or_default();
            if let Some((_, e)) = slots.iter_mut().flatten().find(|(k, _)| *k == kind) {
                if entry.better_than(e) {
                    *e = entry;
                }
                return;
            }
            if let Some(slot) = self.root.get_mut(len) {
                *slot = Some((kind, entry));
                self.root_len += 1;
                return;
            }
        }
        self.insert_keyed(kind, id, entry, subject);
    }

    #[inline(never)]
    pub(super) fn insert_keyed(&mut self, kind: NodeKind, id: &str, entry: Entry, subject: &SubjectRef) {
        if self.subject.is_none() {
            self.subject = Some(subject.clone());
        }
        let hash = memo_hash(kind, id);
        if let Some(at) = self.find(hash, kind, id) {
            if let Some(keyed) = self.entries.get_mut(at)
                && entry.better_than(&keyed.entry)
            {
                keyed.entry = entry;
            }
            return;
        }
        if self.entries.capacity() == 0 {
            self.entries.reserve(KEYED_CAPACITY);
            self.index.reserve(KEYED_CAPACITY);
            self.ids.reserve(KEYED_CAPACITY * 16);
        }
        let start = self.ids.len();
        self.ids.push_str(id);
        let at = self.entries.len();
        let next = self.index.insert(hash, at);
        self.entries.push(Keyed {
            kind,
            start,
            end: self.ids.len(),
            entry,
            next,
        });
    }

    /// Ends a `check` call about `root_id`: its entity's slots go into the
    /// keyed memo if the memo is kept, else they are dropped.
    pub(super) fn end_call(&mut self, root_id: &str, keep: bool, subject: &SubjectRef) {
        let len = std::mem::take(&mut self.root_len);
        if !keep {
            return;
        }
        for i in 0..len {
            if let Some(Some((kind, entry))) = self.root.get(i).copied() {
                self.insert_keyed(kind, root_id, entry, subject);
            }
        }
    }
}
