//! Tuple, subject, object and attribute text: parsing as Permify does
//! (`pkg/tuple`, `pkg/attribute`), error messages, `Display` round trips,
//! and the id and name syntax of the database layer.

use notion_rbac_core::ErrorKind;
use notion_rbac_core::tuple::{
    Attribute, ObjectRef, SubjectRef, Tuple, Value, parse_attribute, parse_object, parse_subject, parse_tuple,
    validate_id, validate_name,
};
use proptest::prelude::*;

fn object(ty: &str, id: &str) -> ObjectRef {
    ObjectRef { ty: ty.into(), id: id.into() }
}

fn subject(ty: &str, id: &str, relation: &str) -> SubjectRef {
    SubjectRef { ty: ty.into(), id: id.into(), relation: relation.into() }
}

fn invalid(result: Result<impl std::fmt::Debug, notion_rbac_core::Error>) -> String {
    let e = result.expect_err("expected invalid text");
    assert_eq!(e.kind, ErrorKind::InvalidText, "{e}");
    assert!(e.pos.is_none());
    e.message
}

#[test]
fn tuples_parse() {
    assert_eq!(
        parse_tuple("repository:1#owner@user:1").expect("valid"),
        Tuple { entity: object("repository", "1"), relation: "owner".into(), subject: subject("user", "1", "") }
    );
    let t = parse_tuple("  doc:a-b_c.d#viewer@group:eng#member \n").expect("valid");
    assert_eq!(t.entity, object("doc", "a-b_c.d"));
    assert_eq!(t.subject, subject("group", "eng", "member"));
    // `#...` is the subject itself.
    assert_eq!(parse_tuple("doc:1#org@organization:1#...").expect("valid").subject, subject("organization", "1", ""));
    // A third `#` part is ignored, as in Permify.
    assert_eq!(parse_tuple("doc:1#a#b@user:1#c#d").expect("valid").relation, "a");
    // No relation parses; the schema check rejects it.
    assert_eq!(parse_tuple("doc:1@user:1").expect("valid").relation, "");
    // `*` is a literal id.
    assert_eq!(parse_tuple("doc:1#viewer@user:*").expect("valid").subject.id, "*");
    // FromStr.
    let t: Tuple = "doc:1#viewer@user:2".parse().expect("valid");
    assert_eq!(t.to_string(), "doc:1#viewer@user:2");
}

#[test]
fn tuple_errors_say_which_part_is_wrong() {
    assert_eq!(
        invalid(parse_tuple("page:x#reader")),
        "invalid tuple \"page:x#reader\": expected exactly one \"@\" separating entity and subject, found 0"
    );
    assert!(invalid(parse_tuple("a:1#r@b:2@c:3")).ends_with("found 2"));
    assert_eq!(
        invalid(parse_tuple("pagex#reader@user:1")),
        "invalid tuple \"pagex#reader@user:1\": invalid entity \"pagex\": expected \"type:id\" with exactly one \":\" \
         and a non-empty type and id, found 0 \":\""
    );
    assert!(invalid(parse_tuple("page:#r@user:1")).ends_with("but the id is empty"));
    assert!(invalid(parse_tuple(":1#r@user:1")).ends_with("but the type is empty"));
    assert!(invalid(parse_tuple("page:1#r@user")).contains("in the subject: invalid entity \"user\""));
    assert!(invalid(parse_tuple("page:1#r@user:a:b")).contains("found 2 \":\""));
    assert!(invalid(parse_tuple("")).contains("found 0"));
}

#[test]
fn objects_and_subjects() {
    assert_eq!(parse_object(" doc:1 ").expect("valid"), object("doc", "1"));
    // Like Permify's `tuple.E`, only `:` separates: the id may contain `#`
    // (validate_id rejects such ids before they reach storage).
    assert_eq!(parse_object("doc:1#x").expect("valid").id, "1#x");
    assert!(invalid(parse_object("doc:1:x")).starts_with("invalid entity \"doc:1:x\""));
    assert!(invalid(parse_object("doc")).contains("found 0"));
    assert_eq!(parse_subject("group:1#member").expect("valid"), subject("group", "1", "member"));
    assert_eq!(parse_subject("group:1#...").expect("valid"), subject("group", "1", ""));
    assert_eq!(parse_subject("group:1#").expect("valid"), subject("group", "1", ""));
    assert_eq!(parse_subject("user:1").expect("valid"), subject("user", "1", ""));
    assert!(invalid(parse_subject("user")).starts_with("invalid subject \"user\""));
    let s: SubjectRef = "user:1".parse().expect("valid");
    let o: ObjectRef = "user:1".parse().expect("valid");
    assert_eq!(s.object(), o);
}

#[test]
fn attributes_parse_every_type() {
    let a = parse_attribute("account:1$balance|integer:4000").expect("valid");
    assert_eq!(a, Attribute { entity: object("account", "1"), name: "balance".into(), value: Value::Integer(4000) });
    let value = |text: &str| parse_attribute(text).expect("valid").value;
    assert_eq!(value("repository:1$is_public|boolean:true"), Value::Boolean(true));
    for t in ["1", "t", "T", "TRUE", "true", "True"] {
        assert_eq!(value(&format!("r:1$b|boolean:{t}")), Value::Boolean(true));
    }
    for f in ["0", "f", "F", "FALSE", "false", "False"] {
        assert_eq!(value(&format!("r:1$b|boolean:{f}")), Value::Boolean(false));
    }
    assert_eq!(value("r:1$b|boolean[]:true,0,F"), Value::BooleanArray(vec![true, false, false]));
    assert_eq!(value("r:1$n|integer:-2147483648"), Value::Integer(i32::MIN));
    assert_eq!(value("r:1$n|integer:+7"), Value::Integer(7));
    assert_eq!(value("r:1$n|integer[]:1,2,3"), Value::IntegerArray(vec![1, 2, 3]));
    assert_eq!(value("r:1$d|double:1.5e3"), Value::Double(1500.0));
    assert_eq!(value("r:1$d|double:-Inf"), Value::Double(f64::NEG_INFINITY));
    assert_eq!(value("r:1$d|double[]:1,.5,2."), Value::DoubleArray(vec![1.0, 0.5, 2.0]));
    assert_eq!(value("r:1$s|string:hello world"), Value::String("hello world".into()));
    assert_eq!(
        value("org:1$ip_range|string[]:10.0.0.1,10.0.0.2"),
        Value::StringArray(vec!["10.0.0.1".into(), "10.0.0.2".into()])
    );
    assert_eq!(value("r:1$s|string[]:a,,b"), Value::StringArray(vec!["a".into(), "".into(), "b".into()]));
}

#[test]
fn attribute_errors_say_which_part_is_wrong() {
    assert!(invalid(parse_attribute("account:1$balance")).contains("exactly one \"|\", found 0"));
    assert!(invalid(parse_attribute("account:1$balance|")).contains("after \"|\" is empty"));
    assert!(invalid(parse_attribute("account:1|integer:1")).contains("exactly one \"$\""));
    assert!(invalid(parse_attribute("account$balance|integer:1")).contains("invalid entity \"account\""));
    assert!(invalid(parse_attribute("a:1$b|integer")).contains("found 0"));
    assert!(invalid(parse_attribute("a:1$b|string:x:y")).contains("cannot contain \":\""));
    assert!(invalid(parse_attribute("a:1$b|:1")).contains("value type"));
    assert!(invalid(parse_attribute("a:1$b|float:1")).contains("unknown value type \"float\""));
    assert!(invalid(parse_attribute("a:1$b|boolean:yes")).contains("\"yes\" is not a boolean"));
    assert!(invalid(parse_attribute("a:1$b|integer:1.5")).contains("\"1.5\" is not an integer"));
    assert!(invalid(parse_attribute("a:1$b|integer:2147483648")).contains("out of the 32-bit integer range"));
    assert!(invalid(parse_attribute("a:1$b|integer[]:1,,2")).contains("\"\" is not an integer"));
    assert!(invalid(parse_attribute("a:1$b|double:1e400")).contains("out of the double range"));
    assert!(invalid(parse_attribute("a:1$b|double:abc")).contains("\"abc\" is not a number"));
    let message = invalid(parse_attribute("a:1$b|integer: 4"));
    assert!(message.starts_with("invalid attribute \"a:1$b|integer: 4\""), "{message}");
}

#[test]
fn attribute_display() {
    let a = parse_attribute("doc:1$scores|double[]:1,2.5,-0.125").expect("valid");
    assert_eq!(a.to_string(), "doc:1$scores|double[]:1,2.5,-0.125");
    assert_eq!(Value::Boolean(true).to_string(), "true");
    assert_eq!(Value::Double(1e21).to_string().parse::<f64>().ok(), Some(1e21));
    let parsed: Attribute = a.to_string().parse().expect("round trip");
    assert_eq!(parsed, a);
}

#[test]
fn ids_and_names() {
    for id in ["1", "*", "user_1", "a-b.c+d", "6574", &"x".repeat(128)] {
        validate_id(id).unwrap_or_else(|e| panic!("{id}: {e}"));
    }
    for id in ["", "a b", "a:b", "a@b", "a#b", "é", &"x".repeat(129), "**"] {
        let e = validate_id(id).expect_err(id);
        assert_eq!(e.kind, ErrorKind::InvalidText);
        let head: String = id.chars().take(100).collect();
        assert!(e.message.starts_with(&format!("invalid id \"{head}")), "{e}");
    }
    // A giant input is shown cut short, never whole.
    let giant = "x".repeat(1_000_000);
    for e in [validate_id(&giant).unwrap_err(), parse_tuple(&giant).unwrap_err()] {
        assert!(e.message.len() < 1_000, "{} bytes", e.message.len());
        assert!(e.message.contains("(1000000 bytes)"), "{}", e.message);
    }
    for name in ["user", "User_Group", "_", &"a".repeat(64)] {
        validate_name(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for name in ["", "user2", "a-b", "a.b", &"a".repeat(65)] {
        let e = validate_name(name).expect_err(name);
        assert!(e.message.starts_with(&format!("invalid name \"{name}\"")), "{e}");
    }
}

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z_]{1,12}"
}

fn id() -> impl Strategy<Value = String> {
    prop_oneof![9 => "[A-Za-z0-9_.+-]{1,20}", 1 => Just("*".to_string())]
}

fn value() -> impl Strategy<Value = Value> {
    // Strings must not contain the separators, and array strings no `,`;
    // values must not be empty (Permify cannot write them).
    let text = "[^:|,$@#\\s]{1,10}";
    prop_oneof![
        any::<bool>().prop_map(Value::Boolean),
        any::<i32>().prop_map(Value::Integer),
        any::<f64>().prop_filter("NaN is not equal to itself", |d| !d.is_nan()).prop_map(Value::Double),
        text.prop_map(Value::String),
        prop::collection::vec(any::<bool>(), 1..4).prop_map(Value::BooleanArray),
        prop::collection::vec(any::<i32>(), 1..4).prop_map(Value::IntegerArray),
        prop::collection::vec(-1e9f64..1e9, 1..4).prop_map(Value::DoubleArray),
        prop::collection::vec(text, 1..4).prop_map(Value::StringArray),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn tuples_round_trip(ty in name(), eid in id(), rel in name(), sty in name(), sid in id(),
                         srel in prop_oneof![Just(String::new()), name()]) {
        let t = Tuple {
            entity: ObjectRef { ty, id: eid },
            relation: rel,
            subject: SubjectRef { ty: sty, id: sid, relation: srel },
        };
        prop_assert_eq!(parse_tuple(&t.to_string()).expect("round trip"), t);
    }

    #[test]
    fn attributes_round_trip(ty in name(), eid in id(), attr in name(), value in value()) {
        let a = Attribute { entity: ObjectRef { ty, id: eid }, name: attr, value };
        prop_assert_eq!(parse_attribute(&a.to_string()).expect("round trip"), a);
    }

    #[test]
    fn generated_ids_and_names_validate(i in id(), n in name()) {
        prop_assert!(validate_id(&i).is_ok());
        prop_assert!(validate_name(&n).is_ok());
    }
}
