//! Permify validation files (the YAML that `permify validate` runs).
//!
//! [`run`] decodes a file, compiles its schema, loads its relationships and
//! attributes into a [`MemorySource`], and evaluates every assertion of every
//! scenario in isolation, one [`AssertionResult`] per assertion in file order.
//! The behaviour follows `docs/permify-language.md` §11:
//! - a file that does not decode (e.g. `context:` written as a list) is an
//!   [`ErrorKind::InvalidValidationFile`] error; unknown keys are ignored;
//! - a schema that does not compile, and a relationship or attribute that
//!   does not parse or does not fit the schema, fail the whole file;
//! - `depth` absent or 0 means 100, below 3 is an error (per entry);
//! - an assertion with no value (`name:` alone) asserts `false`;
//! - entity and subject filter results are compared as sorted lists;
//! - an engine error on an assertion becomes a failed row whose `actual` is
//!   `error: <message>`; the rest of the file still runs.

use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value as Json};

use crate::engine::{self, CheckOptions, Context, MemorySource};
use crate::error::{Error, ErrorKind, Result};
use crate::lang;
use crate::model::Schema;
use crate::tuple;

/// The outcome of one assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionResult {
    /// The scenario's name (not unique in general: keep rows by position).
    pub scenario: String,
    /// `"check"`, `"entity_filter"` or `"subject_filter"`.
    pub kind: &'static str,
    /// E.g. `check page:1#read@user:1`, `entity_filter repository#push@user:1`,
    /// `subject_filter repository:1#view@user`, with ` with context` appended
    /// when the entry has a context.
    pub query: String,
    /// `true`/`false`, or a sorted id list like `["1", "3"]`.
    pub expected: String,
    /// Same format as `expected`, or `error: <message>`.
    pub actual: String,
    pub passed: bool,
}

/// Runs a validation file; see the module docs.
pub fn run(file_text: &str) -> Result<Vec<AssertionResult>> {
    let file: FileShape = serde_saphyr::from_str(file_text).map_err(|e| {
        Error::new(
            ErrorKind::InvalidValidationFile,
            format!("the validation file could not be decoded: {e}"),
        )
    })?;
    let schema = lang::compile(file.schema.as_deref().unwrap_or(""))?;
    let tuples = load(
        file.relationships.unwrap_or_default(),
        "relationship",
        |text| {
            let t = tuple::parse_tuple(text)?;
            schema.validate_tuple(&t)?;
            Ok(t)
        },
    )?;
    let attributes = load(file.attributes.unwrap_or_default(), "attribute", |text| {
        let a = tuple::parse_attribute(text)?;
        schema.validate_attribute(&a)?;
        Ok(a)
    })?;
    let mut runner = Runner {
        schema: &schema,
        source: MemorySource::from_data(tuples, attributes),
        rows: Vec::new(),
    };
    for scenario in file.scenarios.unwrap_or_default() {
        runner.scenario(scenario);
    }
    Ok(runner.rows)
}

/// One check assertion of a validation file, with everything needed to
/// evaluate it again (for tests of functions that must agree with `check`).
pub struct CheckCase<'a> {
    pub schema: &'a Schema,
    pub source: &'a mut MemorySource,
    pub entity: &'a tuple::ObjectRef,
    pub permission: &'a str,
    pub subject: &'a tuple::SubjectRef,
    pub ctx: &'a Context,
    pub opts: CheckOptions,
}

/// Loads a validation file as [`run`] does and calls `f` for every check
/// assertion whose entity, subject and request parse.
pub fn for_each_check(file_text: &str, mut f: impl FnMut(CheckCase<'_>)) -> Result<()> {
    let file: FileShape = serde_saphyr::from_str(file_text)
        .map_err(|e| Error::new(ErrorKind::InvalidValidationFile, format!("the validation file could not be decoded: {e}")))?;
    let schema = lang::compile(file.schema.as_deref().unwrap_or(""))?;
    let tuples = load(file.relationships.unwrap_or_default(), "relationship", tuple::parse_tuple)?;
    let attributes = load(file.attributes.unwrap_or_default(), "attribute", tuple::parse_attribute)?;
    let mut source = MemorySource::from_data(tuples, attributes);
    for scenario in file.scenarios.unwrap_or_default() {
        for entry in scenario.checks.unwrap_or_default() {
            let Ok(entity) = tuple::parse_object(&entry.entity) else { continue };
            let Ok(subject) = tuple::parse_subject(&entry.subject) else { continue };
            let Ok(req) = request(entry.depth, entry.context) else { continue };
            for (permission, _) in entry.assertions.map(|a| a.0).unwrap_or_default() {
                f(CheckCase {
                    schema: &schema,
                    source: &mut source,
                    entity: &entity,
                    permission: &permission,
                    subject: &subject,
                    ctx: &req.ctx,
                    opts: req.opts,
                });
            }
        }
    }
    Ok(())
}

/// Parses every line with `parse`; the first failure names the line.
fn load<T>(lines: Vec<String>, what: &str, parse: impl Fn(&str) -> Result<T>) -> Result<Vec<T>> {
    lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            parse(line).map_err(|mut e| {
                e.message = format!("{what} {} \"{}\": {}", i + 1, crate::error::shown(line.trim()), e.message);
                e
            })
        })
        .collect()
}

struct Runner<'s> {
    schema: &'s Schema,
    source: MemorySource,
    rows: Vec<AssertionResult>,
}

/// The request part of a check or filter entry, once parsed.
struct Request {
    ctx: Context,
    opts: CheckOptions,
}

impl Runner<'_> {
    fn scenario(&mut self, scenario: ScenarioShape) {
        let name = scenario.name.unwrap_or_default();
        for entry in scenario.checks.unwrap_or_default() {
            self.check_entry(&name, entry);
        }
        for entry in scenario.entity_filters.unwrap_or_default() {
            self.entity_filter(&name, entry);
        }
        for entry in scenario.subject_filters.unwrap_or_default() {
            self.subject_filter(&name, entry);
        }
    }

    fn push(
        &mut self,
        scenario: &str,
        kind: &'static str,
        query: String,
        expected: String,
        actual: Result<String>,
    ) {
        let (actual, passed) = match actual {
            Ok(a) => {
                let passed = a == expected;
                (a, passed)
            }
            Err(e) => (format!("error: {e}"), false),
        };
        self.rows.push(AssertionResult {
            scenario: scenario.to_string(),
            kind,
            query,
            expected,
            actual,
            passed,
        });
    }

    fn check_entry(&mut self, scenario: &str, entry: CheckShape) {
        let with_context = if entry.context.is_some() {
            " with context"
        } else {
            ""
        };
        let parsed = tuple::parse_object(&entry.entity).and_then(|entity| {
            let subject = tuple::parse_subject(&entry.subject)?;
            Ok((entity, subject, request(entry.depth, entry.context)?))
        });
        let entity_text = display_or_raw(parsed.as_ref().ok().map(|p| &p.0), &entry.entity);
        let subject_text = display_or_raw(parsed.as_ref().ok().map(|p| &p.1), &entry.subject);
        for (permission, expected) in entry.assertions.map(|a| a.0).unwrap_or_default() {
            crate::interrupt::poll();
            let query = format!("check {entity_text}#{permission}@{subject_text}{with_context}");
            let expected = expected.unwrap_or(false).to_string();
            let actual = match &parsed {
                Ok((entity, subject, req)) => engine::check(
                    self.schema,
                    &mut self.source,
                    entity,
                    &permission,
                    subject,
                    &req.ctx,
                    req.opts,
                )
                .map(|b| b.to_string()),
                Err(e) => Err(e.clone()),
            };
            self.push(scenario, "check", query, expected, actual);
        }
    }

    fn entity_filter(&mut self, scenario: &str, entry: EntityFilterShape) {
        let with_context = if entry.context.is_some() {
            " with context"
        } else {
            ""
        };
        let parsed = tuple::parse_subject(&entry.subject)
            .and_then(|subject| Ok((subject, request(entry.depth, entry.context)?)));
        let subject_text = display_or_raw(parsed.as_ref().ok().map(|p| &p.0), &entry.subject);
        for (permission, expected) in entry.assertions.map(|a| a.0).unwrap_or_default() {
            crate::interrupt::poll();
            let query = format!(
                "entity_filter {}#{permission}@{subject_text}{with_context}",
                entry.entity_type
            );
            let expected = id_list(expected.unwrap_or_default());
            let actual = match &parsed {
                Ok((subject, req)) => engine::lookup_resources(
                    self.schema,
                    &mut self.source,
                    subject,
                    &permission,
                    &entry.entity_type,
                    &req.ctx,
                    req.opts,
                )
                .map(id_list),
                Err(e) => Err(e.clone()),
            };
            self.push(scenario, "entity_filter", query, expected, actual);
        }
    }

    fn subject_filter(&mut self, scenario: &str, entry: SubjectFilterShape) {
        let with_context = if entry.context.is_some() {
            " with context"
        } else {
            ""
        };
        let parsed = tuple::parse_object(&entry.entity)
            .and_then(|entity| Ok((entity, request(entry.depth, entry.context)?)));
        let entity_text = display_or_raw(parsed.as_ref().ok().map(|p| &p.0), &entry.entity);
        for (permission, expected) in entry.assertions.map(|a| a.0).unwrap_or_default() {
            crate::interrupt::poll();
            let query = format!(
                "subject_filter {entity_text}#{permission}@{}{with_context}",
                entry.subject_reference
            );
            let expected = id_list(expected.unwrap_or_default());
            let actual = match &parsed {
                Ok((entity, req)) => engine::lookup_subjects(
                    self.schema,
                    &mut self.source,
                    entity,
                    &permission,
                    &entry.subject_reference,
                    &req.ctx,
                    req.opts,
                )
                .map(id_list),
                Err(e) => Err(e.clone()),
            };
            self.push(scenario, "subject_filter", query, expected, actual);
        }
    }
}

fn display_or_raw<T: fmt::Display>(parsed: Option<&T>, raw: &str) -> String {
    match parsed {
        Some(p) => p.to_string(),
        None => raw.trim().to_string(),
    }
}

/// `["1", "3"]`: sorted (duplicates kept, so a duplicated expectation fails
/// as it does in Permify).
fn id_list(mut ids: Vec<String>) -> String {
    ids.sort();
    let quoted: Vec<String> = ids
        .iter()
        .map(|id| Json::String(id.clone()).to_string())
        .collect();
    format!("[{}]", quoted.join(", "))
}

/// The context and options of an entry.
fn request(depth: Option<i64>, context: Option<ContextShape>) -> Result<Request> {
    let max_depth = match depth.unwrap_or(0) {
        0 => engine::DEFAULT_MAX_DEPTH,
        d if d < 3 => {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                "depth must be greater than or equal to 3",
            ));
        }
        d => u32::try_from(d).unwrap_or(u32::MAX),
    };
    let ctx = match context {
        None => Context::default(),
        Some(c) => Context {
            tuples: load(
                c.tuples.unwrap_or_default(),
                "contextual tuple",
                tuple::parse_tuple,
            )?,
            attributes: load(
                c.attributes.unwrap_or_default(),
                "contextual attribute",
                tuple::parse_attribute,
            )?,
            data: c.data.unwrap_or_default(),
        },
    };
    Ok(Request {
        ctx,
        opts: CheckOptions::with_max_depth(max_depth),
    })
}

// ---- The file's shape (Permify's `file.Shape`); unknown keys are ignored.

#[derive(serde::Deserialize)]
struct FileShape {
    #[serde(default)]
    schema: Option<String>,
    #[serde(default)]
    relationships: Option<Vec<String>>,
    #[serde(default)]
    attributes: Option<Vec<String>>,
    #[serde(default)]
    scenarios: Option<Vec<ScenarioShape>>,
}

#[derive(serde::Deserialize)]
struct ScenarioShape {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    checks: Option<Vec<CheckShape>>,
    #[serde(default)]
    entity_filters: Option<Vec<EntityFilterShape>>,
    #[serde(default)]
    subject_filters: Option<Vec<SubjectFilterShape>>,
}

#[derive(serde::Deserialize)]
struct CheckShape {
    entity: String,
    subject: String,
    #[serde(default)]
    depth: Option<i64>,
    #[serde(default)]
    context: Option<ContextShape>,
    #[serde(default)]
    assertions: Option<Ordered<Option<bool>>>,
}

#[derive(serde::Deserialize)]
struct EntityFilterShape {
    entity_type: String,
    subject: String,
    #[serde(default)]
    depth: Option<i64>,
    #[serde(default)]
    context: Option<ContextShape>,
    #[serde(default)]
    assertions: Option<Ordered<Option<Vec<String>>>>,
}

#[derive(serde::Deserialize)]
struct SubjectFilterShape {
    subject_reference: String,
    entity: String,
    #[serde(default)]
    depth: Option<i64>,
    #[serde(default)]
    context: Option<ContextShape>,
    #[serde(default)]
    assertions: Option<Ordered<Option<Vec<String>>>>,
}

/// `context:` must be a mapping (a list fails the whole file, as in Permify).
#[derive(serde::Deserialize)]
struct ContextShape {
    #[serde(default)]
    tuples: Option<Vec<String>>,
    #[serde(default)]
    attributes: Option<Vec<String>>,
    #[serde(default)]
    data: Option<Map<String, Json>>,
}

/// A YAML mapping kept in file order (assertion rows follow the file).
struct Ordered<V>(Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct OrderedVisitor<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for OrderedVisitor<V> {
            type Value = Ordered<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of permission names to expected results")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Ordered<V>, A::Error> {
                let mut entries = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, V>()? {
                    entries.push((k, v));
                }
                Ok(Ordered(entries))
            }
        }
        deserializer.deserialize_map(OrderedVisitor(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = "schema: |-\n  entity user {}\n  entity doc {\n    relation owner @user\n    permission edit = owner\n  }\n";

    #[test]
    fn rows_follow_file_order_and_null_asserts_false() {
        let text = format!(
            "{SCHEMA}relationships:\n  - doc:1#owner@user:1\nscenarios:\n  - name: s\n    checks:\n      - entity: doc:1\n        subject: user:1\n        assertions:\n          owner: true\n          edit: true\n      - entity: doc:1\n        subject: user:2\n        assertions:\n          edit:\n"
        );
        let rows = run(&text).expect("runs");
        let queries: Vec<&str> = rows.iter().map(|r| r.query.as_str()).collect();
        assert_eq!(
            queries,
            [
                "check doc:1#owner@user:1",
                "check doc:1#edit@user:1",
                "check doc:1#edit@user:2"
            ]
        );
        assert!(rows.iter().all(|r| r.passed), "{rows:?}");
        assert_eq!(rows[2].expected, "false");
    }

    #[test]
    fn filters_compare_sorted_lists() {
        let text = format!(
            "{SCHEMA}relationships:\n  - doc:2#owner@user:1\n  - doc:1#owner@user:1\nscenarios:\n  - name: s\n    entity_filters:\n      - entity_type: doc\n        subject: user:1\n        assertions:\n          edit: [\"2\", \"1\"]\n    subject_filters:\n      - subject_reference: user\n        entity: doc:1\n        context:\n          tuples: [\"doc:1#owner@user:9\"]\n        assertions:\n          edit: [\"9\", \"1\"]\n"
        );
        let rows = run(&text).expect("runs");
        assert_eq!(rows[0].query, "entity_filter doc#edit@user:1");
        assert_eq!(rows[0].actual, "[\"1\", \"2\"]");
        assert_eq!(rows[1].query, "subject_filter doc:1#edit@user with context");
        assert!(rows.iter().all(|r| r.passed), "{rows:?}");
    }

    #[test]
    fn engine_errors_become_rows_and_bad_depth_is_an_error_row() {
        let text = format!(
            "{SCHEMA}scenarios:\n  - name: s\n    checks:\n      - entity: doc:1\n        subject: user:1\n        assertions:\n          nope: false\n      - entity: doc:1\n        subject: user:1\n        depth: 2\n        assertions:\n          edit: false\n"
        );
        let rows = run(&text).expect("runs");
        assert_eq!(rows.len(), 2);
        assert!(
            !rows[0].passed && rows[0].actual.starts_with("error: "),
            "{rows:?}"
        );
        assert_eq!(
            rows[1].actual,
            "error: depth must be greater than or equal to 3"
        );
    }

    #[test]
    fn file_level_errors() {
        let list_context = format!(
            "{SCHEMA}scenarios:\n  - name: s\n    checks:\n      - entity: doc:1\n        subject: user:1\n        context:\n          - doc:1#owner@user:1\n        assertions:\n          edit: true\n"
        );
        assert_eq!(
            run(&list_context).unwrap_err().kind,
            ErrorKind::InvalidValidationFile
        );
        let bad_tuple = format!("{SCHEMA}relationships:\n  - doc:1#owner@doc:2\n");
        let e = run(&bad_tuple).unwrap_err();
        assert_eq!(e.kind, ErrorKind::SchemaViolation, "{e}");
        assert!(e.message.contains("doc:1#owner@doc:2"), "{e}");
        let unparsable = format!("{SCHEMA}relationships:\n  - doc1owner\n");
        assert_eq!(run(&unparsable).unwrap_err().kind, ErrorKind::InvalidText);
        assert!(run("schema: |-\n  entity user { relation x @nothing }\n").is_err());
    }
}
