//! Storage: the active schema, tuples and attributes in `rbac.*` tables,
//! read with direct index scans in the caller's snapshot.

pub mod index_scan;
pub mod schema;
pub mod source;
