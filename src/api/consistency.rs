//! `rbac.consistency_token()`: what has committed, as a token that checks,
//! lookups and explanations take as `"at_least"` in their context (see
//! `store::consistency`).

use pgrx::pg_sys;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;

use crate::store::consistency::Token;

/// A token naming everything committed so far (call it after COMMIT):
/// `rbac.check(subject, action, object, jsonb_build_object('at_least', token))`
/// — on this server or a hot standby of it — then reads data that includes
/// it. Refused inside a transaction that has written (its writes are not
/// committed yet, so no token can name them).
#[pg_extern(volatile, parallel_restricted)]
fn consistency_token() -> String {
    // SAFETY: backend-local transaction state.
    let wrote = unsafe { pg_sys::GetTopTransactionIdIfAny() } != pg_sys::InvalidTransactionId;
    if wrote {
        ErrorReport::new(
            PgSqlErrorCode::ERRCODE_INVALID_TRANSACTION_STATE,
            "rbac.consistency_token() names committed data, and this transaction has not committed its writes",
            "",
        )
        .set_hint("call it after COMMIT, in the next statement")
        .report(PgLogLevel::ERROR);
    }
    Token::now().to_string()
}
