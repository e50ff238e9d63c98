//! Where the conformance suites are, for the tests that run them.

use std::path::{Path, PathBuf};

/// The conformance suites: `NOTION_RBAC_CONFORMANCE`, else
/// `../shared/conformance` beside the repository (where this workspace keeps
/// them). A clone on its own has none: then the test says so on stderr and
/// passes, unless `NOTION_RBAC_REQUIRE_CONFORMANCE=1` (CI sets it) makes
/// their absence a failure.
pub fn conformance_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("NOTION_RBAC_CONFORMANCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance"));
    if dir.is_dir() {
        return Some(dir);
    }
    assert!(
        std::env::var("NOTION_RBAC_REQUIRE_CONFORMANCE").as_deref() != Ok("1"),
        "the conformance suites are required but {} does not exist",
        dir.display()
    );
    eprintln!(
        "SKIPPED: the conformance suites are not at {} (set NOTION_RBAC_CONFORMANCE to their directory)",
        dir.display()
    );
    None
}
