//! Turning core errors into SQL errors.
//!
//! Every error the core reports becomes an `ERROR` with the SQLSTATE of its
//! [`ErrorKind`], the message, and — where known — the schema position in the
//! message and extra detail and hint lines. Nothing here ever formats secret
//! material: the core has none.

use notion_rbac_core::{Error, ErrorKind};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::prelude::*;

/// The SQLSTATE of an error kind: the core names it as five characters
/// (see `ErrorKind::sqlstate`); PostgreSQL packs them six bits each.
fn sqlstate(kind: ErrorKind) -> PgSqlErrorCode {
    let code = kind
        .sqlstate()
        .bytes()
        .enumerate()
        .fold(0i32, |acc, (i, c)| acc | (((c.wrapping_sub(b'0')) as i32 & 0x3F) << (6 * i)));
    PgSqlErrorCode::from(code)
}

/// Raises `err` as a PostgreSQL `ERROR`. Never returns.
/// Refuses a NULL argument (22004) naming it.
pub fn required<'a>(value: Option<&'a str>, name: &str) -> &'a str {
    value.unwrap_or_else(|| {
        pgrx::ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            format!("{name} must not be NULL")
        );
    })
}

pub fn raise(err: Error) -> ! {
    let message = match err.pos {
        Some(p) => format!("line {}, column {}: {}", p.line, p.col, err.message),
        None => err.message.clone(),
    };
    let mut report = ErrorReport::new(sqlstate(err.kind), message, "");
    if let Some(d) = err.detail {
        report = report.set_detail(d);
    }
    if let Some(h) = err.hint {
        report = report.set_hint(h);
    }
    report.report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

/// Raises a work or memory limit error (54000 program_limit_exceeded)
/// with a hint naming the setting to change. Never returns.
pub fn limit_exceeded(message: String, hint: &str) -> ! {
    ErrorReport::new(PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED, message, "")
        .set_hint(hint)
        .report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

/// Unwraps a core result or raises its error.
pub trait OrRaise<T> {
    fn or_raise(self) -> T;
}

impl<T> OrRaise<T> for notion_rbac_core::Result<T> {
    fn or_raise(self) -> T {
        match self {
            Ok(v) => v,
            Err(e) => raise(e),
        }
    }
}
