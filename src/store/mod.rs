//! Storage: the active schema, tuples and attributes in `rbac.*` tables,
//! read with direct index scans in the caller's snapshot.

pub mod index_scan;
pub mod read_cache;
pub mod schema;
pub mod source;

pub use read_cache::read;

use pgrx::datum::DatumWithOid;
use pgrx::prelude::*;
use pgrx::{FromDatum, IntoDatum};

/// The first column of the first row of a read-only query, or `None`.
///
/// pgrx's `Spi::get_one` runs its query as an update, which assigns a
/// transaction id: that fails on a hot standby ("cannot assign
/// TransactionIds during recovery") and wastes XIDs on a primary. Every read
/// of the extension goes through here (or `Spi::connect` + `select`).
pub fn select_one<T: FromDatum + IntoDatum>(sql: &str, args: &[DatumWithOid<'_>]) -> Option<T> {
    Spi::connect(|client| {
        let table = client.select(sql, Some(1), args)?;
        if table.is_empty() { Ok(None) } else { table.first().get_one::<T>() }
    })
    .unwrap_or_else(|e| pgrx::error!("notion_rbac: internal query failed: {e}"))
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
