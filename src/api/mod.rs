//! The SQL surface: every `#[pg_extern]` of the extension, one module per
//! topic. Functions here only translate arguments and results; the logic is
//! in `notion_rbac_core` and the storage modules.

pub mod check;
pub mod context;
pub mod lookup;
pub mod meta;
pub mod oauth;
pub mod schema;
pub mod tuples;
pub mod validate;
