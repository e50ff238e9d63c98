//! Information about the extension itself.

use pgrx::prelude::*;

/// The extension's version (the crate version the library was built from).
#[pg_extern(immutable, parallel_safe)]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}
