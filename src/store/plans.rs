//! Per-backend prepared statements.
//!
//! A plan is prepared on first use and kept for the life of the backend;
//! PostgreSQL's plan cache revalidates it after DDL (including DROP/CREATE
//! EXTENSION), so nothing here needs invalidating by hand.

use std::cell::RefCell;

use pgrx::PgOid;
use pgrx::spi::{OwnedPreparedStatement, SpiClient};

/// A lazily prepared, kept statement. Declare one per query in a
/// `thread_local!` (PostgreSQL backends are single-threaded).
pub struct KeptPlan {
    sql: &'static str,
    args: &'static [PgOid],
    plan: RefCell<Option<OwnedPreparedStatement>>,
}

impl KeptPlan {
    pub const fn new(sql: &'static str, args: &'static [PgOid]) -> Self {
        KeptPlan { sql, args, plan: RefCell::new(None) }
    }

    /// Runs `f` with the prepared statement, preparing it first if needed.
    pub fn with<R>(&self, client: &SpiClient<'_>, f: impl FnOnce(&OwnedPreparedStatement) -> R) -> R {
        if self.plan.borrow().is_none() {
            let prepared = client
                .prepare(self.sql, self.args)
                .unwrap_or_else(|e| pgrx::error!("notion_rbac: cannot prepare internal query: {e}"))
                .keep();
            *self.plan.borrow_mut() = Some(prepared);
        }
        let plan = self.plan.borrow();
        f(plan.as_ref().expect("prepared above"))
    }
}
