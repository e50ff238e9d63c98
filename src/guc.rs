//! Configuration parameters.
//!
//! None of these ever holds a secret: reloadable GUC values are written to
//! the server log on change and are readable in `pg_file_settings`.

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};

/// Longest acyclic chain of dispatches a check may follow before it fails.
/// Cycles in the data never hit this limit: they are cut (least fixpoint).
pub static MAX_DEPTH: GucSetting<i32> = GucSetting::<i32>::new(100);

pub fn define() {
    GucRegistry::define_int_guc(
        c"notion_rbac.max_depth",
        c"Maximum depth of a permission check (acyclic chain of relation hops).",
        c"A check that needs a longer acyclic chain of relation, permission and walk hops fails \
          with SQLSTATE 54001. Cycles in the data are cut and never reach this limit.",
        &MAX_DEPTH,
        3,
        1000,
        GucContext::Userset,
        GucFlags::default(),
    );
}

/// The current `notion_rbac.max_depth` as the engine's unit.
pub fn max_depth() -> u32 {
    MAX_DEPTH.get().max(3) as u32
}
