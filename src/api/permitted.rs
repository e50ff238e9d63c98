//! `rbac.permitted(action, entity_type, id)`: the function in the policies
//! `rbac.protect` creates — does the current subject have `action` on
//! `entity_type:id`? Exactly `rbac.check(rbac.current_subject(), action,
//! entity_type || ':' || id)`, at a cost that suits every query shape.
//!
//! A policy runs it once per row the scan reaches, and the plan decides how
//! many rows that is: one for a point lookup, a few hundred for a top-N by
//! an indexed column, the whole table for a count. Neither pure strategy
//! serves all three — one check per row makes a count over a million rows
//! cost a million checks; computing the subject's whole visible set first
//! makes a point lookup by a user who sees 100,000 pages cost a lookup of
//! 100,000. So each statement starts with per-row checks and, like a
//! ski-rental, tries the lookup once the checks have cost as much as the
//! lookup is allowed to (the time spent so far; doubling after every
//! attempt that did not finish in time). Once a lookup finishes, every
//! further row is a hash probe. The work is never worse than about three
//! times the better of the two strategies, and answers are exact either way:
//! the lookup is `rbac.lookup_resources` in the same snapshot, which equals
//! the check for every id (the differential layer proves that).
//!
//! State lives for one statement and one snapshot
//! ([`StatementSnapshot`]): a later statement, a new snapshot (READ
//! COMMITTED inside a function), a changed subject or own writes start a
//! new memo. Two things outlive it. A finished lookup's visible set is
//! kept beside the read cache and reused by later statements whose
//! snapshot sees the same data (the read cache's key: commits that wrote
//! none of the extension's tables keep it; see `store::read_cache`), so a
//! listing queried again, or its next page, costs hash probes. And what a
//! lookup cost (or the budget it did not finish in) is remembered per
//! subject, action and type, so the next statement rents until that price
//! before it buys: a repeated top-N stops paying for attempts that cannot
//! finish; a hint that has become too high costs at most itself, once.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use notion_rbac_core::engine::{self, Checker, Context, Chains, Deadline, Kept, TextList, key_hash, probe_sorted};
use notion_rbac_core::tuple::{self, ObjectRef, SubjectRef};
use pgrx::pg_sys;
use pgrx::prelude::*;
use rustc_hash::FxHashSet;

use super::check::options;
use super::id_arrays::{Int8Ids, UuidIds};
use super::identity;
use super::permitted_scan;
use crate::errors::OrRaise;
use crate::store;
use crate::store::read_cache::Deps;
use crate::store::schema::ActiveSchema;
use crate::store::snapshot_key::StatementSnapshot;
use crate::store::text_datum::plain_bytes;

/// Per-row checks may cost this much before the first lookup attempt.
const FIRST_ATTEMPT: Duration = Duration::from_millis(1);

/// What earlier statements learned of one lookup's cost (by subject,
/// action and type): when it finished, how long it took; when attempts were
/// given up, the longest budget that was not enough. A statement makes its
/// first attempt only once its checks have cost that much — the ski-rental
/// with a known price — so a query that repeats (a top-N, a page of a
/// listing) stops paying for attempts that cannot finish. A hint for the
/// strategy only: answers never depend on it.
#[derive(Clone, Copy, Default)]
pub(crate) struct CostHint {
    pub(crate) took: Option<Duration>,
    pub(crate) not_within: Duration,
    /// How many ids the last finished lookup found.
    pub(crate) size: Option<usize>,
}

impl CostHint {
    /// When a statement's checks have cost enough for a first attempt: the
    /// price of the last finished lookup; else the next step of the
    /// doubling that gave up at `not_within`, since an attempt with that
    /// budget would give up again. (Waiting only for `not_within` made a
    /// repeated top-N whose checks cost a little more than that pay for a
    /// doomed attempt every time.)
    pub(crate) fn first_attempt(self) -> Duration {
        self.took.unwrap_or(self.not_within * 2).max(FIRST_ATTEMPT)
    }
}

/// Cost hints kept at most (all are dropped when full).
const COST_HINTS: usize = 256;

/// Memos kept at once (a statement joining protected tables has one per
/// table and action).
const MEMOS: usize = 4;

struct Memo {
    snapshot: StatementSnapshot,
    /// The subject as `rbac.set_subject` left it (None: not set).
    explicit: Option<Option<String>>,
    action: String,
    entity_type: String,
    /// The subject the rows are checked for (None: nobody, nothing visible).
    subject: Option<SubjectRef>,
    /// Its text: the key of the check results kept in the read cache.
    subject_text: String,
    /// Time spent in per-row checks and failed lookup attempts.
    spent: Duration,
    /// Try the lookup once `spent` reaches this (None: never again).
    next_attempt: Option<Duration>,
    /// The least budget of an attempt (more than `spent` when the plan
    /// said to buy at once).
    min_budget: Duration,
    /// Every visible id, once a lookup finished (or was found kept from an
    /// earlier statement that saw the same data: see `recall`).
    visible: Option<Rc<RefCell<Visible>>>,
    /// The per-row checks' memo (an ancestor's permission decided for one
    /// row answers its siblings), with the schema it is keyed by and what
    /// it rests on (for when the read cache keeps it after all).
    kept: Option<(Rc<ActiveSchema>, Kept, Deps)>,
}

impl Memo {
    /// The answer without a check: false when there is no subject, the
    /// visible set's when a lookup finished, None otherwise. Cannot raise.
    fn probe(&mut self, id: RowId<'_>) -> Option<bool> {
        match (&self.subject, &mut self.visible) {
            (None, _) => Some(false),
            (_, Some(visible)) => {
                count(|s| s.probes += 1);
                Some(visible.try_borrow_mut().ok()?.contains(id))
            }
            _ => None,
        }
    }
}

thread_local! {
    static STATE: RefCell<Vec<Memo>> = const { RefCell::new(Vec::new()) };
    static COSTS: RefCell<rustc_hash::FxHashMap<String, CostHint>> = RefCell::new(rustc_hash::FxHashMap::default());
    /// The expression node of the call on the slow path (0: unknown).
    static CALL: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    static STATS: std::cell::Cell<Stats> = const { std::cell::Cell::new(Stats { checks: 0, lookups: 0, abandoned: 0, probes: 0, reused: 0 }) };
}

/// What the function did in this backend (`rbac.permitted_stats()`).
#[derive(Clone, Copy)]
struct Stats {
    /// Rows answered by a check of their own.
    checks: u64,
    /// Lookups finished (each then answers the statement's other rows).
    lookups: u64,
    /// Lookups given up because they took longer than allowed.
    abandoned: u64,
    /// Rows answered from a finished lookup.
    probes: u64,
    /// Statements whose visible set was kept from an earlier one.
    reused: u64,
}

fn count(f: impl FnOnce(&mut Stats)) {
    STATS.with(|c| {
        let mut s = c.get();
        f(&mut s);
        c.set(s);
    });
}

/// What `rbac.permitted` did in this backend since it started: rows
/// answered by their own check, lookups finished and given up, rows
/// answered from a finished lookup, and statements that found the visible
/// set kept by an earlier one. For seeing which strategy a query used.
#[pg_extern(volatile, parallel_restricted)]
fn permitted_stats() -> TableIterator<
    'static,
    (
        name!(row_checks, i64),
        name!(lookups, i64),
        name!(lookups_abandoned, i64),
        name!(lookup_probes, i64),
        name!(lookups_reused, i64),
    ),
> {
    let s = STATS.with(std::cell::Cell::get);
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    TableIterator::once((n(s.checks), n(s.lookups), n(s.abandoned), n(s.probes), n(s.reused)))
}

/// Drops every memo at the end of each transaction (they are per statement
/// anyway; this frees a large visible set at once).
pub(crate) fn register_callbacks() {
    // SAFETY: plain function pointers with no argument, registered once.
    unsafe {
        pg_sys::RegisterXactCallback(Some(on_xact), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(on_subxact), std::ptr::null_mut());
    }
}

/// A call that failed inside a subtransaction (a PL/pgSQL EXCEPTION block)
/// leaves no request for a new snapshot to the next call.
#[pg_guard]
unsafe extern "C-unwind" fn on_subxact(
    event: pg_sys::SubXactEvent::Type,
    _my: pg_sys::SubTransactionId,
    _parent: pg_sys::SubTransactionId,
    _arg: *mut std::ffi::c_void,
) {
    if event == pg_sys::SubXactEvent::SUBXACT_EVENT_ABORT_SUB {
        crate::store::consistency::reset();
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn on_xact(event: pg_sys::XactEvent::Type, _arg: *mut std::ffi::c_void) {
    use pg_sys::XactEvent::*;
    if matches!(event, XACT_EVENT_COMMIT | XACT_EVENT_ABORT | XACT_EVENT_PREPARE | XACT_EVENT_PARALLEL_COMMIT | XACT_EVENT_PARALLEL_ABORT) {
        STATE.with(|s| s.borrow_mut().clear());
        // A consistency token's request for a new snapshot never outlives
        // the call (and so its transaction) that made it.
        crate::store::consistency::reset();
    }
}

/// Does the current subject (`rbac.current_subject()`) have `action` on
/// `entity_type:id`? The function of `rbac.protect`'s policies; false when
/// no subject is set. Unknown entity types and actions are errors, as in
/// `rbac.check`. (SQL: `rbac.permitted(text, text, text)`, entered through
/// [`notion_rbac_permitted_text`].)
#[pg_extern(sql = false, stable, strict, parallel_restricted)]
fn permitted(action: &str, entity_type: &str, id: &str) -> bool {
    answer(action, entity_type, RowId::Text(id))
}

/// `rbac.permitted` for integer ids (`page:42`), without making text of
/// every row's id.
#[pg_extern(sql = false, stable, strict, parallel_restricted)]
fn permitted_bigint(action: &str, entity_type: &str, id: i64) -> bool {
    answer(action, entity_type, RowId::Int(id))
}

/// `rbac.permitted` for uuid ids (Notion's page ids, in their canonical
/// lower-case hyphenated form), without making text of every row's id.
#[pg_extern(sql = false, stable, strict, parallel_restricted)]
fn permitted_uuid(action: &str, entity_type: &str, id: pgrx::Uuid) -> bool {
    answer(action, entity_type, RowId::Uuid(u128::from_be_bytes(*id.as_bytes())))
}

// The SQL functions enter through the C functions below: once a statement
// has its visible set, a row costs a hash probe, and pgrx's general call
// path (an error guard, a memory-context switch and argument conversion
// per call — about 0.2 µs, measured: twice the probe and more than a
// sequential scan's own cost per row) would dominate a count over a large
// table. The fast path reads the arguments in place, touches no PostgreSQL
// function that can raise an error and cannot panic; anything else — the
// first row of a statement, per-row checks, lookups, compressed or
// out-of-line arguments — goes through the pgrx-wrapped functions above.
pgrx::extension_sql!(
    r#"
CREATE FUNCTION rbac.permitted(action text, entity_type text, id text) RETURNS boolean
STRICT STABLE PARALLEL RESTRICTED LANGUAGE c SUPPORT rbac.permitted_support
AS 'MODULE_PATHNAME', 'notion_rbac_permitted_text';
CREATE FUNCTION rbac.permitted(action text, entity_type text, id bigint) RETURNS boolean
STRICT STABLE PARALLEL RESTRICTED LANGUAGE c SUPPORT rbac.permitted_support
AS 'MODULE_PATHNAME', 'notion_rbac_permitted_int8';
CREATE FUNCTION rbac.permitted(action text, entity_type text, id uuid) RETURNS boolean
STRICT STABLE PARALLEL RESTRICTED LANGUAGE c SUPPORT rbac.permitted_support
AS 'MODULE_PATHNAME', 'notion_rbac_permitted_uuid';
"#,
    name = "permitted_functions",
    requires = ["bootstrap", "permitted_support"]
);

#[unsafe(no_mangle)]
pub extern "C" fn pg_finfo_notion_rbac_permitted_text() -> &'static pg_sys::Pg_finfo_record {
    &crate::pg_ffi::FINFO_V1
}
#[unsafe(no_mangle)]
pub extern "C" fn pg_finfo_notion_rbac_permitted_int8() -> &'static pg_sys::Pg_finfo_record {
    &crate::pg_ffi::FINFO_V1
}
#[unsafe(no_mangle)]
pub extern "C" fn pg_finfo_notion_rbac_permitted_uuid() -> &'static pg_sys::Pg_finfo_record {
    &crate::pg_ffi::FINFO_V1
}

/// # Safety
/// Called by PostgreSQL as `rbac.permitted(text, text, text)` (strict).
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn notion_rbac_permitted_text(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: three non-null arguments of the declared types.
    unsafe {
        let fast = fast_args(fcinfo).and_then(|(action, entity_type, id)| {
            let id = std::str::from_utf8(plain_bytes(id)?).ok()?;
            fast_answer(action, entity_type, RowId::Text(id))
        });
        match fast {
            Some(answer) => pg_sys::Datum::from(answer),
            None => {
                note_call(fcinfo);
                permitted_wrapper(fcinfo)
            }
        }
    }
}

/// # Safety
/// Called by PostgreSQL as `rbac.permitted(text, text, bigint)` (strict).
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn notion_rbac_permitted_int8(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: as above; a bigint is passed by value.
    unsafe {
        let fast = fast_args(fcinfo)
            .and_then(|(action, entity_type, id)| fast_answer(action, entity_type, RowId::Int(id.value() as i64)));
        match fast {
            Some(answer) => pg_sys::Datum::from(answer),
            None => {
                note_call(fcinfo);
                permitted_bigint_wrapper(fcinfo)
            }
        }
    }
}

/// # Safety
/// Called by PostgreSQL as `rbac.permitted(text, text, uuid)` (strict).
#[unsafe(no_mangle)]
pub unsafe extern "C-unwind" fn notion_rbac_permitted_uuid(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: as above; a uuid is passed by reference to its 16 bytes.
    unsafe {
        let fast = fast_args(fcinfo).and_then(|(action, entity_type, id)| {
            let bytes = *id.cast_mut_ptr::<[u8; 16]>();
            fast_answer(action, entity_type, RowId::Uuid(u128::from_be_bytes(bytes)))
        });
        match fast {
            Some(answer) => pg_sys::Datum::from(answer),
            None => {
                note_call(fcinfo);
                permitted_uuid_wrapper(fcinfo)
            }
        }
    }
}

/// Remembers which expression of which plan the slow path runs for (see
/// `permitted_scan`).
/// SAFETY: `fcinfo` is PostgreSQL's call information.
unsafe fn note_call(fcinfo: pg_sys::FunctionCallInfo) {
    // SAFETY: flinfo is set for every call through the function manager.
    unsafe {
        let flinfo = (*fcinfo).flinfo;
        if flinfo.is_null() {
            CALL.set(0);
            return;
        }
        permitted_scan::note_function((*flinfo).fn_oid);
        CALL.set((*flinfo).fn_expr as usize);
    }
}

/// The action and entity type in place, and the id's datum.
/// SAFETY: `fcinfo` of a strict three-argument call whose first two are text.
unsafe fn fast_args<'a>(fcinfo: pg_sys::FunctionCallInfo) -> Option<(&'a [u8], &'a [u8], pg_sys::Datum)> {
    unsafe {
        let args = (*fcinfo).args.as_slice(3);
        Some((plain_bytes(args[0].value)?, plain_bytes(args[1].value)?, args[2].value))
    }
}


/// The answer from the statement's visible set (or its missing subject),
/// if it has one. Calls nothing that can raise an error and cannot panic.
fn fast_answer(action: &[u8], entity_type: &[u8], id: RowId<'_>) -> Option<bool> {
    STATE
        .try_with(|cell| {
            let mut memos = cell.try_borrow_mut().ok()?;
            let i = memos.iter().position(|m| m.action.as_bytes() == action && m.entity_type.as_bytes() == entity_type)?;
            let memo = &mut memos[i];
            if !(memo.snapshot.is_active() && identity::explicit_is(memo.explicit.as_ref())) {
                return None;
            }
            memo.probe(id)
        })
        .ok()
        .flatten()
}

/// A row's id as the policy passes it. Typed ids are compared with the
/// tuples' ids in their text form (`42`, `3f2e…-…`): a stored id matches a
/// typed one exactly when it is that value's canonical text.
#[derive(Clone, Copy)]
enum RowId<'a> {
    Text(&'a str),
    Int(i64),
    Uuid(u128),
}

impl RowId<'_> {
    fn to_text(self) -> String {
        match self {
            RowId::Text(s) => s.to_owned(),
            RowId::Int(n) => n.to_string(),
            RowId::Uuid(u) => {
                let h = format!("{u:032x}");
                format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
            }
        }
    }
}

/// The ids a finished lookup found (sorted, in one buffer), with views for
/// membership built on first use: by text, as integers, as uuids. A visible
/// set of a million ids is then a few allocations to build and to free —
/// also when a cancel unwinds the statement that built it.
struct Visible {
    ids: TextList,
    /// The ids' positions by the hash of their text.
    text: Option<Chains>,
    ints: Option<FxHashSet<i64>>,
    uuids: Option<FxHashSet<u128>>,
    /// The integer and uuid ids sorted, for the planner's arrays; once
    /// built, probes search them from where the last probe ended (`from`):
    /// a scan the array drives returns its rows in the array's order.
    sorted_ints: Option<Rc<[i64]>>,
    sorted_uuids: Option<Rc<[u128]>>,
    from: usize,
}

impl Visible {
    fn new(ids: TextList) -> Visible {
        // (Positions are u32: a visible set is far below 4 billion ids, as
        // it is below the memory a backend may take.)
        Visible { ids, text: None, ints: None, uuids: None, sorted_ints: None, sorted_uuids: None, from: 0 }
    }

    fn len(&self) -> usize {
        self.ids.len()
    }

    fn ints(&mut self) -> &FxHashSet<i64> {
        let ids = &self.ids;
        self.ints.get_or_insert_with(|| ids.iter().filter_map(canonical_int).collect())
    }

    fn uuids(&mut self) -> &FxHashSet<u128> {
        let ids = &self.ids;
        self.uuids.get_or_insert_with(|| ids.iter().filter_map(canonical_uuid).collect())
    }

    /// The ids that are an integer's canonical text, sorted.
    fn sorted_ints(&mut self) -> Rc<[i64]> {
        sorted_once(&mut self.sorted_ints, &self.ids, canonical_int)
    }

    /// The ids that are a uuid's canonical text, sorted.
    fn sorted_uuids(&mut self) -> Rc<[u128]> {
        sorted_once(&mut self.sorted_uuids, &self.ids, canonical_uuid)
    }

    fn contains(&mut self, id: RowId<'_>) -> bool {
        match id {
            RowId::Text(s) => {
                let ids = &self.ids;
                let chains = self.text.get_or_insert_with(|| Chains::build(ids.len(), |i| key_hash(&[ids.get(i)])));
                chains.positions(key_hash(&[s])).any(|i| ids.get(i) == s)
            }
            RowId::Int(n) => match &self.sorted_ints {
                Some(sorted) => probe_sorted(sorted, &mut self.from, n),
                None => self.ints().contains(&n),
            },
            RowId::Uuid(u) => match &self.sorted_uuids {
                Some(sorted) => probe_sorted(sorted, &mut self.from, u),
                None => self.uuids().contains(&u),
            },
        }
    }
}

/// The ids `canonical` maps, sorted: built on first use from the ids
/// themselves (not from a probe set), then shared.
fn sorted_once<T: Ord + Copy>(slot: &mut Option<Rc<[T]>>, ids: &TextList, canonical: fn(&str) -> Option<T>) -> Rc<[T]> {
    Rc::clone(slot.get_or_insert_with(|| {
        let mut v: Vec<T> = ids.iter().filter_map(canonical).collect();
        v.sort_unstable();
        v.into()
    }))
}

/// `s` as an integer if it is exactly an integer's text (no sign `+`, no
/// leading zeros): only then can a bigint id equal it.
fn canonical_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let canonical = !digits.is_empty()
        && digits.bytes().all(|c| c.is_ascii_digit())
        && (digits == "0" && digits.len() == s.len() || !digits.starts_with('0'));
    if canonical { s.parse().ok() } else { None }
}

/// `s` as a uuid if it is exactly a uuid's text as PostgreSQL writes it
/// (lower case, hyphenated).
fn canonical_uuid(s: &str) -> Option<u128> {
    let b = s.as_bytes();
    if b.len() != 36 || [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
        return None;
    }
    let hex: String = s.chars().filter(|&c| c != '-').collect();
    if hex.len() != 32 || !hex.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)) {
        return None;
    }
    u128::from_str_radix(&hex, 16).ok()
}

fn answer(action: &str, entity_type: &str, id: RowId<'_>) -> bool {
    let found = STATE.with(|cell| {
        let mut memos = cell.borrow_mut();
        let i = position(&memos, action, entity_type)?;
        memos[i].probe(id)
    });
    if let Some(answer) = found {
        return answer;
    }
    check_row(action, entity_type, id)
}

/// The memo for this statement's snapshot, subject, action and type.
fn position(memos: &[Memo], action: &str, entity_type: &str) -> Option<usize> {
    let i = memos.iter().position(|m| m.action == action && m.entity_type == entity_type)?;
    let memo = &memos[i];
    (memo.snapshot.is_active() && identity::explicit_is(memo.explicit.as_ref())).then_some(i)
}

/// The slow path: a new memo if needed, one check, and a lookup attempt
/// when the checks so far have earned it.
fn check_row(action: &str, entity_type: &str, id: RowId<'_>) -> bool {
    let (i, fresh) = memo_for(action, entity_type);
    let (subject, subject_text, due) = STATE.with(|cell| {
        let memos = cell.borrow();
        let m = &memos[i];
        (m.subject.clone(), m.subject_text.clone(), m.next_attempt.is_some_and(|at| m.spent >= at))
    });
    let Some(subject) = subject else { return false };
    // A new memo's visible set may be kept from an earlier statement: a
    // memo about to buy one looks first, in a read of its own; otherwise
    // the look is the first step of this row's check, in the same read
    // (one read's locks, privilege checks and cache key for the
    // statement's first row instead of two: a point lookup is little else).
    let recall_key = (fresh && !due).then(|| answer_key(&subject, action, entity_type));
    if fresh && due && recall_visible(i, action, entity_type) {
        return answer(action, entity_type, id);
    }
    if due && try_lookup(i, &subject, action, entity_type) {
        count(|s| s.probes += 1);
        return STATE.with(|cell| cell.borrow()[i].visible.as_ref().is_some_and(|v| v.borrow_mut().contains(id)));
    }
    let started = Instant::now();
    let object = ObjectRef { ty: entity_type.to_owned(), id: id.to_text() };
    let kept = STATE.with(|cell| cell.borrow_mut()[i].kept.take());
    let checked = store::read_active(|active, source| {
        if let Some(key) = &recall_key
            && let Some(visible) = recalled_in(active, source, key, action, entity_type)
        {
            return Err(visible);
        }
        let ctx = Context::default();
        let opts = options();
        // Under the read cache's key, what earlier checks of this subject
        // learnt — rows of this statement, of an earlier one that saw the
        // same data, or rbac.check calls — lives in the cache (see
        // `ReadCache::take_checker`); without the cache, in this memo.
        let in_cache = source.cache().keeps_checkers();
        let reads_before = source.cache().reads();
        let subject_key = in_cache.then_some(subject_text);
        // The statement's own memo first: one the cache refused (more than
        // its whole bound) stays with the statement.
        let kept = match (kept, &subject_key) {
            (Some((schema, kept, deps)), _) if Rc::ptr_eq(&schema, active) => {
                source.cache().add_deps(deps);
                kept
            }
            (_, Some(key)) => source.cache().take_checker(key, opts),
            _ => Kept::default(),
        };
        let mut checker = Checker::resume(&active.schema, source, &ctx, opts, kept);
        let allowed = checker.check(&object, action, &subject);
        // A failed check's memo is dropped with it (the statement ends).
        let learnt = allowed.is_ok().then(|| checker.keep());
        let learnt = match (subject_key, learnt) {
            (Some(key), Some(learnt)) => source.cache().keep_checker(&key, opts, learnt, reads_before),
            (None, learnt) => learnt.map(|learnt| (learnt, Deps::default())),
            (Some(_), None) => None,
        };
        let kept = learnt.map(|(learnt, deps)| (Rc::clone(active), learnt, deps));
        Ok((allowed, kept))
    });
    let (allowed, kept) = match checked {
        Ok(checked) => checked,
        Err(visible) => {
            adopt(i, visible);
            // A probe now (or, should it not answer, a check: the memo is
            // no longer new).
            return answer(action, entity_type, id);
        }
    };
    let allowed = allowed.or_raise();
    STATE.with(|cell| {
        let mut memos = cell.borrow_mut();
        memos[i].spent += started.elapsed();
        memos[i].kept = kept;
    });
    count(|s| s.checks += 1);
    allowed
}

fn new_memo(action: &str, entity_type: &str) -> usize {
    let explicit = identity::explicit();
    let subject = current_subject(&explicit).map(|s| tuple::parse_subject(&s).or_raise());
    let Some(snapshot) = StatementSnapshot::active() else {
        pgrx::error!("rbac.permitted needs an active MVCC snapshot")
    };
    let hint = subject.as_ref().map(|s| cost_hint(s, action, entity_type)).unwrap_or_default();
    let (first_attempt, min_budget) = match buy_at_once(hint) {
        Some(budget) => (Duration::ZERO, budget),
        None => (hint.first_attempt(), FIRST_ATTEMPT),
    };
    let memo = Memo {
        snapshot,
        explicit,
        action: action.to_owned(),
        entity_type: entity_type.to_owned(),
        subject_text: subject.as_ref().map(ToString::to_string).unwrap_or_default(),
        subject,
        spent: Duration::ZERO,
        next_attempt: Some(first_attempt),
        min_budget,
        visible: None,
        kept: None,
    };
    STATE.with(|cell| {
        let mut memos = cell.borrow_mut();
        // Replace a memo of the same action and type (an earlier
        // statement's), else the oldest once full.
        if let Some(i) = memos.iter().position(|m| m.action == action && m.entity_type == entity_type) {
            memos[i] = memo;
            return i;
        }
        if memos.len() == MEMOS {
            memos.remove(0);
        }
        memos.push(memo);
        memos.len() - 1
    })
}

/// What a per-row check is taken to cost when deciding before the first
/// one (a check of a row whose ancestors are not decided yet costs 20 to
/// 40 µs at a million tuples; siblings of decided rows less).
const ROW_CHECK_PRIOR: Duration = Duration::from_micros(10);

/// The budget of a lookup to try at the statement's first row, when its
/// plan will pass so many rows through the policy (see `permitted_scan`)
/// that checking them would cost more than twice the subject's last
/// finished lookup; None to rent first (the ski-rental), as when the plan
/// or the price is unknown. The budget is what the checks were expected to
/// cost: the lookup may take longer than last time (a colder cache, more
/// data) and still be the better buy.
fn buy_at_once(hint: CostHint) -> Option<Duration> {
    let (took, size) = (hint.took?, hint.size?);
    let rows = permitted_scan::scan_size(CALL.get())?.rows_checked(size as f64)?;
    let renting = ROW_CHECK_PRIOR.as_secs_f64() * rows;
    (renting > 2.0 * took.as_secs_f64()).then(|| Duration::from_secs_f64(renting.min(3600.0)).max(FIRST_ATTEMPT))
}

/// `rbac.current_subject()`: the subject `rbac.set_subject` set
/// (`explicit`, as [`identity::explicit`] returned it), read in place; else
/// through SQL, since the function is SECURITY DEFINER (the login-role
/// mapping is not readable by the roles querying the table). The SQL call
/// is a query parsed and planned for every statement — as much as a cold
/// check costs — so a set subject skips it.
fn current_subject(explicit: &Option<Option<String>>) -> Option<String> {
    if let Some(set) = explicit {
        return set.clone();
    }
    store::read_rows(c"SELECT rbac.current_subject()", &[], |col| store::from_datum::<String>(col(1)))
        .into_iter()
        .next()
        .flatten()
}

/// Tries the whole lookup within the time the memo has spent; true if it
/// finished (the memo then holds the visible set).
fn try_lookup(i: usize, subject: &SubjectRef, action: &str, entity_type: &str) -> bool {
    let budget = STATE.with(|cell| {
        let m = &cell.borrow()[i];
        m.spent.max(m.min_budget)
    });
    let started = Instant::now();
    let outcome = lookup_within(subject, action, entity_type, Some(budget));
    STATE.with(|cell| {
        let mut memos = cell.borrow_mut();
        let m = &mut memos[i];
        match outcome {
            Lookup::Finished(visible) => {
                m.kept = None;
                m.visible = Some(visible);
                true
            }
            Lookup::GaveUp => {
                m.spent += started.elapsed();
                m.next_attempt = Some(m.spent * 2);
                false
            }
            // Rows a lookup would leave out (see `Lookup::Unlisted`), or any
            // other failure (a depth limit met elsewhere in the graph, say):
            // per-row checks stay the reference, and report their own
            // errors.
            Lookup::Unlisted(_) | Lookup::Failed(_) => {
                m.next_attempt = None;
                false
            }
        }
    })
}

/// Refuses a visible set a lookup cannot list (0A000): the ids functions
/// are the index condition's array, which the planner is never offered
/// for such a permission; a direct call gets this.
fn unlisted_error(action: &str, entity_type: &str, rule: &str) -> ! {
    pgrx::pg_sys::panic::ErrorReport::new(
        PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
        format!("the {entity_type} ids with {action} cannot be listed: rule \"{rule}\" holds for entities without attributes"),
        "",
    )
    .set_detail("A lookup finds entities through stored tuples and attribute values only.")
    .set_hint("Check each id with rbac.check (or rbac.permitted), or store the attributes the rule reads.")
    .report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

/// The key of a visible set among the read cache's kept answers (computed
/// under the current limits).
fn answer_key(subject: &SubjectRef, action: &str, entity_type: &str) -> String {
    format!("permitted\0{subject}\0{action}\0{entity_type}\0{}", super::check::options_key())
}

/// The statement's memo for `action` on `entity_type`, made if needed; and
/// whether it is new (made now: its visible set may still be found kept by
/// an earlier statement, see [`recall_visible`]).
fn memo_for(action: &str, entity_type: &str) -> (usize, bool) {
    match STATE.with(|cell| position(&cell.borrow(), action, entity_type)) {
        Some(i) => (i, false),
        None => (new_memo(action, entity_type), true),
    }
}

/// The visible set an earlier statement kept for `key` (its snapshot saw
/// the same data; the read cache took this statement's table locks and
/// privilege checks), None where a lookup cannot list the rows (see
/// `Lookup::Unlisted`). Called inside a read.
fn recalled_in(active: &ActiveSchema, source: &mut store::source::IndexSource, key: &str, action: &str, entity_type: &str) -> Option<Rc<RefCell<Visible>>> {
    active.unlisted_by(entity_type, action).is_none().then(|| source.cache().recall::<RefCell<Visible>>(key)).flatten()
}

/// Gives memo `i` a visible set found kept (see [`recalled_in`]).
fn adopt(i: usize, visible: Rc<RefCell<Visible>>) {
    count(|s| s.reused += 1);
    STATE.with(|cell| cell.borrow_mut()[i].visible = Some(visible));
}

/// For a new memo: whether its visible set was found kept, in a read of its
/// own (then memo `i` holds it).
fn recall_visible(i: usize, action: &str, entity_type: &str) -> bool {
    let Some(subject) = STATE.with(|cell| cell.borrow()[i].subject.clone()) else { return false };
    let key = answer_key(&subject, action, entity_type);
    match store::read_active(|active, source| recalled_in(active, source, &key, action, entity_type)) {
        Some(visible) => {
            adopt(i, visible);
            true
        }
        None => false,
    }
}

/// How a lookup for a visible set ended.
enum Lookup {
    Finished(Rc<RefCell<Visible>>),
    /// It would have taken longer than allowed.
    GaveUp,
    /// Not tried: a rule of the permission holds on missing attributes, so
    /// a lookup would leave out rows checks grant (`engine::unlisted_by`,
    /// named here). Those rows are checked one by one; no visible set is
    /// bought, kept or offered to the planner for them.
    Unlisted(String),
    Failed(notion_rbac_core::Error),
}

/// `lookup_resources` for `subject` in the current snapshot, within
/// `budget` if given. A finished set is kept beside the read cache for
/// later statements that see the same data (a cache of one call keeps
/// nothing); either outcome is learnt as a cost hint and counted.
fn lookup_within(subject: &SubjectRef, action: &str, entity_type: &str, budget: Option<Duration>) -> Lookup {
    let started = Instant::now();
    let outcome = store::read_active(|active, source| {
        if let Some(rule) = active.unlisted_by(entity_type, action) {
            return Err(rule);
        }
        let schema = &active.schema;
        let (found, gave_up) = match budget {
            Some(budget) => {
                let mut limited = Deadline::new(&mut *source, started + budget);
                let found = engine::lookup_resource_list(schema, &mut limited, subject, action, entity_type, &Context::default(), options());
                (found, limited.passed())
            }
            None => (engine::lookup_resource_list(schema, source, subject, action, entity_type, &Context::default(), options()), false),
        };
        let found = found.map(|ids| {
            let n = ids.len();
            let visible = Rc::new(RefCell::new(Visible::new(ids)));
            source.cache().remember(&answer_key(subject, action, entity_type), Rc::clone(&visible), n);
            (visible, n)
        });
        Ok((found, gave_up))
    });
    let (found, gave_up) = match outcome {
        Ok(read) => read,
        Err(rule) => return Lookup::Unlisted(rule),
    };
    match found {
        Ok((visible, size)) => {
            count(|s| s.lookups += 1);
            learn(subject, action, entity_type, |h| {
                h.took = Some(started.elapsed());
                h.size = Some(size);
            });
            Lookup::Finished(visible)
        }
        Err(_) if gave_up => {
            count(|s| s.abandoned += 1);
            let budget = budget.unwrap_or_default();
            learn(subject, action, entity_type, |h| h.not_within = h.not_within.max(budget));
            Lookup::GaveUp
        }
        Err(e) => {
            // What the last finished lookup found no longer holds: the
            // planner must not offer an index condition on its size (its
            // array would fail the same way), and the first row must not
            // buy one at once. Per-row checks remain the reference.
            learn(subject, action, entity_type, |h| {
                h.took = None;
                h.size = None;
            });
            Lookup::Failed(e)
        }
    }
}

pub(super) fn cost_hint(subject: &SubjectRef, action: &str, entity_type: &str) -> CostHint {
    let key = answer_key(subject, action, entity_type);
    COSTS.with(|c| c.borrow().get(&key).copied().unwrap_or_default())
}

fn learn(subject: &SubjectRef, action: &str, entity_type: &str, f: impl FnOnce(&mut CostHint)) {
    let key = answer_key(subject, action, entity_type);
    COSTS.with(|c| {
        let mut costs = c.borrow_mut();
        if costs.len() >= COST_HINTS && !costs.contains_key(&key) {
            costs.clear();
        }
        f(costs.entry(key).or_default());
    });
}

/// The statement's visible set for `action` on `entity_type` (None: no
/// subject, nothing visible): kept, or found by a whole lookup in the
/// statement's snapshot, then shared with the policy's per-row function.
fn visible_set(action: &str, entity_type: &str) -> Option<Rc<RefCell<Visible>>> {
    // The planner may evaluate the array for its estimates, in a snapshot
    // older than the statement's (one that may not see a model written
    // earlier in the transaction): no model, nothing visible, no error.
    // The statement itself then fails closed in the same way.
    store::schema::active()?;
    let (i, fresh) = memo_for(action, entity_type);
    if fresh {
        recall_visible(i, action, entity_type);
    }
    let (subject, visible) = STATE.with(|cell| {
        let m = &cell.borrow()[i];
        (m.subject.clone(), m.visible.clone())
    });
    let subject = subject?;
    if visible.is_some() {
        return visible;
    }
    let visible = match lookup_within(&subject, action, entity_type, None) {
        Lookup::Finished(visible) => visible,
        Lookup::Failed(e) => crate::errors::raise(e),
        Lookup::Unlisted(rule) => unlisted_error(action, entity_type, &rule),
        Lookup::GaveUp => unreachable!("a lookup without a budget is never given up"),
    };
    STATE.with(|cell| {
        let mut memos = cell.borrow_mut();
        memos[i].kept = None;
        memos[i].visible = Some(Rc::clone(&visible));
    });
    Some(visible)
}

/// Every id of `entity_type` on which the current subject has `action`, as
/// text, sorted: the array of the index condition the planner may add to a
/// protected table's scan (see `permitted_plan`); empty without a subject.
#[pg_extern(stable, strict, parallel_restricted)]
fn permitted_ids(action: &str, entity_type: &str) -> Vec<String> {
    // (A lookup's ids come sorted.)
    visible_set(action, entity_type).map_or_else(Vec::new, |v| v.borrow().ids.iter().map(str::to_owned).collect())
}

/// [`permitted_ids`] for bigint id columns (the ids that are an integer's
/// canonical text).
#[pg_extern(stable, strict, parallel_restricted)]
fn permitted_ids_bigint(action: &str, entity_type: &str) -> Int8Ids {
    Int8Ids(visible_set(action, entity_type).map_or_else(|| Rc::from([]), |v| v.borrow_mut().sorted_ints()))
}

/// [`permitted_ids`] for uuid id columns (the ids that are a uuid's
/// canonical text).
#[pg_extern(stable, strict, parallel_restricted)]
fn permitted_ids_uuid(action: &str, entity_type: &str) -> UuidIds {
    UuidIds(visible_set(action, entity_type).map_or_else(|| Rc::from([]), |v| v.borrow_mut().sorted_uuids()))
}

/// [`permitted_ids_bigint`], volatile: the array of the index condition
/// `permitted_plan` offers for a large visible set read by an index-only
/// scan. The planner does not evaluate a volatile function for its
/// estimates, so it does not estimate such an array element by element
/// (about 1,250 instructions an id: 7 ms of planning for 100,000 ids, every
/// time the statement is planned); the scan evaluates it once, when it
/// starts. The set is the statement's, as for the stable function.
#[pg_extern(volatile, strict, parallel_restricted)]
fn permitted_ids_bigint_at_scan(action: &str, entity_type: &str) -> Int8Ids {
    permitted_ids_bigint(action, entity_type)
}

/// [`permitted_ids_uuid`], volatile (see [`permitted_ids_bigint_at_scan`]).
#[pg_extern(volatile, strict, parallel_restricted)]
fn permitted_ids_uuid_at_scan(action: &str, entity_type: &str) -> UuidIds {
    permitted_ids_uuid(action, entity_type)
}

/// For the planner (see `permitted_plan`): how many ids `subject` can act
/// on — what its last finished lookup found, or, when this backend knows
/// nothing yet, a lookup tried within `budget` in the planning snapshot
/// (a finished one is kept beside the read cache, so the execution of the
/// same statement finds it there when no write to rbac's tables came in
/// between). None when it would take longer.
pub(super) fn estimate_visible(subject: &SubjectRef, action: &str, entity_type: &str, budget: Duration) -> Option<usize> {
    // Planning must not fail where the query itself would not have: only
    // with a snapshot, the right to read rbac's tables and a model.
    // SAFETY: reads whether this backend has an active snapshot.
    if !unsafe { pg_sys::ActiveSnapshotSet() } {
        return None;
    }
    use crate::store::index_scan::may_read;
    if !(may_read(c"schemas") && may_read(c"tuples") && may_read(c"attributes")) {
        return None;
    }
    // No estimate (and so no index condition) for a set a lookup cannot
    // list: the hint may hold one from before the model changed.
    if store::schema::active()?.unlisted_by(entity_type, action).is_some() {
        return None;
    }
    let hint = cost_hint(subject, action, entity_type);
    if hint.size.is_some() {
        return hint.size;
    }
    if hint.not_within >= budget {
        return None;
    }
    match lookup_within(subject, action, entity_type, Some(budget)) {
        Lookup::Finished(visible) => Some(visible.borrow().len()),
        Lookup::GaveUp | Lookup::Unlisted(_) | Lookup::Failed(_) => None,
    }
}
