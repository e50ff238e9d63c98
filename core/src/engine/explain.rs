//! Why a check is true or false ([`explain`]), and the userset tree of a
//! permission on an object ([`expand`]) — for people reading them, in JSON.
//!
//! Both are built on the checker: every node's truth is the checker's
//! answer (so an explanation never disagrees with `check`), and the
//! explanation only chooses what to show. For a true node that is one
//! granting path — the tuple, the walk, the attribute or rule, and below it
//! the node that made it true; for a false node every branch tried and why
//! each failed. Proofs never run in a circle: a true node is shown through a
//! child whose own proof does not come back to a node above it (the least
//! fixpoint gives every true node such a proof), trying the next true child
//! when one cannot.
//!
//! Both stop at `max_nodes` nodes: what is left out is marked
//! `"truncated": true` (a check's value is still given for the node cut).

use serde_json::{Map, Value as Json, json};

/// `{key: value, …}` built by moving each value in. (`json!` serialises
/// every value it is given again, so a subtree would be copied once for
/// every level above it: nodes × depth.)
macro_rules! object {
    ($($key:expr => $value:expr),* $(,)?) => {{
        let mut m = Map::new();
        $( m.insert(String::from($key), Json::from($value)); )*
        Json::Object(m)
    }};
}

use crate::engine::check::{CheckOptions, Checker};
use std::collections::HashSet;

use crate::engine::context::{Context, ContextIndex, poll_every};
use crate::engine::source::TupleSource;
use crate::error::Result;
use crate::model::{EntityDef, Expr, Leaf, Member, Schema};
use crate::tuple::{ObjectRef, SubjectRef, Value};

/// Explains `check(entity, name, subject)`:
/// `{"check": "doc:1#read@user:x", "result": true, "explanation": {…}, "nodes": n, "truncated": false}`.
pub fn explain<S: TupleSource + ?Sized>(
    schema: &Schema,
    source: &mut S,
    entity: &ObjectRef,
    name: &str,
    subject: &SubjectRef,
    ctx: &Context,
    opts: CheckOptions,
    max_nodes: usize,
) -> Result<Json> {
    let mut checker = Checker::new(schema, source, ctx, opts);
    checker.memoize_all();
    let result = checker.check(entity, name, subject)?;
    let mut ex = Explainer { checker, ctx: ContextIndex::new(ctx), subject, nodes: 0, max_nodes, truncated: false, path: Vec::new() };
    let explanation = match ex.node(&entity.ty, &entity.id, name, result)? {
        Some(e) => e,
        // No proof found within the budget (the check is true all the same).
        None => cut(&format!("{}#{}", entity, name), result),
    };
    Ok(object! {
        "check" => format!("{}#{}@{}", entity, name, subject),
        "result" => result,
        "explanation" => explanation,
        "nodes" => ex.nodes,
        "truncated" => ex.truncated,
    })
}

struct Explainer<'c, 'a, S: TupleSource + ?Sized> {
    checker: Checker<'a, S>,
    ctx: ContextIndex<'c>,
    subject: &'c SubjectRef,
    nodes: usize,
    max_nodes: usize,
    truncated: bool,
    /// The nodes being explained, outermost first (ty, id, name).
    path: Vec<(String, String, String)>,
}

/// The stored and contextual subjects of `ty:id#relation`, each once.
/// The contextual ones come from the context's index (a context of a
/// hundred thousand tuples was scanned whole for every node, and each of
/// its subjects compared with every one before it).
fn subjects_of<S: TupleSource + ?Sized>(
    checker: &mut Checker<'_, S>,
    ctx: &ContextIndex<'_>,
    ty: &str,
    id: &str,
    relation: &str,
) -> Result<Vec<SubjectRef>> {
    let mut out = Vec::new();
    checker.source().subjects(&ObjectRef { ty: ty.to_owned(), id: id.to_owned() }, relation, &mut out)?;
    let mut seen: Option<HashSet<SubjectRef>> = None;
    for (i, subject) in ctx.forward(ty, id, relation).enumerate() {
        poll_every(i);
        let seen = seen.get_or_insert_with(|| out.iter().cloned().collect());
        if seen.insert(subject.clone()) {
            out.push(subject.clone());
        }
    }
    Ok(out)
}

fn cut(node: &str, result: bool) -> Json {
    json!({"node": node, "result": result, "truncated": true})
}

impl<S: TupleSource + ?Sized> Explainer<'_, '_, S> {
    fn truth(&mut self, ty: &str, id: &str, name: &str) -> Result<bool> {
        self.checker.check(&ObjectRef { ty: ty.to_owned(), id: id.to_owned() }, name, self.subject)
    }

    fn subjects(&mut self, ty: &str, id: &str, relation: &str) -> Result<Vec<SubjectRef>> {
        subjects_of(&mut self.checker, &self.ctx, ty, id, relation)
    }

    /// A node `ty:id#name` whose truth is `result`. None: true, but no
    /// proof that avoids the nodes above was found (the caller tries
    /// another way).
    fn node(&mut self, ty: &str, id: &str, name: &str, result: bool) -> Result<Option<Json>> {
        crate::interrupt::poll();
        let label = format!("{ty}:{id}#{name}");
        let s = self.subject;
        if s.ty == ty && s.id == id && s.relation == name {
            return Ok(Some(json!({"node": label, "result": true, "reason": "the subject itself"})));
        }
        if self.path.iter().any(|(t, i, n)| t == ty && i == id && n == name) {
            return Ok(if result {
                None
            } else {
                Some(json!({"node": label, "result": false, "reason": "already being explained above (a cycle grants nothing by itself)"}))
            });
        }
        if self.nodes >= self.max_nodes {
            self.truncated = true;
            return Ok(Some(cut(&label, result)));
        }
        self.nodes += 1;
        let schema = self.checker.schema();
        let Some(entity) = schema.entity(ty) else {
            return Ok(Some(json!({"node": label, "result": result, "reason": "entity type not in the schema"})));
        };
        self.path.push((ty.to_owned(), id.to_owned(), name.to_owned()));
        let out = match entity.member(name) {
            Some(Member::Relation(_)) => self.relation(entity, id, name, &label, result),
            Some(Member::Attribute(_)) => self.attribute(ty, id, name, result).map(Some),
            Some(Member::Permission(i)) => {
                let expr = &entity.permissions[i].expr;
                self.expr(expr, entity, id, result).map(|e| {
                    e.map(|because| {
                        object! {"node" => label, "kind" => "permission", "expression" => expr_text(expr), "result" => result, "because" => because}
                    })
                })
            }
            None => Ok(Some(json!({"node": label, "kind": "rule", "result": result}))),
        };
        self.path.pop();
        out
    }

    fn relation(&mut self, entity: &EntityDef, id: &str, name: &str, label: &str, result: bool) -> Result<Option<Json>> {
        let subjects = self.subjects(&entity.name, id, name)?;
        let direct = format!("{}:{}#{}@{}", entity.name, id, name, self.subject);
        if result && subjects.iter().any(|t| t == self.subject) {
            return Ok(Some(json!({"node": label, "kind": "relation", "result": true, "tuple": direct})));
        }
        let schema = self.checker.schema();
        let mut tried = Vec::new();
        for t in subjects.iter().filter(|t| !t.relation.is_empty()) {
            let Some(set_entity) = schema.entity(&t.ty) else { continue };
            if set_entity.member(&t.relation).is_none() {
                continue;
            }
            let tuple = format!("{}:{}#{}@{}", entity.name, id, name, t);
            let holds = self.truth(&t.ty, &t.id, &t.relation)?;
            if result != holds {
                continue;
            }
            match self.node(&t.ty, &t.id, &t.relation, holds)? {
                Some(because) if result => {
                    return Ok(Some(object! {"node" => label, "kind" => "relation", "result" => true, "tuple" => tuple, "because" => because}));
                }
                Some(because) => tried.push(object! {"tuple" => tuple, "because" => because}),
                None => {}
            }
        }
        if result {
            return Ok(None);
        }
        let mut node = Map::new();
        node.insert("node".into(), json!(label));
        node.insert("kind".into(), json!("relation"));
        node.insert("result".into(), json!(false));
        node.insert("reason".into(), json!(format!("no tuple {direct}")));
        if !tried.is_empty() {
            node.insert("subject_sets".into(), Json::Array(tried));
        }
        Ok(Some(Json::Object(node)))
    }

    fn attribute(&mut self, ty: &str, id: &str, name: &str, result: bool) -> Result<Json> {
        let contextual = self.ctx.attribute(ty, id, name).cloned();
        let value = match contextual {
            Some(v) => Some(v),
            None => self.checker.source().attribute(&ObjectRef { ty: ty.to_owned(), id: id.to_owned() }, name)?,
        };
        Ok(json!({
            "node": format!("{ty}:{id}${name}"),
            "kind": "attribute",
            "value": value.as_ref().map_or(Json::Null, value_json),
            "result": result,
        }))
    }

    /// The truth of an expression on `entity:id`, from its leaves' checks.
    fn expr_truth(&mut self, expr: &Expr, entity: &EntityDef, id: &str) -> Result<bool> {
        Ok(match expr {
            Expr::Leaf(Leaf::Computed(n) | Leaf::Attribute(n)) => self.truth(&entity.name, id, n)?,
            Expr::Leaf(Leaf::Call { rule, .. }) => self.truth(&entity.name, id, rule)?,
            Expr::Leaf(Leaf::Walk { relation, target }) => {
                let mut any = false;
                for t in self.walk_targets(entity, id, relation, target)? {
                    if self.truth(&t.ty, &t.id, target)? {
                        any = true;
                        break;
                    }
                }
                any
            }
            Expr::Or(children) => {
                let mut any = false;
                for c in children {
                    if self.expr_truth(c, entity, id)? {
                        any = true;
                        break;
                    }
                }
                any
            }
            Expr::And(children) => {
                let mut all = true;
                for c in children {
                    if !self.expr_truth(c, entity, id)? {
                        all = false;
                        break;
                    }
                }
                all
            }
            Expr::Not(base, subtract) => self.expr_truth(base, entity, id)? && !self.expr_truth(subtract, entity, id)?,
        })
    }

    /// The entities a walk `relation.target` reaches from `entity:id` (those
    /// whose type has `target`).
    fn walk_targets(&mut self, entity: &EntityDef, id: &str, relation: &str, target: &str) -> Result<Vec<SubjectRef>> {
        let schema = self.checker.schema();
        let mut found = self.subjects(&entity.name, id, relation)?;
        found.retain(|t| schema.entity(&t.ty).is_some_and(|e| e.member(target).is_some()));
        Ok(found)
    }

    /// An expression whose truth is `result` (None: true without a proof
    /// avoiding the nodes above).
    fn expr(&mut self, expr: &Expr, entity: &EntityDef, id: &str, result: bool) -> Result<Option<Json>> {
        match expr {
            Expr::Leaf(Leaf::Computed(n) | Leaf::Attribute(n)) => self.node(&entity.name, id, n, result),
            Expr::Leaf(Leaf::Call { rule, args }) => Ok(Some(json!({
                "rule": format!("{}({})", rule, args.join(", ")),
                "node": format!("{}:{}#{}", entity.name, id, rule),
                "result": result,
            }))),
            Expr::Leaf(Leaf::Walk { relation, target }) => self.walk(entity, id, relation, target, result),
            Expr::Or(children) | Expr::And(children) => {
                let or = matches!(expr, Expr::Or(_));
                let mut shown = Vec::new();
                if result == or {
                    // A true `or` or a false `and`: one child decides.
                    for c in children {
                        if self.expr_truth(c, entity, id)? != result {
                            continue;
                        }
                        if let Some(e) = self.expr(c, entity, id, result)? {
                            shown.push(e);
                            break;
                        }
                    }
                    if shown.is_empty() {
                        return Ok(None);
                    }
                } else {
                    // A false `or` or a true `and`: every child, all alike.
                    for c in children {
                        match self.expr(c, entity, id, result)? {
                            Some(e) => shown.push(e),
                            None => return Ok(None),
                        }
                    }
                }
                let key = if or { "or" } else { "and" };
                Ok(Some(object! {key => shown, "expression" => expr_text(expr), "result" => result}))
            }
            Expr::Not(base, subtract) => {
                let mut shown = Map::new();
                if result {
                    // base true and subtract false.
                    let Some(b) = self.expr(base, entity, id, true)? else { return Ok(None) };
                    shown.insert("base".into(), b);
                    if let Some(s) = self.expr(subtract, entity, id, false)? {
                        shown.insert("subtract".into(), s);
                    }
                } else if !self.expr_truth(base, entity, id)? {
                    if let Some(b) = self.expr(base, entity, id, false)? {
                        shown.insert("base".into(), b);
                    }
                } else {
                    // base true, and the subtracted part true too.
                    let s = match self.expr(subtract, entity, id, true)? {
                        Some(s) => s,
                        None => json!({"expression": expr_text(subtract), "result": true,
                                       "reason": "true through a node explained above"}),
                    };
                    shown.insert("subtract".into(), s);
                }
                shown.insert("expression".into(), json!(expr_text(expr)));
                shown.insert("result".into(), json!(result));
                Ok(Some(object! {"not" => shown}))
            }
        }
    }

    fn walk(&mut self, entity: &EntityDef, id: &str, relation: &str, target: &str, result: bool) -> Result<Option<Json>> {
        let walk = format!("{relation}.{target}");
        let targets = self.walk_targets(entity, id, relation, target)?;
        let mut tried = Vec::new();
        for t in &targets {
            let tuple = format!("{}:{}#{}@{}", entity.name, id, relation, t);
            let holds = self.truth(&t.ty, &t.id, target)?;
            if holds != result {
                continue;
            }
            match self.node(&t.ty, &t.id, target, holds)? {
                Some(because) if result => {
                    return Ok(Some(object! {"walk" => walk, "result" => true, "tuple" => tuple, "because" => because}));
                }
                Some(because) => tried.push(object! {"tuple" => tuple, "because" => because}),
                None => {}
            }
        }
        if result {
            return Ok(None);
        }
        if targets.is_empty() {
            return Ok(Some(json!({"walk": walk, "result": false, "reason": format!("no {}:{}#{} tuple", entity.name, id, relation)})));
        }
        Ok(Some(object! {"walk" => walk, "result" => false, "tuples" => tried}))
    }
}

fn value_json(v: &Value) -> Json {
    match v {
        Value::Boolean(b) => json!(b),
        Value::Integer(i) => json!(i),
        Value::Double(d) => json!(d),
        Value::String(s) => json!(s),
        other => json!(other.to_string()),
    }
}

/// An expression as it would be written in the schema.
pub fn expr_text(expr: &Expr) -> String {
    fn go(e: &Expr, nested: bool, out: &mut String) {
        let join = |out: &mut String, cs: &[Expr], op: &str| {
            if nested {
                out.push('(');
            }
            for (i, c) in cs.iter().enumerate() {
                if i > 0 {
                    out.push_str(op);
                }
                go(c, true, out);
            }
            if nested {
                out.push(')');
            }
        };
        match e {
            Expr::Leaf(Leaf::Computed(n) | Leaf::Attribute(n)) => out.push_str(n),
            Expr::Leaf(Leaf::Walk { relation, target }) => {
                out.push_str(relation);
                out.push('.');
                out.push_str(target);
            }
            Expr::Leaf(Leaf::Call { rule, args }) => {
                out.push_str(rule);
                out.push('(');
                out.push_str(&args.join(", "));
                out.push(')');
            }
            Expr::Or(cs) => join(out, cs, " or "),
            Expr::And(cs) => join(out, cs, " and "),
            Expr::Not(b, s) => {
                if nested {
                    out.push('(');
                }
                go(b, true, out);
                out.push_str(" not ");
                go(s, true, out);
                if nested {
                    out.push(')');
                }
            }
        }
    }
    let mut out = String::new();
    go(expr, false, &mut out);
    out
}

/// The userset tree of `name` on `entity`, as Permify's expand: a
/// permission's expression with its operators (`union`, `intersection`,
/// `exclusion`), walks to the related objects' trees, relations as their
/// subjects (subject sets expanded in turn), attributes with their values
/// and rules with their results. Nodes already open above are marked
/// `"cycle": true`; beyond `max_nodes`, `"truncated": true`.
pub fn expand<S: TupleSource + ?Sized>(
    schema: &Schema,
    source: &mut S,
    entity: &ObjectRef,
    name: &str,
    ctx: &Context,
    opts: CheckOptions,
    max_nodes: usize,
) -> Result<Json> {
    let def = schema.entity(&entity.ty).ok_or_else(|| crate::engine::check::undefined_entity(&entity.ty))?;
    if def.member(name).is_none() && schema.rule(name).is_none() {
        return Err(crate::engine::check::undefined_member(def, name));
    }
    // The checker evaluates attributes and rules (with the context).
    let nobody = SubjectRef { ty: String::new(), id: String::new(), relation: String::new() };
    let checker = Checker::new(schema, source, ctx, opts);
    let mut ex = Expander { checker, ctx: ContextIndex::new(ctx), nobody: &nobody, nodes: 0, max_nodes, truncated: false, path: Vec::new() };
    let tree = ex.node(&entity.ty, &entity.id, name)?;
    Ok(object! {"tree" => tree, "nodes" => ex.nodes, "truncated" => ex.truncated})
}

struct Expander<'c, 'a, S: TupleSource + ?Sized> {
    checker: Checker<'a, S>,
    ctx: ContextIndex<'c>,
    /// The subject for evaluating attributes and rules (which ignore it).
    nobody: &'c SubjectRef,
    nodes: usize,
    max_nodes: usize,
    truncated: bool,
    path: Vec<(String, String, String)>,
}

impl<S: TupleSource + ?Sized> Expander<'_, '_, S> {
    fn subjects(&mut self, ty: &str, id: &str, relation: &str) -> Result<Vec<SubjectRef>> {
        let out = subjects_of(&mut self.checker, &self.ctx, ty, id, relation)?;
        // By their text, each made once (not in every comparison), in a
        // sort that polls: a relation may have a million subjects. (They
        // are distinct, so an unstable sort orders them the same way.)
        let mut keyed: Vec<(String, SubjectRef)> = out.into_iter().map(|s| (s.to_string(), s)).collect();
        crate::interrupt::sort_unstable_by(&mut keyed, |a, b| a.0.cmp(&b.0));
        Ok(keyed.into_iter().map(|(_, s)| s).collect())
    }

    fn node(&mut self, ty: &str, id: &str, name: &str) -> Result<Json> {
        crate::interrupt::poll();
        let target = format!("{ty}:{id}#{name}");
        if self.path.iter().any(|(t, i, n)| t == ty && i == id && n == name) {
            return Ok(json!({"target": target, "cycle": true}));
        }
        if self.nodes >= self.max_nodes {
            self.truncated = true;
            return Ok(json!({"target": target, "truncated": true}));
        }
        self.nodes += 1;
        let schema = self.checker.schema();
        let Some(entity) = schema.entity(ty) else {
            return Ok(json!({"target": target, "subjects": []}));
        };
        self.path.push((ty.to_owned(), id.to_owned(), name.to_owned()));
        let out = match entity.member(name) {
            Some(Member::Relation(_)) => {
                let subjects = self.subjects(ty, id, name)?;
                let mut sets = Vec::new();
                for s in subjects.iter().filter(|s| !s.relation.is_empty()) {
                    let known = schema.entity(&s.ty).is_some_and(|e| e.member(&s.relation).is_some());
                    if known {
                        sets.push(self.node(&s.ty, &s.id, &s.relation)?);
                    }
                }
                let mut leaf = Map::new();
                leaf.insert("target".into(), json!(target));
                leaf.insert("subjects".into(), Json::from(subjects.iter().map(ToString::to_string).collect::<Vec<_>>()));
                if !sets.is_empty() {
                    leaf.insert("expanded".into(), Json::Array(sets));
                }
                Ok(Json::Object(leaf))
            }
            Some(Member::Attribute(_)) => {
                let holds = self.checker.check(&ObjectRef { ty: ty.to_owned(), id: id.to_owned() }, name, self.nobody)?;
                Ok(json!({"target": format!("{ty}:{id}${name}"), "attribute": holds}))
            }
            Some(Member::Permission(i)) => {
                let expr = &entity.permissions[i].expr;
                let mut tree = self.expr(expr, entity, id)?;
                if let Json::Object(m) = &mut tree {
                    m.insert("target".into(), json!(target));
                }
                Ok(tree)
            }
            None => {
                let holds = self.checker.check(&ObjectRef { ty: ty.to_owned(), id: id.to_owned() }, name, self.nobody)?;
                Ok(json!({"target": target, "rule": name, "result": holds}))
            }
        };
        self.path.pop();
        out
    }

    fn expr(&mut self, expr: &Expr, entity: &EntityDef, id: &str) -> Result<Json> {
        Ok(match expr {
            Expr::Leaf(Leaf::Computed(n) | Leaf::Attribute(n)) => self.node(&entity.name, id, n)?,
            Expr::Leaf(Leaf::Call { rule, .. }) => self.node(&entity.name, id, rule)?,
            Expr::Leaf(Leaf::Walk { relation, target }) => {
                let schema = self.checker.schema();
                let mut children = Vec::new();
                for t in self.subjects(&entity.name, id, relation)? {
                    if schema.entity(&t.ty).is_some_and(|e| e.member(target).is_some()) {
                        children.push(self.node(&t.ty, &t.id, target)?);
                    }
                }
                object! {"walk" => format!("{}:{}#{}.{}", entity.name, id, relation, target), "union" => children}
            }
            Expr::Or(cs) => {
                let children = cs.iter().map(|c| self.expr(c, entity, id)).collect::<Result<Vec<_>>>()?;
                object! {"union" => children}
            }
            Expr::And(cs) => {
                let children = cs.iter().map(|c| self.expr(c, entity, id)).collect::<Result<Vec<_>>>()?;
                object! {"intersection" => children}
            }
            Expr::Not(b, s) => {
                let base = self.expr(b, entity, id)?;
                let subtract = self.expr(s, entity, id)?;
                object! {"exclusion" => object! {"base" => base, "subtract" => subtract}}
            }
        })
    }
}

/// Whether `subject` is in an [`expand`] tree: `Some(answer)` when the tree
/// decides it, None where a cycle or a cut leaves it open. A check's
/// answer must equal every decided value (the conformance runner asserts
/// it for every check assertion).
pub fn tree_contains(tree: &Json, subject: &SubjectRef) -> Option<bool> {
    let subject_text = subject.to_string();
    fn any(items: &[Json], f: &dyn Fn(&Json) -> Option<bool>) -> Option<bool> {
        let mut open = false;
        for i in items {
            match f(i) {
                Some(true) => return Some(true),
                None => open = true,
                Some(false) => {}
            }
        }
        if open { None } else { Some(false) }
    }
    fn go(t: &Json, s: &str) -> Option<bool> {
        let m = t.as_object()?;
        if m.get("target").and_then(Json::as_str) == Some(s) {
            return Some(true);
        }
        if m.contains_key("cycle") || m.contains_key("truncated") {
            return None;
        }
        if let Some(subjects) = m.get("subjects").and_then(Json::as_array) {
            if subjects.iter().any(|x| x.as_str() == Some(s)) {
                return Some(true);
            }
            return match m.get("expanded").and_then(Json::as_array) {
                Some(sets) => any(sets, &|x| go(x, s)),
                None => Some(false),
            };
        }
        if let Some(v) = m.get("attribute").and_then(Json::as_bool) {
            return Some(v);
        }
        if m.contains_key("rule") {
            return m.get("result").and_then(Json::as_bool);
        }
        if let Some(children) = m.get("union").and_then(Json::as_array) {
            return any(children, &|x| go(x, s));
        }
        if let Some(children) = m.get("intersection").and_then(Json::as_array) {
            let mut open = false;
            for c in children {
                match go(c, s) {
                    Some(false) => return Some(false),
                    None => open = true,
                    Some(true) => {}
                }
            }
            return if open { None } else { Some(true) };
        }
        if let Some(ex) = m.get("exclusion") {
            return match (go(&ex["base"], s), go(&ex["subtract"], s)) {
                (Some(false), _) => Some(false),
                (_, Some(true)) => Some(false),
                (Some(true), Some(false)) => Some(true),
                _ => None,
            };
        }
        None
    }
    go(tree, &subject_text)
}

/// An [`explain`] result as indented lines for psql: `yes`/`no`, the node
/// and what decided it, children below their parent.
pub fn explanation_text(explained: &Json) -> String {
    let mut out = String::new();
    let result = explained["result"].as_bool().unwrap_or(false);
    out.push_str(&format!("{}: {}\n", explained["check"].as_str().unwrap_or("?"), if result { "allowed" } else { "denied" }));
    render(&explained["explanation"], 1, &mut out);
    if explained["truncated"].as_bool() == Some(true) {
        out.push_str("(cut: the explanation reached its node limit)\n");
    }
    out
}

fn render(j: &Json, depth: usize, out: &mut String) {
    let Some(m) = j.as_object() else { return };
    let mark = if m.get("result").and_then(Json::as_bool) == Some(true) { "yes" } else { "no " };
    let pad = "  ".repeat(depth);
    let text = |k: &str| m.get(k).and_then(Json::as_str).unwrap_or("");
    let mut line = |s: String| {
        out.push_str(&pad);
        out.push_str(mark);
        out.push(' ');
        out.push_str(&s);
        out.push('\n');
    };
    if m.contains_key("truncated") {
        line(format!("{} (not shown: node limit)", text("node")));
    } else if let Some(node) = m.get("node").and_then(Json::as_str) {
        match text("kind") {
            "permission" => {
                line(format!("{node} = {}", text("expression")));
                render_body(&m["because"], depth + 1, out);
            }
            "attribute" => line(format!("{node} = {}", m.get("value").unwrap_or(&Json::Null))),
            "rule" if !m.contains_key("rule") => line(format!("{node} (rule)")),
            _ if m.contains_key("rule") => line(format!("{} on {node}", text("rule"))),
            _ if m.contains_key("tuple") => {
                line(format!("{node}: {}", text("tuple")));
                if let Some(b) = m.get("because") {
                    render(b, depth + 1, out);
                }
            }
            _ => {
                line(format!("{node}: {}", text("reason")));
                for t in m.get("subject_sets").and_then(Json::as_array).into_iter().flatten() {
                    render_tuple(t, depth + 1, out);
                }
            }
        }
    } else if let Some(walk) = m.get("walk").and_then(Json::as_str) {
        if m.contains_key("tuple") {
            line(format!("{walk} via {}", text("tuple")));
            render(&m["because"], depth + 1, out);
        } else if m.contains_key("reason") {
            line(format!("{walk}: {}", text("reason")));
        } else {
            line(format!("{walk}: no related object has it"));
            for t in m.get("tuples").and_then(Json::as_array).into_iter().flatten() {
                render_tuple(t, depth + 1, out);
            }
        }
    } else if let Some(children) = m.get("or").or_else(|| m.get("and")).and_then(Json::as_array) {
        if children.len() == 1 {
            render(&children[0], depth, out);
        } else {
            let op = if m.contains_key("or") { "any of" } else { "all of" };
            line(format!("{op}: {}", text("expression")));
            for c in children {
                render(c, depth + 1, out);
            }
        }
    } else if let Some(n) = m.get("not").and_then(Json::as_object) {
        let r = n.get("result").and_then(Json::as_bool) == Some(true);
        out.push_str(&format!("{pad}{} {}\n", if r { "yes" } else { "no " }, n.get("expression").and_then(Json::as_str).unwrap_or("")));
        for key in ["base", "subtract"] {
            if let Some(c) = n.get(key) {
                out.push_str(&format!("{pad}  {key}:\n"));
                render(c, depth + 2, out);
            }
        }
    } else if m.contains_key("reason") {
        line(format!("{}: {}", text("expression"), text("reason")));
    }
}

/// A permission's expression, whose text its line already shows: the
/// operator's parts without repeating it.
fn render_body(j: &Json, depth: usize, out: &mut String) {
    if let Some(children) = j.get("or").or_else(|| j.get("and")).and_then(Json::as_array) {
        for c in children {
            render(c, depth, out);
        }
    } else if let Some(n) = j.get("not").and_then(Json::as_object) {
        for key in ["base", "subtract"] {
            if let Some(c) = n.get(key) {
                out.push_str(&format!("{}{key}:\n", "  ".repeat(depth)));
                render(c, depth + 1, out);
            }
        }
    } else {
        render(j, depth, out);
    }
}

fn render_tuple(t: &Json, depth: usize, out: &mut String) {
    out.push_str(&format!("{}tried {}\n", "  ".repeat(depth), t["tuple"].as_str().unwrap_or("")));
    render(&t["because"], depth + 1, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::MemorySource;
    use crate::tuple::{parse_object, parse_subject, parse_tuple};

    const SCHEMA: &str = "
        entity user {}
        entity group { relation member @user @group#member }
        entity doc {
            relation owner @user
            relation reader @user @group#member
            relation parent @doc
            relation banned @user
            permission read = (reader or owner or parent.read) not banned
        }";

    fn data() -> (Schema, MemorySource) {
        let schema = crate::lang::compile(SCHEMA).unwrap();
        let mut mem = MemorySource::new();
        for t in ["group:eng#member@group:core#member", "group:core#member@user:carol", "doc:root#reader@group:eng#member",
                  "doc:a#parent@doc:root", "doc:a#banned@user:dave", "doc:root#reader@user:dave", "group:core#member@group:eng#member"] {
            mem.insert_tuple(parse_tuple(t).unwrap());
        }
        (schema, mem)
    }

    fn run(object: &str, subject: &str) -> Json {
        let (schema, mut mem) = data();
        explain(&schema, &mut mem, &parse_object(object).unwrap(), "read", &parse_subject(subject).unwrap(),
                &Context::default(), CheckOptions::default(), 100).unwrap()
    }

    #[test]
    fn a_true_check_shows_one_path_down_to_the_tuple() {
        let e = run("doc:a", "user:carol");
        assert_eq!(e["result"], true);
        let text = explanation_text(&e);
        assert!(text.contains("parent.read via doc:a#parent@doc:root"), "{text}");
        assert!(text.contains("doc:root#reader: doc:root#reader@group:eng#member"), "{text}");
        assert!(text.contains("group:core#member: group:core#member@user:carol"), "{text}");
        assert!(text.contains("doc:a#banned: no tuple doc:a#banned@user:carol"), "{text}");
    }

    #[test]
    fn a_false_check_shows_why_each_branch_failed() {
        let e = run("doc:a", "user:dave");
        assert_eq!(e["result"], false);
        let text = explanation_text(&e);
        // Dave reads the parent, but is banned here.
        assert!(text.contains("subtract:"), "{text}");
        assert!(text.contains("doc:a#banned: doc:a#banned@user:dave"), "{text}");
        let e = run("doc:a", "user:erin");
        let text = explanation_text(&e);
        assert!(text.contains("no  doc:a#reader: no tuple doc:a#reader@user:erin"), "{text}");
        // The group cycle (eng in core in eng) is shown as a cycle, not followed.
        assert!(text.contains("cycle"), "{text}");
    }

    #[test]
    fn explanations_stop_at_the_node_limit() {
        let (schema, mut mem) = data();
        let e = explain(&schema, &mut mem, &parse_object("doc:a").unwrap(), "read", &parse_subject("user:erin").unwrap(),
                        &Context::default(), CheckOptions::default(), 3).unwrap();
        assert_eq!(e["truncated"], true);
        assert_eq!(e["nodes"], 3);
        assert!(explanation_text(&e).contains("node limit"));
    }

    #[test]
    fn expand_shows_the_userset_tree() {
        let (schema, mut mem) = data();
        let t = expand(&schema, &mut mem, &parse_object("doc:a").unwrap(), "read", &Context::default(), CheckOptions::default(), 100).unwrap();
        let tree = &t["tree"];
        assert_eq!(tree["target"], "doc:a#read");
        let text = tree.to_string();
        assert!(text.contains("\"exclusion\""), "{text}");
        assert!(text.contains("\"doc:a#parent.read\""), "{text}");
        assert!(text.contains("\"cycle\":true"), "{text}");
        for (subject, expected) in [("user:carol", Some(true)), ("user:dave", Some(false))] {
            assert_eq!(tree_contains(tree, &parse_subject(subject).unwrap()), expected, "{subject}");
        }
        assert!(expand(&schema, &mut mem, &parse_object("doc:a").unwrap(), "nope", &Context::default(), CheckOptions::default(), 10).is_err());
    }
}
