//! The active authorization model, compiled once per backend and row.
//!
//! Every call reads the active version in the caller's snapshot (one
//! backward probe of `rbac.schemas`' primary key), so a transaction always
//! evaluates against the schema it can see — including one it wrote itself.
//! A cached compilation is reused only for the very row it was compiled
//! from (inserting transaction and heap position, not just the version
//! number): a version written in a transaction that rolled back and then
//! written again with another source is another row. The source is read
//! with the same scan, in the statement's snapshot (no SPI, so no second
//! snapshot and nothing the caller's search_path could redirect).

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
    /// The row's inserting transaction and heap position.
    pub row: (u32, u32, u16),
    /// The OID of the `rbac.schemas` table the version was read from: after
    /// DROP/CREATE EXTENSION, version 1 of the new table is another schema.
    pub table: pgrx::pg_sys::Oid,
    pub schema: Schema,
    /// Per (entity type, permission): the rule that makes a lookup miss
    /// entities a check grants (see `engine::unlisted_by`), worked out on
    /// first use.
    /// (A list: a schema has a few dozen permissions, and a lookup by
    /// borrowed names allocates nothing, as the rows of every protected
    /// statement ask.)
    unlisted: RefCell<Vec<(String, String, Option<String>)>>,
}

impl ActiveSchema {
    /// The rule, if any, that lets `permission` of `entity_type` grant
    /// entities a lookup cannot list (rules true on missing attributes):
    /// where it is Some, only checks answer exactly.
    pub fn unlisted_by(&self, entity_type: &str, permission: &str) -> Option<String> {
        let known = self.unlisted.borrow().iter().find(|(t, p, _)| t == entity_type && p == permission).map(|(_, _, found)| found.clone());
        if let Some(found) = known {
            return found;
        }
        let found = notion_rbac_core::engine::unlisted_by(&self.schema, entity_type, permission);
        self.unlisted.borrow_mut().push((entity_type.to_owned(), permission.to_owned(), found.clone()));
        found
    }
}

thread_local! {
    static CACHE: RefCell<Option<Rc<ActiveSchema>>> = const { RefCell::new(None) };
}

/// A scan positioned on the newest `rbac.schemas` row visible to the
/// statement, or `None` if there is none.
fn newest_row() -> Option<IndexScan> {
    let mut scan = IndexScan::open(c"schemas", c"schemas_pkey", &[]);
    scan.rekey(&[]);
    scan.next(true).then_some(scan)
}

/// The active schema, or `None` if no schema has been written.
pub fn active() -> Option<Rc<ActiveSchema>> {
    let mut scan = newest_row()?;
    let table = scan.table_oid();
    let version = scan.int4(1)?;
    // schemas_pkey does not cover the row, so the row always comes from
    // the heap and has an identity.
    let row = scan
        .row_version()
        .unwrap_or_else(|| pgrx::error!("notion_rbac: schema version {version} was read without its row"));
    if let Some(cached) = CACHE.with(|c| c.borrow().clone())
        && cached.version == version
        && cached.table == table
        && cached.row == row
    {
        return Some(cached);
    }
    let source = scan.text(2);
    // A stored schema compiled when it was written; failing now means the
    // compiler changed incompatibly — say so rather than guess.
    let schema = lang::compile(&source)
        .map_err(|e| {
            Error::new(ErrorKind::Internal, format!("stored schema version {version} no longer compiles: {e}"))
                .with_hint("write the schema again with rbac.write_schema() after fixing it")
        })
        .or_raise();
    let active = Rc::new(ActiveSchema { version, row, table, schema, unlisted: RefCell::default() });
    CACHE.with(|c| *c.borrow_mut() = Some(active.clone()));
    Some(active)
}

/// The source of the active schema, read in the statement's snapshot.
pub fn active_source() -> Option<String> {
    newest_row().map(|mut scan| scan.text(2))
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
