//! A per-backend cache of tuple reads that is exact by construction.
//!
//! A read answered in one snapshot is reused only by a later call whose
//! snapshot sees exactly the same rows for it: the cache is keyed by
//! [`SnapshotKey`] (see [`super::snapshot_key`]); when the key changes, it
//! keeps only what the writes in between provably did not touch (below),
//! and is emptied otherwise.
//!
//! A call that may answer from the cache still takes the table locks and
//! privilege checks a query would (once per subtransaction and user; see
//! [`super::reads`]).
//!
//! What this buys: rows of one query that run the same checks (row-level
//! security), repeated checks of a read-mostly application, and the
//! workspace and group reads shared by most checks; the active schema is
//! kept with it, which saves its version probe. `notion_rbac.cache_rows`
//! bounds the size (0 turns the cache off).
//!
//! Kept beside the reads, under the same key: answers derived from them —
//! lookups' visible sets ([`ReadCache::remember`]) and what checks learnt,
//! the final results of the nodes they evaluated per subject
//! ([`ReadCache::take_checker`]), which answer a repeated check with a memo
//! probe and no read.
//!
//! When the key changes by other transactions' writes whose footprints are
//! known (see `writes`), only the reads of the entities and subjects they
//! touched go, with the lookups' answers and the check results that rest
//! on any of them ([`Deps`]); otherwise everything goes — except the
//! active schema when those writes are known to be rows of the tuples and
//! attributes only (a statement of more than 16 rows, say).

use std::any::Any;
use std::cell::RefCell;
use std::hash::{Hash, Hasher};
use std::rc::Rc;

use pgrx::pg_sys;
use rustc_hash::{FxHashMap, FxHashSet};

use notion_rbac_core::engine::{CheckOptions, Kept};
use notion_rbac_core::tuple::Value;

use super::packed::{EntityTuples, PackedRows, SubjectTuples};
use super::schema::ActiveSchema;
use super::snapshot_key::SnapshotKey;
use super::writes::Changes;
use crate::guc;

/// Reads answered in one snapshot (see the module comment), by read kind.
/// Keys join their parts with NUL, which no stored text can contain.
#[derive(Default)]
pub struct ReadCache {
    key: Option<SnapshotKey>,
    pub(super) schema: Option<Rc<ActiveSchema>>,
    /// (local transaction, subtransaction, user, roles epoch, tuple tables
    /// too) whose table locks and privilege checks are done (see
    /// `reads::guard_tables`).
    pub(super) guarded: Option<(u32, u32, pg_sys::Oid, u64, bool)>,
    /// Whole small entities by `type\0id` (`None`: known to be large).
    pub entities: FxHashMap<Box<str>, Option<EntityTuples>>,
    /// Whole small subjects in the entities of one type, by `type\0id\0entity
    /// type` (`None`: known to be large there).
    pub subject_rows: FxHashMap<Box<str>, Option<SubjectTuples>>,
    /// `type\0id\0relation` → every subject (`type, id, relation`; large
    /// entities only).
    pub subjects: FxHashMap<Box<str>, PackedRows>,
    /// `type\0id\0relation` → the subject-set subjects (large entities only).
    pub subject_sets: FxHashMap<Box<str>, PackedRows>,
    /// A point probe `type\0id\0relation\0subject type\0id\0relation`.
    pub contains: FxHashMap<Box<str>, bool>,
    /// `subject type\0id\0entity type\0relation` → reverse hits (`entity
    /// id, subject relation`).
    pub reverse: FxHashMap<Box<str>, PackedRows>,
    /// `type\0id\0attribute` → stored value.
    pub attributes: FxHashMap<Box<str>, Option<Value>>,
    /// The footprint hash of every read kept in the maps above (and maybe
    /// of some dropped since): a write that touches none of them leaves
    /// every read valid without a pass over the maps. Filled only by
    /// [`remember_read`], the one way reads enter the maps (of a cache
    /// shared between calls: a cache of one call never meets a write).
    held: FxHashSet<u64>,
    /// Answers computed from this snapshot's reads (lookups), by their
    /// maker's key, with their size in ids; see [`ReadCache::remember`].
    answers: FxHashMap<Box<str>, (Rc<dyn Any>, usize, Deps)>,
    answer_ids: usize,
    /// Hashes the kept answers' [`Deps`] hold, bounded like their ids.
    answer_deps: usize,
    /// What checks learnt, by subject text (see [`ReadCache::take_checker`]),
    /// with what it rests on.
    checkers: FxHashMap<Box<str>, (CheckOptions, Kept, Deps)>,
    /// The entities and subjects the current call has read, or answered
    /// from the cache, since it took a kept checker (see [`Deps`]).
    call_deps: Deps,
    /// Node results `checkers` hold, bounded by `limit`.
    checker_results: usize,
    /// Cached rows (tuples, probes, values), bounded by `limit`.
    rows: usize,
    /// Rows the current call has added, and whether other calls share the
    /// cache (then one call keeps at most half of it: see `admit`).
    call_rows: usize,
    shared: bool,
    limit: usize,
    pub stats: CacheStats,
}

/// The footprint hashes (`writes::footprint_hash`) of every entity and
/// subject whose tuples or attributes a kept checker's results were
/// computed from: a write whose footprint misses them all leaves the
/// results valid. [`READ_ALL`] stands for reads not keyed by one entity or
/// subject.
pub type Deps = rustc_hash::FxHashSet<u64>;

/// In [`Deps`], a read of every entity of a type (or every subject).
const READ_ALL: u64 = u64::MAX;

/// Room for noted reads a backend keeps between calls.
const CALL_DEPS_KEPT: usize = 4096;

/// Counters shown by `rbac.cache_stats()`.
#[derive(Debug, Default, Clone, Copy)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    /// Times the cache was emptied because the snapshot saw other data.
    pub invalidations: u64,
    /// Times the snapshot saw other writes and the cache dropped only what
    /// they touched (see `ReadCache::forget_touched`).
    pub kept_across_writes: u64,
    /// Times the cache was emptied because it reached its row limit.
    pub evictions: u64,
    /// Lookup answers found kept, and not.
    pub answer_hits: u64,
    pub answer_misses: u64,
    /// Checks and protected rows answered from kept check results without
    /// a read (see [`ReadCache::take_checker`]).
    pub kept_check_answers: u64,
}

impl ReadCache {
    /// Whether a read of `rows` rows may be cached: empties the maps first
    /// when it would exceed the limit (a whole-cache reset is simple, and a
    /// cache that fills up under one key is being used for a scan-like
    /// workload where recency matters little); a read larger than the whole
    /// limit is not kept at all.
    /// One call keeps at most half the limit: the rest of a call that reads
    /// more (a lookup of 100,000 pages) is scan-like, and would only empty
    /// the cache again and again, dropping what other calls share.
    #[must_use]
    pub fn admit(&mut self, rows: usize) -> bool {
        if rows > self.limit || (self.shared && self.call_rows + rows > self.call_share()) {
            return false;
        }
        self.call_rows += rows;
        if self.rows + rows > self.limit {
            self.clear_reads();
            self.stats.evictions += 1;
        }
        self.rows += rows;
        true
    }

    /// An answer [`ReadCache::remember`]ed under `key` in this snapshot
    /// view, if it is still kept.
    pub fn recall<T: 'static>(&mut self, key: &str) -> Option<Rc<T>> {
        if guc::cache_lookup_ids() == 0 {
            return None;
        }
        let found = self.answers.get(key).and_then(|(a, _, _)| Rc::clone(a).downcast::<T>().ok());
        match found {
            Some(_) => self.stats.answer_hits += 1,
            None => self.stats.answer_misses += 1,
        }
        found
    }

    /// Keeps `answer` (derived from this call's reads in this snapshot
    /// view alone, so valid as long as they are: it goes when the key
    /// changes, unless a write with a footprint touched none of them — see
    /// [`Deps`]) under `key`; `ids` is its size against
    /// `notion_rbac.cache_lookup_ids`, which also bounds the hashes of what
    /// kept answers rest on (past it, an answer rests on everything).
    /// Earlier answers are all dropped when it would not fit beside them;
    /// an answer larger than the whole bound is not kept.
    pub fn remember<T: 'static>(&mut self, key: &str, answer: Rc<T>, ids: usize) {
        let bound = guc::cache_lookup_ids();
        if ids > bound || self.key.is_none() {
            return;
        }
        if self.answer_ids + ids > bound {
            self.clear_answers();
        }
        let deps = if self.answer_deps + self.call_deps.len() <= bound {
            self.call_deps.clone()
        } else {
            Deps::from_iter([READ_ALL])
        };
        self.answer_deps += deps.len();
        if let Some((_, old, old_deps)) = self.answers.insert(key.into(), (answer, ids, deps)) {
            self.answer_ids -= old;
            self.answer_deps -= old_deps.len();
        }
        self.answer_ids += ids;
    }

    fn clear_answers(&mut self) {
        self.answers.clear();
        self.answer_ids = 0;
        self.answer_deps = 0;
    }

    /// What earlier checks of `subject` under `opts` learnt in this
    /// snapshot view: the final results of the nodes they evaluated (see
    /// `Checker::keep`). A repeated check answers from it without a read,
    /// and one that meets an earlier one's path (a common ancestor) stops
    /// there. Derived from this view's reads alone, like a kept answer, so
    /// it goes when the key changes; the compiled schema its node kinds
    /// point into is kept under the same key. Give it back with
    /// [`ReadCache::keep_checker`] after a check that succeeded.
    pub fn take_checker(&mut self, subject: &str, opts: CheckOptions) -> Kept {
        match self.checkers.remove(subject) {
            Some((kept_opts, kept, deps)) => {
                self.checker_results -= charge(&kept, &deps);
                if kept_opts == opts {
                    // What it rests on goes on with it.
                    self.add_deps(deps);
                    kept
                } else {
                    Kept::default()
                }
            }
            None => Kept::default(),
        }
    }

    /// Records that the current call read the entity or subject `ty:id`
    /// (from the tables or the cache): what it keeps rests on it.
    pub fn note_read(&mut self, ty: &str, id: &str) {
        if self.keeps_checkers() {
            self.call_deps.insert(super::writes::footprint_hash(ty, id));
        }
    }

    /// Records a read not keyed by one entity or subject (every entity of a
    /// type with an attribute, every subject of a type).
    pub fn note_read_all(&mut self) {
        if self.keeps_checkers() {
            self.call_deps.insert(READ_ALL);
        }
    }

    /// Adds what results the current call resumes from rest on (results a
    /// statement kept itself: see [`ReadCache::keep_checker`]).
    pub fn add_deps(&mut self, deps: Deps) {
        if self.call_deps.is_empty() {
            self.call_deps = deps;
        } else {
            self.call_deps.extend(deps);
        }
    }

    /// Whether [`ReadCache::keep_checker`] keeps anything: not in a cache
    /// of one call.
    pub fn keeps_checkers(&self) -> bool {
        self.key.is_some()
    }

    /// Keeps what a check of `subject` learnt (see
    /// [`ReadCache::take_checker`]); within `limit` node results in all
    /// (see [`charge`]; about half the kept checkers go when one would not
    /// fit beside them) and [`KEPT_SUBJECTS`] subjects. `reads_before`:
    /// [`ReadCache::reads`] before the check, to count it among the answers
    /// made without a read. What the results rest on is what the call
    /// noted (see [`ReadCache::note_read`]) since it took them. Hands back
    /// what it did not keep, with what it rests on: more than the whole
    /// bound, or anything in a cache of one call.
    pub fn keep_checker(&mut self, subject: &str, opts: CheckOptions, kept: Kept, reads_before: u64) -> Option<(Kept, Deps)> {
        if self.reads() == reads_before {
            self.stats.kept_check_answers += 1;
        }
        let deps = std::mem::take(&mut self.call_deps);
        if !self.keeps_checkers() {
            return Some((kept, deps));
        }
        let mut kept = kept;
        kept.trim();
        let results = charge(&kept, &deps);
        if results > self.limit {
            return Some((kept, deps));
        }
        while !self.checkers.is_empty()
            && (self.checker_results + results > self.limit || self.checkers.len() >= KEPT_SUBJECTS)
        {
            self.evict_checkers();
        }
        self.checker_results += results;
        if let Some((_, old, old_deps)) = self.checkers.insert(subject.into(), (opts, kept, deps)) {
            self.checker_results -= charge(&old, &old_deps);
        }
        None
    }

    /// Drops about half the kept checkers, chosen by a hash of the subject
    /// salted with the evictions so far. Unlike dropping them all (as the
    /// rows are) or the oldest, this keeps part of a working set a little
    /// larger than the bound, even one asked in a cycle.
    fn evict_checkers(&mut self) {
        self.stats.evictions += 1;
        let salt = self.stats.evictions;
        let mut freed = 0;
        let picked = |subject: &str, _: &(CheckOptions, Kept, Deps)| {
            let mut h = rustc_hash::FxHasher::default();
            (salt, subject).hash(&mut h);
            // The top bit: FxHash mixes its high bits best.
            h.finish() >> 63 != 0
        };
        drop_where(&mut self.checkers, picked, |(_, kept, deps)| freed += charge(kept, deps));
        self.checker_results -= freed;
    }

    fn clear_checkers(&mut self) {
        self.checkers.clear();
        self.checker_results = 0;
        self.call_deps.clear();
    }

    /// Whether this call has used its share of a shared cache: reads it
    /// makes from now on are not kept.
    pub fn call_spent(&self) -> bool {
        self.shared && self.call_rows >= self.call_share()
    }

    /// The rows one call may keep in a shared cache.
    fn call_share(&self) -> usize {
        self.limit / 2
    }

    pub fn hit(&mut self) {
        self.stats.hits += 1;
    }

    /// Tuple and attribute reads so far, from the cache or not: a call that
    /// did not change it answered from what was kept.
    pub fn reads(&self) -> u64 {
        self.stats.hits + self.stats.misses
    }

    pub fn miss(&mut self) {
        self.stats.misses += 1;
    }

    fn clear_reads(&mut self) {
        self.held.clear();
        self.entities.clear();
        self.subject_rows.clear();
        self.subjects.clear();
        self.subject_sets.clear();
        self.contains.clear();
        self.reverse.clear();
        self.attributes.clear();
        self.rows = 0;
    }

    /// Makes the cache valid for `key`: empties it if it was filled under
    /// another snapshot's view.
    pub(super) fn enter(&mut self, key: SnapshotKey, limit: usize) {
        self.limit = limit;
        self.call_rows = 0;
        // A lookup's call notes every entity it read: give that room back
        // rather than clear it on every later call.
        if self.call_deps.capacity() > CALL_DEPS_KEPT {
            self.call_deps = Deps::default();
        } else {
            self.call_deps.clear();
        }
        self.shared = true;
        if self.key.as_ref() != Some(&key) {
            // Only other transactions' writes with known footprints in
            // between: drop what they touched and keep the rest.
            let changes = self.key.as_ref().and_then(|old| key.changes_since(old));
            if let Some(Changes::Touched(touched)) = &changes {
                if !touched.is_empty() {
                    self.stats.kept_across_writes += 1;
                }
                self.forget_touched(touched);
                self.guarded = None;
                self.key = Some(key);
                self.apply_bound(limit);
                return;
            }
            if self.key.is_some() {
                self.stats.invalidations += 1;
            }
            self.clear_reads();
            self.clear_answers();
            self.clear_checkers();
            // Rows beyond footprints, but no schema write in between: the
            // compiled schema still is the active one (it saves the version
            // probe, a third of a cold point lookup's own cost).
            if !matches!(changes, Some(Changes::RowsOnly)) {
                self.schema = None;
            }
            self.guarded = None;
            self.key = Some(key);
        } else {
            self.apply_bound(limit);
        }
    }

    /// A lowered bound applies at once.
    fn apply_bound(&mut self, limit: usize) {
        if self.rows > limit {
            self.clear_reads();
            self.stats.evictions += 1;
        }
        if self.checker_results > limit {
            self.clear_checkers();
            self.stats.evictions += 1;
        }
    }

    /// Drops every read whose entity or subject (by the key's leading
    /// `type\0id`) has a footprint hash in `touched`, and, if anything was
    /// touched, the lookups' answers and the kept check results that rest on
    /// something touched (see [`Deps`]). The schema is kept: a write to
    /// rbac.schemas is never given a footprint. The row count goes down by
    /// what the dropped entries were charged, or less (a large entity's
    /// marker was charged the rows read to find it large and is uncounted
    /// as one), so the bound holds.
    fn forget_touched(&mut self, touched: &[u64]) {
        if touched.is_empty() {
            return;
        }
        let touched: FxHashSet<u64> = touched.iter().copied().collect();
        // Most writes touch nothing this backend has read: then no read
        // needs a look.
        if touched.iter().any(|t| self.held.contains(t)) {
            self.forget_touched_reads(&touched);
        }
        let stale = |deps: &Deps| deps.contains(&READ_ALL) || touched.iter().any(|t| deps.contains(t));
        let (mut freed_ids, mut freed_deps) = (0, 0);
        drop_where(&mut self.answers, |_, (_, _, deps)| stale(deps), |(_, ids, deps)| {
            freed_ids += *ids;
            freed_deps += deps.len();
        });
        self.answer_ids -= freed_ids;
        self.answer_deps -= freed_deps;
        // Kept check results stay unless they rest on something touched.
        let mut freed = 0;
        drop_where(&mut self.checkers, |_, (_, _, deps)| stale(deps), |(_, kept, deps)| freed += charge(kept, deps));
        self.checker_results -= freed;
    }

    /// The read half of [`Self::forget_touched`]: one pass over every map.
    fn forget_touched_reads(&mut self, touched: &FxHashSet<u64>) {
        let mut freed = 0;
        let mut keep = |key: &str, charge: usize| {
            let gone = touched.contains(&key_footprint(key));
            if gone {
                freed += charge;
            }
            !gone
        };
        self.entities.retain(|k, v| keep(k, v.as_ref().map_or(1, |r| r.len().max(1))));
        self.subject_rows.retain(|k, v| keep(k, v.as_ref().map_or(1, |r| r.len().max(1))));
        self.subjects.retain(|k, v| keep(k, v.len().max(1)));
        self.subject_sets.retain(|k, v| keep(k, v.len().max(1)));
        self.contains.retain(|k, _| keep(k, 1));
        self.reverse.retain(|k, v| keep(k, v.len().max(1)));
        self.attributes.retain(|k, _| keep(k, 1));
        self.rows = self.rows.saturating_sub(freed);
        self.held.retain(|h| !touched.contains(h));
    }

    /// A cache for one call only (caching off or not allowed): it still
    /// spares a call repeated reads, within a bound.
    pub(super) fn one_call() -> ReadCache {
        ReadCache { limit: ONE_CALL_ROWS, ..ReadCache::default() }
    }

    /// Makes this cache what [`Self::one_call`] makes, keeping the room its
    /// read maps have grown (a cold check fills a few of them; allocating
    /// and growing them again in every call was a visible share of its
    /// cost), unless a large call grew them past [`ONE_CALL_ROOM_KEPT`]
    /// entries: that room is given back rather than swept by every later
    /// call.
    pub(super) fn reset_one_call(&mut self) {
        let old = std::mem::replace(self, ReadCache::one_call());
        let room = old.entities.capacity()
            + old.subject_rows.capacity()
            + old.subjects.capacity()
            + old.subject_sets.capacity()
            + old.contains.capacity()
            + old.reverse.capacity()
            + old.attributes.capacity();
        if room > ONE_CALL_ROOM_KEPT {
            return;
        }
        fn emptied<T>(mut map: FxHashMap<Box<str>, T>) -> FxHashMap<Box<str>, T> {
            map.clear();
            map
        }
        self.entities = emptied(old.entities);
        self.subject_rows = emptied(old.subject_rows);
        self.subjects = emptied(old.subjects);
        self.subject_sets = emptied(old.subject_sets);
        self.contains = emptied(old.contains);
        self.reverse = emptied(old.reverse);
        self.attributes = emptied(old.attributes);
    }
}

/// Map entries a one-call cache keeps room for between calls (see
/// [`ReadCache::reset_one_call`]).
const ONE_CALL_ROOM_KEPT: usize = 4096;

/// Drops the entries `gone` picks, handing each to `freed` first (to
/// uncount what it was charged).
fn drop_where<V>(
    map: &mut FxHashMap<Box<str>, V>,
    mut gone: impl FnMut(&str, &V) -> bool,
    mut freed: impl FnMut(&V),
) {
    map.retain(|key, value| {
        let drop = gone(key, value);
        if drop {
            freed(value);
        }
        !drop
    });
}

/// The footprint hash of a read's key: its leading `type\0id`, the entity
/// (or, for reverse reads, the subject) a write of it would name.
fn key_footprint(key: &str) -> u64 {
    let mut parts = key.split('\0');
    super::writes::footprint_hash(parts.next().unwrap_or(""), parts.next().unwrap_or(""))
}

/// Keeps a read in one of the cache's maps under `key`: the only way reads
/// enter them, so that [`ReadCache::forget_touched`] knows what is held.
pub fn remember_read<V>(
    cache: &mut ReadCache,
    map: impl FnOnce(&mut ReadCache) -> &mut FxHashMap<Box<str>, V>,
    key: &str,
    value: V,
) {
    // Only a cache shared between calls meets writes that touch some of
    // its reads (`enter`); a cache of one call is dropped whole.
    if cache.shared {
        cache.held.insert(key_footprint(key));
    }
    map(cache).insert(key.into(), value);
}

/// What a kept checker counts for besides its results: the subject's map
/// entry, key and the memo's fixed part (about 700 bytes), in results'
/// worth (about 85 bytes each).
const CHECKER_OVERHEAD: usize = 8;

/// What a kept checker counts against the bound (see
/// [`ReadCache::keep_checker`]): its memo is trimmed of room reserved up
/// front before it is kept, so its results are what it holds; what they
/// rest on counts one result for every 8 hashes.
fn charge(kept: &Kept, deps: &Deps) -> usize {
    kept.len() + CHECKER_OVERHEAD + deps.len() / 8
}

/// Subjects whose checks' results a backend keeps at most (see
/// [`ReadCache::keep_checker`]).
const KEPT_SUBJECTS: usize = 4096;

/// Bound on the rows a call keeps when it does not use the shared cache.
const ONE_CALL_ROWS: usize = 200_000;

thread_local! {
    /// The backend's cache (a backend is one thread).
    pub(super) static CACHE: RefCell<ReadCache> = RefCell::new(ReadCache::default());
}

/// The cache's state for `rbac.cache_stats()`: (rows, limit, ids of kept
/// answers, kept check results, counters).
pub fn stats() -> (usize, usize, usize, usize, CacheStats) {
    CACHE.with(|c| match c.try_borrow() {
        Ok(c) => (c.rows, guc::cache_rows(), c.answer_ids, c.checker_results, c.stats),
        Err(_) => (0, guc::cache_rows(), 0, 0, CacheStats::default()),
    })
}
