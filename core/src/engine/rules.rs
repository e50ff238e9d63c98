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

use cel::common::types::{CelBool, CelDouble, CelInt, CelList, CelMap, CelMapKey, CelNull, CelString};
use cel::common::value::{CowVal, Val};

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

/// A value as CEL's evaluator holds it. Values are built in this form
/// directly (not through `cel::Value`, which CEL would convert again, deep,
/// on every evaluation), and `context` only once per call.
pub(crate) type CelVal = Box<dyn Val>;

/// Items converted between two interrupt polls: a context or an attribute
/// of millions of items stays cancellable while it is converted.
const POLL_EVERY: usize = 4096;

/// Counts converted items and polls every [`POLL_EVERY`].
struct Progress(usize);

impl Progress {
    fn step(&mut self) {
        self.0 += 1;
        if self.0 % POLL_EVERY == 0 {
            crate::interrupt::poll();
        }
    }
}

/// The CEL value bound to `context`: `{"data": data}`.
pub(crate) fn context_value(data: &Map<String, Json>) -> CelVal {
    let mut progress = Progress(0);
    let data = json_object(data, &mut progress);
    let mut context: HashMap<CelMapKey<'static>, CelVal> = HashMap::with_capacity(1);
    context.insert(CelMapKey::from("data".to_string()), data);
    Box::new(CelMap::from(context))
}

fn json_object(o: &Map<String, Json>, progress: &mut Progress) -> CelVal {
    let mut m: HashMap<CelMapKey<'static>, CelVal> = HashMap::with_capacity(o.len());
    for (k, v) in o {
        m.insert(CelMapKey::from(k.clone()), json_to_cel(v, progress));
    }
    Box::new(CelMap::from(m))
}

fn json_to_cel(v: &Json, progress: &mut Progress) -> CelVal {
    progress.step();
    match v {
        Json::Null => Box::new(CelNull),
        Json::Bool(b) => Box::new(CelBool::from(*b)),
        // Always a double, as a protobuf Struct number is.
        Json::Number(n) => Box::new(CelDouble::from(n.as_f64().unwrap_or(f64::NAN))),
        Json::String(s) => Box::new(CelString::from(s.clone())),
        Json::Array(items) => {
            let list: Vec<CelVal> = items.iter().map(|item| json_to_cel(item, progress)).collect();
            Box::new(CelList::from(list))
        }
        Json::Object(o) => json_object(o, progress),
    }
}

/// An attribute value as CEL sees it (integers widen to CEL's `int`).
pub(crate) fn attribute_to_cel(v: &Value) -> CelVal {
    fn list<T>(items: &[T], f: impl Fn(&T) -> CelVal) -> CelVal {
        let mut progress = Progress(0);
        let list: Vec<CelVal> = items
            .iter()
            .map(|item| {
                progress.step();
                f(item)
            })
            .collect();
        Box::new(CelList::from(list))
    }
    match v {
        Value::Boolean(b) => Box::new(CelBool::from(*b)),
        Value::String(s) => Box::new(CelString::from(s.clone())),
        Value::Integer(i) => Box::new(CelInt::from(i64::from(*i))),
        Value::Double(d) => Box::new(CelDouble::from(*d)),
        Value::BooleanArray(a) => list(a, |b| Box::new(CelBool::from(*b))),
        Value::StringArray(a) => list(a, |s| Box::new(CelString::from(s.clone()))),
        Value::IntegerArray(a) => list(a, |i| Box::new(CelInt::from(i64::from(*i)))),
        Value::DoubleArray(a) => list(a, |d| Box::new(CelDouble::from(*d))),
    }
}

/// The value a missing attribute takes in a rule: `0`, `0.0`, `""`,
/// `false` or `[]`.
pub(crate) fn zero_value(ty: AttrType) -> CelVal {
    if ty.array {
        return Box::new(CelList::from(Vec::<CelVal>::new()));
    }
    match ty.base {
        BaseType::Boolean => Box::new(CelBool::from(false)),
        BaseType::String => Box::new(CelString::from(String::new())),
        BaseType::Integer => Box::new(CelInt::from(0i64)),
        BaseType::Double => Box::new(CelDouble::from(0.0)),
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
struct PollingVariables<'c> {
    arguments: Vec<(&'c str, CelVal)>,
    context: &'c dyn Val,
}

impl cel::context::VariableResolver for PollingVariables<'_> {
    fn resolve<'b>(&'b self, variable: &str) -> Option<CowVal<'b, 'b>> {
        crate::interrupt::poll();
        if variable == "context" {
            return Some(CowVal::Borrowed(self.context));
        }
        self.arguments
            .iter()
            .find(|(name, _)| *name == variable)
            .map(|(_, value)| CowVal::Borrowed(value.as_ref()))
    }
}

/// Runs `rule` with its parameters bound to `arguments` (in parameter
/// order) and `context` bound to `context`. `entity` names the entity in
/// error messages.
pub(crate) fn evaluate(
    rule: &RuleDef,
    arguments: Vec<CelVal>,
    context: &dyn Val,
    entity: &dyn std::fmt::Display,
) -> Result<bool> {
    let arguments = rule.params.iter().map(|(name, _)| name.as_str()).zip(arguments).collect();
    let variables = PollingVariables { arguments, context };
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
