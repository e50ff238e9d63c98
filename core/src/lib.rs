//! The pure-Rust core of `notion_rbac`.
//!
//! Nothing in this crate knows about PostgreSQL: the extension crate (the
//! workspace root) wraps it in SQL functions and feeds it tuples from tables.
//! Keeping the split strict means the language, the evaluation engine and the
//! validation-file runner are unit-tested with a plain `cargo test -p
//! notion_rbac_core`, in seconds, without a cluster.
//!
//! Map of the crate:
//! - [`error`]   — one error type with a stable [`error::ErrorKind`] that the
//!   SQL layer maps onto SQLSTATEs.
//! - [`model`]   — the compiled authorization model (entities, relations,
//!   attributes, permissions as expression trees, rules).
//! - [`tuple`]   — relationship tuples, subjects and attribute values, and
//!   their Permify text syntax.
//! - [`lang`]    — lexer, parser and compiler of the Permify schema language.
//! - [`engine`]  — check and lookups over an abstract [`engine::TupleSource`].
//! - [`validation`] — runs Permify validation (YAML) files in isolation.
//! - [`interrupt`] — the host's cancellation hook, polled by long work.
//! - [`graph`]   — strongly connected components, for the analyses that
//!   treat cycles as a whole.
//!
//! Secrets and Notion (token envelopes, keys, OAuth) are the other product
//! of the project and live in their own crate, `notion_rbac_notion`: the
//! engine builds without any crypto or HTTP dependency.

pub mod error;
pub mod model;
pub mod tuple;
pub mod lang;
pub mod engine;
pub mod validation;
pub mod interrupt;
pub mod graph;

pub use error::{Error, ErrorKind, Result};
