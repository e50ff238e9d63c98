//! The planner's side of `rbac.permitted` (its support function): a
//! selectivity from what the subject's last lookup found, and — for a
//! subject who sees little of a big table — an index condition
//! `id = ANY (rbac.permitted_ids…(action, entity_type))` on the id column's
//! B-tree, so that the scan fetches the visible rows by key instead of
//! passing every row of the table, or of a sort order, through the policy.
//!
//! Why it is exact: the array is the statement's visible set, computed in
//! the statement's snapshot when the scan starts (the same set the per-row
//! function probes), and the condition is lossy — the policy's own
//! `rbac.permitted(...)` stays a filter on every row the index returns, so
//! a row is returned only if the current subject may see it, even when the
//! subject changed after the scan started. A row missing from the array is
//! one the subject cannot see.
//!
//! Why it is offered only sometimes: PostgreSQL costs the scan's descents
//! as if an array that is not a constant had ten elements (it evaluates
//! the array only to estimate the rows it selects), so once offered the
//! planner tends to prefer the condition whatever the array's real size.
//! (On PostgreSQL 17 and later it is also offered for a larger set when the
//! query passes every row through the policy anyway: see
//! [`reads_every_row`]. Where an index-only scan reads such a set, the
//! array is a volatile twin the planner does not estimate, and
//! [`array_pays`] decides.) It is offered when the
//! subject's last finished lookup (this backend's cost hint, see
//! `permitted`; for a subject it knows nothing of, a lookup tried within
//! [`PLANNING_LOOKUP`] at planning time, whose set the execution then
//! reuses) found few ids for the table's size ([`small_set`]), for the
//! subject set by `rbac.set_subject` at planning time. A plan made for one subject
//! and reused for another (a prepared statement's generic plan under a
//! pooler) stays exact; it may only be slower.

use std::ffi::CString;

use notion_rbac_core::tuple;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgList;

use super::identity;
use super::permitted::estimate_visible;

/// How long planning may spend on a lookup for a subject this backend
/// knows nothing of yet (once per subject, action and type).
const PLANNING_LOOKUP: std::time::Duration = std::time::Duration::from_millis(10);

/// The visible set is small for a table of `rows` rows: at most 1% of it,
/// capped at 10,000 ids (a sorted listing that needs 50 of them passes
/// about `50 × rows / visible` rows the other way), and at least 1,000.
fn small_set(visible: usize, rows: f64) -> bool {
    let bound = (rows / 100.0).clamp(1_000.0, 10_000.0);
    (visible as f64) <= bound
}

pgrx::extension_sql!(
    r#"
CREATE FUNCTION rbac.permitted_support(internal) RETURNS internal
STRICT LANGUAGE c AS 'MODULE_PATHNAME', 'notion_rbac_permitted_support';
"#,
    name = "permitted_support",
    requires = ["bootstrap"]
);

#[unsafe(no_mangle)]
pub extern "C" fn pg_finfo_notion_rbac_permitted_support() -> &'static pg_sys::Pg_finfo_record {
    &crate::pg_ffi::FINFO_V1
}

/// # Safety
/// Called by the planner as `rbac.permitted`'s support function, with one
/// planner support request node.
#[unsafe(no_mangle)]
#[pg_guard]
pub unsafe extern "C-unwind" fn notion_rbac_permitted_support(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: one non-null `internal` argument, a support request node.
    unsafe {
        let req = (*fcinfo).args.as_slice(1)[0].value.cast_mut_ptr::<pg_sys::Node>();
        let answered = match (*req).type_ {
            pg_sys::NodeTag::T_SupportRequestSelectivity => selectivity(req.cast()).map(|p| p.cast::<std::ffi::c_void>()),
            pg_sys::NodeTag::T_SupportRequestIndexCondition => index_condition(req.cast()).map(|p| p.cast::<std::ffi::c_void>()),
            _ => None,
        };
        answered.map_or(pg_sys::Datum::from(0usize), |p| pg_sys::Datum::from(p))
    }
}

/// The call's action and entity type (constants in a policy) and its id
/// argument.
/// SAFETY: `args` is the argument list of a call of `rbac.permitted`.
unsafe fn call_parts(args: *mut pg_sys::List) -> Option<(String, String, *mut pg_sys::Node)> {
    unsafe {
        let args = PgList::<pg_sys::Node>::from_pg(args);
        if args.len() != 3 {
            return None;
        }
        let text_const = |n: *mut pg_sys::Node| -> Option<String> {
            if n.is_null() || (*n).type_ != pg_sys::NodeTag::T_Const {
                return None;
            }
            let c = n.cast::<pg_sys::Const>();
            if (*c).constisnull || (*c).consttype != pg_sys::TEXTOID {
                return None;
            }
            String::from_datum((*c).constvalue, false)
        };
        Some((text_const(args.get_ptr(0)?)?, text_const(args.get_ptr(1)?)?, args.get_ptr(2)?))
    }
}

/// How many ids the planning subject (set by `rbac.set_subject`) can act
/// on, if this backend knows or finds out within [`PLANNING_LOOKUP`].
fn known_visible(action: &str, entity_type: &str) -> Option<usize> {
    let Some(Some(subject)) = identity::explicit() else { return None };
    let subject = tuple::parse_subject(&subject).ok()?;
    estimate_visible(&subject, action, entity_type, PLANNING_LOOKUP)
}

/// SAFETY: `req` is a selectivity request for a call of `rbac.permitted`.
unsafe fn selectivity(req: *mut pg_sys::SupportRequestSelectivity) -> Option<*mut pg_sys::SupportRequestSelectivity> {
    unsafe {
        if (*req).is_join {
            return None;
        }
        let (action, entity_type, id) = call_parts((*req).args)?;
        let mut var = id;
        if (*var).type_ == pg_sys::NodeTag::T_RelabelType {
            var = (*var.cast::<pg_sys::RelabelType>()).arg.cast();
        }
        if (*var).type_ != pg_sys::NodeTag::T_Var {
            return None;
        }
        let varno = (*var.cast::<pg_sys::Var>()).varno;
        if varno <= 0 || varno >= (*(*req).root).simple_rel_array_size || (*(*req).root).simple_rel_array.is_null() {
            return None;
        }
        let rel = *(*(*req).root).simple_rel_array.add(varno as usize);
        if rel.is_null() || (*rel).tuples < 1.0 {
            return None;
        }
        // A query that names its ids passes a few rows through the policy
        // whatever it lets through: no lookup for a subject this backend
        // knows nothing of (it could take the whole planning budget).
        let family = default_btree_family(pg_sys::exprType(id));
        if family.is_some_and(|family| keyed_already(rel, id, family)) {
            return None;
        }
        let visible = known_visible(&action, &entity_type)?;
        (*req).selectivity = (visible as f64 / (*rel).tuples).clamp(1e-9, 1.0);
        Some(req)
    }
}

/// SAFETY: `req` is an index-condition request for a call of
/// `rbac.permitted`.
unsafe fn index_condition(req: *mut pg_sys::SupportRequestIndexCondition) -> Option<*mut pg_sys::List> {
    unsafe {
        let node = (*req).node;
        if node.is_null() || (*node).type_ != pg_sys::NodeTag::T_FuncExpr || (*req).indexarg != 2 {
            return None;
        }
        let index = (*req).index;
        if (*index).relam != pg_sys::BTREE_AM_OID {
            return None;
        }
        let call = node.cast::<pg_sys::FuncExpr>();
        let (action, entity_type, id) = call_parts((*call).args)?;
        // (The query's own key first: it costs no lookup of the subject.)
        if keyed_already((*index).rel, id, (*req).opfamily) {
            return None;
        }
        let visible = known_visible(&action, &entity_type)?;
        let id_type = pg_sys::exprType(id);
        // A large set only of bigint or uuid ids: the scan sorts the array
        // by the index's comparison, and these come sorted in it (checked
        // in one pass); text ids come in byte order, which the column's
        // collation may not share (a full sort of the whole set, through
        // strcoll, at every execution).
        let rows = (*(*index).rel).tuples;
        let small = small_set(visible, rows);
        let offered = small
            || ARRAY_READS_ON
                && matches!(id_type, pg_sys::INT8OID | pg_sys::UUIDOID)
                && reads_every_row((*req).root, (*index).rel, (*req).funcid);
        if !offered {
            return None;
        }
        // A large set read by an index-only scan: whether the array pays is
        // decided here (`array_pays`), and the array is one the planner
        // does not evaluate, so it is not estimated element by element.
        // (PostgreSQL asks a support function for conditions free of
        // volatile functions; this one is safe where it is offered: a
        // B-tree scan evaluates its array once when it starts or rescans,
        // and the query reads one table with no other condition, no LIMIT,
        // no cursor, no row locks — see `reads_every_row`, `index_only`.)
        // The planner prices such an array as ten keys, so the path by it
        // wins once offered, also as a bitmap scan; `array_pays` counts the
        // table fetches of rows the visibility map does not cover. Where
        // the query needs columns only the table has, the planner still
        // weighs the array at its real size: the cost of those fetches
        // depends on how the table is laid out, which its statistics know.
        let at_scan = !small && index_only((*index).rel, index);
        let all_visible = (*(*index).rel).allvisfrac;
        if at_scan && !array_pays(visible, f64::from((*index).pages), rows, all_visible) {
            return None;
        }
        let (ids_fn, array_type) = match (id_type, at_scan) {
            (pg_sys::INT8OID, false) => ("permitted_ids_bigint", pg_sys::INT8ARRAYOID),
            (pg_sys::INT8OID, true) => ("permitted_ids_bigint_at_scan", pg_sys::INT8ARRAYOID),
            (pg_sys::TEXTOID, false) => ("permitted_ids", pg_sys::TEXTARRAYOID),
            (pg_sys::UUIDOID, false) => ("permitted_ids_uuid", pg_sys::UUIDARRAYOID),
            (pg_sys::UUIDOID, true) => ("permitted_ids_uuid_at_scan", pg_sys::UUIDARRAYOID),
            _ => return None,
        };
        let eq = pg_sys::get_opfamily_member((*req).opfamily, id_type, id_type, pg_sys::BTEqualStrategyNumber as i16);
        if eq == pg_sys::InvalidOid {
            return None;
        }
        // The ids function sits beside rbac.permitted, in the extension's schema.
        let schema = pg_sys::get_namespace_name(pg_sys::get_func_namespace((*req).funcid));
        if schema.is_null() {
            return None;
        }
        let mut name = std::ptr::null_mut();
        name = pg_sys::lappend(name, pg_sys::makeString(schema).cast());
        name = pg_sys::lappend(name, pg_sys::makeString(pg_sys::pstrdup(CString::new(ids_fn).ok()?.as_ptr())).cast());
        let arg_types = [pg_sys::TEXTOID, pg_sys::TEXTOID];
        let ids_oid = pg_sys::LookupFuncName(name, 2, arg_types.as_ptr(), true);
        if ids_oid == pg_sys::InvalidOid {
            return None;
        }
        let args = PgList::<pg_sys::Node>::from_pg((*call).args);
        let mut ids_args = std::ptr::null_mut();
        ids_args = pg_sys::lappend(ids_args, pg_sys::copyObjectImpl(args.get_ptr(0)?.cast()));
        ids_args = pg_sys::lappend(ids_args, pg_sys::copyObjectImpl(args.get_ptr(1)?.cast()));
        let text_collation = if id_type == pg_sys::TEXTOID { pg_sys::DEFAULT_COLLATION_OID } else { pg_sys::InvalidOid };
        let ids_call = pg_sys::makeFuncExpr(
            ids_oid,
            array_type,
            ids_args,
            text_collation,
            pg_sys::DEFAULT_COLLATION_OID,
            pg_sys::CoercionForm::COERCE_EXPLICIT_CALL,
        );

        let mut saop = PgBox::<pg_sys::ScalarArrayOpExpr>::alloc_node(pg_sys::NodeTag::T_ScalarArrayOpExpr);
        saop.opno = eq;
        saop.opfuncid = pg_sys::get_opcode(eq);
        saop.useOr = true;
        saop.inputcollid = if id_type == pg_sys::TEXTOID { (*req).indexcollation } else { pg_sys::InvalidOid };
        let mut saop_args = std::ptr::null_mut();
        saop_args = pg_sys::lappend(saop_args, pg_sys::copyObjectImpl(id.cast()));
        saop_args = pg_sys::lappend(saop_args, ids_call.cast());
        saop.args = saop_args;
        saop.location = -1;

        // The policy's own call stays a filter on the rows found. The array
        // is the set that call probes, but for the subject of the scan's
        // start: a cursor fetched after `rbac.set_subject`, or a loop that
        // changes the subject between its rows, must still return only
        // rows the current subject may see (regress protect_plans). The
        // filter is cheap there: rows come in the array's order, and a
        // probe searches on from the last one (`Visible::contains`). It
        // also keeps exact an id column whose `=` equates different texts
        // (a nondeterministic collation: regress protect_collation).
        (*req).lossy = true;
        Some(pg_sys::lappend(std::ptr::null_mut(), saop.into_pg().cast()))
    }
}

/// Whether an index-only scan of `index` can answer the query: every column
/// the query needs of the table (its output and its conditions) is one the
/// index returns. (PostgreSQL's own test, `check_index_only`, also credits
/// conditions the index predicate implies; a partial index is not counted
/// here, which only leaves its array to the planner's estimate.)
/// SAFETY: `rel` and `index` are the planner's, for the scanned table.
unsafe fn index_only(rel: *mut pg_sys::RelOptInfo, index: *mut pg_sys::IndexOptInfo) -> bool {
    unsafe {
        if !pg_sys::enable_indexonlyscan || !(*index).indpred.is_null() || (*rel).reltarget.is_null() {
            return false;
        }
        let mut needed: *mut pg_sys::Bitmapset = std::ptr::null_mut();
        pg_sys::pull_varattnos((*(*rel).reltarget).exprs.cast(), (*rel).relid, &mut needed);
        for ri in PgList::<pg_sys::RestrictInfo>::from_pg((*rel).baserestrictinfo).iter_ptr() {
            pg_sys::pull_varattnos((*ri).clause.cast(), (*rel).relid, &mut needed);
        }
        let offset = pg_sys::FirstLowInvalidHeapAttributeNumber;
        let mut member = -1;
        loop {
            member = pg_sys::bms_next_member(needed, member);
            if member < 0 {
                return true;
            }
            // A whole-row reference (0) or a system column is never returned.
            let attno = member + offset;
            let returned = (0..(*index).ncolumns.max(0) as usize).any(|c| *(*index).indexkeys.add(c) == attno && *(*index).canreturn.add(c));
            if attno <= 0 || !returned {
                return false;
            }
        }
    }
}

/// Whether an index-only scan by the array of `visible` ids costs less than
/// passing all `rows` rows through the policy, for an index of `pages`
/// pages on a table whose visibility map covers `all_visible` of it: every
/// id costs about [`KEY_ROWS`] rows' worth, plus [`FETCH_ROWS`] for each
/// id whose row must be fetched from the table (one the visibility map
/// does not cover: a table just loaded, or updated since its last vacuum),
/// and every search from the root [`SEARCH_ROWS`]; ids that share a leaf
/// page share its search (PostgreSQL 17 on), so there are at most as many
/// searches as pages. The bound assumes ids spread evenly; ids created
/// together, as pages are, need fewer searches still. Measured on
/// bench/rls.sql's 1M pages (PostgreSQL 18, 2 cores): a count of 100,000
/// visible ids in a hundred runs took 11 ms by the array, 85 ms through
/// the policy alone.
pub(crate) fn array_pays(visible: usize, pages: f64, rows: f64, all_visible: f64) -> bool {
    let visible = visible as f64;
    // (Statistics that say nothing, NaN included: every row fetched.)
    let fetched = if all_visible >= 0.0 { 1.0 - all_visible.min(1.0) } else { 1.0 };
    (KEY_ROWS + FETCH_ROWS * fetched) * visible + SEARCH_ROWS * visible.min(pages.max(1.0)) < rows
}

/// What fetching a row from the table costs an index-only scan, in rows
/// passed through the policy (a random heap access, its page in shared
/// buffers at best: about 1 µs).
const FETCH_ROWS: f64 = 12.0;

/// What an id read by the array costs, in rows passed through the policy
/// (bench/rls.sql: 110 ns an id, about 85 ns a row).
const KEY_ROWS: f64 = 1.5;

/// What a search of the index from its root costs, in rows passed through
/// the policy (a descent of three levels, 1–2 µs).
const SEARCH_ROWS: f64 = 20.0;

/// Whether a B-tree scan by an array of keys reads on along the index from
/// one key to the next where they are near (PostgreSQL 17 on), instead of
/// descending once per key: then a large visible set of ids that cluster
/// in the index (pages created together) is read in a few descents.
const ARRAY_READS_ON: bool = cfg!(any(feature = "pg17", feature = "pg18"));

/// Whether the query passes every row of `rel` through the policy (for a
/// visible set too large for [`small_set`], of bigint or uuid ids): it
/// reads this one table, with no condition but the policy's (`funcid`),
/// and wants all of its rows (no LIMIT or OFFSET, not a cursor or an
/// EXISTS) — a `count(*)`, a whole listing. Every visible id is
/// then needed whatever the plan (the per-row function would buy the
/// lookup at once), so the index condition costs no lookup a plan would
/// not make anyway, and the planner can weigh it at the set's real size
/// (it evaluates the array for its estimate). A query with a LIMIT, a
/// condition of its own or a join may need a few rows only: there a large
/// set is not offered, lest planning buy a lookup its plan never uses.
/// SAFETY: `root` and `rel` are the planner's, for the scanned table.
unsafe fn reads_every_row(root: *mut pg_sys::PlannerInfo, rel: *mut pg_sys::RelOptInfo, funcid: pg_sys::Oid) -> bool {
    unsafe {
        // All of the level's rows wanted: no LIMIT or OFFSET here, and no
        // fraction asked by the caller (a cursor, an EXISTS subquery, a
        // subquery under an outer LIMIT plan for fewer).
        let parse = (*root).parse;
        if parse.is_null() || !(*parse).limitCount.is_null() || !(*parse).limitOffset.is_null() || (*root).tuple_fraction != 0.0 {
            return false;
        }
        let rels = (1..(*root).simple_rel_array_size as usize)
            .filter(|&i| {
                let r = *(*root).simple_rel_array.add(i);
                !r.is_null() && (*r).reloptkind == pg_sys::RelOptKind::RELOPT_BASEREL
            })
            .count();
        rels == 1
            && PgList::<pg_sys::RestrictInfo>::from_pg((*rel).baserestrictinfo).iter_ptr().all(|ri| {
                let clause = (*ri).clause.cast::<pg_sys::Node>();
                !clause.is_null()
                    && (*clause).type_ == pg_sys::NodeTag::T_FuncExpr
                    && (*clause.cast::<pg_sys::FuncExpr>()).funcid == funcid
            })
    }
}

/// The B-tree operator family of `ty`'s default operator class (from the
/// type cache: no catalog scan once known).
/// SAFETY: a type cache lookup.
unsafe fn default_btree_family(ty: pg_sys::Oid) -> Option<pg_sys::Oid> {
    unsafe {
        let entry = pg_sys::lookup_type_cache(ty, pg_sys::TYPECACHE_BTREE_OPFAMILY as i32);
        (!entry.is_null() && (*entry).btree_opf != pg_sys::InvalidOid).then(|| (*entry).btree_opf)
    }
}

/// Whether the query already restricts the id column to constants (`id =
/// 42`, `id IN (…)`): a point query checks its few rows; the visible set
/// would cost a whole lookup for nothing.
/// SAFETY: `rel` is the planner's relation of the scanned table and `id`
/// the policy's id argument.
unsafe fn keyed_already(rel: *mut pg_sys::RelOptInfo, id: *mut pg_sys::Node, opfamily: pg_sys::Oid) -> bool {
    unsafe {
        let is_id = |n: *mut pg_sys::Node| !n.is_null() && pg_sys::equal(n.cast(), id.cast());
        let is_value = |n: *mut pg_sys::Node| {
            !n.is_null() && matches!((*n).type_, pg_sys::NodeTag::T_Const | pg_sys::NodeTag::T_Param)
        };
        let is_equality = |opno: pg_sys::Oid| pg_sys::get_op_opfamily_strategy(opno, opfamily) == pg_sys::BTEqualStrategyNumber as i32;
        let strip = |n: *mut pg_sys::Node| {
            if !n.is_null() && (*n).type_ == pg_sys::NodeTag::T_RelabelType {
                (*n.cast::<pg_sys::RelabelType>()).arg.cast::<pg_sys::Node>()
            } else {
                n
            }
        };
        let id_plain = strip(id);
        let is_key = |n: *mut pg_sys::Node| is_id(n) || is_id(strip(n)) || (!id_plain.is_null() && pg_sys::equal(strip(n).cast(), id_plain.cast()));
        PgList::<pg_sys::RestrictInfo>::from_pg((*rel).baserestrictinfo).iter_ptr().any(|ri| {
            let clause = (*ri).clause.cast::<pg_sys::Node>();
            if clause.is_null() {
                return false;
            }
            match (*clause).type_ {
                pg_sys::NodeTag::T_OpExpr => {
                    let op = clause.cast::<pg_sys::OpExpr>();
                    let args = PgList::<pg_sys::Node>::from_pg((*op).args);
                    let (Some(l), Some(r)) = (args.get_ptr(0), args.get_ptr(1)) else { return false };
                    args.len() == 2 && is_equality((*op).opno) && ((is_key(l) && is_value(r)) || (is_key(r) && is_value(l)))
                }
                pg_sys::NodeTag::T_ScalarArrayOpExpr => {
                    let op = clause.cast::<pg_sys::ScalarArrayOpExpr>();
                    let args = PgList::<pg_sys::Node>::from_pg((*op).args);
                    let (Some(l), Some(r)) = (args.get_ptr(0), args.get_ptr(1)) else { return false };
                    (*op).useOr && is_equality((*op).opno) && is_key(l) && is_value(r)
                }
                _ => false,
            }
        })
    }
}
