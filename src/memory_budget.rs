//! The memory one statement's calls into the library may take
//! (`notion_rbac.max_call_memory`).
//!
//! Sizes that grow with the input are bounded where they are read (context
//! items, validation files, fixpoints, caches), but some work grows with
//! the input's product instead: a rule that maps a list of the request's
//! context over itself builds len² values. So the library's own heap is
//! counted: every Rust allocation goes through [`Counting`], and the
//! interrupt poll that every evaluation step makes compares what the
//! current statement has added with the limit, raising 54000 beyond it —
//! the call unwinds, and frees what it built.
//!
//! The count is a plain load and store, not an atomic read-modify-write: a
//! locked add on every allocation would cost a cold check several percent.
//! Backends run Rust on one thread, so their count is exact; the
//! background worker (whose HTTP client has threads of its own) may lose
//! updates, and is not limited.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use pgrx::pg_sys;

/// Bytes the library's Rust code holds in this process (wrapping: a lost
/// update in a threaded process may leave it off, never unsafe).
static LIVE: AtomicUsize = AtomicUsize::new(0);

struct Counting;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn add(bytes: usize) {
    LIVE.store(LIVE.load(Relaxed).wrapping_add(bytes), Relaxed);
}

fn sub(bytes: usize) {
    LIVE.store(LIVE.load(Relaxed).wrapping_sub(bytes), Relaxed);
}

// SAFETY: every method forwards to the system allocator with the caller's
// arguments unchanged and only counts what it returned.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            add(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            add(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        sub(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            add(new_size);
            sub(layout.size());
        }
        p
    }
}

thread_local! {
    /// The statement being measured (its start time) and what the library
    /// held when it was first seen.
    static STATEMENT: Cell<(pg_sys::TimestampTz, usize)> = const { Cell::new((0, 0)) };
}

/// Raises 54000 if the current statement has added more than
/// `notion_rbac.max_call_memory` to the library's heap. Called from the
/// interrupt poll, every few evaluation steps.
pub fn check() {
    // SAFETY: reads a variable PostgreSQL sets once at process start.
    if unsafe { pg_sys::MyBackendType } != pg_sys::BackendType::B_BACKEND {
        return;
    }
    let Some(limit) = crate::guc::max_call_memory() else { return };
    let live = LIVE.load(Relaxed);
    // SAFETY: a plain read of the statement's start time.
    let started = unsafe { pg_sys::GetCurrentStatementStartTimestamp() };
    let base = STATEMENT.with(|s| {
        let (at, base) = s.get();
        if at == started {
            base
        } else {
            s.set((started, live));
            live
        }
    });
    let added = live.saturating_sub(base);
    if added > limit {
        // The next statement starts afresh; this one ends here.
        STATEMENT.with(|s| s.set((0, 0)));
        crate::errors::limit_exceeded(
            format!(
                "the statement's calls to notion_rbac need more than notion_rbac.max_call_memory ({})",
                as_setting(limit)
            ),
            "Large lookups and validation files need memory in proportion to what they read, and a rule that \
             builds lists from lists of the request context in proportion to their product; a superuser can \
             raise notion_rbac.max_call_memory (for one role: ALTER ROLE ... SET).",
        );
    }
}

/// `bytes` as `SHOW` writes a setting in kB: 512kB, 16MB, 1GB.
fn as_setting(bytes: usize) -> String {
    let kb = bytes / 1024;
    match kb {
        _ if kb >= 1 << 20 && kb % (1 << 20) == 0 => format!("{}GB", kb >> 20),
        _ if kb >= 1 << 10 && kb % (1 << 10) == 0 => format!("{}MB", kb >> 10),
        _ => format!("{kb}kB"),
    }
}
