//! The executor's side of `rbac.permitted`: how many rows a statement's
//! plan will pass through the policy, so that a statement that checks
//! every row of a big table (a `count(*)`, an export) buys the subject's
//! whole lookup at its first row instead of first renting per-row checks
//! for as long as the lookup costs (the ski-rental of `permitted`, which
//! stays the rule whenever this module knows nothing).
//!
//! At executor start (a hook; the library is loaded before any plan that
//! calls `rbac.permitted` runs, because planning calls its support
//! function) every scan node of the plan whose filter calls
//! `rbac.permitted` directly is noted with its table's row estimate,
//! whether it reads the whole table (no index condition), and the constant
//! `LIMIT` above it, if rows flow to that limit without a node that reads
//! all of its input in between (a sort, an aggregate, a hash).
//! `rbac.permitted` finds its own call among the notes by its expression
//! node (`flinfo->fn_expr`, which points into the executing plan).
//!
//! The notes are hints for the strategy only: a missing or stale note (an
//! address reused by a later plan) can make a statement slower, never give
//! a different answer. Reading a plan takes no lock and no catalog access
//! beyond the relation cache entries the executor has already opened.

use std::cell::RefCell;

use pgrx::pg_sys;

/// How many rows a statement's scan is expected to pass through the policy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ScanSize {
    /// The table's row estimate (`pg_class.reltuples`).
    pub(crate) table_rows: f64,
    /// The scan reads the whole table (in some order) up to its limit: a
    /// sequential scan, or an index scan without an index condition. A
    /// scan with conditions (a point query, a range) is not sized here:
    /// the planner's row estimates after a selective condition are clamped
    /// to one row and say too little.
    pub(crate) whole_table: bool,
    /// The scan feeds a constant LIMIT (plus OFFSET) of this many rows.
    pub(crate) limit: Limit,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Limit {
    /// Every row the scan reaches is needed.
    None,
    /// A constant limit (plus offset) above the scan.
    Rows(f64),
    /// A limit whose size the plan does not say (a parameter).
    Unknown,
}

impl ScanSize {
    /// The rows the policy will see when `visible` of the table's rows pass
    /// it, or None when the plan does not say: the table for a scan of it
    /// all, fewer when a limit stops the scan.
    pub(crate) fn rows_checked(self, visible: f64) -> Option<f64> {
        if self.table_rows < 1.0 || !self.whole_table {
            return None;
        }
        let passing = (visible / self.table_rows).clamp(1.0 / self.table_rows, 1.0);
        match self.limit {
            Limit::None => Some(self.table_rows),
            Limit::Rows(n) => Some(self.table_rows.min(n / passing)),
            Limit::Unknown => None,
        }
    }
}

/// Notes kept at once (a statement has one per protected scan; nested
/// statements add theirs).
const NOTES: usize = 32;

thread_local! {
    /// The OIDs `rbac.permitted` has been called under in this backend
    /// (its three forms): a plan's calls are recognised by these, without
    /// catalog access in the hook.
    static FUNCTIONS: RefCell<Vec<pg_sys::Oid>> = const { RefCell::new(Vec::new()) };
    /// (address of a call's expression node, its scan's size), newest last.
    static NOTED: RefCell<Vec<(usize, ScanSize)>> = const { RefCell::new(Vec::new()) };
}

static mut PREVIOUS_HOOK: pg_sys::ExecutorStart_hook_type = None;

/// Installs the executor-start hook (from `_PG_init`, once per backend).
pub(crate) fn register_hook() {
    // SAFETY: _PG_init runs once per process, before any query of ours;
    // the previous hook is chained.
    unsafe {
        PREVIOUS_HOOK = pg_sys::ExecutorStart_hook;
        pg_sys::ExecutorStart_hook = Some(executor_start);
    }
}

/// Records that `rbac.permitted` runs under `oid` (called on its slow path).
/// (Reached from `rbac.permitted`'s unguarded entry: never panics; a note
/// it cannot make only leaves a scan's size unknown.)
pub(crate) fn note_function(oid: pg_sys::Oid) {
    let _ = FUNCTIONS.try_with(|f| {
        if let Ok(mut f) = f.try_borrow_mut()
            && !f.contains(&oid)
        {
            f.push(oid);
        }
    });
}

/// The size noted for the call whose expression node is at `expr`.
pub(crate) fn scan_size(expr: usize) -> Option<ScanSize> {
    if expr == 0 {
        return None;
    }
    NOTED.with(|n| n.borrow().iter().rev().find(|(e, _)| *e == expr).map(|(_, s)| *s))
}

// Not `#[pg_guard]`, as `utility::process_utility` (which says why): an
// error raised while the executor starts (a privilege refused, another
// extension's hook) reaches the caller as PostgreSQL raised it; this frame
// holds nothing with a destructor, and the extension's work runs guarded
// after.
unsafe extern "C-unwind" fn executor_start(query: *mut pg_sys::QueryDesc, eflags: std::ffi::c_int) {
    // SAFETY: the hook contract: chain to the previous hook or the
    // standard function, then read the plan.
    unsafe {
        match PREVIOUS_HOOK {
            Some(previous) => previous(query, eflags),
            None => crate::pg_ffi::standard_ExecutorStart(query, eflags),
        }
        note_plan(query, eflags);
    }
}

/// Notes the size of every protected scan of a started query's plan,
/// which lives until the query ends.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn note_plan(query: *mut pg_sys::QueryDesc, eflags: std::ffi::c_int) {
    // SAFETY: `query` is the started query's valid descriptor.
    unsafe {
        if eflags & pg_sys::EXEC_FLAG_EXPLAIN_ONLY as i32 != 0 || FUNCTIONS.with(|f| f.borrow().is_empty()) {
            return;
        }
        let stmt = (*query).plannedstmt;
        if stmt.is_null() {
            return;
        }
        let mut found = Vec::new();
        walk(stmt, (*stmt).planTree, Limit::None, &mut found);
        for sub in list_ptrs::<pg_sys::Plan>((*stmt).subplans) {
            // A sub-plan runs once per outer row or once: its own size
            // says little about the rows it will check in all.
            walk(stmt, sub, Limit::Unknown, &mut found);
        }
        if found.is_empty() {
            return;
        }
        NOTED.with(|n| {
            let mut n = n.borrow_mut();
            for (expr, size) in found {
                n.retain(|(e, _)| *e != expr);
                if n.len() == NOTES {
                    n.remove(0);
                }
                n.push((expr, size));
            }
        });
    }
}

/// The elements of a pointer list.
/// SAFETY: `list` is NIL or a valid List of pointers to `T`.
unsafe fn list_ptrs<T>(list: *mut pg_sys::List) -> Vec<*mut T> {
    if list.is_null() {
        return Vec::new();
    }
    // SAFETY: a pointer List's elements are `ptr_value`s.
    unsafe { (0..(*list).length as usize).map(|i| (*(*list).elements.add(i)).ptr_value as *mut T).collect() }
}

/// A constant int8 of a LIMIT or OFFSET clause.
/// SAFETY: `node` is NULL or a valid expression node.
unsafe fn constant_rows(node: *mut pg_sys::Node) -> Option<f64> {
    // SAFETY: the tag is read before the cast.
    unsafe {
        if node.is_null() || (*node).type_ != pg_sys::NodeTag::T_Const {
            return None;
        }
        let c = node as *mut pg_sys::Const;
        if (*c).constisnull || (*c).consttype != pg_sys::INT8OID {
            return None;
        }
        Some(((*c).constvalue.value() as i64).max(0) as f64)
    }
}

/// Notes every scan under `plan` that filters by `rbac.permitted`.
/// SAFETY: `plan` is NULL or a node of `stmt`'s plan tree.
unsafe fn walk(stmt: *mut pg_sys::PlannedStmt, plan: *mut pg_sys::Plan, limit: Limit, found: &mut Vec<(usize, ScanSize)>) {
    use pg_sys::NodeTag::*;
    if plan.is_null() {
        return;
    }
    pgrx::check_for_interrupts!();
    // SAFETY: each cast follows the node's tag.
    unsafe {
        let tag = (*plan).type_;
        match tag {
            T_SeqScan | T_SampleScan | T_IndexScan | T_IndexOnlyScan | T_BitmapHeapScan | T_TidScan => {
                note_scan(stmt, plan, limit, found);
            }
            _ => {}
        }
        // What the children feed. A limit passes through nodes that pass
        // rows on one for one; nodes that read all of their input before
        // returning a row (a sort, a hash, a plain or hashed aggregate, a
        // set operation) need every row; any other node (a join, a
        // grouping, a window) needs every row when everything above it is
        // needed, and an unknown number under a limit.
        let streaming = |limit: Limit| if limit == Limit::None { Limit::None } else { Limit::Unknown };
        let below = match tag {
            T_Limit => {
                let l = plan as *mut pg_sys::Limit;
                if (*l).limitCount.is_null() {
                    limit
                } else {
                    match (constant_rows((*l).limitCount), (*l).limitOffset.is_null()) {
                        (Some(n), true) => Limit::Rows(n),
                        (Some(n), false) => constant_rows((*l).limitOffset).map_or(Limit::Unknown, |o| Limit::Rows(n + o)),
                        (None, _) => Limit::Unknown,
                    }
                }
            }
            T_Result | T_SubqueryScan | T_Append | T_MergeAppend | T_Gather | T_GatherMerge | T_LockRows | T_ProjectSet => {
                limit
            }
            T_Sort | T_Hash | T_SetOp => Limit::None,
            T_Agg if (*(plan as *mut pg_sys::Agg)).aggstrategy != pg_sys::AggStrategy::AGG_SORTED => Limit::None,
            _ => streaming(limit),
        };
        walk(stmt, (*plan).lefttree, below, found);
        walk(stmt, (*plan).righttree, below, found);
        match tag {
            T_Append => {
                for p in list_ptrs::<pg_sys::Plan>((*(plan as *mut pg_sys::Append)).appendplans) {
                    walk(stmt, p, below, found);
                }
            }
            T_MergeAppend => {
                for p in list_ptrs::<pg_sys::Plan>((*(plan as *mut pg_sys::MergeAppend)).mergeplans) {
                    walk(stmt, p, below, found);
                }
            }
            T_SubqueryScan => walk(stmt, (*(plan as *mut pg_sys::SubqueryScan)).subplan, below, found),
            _ => {}
        }
    }
}

/// Notes the scan's calls of `rbac.permitted` (top-level filter terms, the
/// form `rbac.protect`'s policies take). A scan counts as reading the whole
/// table for a call only when the call is the filter's first term: terms
/// evaluated before it (cheap conditions PostgreSQL puts first) may let
/// few rows reach it.
/// SAFETY: `plan` is a Scan node of `stmt`.
unsafe fn note_scan(stmt: *mut pg_sys::PlannedStmt, plan: *mut pg_sys::Plan, limit: Limit, found: &mut Vec<(usize, ScanSize)>) {
    // SAFETY: the scan's range-table entry is in the statement's range
    // table; the relation is open and locked by the executor.
    unsafe {
        let calls: Vec<(usize, bool)> = list_ptrs::<pg_sys::Node>((*plan).qual)
            .into_iter()
            .enumerate()
            .filter(|(_, e)| {
                (**e).type_ == pg_sys::NodeTag::T_FuncExpr
                    && FUNCTIONS.with(|f| f.borrow().contains(&(*(*e as *mut pg_sys::FuncExpr)).funcid))
            })
            .map(|(i, e)| (e as usize, i == 0))
            .collect();
        if calls.is_empty() {
            return;
        }
        let scanrelid = (*(plan as *mut pg_sys::Scan)).scanrelid as usize;
        let rtable = list_ptrs::<pg_sys::RangeTblEntry>((*stmt).rtable);
        let Some(rte) = scanrelid.checked_sub(1).and_then(|i| rtable.get(i)) else { return };
        if (**rte).rtekind != pg_sys::RTEKind::RTE_RELATION {
            return;
        }
        let rel = pg_sys::RelationIdGetRelation((**rte).relid);
        if rel.is_null() {
            return;
        }
        let table_rows = (*(*rel).rd_rel).reltuples as f64;
        pg_sys::RelationClose(rel);
        let whole_table = match (*plan).type_ {
            pg_sys::NodeTag::T_SeqScan => true,
            pg_sys::NodeTag::T_IndexScan => (*(plan as *mut pg_sys::IndexScan)).indexqual.is_null(),
            pg_sys::NodeTag::T_IndexOnlyScan => (*(plan as *mut pg_sys::IndexOnlyScan)).indexqual.is_null(),
            _ => false,
        };
        for (call, first) in calls {
            found.push((call, ScanSize { table_rows, whole_table: whole_table && first, limit }));
        }
    }
}
