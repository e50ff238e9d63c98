//! Relationship tuples, subjects, objects and attribute values, with
//! Permify's text syntax:
//!
//! - object:    `type:id`
//! - subject:   `type:id` or `type:id#relation` (`#...` means no relation)
//! - tuple:     `type:id#relation@subject`
//! - attribute: `type:id$name|valuetype:value` (arrays comma-separated)
//!
//! Parsing follows Permify (`pkg/tuple`, `pkg/attribute`): trim, split on the
//! separators, require non-empty parts. Ids therefore cannot contain
//! `@ # : $ |` (nor `,` in array values). Parsing does not consult the
//! schema; [`crate::lang`]'s validation does.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, ErrorKind, Result};
use crate::model::{AttrType, BaseType};

/// An entity instance: `type:id`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectRef {
    pub ty: String,
    pub id: String,
}

/// A subject: `type:id` (relation empty) or the subject set `type:id#rel`.
/// The ellipsis `...` is normalised to the empty relation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubjectRef {
    pub ty: String,
    pub id: String,
    pub relation: String,
}

/// A relationship tuple `entity#relation@subject`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tuple {
    pub entity: ObjectRef,
    pub relation: String,
    pub subject: SubjectRef,
}

/// A typed attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Boolean(bool),
    String(String),
    Integer(i32),
    Double(f64),
    BooleanArray(Vec<bool>),
    StringArray(Vec<String>),
    IntegerArray(Vec<i32>),
    DoubleArray(Vec<f64>),
}

/// An attribute assignment `entity$name|type:value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub entity: ObjectRef,
    pub name: String,
    pub value: Value,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.ty, self.id)
    }
}

impl fmt::Display for SubjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.relation.is_empty() {
            write!(f, "{}:{}", self.ty, self.id)
        } else {
            write!(f, "{}:{}#{}", self.ty, self.id, self.relation)
        }
    }
}

impl fmt::Display for Tuple {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}@{}", self.entity, self.relation, self.subject)
    }
}

impl SubjectRef {
    /// The subject's object part (`type:id`), dropping any relation.
    pub fn object(&self) -> ObjectRef {
        ObjectRef { ty: self.ty.clone(), id: self.id.clone() }
    }
}

// ---------------------------------------------------------------------------
// Parsing (Permify's `pkg/tuple` and `pkg/attribute` rules) and the id syntax
// of the database layer. Everything below returns `ErrorKind::InvalidText`
// errors that quote the input and say which part is wrong.
// ---------------------------------------------------------------------------

fn invalid_text(message: String) -> Error {
    Error::new(ErrorKind::InvalidText, message)
}

/// What a `type:id` should look like, for messages.
const OBJECT_SHAPE: &str = "expected \"type:id\" with exactly one \":\" and a non-empty type and id";

/// Parses `type:id` (Permify's `tuple.E`): the trimmed text must split on
/// `:` into exactly two non-empty parts. Nothing else is checked (an id may
/// even contain `#` or `@` here); use [`validate_id`] for stored ids.
pub fn parse_object(text: &str) -> Result<ObjectRef> {
    split_object(text).map_err(|why| invalid_text(format!("invalid entity \"{}\": {why}", crate::error::shown(text))))
}

fn split_object(text: &str) -> std::result::Result<ObjectRef, String> {
    let parts: Vec<&str> = text.trim().split(':').collect();
    match parts.as_slice() {
        [ty, id] if !ty.is_empty() && !id.is_empty() => Ok(ObjectRef { ty: ty.to_string(), id: id.to_string() }),
        [_, _] => Err(format!("{OBJECT_SHAPE}, but the {} is empty", if parts[0].is_empty() { "type" } else { "id" })),
        _ => Err(format!("{OBJECT_SHAPE}, found {} \":\"", parts.len() - 1)),
    }
}

/// Permify's `tuple.EAR`: `type:id` optionally followed by `#relation`
/// (anything after a second `#` is ignored, as in Permify).
fn split_object_and_relation(text: &str) -> std::result::Result<(ObjectRef, String), String> {
    let mut parts = text.trim().split('#');
    let object_text = parts.next().unwrap_or("");
    let object =
        split_object(object_text).map_err(|why| format!("invalid entity \"{}\": {why}", crate::error::shown(object_text.trim())))?;
    let relation = parts.next().unwrap_or("").to_string();
    Ok((object, relation))
}

/// Parses a subject: `type:id` or `type:id#relation`; `#...` (and an empty
/// `#`) means no relation.
pub fn parse_subject(text: &str) -> Result<SubjectRef> {
    let (object, relation) =
        split_object_and_relation(text).map_err(|why| invalid_text(format!("invalid subject \"{}\": {why}", crate::error::shown(text))))?;
    Ok(subject_from(object, relation))
}

fn subject_from(object: ObjectRef, relation: String) -> SubjectRef {
    let relation = if relation == "..." { String::new() } else { relation };
    SubjectRef { ty: object.ty, id: object.id, relation }
}

/// Parses `type:id#relation@subject` (Permify's `tuple.Tuple`): the trimmed
/// text must contain exactly one `@`. The relation is not checked here
/// (an empty one is caught by [`Schema::validate_tuple`](crate::model::Schema)).
pub fn parse_tuple(text: &str) -> Result<Tuple> {
    let sides: Vec<&str> = text.trim().split('@').collect();
    let [entity_side, subject_side] = sides.as_slice() else {
        return Err(invalid_text(format!(
            "invalid tuple \"{}\": expected exactly one \"@\" separating entity and subject, found {}",
            crate::error::shown(text),
            sides.len() - 1
        ))
        .with_hint("write type:id#relation@type:id or type:id#relation@type:id#relation"));
    };
    let (entity, relation) = split_object_and_relation(entity_side)
        .map_err(|why| invalid_text(format!("invalid tuple \"{}\": {why}", crate::error::shown(text))))?;
    let (subject, subject_relation) = split_object_and_relation(subject_side)
        .map_err(|why| invalid_text(format!("invalid tuple \"{}\": in the subject: {why}", crate::error::shown(text))))?;
    Ok(Tuple { entity, relation, subject: subject_from(subject, subject_relation) })
}

/// Parses `type:id$name|valuetype:value` (Permify's `attribute.Attribute`).
///
/// Value types: `boolean` (Go's `ParseBool`: `1 t T TRUE true True`, `0 f F
/// FALSE false False`), `integer` (32-bit, optional sign), `double`
/// (decimal, exponent, `inf`, `nan`), `string`, and each of them with `[]`,
/// elements separated by `,`. Strings therefore cannot contain `:`, `|` or
/// (in arrays) `,`, and cannot be empty.
pub fn parse_attribute(text: &str) -> Result<Attribute> {
    let fail = |why: String| invalid_text(format!("invalid attribute \"{}\": {why}", crate::error::shown(text)));
    let shape = "expected \"type:id$name|valuetype:value\"";
    let halves: Vec<&str> = text.trim().split('|').collect();
    let [target, typed_value] = halves.as_slice() else {
        return Err(fail(format!("{shape} with exactly one \"|\", found {}", halves.len() - 1)));
    };
    if target.is_empty() || typed_value.is_empty() {
        return Err(fail(format!(
            "{shape}: the part {} \"|\" is empty",
            if target.is_empty() { "before" } else { "after" }
        )));
    }
    let entity_and_name: Vec<&str> = target.split('$').collect();
    let [entity_text, name] = entity_and_name.as_slice() else {
        return Err(fail(format!("{shape} with exactly one \"$\" before \"|\", found {}", entity_and_name.len() - 1)));
    };
    if entity_text.is_empty() || name.is_empty() {
        return Err(fail(format!(
            "{shape}: the {} is empty",
            if entity_text.is_empty() { "entity" } else { "attribute name" }
        )));
    }
    let entity =
        split_object_strict(entity_text).map_err(|why| fail(format!("invalid entity \"{}\": {why}", crate::error::shown(entity_text))))?;
    let type_and_value: Vec<&str> = typed_value.split(':').collect();
    let [value_type, value_text] = type_and_value.as_slice() else {
        return Err(fail(format!(
            "expected \"valuetype:value\" after \"|\" with exactly one \":\", found {} (string values cannot \
             contain \":\")",
            type_and_value.len() - 1
        )));
    };
    if value_type.is_empty() {
        return Err(fail("the value type before \":\" is empty".to_string()));
    }
    if value_text.is_empty() {
        return Err(fail("the value after \":\" is empty (values cannot be empty)".to_string()));
    }
    let Some(ty) = AttrType::parse(value_type) else {
        return Err(fail(format!(
            "unknown value type \"{value_type}\"; the types are boolean, string, integer and double, each optionally \
             followed by []"
        )));
    };
    let value = Value::parse(ty, value_text).map_err(fail)?;
    Ok(Attribute { entity, name: name.to_string(), value })
}

/// `type:id` without trimming (Permify trims the whole attribute text only).
fn split_object_strict(text: &str) -> std::result::Result<ObjectRef, String> {
    let parts: Vec<&str> = text.split(':').collect();
    match parts.as_slice() {
        [ty, id] if !ty.is_empty() && !id.is_empty() => Ok(ObjectRef { ty: ty.to_string(), id: id.to_string() }),
        _ => Err(OBJECT_SHAPE.to_string()),
    }
}

impl Value {
    /// Parses the text of a value of type `ty` (see [`parse_attribute`]).
    pub fn parse(ty: AttrType, text: &str) -> std::result::Result<Value, String> {
        fn each<T>(
            text: &str,
            parse: impl Fn(&str) -> std::result::Result<T, String>,
        ) -> std::result::Result<Vec<T>, String> {
            text.split(',').map(parse).collect()
        }
        Ok(match (ty.base, ty.array) {
            (BaseType::Boolean, false) => Value::Boolean(parse_bool(text)?),
            (BaseType::Boolean, true) => Value::BooleanArray(each(text, parse_bool)?),
            (BaseType::Integer, false) => Value::Integer(parse_integer(text)?),
            (BaseType::Integer, true) => Value::IntegerArray(each(text, parse_integer)?),
            (BaseType::Double, false) => Value::Double(parse_double(text)?),
            (BaseType::Double, true) => Value::DoubleArray(each(text, parse_double)?),
            (BaseType::String, false) => Value::String(text.to_string()),
            (BaseType::String, true) => Value::StringArray(text.split(',').map(str::to_string).collect()),
        })
    }

    /// The attribute type of this value.
    pub fn attr_type(&self) -> AttrType {
        let (base, array) = match self {
            Value::Boolean(_) => (BaseType::Boolean, false),
            Value::String(_) => (BaseType::String, false),
            Value::Integer(_) => (BaseType::Integer, false),
            Value::Double(_) => (BaseType::Double, false),
            Value::BooleanArray(_) => (BaseType::Boolean, true),
            Value::StringArray(_) => (BaseType::String, true),
            Value::IntegerArray(_) => (BaseType::Integer, true),
            Value::DoubleArray(_) => (BaseType::Double, true),
        };
        AttrType { base, array }
    }
}

/// Go's `strconv.ParseBool`.
fn parse_bool(text: &str) -> std::result::Result<bool, String> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("\"{}\" is not a boolean (true/false, t/f, 1/0, TRUE/FALSE, True/False)", crate::error::shown(text))),
    }
}

/// Go's `strconv.ParseInt(text, 10, 32)`: optional sign, decimal digits,
/// within 32 bits — the same language as Rust's `i32::from_str`.
fn parse_integer(text: &str) -> std::result::Result<i32, String> {
    text.parse::<i32>().map_err(|e| match e.kind() {
        std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => {
            format!("\"{}\" is out of the 32-bit integer range", crate::error::shown(text))
        }
        _ => format!("\"{}\" is not an integer", crate::error::shown(text)),
    })
}

/// Go's `strconv.ParseFloat(text, 64)`, except hexadecimal floats: a
/// finite-looking value that overflows is an error, `inf`/`nan` are accepted.
fn parse_double(text: &str) -> std::result::Result<f64, String> {
    let value = text.parse::<f64>().map_err(|_| format!("\"{}\" is not a number", crate::error::shown(text)))?;
    let unsigned = text.trim_start_matches(['+', '-']).to_ascii_lowercase();
    if value.is_infinite() && unsigned != "inf" && unsigned != "infinity" {
        return Err(format!("\"{}\" is out of the double range", crate::error::shown(text)));
    }
    Ok(value)
}

/// Stored form of attribute values: the `value_type` name and the JSON the
/// `rbac.attributes` table holds.
impl Value {
    /// The value's stored form: (value_type, JSON).
    pub fn to_json(&self) -> (&'static str, serde_json::Value) {
        use serde_json::json;
        match self {
            Value::Boolean(b) => ("boolean", json!(b)),
            Value::String(s) => ("string", json!(s)),
            Value::Integer(i) => ("integer", json!(i)),
            Value::Double(d) => ("double", json!(d)),
            Value::BooleanArray(v) => ("boolean[]", json!(v)),
            Value::StringArray(v) => ("string[]", json!(v)),
            Value::IntegerArray(v) => ("integer[]", json!(v)),
            Value::DoubleArray(v) => ("double[]", json!(v)),
        }
    }

    /// A stored JSON value read as the schema's attribute type. (The table's
    /// CHECK constraint already guarantees the JSON shape for scalars: a
    /// mismatch is an internal error.)
    pub fn from_json(json: &serde_json::Value, ty: AttrType) -> Result<Value> {
        use serde_json::Value as J;
        let bad = || Error::internal(format!("stored attribute value {json} does not match type {ty}"));
        let int = |v: &J| v.as_i64().and_then(|i| i32::try_from(i).ok());
        Ok(match (ty.base, ty.array) {
            (BaseType::Boolean, false) => Value::Boolean(json.as_bool().ok_or_else(bad)?),
            (BaseType::String, false) => Value::String(json.as_str().ok_or_else(bad)?.to_owned()),
            (BaseType::Integer, false) => Value::Integer(int(json).ok_or_else(bad)?),
            (BaseType::Double, false) => Value::Double(json.as_f64().ok_or_else(bad)?),
            (base, true) => {
                let items = json.as_array().ok_or_else(bad)?;
                match base {
                    BaseType::Boolean => {
                        Value::BooleanArray(items.iter().map(|v| v.as_bool().ok_or_else(bad)).collect::<Result<_>>()?)
                    }
                    BaseType::String => Value::StringArray(
                        items.iter().map(|v| v.as_str().map(str::to_owned).ok_or_else(bad)).collect::<Result<_>>()?,
                    ),
                    BaseType::Integer => {
                        Value::IntegerArray(items.iter().map(|v| int(v).ok_or_else(bad)).collect::<Result<_>>()?)
                    }
                    BaseType::Double => {
                        Value::DoubleArray(items.iter().map(|v| v.as_f64().ok_or_else(bad)).collect::<Result<_>>()?)
                    }
                }
            }
        })
    }
}

/// Parses an attribute reference `type:id$attribute` (a `|type:value` tail,
/// as in an attribute's text, is ignored): the entity and the name.
pub fn parse_attribute_ref(text: &str) -> Result<(ObjectRef, String)> {
    let (object, name) = text.trim().split_once('$').ok_or_else(|| {
        invalid_text(format!(
            "invalid attribute reference \"{}\": expected type:id$attribute",
            crate::error::shown(text)
        ))
    })?;
    Ok((parse_object(object)?, name.split('|').next().unwrap_or(name).to_owned()))
}

impl fmt::Display for Value {
    /// The value text of the attribute syntax (without the type).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn join<T: fmt::Display>(f: &mut fmt::Formatter<'_>, items: &[T]) -> fmt::Result {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                write!(f, "{item}")?;
            }
            Ok(())
        }
        match self {
            Value::Boolean(b) => write!(f, "{b}"),
            Value::String(s) => f.write_str(s),
            Value::Integer(i) => write!(f, "{i}"),
            Value::Double(d) => write!(f, "{d}"),
            Value::BooleanArray(v) => join(f, v),
            Value::StringArray(v) => join(f, v),
            Value::IntegerArray(v) => join(f, v),
            Value::DoubleArray(v) => join(f, v),
        }
    }
}

impl fmt::Display for Attribute {
    /// `type:id$name|valuetype:value`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}${}|{}:{}", self.entity, self.name, self.value.attr_type(), self.value)
    }
}

impl FromStr for ObjectRef {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self> {
        parse_object(text)
    }
}

impl FromStr for SubjectRef {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self> {
        parse_subject(text)
    }
}

impl FromStr for Tuple {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self> {
        parse_tuple(text)
    }
}

impl FromStr for Attribute {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self> {
        parse_attribute(text)
    }
}

/// Checks an entity or subject id for the database layer: Permify's API
/// id syntax `^([a-zA-Z0-9_\-@\.:+]{1,128}|\*)$` without `@` and `:`, which
/// the tuple text syntax cannot carry: `[A-Za-z0-9_\-.+]{1,128}` or `*`.
pub fn validate_id(id: &str) -> Result<()> {
    if id == "*" {
        return Ok(());
    }
    let rule = "an id is 1 to 128 characters from A-Z a-z 0-9 _ - . + (or exactly \"*\")";
    // Characters first: every allowed one is a single byte, so the length
    // below counts characters too.
    if let Some(bad) = id.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '+'))) {
        return Err(invalid_text(format!("invalid id \"{}\": {rule}; {bad:?} is not allowed", crate::error::shown(id))));
    }
    if id.is_empty() || id.len() > 128 {
        return Err(invalid_text(format!(
            "invalid id \"{}\": {rule}, this one has {} characters",
            crate::error::shown(id),
            id.len()
        )));
    }
    Ok(())
}

/// Checks an entity type, relation, permission or attribute name: Permify's
/// `^[a-zA-Z_]{1,64}$` (no digits).
pub fn validate_name(name: &str) -> Result<()> {
    let rule = "a name is 1 to 64 letters or underscores (no digits)";
    if name.is_empty() || name.len() > crate::model::MAX_NAME_LEN {
        return Err(invalid_text(format!(
            "invalid name \"{}\": {rule}, this one has {} characters",
            crate::error::shown(name),
            name.chars().count()
        )));
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphabetic() || *c == '_')) {
        return Err(invalid_text(format!("invalid name \"{}\": {rule}; {bad:?} is not allowed", crate::error::shown(name))));
    }
    Ok(())
}
