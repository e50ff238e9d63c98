//! Every schema of the conformance suites must compile, and the
//! relationships and attributes of every file must parse and fit it; the
//! files in `permify/historical/` must fail the way `SOURCES.md` there says.

mod suites;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use notion_rbac_core::ErrorKind;
use notion_rbac_core::lang::compile;
use notion_rbac_core::tuple::{parse_attribute, parse_tuple};
use serde::Deserialize;
use suites::conformance_dir;

/// The parts of Permify's validation file shape this test needs. `context`
/// is typed as in Permify (a mapping), so the old list form fails to decode
/// as it does there.
#[derive(Deserialize)]
struct Shape {
    schema: String,
    #[serde(default)]
    relationships: Option<Vec<String>>,
    #[serde(default)]
    attributes: Option<Vec<String>>,
    /// Decoded only so that a malformed `context` fails as in Permify.
    #[serde(default)]
    #[allow(dead_code)]
    scenarios: Option<Vec<Scenario>>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Scenario {
    #[serde(default)]
    checks: Option<Vec<Check>>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Check {
    #[serde(default)]
    context: Option<Context>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Context {
    #[serde(default)]
    tuples: Option<Vec<String>>,
    #[serde(default)]
    attributes: Option<Vec<String>>,
    #[serde(default)]
    data: Option<BTreeMap<String, serde_json::Value>>,
}


fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

fn is_historical(path: &Path) -> bool {
    path.parent().and_then(|p| p.file_name()).is_some_and(|n| n == "historical")
}

/// Only the schema, for files whose full shape does not decode.
#[derive(Deserialize)]
struct SchemaOnly {
    schema: String,
}

#[test]
fn every_current_conformance_schema_compiles_and_its_data_fits() {
    let Some(dir) = conformance_dir() else { return };
    let mut files = Vec::new();
    yaml_files(&dir, &mut files);
    files.sort();
    let current: Vec<&PathBuf> = files.iter().filter(|p| !is_historical(p)).collect();
    assert!(
        current.len() >= 100,
        "expected the conformance suites next to the repository, found {} files",
        current.len()
    );
    let mut failures = Vec::new();
    for path in current {
        let text = std::fs::read_to_string(path).expect("readable conformance file");
        let shape: Shape = match serde_saphyr::from_str(&text) {
            Ok(shape) => shape,
            Err(e) => {
                failures.push(format!("{}: YAML: {e}", path.display()));
                continue;
            }
        };
        let schema = match compile(&shape.schema) {
            Ok(schema) => schema,
            Err(e) => {
                failures.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        for t in shape.relationships.unwrap_or_default() {
            let checked = parse_tuple(&t).and_then(|tuple| schema.validate_tuple(&tuple));
            if let Err(e) = checked {
                failures.push(format!("{}: tuple {t}: {e}", path.display()));
            }
        }
        for a in shape.attributes.unwrap_or_default() {
            let checked = parse_attribute(&a).and_then(|attribute| schema.validate_attribute(&attribute));
            if let Err(e) = checked {
                failures.push(format!("{}: attribute {a}: {e}", path.display()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn historical(name: &str) -> Option<String> {
    let path = conformance_dir()?.join("permify/historical").join(name);
    Some(std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

#[test]
fn historical_weekday_fails_with_not_supported_walk() {
    let Some(text) = historical("assets__example-shapes__weekday.yaml") else { return };
    let shape: SchemaOnly = serde_saphyr::from_str(&text).expect("valid YAML");
    let error = compile(&shape.schema).expect_err("rule arguments like request.x were removed");
    assert_eq!(error.kind, ErrorKind::Compile);
    assert!(error.message.starts_with("not supported walk"), "{error}");
    assert!(error.message.contains("request.day_of_week"), "{error}");
}

#[test]
fn historical_test_yaml_fails_with_duplication() {
    let Some(text) = historical("test.yaml") else { return };
    let shape: SchemaOnly = serde_saphyr::from_str(&text).expect("valid YAML");
    let error = compile(&shape.schema).expect_err("group declares member twice");
    assert!(error.message.starts_with("duplication found for group#member"), "{error}");
}

#[test]
fn historical_testing_doc_fails_to_decode_but_its_schema_compiles() {
    let Some(text) = historical("docs__getting-started__testing.yaml") else { return };
    assert!(serde_saphyr::from_str::<Shape>(&text).is_err(), "context written as a list must not decode");
    let shape: SchemaOnly = serde_saphyr::from_str(&text).expect("valid YAML");
    compile(&shape.schema).expect("the schema itself is fine");
}
