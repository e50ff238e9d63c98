//! Storage: the active schema, tuples and attributes in `rbac.*` tables,
//! read with direct index scans in the caller's snapshot.
//!
//! From the bottom up: `index_scan` (direct B-tree scans, the only unsafe
//! access-method code), `snapshot_key` (which committed data a snapshot
//! sees), `packed` (cached rows), `schema` (the active schema, compiled once
//! per row version), `read_cache` (the exact per-backend cache of reads),
//! `source` (the engine's `TupleSource` over the tables, through the
//! cache; `text_datum` reads its text columns in place) and `reads` (the entry point of every check and lookup). Below:
//! read-only SPI helpers and the write-path guards. `writes`: which
//! writes to the extension's tables a snapshot sees (the cache key that
//! unrelated commits leave alone). `consistency`: tokens
//! naming committed data, and reads that include it (on standbys too).

pub mod consistency;
pub mod index_scan;
pub mod packed;
pub mod read_cache;
pub mod reads;
pub mod scan_pool;
pub mod schema;
pub mod snapshot_key;
pub mod source;
pub mod text_datum;
pub mod writes;
pub mod xid;

pub use reads::{read, read_active};

/// The `rbac` schema's OID, or `None` where the extension is not installed
/// (the one lookup of it by name).
pub fn rbac_namespace() -> Option<pg_sys::Oid> {
    // SAFETY: a syscache lookup by name, missing_ok.
    let nsp = unsafe { pg_sys::get_namespace_oid(c"rbac".as_ptr(), true) };
    (nsp != pg_sys::InvalidOid).then_some(nsp)
}

use std::ffi::CStr;

use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::FromDatum;

/// Runs a read-only query in the calling statement's snapshot and hands
/// each result row to `row` (a column getter by 1-based number; datums are
/// valid only inside the callback).
///
/// pgrx's `select` is read-only only until the transaction has a
/// transaction id; after that SPI takes a new snapshot per query under READ
/// COMMITTED, and a function could see data newer than its own statement.
/// Here SPI always runs read-only: the active snapshot, no command counter
/// increment, no transaction id (so it works on hot standbys too).
pub fn read_rows<R>(sql: &CStr, args: &[DatumWithOid<'_>], mut row: impl FnMut(&dyn Fn(i32) -> Option<pg_sys::Datum>) -> R) -> Vec<R> {
    Spi::connect(|_client| {
        let SpiArgs { mut types, mut values, mut nulls } = SpiArgs::of(args);
        // SAFETY: SPI is connected for the duration of the closure; the
        // argument arrays outlive the call; results are read before
        // SPI_finish frees them.
        unsafe {
            let rc = pg_sys::SPI_execute_with_args(
                sql.as_ptr(),
                args.len() as i32,
                types.as_mut_ptr(),
                values.as_mut_ptr(),
                nulls.as_mut_ptr(),
                true,
                0,
            );
            if rc != pg_sys::SPI_OK_SELECT as i32 {
                pgrx::error!("notion_rbac: internal query failed (SPI code {rc})");
            }
            let table = pg_sys::SPI_tuptable;
            let n = pg_sys::SPI_processed as usize;
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                let tuple = *(*table).vals.add(i);
                let get = |col: i32| {
                    let mut isnull = false;
                    let d = pg_sys::SPI_getbinval(tuple, (*table).tupdesc, col, &mut isnull);
                    if isnull { None } else { Some(d) }
                };
                out.push(row(&get));
            }
            Ok::<_, pgrx::spi::SpiError>(out)
        }
    })
    .unwrap_or_else(|e| pgrx::error!("notion_rbac: internal query failed: {e}"))
}

/// The argument arrays of `SPI_execute_with_args`: types, values, and
/// `'n'` for a NULL (`' '` otherwise).
pub struct SpiArgs {
    pub types: Vec<pg_sys::Oid>,
    pub values: Vec<pg_sys::Datum>,
    pub nulls: Vec<std::ffi::c_char>,
}

impl SpiArgs {
    pub fn of(args: &[DatumWithOid<'_>]) -> SpiArgs {
        SpiArgs {
            types: args.iter().map(|a| a.oid()).collect(),
            values: args.iter().map(|a| a.datum().map_or(pg_sys::Datum::from(0usize), |d| d.sans_lifetime())).collect(),
            nulls: args.iter().map(|a| if a.datum().is_none() { b'n' } else { b' ' } as std::ffi::c_char).collect(),
        }
    }
}

/// Runs a data-modifying statement with RETURNING to completion and hands
/// its result, positioned on the first row, to `first`.
///
/// pgrx's `Spi::get_*` run with a row limit of one: the executor then stops
/// after the first RETURNING row and never fires the statement's AFTER
/// STATEMENT triggers (the schema activation, validation). Every INSERT,
/// UPDATE or DELETE ... RETURNING of the extension goes through here.
pub fn write_returning<R>(
    sql: &str,
    args: &[DatumWithOid<'_>],
    first: impl FnOnce(pgrx::spi::SpiTupleTable<'_>) -> pgrx::spi::SpiResult<R>,
) -> pgrx::spi::SpiResult<R> {
    Spi::connect_mut(|client| first(client.update(sql, None, args)?.first()))
}

/// The boolean a read-only query without arguments returns (false for
/// NULL or no row).
pub fn select_one_bool(sql: &CStr) -> bool {
    read_rows(sql, &[], |col| from_datum::<bool>(col(1))).into_iter().next().flatten().unwrap_or(false)
}

/// Converts a datum read by [`read_rows`].
pub fn from_datum<T: FromDatum>(d: Option<pg_sys::Datum>) -> Option<T> {
    // SAFETY: callers name the column's type.
    d.and_then(|d| unsafe { T::from_datum(d, false) })
}

/// Refuses a write on a hot standby with PostgreSQL's own SQLSTATE (25006
/// read_only_sql_transaction) before anything tries to assign a transaction
/// id (which would fail with an internal error instead).
pub fn require_writable(what: &str) {
    // SAFETY: a plain query of the server's recovery state.
    if unsafe { pgrx::pg_sys::RecoveryInProgress() } {
        pgrx::ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_READ_ONLY_SQL_TRANSACTION,
            format!("cannot {what} on a hot standby"),
            "write to the primary server; checks and lookups work on standbys"
        );
    }
}
