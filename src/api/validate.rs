//! Running Permify validation files.

use notion_rbac_core::validation;
use pgrx::prelude::*;

use crate::errors::OrRaise;

/// Runs a Permify validation file (YAML: schema, relationships, attributes,
/// scenarios with checks, entity_filters and subject_filters) in isolation —
/// it neither reads nor changes the database's schema and tuples — and
/// returns one row per assertion.
#[pg_extern(immutable, parallel_safe)]
fn validate(
    file: &str,
) -> TableIterator<
    'static,
    (
        name!(scenario, String),
        name!(kind, String),
        name!(query, String),
        name!(expected, String),
        name!(actual, String),
        name!(passed, bool),
    ),
> {
    let limit = crate::guc::max_validation_bytes();
    if file.len() > limit {
        crate::errors::limit_exceeded(
            format!("validation file of {} bytes exceeds notion_rbac.max_validation_kb ({limit} bytes)", file.len()),
            "split the file, or have a superuser raise notion_rbac.max_validation_kb (memory use is about 80 times the file size)",
        );
    }
    let rows = validation::run(file).or_raise();
    TableIterator::new(
        rows.into_iter().map(|r| (r.scenario, r.kind.to_owned(), r.query, r.expected, r.actual, r.passed)),
    )
}
