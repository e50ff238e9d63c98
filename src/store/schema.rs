//! The active authorization model, compiled once per backend and version.
//!
//! Every call reads the active version number in the caller's snapshot (one
//! backward probe of `rbac.schemas`' primary key), so a transaction always
//! evaluates against the schema it can see — including one it wrote itself —
//! and a cached compilation is reused only while that version is current.

use std::cell::RefCell;
use std::rc::Rc;

use notion_rbac_core::lang;
use notion_rbac_core::model::Schema;
use notion_rbac_core::{Error, ErrorKind};

use super::index_scan::IndexScan;
use crate::errors::OrRaise;

/// A compiled schema and the version it was compiled from.
pub struct ActiveSchema {
    pub version: i32,
    /// The OID of the `rbac.schemas` table the version was read from: after
    /// DROP/CREATE EXTENSION, version 1 of the new table is another schema.
    pub table: pgrx::pg_sys::Oid,
    pub schema: Schema,
}

thread_local! {
    static CACHE: RefCell<Option<Rc<ActiveSchema>>> = const { RefCell::new(None) };
}

/// The highest schema version visible to the current statement, and the
/// table it is in.
fn active_version() -> Option<(i32, pgrx::pg_sys::Oid)> {
    let mut scan = IndexScan::open(c"schemas", c"schemas_pkey", &[]);
    scan.rekey(&[]);
    let table = scan.table_oid();
    if scan.next(true) { scan.int4(1).map(|v| (v, table)) } else { None }
}

/// The active schema, or `None` if no schema has been written.
pub fn active() -> Option<Rc<ActiveSchema>> {
    let (version, table) = active_version()?;
    if let Some(cached) = CACHE.with(|c| c.borrow().clone())
        && cached.version == version
        && cached.table == table
    {
        return Some(cached);
    }
    let source = super::select_one::<String>("SELECT source FROM rbac.schemas WHERE version = $1", &[version.into()])
        .unwrap_or_else(|| pgrx::error!("notion_rbac: schema version {version} vanished while reading it"));
    // A stored schema compiled when it was written; failing now means the
    // compiler changed incompatibly — say so rather than guess.
    let schema = lang::compile(&source)
        .map_err(|e| {
            Error::new(ErrorKind::Internal, format!("stored schema version {version} no longer compiles: {e}"))
                .with_hint("write the schema again with rbac.write_schema() after fixing it")
        })
        .or_raise();
    let active = Rc::new(ActiveSchema { version, table, schema });
    CACHE.with(|c| *c.borrow_mut() = Some(active.clone()));
    Some(active)
}

/// The active schema, or a `55000` error saying how to create one.
pub fn require_active() -> Rc<ActiveSchema> {
    active().unwrap_or_else(|| {
        crate::errors::raise(
            Error::new(ErrorKind::NoSchema, "no authorization model has been written yet")
                .with_hint("call rbac.write_schema('entity user {} ...') first"),
        )
    })
}

/// Drops the cached compilation (after this backend wrote a new version).
pub fn forget_cache() {
    CACHE.with(|c| *c.borrow_mut() = None);
}
