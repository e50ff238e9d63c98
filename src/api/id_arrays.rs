//! A visible set's ids as the `bigint[]` and `uuid[]` that
//! `rbac.permitted_ids_bigint` and `rbac.permitted_ids_uuid` return: the
//! arrays of the index condition the planner may add for `rbac.permitted`
//! (see `permitted_plan`).
//!
//! One statement evaluates such an array up to three times — twice while
//! the planner estimates the condition, once when the scan starts — and a
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

// SAFETY: each returns the datum of an array allocated in the function's
// memory context (construct_array pallocs and copies every element).
unsafe impl BoxRet for Int8Ids {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> Datum<'fcx> {
        let mut elems: Vec<pg_sys::Datum> = self.0.iter().map(|&id| pg_sys::Datum::from(id)).collect();
        // SAFETY: `elems` holds `len` by-value int8 datums.
        unsafe {
            let array = pg_sys::construct_array(
                elems.as_mut_ptr(),
                array_len(elems.len()),
                pg_sys::INT8OID,
                8,
                true,
                pg_sys::TYPALIGN_DOUBLE as std::ffi::c_char,
            );
            fcinfo.return_raw_datum(pg_sys::Datum::from(array))
        }
    }
}

unsafe impl BoxRet for UuidIds {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> Datum<'fcx> {
        let bytes: Vec<[u8; 16]> = self.0.iter().map(|u| u.to_be_bytes()).collect();
        let mut elems: Vec<pg_sys::Datum> = bytes.iter().map(|b| pg_sys::Datum::from(b.as_ptr())).collect();
        // SAFETY: `elems` points at `len` 16-byte uuids that outlive the
        // call, which copies them.
        unsafe {
            let array = pg_sys::construct_array(
                elems.as_mut_ptr(),
                array_len(elems.len()),
                pg_sys::UUIDOID,
                16,
                false,
                pg_sys::TYPALIGN_CHAR as std::ffi::c_char,
            );
            fcinfo.return_raw_datum(pg_sys::Datum::from(array))
        }
    }
}

/// An array's length as PostgreSQL counts it. A visible set is bounded by
/// the memory a backend may take, far below 2^31 ids; beyond that
/// `construct_array` would refuse the size anyway.
fn array_len(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
