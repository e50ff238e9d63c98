//! Validation of tuples and attributes against a compiled schema
//! (`Schema::validate_tuple`, `Schema::validate_attribute`).

use notion_rbac_core::ErrorKind;
use notion_rbac_core::lang::compile;
use notion_rbac_core::model::Schema;
use notion_rbac_core::tuple::{parse_attribute, parse_tuple};

const SCHEMA: &str = "
entity user {}
entity team {
    relation member @user @team#member
}
entity doc {
    relation owner @user @team#member
    relation parent @doc
    attribute public boolean
    attribute tags string[]
    attribute score double
    permission view = owner or public
}
";

fn schema() -> Schema {
    compile(SCHEMA).expect("test schema compiles")
}

fn tuple_error(text: &str) -> String {
    let t = parse_tuple(text).expect("well-formed");
    let e = schema().validate_tuple(&t).expect_err(text);
    assert_eq!(e.kind, ErrorKind::SchemaViolation, "{e}");
    e.message
}

fn attribute_error(text: &str) -> String {
    let a = parse_attribute(text).expect("well-formed");
    let e = schema().validate_attribute(&a).expect_err(text);
    assert_eq!(e.kind, ErrorKind::SchemaViolation, "{e}");
    e.message
}

#[test]
fn valid_tuples() {
    let s = schema();
    for text in [
        "doc:1#owner@user:1",
        "doc:1#owner@team:eng#member",
        "doc:1#parent@doc:2",
        "doc:1#parent@doc:1",     // no subject relation: not "equal"
        "doc:1#parent@doc:2#...", // `#...` is the subject itself
        "team:a#member@team:b#member",
    ] {
        s.validate_tuple(&parse_tuple(text).expect("well-formed")).unwrap_or_else(|e| panic!("{text}: {e}"));
    }
}

#[test]
fn tuple_violations() {
    let m = tuple_error("folder:1#owner@user:1");
    assert!(m.starts_with("entity definition not found"), "{m}");
    assert!(m.contains("\"folder\""), "{m}");
    let m = tuple_error("team:1#member@team:1#member");
    assert!(m.starts_with("entity and subject cannot be equal"), "{m}");
    let m = tuple_error("doc:1#view@user:1");
    assert!(m.starts_with("relation definition not found"), "{m}");
    assert!(m.contains("\"doc#view\" is a permission, not a relation"), "{m}");
    let m = tuple_error("doc:1#public@user:1");
    assert!(m.contains("is an attribute"), "{m}");
    let m = tuple_error("doc:1#editor@user:1");
    assert!(m.contains("entity \"doc\" has no relation \"editor\""), "{m}");
    let m = tuple_error("doc:1@user:1");
    assert!(m.starts_with("relation definition not found"), "{m}");
    let m = tuple_error("doc:1#owner@team:eng");
    assert_eq!(
        m,
        "subject type not found: tuple \"doc:1#owner@team:eng\": relation \"doc#owner\" does not allow subjects of \
         type \"@team\"; it allows @user @team#member"
    );
    let m = tuple_error("doc:1#owner@user:1#member");
    assert!(m.starts_with("subject type not found"), "{m}");
}

#[test]
fn attributes() {
    let s = schema();
    for text in ["doc:1$public|boolean:true", "doc:1$tags|string[]:a,b", "doc:1$score|double:1"] {
        s.validate_attribute(&parse_attribute(text).expect("well-formed")).unwrap_or_else(|e| panic!("{text}: {e}"));
    }
    let m = attribute_error("folder:1$public|boolean:true");
    assert!(m.starts_with("entity definition not found"), "{m}");
    let m = attribute_error("doc:1$secret|boolean:true");
    assert!(m.starts_with("attribute definition not found"), "{m}");
    assert!(m.contains("\"doc#secret\" is not declared"), "{m}");
    let m = attribute_error("doc:1$owner|boolean:true");
    assert!(m.contains("is a relation"), "{m}");
    let m = attribute_error("doc:1$score|integer:1");
    assert_eq!(
        m,
        "attribute type mismatch: attribute \"doc:1$score|integer:1\": \"doc#score\" is declared as double, but the \
         value is integer"
    );
    let m = attribute_error("doc:1$tags|string:a");
    assert!(m.contains("declared as string[], but the value is string"), "{m}");
}
