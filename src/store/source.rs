//! [`TupleSource`] over the `rbac.tuples` and `rbac.attributes` tables,
//! read with direct index scans (see [`super::index_scan`]) in the calling
//! statement's snapshot: a check sees its own transaction's earlier writes,
//! never another transaction's uncommitted ones, and under REPEATABLE READ
//! answers from the transaction snapshot. Nothing is written, so checks work
//! in read-only transactions and on hot standbys. Reads go through a
//! [`ReadCache`] that is only ever shared between calls whose snapshots see
//! the same data (see [`super::read_cache`]).

use std::cell::RefCell;
use std::collections::HashSet;
use std::thread::LocalKey;

use notion_rbac_core::engine::{ReverseHit, TupleSource};
use notion_rbac_core::model::Schema;
use notion_rbac_core::tuple::{ObjectRef, SubjectRef, Value};
use notion_rbac_core::{Error, Result};

use super::index_scan::{attributes_col as a, tuples_col as t, IndexScan};
use super::packed::{EntityTuples, PackedRows, Row, RowsBuilder, SubjectTuples};
use super::read_cache::{remember_read, ReadCache};

/// An entity with at most this many tuples is read whole, in one scan, the
/// first time a check touches it; its relations are then answered from
/// memory. A page (parent, workspace, a few grants) costs one index scan
/// instead of one per relation. Larger entities (a workspace's member list)
/// are read relation by relation, with point probes.
const SMALL_ENTITY: usize = 16;

/// A subject with at most this many tuples naming it in entities of one
/// type is read whole for that type through `tuples_by_subject` the first
/// time a probe into a large entity of the type names it: a check asks
/// about one subject throughout, so its probes into a workspace's owners
/// and admins, or into the groups of a nested chain, are then answered from
/// memory, one index scan for each entity type. Per entity type, because a
/// user shared on hundreds of pages is still in a few groups and one
/// workspace; and a read of one type does not take in the rest (in the
/// benchmark's mix of cold checks a read costs 26,000 instructions instead
/// of 37,000, and the subject reads of a check 10% fewer in all).
const SMALL_SUBJECT: usize = 16;

/// Per type (see the maps below), how often it turned out small or large
/// in this backend, and the reads of it not tried since (see
/// [`worth_prefetching`]).
type Sizes = RefCell<rustc_hash::FxHashMap<Box<str>, (u32, u32, u32)>>;

thread_local! {
    /// Entity types: types that are usually large are not prefetched
    /// (reading 16 rows only to give up would cost more than the probes it
    /// saves).
    static ENTITY_SIZES: Sizes = RefCell::new(Default::default());
    /// Subjects, the same way, by `subject type\0entity type` (a subject is
    /// read per entity type: see [`SMALL_SUBJECT`]).
    static SUBJECT_SIZES: Sizes = RefCell::new(Default::default());
}

/// A type found usually large is still tried once in this many reads, so
/// that the statistics follow data that changes (or a backend whose first
/// checks met the few large ones).
const RETRY_EVERY: u32 = 64;

fn worth_prefetching(sizes: &'static LocalKey<Sizes>, ty: &str) -> bool {
    sizes.with(|m| match m.borrow_mut().get_mut(ty) {
        Some((small, large, skipped)) if *large > *small / 4 + 1 => {
            *skipped = skipped.wrapping_add(1);
            *skipped % RETRY_EVERY == 0
        }
        _ => true,
    })
}

fn record_size(sizes: &'static LocalKey<Sizes>, ty: &str, small: bool) {
    sizes.with(|m| {
        let mut m = m.borrow_mut();
        // A known type (every read but the first of each) allocates nothing.
        if !m.contains_key(ty) {
            m.insert(ty.into(), (0, 0, 0));
        }
        let e = m.get_mut(ty).expect("just inserted");
        // Saturating halving keeps the statistics recent.
        if e.0 + e.1 >= 1024 {
            *e = (e.0 / 2, e.1 / 2, e.2);
        }
        if small { e.0 += 1 } else { e.1 += 1 }
    });
}

/// Builds a cache key from its parts, joined with NUL (no stored text can
/// contain it), into a reused buffer.
fn key_of<'k>(buf: &'k mut String, parts: &[&str]) -> &'k str {
    buf.clear();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            buf.push('\0');
        }
        buf.push_str(p);
    }
    buf.as_str()
}

/// Reads tuples and attributes for one SQL call, through a [`ReadCache`]
/// (the backend's, or one for this call only). Scans are opened lazily, on
/// first use, and closed when the source is dropped.
pub struct IndexSource<'a> {
    schema: &'a Schema,
    cache: &'a mut ReadCache,
    /// Reused buffer for building cache keys without allocating.
    key: String,
    /// Reused buffers for packing rows.
    buf: RowsBuilder,
    /// `tuples_pkey`, for reads by any prefix of its six columns.
    pkey: Option<IndexScan>,
    /// `tuples_by_entity_key`, for reading small entities whole (`None`
    /// inside: the index does not exist yet, see [`IndexScan::open_hashed`]).
    by_entity_key: Option<Option<IndexScan>>,
    /// The same index keyed on by relation and subject relation (a large
    /// entity's subjects, or its subject sets alone), and by the whole
    /// tuple (a point probe); `None` inside: the index is an older
    /// version's, keyed by the hash alone.
    by_entity_relation: Option<Option<IndexScan>>,
    by_entity_tuple: Option<Option<IndexScan>>,
    /// Reused buffer for the `type:id` a hashed index is keyed by, and for
    /// the key of a subject's size statistics (see `small_subject`).
    hashed: String,
    /// `tuples_subject_sets` (before 0.18.0; `None` inside: dropped).
    sets: Option<Option<IndexScan>>,
    /// `tuples_by_subject`, for reading small subjects whole where
    /// `tuples_by_subject_key` is missing (before 0.19.0).
    by_subject: Option<IndexScan>,
    /// `tuples_by_subject_key` keyed on by entity type, for reading small
    /// subjects whole (`None` inside: the index does not exist).
    by_subject_key: Option<Option<IndexScan>>,
    /// Reverse reads, one walk per (subject type, entity type, relation).
    walks: Vec<ReverseWalk>,
    attribute: Option<IndexScan>,
    by_attribute: Option<IndexScan>,
}

/// The buffers an [`IndexSource`] builds keys and rows in, handed from
/// call to call (growing them afresh in every cold check showed in its
/// profile). A nested call finds none and makes its own.
#[derive(Default)]
struct Buffers {
    key: String,
    buf: RowsBuilder,
    hashed: String,
}

thread_local! {
    static BUFFERS: std::cell::Cell<Option<Buffers>> = const { std::cell::Cell::new(None) };
}

impl Drop for IndexSource<'_> {
    fn drop(&mut self) {
        let kept = Buffers {
            key: std::mem::take(&mut self.key),
            buf: std::mem::take(&mut self.buf),
            hashed: std::mem::take(&mut self.hashed),
        };
        // Not kept when a call grew them unusually (a key is a few names
        // and ids; a read of a large entity's subjects can be thousands of
        // rows).
        if kept.key.capacity() <= 4096 && kept.hashed.capacity() <= 4096 && kept.buf.room() <= 65_536 {
            BUFFERS.with(|b| b.set(Some(kept)));
        }
    }
}

impl<'a> IndexSource<'a> {
    pub fn new(schema: &'a Schema, cache: &'a mut ReadCache) -> Self {
        let Buffers { key, buf, hashed } = BUFFERS.with(|b| b.take()).unwrap_or_default();
        IndexSource {
            schema,
            cache,
            key,
            buf,
            pkey: None,
            by_entity_key: None,
            by_entity_relation: None,
            by_entity_tuple: None,
            hashed,
            sets: None,
            by_subject: None,
            by_subject_key: None,
            walks: Vec::new(),
            attribute: None,
            by_attribute: None,
        }
    }
}

impl IndexSource<'_> {
    /// The read cache this source reads through: for answers derived from
    /// its reads ([`ReadCache::recall`], [`ReadCache::remember`]); a cache
    /// of one call when caching is off, which keeps nothing past the call.
    pub fn cache(&mut self) -> &mut ReadCache {
        self.cache
    }
}

fn open_pkey() -> IndexScan {
    IndexScan::open(
        c"tuples",
        c"tuples_pkey",
        &[t::ENTITY_TYPE, t::ENTITY_ID, t::RELATION, t::SUBJECT_TYPE, t::SUBJECT_ID, t::SUBJECT_RELATION],
    )
}

/// The subject columns, as [`Row::subject`] reads them.
const SUBJECT_COLUMNS: [i32; 3] = [t::SUBJECT_TYPE, t::SUBJECT_ID, t::SUBJECT_RELATION];

/// `tuples_by_entity_key`'s key columns after the hash (0.18.0 on).
const BY_RELATION: [i32; 2] = [t::RELATION, t::SUBJECT_RELATION];
const BY_TUPLE: [i32; 4] = [t::RELATION, t::SUBJECT_RELATION, t::SUBJECT_TYPE, t::SUBJECT_ID];

/// A scan of `tuples_by_entity_key` keyed on by `then` (opened on first
/// use), or `None` when the installed index is not keyed that way.
fn entity_key_scan<'s>(slot: &'s mut Option<Option<IndexScan>>, then: &[i32]) -> Option<&'s mut IndexScan> {
    slot.get_or_insert_with(|| IndexScan::open_hashed(c"tuples", c"tuples_by_entity_key", (t::ENTITY_TYPE, t::ENTITY_ID), then))
        .as_mut()
}

/// A scan of `tuples_by_subject_key` (0.19.0 on) keyed on by `then`
/// (opened on first use), or `None` when there is no such index: callers
/// then read through `tuples_by_subject`.
fn subject_key_scan<'s>(slot: &'s mut Option<Option<IndexScan>>, then: &[i32]) -> Option<&'s mut IndexScan> {
    slot.get_or_insert_with(|| IndexScan::open_hashed(c"tuples", c"tuples_by_subject_key", (t::SUBJECT_TYPE, t::SUBJECT_ID), then))
        .as_mut()
}

/// The `type:id` a hashed index is keyed by, into a reused buffer.
fn hashed_name<'b>(buf: &'b mut String, ty: &str, id: &str) -> &'b str {
    buf.clear();
    buf.push_str(ty);
    buf.push(':');
    buf.push_str(id);
    buf.as_str()
}

/// Whether the scan's current row is `entity`'s: rows of other entities
/// that share its hash are skipped.
fn of_entity(entity: &ObjectRef) -> impl FnMut(&mut IndexScan) -> bool + '_ {
    |scan| scan.text_is(t::ENTITY_ID, &entity.id) && scan.text_is(t::ENTITY_TYPE, &entity.ty)
}

/// Whether the scan's current row names the subject `ty:id`: rows of
/// other subjects that share its hash are skipped.
fn of_subject<'s>(ty: &'s str, id: &'s str) -> impl FnMut(&mut IndexScan) -> bool + 's {
    move |scan| scan.text_is(t::SUBJECT_ID, id) && scan.text_is(t::SUBJECT_TYPE, ty)
}

/// Reads `columns` of the rows the scan is positioned on that `belongs`
/// accepts, at most `most` of them: the rows, and whether they were all.
fn read_at_most(
    scan: &mut IndexScan,
    columns: &[i32],
    most: usize,
    buf: &mut RowsBuilder,
    mut belongs: impl FnMut(&mut IndexScan) -> bool,
) -> (PackedRows, bool) {
    buf.clear();
    let mut read = 0;
    while scan.next(false) {
        if !belongs(scan) {
            continue;
        }
        if read == most {
            return (buf.finish(columns.len()), false);
        }
        buf.push(scan, columns);
        read += 1;
    }
    (buf.finish(columns.len()), true)
}

/// Every row of a prefix scan belongs to what it was keyed by.
fn every_row(_: &mut IndexScan) -> bool {
    true
}

/// Reverse walks kept open at once (a lookup's edges each have one).
const WALKS: usize = 8;

/// Index rows a walk reads past before it searches the index again: a
/// descent of `tuples_by_subject` costs about as much as reading a few
/// dozen rows along a leaf page.
const WALK_SKIP: usize = 24;

/// The same where sections are read through `tuples_by_subject_key`,
/// whose descents cost about half as much (bench/rls.sql's lookup of
/// 1,000 pages under one page: 24 rows 1.43 ms, 12 1.38, 6 1.36; its lookup
/// of 100,000 pages the same within noise).
const WALK_SKIP_KEYED: usize = 8;

/// While reading on does not pay, a walk searches so that the next read
/// can try it again once in this many reads at first (doubling after each
/// trial that fails).
const PROBE_EVERY: u32 = 16;

/// Reverse reads — the tuples `entity_type:?#relation@subject_type:id` —
/// for one (subject type, entity type, relation), through
/// `tuples_by_subject` (subject type, subject id, entity type, relation,
/// …). Asked for ascending ids, as a lookup asks for one height's
/// subjects, it reads on along the index from where the previous read
/// stopped instead of descending from the root for each id, as long as the
/// rows in between are few; otherwise, or for an id not above the last,
/// it searches `tuples_by_subject` again (so that the next read can read
/// on), or — while reading on does not pay — reads the id's section
/// alone, through `tuples_by_subject_key` where it exists, whose 8-byte
/// hash makes a descent about half as costly as one through the text
/// columns (see [`ReverseWalk::search_pays`]). Either way it reads the same
/// rows in the same snapshot.
struct ReverseWalk {
    subject_type: String,
    entity_type: String,
    relation: String,
    scan: IndexScan,
    /// `tuples_by_subject_key` keyed on by entity type and relation, for
    /// a section read alone (`None` inside: the index does not exist).
    keyed: Option<Option<IndexScan>>,
    /// Reused buffer for the `type:id` that index is keyed by.
    name: String,
    /// The subject id whose rows were read last, and whether the scan is
    /// on the first row past them and can be read on (not after a read of
    /// one section alone).
    last: String,
    positioned: bool,
    /// Whether the scan is on an unread row (false: the type's rows ended).
    on_row: bool,
    /// Reads in a row that found the next id too far to read on to;
    /// reads so far.
    far: u8,
    calls: u32,
    /// How often reading on has reached the next id lately, in 1/1024ths
    /// (a moving average of the tries): see [`ReverseWalk::search_pays`].
    reached: u32,
    /// While reading on does not pay, one search in this many is made so
    /// that the next read can try it again.
    probe_every: u32,
}

impl ReverseWalk {
    fn new(subject_type: &str, entity_type: &str, relation: &str) -> ReverseWalk {
        ReverseWalk {
            subject_type: subject_type.to_owned(),
            entity_type: entity_type.to_owned(),
            relation: relation.to_owned(),
            scan: IndexScan::open(c"tuples", c"tuples_by_subject", &[t::SUBJECT_TYPE, t::SUBJECT_ID, t::ENTITY_TYPE, t::RELATION]),
            keyed: None,
            name: String::new(),
            last: String::new(),
            positioned: false,
            on_row: false,
            far: 0,
            calls: 0,
            reached: 1024,
            probe_every: PROBE_EVERY,
        }
    }

    fn serves(&self, subject_type: &str, entity_type: &str, relation: &str) -> bool {
        self.subject_type == subject_type && self.entity_type == entity_type && self.relation == relation
    }

    /// Where the current row is against (`id`, this walk's entity type
    /// and relation).
    fn position(&mut self, id: &str) -> std::cmp::Ordering {
        self.scan
            .text_cmp(t::SUBJECT_ID, id)
            .then_with(|| self.scan.text_cmp(t::ENTITY_TYPE, &self.entity_type))
            .then_with(|| self.scan.text_cmp(t::RELATION, &self.relation))
    }

    /// The (entity id, subject relation) of every tuple of subject `id`.
    fn read(&mut self, id: &str, buf: &mut RowsBuilder) -> PackedRows {
        self.calls = self.calls.wrapping_add(1);
        if self.positioned && self.last.as_str() < id {
            // Read on to the section of (id, entity type, relation).
            if self.skip_to(id) {
                self.far = 0;
                self.reached += (1024 - self.reached) / 8;
                self.probe_every = PROBE_EVERY;
                return self.read_here(id, buf);
            }
            if self.scan.text_is(t::SUBJECT_ID, id) {
                // Many rows of this subject come before the section
                // (another entity type or relation): read it by its key.
                return self.read_section(id, buf);
            }
            self.far = self.far.saturating_add(1);
            self.reached -= self.reached / 8;
        }
        if !self.search_pays() {
            return self.read_section(id, buf);
        }
        self.scan.rekey_from(&[&self.subject_type], Some(id));
        self.on_row = self.scan.next(false);
        if self.skip_to(id) {
            self.read_here(id, buf)
        } else {
            self.read_section(id, buf)
        }
    }

    /// Whether to search the index in subject order — which lets the next
    /// read read on, but costs more than a read of the section alone (the
    /// search takes in the rest of its leaf page) — rather than read the
    /// section alone. It is made while reading on pays, and now and then
    /// (a trial) to find out whether it has started to.
    ///
    /// Whether it pays: through `tuples_by_subject`, while fewer than three
    /// reads in a row failed to read on (a section costs about a search
    /// there). Through the hashed index a section costs about half a
    /// search, and a search pays only when the reads on it enables save
    /// more than that: a run of reads on when most of them reach their
    /// id. Four in five was the best threshold measured (bench/rls.sql's
    /// lookups at 1M rows: 1,000 pages under one page, 30% faster than
    /// without the index; 100,000 pages of a hundred trees, the same).
    fn search_pays(&mut self) -> bool {
        let pays = if subject_key_scan(&mut self.keyed, &KEYED_BY).is_some() {
            self.reached >= READ_ON_PAYS
        } else {
            self.far < 3
        };
        if pays {
            return true;
        }
        if self.calls % self.probe_every == 0 {
            // A trial: the next one is twice as far off if it fails too.
            self.probe_every = (self.probe_every * 2).min(1024);
            return true;
        }
        false
    }

    /// Reads past the rows before the section of (id, entity type,
    /// relation), at most [`WALK_SKIP`] of them ([`WALK_SKIP_KEYED`] once
    /// sections are read through the hashed index); whether the scan got there
    /// (or past, or to the end of the type's rows).
    fn skip_to(&mut self, id: &str) -> bool {
        let most = if matches!(self.keyed, Some(Some(_))) { WALK_SKIP_KEYED } else { WALK_SKIP };
        for _ in 0..most {
            if !self.on_row || self.position(id) != std::cmp::Ordering::Less {
                return true;
            }
            self.on_row = self.scan.next(false);
        }
        !self.on_row || self.position(id) != std::cmp::Ordering::Less
    }

    /// Adds the current row as a reverse hit (entity id, subject relation).
    fn hit(&mut self, buf: &mut RowsBuilder) {
        buf.push(&mut self.scan, &HIT_COLUMNS);
    }

    /// Reads the section of (id, entity type, relation) the scan is on (if
    /// it is on it), leaving the scan on the first row past it.
    fn read_here(&mut self, id: &str, buf: &mut RowsBuilder) -> PackedRows {
        buf.clear();
        while self.on_row && self.position(id) == std::cmp::Ordering::Equal {
            self.hit(buf);
            self.on_row = self.scan.next(false);
        }
        // The rest of `id`'s rows (other entity types and relations) are
        // passed on the way to the next id.
        self.last.clear();
        self.last.push_str(id);
        self.positioned = true;
        buf.finish(HIT_COLUMNS.len())
    }

    /// Reads the section of (id, entity type, relation) by its full key;
    /// the walk cannot be read on afterwards.
    fn read_section(&mut self, id: &str, buf: &mut RowsBuilder) -> PackedRows {
        self.positioned = false;
        self.on_row = false;
        buf.clear();
        if let Some(keyed) = subject_key_scan(&mut self.keyed, &KEYED_BY) {
            keyed.rekey_hashed(hashed_name(&mut self.name, &self.subject_type, id), &[&self.entity_type, &self.relation], None);
            return read_at_most(keyed, &HIT_COLUMNS, usize::MAX, buf, of_subject(&self.subject_type, id)).0;
        }
        self.scan.rekey(&[&self.subject_type, id, &self.entity_type, &self.relation]);
        while self.scan.next(false) {
            self.hit(buf);
        }
        buf.finish(HIT_COLUMNS.len())
    }
}

/// How often reading on must reach the next id (in 1/1024ths) for a
/// search in subject order to pay (see [`ReverseWalk::search_pays`]).
const READ_ON_PAYS: u32 = 820;

/// `tuples_by_subject_key`'s key columns after the hash, as a walk reads
/// a section through it.
const KEYED_BY: [i32; 2] = [t::ENTITY_TYPE, t::RELATION];

/// What a reverse walk reads of each row: (entity id, subject relation).
const HIT_COLUMNS: [i32; 2] = [t::ENTITY_ID, t::SUBJECT_RELATION];

fn reverse_hit(p: Row<'_>) -> ReverseHit {
    ReverseHit { entity_id: p.field(0).to_owned(), subject_relation: p.field(1).to_owned() }
}


impl IndexSource<'_> {
    /// Whether `entity` is small (read whole, on first use, into the
    /// cache's `entities` under `self.key`). False if it is large or not
    /// worth trying.
    fn small_entity(&mut self, entity: &ObjectRef) -> bool {
        let key = key_of(&mut self.key, &[&entity.ty, &entity.id]);
        if let Some(small) = self.cache.entities.get(key).map(Option::is_some) {
            self.cache.hit();
            return small;
        }
        // Not when the rows would not be kept (see `ReadCache::admit`):
        // probes then read less.
        if !worth_prefetching(&ENTITY_SIZES, &entity.ty) || self.cache.call_spent() {
            return false;
        }
        self.cache.miss();
        let columns = [t::RELATION, t::SUBJECT_TYPE, t::SUBJECT_ID, t::SUBJECT_RELATION];
        let (rows, small) = match entity_key_scan(&mut self.by_entity_key, &[]) {
            Some(scan) => {
                scan.rekey_hashed(hashed_name(&mut self.hashed, &entity.ty, &entity.id), &[], None);
                read_at_most(scan, &columns, SMALL_ENTITY, &mut self.buf, of_entity(entity))
            }
            None => {
                let scan = self.pkey.get_or_insert_with(open_pkey);
                scan.rekey(&[&entity.ty, &entity.id]);
                read_at_most(scan, &columns, SMALL_ENTITY, &mut self.buf, every_row)
            }
        };
        record_size(&ENTITY_SIZES, &entity.ty, small);
        if self.cache.admit(rows.len().max(1)) {
            remember_read(self.cache, |c| &mut c.entities, &self.key, small.then_some(rows));
            small
        } else {
            // Not kept (a tiny limit, or this call's share is spent):
            // answer by probes instead.
            false
        }
    }

    /// Whether `subject` is small in entities of `entity_type` (every
    /// tuple naming it in one of them read whole, on first use, into the
    /// cache's `subject_rows` under `self.key`). False if it is large there
    /// or not worth trying.
    fn small_subject(&mut self, subject: &SubjectRef, entity_type: &str) -> bool {
        let key = key_of(&mut self.key, &[&subject.ty, &subject.id, entity_type]);
        if let Some(small) = self.cache.subject_rows.get(key).map(Option::is_some) {
            self.cache.hit();
            return small;
        }
        // Sizes are kept per (subject type, entity type).
        let sizes = key_of(&mut self.hashed, &[&subject.ty, entity_type]);
        if !worth_prefetching(&SUBJECT_SIZES, sizes) || self.cache.call_spent() {
            return false;
        }
        self.cache.miss();
        let columns = [t::ENTITY_ID, t::RELATION, t::SUBJECT_RELATION];
        let (rows, small) = match subject_key_scan(&mut self.by_subject_key, &[t::ENTITY_TYPE]) {
            Some(scan) => {
                scan.rekey_hashed(hashed_name(&mut self.hashed, &subject.ty, &subject.id), &[entity_type], None);
                read_at_most(scan, &columns, SMALL_SUBJECT, &mut self.buf, of_subject(&subject.ty, &subject.id))
            }
            None => {
                let scan = self.by_subject.get_or_insert_with(|| {
                    IndexScan::open(c"tuples", c"tuples_by_subject", &[t::SUBJECT_TYPE, t::SUBJECT_ID, t::ENTITY_TYPE])
                });
                scan.rekey(&[&subject.ty, &subject.id, entity_type]);
                read_at_most(scan, &columns, SMALL_SUBJECT, &mut self.buf, every_row)
            }
        };
        record_size(&SUBJECT_SIZES, key_of(&mut self.hashed, &[&subject.ty, entity_type]), small);
        if self.cache.admit(rows.len().max(1)) {
            remember_read(self.cache, |c| &mut c.subject_rows, &self.key, small.then_some(rows));
            small
        } else {
            false
        }
    }

    /// The subjects of `entity#relation` for an entity too large to read
    /// whole — all of them, or (`sets_only`) the subject sets alone through
    /// the partial index that holds nothing else — through the cache.
    fn large_entity_subjects(&mut self, sets_only: bool, entity: &ObjectRef, relation: &str, out: &mut Vec<SubjectRef>) {
        let key = key_of(&mut self.key, &[&entity.ty, &entity.id, relation]);
        let cached = if sets_only { &self.cache.subject_sets } else { &self.cache.subjects };
        if let Some(found) = cached.get(key) {
            out.extend(found.iter().map(|s| s.subject(0)));
            self.cache.hit();
            return;
        }
        self.cache.miss();
        let found = match entity_key_scan(&mut self.by_entity_relation, &BY_RELATION) {
            // Subject sets are the rows whose subject relation is not
            // empty: in the index, after every plain subject.
            Some(scan) => {
                scan.rekey_hashed(hashed_name(&mut self.hashed, &entity.ty, &entity.id), &[relation], sets_only.then_some(""));
                read_at_most(scan, &SUBJECT_COLUMNS, usize::MAX, &mut self.buf, of_entity(entity)).0
            }
            // An older version's indexes (before ALTER EXTENSION UPDATE),
            // or this one's not usable yet: the partial index of subject
            // sets where it still exists, else the primary key.
            None => {
                let sets = match sets_only {
                    true => self
                        .sets
                        .get_or_insert_with(|| {
                            IndexScan::try_open(c"tuples", c"tuples_subject_sets", &[t::ENTITY_TYPE, t::ENTITY_ID, t::RELATION])
                        })
                        .as_mut(),
                    false => None,
                };
                let (scan, is_set): (&mut IndexScan, fn(&mut IndexScan) -> bool) = match sets {
                    Some(scan) => (scan, every_row),
                    None if sets_only => (self.pkey.get_or_insert_with(open_pkey), |scan| !scan.text_is(t::SUBJECT_RELATION, "")),
                    None => (self.pkey.get_or_insert_with(open_pkey), every_row),
                };
                scan.rekey(&[&entity.ty, &entity.id, relation]);
                read_at_most(scan, &SUBJECT_COLUMNS, usize::MAX, &mut self.buf, is_set).0
            }
        };
        out.extend(found.iter().map(|s| s.subject(0)));
        if self.cache.admit(found.len().max(1)) {
            if sets_only {
                remember_read(self.cache, |c| &mut c.subject_sets, &self.key, found);
            } else {
                remember_read(self.cache, |c| &mut c.subjects, &self.key, found);
            }
        }
    }

    /// The tuples of the small entity last found by [`Self::small_entity`].
    fn entity_rows(&self) -> &EntityTuples {
        self.cache.entities.get(self.key.as_str()).and_then(|e| e.as_ref()).expect("small entity just read")
    }

    fn subject_rows(&self) -> &SubjectTuples {
        self.cache.subject_rows.get(self.key.as_str()).and_then(|e| e.as_ref()).expect("small subject just read")
    }
}

impl TupleSource for IndexSource<'_> {
    fn subjects(&mut self, entity: &ObjectRef, relation: &str, out: &mut Vec<SubjectRef>) -> Result<()> {
        self.cache.note_read(&entity.ty, &entity.id);
        if self.small_entity(entity) {
            out.extend(self.entity_rows().iter().filter(|r| r.field(0) == relation).map(|r| r.subject(1)));
            return Ok(());
        }
        self.large_entity_subjects(false, entity, relation, out);
        Ok(())
    }

    fn contains(&mut self, entity: &ObjectRef, relation: &str, subject: &SubjectRef) -> Result<bool> {
        // The answer is one row's presence: a write of it names the entity.
        self.cache.note_read(&entity.ty, &entity.id);
        if self.small_entity(entity) {
            return Ok(self.entity_rows().iter().any(|r| r.field(0) == relation && r.is_subject(1, subject)));
        }
        if self.small_subject(subject, &entity.ty) {
            return Ok(self
                .subject_rows()
                .iter()
                .any(|r| r.field(0) == entity.id && r.field(1) == relation && r.field(2) == subject.relation));
        }
        let key = key_of(&mut self.key, &[&entity.ty, &entity.id, relation, &subject.ty, &subject.id, &subject.relation]);
        if let Some(&found) = self.cache.contains.get(key) {
            self.cache.hit();
            return Ok(found);
        }
        self.cache.miss();
        let found = match entity_key_scan(&mut self.by_entity_tuple, &BY_TUPLE) {
            Some(scan) => {
                scan.rekey_hashed(hashed_name(&mut self.hashed, &entity.ty, &entity.id), &[relation, &subject.relation, &subject.ty, &subject.id], None);
                let mut of_entity = of_entity(entity);
                let mut found = false;
                while !found && scan.next(false) {
                    found = of_entity(scan);
                }
                found
            }
            None => {
                let scan = self.pkey.get_or_insert_with(open_pkey);
                scan.rekey(&[&entity.ty, &entity.id, relation, &subject.ty, &subject.id, &subject.relation]);
                scan.next(false)
            }
        };
        if self.cache.admit(1) {
            remember_read(self.cache, |c| &mut c.contains, &self.key, found);
        }
        Ok(found)
    }

    fn subject_sets(&mut self, entity: &ObjectRef, relation: &str, out: &mut Vec<SubjectRef>) -> Result<()> {
        self.cache.note_read(&entity.ty, &entity.id);
        if self.small_entity(entity) {
            out.extend(
                self.entity_rows()
                    .iter()
                    .filter(|r| r.field(0) == relation && !r.field(3).is_empty())
                    .map(|r| r.subject(1)),
            );
            return Ok(());
        }
        self.large_entity_subjects(true, entity, relation, out);
        Ok(())
    }

    fn reverse(&mut self, subject: &ObjectRef, entity_type: &str, relation: &str, out: &mut Vec<ReverseHit>) -> Result<()> {
        self.cache.note_read(&subject.ty, &subject.id);
        let key = key_of(&mut self.key, &[&subject.ty, &subject.id, entity_type, relation]);
        if let Some(found) = self.cache.reverse.get(key) {
            out.extend(found.iter().map(reverse_hit));
            self.cache.hit();
            return Ok(());
        }
        self.cache.miss();
        let walk = match self.walks.iter().position(|w| w.serves(&subject.ty, entity_type, relation)) {
            Some(i) => &mut self.walks[i],
            None => {
                if self.walks.len() == WALKS {
                    self.walks.remove(0);
                }
                self.walks.push(ReverseWalk::new(&subject.ty, entity_type, relation));
                self.walks.last_mut().expect("just pushed")
            }
        };
        let found = walk.read(&subject.id, &mut self.buf);
        out.extend(found.iter().map(reverse_hit));
        if self.cache.admit(found.len().max(1)) {
            remember_read(self.cache, |c| &mut c.reverse, &self.key, found);
        }
        Ok(())
    }

    fn attribute(&mut self, entity: &ObjectRef, name: &str) -> Result<Option<Value>> {
        self.cache.note_read(&entity.ty, &entity.id);
        let key = key_of(&mut self.key, &[&entity.ty, &entity.id, name]);
        if let Some(found) = self.cache.attributes.get(key) {
            let found = found.clone();
            self.cache.hit();
            return Ok(found);
        }
        self.cache.miss();
        let scan = self.attribute.get_or_insert_with(|| {
            IndexScan::open(c"attributes", c"attributes_pkey", &[a::ENTITY_TYPE, a::ENTITY_ID, a::ATTRIBUTE])
        });
        scan.rekey(&[&entity.ty, &entity.id, name]);
        let json = if scan.next(false) { scan.jsonb(a::VALUE) } else { None };
        let value = match json {
            None => None,
            Some(json) => {
                let ty = self
                    .schema
                    .entity(&entity.ty)
                    .and_then(|e| e.attribute(name))
                    .map(|d| d.ty)
                    .ok_or_else(|| Error::internal(format!("attribute {entity}${name} is stored but not declared")))?;
                Some(Value::from_json(&json, ty)?)
            }
        };
        if self.cache.admit(1) {
            remember_read(self.cache, |c| &mut c.attributes, &self.key, value.clone());
        }
        Ok(value)
    }

    fn entities_with_attribute(&mut self, entity_type: &str, name: &str, out: &mut Vec<String>) -> Result<()> {
        self.cache.note_read_all();
        // Not cached: lookups call it once per permission, and its answer
        // can be as large as the table.
        let scan = self
            .by_attribute
            .get_or_insert_with(|| IndexScan::open(c"attributes", c"attributes_by_name", &[a::ENTITY_TYPE, a::ATTRIBUTE]));
        scan.rekey(&[entity_type, name]);
        while scan.next(false) {
            out.push(scan.text(a::ENTITY_ID));
        }
        Ok(())
    }

    fn subject_ids_of_type(&mut self, subject_type: &str, out: &mut Vec<String>) -> Result<()> {
        self.cache.note_read_all();
        // Rare (lookup-subject's "everyone" candidates) and not cached: one
        // pass over the subject index's range for the type.
        let mut scan = IndexScan::open(c"tuples", c"tuples_by_subject", &[t::SUBJECT_TYPE]);
        scan.rekey(&[subject_type]);
        let mut seen = HashSet::new();
        while scan.next(false) {
            if scan.text(t::SUBJECT_RELATION).is_empty() {
                let id = scan.text(t::SUBJECT_ID);
                if seen.insert(id.clone()) {
                    out.push(id);
                }
            }
        }
        Ok(())
    }
}
