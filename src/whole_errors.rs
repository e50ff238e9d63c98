//! PostgreSQL errors passed on whole through the extension's own SPI calls.
//!
//! pgrx catches a PostgreSQL error that crosses Rust code (its longjmp) and,
//! at the function's boundary, raises a copy that keeps only the code,
//! message, detail, hint and outer context: the constraint, table and
//! column names drivers read, the inner context (`SQL statement "…"`) and
//! the cursor position are lost. For the statements the extension runs on
//! a caller's behalf — `rbac.write_tuples` inserting into a table an
//! administrator may have put triggers on, say — the caller should see the
//! error PostgreSQL raised. So an entry point made with [`call`] arms
//! [`spi`]: an error raised inside such a call is left on PostgreSQL's
//! error stack as it is, the Rust frames in between unwind (running their
//! destructors), and the entry point re-throws the original
//! (`pg_re_throw`, as C code's `PG_RE_THROW`). Errors the extension raises
//! itself go through pgrx as everywhere else.

use std::cell::Cell;
use std::mem::MaybeUninit;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use pgrx::pg_sys;

/// The C entry point (and its version-1 record) of a strict SQL function
/// of one argument, read as `$arg` and passed to `$body`, run through
/// [`call`]: for functions whose statements' errors must reach the caller
/// whole. The SQL declaring it is written beside it, with the symbol
/// `#[pg_extern]` would have given it.
macro_rules! whole_entry {
    ($finfo:ident, $entry:ident, $arg:ty, $body:expr) => {
        #[unsafe(no_mangle)]
        pub extern "C" fn $finfo() -> &'static pgrx::pg_sys::Pg_finfo_record {
            &crate::pg_ffi::FINFO_V1
        }

        /// # Safety
        /// Called by PostgreSQL with one argument of the declared type,
        /// never NULL (the function is strict).
        #[unsafe(no_mangle)]
        pub unsafe extern "C-unwind" fn $entry(fcinfo: pgrx::pg_sys::FunctionCallInfo) -> pgrx::pg_sys::Datum {
            // SAFETY: called once per call, from this entry point, whose
            // frame holds nothing with a destructor.
            unsafe {
                crate::whole_errors::call(|| {
                    let arg = pgrx::fcinfo::pg_getarg::<$arg>(fcinfo, 0).unwrap_or_default();
                    match pgrx::IntoDatum::into_datum(($body)(arg)) {
                        Some(datum) => datum,
                        None => {
                            (*fcinfo).isnull = true;
                            pgrx::pg_sys::Datum::from(0usize)
                        }
                    }
                })
            }
        }
    };
}
pub(crate) use whole_entry;

/// The unwinding payload of an error left on PostgreSQL's error stack.
struct Pending;

thread_local! {
    /// Whether the nearest handler of an error raised now is [`call`]'s:
    /// set by `call` for its body, cleared by [`spi`] while PostgreSQL runs
    /// (code PostgreSQL runs — a trigger, a nested call — has handlers of
    /// its own), each restoring what it found.
    static ARMED: Cell<bool> = const { Cell::new(false) };
}

/// Runs the body of a SQL-callable function so that errors raised inside
/// its [`spi`] calls reach the caller whole. Errors and panics of the body
/// itself are reported by pgrx, as `#[pg_extern]` functions' are.
///
/// # Safety
/// Called once per function call, directly from the C entry point (whose
/// frame holds nothing with a destructor), on the backend's main thread.
pub unsafe fn call(body: impl FnOnce() -> pg_sys::Datum) -> pg_sys::Datum {
    // SAFETY: pgrx's guard as every pgrx entry point uses it.
    let (datum, pending) = unsafe {
        pg_sys::submodules::panic::pgrx_extern_c_guard(|| {
            let outer = ARMED.replace(true);
            let outcome = catch_unwind(AssertUnwindSafe(body));
            ARMED.set(outer);
            match outcome {
                Ok(datum) => (datum, false),
                Err(payload) if payload.is::<Pending>() => (pg_sys::Datum::from(0usize), true),
                // The extension's own errors and panics: pgrx reports them.
                Err(payload) => resume_unwind(payload),
            }
        })
    };
    if pending {
        // SAFETY: the error [`spi`] caught is still on PostgreSQL's error
        // stack, and every Rust frame it crossed has unwound; this frame
        // holds nothing with a destructor.
        unsafe { crate::pg_ffi::pg_re_throw() }
    }
    datum
}

/// Runs `f`, a call into PostgreSQL that may raise (an SPI execution):
/// inside [`call`], an error it raises unwinds to `call`'s entry point and
/// is re-thrown there whole; elsewhere, pgrx's boundary handles it.
///
/// # Safety
/// `f` holds nothing with a destructor across the PostgreSQL call (a
/// longjmp may leave it), and runs on the backend's main thread.
pub unsafe fn spi<T>(f: impl FnOnce() -> T) -> T {
    if !ARMED.get() {
        // SAFETY: as pgrx's own calls into PostgreSQL.
        return unsafe { pg_sys::ffi::pg_guard_ffi_boundary(f) };
    }
    ARMED.set(false);
    // SAFETY: as pgrx's boundary (ffi.rs), except that the error is left
    // on the error stack for `call` to re-throw instead of being copied and
    // flushed.
    unsafe {
        let caller_context = pg_sys::CurrentMemoryContext;
        let outer_exceptions = pg_sys::PG_exception_stack;
        let outer_error_context = pg_sys::error_context_stack;
        let mut result = MaybeUninit::<T>::uninit();
        let jumped = cee_scape::call_with_sigsetjmp(false, |jump_buffer| {
            pg_sys::PG_exception_stack = jump_buffer as *const _ as *mut pg_sys::sigjmp_buf;
            result.write(f());
            0
        });
        pg_sys::PG_exception_stack = outer_exceptions;
        pg_sys::error_context_stack = outer_error_context;
        ARMED.set(true);
        if jumped == 0 {
            return result.assume_init();
        }
        // errfinish leaves ErrorContext current for the handler.
        pg_sys::MemoryContextSwitchTo(caller_context);
        resume_unwind(Box::new(Pending))
    }
}

/// Runs `sql` with `args` in a connection of
/// its own and returns the rows it processed, through [`spi`]: inside
/// [`call`], an error the statement raises — a constraint, a trigger on
/// the table — reaches the caller whole.
pub fn execute(sql: &std::ffi::CStr, args: &[pgrx::datum::DatumWithOid<'_>]) -> u64 {
    execute_then(sql, args, |processed, _| processed)
}

/// Types read by value from a result row: nothing pointing into the row,
/// which does not outlive the connection [`execute_returning`] closes.
pub trait ByValue: pgrx::FromDatum + Copy {}
impl ByValue for i32 {}
impl ByValue for i64 {}

/// The first column of the first row `sql` returned (a `RETURNING`); None
/// for no row or NULL. As [`execute`] otherwise.
pub fn execute_returning<T: ByValue>(sql: &std::ffi::CStr, args: &[pgrx::datum::DatumWithOid<'_>]) -> Option<T> {
    execute_then(sql, args, |processed, table| {
        if processed == 0 || table.is_null() {
            return None;
        }
        let mut isnull = false;
        // SAFETY: the statement returned at least one row into `table`,
        // read before the connection frees it; T is the column's type, by
        // value.
        unsafe {
            let datum = pg_sys::SPI_getbinval(*(*table).vals, (*table).tupdesc, 1, &mut isnull);
            T::from_datum(datum, isnull)
        }
    })
}

/// Runs `sql` as [`execute`] does and hands the rows it processed, and its
/// result rows (when it returns any), to `read` before they are freed.
fn execute_then<R>(
    sql: &std::ffi::CStr,
    args: &[pgrx::datum::DatumWithOid<'_>],
    read: impl FnOnce(u64, *mut pg_sys::SPITupleTable) -> R,
) -> R {
    let crate::store::SpiArgs { mut types, mut values, nulls } = crate::store::SpiArgs::of(args);
    let n = std::ffi::c_int::try_from(args.len()).expect("few arguments");
    // SAFETY: a connection opened and closed here (an error in between
    // leaves it to the (sub)transaction's abort, as in C); the closure holds
    // raw pointers only, into vectors that outlive it.
    unsafe {
        if pg_sys::SPI_connect() != pg_sys::SPI_OK_CONNECT as i32 {
            pgrx::error!("notion_rbac: could not connect to SPI");
        }
        let (sql, types, values, nulls) = (sql.as_ptr(), types.as_mut_ptr(), values.as_mut_ptr(), nulls.as_ptr());
        let code = spi(|| crate::pg_ffi::SPI_execute_with_args(sql, n, types, values, nulls, false, 0));
        if code < 0 {
            pg_sys::SPI_finish();
            pgrx::error!("notion_rbac: SPI failed with code {code}");
        }
        let out = read(pg_sys::SPI_processed, pg_sys::SPI_tuptable);
        pg_sys::SPI_finish();
        out
    }
}
