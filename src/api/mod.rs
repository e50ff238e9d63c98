//! The SQL surface: every `#[pg_extern]` of the extension, one module per
//! topic. Functions here only translate arguments and results; the logic is
//! in `notion_rbac_core`, `notion_rbac_notion` and the storage modules.
//!
//! - `check`, `lookup` — checks (single and batched) and lookups;
//! - `consistency`     — consistency tokens (`rbac.consistency_token`);
//! - `context`         — the request-context argument (`jsonb`) they take;
//! - `explain`         — why a check is true or false, and expand trees;
//! - `identity`        — the subject of the current request (`set_subject`,
//!   `current_subject`), for row-level security policies;
//! - `schema`, `tuples` — writing and reading models, tuples, attributes;
//! - `validate`        — Permify validation files;
//! - `oauth`           — the OAuth flow (configure, start, callback, status);
//! - `permitted`       — the per-row function of `rbac.protect`'s policies;
//! - `id_arrays`       — its visible set's ids as the planner's `bigint[]`, `uuid[]`;
//! - `permitted_plan`  — its planner support: selectivity, index condition;
//! - `permitted_scan`  — its executor side: how many rows a plan checks;
//! - `workspaces`      — installed workspaces: deauthorize, verify, sync, worker status;
//! - `requests`        — permission-aware Notion requests (`notion_request`);
//! - `meta`            — version and read-cache statistics.

pub mod check;
pub mod consistency;
pub mod context;
pub mod explain;
pub mod identity;
pub mod id_arrays;
pub mod lookup;
pub mod meta;
pub mod oauth;
pub mod permitted;
pub mod permitted_plan;
pub mod permitted_scan;
pub mod requests;
pub mod schema;
pub mod tuples;
pub mod validate;
pub mod workspaces;
