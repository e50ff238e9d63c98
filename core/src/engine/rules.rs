//! Evaluation of rules (CEL) and the value conversions they need.
//!
//! A rule's parameters are bound by name to the entity's attributes of the
//! same name (a missing value becomes the zero value of the parameter's type,
//! as in Permify), and `context` is bound to `{"data": <request data>}`.
//! JSON numbers become CEL doubles, like Permify's protobuf `Struct`; CEL's
//! cross-type numeric comparison makes `int_attr >= context.data.amount`
//! work.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value as Json};

use crate::error::{Error, ErrorKind, Result};
use crate::model::{AttrType, BaseType, RuleDef};
use crate::tuple::Value;

/// The standard CEL environment, built once: building it costs more than
/// evaluating a typical rule.
fn environment() -> Arc<cel::Env> {
    static ENV: OnceLock<Arc<cel::Env>> = OnceLock::new();
    Arc::clone(ENV.get_or_init(|| Arc::new(cel::Env::stdlib())))
}

/// The CEL value bound to `context`: `{"data": data}`.
pub(crate) fn context_value(data: &Map<String, Json>) -> cel::Value {
    let data: HashMap<String, cel::Value> = data
        .iter()
        .map(|(k, v)| (k.clone(), json_to_cel(v)))
        .collect();
    let mut context = HashMap::with_capacity(1);
    context.insert("data".to_string(), cel::Value::Map(data.into()));
    cel::Value::Map(context.into())
}

fn json_to_cel(v: &Json) -> cel::Value {
    match v {
        Json::Null => cel::Value::Null,
        Json::Bool(b) => cel::Value::Bool(*b),
        // Always a double, as a protobuf Struct number is.
        Json::Number(n) => cel::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        Json::String(s) => cel::Value::String(Arc::new(s.clone())),
        Json::Array(items) => cel::Value::List(Arc::new(items.iter().map(json_to_cel).collect())),
        Json::Object(o) => {
            let m: HashMap<String, cel::Value> =
                o.iter().map(|(k, v)| (k.clone(), json_to_cel(v))).collect();
            cel::Value::Map(m.into())
        }
    }
}

/// An attribute value as CEL sees it (integers widen to CEL's `int`).
pub(crate) fn attribute_to_cel(v: &Value) -> cel::Value {
    fn list<T>(items: &[T], f: impl Fn(&T) -> cel::Value) -> cel::Value {
        cel::Value::List(Arc::new(items.iter().map(f).collect()))
    }
    match v {
        Value::Boolean(b) => cel::Value::Bool(*b),
        Value::String(s) => cel::Value::String(Arc::new(s.clone())),
        Value::Integer(i) => cel::Value::Int(i64::from(*i)),
        Value::Double(d) => cel::Value::Float(*d),
        Value::BooleanArray(a) => list(a, |b| cel::Value::Bool(*b)),
        Value::StringArray(a) => list(a, |s| cel::Value::String(Arc::new(s.clone()))),
        Value::IntegerArray(a) => list(a, |i| cel::Value::Int(i64::from(*i))),
        Value::DoubleArray(a) => list(a, |d| cel::Value::Float(*d)),
    }
}

/// The value a missing attribute takes in a rule: `0`, `0.0`, `""`,
/// `false` or `[]`.
pub(crate) fn zero_value(ty: AttrType) -> cel::Value {
    if ty.array {
        return cel::Value::List(Arc::new(Vec::new()));
    }
    match ty.base {
        BaseType::Boolean => cel::Value::Bool(false),
        BaseType::String => cel::Value::String(Arc::new(String::new())),
        BaseType::Integer => cel::Value::Int(0),
        BaseType::Double => cel::Value::Float(0.0),
    }
}

/// Whether a stored or contextual value has exactly the parameter's type.
/// (Only a rule checked directly by name can meet a mismatch: the compiler
/// makes call sites agree, and stored data fits the schema.)
pub(crate) fn fits(v: &Value, ty: AttrType) -> bool {
    matches!(
        (v, ty.base, ty.array),
        (Value::Boolean(_), BaseType::Boolean, false)
            | (Value::String(_), BaseType::String, false)
            | (Value::Integer(_), BaseType::Integer, false)
            | (Value::Double(_), BaseType::Double, false)
            | (Value::BooleanArray(_), BaseType::Boolean, true)
            | (Value::StringArray(_), BaseType::String, true)
            | (Value::IntegerArray(_), BaseType::Integer, true)
            | (Value::DoubleArray(_), BaseType::Double, true)
    )
}

/// A rule's variables (its parameters and `context`), handed to CEL
/// through a resolver rather than bound in its scope, so that reading one
/// polls for interrupts: CEL's comprehensions (`all`, `exists`, `map`, …)
/// run loops of their own that nothing else interrupts, and a loop whose
/// body reads a rule variable asks for it on every turn. A cancel or
/// statement_timeout then stops a rule over a list of millions within one
/// turn. (Loops over literals alone are bounded when the rule compiles.)
struct PollingVariables(Vec<(String, Box<dyn cel::common::value::Val>)>);

impl cel::context::VariableResolver for PollingVariables {
    fn resolve<'b>(&'b self, variable: &str) -> Option<cel::common::value::CowVal<'b, 'b>> {
        crate::interrupt::poll();
        self.0
            .iter()
            .find(|(name, _)| name == variable)
            .map(|(_, value)| cel::common::value::CowVal::Borrowed(value.as_ref()))
    }
}

fn to_val(value: cel::Value, rule: &RuleDef, entity: &dyn std::fmt::Display) -> Result<Box<dyn cel::common::value::Val>> {
    value.try_into().map_err(|e| {
        Error::new(
            ErrorKind::RuleEvaluation,
            format!("failed to evaluate rule \"{}\" on {entity}: {e}", rule.name),
        )
    })
}

/// Runs `rule` with its parameters bound to `arguments` (in parameter
/// order) and `context` bound to `context`. `entity` names the entity in
/// error messages.
pub(crate) fn evaluate(
    rule: &RuleDef,
    arguments: Vec<cel::Value>,
    context: &cel::Value,
    entity: &dyn std::fmt::Display,
) -> Result<bool> {
    let mut variables = Vec::with_capacity(rule.params.len() + 1);
    for ((name, _), value) in rule.params.iter().zip(arguments) {
        variables.push((name.clone(), to_val(value, rule, entity)?));
    }
    variables.push(("context".to_string(), to_val(context.clone(), rule, entity)?));
    let variables = PollingVariables(variables);
    let mut scope = cel::Context::with_env(environment());
    scope.set_variable_resolver(&variables);
    match rule.program.execute(&scope) {
        Ok(cel::Value::Bool(b)) => Ok(b),
        Ok(other) => Err(Error::new(
            ErrorKind::RuleEvaluation,
            format!(
                "rule expression must result in a boolean type not {} (rule \"{}\" on {entity})",
                other.type_of(),
                rule.name
            ),
        )),
        Err(e) => Err(Error::new(
            ErrorKind::RuleEvaluation,
            format!("failed to evaluate rule \"{}\" on {entity}: {e}", rule.name),
        )
        .with_hint("a rule that reads context.data.<key> needs that key in the request context")),
    }
}
