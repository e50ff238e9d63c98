//! Storage: the active schema, tuples and attributes in `rbac.*` tables,
//! read through SPI in the caller's snapshot.
//!
//! Reads use kept (prepared once per backend) plans: an unprepared SPI query
//! costs ~11 µs, a kept plan ~3 µs (measured, see docs/pgrx-notes.md §5).

pub mod plans;
pub mod schema;
pub mod source;
