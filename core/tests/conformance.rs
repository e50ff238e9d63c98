//! Runs every conformance validation file (Permify's own files and the ones
//! translated from OpenFGA's and SpiceDB's test suites, in
//! `shared/conformance/`) through [`validation::run`]. Every assertion must
//! pass except one documented defect: facebook-groups' stray `checks:` key,
//! which asserts on a name `group` does not have and must be an error row.

mod suites;

use std::path::{Path, PathBuf};

use suites::conformance_dir;

use notion_rbac_core::validation::{self, AssertionResult};


fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml") && p.is_file())
        .collect();
    files.sort();
    files
}

/// The one expected non-pass (see shared/conformance/permify/SOURCES.md).
fn is_known_defect(file: &Path, row: &AssertionResult) -> bool {
    file.file_name()
        .is_some_and(|n| n == "assets__example-shapes__facebook-groups.yaml")
        && row.kind == "check"
        && row.query == "check group:1#checks@user:2"
        && row.expected == "false"
        && row.actual.starts_with("error: ")
}

#[test]
fn every_conformance_assertion_passes() {
    let Some(root) = conformance_dir() else { return };
    let mut problems = Vec::new();
    let mut defects_seen = 0;
    for suite in ["permify", "openfga", "spicedb"] {
        let (mut passed, mut failed, mut files) = (0usize, 0usize, 0usize);
        for file in yaml_files(&root.join(suite)) {
            files += 1;
            let text = std::fs::read_to_string(&file).expect("readable file");
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let rows = match validation::run(&text) {
                Ok(rows) => rows,
                Err(e) => {
                    failed += 1;
                    problems.push(format!("{suite}/{name}: the file failed to run: {e}"));
                    continue;
                }
            };
            for row in rows {
                if row.passed {
                    passed += 1;
                    continue;
                }
                failed += 1;
                if is_known_defect(&file, &row) {
                    defects_seen += 1;
                    println!(
                        "{suite}/{name}: expected defect row: {} -> {}",
                        row.query, row.actual
                    );
                    continue;
                }
                problems.push(format!(
                    "{suite}/{name} [{}] {}\n    expected: {}\n    actual:   {}",
                    row.scenario, row.query, row.expected, row.actual
                ));
            }
        }
        println!("{suite}: {files} files");
        println!("{suite}: {passed} passed, {failed} failed");
    }
    for p in &problems {
        println!("FAIL {p}");
    }
    assert!(
        problems.is_empty(),
        "{} unexpected failures:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert_eq!(
        defects_seen, 1,
        "the facebook-groups defect must be exactly one error row"
    );
}

#[test]
fn historical_files_are_rejected() {
    let Some(dir) = conformance_dir() else { return };
    let dir = dir.join("permify/historical");
    for name in [
        "assets__example-shapes__weekday.yaml",
        "test.yaml",
        "docs__getting-started__testing.yaml",
    ] {
        let text = std::fs::read_to_string(dir.join(name)).expect("readable file");
        match validation::run(&text) {
            Ok(rows) => panic!(
                "{name} should be rejected, but ran {} assertions",
                rows.len()
            ),
            Err(e) => println!("{name}: rejected ({:?}): {e}", e.kind),
        }
    }
}
