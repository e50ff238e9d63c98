//! The subject of the current request, for row-level security policies.
//!
//! `rbac.set_subject(subject, scope)` names the subject an application
//! server (or pooler) acts for; `rbac.current_subject()` returns it — or,
//! when none is set, the subject mapped to the session's login role in
//! `rbac.login_subjects` (applications that log in per user), or NULL.
//!
//! Where the subject lives decides who can change it. It is not a setting:
//! a configuration parameter can be changed by any role with `SET` or
//! `set_config()` (and the `notion_rbac.` prefix is reserved, so no one
//! can invent one). It is backend memory that only `rbac.set_subject`
//! writes, and that function is executable by members of `rbac_app` only
//! (and checks that membership itself, whatever grants someone adds).
//!
//! Lifetime, as `SET LOCAL` / `SET` would have it: a transaction-scoped
//! subject (the default) ends with its transaction, so a pooled connection
//! hands the next transaction no subject; a session-scoped one lasts until
//! changed, or until `DISCARD ALL` (a pooler's reset between clients) or
//! `RESET ALL`. Either reverts when its transaction or savepoint rolls back.
//! NULL for the transaction means no subject at all for it; NULL for the
//! session means none set, now and after commit alike (the login role's
//! mapping applies again).

use std::cell::RefCell;

use notion_rbac_core::tuple;
use notion_rbac_core::{Error, ErrorKind};
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::errors::{raise, required, OrRaise};

/// A subject set by `rbac.set_subject` (None: explicitly cleared).
#[derive(Clone)]
struct Setting {
    subject: Option<String>,
    session: bool,
    /// The transaction nesting level it was set at (1: top level).
    level: i32,
}

#[derive(Default)]
struct Identity {
    /// Settings of the current transaction, oldest first.
    pending: Vec<Setting>,
    /// The session-scoped subject committed by earlier transactions.
    session: Option<String>,
}

impl Identity {
    /// The subject set for this request: `Some(None)` when the transaction
    /// was set to none, `None` when nothing is set (never, or the session's
    /// was cleared: a session-scoped NULL means "none set" before commit as
    /// it does after).
    fn current(&self) -> Option<Option<&str>> {
        match self.pending.last() {
            Some(Setting { subject: None, session: true, .. }) => None,
            Some(s) => Some(s.subject.as_deref()),
            None => self.session.as_deref().map(Some),
        }
    }

    /// Records a setting made at the current transaction nesting level.
    fn push(&mut self, subject: Option<String>, session: bool) {
        // SAFETY: backend-local transaction state.
        let level = unsafe { pg_sys::GetCurrentTransactionNestLevel() };
        self.pending.push(Setting { subject, session, level });
    }
}

thread_local! {
    static IDENTITY: RefCell<Identity> = RefCell::new(Identity::default());
}

/// Registers the transaction callbacks that end and revert subjects.
/// Called once per backend, from `_PG_init`.
pub(crate) fn register_callbacks() {
    // SAFETY: plain function pointers with no argument, registered once.
    unsafe {
        pg_sys::RegisterXactCallback(Some(on_xact), std::ptr::null_mut());
        pg_sys::RegisterSubXactCallback(Some(on_subxact), std::ptr::null_mut());
    }
}

/// Clears the subject as `rbac.set_subject(NULL, 'session')` would, after
/// `DISCARD ALL` or `RESET ALL` (see `crate::utility`): a session-mode
/// pooler's reset hands the next client a connection that acts for no one.
/// Recorded as a setting of the current transaction, so a `RESET ALL`
/// rolled back with its savepoint is undone too.
pub(crate) fn clear_by_reset() {
    IDENTITY.with(|cell| cell.borrow_mut().push(None, true));
}

#[pg_guard]
unsafe extern "C-unwind" fn on_xact(event: pg_sys::XactEvent::Type, _arg: *mut std::ffi::c_void) {
    use pg_sys::XactEvent::*;
    let committed = match event {
        XACT_EVENT_COMMIT | XACT_EVENT_PARALLEL_COMMIT | XACT_EVENT_PREPARE => true,
        XACT_EVENT_ABORT | XACT_EVENT_PARALLEL_ABORT => false,
        _ => return,
    };
    IDENTITY.with(|cell| {
        let mut id = cell.borrow_mut();
        let pending = std::mem::take(&mut id.pending);
        if committed && let Some(last) = pending.iter().rev().find(|s| s.session) {
            id.session = last.subject.clone();
        }
    });
}

#[pg_guard]
unsafe extern "C-unwind" fn on_subxact(
    event: pg_sys::SubXactEvent::Type,
    _my: pg_sys::SubTransactionId,
    _parent: pg_sys::SubTransactionId,
    _arg: *mut std::ffi::c_void,
) {
    use pg_sys::SubXactEvent::*;
    // SAFETY: backend-local transaction state.
    let level = unsafe { pg_sys::GetCurrentTransactionNestLevel() };
    IDENTITY.with(|cell| {
        let mut id = cell.borrow_mut();
        match event {
            SUBXACT_EVENT_ABORT_SUB => id.pending.retain(|s| s.level < level),
            SUBXACT_EVENT_COMMIT_SUB => {
                for s in id.pending.iter_mut().filter(|s| s.level >= level) {
                    s.level = level - 1;
                }
            }
            _ => {}
        }
    });
}

/// Whether the subject set for this request is `expected` (as
/// [`explicit`] would return it), without copying it.
/// (Reached from `rbac.permitted`'s unguarded fast path: never panics; a
/// state it cannot read answers false, and the slow path decides.)
pub(crate) fn explicit_is(expected: Option<&Option<String>>) -> bool {
    IDENTITY
        .try_with(|cell| cell.try_borrow().is_ok_and(|id| id.current() == expected.map(Option::as_deref)))
        .unwrap_or(false)
}

/// The subject set for this request, if any was set (explicitly cleared:
/// `Some(None)`).
///
/// Not in a parallel worker: the subject is the leader's backend memory,
/// which PostgreSQL does not hand to workers, so a worker would fall back
/// to the login role's mapping — someone else, or no one. The planner
/// keeps the extension's functions (PARALLEL RESTRICTED) in the leader;
/// only a function someone marked PARALLEL SAFE can bring a protected
/// table's policy or `rbac.current_subject()` into a worker, and that is
/// refused (0A000) rather than answered for the wrong subject.
pub(crate) fn explicit() -> Option<Option<String>> {
    // SAFETY: a plain read of a backend global.
    if unsafe { pg_sys::ParallelWorkerNumber } >= 0 {
        pgrx::pg_sys::panic::ErrorReport::new(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            "the subject of the request (rbac.current_subject()) cannot be read in a parallel worker",
            "",
        )
        .set_hint(
            "A function that reads a table protected by rbac.protect, or calls rbac.current_subject(), \
             must not be marked PARALLEL SAFE.",
        )
        .report(PgLogLevel::ERROR);
    }
    IDENTITY.with(|cell| cell.borrow().current().map(|s| s.map(str::to_owned)))
}

/// Sets the subject that `rbac.current_subject()` returns: for the current
/// transaction (`scope => 'transaction'`, the default) or the session
/// (`'session'`). NULL clears it: for the transaction, no subject at all;
/// for the session, none set (the login role's mapping applies again).
/// Only members of `rbac_app` may call it.
#[pg_extern(volatile, parallel_unsafe)]
#[search_path(pg_catalog, pg_temp)]
fn set_subject(subject: Option<&str>, scope: default!(Option<&str>, "'transaction'")) {
    // (Not strict: a NULL subject clears it; a NULL scope is an error.)
    let scope = required(scope, "scope");
    // EXECUTE is granted to rbac_app alone; the membership is checked here
    // too (for the role running the function: inside someone's SECURITY
    // DEFINER function, its owner), so a grant added later to anyone else
    // does not open it.
    let allowed = Spi::get_one::<bool>("SELECT pg_catalog.pg_has_role(CURRENT_USER, 'rbac_app', 'MEMBER')")
        .ok()
        .flatten()
        .unwrap_or(false);
    if !allowed {
        pgrx::ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
            "permission denied to set the subject",
            "only members of rbac_app (application servers and poolers) may call rbac.set_subject"
        );
    }
    let session = match scope {
        "transaction" => false,
        "session" => true,
        _ => raise(
            Error::new(ErrorKind::InvalidArgument, "scope must be 'transaction' or 'session'")
                .with_hint("'transaction' (the default) ends with the transaction; 'session' lasts until changed"),
        ),
    };
    let subject = subject.map(|s| {
        let parsed = tuple::parse_subject(s).or_raise();
        parsed.to_string()
    });
    IDENTITY.with(|cell| cell.borrow_mut().push(subject, session));
}

/// The subject of the current request: the one `rbac.set_subject` set, else
/// the subject `rbac.login_subjects` maps the session's login role to, else
/// NULL. For row-level security policies:
/// `USING (rbac.check(rbac.current_subject(), 'read', 'page:' || id))`.
#[pg_extern(stable, parallel_restricted, security_definer)]
#[search_path(pg_catalog, pg_temp)]
fn current_subject() -> Option<String> {
    if let Some(set) = explicit() {
        return set;
    }
    // The mapping holds for the role it was written for: the one that had
    // the name then (`role_oid`, bound by rbac._login_subject_bind). A role
    // created later under a dropped or renamed role's name is someone else.
    // SAFETY: plain read of backend state.
    let session_role = unsafe { pg_sys::GetSessionUserId() };
    let (query, args) = if login_subjects_bound() {
        (
            c"SELECT subject FROM rbac.login_subjects WHERE login_role = SESSION_USER AND role_oid = $1",
            vec![DatumWithOid::from(session_role)],
        )
    } else {
        (c"SELECT subject FROM rbac.login_subjects WHERE login_role = SESSION_USER", vec![])
    };
    crate::store::read_rows(query, &args, |col| crate::store::from_datum::<String>(col(1)))
    .into_iter()
    .next()
    .flatten()
}

/// Whether `rbac.login_subjects` has `role_oid` (0.16.0). This library
/// also serves an installation whose SQL is older until `ALTER EXTENSION
/// notion_rbac UPDATE` runs; there, mappings are read by name, as that
/// version did.
fn login_subjects_bound() -> bool {
    let Some(schema) = crate::store::rbac_namespace() else { return false };
    // SAFETY: syscache lookups by name; missing objects give InvalidOid.
    unsafe {
        let table = pg_sys::get_relname_relid(c"login_subjects".as_ptr(), schema);
        table != pg_sys::InvalidOid && pg_sys::get_attnum(table, c"role_oid".as_ptr()) != pg_sys::InvalidAttrNumber as i16
    }
}

/// Internal (`rbac.authorize`): refuses, with 42501, a caller who may not
/// authorize `subject`. A denial is audited in the subject's name (and
/// delivered to Notion audit databases), so only a trusted role may name
/// any subject: members of `rbac_app` (application servers and poolers,
/// who may set the subject anyway) and of `rbac_admin`. Anyone else may
/// authorize the subject they act as, `rbac.current_subject()`.
///
/// The caller is the role outside any SECURITY DEFINER function, as SET
/// ROLE left it (`GetOuterUserId`): `rbac.authorize` runs as its owner, and
/// a pooler's client that was given a lesser role with SET ROLE is that
/// role here, not the pooler's login.
///
/// (No function-level `search_path`, which PostgreSQL would save and
/// restore on every call: its one caller pins it, and the only names it
/// resolves are in `current_subject`'s query.)
#[pg_extern(stable, strict, parallel_restricted, name = "_authorize_caller")]
fn authorize_caller(subject: &str) {
    // SAFETY: backend state and syscache lookups; no pointers kept.
    let caller = unsafe { pg_sys::GetOuterUserId() };
    let trusted = [c"rbac_app", c"rbac_admin"].iter().any(|role| {
        // SAFETY: as above; missing_ok, so a missing role is InvalidOid.
        let role = unsafe { pg_sys::get_role_oid(role.as_ptr(), true) };
        role != pg_sys::InvalidOid && unsafe { pg_sys::is_member_of_role(caller, role) }
    });
    if trusted {
        return;
    }
    let asked = tuple::parse_subject(subject).or_raise().to_string();
    let acting_as = current_subject();
    if acting_as.as_deref() == Some(asked.as_str()) {
        return;
    }
    let detail = match acting_as {
        Some(own) => format!("this role acts as {own} (rbac.current_subject()), not as {asked}"),
        None => format!("this role acts as no subject (rbac.current_subject() is NULL), not as {asked}"),
    };
    pgrx::pg_sys::panic::ErrorReport::new(
        PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
        "permission denied to authorize another subject",
        "",
    )
    .set_detail(detail)
    .set_hint(
        "Only members of rbac_app or rbac_admin may name any subject in rbac.authorize (its denials are \
         audited in that subject's name); others authorize the subject they act as.",
    )
    .report(PgLogLevel::ERROR);
}

/// Internal (CHECK of `rbac.login_subjects`): whether `text` is a subject in
/// Permify syntax (`user:alice`, `team:eng#member`).
#[pg_extern(immutable, strict, parallel_safe, name = "_is_subject")]
fn is_subject(text: &str) -> bool {
    tuple::parse_subject(text).is_ok()
}
