//! Writing and reading the authorization model.

use notion_rbac_core::lang;
use notion_rbac_core::model::Schema;
use pgrx::prelude::*;

use crate::errors::OrRaise;
use crate::store;
use crate::whole_errors::{self, whole_entry};

/// Compiles `source` (Permify schema language), stores it as a new version
/// and makes it active. Fails — writing nothing — if the source does not
/// compile or if stored tuples or attributes would no longer fit (the error
/// lists the first ones). Mixed `and`/`or`/`not` without parentheses is
/// accepted with Permify's left-to-right meaning and reported as a NOTICE.
///
/// Its C entry point is written by hand (below) so that an error its
/// statements raise — the activation trigger's, or a trigger an
/// administrator put on `rbac.schemas` — reaches the caller whole (see
/// `whole_errors`).
fn write_schema(source: &str) -> i32 {
    store::require_writable("write a schema");
    let schema = lang::compile(source).or_raise();
    for w in &schema.warnings {
        let msg = format!("line {}, column {}: {}", w.pos.line, w.pos.col, w.message);
        let mut report = pgrx::pg_sys::panic::ErrorReport::new(PgSqlErrorCode::ERRCODE_WARNING, msg, "");
        if let Some(h) = &w.hint {
            report = report.set_hint(h.clone());
        }
        report.report(PgLogLevel::NOTICE);
    }
    // The insert trigger (rbac._schemas_activate) compiles again, syncs the
    // allowed-combination tables and refuses misfits; compiling here first
    // gives the caller precise errors and the NOTICEs above.
    // The activation trigger takes the same lock; taking it before the
    // insert numbers versions in commit order and makes concurrent callers
    // queue rather than fail. Only the extension can take it (a table lock
    // nobody holds privileges on, through a SECURITY DEFINER function).
    // (An installation still at 0.2.0 SQL — new library, ALTER EXTENSION
    // UPDATE not yet run — has only the advisory lock its trigger takes.)
    let lock = if store::select_one_bool(c"SELECT pg_catalog.to_regprocedure('rbac._lock_schema_writes()') IS NOT NULL") {
        c"SELECT rbac._lock_schema_writes()"
    } else {
        c"SELECT pg_catalog.pg_advisory_xact_lock(7022378914052157294)"
    };
    whole_errors::execute(lock, &[]);
    // To completion (see `store::write_returning`): the activation is an
    // AFTER STATEMENT trigger.
    let version = whole_errors::execute_returning::<i32>(
        c"INSERT INTO rbac.schemas (source) VALUES ($1) RETURNING version",
        &[source.into()],
    )
    .unwrap_or_else(|| pgrx::error!("notion_rbac: storing the schema returned no version"));
    store::schema::forget_cache();
    version
}

// `rbac.write_schema(text)`'s C entry point: the symbol and SQL
// `#[pg_extern]` made for it before, so the catalog is unchanged.
whole_entry!(pg_finfo_write_schema_wrapper, write_schema_wrapper, String, |source: String| write_schema(&source));

pgrx::extension_sql!(
    r#"
CREATE FUNCTION rbac."write_schema"(
	"source" TEXT
) RETURNS INT
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'write_schema_wrapper';
"#,
    name = "write_schema",
    requires = ["bootstrap"]
);

/// The source text of the active schema, or NULL if none was written.
#[pg_extern(stable, parallel_safe)]
fn schema() -> Option<String> {
    store::schema::active_source()
}

fn compiled(source: &str) -> Schema {
    lang::compile(source).or_raise()
}

/// Internal: the (entity type, relation, subject type, subject relation)
/// combinations `source` allows to be stored. Used by the schema activation
/// trigger.
#[pg_extern(immutable, parallel_safe, name = "_schema_relations_of")]
fn schema_relations_of(
    source: &str,
) -> TableIterator<
    'static,
    (name!(entity_type, String), name!(relation, String), name!(subject_type, String), name!(subject_relation, String)),
> {
    let schema = compiled(source);
    let mut rows = Vec::new();
    for e in &schema.entities {
        for r in &e.relations {
            for s in &r.subject_types {
                rows.push((e.name.clone(), r.name.clone(), s.entity.clone(), s.relation.clone().unwrap_or_default()));
            }
        }
    }
    TableIterator::new(rows)
}

/// Internal: the declared attributes of `source` with their types.
#[pg_extern(immutable, parallel_safe, name = "_schema_attributes_of")]
fn schema_attributes_of(
    source: &str,
) -> TableIterator<'static, (name!(entity_type, String), name!(attribute, String), name!(value_type, String))> {
    let schema = compiled(source);
    let mut rows = Vec::new();
    for e in &schema.entities {
        for a in &e.attributes {
            rows.push((e.name.clone(), a.name.clone(), a.ty.to_string()));
        }
    }
    TableIterator::new(rows)
}
