//! A visible set's ids as the `bigint[]` and `uuid[]` that
//! `rbac.permitted_ids_bigint` and `rbac.permitted_ids_uuid` return: the
//! arrays of the index condition the planner may add for `rbac.permitted`
//! (see `permitted_plan`).
//!
//! One statement evaluates such an array up to three times — twice while
//! the planner estimates the condition, once when the scan starts (once
//! only for the volatile `…_at_scan` twins) — and a
//! visible set may hold a million ids. So the set sorts its ids once and
//! shares them (`Rc`), and each evaluation builds the array from them in
//! one pass (`construct_array`), not element by element through pgrx's
//! array builder (about 120 instructions an id).

use std::rc::Rc;

use pgrx::callconv::{BoxRet, FcInfo};
use pgrx::datum::Datum;
use pgrx::pg_sys;

use crate::sql_type::same_sql_type_as;

/// Sorted, distinct bigint ids; in SQL a `bigint[]`.
pub(crate) struct Int8Ids(pub(crate) Rc<[i64]>);

/// Sorted, distinct uuids (as big-endian integers: their byte order, which
/// is PostgreSQL's uuid order); in SQL a `uuid[]`.
pub(crate) struct UuidIds(pub(crate) Rc<[u128]>);

same_sql_type_as!(Int8Ids, Vec<i64>);
same_sql_type_as!(UuidIds, Vec<pgrx::Uuid>);

// SAFETY (both impls): the datum returned is an array allocated in the
// function's memory context (see `return_array`).
unsafe impl BoxRet for Int8Ids {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> Datum<'fcx> {
        let mut elems: Vec<pg_sys::Datum> = self.0.iter().map(|&id| pg_sys::Datum::from(id)).collect();
        // SAFETY: by-value int8 datums.
        unsafe { return_array(fcinfo, &mut elems, pg_sys::INT8OID, 8, true, pg_sys::TYPALIGN_DOUBLE) }
    }
}

unsafe impl BoxRet for UuidIds {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> Datum<'fcx> {
        let bytes: Vec<[u8; 16]> = self.0.iter().map(|u| u.to_be_bytes()).collect();
        let mut elems: Vec<pg_sys::Datum> = bytes.iter().map(|b| pg_sys::Datum::from(b.as_ptr())).collect();
        // SAFETY: pointers to 16-byte uuids in `bytes`, which outlives the
        // call that copies them.
        unsafe { return_array(fcinfo, &mut elems, pg_sys::UUIDOID, 16, false, pg_sys::TYPALIGN_CHAR) }
    }
}

/// Returns the one-dimensional array of `elems` (of type `elem_type`, laid
/// out as `len`, `byval`, `align` say), allocated in the function's memory
/// context: `construct_array` pallocs it and copies every element.
/// SAFETY: `elems` are datums of `elem_type`, valid for the call.
unsafe fn return_array<'fcx>(
    fcinfo: &mut FcInfo<'fcx>,
    elems: &mut [pg_sys::Datum],
    elem_type: pg_sys::Oid,
    len: i32,
    byval: bool,
    align: u8,
) -> Datum<'fcx> {
    // SAFETY: as the caller's.
    unsafe {
        let array = pg_sys::construct_array(elems.as_mut_ptr(), array_len(elems.len()), elem_type, len, byval, align as std::ffi::c_char);
        fcinfo.return_raw_datum(pg_sys::Datum::from(array))
    }
}

/// An array's length as PostgreSQL counts it. A visible set is bounded by
/// the memory a backend may take, far below 2^31 ids; beyond that
/// `construct_array` would refuse the size anyway.
fn array_len(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
