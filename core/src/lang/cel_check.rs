//! The part of cel-go's type checker that Permify's compiler relies on,
//! over the AST of cel-rust (which has no checker of its own).
//!
//! Permify compiles a rule body with cel-go, which rejects
//! 1. references to undeclared variables (`undeclared reference to 'x'`),
//!    the usual symptom of a double-quoted string that lost its quotes;
//! 2. bodies whose static type is not `bool`
//!    (`rule expression must result in a boolean type not int`).
//!
//! Both are reproduced here conservatively: a name counts as declared if it
//! is a parameter, `context`, a comprehension variable or a CEL type name;
//! and a type is reported only when it is certain (literals, parameters,
//! arithmetic on them, `context.…` which cel-go types as `dyn`). Anything
//! this module cannot decide passes, and the engine checks the value at run
//! time. Overload resolution (`int == string` and the like) is not checked.

use std::fmt;

use cel::common::ast::{Expr, IdedExpr, LiteralValue};

use crate::model::{AttrType, BaseType};

/// A CEL type as far as it is known statically, printed as cel-go prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CelType {
    Bool,
    Int,
    Uint,
    Double,
    String,
    Bytes,
    Null,
    List(Box<CelType>),
    Map(Box<CelType>, Box<CelType>),
    /// Certainly `dyn` (cel-go's type of anything read from `context`).
    Dyn,
    /// Not known here; never reported.
    Unknown,
}

impl fmt::Display for CelType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CelType::Bool => f.write_str("bool"),
            CelType::Int => f.write_str("int"),
            CelType::Uint => f.write_str("uint"),
            CelType::Double => f.write_str("double"),
            CelType::String => f.write_str("string"),
            CelType::Bytes => f.write_str("bytes"),
            CelType::Null => f.write_str("null_type"),
            CelType::List(t) => write!(f, "list({t})"),
            CelType::Map(k, v) => write!(f, "map({k}, {v})"),
            CelType::Dyn | CelType::Unknown => f.write_str("dyn"),
        }
    }
}

impl CelType {
    /// The CEL type a rule parameter of type `ty` is declared with.
    pub fn of_param(ty: AttrType) -> CelType {
        let base = match ty.base {
            BaseType::Boolean => CelType::Bool,
            BaseType::String => CelType::String,
            BaseType::Integer => CelType::Int,
            BaseType::Double => CelType::Double,
        };
        if ty.array { CelType::List(Box::new(base)) } else { base }
    }

    fn element(&self) -> CelType {
        match self {
            CelType::List(t) => (**t).clone(),
            CelType::Map(_, v) => (**v).clone(),
            CelType::Dyn => CelType::Dyn,
            _ => CelType::Unknown,
        }
    }
}

/// Identifiers CEL resolves to types (`type(x) == int`).
const TYPE_NAMES: &[&str] =
    &["bool", "int", "uint", "double", "string", "bytes", "list", "map", "null_type", "type", "dyn"];

/// Variables in scope while walking: rule parameters, `context`, and
/// comprehension variables with their types.
pub struct Scope {
    vars: Vec<(String, CelType)>,
}

impl Scope {
    /// The scope of a rule body: its parameters and `context` (`dyn`).
    pub fn for_rule(params: &[(String, AttrType)]) -> Scope {
        let mut vars = vec![("context".to_string(), CelType::Dyn)];
        vars.extend(params.iter().map(|(name, ty)| (name.clone(), CelType::of_param(*ty))));
        Scope { vars }
    }

    fn lookup(&self, name: &str) -> Option<&CelType> {
        self.vars.iter().rev().find(|(n, _)| n == name).map(|(_, t)| t)
    }

    fn with<T>(&mut self, bound: &[(String, CelType)], f: impl FnOnce(&mut Scope) -> T) -> T {
        let depth = self.vars.len();
        self.vars.extend(bound.iter().cloned());
        let result = f(self);
        self.vars.truncate(depth);
        result
    }
}

/// The depth of a CEL syntax tree (a leaf has depth 1), measured without
/// recursion so that any tree can be measured safely.
pub fn depth(expr: &IdedExpr) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(expr, 1usize)];
    while let Some((node, level)) = stack.pop() {
        deepest = deepest.max(level);
        for child in children(node) {
            stack.push((child, level + 1));
        }
    }
    deepest
}

/// How deeply comprehensions (`all`, `exists`, `exists_one`, `map`,
/// `filter`) nest in `expr`, and how many elements its list literals hold
/// in all.
pub fn loops_and_list_items(expr: &IdedExpr) -> (usize, usize) {
    let mut deepest = 0;
    let mut items = 0;
    let mut stack = vec![(expr, 0usize)];
    while let Some((node, loops)) = stack.pop() {
        let loops = loops + usize::from(matches!(node.expr, Expr::Comprehension(_)));
        deepest = deepest.max(loops);
        if let Expr::List(list) = &node.expr {
            items += list.elements.len();
        }
        for child in children(node) {
            stack.push((child, loops));
        }
    }
    (deepest, items)
}

/// The direct subexpressions of a node.
fn children(node: &IdedExpr) -> Vec<&IdedExpr> {
    fn entry(entry: &cel::common::ast::IdedEntryExpr) -> Vec<&IdedExpr> {
        match &entry.expr {
            cel::common::ast::EntryExpr::MapEntry(e) => vec![&e.key, &e.value],
            cel::common::ast::EntryExpr::StructField(f) => vec![&f.value],
        }
    }
    match &node.expr {
        Expr::Call(call) => call.target.as_deref().into_iter().chain(call.args.iter()).collect(),
        Expr::Select(select) => vec![&select.operand],
        Expr::List(list) => list.elements.iter().collect(),
        Expr::Map(map) => map.entries.iter().flat_map(entry).collect(),
        Expr::Struct(s) => s.entries.iter().flat_map(entry).collect(),
        Expr::Comprehension(c) => vec![&c.iter_range, &c.accu_init, &c.loop_cond, &c.loop_step, &c.result],
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => Vec::new(),
    }
}

/// The first identifier (in evaluation order) that names nothing in
/// scope, with the id of its expression node.
pub fn undeclared_reference(expr: &IdedExpr, scope: &mut Scope) -> Option<(String, u64)> {
    match &expr.expr {
        Expr::Ident(name) => {
            if name.starts_with('@') || scope.lookup(name).is_some() || TYPE_NAMES.contains(&name.as_str()) {
                None
            } else {
                Some((name.clone(), expr.id))
            }
        }
        Expr::Call(call) => call
            .target
            .as_deref()
            .and_then(|t| undeclared_reference(t, scope))
            .or_else(|| call.args.iter().find_map(|a| undeclared_reference(a, scope))),
        Expr::Select(select) => undeclared_reference(&select.operand, scope),
        Expr::List(list) => list.elements.iter().find_map(|e| undeclared_reference(e, scope)),
        Expr::Map(map) => map.entries.iter().find_map(|entry| match &entry.expr {
            cel::common::ast::EntryExpr::MapEntry(e) => {
                undeclared_reference(&e.key, scope).or_else(|| undeclared_reference(&e.value, scope))
            }
            cel::common::ast::EntryExpr::StructField(f) => undeclared_reference(&f.value, scope),
        }),
        Expr::Struct(s) => s.entries.iter().find_map(|entry| match &entry.expr {
            cel::common::ast::EntryExpr::MapEntry(e) => {
                undeclared_reference(&e.key, scope).or_else(|| undeclared_reference(&e.value, scope))
            }
            cel::common::ast::EntryExpr::StructField(f) => undeclared_reference(&f.value, scope),
        }),
        Expr::Comprehension(c) => {
            if let Some(found) =
                undeclared_reference(&c.iter_range, scope).or_else(|| undeclared_reference(&c.accu_init, scope))
            {
                return Some(found);
            }
            let mut bound = vec![(c.iter_var.clone(), CelType::Unknown), (c.accu_var.clone(), CelType::Unknown)];
            if let Some(v2) = &c.iter_var2 {
                bound.push((v2.clone(), CelType::Unknown));
            }
            scope.with(&bound, |scope| {
                undeclared_reference(&c.loop_cond, scope)
                    .or_else(|| undeclared_reference(&c.loop_step, scope))
                    .or_else(|| undeclared_reference(&c.result, scope))
            })
        }
        Expr::Literal(_) | Expr::Unspecified => None,
    }
}

/// The static type of `expr`, as far as it is certain.
pub fn type_of(expr: &IdedExpr, scope: &mut Scope) -> CelType {
    match &expr.expr {
        Expr::Literal(literal) => match literal {
            LiteralValue::Boolean(_) => CelType::Bool,
            LiteralValue::Bytes(_) => CelType::Bytes,
            LiteralValue::Double(_) => CelType::Double,
            LiteralValue::Int(_) => CelType::Int,
            LiteralValue::Null => CelType::Null,
            LiteralValue::String(_) => CelType::String,
            LiteralValue::UInt(_) => CelType::Uint,
        },
        Expr::Ident(name) => scope.lookup(name).cloned().unwrap_or(CelType::Unknown),
        Expr::Select(select) => {
            if select.test {
                CelType::Bool
            } else if type_of(&select.operand, scope) == CelType::Dyn {
                CelType::Dyn
            } else {
                CelType::Unknown
            }
        }
        Expr::List(list) => {
            let mut types = list.elements.iter().map(|e| type_of(e, scope));
            let element = match types.next() {
                None => CelType::Dyn,
                Some(first) => {
                    if types.all(|t| t == first) && first != CelType::Unknown {
                        first
                    } else {
                        CelType::Dyn
                    }
                }
            };
            CelType::List(Box::new(element))
        }
        Expr::Map(_) => CelType::Map(Box::new(CelType::Dyn), Box::new(CelType::Dyn)),
        Expr::Struct(_) | Expr::Unspecified => CelType::Unknown,
        Expr::Comprehension(c) => {
            let accu = type_of(&c.accu_init, scope);
            let bound = vec![(c.iter_var.clone(), CelType::Unknown), (c.accu_var.clone(), accu)];
            scope.with(&bound, |scope| type_of(&c.result, scope))
        }
        Expr::Call(call) => {
            let arg =
                |i: usize, scope: &mut Scope| call.args.get(i).map(|a| type_of(a, scope)).unwrap_or(CelType::Unknown);
            match call.func_name.as_str() {
                "_&&_"
                | "_||_"
                | "!_"
                | "_==_"
                | "_!=_"
                | "_<_"
                | "_<=_"
                | "_>_"
                | "_>=_"
                | "@in"
                | "@not_strictly_false"
                | "startsWith"
                | "endsWith"
                | "contains"
                | "matches"
                | "bool" => CelType::Bool,
                "size" | "int" => CelType::Int,
                "uint" => CelType::Uint,
                "double" => CelType::Double,
                "string" => CelType::String,
                "bytes" => CelType::Bytes,
                "_+_" | "_-_" | "_*_" | "_/_" | "_%_" => {
                    let (left, right) = (arg(0, scope), arg(1, scope));
                    let arithmetic = matches!(left, CelType::Int | CelType::Uint | CelType::Double)
                        || (call.func_name == "_+_"
                            && matches!(left, CelType::String | CelType::Bytes | CelType::List(_)));
                    if left == right && arithmetic { left } else { CelType::Unknown }
                }
                "-_" => match arg(0, scope) {
                    t @ (CelType::Int | CelType::Double) => t,
                    _ => CelType::Unknown,
                },
                "_?_:_" => {
                    let (then, otherwise) = (arg(1, scope), arg(2, scope));
                    if then == otherwise { then } else { CelType::Unknown }
                }
                "_[_]" => arg(0, scope).element(),
                _ => CelType::Unknown,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str) -> (Option<String>, CelType) {
        let params = vec![
            ("n".to_string(), AttrType { base: BaseType::Integer, array: false }),
            ("tags".to_string(), AttrType { base: BaseType::String, array: true }),
        ];
        let program = cel::Program::compile(body).expect("test bodies parse");
        let mut scope = Scope::for_rule(&params);
        let undeclared = undeclared_reference(program.expression(), &mut scope).map(|(n, _)| n);
        (undeclared, type_of(program.expression(), &mut scope))
    }

    #[test]
    fn undeclared_names() {
        assert_eq!(check("n > 1").0, None);
        assert_eq!(check("day != saturday").0, Some("day".into()));
        assert_eq!(check("context.data.x in tags").0, None);
        assert_eq!(check("tags.exists(t, t == 'a')").0, None);
        assert_eq!(check("tags.all(t, t == x)").0, Some("x".into()));
        assert_eq!(check("type(n) == int").0, None);
    }

    #[test]
    fn certain_types() {
        assert_eq!(check("n > 1").1, CelType::Bool);
        assert_eq!(check("n").1, CelType::Int);
        assert_eq!(check("n + 1").1, CelType::Int);
        assert_eq!(check("'a'").1, CelType::String);
        assert_eq!(check("tags").1, CelType::List(Box::new(CelType::String)));
        assert_eq!(check("context.data.flag").1, CelType::Dyn);
        assert_eq!(check("has(context.data.flag)").1, CelType::Bool);
        assert_eq!(check("tags.exists(t, t == 'a')").1, CelType::Bool);
        assert_eq!(check("tags.map(t, t)").1, CelType::List(Box::new(CelType::Dyn)));
        assert_eq!(check("foo(n)").1, CelType::Unknown);
        assert_eq!(check("[1, 2]").1.to_string(), "list(int)");
    }

    #[test]
    fn depth_counts_levels_and_logic_is_balanced() {
        let depth_of = |body: &str| depth(cel::Program::compile(body).expect("parses").expression());
        assert_eq!(depth_of("x"), 1);
        assert_eq!(depth_of("context.data.amount"), 3);
        assert_eq!(depth_of("x + x + x + x"), 4);
        // cel-rust balances && and || chains, as cel-go does.
        assert!(depth_of(&vec!["x > 1"; 64].join(" && ")) <= 9);
    }
}
