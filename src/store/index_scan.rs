//! Direct B-tree index scans over the extension's tables.
//!
//! A check performs many small point reads ("the subjects of page:x#parent").
//! Through SPI with a kept plan one such read costs about 3–5 µs; a direct
//! index scan through the access-method API costs under 1 µs (measured, see
//! docs/pgrx-notes.md §5.1), which is the difference between a 100 µs and a
//! 20 µs check. This module is the only place with that `unsafe` code.
//!
//! Correctness rules followed here:
//! - every scan uses the *active* snapshot, exactly like a read-only SPI
//!   query in the same statement: a check sees its own transaction's earlier
//!   writes, never uncommitted writes of others, and the transaction
//!   snapshot under REPEATABLE READ;
//! - relations are opened with `AccessShareLock` (held to transaction end, as
//!   the executor does) and their index columns are verified against what the
//!   scan expects, so a changed table definition is an error, not garbage;
//! - the caller's SELECT privilege on the table is checked, as SPI would;
//! - on an error (PostgreSQL `longjmp` turned into a Rust panic by pgrx) the
//!   destructors skip cleanup: transaction abort releases buffer pins, locks
//!   and memory.

use std::ffi::CStr;

use pgrx::pg_sys::{self, Datum, Oid};
use pgrx::{FromDatum, PgSqlErrorCode};

use super::scan_pool::{self, Home};

/// Column numbers of `rbac.tuples` (see sql/bootstrap.sql).
pub mod tuples_col {
    pub const ENTITY_TYPE: i32 = 1;
    pub const ENTITY_ID: i32 = 2;
    pub const RELATION: i32 = 3;
    pub const SUBJECT_TYPE: i32 = 4;
    pub const SUBJECT_ID: i32 = 5;
    pub const SUBJECT_RELATION: i32 = 6;
}

/// Column numbers of `rbac.attributes`.
pub mod attributes_col {
    pub const ENTITY_TYPE: i32 = 1;
    pub const ENTITY_ID: i32 = 2;
    pub const ATTRIBUTE: i32 = 3;
    pub const VALUE: i32 = 5;
}

/// The `rbac` schema's OID, or an error saying the extension is missing.
fn rbac_namespace() -> Oid {
    if let Some(nsp) = super::rbac_namespace() {
        return nsp;
    }
    pgrx::ereport!(
        ERROR,
        PgSqlErrorCode::ERRCODE_INVALID_SCHEMA_NAME,
        "schema \"rbac\" does not exist",
        "is the notion_rbac extension installed in this database?"
    );
}

fn missing_relation(name: &CStr) -> ! {
    pgrx::ereport!(
        ERROR,
        PgSqlErrorCode::ERRCODE_UNDEFINED_TABLE,
        format!("relation \"rbac.{}\" does not exist", name.to_string_lossy()),
        "the notion_rbac extension's objects are incomplete; reinstall the extension"
    );
}

thread_local! {
    /// Relation OIDs by name, resolved once per backend: name lookups cost
    /// more than the scans of a small check. An entry is verified on every
    /// use (the relation must open and carry the expected name) and
    /// re-resolved when it does not, e.g. after DROP/CREATE EXTENSION.
    static OIDS: std::cell::RefCell<Vec<(&'static CStr, Oid)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Opens `rbac.<name>` with `AccessShareLock`, through the OID cache.
/// SAFETY: callers close the relation (or leave it to transaction abort).
unsafe fn open_cached(name: &'static CStr) -> pg_sys::Relation {
    // SAFETY: as the caller's.
    unsafe { try_open_cached(name) }.unwrap_or_else(|| missing_relation(name))
}

/// [`open_cached`], or `None` when `rbac.<name>` does not exist.
/// SAFETY: as for [`open_cached`].
unsafe fn try_open_cached(name: &'static CStr) -> Option<pg_sys::Relation> {
    let lock = pg_sys::AccessShareLock as pg_sys::LOCKMODE;
    let cached = OIDS.with(|o| o.borrow().iter().find(|(n, _)| *n == name).map(|(_, oid)| *oid));
    if let Some(oid) = cached {
        // SAFETY: try_relation_open returns NULL for a dropped relation.
        unsafe {
            let rel = pg_sys::try_relation_open(oid, lock);
            if !rel.is_null() {
                let relname = CStr::from_ptr((*(*rel).rd_rel).relname.data.as_ptr());
                if relname == name {
                    return Some(rel);
                }
                pg_sys::relation_close(rel, lock);
            }
        }
    }
    // SAFETY: plain catalog lookup.
    let oid = unsafe { pg_sys::get_relname_relid(name.as_ptr(), rbac_namespace()) };
    OIDS.with(|o| {
        let mut o = o.borrow_mut();
        o.retain(|(n, _)| *n != name);
        if oid != pg_sys::InvalidOid {
            o.push((name, oid));
        }
    });
    // SAFETY: the OID was just resolved from the catalog.
    (oid != pg_sys::InvalidOid).then(|| unsafe { pg_sys::relation_open(oid, lock) })
}

/// Whether `oid` is one of the extension's tables this backend has opened
/// (for the relcache callback of `writes`: no catalog access there).
pub(crate) fn is_extension_table(oid: Oid) -> bool {
    OIDS.try_with(|o| o.try_borrow().is_ok_and(|o| o.iter().any(|(_, t)| *t == oid))).unwrap_or(true)
}

unsafe extern "C-unwind" {
    /// pg_inherits.h (not in pgrx's bindings): whether the relation has a
    /// parent in pg_inherits (an inheritance child or a partition).
    #[link_name = "has_superclass"]
    fn has_superclass_raw(relid: Oid) -> bool;
}

/// Runs `decide(trigger)` over the triggers of `rbac.<table>`; true if it
/// said Some(true) for at least two triggers and never Some(false) (the
/// callers watch two triggers per table), and the table has no parent: a
/// write through an inheritance parent or a partitioned table fires only
/// the row triggers of the table itself, none of its statement triggers.
pub(crate) fn with_triggers(table: &'static CStr, decide: impl Fn(&pg_sys::Trigger) -> Option<bool>) -> bool {
    // SAFETY: the relation is open while its trigger descriptor is read,
    // then closed keeping the lock; has_superclass reads pg_inherits
    // (through the boundary: it can raise).
    unsafe {
        let rel = open_cached(table);
        let relid = (*rel).rd_id;
        let mut found = 0;
        let mut ok = !(*(*rel).rd_rel).relispartition && !pg_sys::ffi::pg_guard_ffi_boundary(|| has_superclass_raw(relid));
        let desc = (*rel).trigdesc;
        if !desc.is_null() {
            for i in 0..(*desc).numtriggers as usize {
                let t = &*(*desc).triggers.add(i);
                match decide(t) {
                    Some(true) => found += 1,
                    Some(false) => ok = false,
                    None => {}
                }
            }
        }
        pg_sys::relation_close(rel, pg_sys::NoLock as pg_sys::LOCKMODE);
        ok && found >= 2
    }
}

/// Whether the planner could use `index`: valid, ready and live (not a
/// concurrent build under way or failed, nor a concurrent drop).
/// SAFETY: `index` is an open index relation.
unsafe fn usable(index: pg_sys::Relation) -> bool {
    // SAFETY: an open index has its pg_index row in the relcache entry.
    unsafe {
        let form = (*index).rd_index;
        (*form).indisvalid && (*form).indisready && (*form).indislive
    }
}

/// Raises 42501 unless the current user may SELECT from `heap`.
/// SAFETY: `heap` is an open relation.
unsafe fn require_select(heap: pg_sys::Relation, table: &CStr) {
    // SAFETY: the relation is open.
    let oid = unsafe { (*heap).rd_id };
    // SAFETY: a catalog lookup of the relation's ACL.
    if unsafe { pg_sys::pg_class_aclcheck(oid, pg_sys::GetUserId(), pg_sys::ACL_SELECT as pg_sys::AclMode) }
        != pg_sys::AclResult::ACLCHECK_OK
    {
        pgrx::ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            format!("permission denied for table {}", table.to_string_lossy()),
            "grant the rbac_reader role to the roles that run checks"
        );
    }
}

/// Takes the lock a SELECT from `rbac.<table>` takes (AccessShareLock, held
/// to transaction end) and checks the caller's SELECT privilege, without
/// reading anything. A call answered from the read cache does this for the
/// tables it would have read: it then conflicts with a concurrent TRUNCATE
/// or ALTER exactly as a query would, and a role that may not read the
/// tables gets the same error as on a cache miss.
pub fn lock_for_reading(table: &'static CStr) {
    // SAFETY: opened with AccessShareLock and closed keeping the lock, as
    // the executor does for a scanned table.
    unsafe {
        let heap = open_cached(table);
        require_select(heap, table);
        pg_sys::relation_close(heap, pg_sys::NoLock as pg_sys::LOCKMODE);
    }
}

/// Whether the current user may read `rbac.<table>` (the check
/// [`lock_for_reading`] makes, without raising an error): for work that is
/// only worth doing when it cannot fail, such as a lookup at planning time.
pub fn may_read(table: &'static CStr) -> bool {
    // SAFETY: as in `lock_for_reading`; the lock is the one a read takes.
    unsafe {
        let heap = open_cached(table);
        let oid = (*heap).rd_id;
        pg_sys::relation_close(heap, pg_sys::NoLock as pg_sys::LOCKMODE);
        pg_sys::pg_class_aclcheck(oid, pg_sys::GetUserId(), pg_sys::ACL_SELECT as pg_sys::AclMode) == pg_sys::AclResult::ACLCHECK_OK
    }
}

fn serializable() -> bool {
    // SAFETY: reads a backend global.
    unsafe { pg_sys::XactIsoLevel == pg_sys::XACT_SERIALIZABLE as i32 }
}

/// `hashtextextended(key, 0)` under the C collation: what a hashed index
/// stores for `key`. (PostgreSQL keeps these hashes stable across
/// versions: hash partitioning depends on them.) For a deterministic
/// collation such as C, hashtextextended is `hash_bytes_extended` of the
/// text's bytes; that is called directly — no text datum to build and
/// free, no guarded calls — once this backend has seen both agree.
fn hashed_key(key: &str) -> i64 {
    if DIRECT_HASH_AGREES.with(|agrees| *agrees.get_or_init(direct_hash_agrees)) {
        return direct_hash(key);
    }
    hashed_key_by_function(key)
}

unsafe extern "C" {
    /// common/hashfn.h: pure arithmetic over the bytes (no allocation, no
    /// error), so it needs no guard.
    fn hash_bytes_extended(k: *const u8, keylen: std::ffi::c_int, seed: u64) -> u64;
}

fn direct_hash(key: &str) -> i64 {
    // SAFETY: reads `key.len()` bytes of `key`; ids and names are far
    // below `c_int::MAX` bytes.
    unsafe { hash_bytes_extended(key.as_ptr(), key.len() as std::ffi::c_int, 0) as i64 }
}

/// Whether [`direct_hash`] gives what the built-in gives, on keys of every
/// length class the hash treats apart (empty, under one 12-byte block,
/// several blocks, a remainder of each size).
fn direct_hash_agrees() -> bool {
    let long = "page:0123456789abcdefghijklmnopqrstuvwxyz_.+-ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    (0..=long.len()).all(|n| direct_hash(&long[..n]) == hashed_key_by_function(&long[..n]))
}

thread_local! {
    static DIRECT_HASH_AGREES: std::cell::OnceCell<bool> = const { std::cell::OnceCell::new() };
}

/// [`hashed_key`] through the built-in function, as the index expression
/// is evaluated.
fn hashed_key_by_function(key: &str) -> i64 {
    // SAFETY: a text datum built here, a built-in function that cannot
    // return NULL for a non-NULL argument.
    unsafe {
        let text = pg_sys::cstring_to_text_with_len(key.as_ptr().cast(), key.len() as i32);
        let hash = pg_sys::DirectFunctionCall2Coll(
            Some(hashtextextended_fmgr),
            pg_sys::Oid::from(pg_sys::C_COLLATION_OID),
            Datum::from(text),
            Datum::from(0i64),
        );
        pg_sys::pfree(text.cast());
        hash.value() as i64
    }
}

unsafe extern "C-unwind" {
    /// The built-in itself, as fmgr calls it (pgrx's binding is a guarded
    /// Rust wrapper, which `DirectFunctionCall2Coll` cannot take).
    #[link_name = "hashtextextended"]
    fn hashtextextended_fmgr(fcinfo: pg_sys::FunctionCallInfo) -> Datum;
}

/// A hashed index verified by [`hashed_key_verified`]: its OID and the
/// column pair its key hashes (an index renamed to the other's name is
/// verified again, for the pair its name stands for).
type Verified = (Oid, (i32, i32));

thread_local! {
    /// The hashed indexes verified in this backend (the entity index and
    /// the subject index).
    static VERIFIED_HASHED: std::cell::Cell<[Verified; 2]> =
        const { std::cell::Cell::new([(pg_sys::InvalidOid, (0, 0)); 2]) };
}

/// Whether the index's first key column is exactly
/// `hashtextextended(<column a> || ':' || <column b>, 0)` for `hashed` =
/// (a, b), the key [`hashed_key`] computes: an index recreated with
/// another expression would make reads miss rows. Verified once per
/// backend and index OID.
/// SAFETY: `index` is an open index.
unsafe fn hashed_key_verified(index: pg_sys::Relation, hashed: (i32, i32)) -> bool {
    unsafe {
        let oid = (*index).rd_id;
        let verified = VERIFIED_HASHED.get();
        if verified.contains(&(oid, hashed)) {
            return true;
        }
        let form = (*index).rd_index;
        if (*form).indnkeyatts < 1 || (*form).indkey.values.as_slice(1)[0] != 0 {
            return false;
        }
        // (Operator function OIDs are filled in by the relcache.)
        let ok = is_expected_key(list_nodes(pg_sys::RelationGetIndexExpressions(index)), hashed);
        if ok {
            // The newest two (an index rebuilt has a new OID).
            VERIFIED_HASHED.set([(oid, hashed), verified[0]]);
        }
        ok
    }
}

/// Whether `exprs` is exactly `[hashtextextended((a || ':') || b, 0)]` for
/// the columns `(a, b)`.
/// SAFETY: `exprs` are valid expression nodes.
unsafe fn is_expected_key(exprs: Vec<*mut pg_sys::Node>, (col_a, col_b): (i32, i32)) -> bool {
    unsafe {
        let [key] = exprs[..] else { return false };
        let [text, seed] = func_args(key, pg_sys::F_HASHTEXTEXTENDED)[..] else { return false };
        let [left, b] = op_args(text, pg_sys::F_TEXTCAT)[..] else { return false };
        let [a, sep] = op_args(left, pg_sys::F_TEXTCAT)[..] else { return false };
        is_const(seed, |d| d.value() == 0)
            && is_column(a, col_a as i16)
            && is_const(sep, |d| <&str>::from_datum(d, false) == Some(":"))
            && is_column(b, col_b as i16)
    }
}

/// The nodes of a `List` of pointers (empty for NIL).
/// SAFETY: `list` is NIL or a pointer list.
unsafe fn list_nodes(list: *mut pg_sys::List) -> Vec<*mut pg_sys::Node> {
    if list.is_null() {
        return Vec::new();
    }
    unsafe { (0..(*list).length as usize).map(|i| (*(*list).elements.add(i)).ptr_value.cast()).collect() }
}

/// The arguments of `node` if it is a call of the function `func`.
/// SAFETY: `node` is a valid expression node.
unsafe fn func_args(node: *mut pg_sys::Node, func: u32) -> Vec<*mut pg_sys::Node> {
    unsafe {
        let call = node.cast::<pg_sys::FuncExpr>();
        let hit = (*node).type_ == pg_sys::NodeTag::T_FuncExpr && (*call).funcid == Oid::from(func);
        if hit { list_nodes((*call).args) } else { Vec::new() }
    }
}

/// The arguments of `node` if it is an operator implemented by `func`.
/// SAFETY: `node` is a valid expression node.
unsafe fn op_args(node: *mut pg_sys::Node, func: u32) -> Vec<*mut pg_sys::Node> {
    unsafe {
        let op = node.cast::<pg_sys::OpExpr>();
        let hit = (*node).type_ == pg_sys::NodeTag::T_OpExpr && (*op).opfuncid == Oid::from(func);
        if hit { list_nodes((*op).args) } else { Vec::new() }
    }
}

/// Whether `node` is the table's column `attnum`.
/// SAFETY: `node` is a valid expression node.
unsafe fn is_column(node: *mut pg_sys::Node, attnum: i16) -> bool {
    unsafe { (*node).type_ == pg_sys::NodeTag::T_Var && (*node.cast::<pg_sys::Var>()).varattno == attnum }
}

/// Whether `node` is a non-NULL constant whose value passes `test`.
/// SAFETY: `node` is a valid expression node; `test` reads the datum as
/// the constant's type.
unsafe fn is_const(node: *mut pg_sys::Node, test: impl FnOnce(Datum) -> bool) -> bool {
    unsafe {
        (*node).type_ == pg_sys::NodeTag::T_Const && {
            let c = node.cast::<pg_sys::Const>();
            !(*c).constisnull && test((*c).constvalue)
        }
    }
}

/// PostgreSQL functions the scan calls in its hot paths, declared without
/// pgrx's guard: pgrx wraps every call of its bindings in a `sigsetjmp`
/// of its own, and a cold check makes a few hundred. `rekey_from`,
/// `rekey_hashed` and `next` call several of these inside one
/// `pg_guard_ffi_boundary` instead, from closures that own nothing with a
/// destructor (an error's longjmp skips their frames). Same signatures as
/// pgrx's bindings on every supported version.
mod raw {
    use pgrx::pg_sys::{AttrNumber, Buffer, BlockNumber, Datum, IndexScanDesc, ItemPointer, Oid, Relation, RegProcedure,
                       ScanDirection, ScanKey, StrategyNumber, TupleTableSlot, IndexTuple, TupleDesc, text};
    use std::ffi::{c_char, c_int, c_void};

    unsafe extern "C-unwind" {
        pub fn cstring_to_text_with_len(s: *const c_char, len: c_int) -> *mut text;
        pub fn pfree(pointer: *mut c_void);
        pub fn ScanKeyInit(entry: ScanKey, attributeNumber: AttrNumber, strategy: StrategyNumber, procedure: RegProcedure, argument: Datum);
        #[allow(clippy::too_many_arguments)]
        pub fn ScanKeyEntryInitialize(
            entry: ScanKey,
            flags: c_int,
            attributeNumber: AttrNumber,
            strategy: StrategyNumber,
            subtype: Oid,
            collation: Oid,
            procedure: RegProcedure,
            argument: Datum,
        );
        pub fn index_rescan(scan: IndexScanDesc, keys: ScanKey, nkeys: c_int, orderbys: ScanKey, norderbys: c_int);
        pub fn index_getnext_tid(scan: IndexScanDesc, direction: ScanDirection::Type) -> ItemPointer;
        pub fn index_fetch_heap(scan: IndexScanDesc, slot: *mut TupleTableSlot) -> bool;
        pub fn visibilitymap_get_status(rel: Relation, heapBlk: BlockNumber, vmbuf: *mut Buffer) -> u8;
        pub fn index_deform_tuple(itup: IndexTuple, tupdesc: TupleDesc, values: *mut Datum, isnull: *mut bool);
    }
}

/// Closes relations opened for a scan that will not be made (their locks
/// stay to the end of the transaction, as they would): `None`.
/// SAFETY: open relations, closed by no one else.
unsafe fn close_unused(heap: pg_sys::Relation, index: Option<pg_sys::Relation>) -> Option<IndexScan> {
    unsafe {
        if let Some(index) = index {
            pg_sys::relation_close(index, pg_sys::NoLock as pg_sys::LOCKMODE);
        }
        pg_sys::relation_close(heap, pg_sys::NoLock as pg_sys::LOCKMODE);
    }
    None
}

/// An open index scan over one table through one of its indexes, re-keyed
/// for every lookup.
pub struct IndexScan {
    heap: pg_sys::Relation,
    index: pg_sys::Relation,
    scan: pg_sys::IndexScanDesc,
    slot: *mut pg_sys::TupleTableSlot,
    nkeys: usize,
    /// Text datums of the current keys, freed at the next re-key.
    key_datums: Vec<Datum>,
    /// For each heap attribute number (index 0 = attnum 1), its position in
    /// the index, when the index holds every column of the table: then rows
    /// on all-visible heap pages are read from the index alone (an
    /// index-only scan), saving the heap access.
    index_position: Option<Vec<usize>>,
    /// Whether the current row came from the index tuple (not the heap).
    from_index: bool,
    /// The current index tuple's columns, deformed on first access.
    itup_values: Vec<Datum>,
    itup_nulls: Vec<bool>,
    itup_deformed: bool,
    /// Visibility-map buffer pin kept between rows, released on drop.
    vm_buffer: pg_sys::Buffer,
    /// The index and the key columns it was opened for (what a kept scan
    /// is handed out again for).
    index_name: &'static CStr,
    key_columns: ([i32; 6], usize),
    /// The pool this scan is kept in between calls (see `scan_pool`): its
    /// resources are that pool's, and its PostgreSQL calls run there.
    home: Option<Home>,
    /// Closed (or abandoned to its pool's release): nothing left to do.
    closed: bool,
}

impl IndexScan {
    /// Opens `rbac.<table>` and `rbac.<index>`, checking the caller's SELECT
    /// privilege and that the index's leading columns are `key_columns`
    /// (heap attribute numbers), in order.
    /// A scan kept from an earlier call of this transaction is handed out
    /// when there is one (see `scan_pool`).
    pub fn open(table: &'static CStr, index: &'static CStr, key_columns: &[i32]) -> IndexScan {
        // SAFETY: opening takes the same lock a SELECT would, and the
        // relations stay valid until we close them (or transaction abort,
        // or the release of the pool's resource owner, does).
        Self::kept_or(index, key_columns, |home| unsafe {
            Some(Self::open_relations(open_cached(table), open_cached(index), table, index, key_columns, home))
        })
        .expect("opened")
    }

    /// [`Self::open`], or `None` when the index does not exist or is not
    /// usable (an index a later version dropped, or one being built or
    /// dropped concurrently): callers read through another.
    pub fn try_open(table: &'static CStr, index: &'static CStr, key_columns: &[i32]) -> Option<IndexScan> {
        // SAFETY: as in `open`; a missing index is looked up without an
        // error.
        Self::kept_or(index, key_columns, |home| unsafe {
            let heap = open_cached(table);
            match try_open_cached(index) {
                Some(index_rel) if usable(index_rel) => {
                    Some(Self::open_relations(heap, index_rel, table, index, key_columns, home))
                }
                other => close_unused(heap, other),
            }
        })
    }

    /// A scan of `index` with `key_columns` kept from an earlier call, or
    /// what `open` opens, in the pool's home when it can be kept there.
    fn kept_or(index: &'static CStr, key_columns: &[i32], open: impl FnOnce(Option<Home>) -> Option<IndexScan>) -> Option<IndexScan> {
        if let Some(scan) = scan_pool::take(index, key_columns) {
            return Some(scan);
        }
        let home = scan_pool::home();
        scan_pool::at(home, || open(home))
    }

    /// Opens `rbac.<table>` through `rbac.<index>`, an index whose first key
    /// column is `hashtextextended(<a> || ':' || <b>, 0)` over the text
    /// columns `hashed` = (a, b) and which includes every column of the
    /// table (see [`Self::rekey_hashed`]), for reads keyed by the hash and
    /// then by the key columns `then` (heap column numbers; none: by the
    /// hash alone). `None` when the index does not exist, is not usable,
    /// or its key does not go on with `then` (a library newer than the
    /// installed SQL, before `ALTER EXTENSION UPDATE`), so that callers
    /// read through another index instead.
    pub fn open_hashed(table: &'static CStr, index: &'static CStr, hashed: (i32, i32), then: &[i32]) -> Option<IndexScan> {
        let mut key_columns = [0; 6];
        key_columns[1..=then.len()].copy_from_slice(then);
        let key_columns = &key_columns[..=then.len()];
        Self::kept_or(index, key_columns, |home| Self::open_hashed_in(table, index, hashed, key_columns, home))
    }

    fn open_hashed_in(
        table: &'static CStr,
        index: &'static CStr,
        hashed: (i32, i32),
        key_columns: &[i32],
        home: Option<Home>,
    ) -> Option<IndexScan> {
        // SAFETY: as in `open`; a missing index is looked up without an
        // error and nothing is opened then.
        unsafe {
            // The table first, as every reader locks them.
            let heap = open_cached(table);
            let Some(index_rel) = try_open_cached(index) else { return close_unused(heap, None) };
            // Being built or dropped concurrently (or a build that failed):
            // it may lack rows, so read through the primary key, as the
            // planner would. An index of an older version (whose key is the
            // hash alone) serves no reads keyed by more.
            let form = (*index_rel).rd_index;
            let natts = (*form).indnkeyatts as usize;
            let goes_on = key_columns.len() <= natts
                && key_columns[1..].iter().zip(&(*form).indkey.values.as_slice(natts)[1..]).all(|(want, have)| *want == *have as i32);
            if !usable(index_rel) || !goes_on {
                return close_unused(heap, Some(index_rel));
            }
            let scan = Self::open_relations(heap, index_rel, table, index, key_columns, home);
            if !hashed_key_verified(scan.index, hashed) || scan.index_position.is_none() && !serializable() {
                pgrx::ereport!(
                    ERROR,
                    PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                    format!("index rbac.{} does not have the expected definition", index.to_string_lossy()),
                    "the notion_rbac extension's objects were altered; reinstall the extension"
                );
            }
            Some(scan)
        }
    }

    /// SAFETY: `heap` and `index_rel` are open relations.
    unsafe fn open_relations(
        heap: pg_sys::Relation,
        index_rel: pg_sys::Relation,
        table: &'static CStr,
        index: &'static CStr,
        key_columns: &[i32],
        home: Option<Home>,
    ) -> IndexScan {
        unsafe {
            if (*(*heap).rd_rel).relkind != pg_sys::RELKIND_RELATION as std::ffi::c_char
                || (*(*index_rel).rd_rel).relkind != pg_sys::RELKIND_INDEX as std::ffi::c_char
                || (*(*index_rel).rd_index).indrelid != (*heap).rd_id
            {
                pgrx::ereport!(
                    ERROR,
                    PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                    format!("rbac.{} is not an index of rbac.{}", index.to_string_lossy(), table.to_string_lossy()),
                    "the notion_rbac extension's objects were altered; reinstall the extension"
                );
            }
            if !usable(index_rel) {
                pgrx::ereport!(
                    ERROR,
                    PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
                    format!("index rbac.{} is not valid: it may lack rows", index.to_string_lossy()),
                    "a concurrent build or drop of it failed or is under way; REINDEX INDEX CONCURRENTLY rebuilds it"
                );
            }
            require_select(heap, table);
            let form = (*index_rel).rd_index;
            let natts = (*form).indnkeyatts as usize;
            let indkey = (*form).indkey.values.as_slice(natts);
            let matches = key_columns.len() <= natts
                && key_columns.iter().zip(indkey).all(|(want, have)| *want == *have as i32);
            if !matches {
                pgrx::ereport!(
                    ERROR,
                    PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                    format!("index rbac.{} does not have the expected columns", index.to_string_lossy()),
                    "the notion_rbac extension's objects were altered; reinstall the extension"
                );
            }
            let slot = pg_sys::table_slot_create(heap, std::ptr::null_mut());
            // Index-only reads are possible when the index covers every
            // table column (the tuple indexes do) — except under
            // SERIALIZABLE, where reading the heap registers the predicate
            // locks that serializability needs.
            let heap_natts = (*(*heap).rd_att).natts as usize;
            let all_indkey = (*form).indkey.values.as_slice((*form).indnatts as usize);
            let mut position = vec![usize::MAX; heap_natts];
            for (i, attnum) in all_indkey.iter().enumerate() {
                if *attnum >= 1 && (*attnum as usize) <= heap_natts {
                    position[*attnum as usize - 1] = i;
                }
            }
            let covering = position.iter().all(|p| *p != usize::MAX) && !serializable();
            let index_natts = all_indkey.len();
            let mut kind = [0; 6];
            kind[..key_columns.len()].copy_from_slice(key_columns);
            if let Some(home) = home {
                scan_pool::handed_out(home);
            }
            IndexScan {
                heap,
                index: index_rel,
                scan: std::ptr::null_mut(),
                slot,
                nkeys: key_columns.len(),
                key_datums: Vec::with_capacity(key_columns.len()),
                index_position: covering.then_some(position),
                from_index: false,
                itup_values: vec![Datum::from(0usize); index_natts],
                itup_nulls: vec![true; index_natts],
                itup_deformed: false,
                vm_buffer: pg_sys::InvalidBuffer as pg_sys::Buffer,
                index_name: index,
                key_columns: (kind, key_columns.len()),
                home,
                closed: false,
            }
        }
    }

    /// The scanned table's OID (identifies this installation's table).
    pub fn table_oid(&self) -> Oid {
        // SAFETY: the relation is open.
        unsafe { (*self.heap).rd_id }
    }

    /// Positions the scan on the rows whose leading index columns equal
    /// `keys`. Fewer keys than the scan was opened with leave the remaining
    /// key columns unconstrained (see `rekey_here` for how): one open scan
    /// serves reads by any prefix,
    /// which spares opening a scan per prefix length in every call.
    pub fn rekey(&mut self, keys: &[&str]) {
        self.rekey_from(keys, None);
    }

    /// Positions the scan on the rows whose leading index columns equal
    /// `keys` and whose next column is at least `from` (if given), in index
    /// order: a scan that can be read on past one key value into the next.
    pub fn rekey_from(&mut self, keys: &[&str], from: Option<&str>) {
        let home = self.home;
        let bound = from.map(|k| (k, pg_sys::BTGreaterEqualStrategyNumber, pg_sys::F_TEXT_GE));
        scan_pool::at(home, || self.rekey_here(None, keys, bound));
    }

    /// Re-keys the scan: the hash (an int8 equality on the first key
    /// column) when given, then `keys` (text equalities on the next
    /// columns), then `bound` (a text comparison on the column after them);
    /// the rest of the keys the scan was opened for repeat the first.
    fn rekey_here(&mut self, hash: Option<i64>, keys: &[&str], bound: Option<(&str, u32, u32)>) {
        let first = usize::from(hash.is_some());
        let texts = keys.len() + usize::from(bound.is_some());
        let nkeys = first + texts;
        assert!(nkeys <= self.nkeys && self.nkeys <= 6, "IndexScan::rekey: too many keys");
        let mut parts: [(&str, u32, u32); 6] = [("", 0, 0); 6];
        for (part, k) in parts.iter_mut().zip(keys) {
            *part = (k, pg_sys::BTEqualStrategyNumber, pg_sys::F_TEXTEQ);
        }
        if let Some(b) = bound {
            parts[keys.len()] = b;
        }
        let mut scan_keys: [pg_sys::ScanKeyData; 6] = unsafe { std::mem::zeroed() };
        let mut datums = [Datum::from(0usize); 6];
        let all = self.nkeys;
        // The old key datums, freed after the rescan (which may still read
        // them); the vector keeps its room for the new ones.
        let mut old = [Datum::from(0usize); 6];
        let old_len = self.key_datums.len().min(old.len());
        old[..old_len].copy_from_slice(&self.key_datums[..old_len]);
        self.key_datums.clear();
        let scan = self.begun();
        // SAFETY: one guard for the whole re-key (see `raw`); the closure
        // owns nothing with a destructor. Text datums in the current
        // memory context, freed at the next re-key (or with the context);
        // text comparisons with the C collation ScanKeyInit sets match the
        // tables' COLLATE "C"; the IS NOT NULL keys are the form the
        // executor uses for `col IS NOT NULL`; the hash is a by-value int8.
        // The old key datums are freed after the rescan, which may still
        // read them until then.
        unsafe {
            pg_sys::ffi::pg_guard_ffi_boundary(|| {
                if let Some(h) = hash {
                    raw::ScanKeyInit(
                        &mut scan_keys[0],
                        1,
                        pg_sys::BTEqualStrategyNumber as pg_sys::StrategyNumber,
                        pg_sys::Oid::from(pg_sys::F_INT8EQ),
                        Datum::from(h),
                    );
                }
                for j in 0..texts {
                    let (k, strategy, procedure) = parts[j];
                    let i = first + j;
                    datums[j] = Datum::from(raw::cstring_to_text_with_len(k.as_ptr().cast(), k.len() as std::ffi::c_int));
                    raw::ScanKeyInit(
                        &mut scan_keys[i],
                        (i + 1) as pg_sys::AttrNumber,
                        strategy as pg_sys::StrategyNumber,
                        pg_sys::Oid::from(procedure),
                        datums[j],
                    );
                }
                // The scan was begun with `all` keys and a rescan must pass
                // as many. The spare ones repeat the first key (sorted by
                // column, as btree wants them): preprocessing drops an
                // equal repetition at once. A key on a later column would
                // instead make PostgreSQL 18 add skip arrays for the
                // columns before it (its skip scan), which costs a cold
                // lookup about a fifth of its time. With no key at all,
                // `IS NOT NULL` on each column.
                if nkeys > 0 && all > nkeys {
                    let pad = all - nkeys;
                    scan_keys.copy_within(1..nkeys, 1 + pad);
                    for i in 1..=pad {
                        scan_keys[i] = scan_keys[0];
                    }
                }
                let not_null = if nkeys == 0 { all } else { 0 };
                for (i, key) in scan_keys.iter_mut().enumerate().take(not_null) {
                    raw::ScanKeyEntryInitialize(
                        key,
                        (pg_sys::SK_ISNULL | pg_sys::SK_SEARCHNOTNULL) as std::ffi::c_int,
                        (i + 1) as pg_sys::AttrNumber,
                        0, // InvalidStrategy
                        pg_sys::InvalidOid,
                        pg_sys::InvalidOid,
                        pg_sys::InvalidOid,
                        Datum::from(0usize),
                    );
                }
                raw::index_rescan(scan, scan_keys.as_mut_ptr(), all as std::ffi::c_int, std::ptr::null_mut(), 0);
                for d in &old[..old_len] {
                    raw::pfree(d.cast_mut_ptr());
                }
            });
        }
        self.key_datums.extend_from_slice(&datums[..texts]);
    }

    /// The scan, begun on first use in the statement's snapshot.
    fn begun(&mut self) -> pg_sys::IndexScanDesc {
        // SAFETY: heap/index are open; the snapshot is the statement's.
        unsafe {
            if self.scan.is_null() {
                if !pg_sys::ActiveSnapshotSet() {
                    pgrx::error!("notion_rbac: no active snapshot for a permission check");
                }
                self.scan = begin_scan(self.heap, self.index, pg_sys::GetActiveSnapshot(), self.nkeys as i32);
                (*self.scan).xs_want_itup = self.index_position.is_some();
            }
        }
        self.scan
    }

    /// Positions the scan of a hashed index (see [`Self::open_hashed`]) on
    /// the rows whose key is the hash of `key` (`<a>:<b>`) and whose next
    /// key columns (those the scan was opened with) equal `then`, the one
    /// after them greater than `above` when given. Different keys can
    /// share a hash: callers check the columns of every row they read. An
    /// 8-byte first key column makes a descent cheaper than one through the
    /// text columns of the primary key (no text comparisons until the hash
    /// matches, small inner pages): whole cold checks measured 1.19x faster
    /// on PostgreSQL 15 for entities read whole this way.
    pub fn rekey_hashed(&mut self, key: &str, then: &[&str], above: Option<&str>) {
        let home = self.home;
        let hash = hashed_key(key);
        let bound = above.map(|k| (k, pg_sys::BTGreaterStrategyNumber, pg_sys::F_TEXT_GT));
        scan_pool::at(home, || self.rekey_here(Some(hash), then, bound));
    }

    /// Advances to the next matching visible row (forward, or backward for
    /// "the highest key"). Returns false when there is none.
    pub fn next(&mut self, backward: bool) -> bool {
        let home = self.home;
        scan_pool::at(home, || self.next_here(backward))
    }

    fn next_here(&mut self, backward: bool) -> bool {
        let dir = if backward { pg_sys::ScanDirection::BackwardScanDirection } else { pg_sys::ScanDirection::ForwardScanDirection };
        self.itup_deformed = false;
        pgrx::check_for_interrupts!();
        let (scan, slot, heap) = (self.scan, self.slot, self.heap);
        if self.index_position.is_none() {
            self.from_index = false;
            // SAFETY: the scan was begun in `rekey`.
            return unsafe { pg_sys::index_getnext_slot(scan, dir, slot) };
        }
        let vm_buffer = &mut self.vm_buffer;
        let (values, nulls) = (self.itup_values.as_mut_ptr(), self.itup_nulls.as_mut_ptr());
        // An index-only scan, as the executor's: a row on a heap page the
        // visibility map marks all-visible is visible to every snapshot
        // (any change to the page clears the bit), so its index entry is
        // the row, taken apart here (every row read is read from); otherwise
        // fetch the heap tuple and let the snapshot decide. Some(from the
        // index), or None at the end.
        // SAFETY: the scan was begun in `rekey`; one guard for the whole
        // step (see `raw`), the closure owning nothing with a destructor;
        // `values` and `nulls` have room for every column of the index.
        let found = unsafe {
            pg_sys::ffi::pg_guard_ffi_boundary(|| loop {
                if !(*scan).xs_heap_continue {
                    let tid = raw::index_getnext_tid(scan, dir);
                    if tid.is_null() {
                        break None;
                    }
                    let blk = (((*tid).ip_blkid.bi_hi as u32) << 16) | (*tid).ip_blkid.bi_lo as u32;
                    let status = raw::visibilitymap_get_status(heap, blk, vm_buffer);
                    if status as u32 & pg_sys::VISIBILITYMAP_ALL_VISIBLE != 0 && !(*scan).xs_itup.is_null() {
                        raw::index_deform_tuple((*scan).xs_itup, (*scan).xs_itupdesc, values, nulls);
                        break Some(true);
                    }
                }
                if raw::index_fetch_heap(scan, slot) {
                    break Some(false);
                }
            })
        };
        self.from_index = found == Some(true);
        self.itup_deformed = self.from_index;
        found.is_some()
    }

    fn datum(&mut self, attnum: i32) -> Option<Datum> {
        if self.from_index
            && let Some(position) = &self.index_position
        {
            let i = position[(attnum - 1) as usize];
            // SAFETY: xs_itup is the current index tuple (valid until the
            // next call into the scan); its descriptor is the index's.
            unsafe {
                if !self.itup_deformed {
                    pg_sys::index_deform_tuple(
                        (*self.scan).xs_itup,
                        (*self.scan).xs_itupdesc,
                        self.itup_values.as_mut_ptr(),
                        self.itup_nulls.as_mut_ptr(),
                    );
                    self.itup_deformed = true;
                }
            }
            return if self.itup_nulls[i] { None } else { Some(self.itup_values[i]) };
        }
        // SAFETY: the slot holds the current row after a successful next().
        unsafe {
            if ((*self.slot).tts_nvalid as i32) < attnum {
                pg_sys::slot_getsomeattrs_int(self.slot, attnum);
            }
            let i = (attnum - 1) as usize;
            if *(*self.slot).tts_isnull.add(i) { None } else { Some(*(*self.slot).tts_values.add(i)) }
        }
    }

    /// The text column `attnum` of the current row, borrowed: in place
    /// (see `text_datum`), else as PostgreSQL detoasts it. Valid until the
    /// scan moves on.
    fn str_at(&mut self, attnum: i32) -> Option<&str> {
        let d = self.datum(attnum)?;
        // SAFETY: the column is text (checked by the table definition); the
        // value lives in the current row (or a detoasted copy in the
        // current memory context).
        unsafe { super::text_datum::plain_str(d).or_else(|| <&str>::from_datum(d, false)) }
    }

    /// The text column `attnum` of the current row, as a Rust string.
    pub fn text(&mut self, attnum: i32) -> String {
        self.str_at(attnum).map(str::to_owned).unwrap_or_default()
    }

    /// Appends the text column `attnum` of the current row to `buf`
    /// (nothing for NULL), without an intermediate allocation. (Stored
    /// names and ids are at most 128 bytes, never compressed or toasted, so
    /// borrowing the text allocates nothing either.)
    pub fn push_text(&mut self, attnum: i32, buf: &mut String) {
        if let Some(s) = self.str_at(attnum) {
            buf.push_str(s);
        }
    }

    /// The text column `attnum` of the current row compared bytewise (the
    /// tables' C collation) with `other`, without copying it; NULL sorts
    /// first.
    pub fn text_cmp(&mut self, attnum: i32, other: &str) -> std::cmp::Ordering {
        self.str_at(attnum).map_or(std::cmp::Ordering::Less, |v| v.as_bytes().cmp(other.as_bytes()))
    }

    /// Whether the text column `attnum` of the current row is `want`.
    pub fn text_is(&mut self, attnum: i32, want: &str) -> bool {
        self.text_cmp(attnum, want) == std::cmp::Ordering::Equal
    }

    /// The int4 column `attnum` of the current row.
    pub fn int4(&mut self, attnum: i32) -> Option<i32> {
        // SAFETY: the column is int4.
        self.datum(attnum).and_then(|d| unsafe { i32::from_datum(d, false) })
    }

    /// What identifies the current row version: its inserting transaction
    /// and its place in the heap. Two rows with the same key value (a
    /// version number reused after a rollback) differ here. `None` when the
    /// row came from an index-only read.
    pub fn row_version(&mut self) -> Option<(u32, u32, u16)> {
        if self.from_index {
            return None;
        }
        // SAFETY: the slot holds the current heap row after a successful
        // next(); getsysattr is the slot type's own accessor.
        unsafe {
            let slot = self.slot;
            let getsysattr = (*(*slot).tts_ops).getsysattr?;
            let mut isnull = false;
            // Through the boundary: an error raised there must unwind
            // through this scan's destructor and the caller's borrows.
            let xmin = pg_sys::ffi::pg_guard_ffi_boundary(|| {
                getsysattr(slot, pg_sys::MinTransactionIdAttributeNumber as i32, &mut isnull)
            });
            if isnull {
                return None;
            }
            let tid = (*slot).tts_tid;
            let block = ((tid.ip_blkid.bi_hi as u32) << 16) | tid.ip_blkid.bi_lo as u32;
            Some((xmin.value() as u32, block, tid.ip_posid))
        }
    }

    /// The jsonb column `attnum` of the current row.
    pub fn jsonb(&mut self, attnum: i32) -> Option<serde_json::Value> {
        // SAFETY: the column is jsonb.
        self.datum(attnum).and_then(|d| unsafe { pgrx::JsonB::from_datum(d, false) }).map(|j| j.0)
    }
}

#[cfg(not(feature = "pg18"))]
unsafe fn begin_scan(
    heap: pg_sys::Relation,
    index: pg_sys::Relation,
    snapshot: pg_sys::Snapshot,
    nkeys: i32,
) -> pg_sys::IndexScanDesc {
    unsafe { pg_sys::index_beginscan(heap, index, snapshot, nkeys, 0) }
}

#[cfg(feature = "pg18")]
unsafe fn begin_scan(
    heap: pg_sys::Relation,
    index: pg_sys::Relation,
    snapshot: pg_sys::Snapshot,
    nkeys: i32,
) -> pg_sys::IndexScanDesc {
    // PostgreSQL 18 added an instrumentation argument.
    unsafe { pg_sys::index_beginscan(heap, index, snapshot, std::ptr::null_mut(), nkeys, 0) }
}

impl IndexScan {
    /// Whether this scan was opened for `index` with `key_columns`.
    pub(super) fn is_kind(&self, index: &CStr, key_columns: &[i32]) -> bool {
        std::ptr::eq(self.index_name, index) && &self.key_columns.0[..self.key_columns.1] == key_columns
    }

    pub(super) fn same_kind(&self, other: &IndexScan) -> bool {
        other.is_kind(self.index_name, &self.key_columns.0[..self.key_columns.1])
    }

    /// A kept scan handed out to a new call: reads in its snapshot (the
    /// active one, MVCC, as when it was begun).
    pub(super) fn reuse_in_active_snapshot(&mut self) {
        self.from_index = false;
        self.itup_deformed = false;
        if !self.scan.is_null() {
            // SAFETY: the caller checked that an MVCC snapshot is active;
            // the scan reads nothing before its next re-key.
            unsafe { (*self.scan).xs_snapshot = crate::pg_ffi::GetActiveSnapshot() };
        }
    }

    /// Moves everything out into a new scan, leaving this one closed.
    pub(super) fn move_out(&mut self) -> IndexScan {
        let moved = IndexScan {
            heap: self.heap,
            index: self.index,
            scan: self.scan,
            slot: self.slot,
            nkeys: self.nkeys,
            key_datums: std::mem::take(&mut self.key_datums),
            index_position: self.index_position.take(),
            from_index: false,
            itup_values: std::mem::take(&mut self.itup_values),
            itup_nulls: std::mem::take(&mut self.itup_nulls),
            itup_deformed: false,
            vm_buffer: self.vm_buffer,
            index_name: self.index_name,
            key_columns: self.key_columns,
            home: self.home,
            closed: false,
        };
        self.closed = true;
        moved
    }

    /// Leaves this scan's resources to its pool's release.
    pub(super) fn abandon(&mut self) {
        self.closed = true;
    }

    /// Drops the buffer pins an idle scan would hold: the leaf page and
    /// heap page (a rescan with the same keys releases both, reading
    /// nothing), the row in the slot and the visibility-map page.
    pub(super) fn release_pins(&mut self) {
        let (scan, slot, vm_buffer) = (self.scan, self.slot, self.vm_buffer);
        self.vm_buffer = pg_sys::InvalidBuffer as pg_sys::Buffer;
        // SAFETY: a begun scan keeps its keys (and their datums, until the
        // next re-key); run in the scan's home.
        scan_pool::at(self.home, || unsafe {
            if !scan.is_null() {
                // No keys: the access method keeps the ones it has (passing
                // its own array back would copy it onto itself).
                pg_sys::index_rescan(scan, std::ptr::null_mut(), (*scan).numberOfKeys, std::ptr::null_mut(), 0);
            }
            pg_sys::ExecClearTuple(slot);
            if vm_buffer != pg_sys::InvalidBuffer as pg_sys::Buffer {
                pg_sys::ReleaseBuffer(vm_buffer);
            }
        });
    }

    /// Closes what `open` opened, in the scan's home.
    pub(super) fn close_now(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        // SAFETY: everything was opened/created by `open`/`rekey`; locks
        // are kept until transaction end (NoLock), as the executor does.
        scan_pool::at(self.home, || unsafe {
            if self.vm_buffer != pg_sys::InvalidBuffer as pg_sys::Buffer {
                pg_sys::ReleaseBuffer(self.vm_buffer);
            }
            if !self.scan.is_null() {
                pg_sys::index_endscan(self.scan);
            }
            pg_sys::ExecDropSingleTupleTableSlot(self.slot);
            pg_sys::index_close(self.index, pg_sys::NoLock as pg_sys::LOCKMODE);
            pg_sys::table_close(self.heap, pg_sys::NoLock as pg_sys::LOCKMODE);
            for d in self.key_datums.drain(..) {
                pg_sys::pfree(d.cast_mut_ptr());
            }
        });
    }
}

impl Drop for IndexScan {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        if let Some(home) = self.home {
            // Kept for the next call (or, unwinding, left to the pool's
            // release).
            scan_pool::hand_back(home, self);
            self.closed = true;
            return;
        }
        if std::thread::panicking() {
            // An ERROR is unwinding: transaction abort cleans up.
            return;
        }
        self.close_now();
    }
}
