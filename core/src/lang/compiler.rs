//! Checks a parsed schema the way Permify's compiler does and builds the
//! [`Schema`] the engine evaluates.
//!
//! Order of the checks (the first failure is reported, as in Permify):
//! 1. the schema declares at least one entity;
//! 2. every subject type `@type` / `@type#rel` names an entity, and `rel` a
//!    *relation* of it;
//! 3. declarations in source order: for an entity its attribute types, then
//!    its permissions' expressions left to right; for a rule its parameter
//!    types, then its CEL body (module `rule`).
//!
//! Messages start with Permify's text (`undefined relation reference`, …)
//! and then name the entity, relation, permission or rule involved.
//!
//! Expressions become [`Expr`] trees with one node per run of one operator:
//! `a or b or c` is one `Or` with three children, `a not b not c` is
//! `Not(Not(a, b), c)`, and `a or b and c` is `And(Or(a, b), c)` — Permify
//! has no precedence. Mixing operators in one level without parentheses is
//! accepted with that meaning and reported as a [`Warning`].

use std::collections::{HashMap, HashSet};

use crate::error::{Error, ErrorKind, Pos, Result};
use crate::model::{
    AttributeDef, EntityDef, Expr, Leaf, PermissionDef, RelationDef, Schema, SubjectType, Warning,
};

use super::ast::*;
use super::parser::parse;
use super::rule::compile_rule;
use super::types::attribute_type;

/// How deeply a compiled permission expression may nest (operator nodes
/// inside operator nodes). Permify has no limit; this one keeps evaluation
/// and dropping of the tree within any stack.
pub const MAX_EXPR_DEPTH: usize = 64;

/// Longest entity, relation, attribute, permission or rule name: Permify's
/// API validates names with `^[a-zA-Z_]{1,64}$`, and a longer name could not
/// be stored in the tuple indexes anyway.
pub use crate::model::MAX_NAME_LEN;

/// Compiles Permify schema text into a [`Schema`].
///
/// Errors are [`ErrorKind::Syntax`] for text that does not parse and
/// [`ErrorKind::Compile`] for everything else, always with a position.
/// Non-fatal findings are in [`Schema::warnings`].
pub fn compile(source: &str) -> Result<Schema> {
    let ast = parse(source)?;
    Compiler::new(&ast).compile()
}

/// What a name inside an entity is declared as.
#[derive(Clone, Copy)]
enum MemberDecl<'a> {
    Relation(&'a RelationDecl),
    Attribute(&'a AttributeDecl),
    Permission,
}

impl MemberDecl<'_> {
    fn what(&self) -> &'static str {
        match self {
            MemberDecl::Relation(_) => "relation",
            MemberDecl::Attribute(_) => "attribute",
            MemberDecl::Permission => "permission",
        }
    }
}

struct Compiler<'a> {
    ast: &'a SchemaAst,
    entities: HashMap<&'a str, &'a EntityDecl>,
    members: HashMap<(&'a str, &'a str), MemberDecl<'a>>,
    rules: HashMap<&'a str, &'a RuleDecl>,
    warnings: Vec<Warning>,
}

/// The permission being compiled, for messages.
struct Site<'a> {
    entity: &'a str,
    permission: &'a str,
    /// Where the permission's name is.
    pos: Pos,
}

impl Site<'_> {
    fn describe(&self) -> String {
        format!("permission \"{}#{}\"", self.entity, self.permission)
    }

    /// The error for an expression nested deeper than [`MAX_EXPR_DEPTH`].
    fn too_complex(&self) -> Error {
        compile_error(
            self.pos,
            format!(
                "expression too complex: {} nests operators more than {MAX_EXPR_DEPTH} levels deep",
                self.describe()
            ),
        )
        .with_hint("split the expression into several permissions")
    }
}

fn compile_error(pos: Pos, message: String) -> Error {
    Error::at(ErrorKind::Compile, pos, message)
}

impl<'a> Compiler<'a> {
    fn new(ast: &'a SchemaAst) -> Self {
        let mut entities = HashMap::new();
        let mut members = HashMap::new();
        let mut rules = HashMap::new();
        for statement in &ast.statements {
            match statement {
                Statement::Entity(e) => {
                    entities.insert(e.name.name.as_str(), e);
                    let entity = e.name.name.as_str();
                    for r in &e.relations {
                        members.insert((entity, r.name.name.as_str()), MemberDecl::Relation(r));
                    }
                    for a in &e.attributes {
                        members.insert((entity, a.name.name.as_str()), MemberDecl::Attribute(a));
                    }
                    for p in &e.permissions {
                        members.insert((entity, p.name.name.as_str()), MemberDecl::Permission);
                    }
                }
                Statement::Rule(r) => {
                    rules.insert(r.name.name.as_str(), r);
                }
            }
        }
        Compiler { ast, entities, members, rules, warnings: Vec::new() }
    }

    fn member(&self, entity: &str, name: &str) -> Option<MemberDecl<'a>> {
        self.members.get(&(entity, name)).copied()
    }

    fn compile(mut self) -> Result<Schema> {
        if self.entities.is_empty() {
            return Err(compile_error(Pos { line: 1, col: 1 }, "no entity references found in schema".to_string())
                .with_hint("declare at least one entity, e.g. \"entity user {}\""));
        }
        self.check_names()?;
        self.check_subject_types()?;
        let mut entities = Vec::new();
        let mut rules = Vec::new();
        for statement in &self.ast.statements {
            match statement {
                Statement::Entity(e) => entities.push(self.compile_entity(e)?),
                Statement::Rule(r) => {
                    let (rule, warnings) = compile_rule(r)?;
                    rules.push(rule);
                    self.warnings.extend(warnings);
                }
            }
        }
        Ok(Schema::new(entities, rules, self.warnings))
    }

    /// Names are at most [`MAX_NAME_LEN`] bytes long.
    fn check_names(&self) -> Result<()> {
        let mut names: Vec<&Ident> = Vec::new();
        for statement in &self.ast.statements {
            match statement {
                Statement::Entity(e) => {
                    names.push(&e.name);
                    names.extend(e.relations.iter().map(|r| &r.name));
                    names.extend(e.attributes.iter().map(|a| &a.name));
                    names.extend(e.permissions.iter().map(|p| &p.name));
                }
                Statement::Rule(r) => names.push(&r.name),
            }
        }
        match names.into_iter().find(|n| n.name.len() > MAX_NAME_LEN) {
            Some(n) => Err(compile_error(
                n.pos,
                format!("name too long: \"{}...\" has {} characters, at most {MAX_NAME_LEN} are allowed", &n.name[..16], n.name.len()),
            )),
            None => Ok(()),
        }
    }

    /// Check 2: subject types name entities, and subject sets relations;
    /// a relation lists each subject type once.
    fn check_subject_types(&self) -> Result<()> {
        for entity in self.entities_in_order() {
            crate::interrupt::poll();
            for relation in &entity.relations {
                let mut seen = HashSet::new();
                for st in &relation.subject_types {
                    self.check_subject_type(entity, relation, st)?;
                    let key = (st.entity.name.as_str(), st.relation.as_ref().map(|r| r.name.as_str()));
                    if !seen.insert(key) {
                        let written = match key.1 {
                            Some(r) => format!("@{}#{r}", key.0),
                            None => format!("@{}", key.0),
                        };
                        return Err(compile_error(
                            st.entity.pos,
                            format!(
                                "duplicate subject type: relation \"{}#{}\" lists \"{written}\" more than once",
                                entity.name.name, relation.name.name
                            ),
                        )
                        .with_hint("list each subject type once"));
                    }
                }
            }
        }
        Ok(())
    }

    fn entities_in_order(&self) -> impl Iterator<Item = &'a EntityDecl> + use<'a> {
        self.ast.statements.iter().filter_map(|s| match s {
            Statement::Entity(e) => Some(e),
            Statement::Rule(_) => None,
        })
    }

    fn check_subject_type(&self, entity: &EntityDecl, relation: &RelationDecl, st: &SubjectTypeRef) -> Result<()> {
        let owner = format!("{}#{}", entity.name.name, relation.name.name);
        let written = match &st.relation {
            Some(r) => format!("@{}#{}", st.entity.name, r.name),
            None => format!("@{}", st.entity.name),
        };
        let phrase = "relation reference not found in entity references";
        if !self.entities.contains_key(st.entity.name.as_str()) {
            return Err(compile_error(
                st.entity.pos,
                format!(
                    "{phrase}: relation \"{owner}\" allows \"{written}\" but there is no entity \"{}\"",
                    st.entity.name
                ),
            )
            .with_hint(format!("declare \"entity {} {{}}\" or fix the type name", st.entity.name)));
        }
        let Some(rel) = &st.relation else { return Ok(()) };
        match self.member(&st.entity.name, &rel.name) {
            Some(MemberDecl::Relation(_)) => Ok(()),
            Some(other) => Err(compile_error(
                st.entity.pos,
                format!(
                    "{phrase}: relation \"{owner}\" allows \"{written}\" but \"{}#{}\" is {} {}, not a relation",
                    st.entity.name,
                    rel.name,
                    article(other.what()),
                    other.what()
                ),
            )
            .with_hint(
                "a subject set (@type#name) must name a relation; Permify does not allow permissions or \
                 attributes there",
            )),
            None => Err(compile_error(
                st.entity.pos,
                format!(
                    "{phrase}: relation \"{owner}\" allows \"{written}\" but entity \"{}\" has no relation \"{}\"",
                    st.entity.name, rel.name
                ),
            )),
        }
    }

    fn compile_entity(&mut self, decl: &'a EntityDecl) -> Result<EntityDef> {
        let relations = decl
            .relations
            .iter()
            .map(|r| RelationDef {
                name: r.name.name.clone(),
                pos: r.name.pos,
                subject_types: r
                    .subject_types
                    .iter()
                    .map(|st| SubjectType {
                        entity: st.entity.name.clone(),
                        relation: st.relation.as_ref().map(|r| r.name.clone()),
                    })
                    .collect(),
            })
            .collect();
        let mut attributes = Vec::new();
        for a in &decl.attributes {
            let ty = attribute_type(&a.ty, || format!("attribute \"{}#{}\"", decl.name.name, a.name.name))?;
            attributes.push(AttributeDef { name: a.name.name.clone(), pos: a.name.pos, ty });
        }
        let mut permissions = Vec::new();
        for p in &decl.permissions {
            let site = Site { entity: &decl.name.name, permission: &p.name.name, pos: p.name.pos };
            let (expr, _) = self.compile_chain(&site, &p.expr)?;
            permissions.push(PermissionDef { name: p.name.name.clone(), pos: p.name.pos, expr });
        }
        Ok(EntityDef::new(decl.name.name.clone(), decl.name.pos, relations, attributes, permissions))
    }

    /// Compiles one expression level, left to right; returns the tree and
    /// its depth (a leaf has depth 1).
    fn compile_chain(&mut self, site: &Site<'_>, chain: &Chain) -> Result<(Expr, usize)> {
        let (mut acc, mut depth) = self.compile_operand(site, &chain.first)?;
        // The operator of the node `acc` was built by at this level, so that
        // a run of `or`s (or `and`s) extends one n-ary node.
        let mut acc_op: Option<Op> = None;
        for (op, _, operand) in &chain.rest {
            let (right, right_depth) = self.compile_operand(site, operand)?;
            acc = match (op, acc_op, acc) {
                (Op::Or, Some(Op::Or), Expr::Or(mut children)) => {
                    children.push(right);
                    depth = depth.max(right_depth + 1);
                    Expr::Or(children)
                }
                (Op::And, Some(Op::And), Expr::And(mut children)) => {
                    children.push(right);
                    depth = depth.max(right_depth + 1);
                    Expr::And(children)
                }
                (op, _, left) => {
                    depth = depth.max(right_depth) + 1;
                    match op {
                        Op::Or => Expr::Or(vec![left, right]),
                        Op::And => Expr::And(vec![left, right]),
                        Op::Not => Expr::Not(Box::new(left), Box::new(right)),
                    }
                }
            };
            acc_op = Some(*op);
            // Stop before the tree gets deep: even dropping it recurses.
            if depth > MAX_EXPR_DEPTH {
                return Err(site.too_complex());
            }
        }
        self.warn_if_mixed(site, chain);
        Ok((acc, depth))
    }

    /// Reports a level that mixes operators without parentheses.
    fn warn_if_mixed(&mut self, site: &Site<'_>, chain: &Chain) {
        let mut ops: Vec<Op> = Vec::new();
        for (op, _, _) in &chain.rest {
            if !ops.contains(op) {
                ops.push(*op);
            }
        }
        if ops.len() < 2 {
            return;
        }
        let Some(pos) = chain.rest.iter().find(|(op, _, _)| *op != ops[0]).map(|(_, pos, _)| *pos) else {
            return;
        };
        let quoted: Vec<String> = ops.iter().map(|op| format!("\"{}\"", op.keyword())).collect();
        let listed = match quoted.split_last() {
            Some((last, init)) if !init.is_empty() => format!("{} and {last}", init.join(", ")),
            _ => quoted.join(""),
        };
        let reading = left_to_right_reading(chain);
        self.warnings.push(Warning {
            pos,
            message: format!(
                "{} mixes {listed} without parentheses; Permify evaluates them left to right with equal \
                 precedence, as {reading}",
                site.describe()
            ),
            hint: Some(format!(
                "add parentheses to say which grouping you mean, e.g. \"{reading}\" (what is evaluated now)"
            )),
        });
    }

    fn compile_operand(&mut self, site: &Site<'_>, operand: &Operand) -> Result<(Expr, usize)> {
        // A model's work grows with its leaves times what each walk may
        // point to: long enough to be worth a cancel.
        crate::interrupt::poll();
        match operand {
            Operand::Group(chain, _) => self.compile_chain(site, chain),
            Operand::Path(segments) => Ok((Expr::Leaf(self.compile_path(site, segments)?), 1)),
            Operand::Call { rule, args } => Ok((Expr::Leaf(self.compile_call(site, rule, args)?), 1)),
        }
    }

    fn compile_path(&self, site: &Site<'_>, segments: &[Ident]) -> Result<Leaf> {
        match segments {
            [name] => self.compile_name(site, name),
            [relation, target] => {
                self.check_walk(site, relation, target)?;
                Ok(Leaf::Walk { relation: relation.name.clone(), target: target.name.clone() })
            }
            _ => {
                let third = segments.get(2).map(|s| s.pos).unwrap_or(Pos { line: 1, col: 1 });
                Err(compile_error(
                    third,
                    format!(
                        "not supported relation walk: {} uses \"{}\"; a walk may have only one \".\"",
                        site.describe(),
                        dotted(segments)
                    ),
                )
                .with_hint(
                    "walk one step at a time: define a permission on the intermediate entity (e.g. \"permission \
                     view = parent.view\") and walk to it",
                ))
            }
        }
    }

    /// A single name: a relation, permission or boolean attribute.
    fn compile_name(&self, site: &Site<'_>, name: &Ident) -> Result<Leaf> {
        match self.member(site.entity, &name.name) {
            Some(MemberDecl::Relation(_) | MemberDecl::Permission) => Ok(Leaf::Computed(name.name.clone())),
            Some(MemberDecl::Attribute(a)) => {
                if a.ty.name.name == "boolean" && !a.ty.array {
                    Ok(Leaf::Attribute(name.name.clone()))
                } else {
                    Err(compile_error(
                        name.pos,
                        format!(
                            "schema compile: {} uses attribute \"{}\" of type {} as a condition; only boolean \
                             attributes can be used directly",
                            site.describe(),
                            name.name,
                            a.ty
                        ),
                    )
                    .with_hint(format!(
                        "compare it in a rule, e.g. \"rule check_{0}({0} {1}) {{ … }}\", and call \"check_{0}({0})\"",
                        name.name, a.ty
                    )))
                }
            }
            None => {
                let mut error = compile_error(
                    name.pos,
                    format!(
                        "undefined relation reference: {} refers to \"{}\", which \"{}\" does not define",
                        site.describe(),
                        name.name,
                        site.entity
                    ),
                );
                if self.rules.contains_key(name.name.as_str()) {
                    error = error.with_hint(format!(
                        "\"{0}\" is a rule: call it with the attributes it takes, e.g. \"{0}(…)\"",
                        name.name
                    ));
                }
                Err(error)
            }
        }
    }

    /// `relation.target`: `relation` must be a relation of the entity, and
    /// `target` a relation or permission of every type it may point to
    /// (through subject sets, the types of the named relation).
    fn check_walk(&self, site: &Site<'_>, relation: &Ident, target: &Ident) -> Result<()> {
        let walk = format!("{}.{}", relation.name, target.name);
        let phrase = "undefined relation reference";
        let start = match self.member(site.entity, &relation.name) {
            Some(MemberDecl::Relation(r)) => r,
            other => {
                let what = match other {
                    Some(m) => format!("is {} {}, not a relation", article(m.what()), m.what()),
                    None => "is not defined".to_string(),
                };
                return Err(compile_error(
                    relation.pos,
                    format!(
                        "{phrase}: {} walks \"{walk}\", but \"{}\" of \"{}\" {what}",
                        site.describe(),
                        relation.name,
                        site.entity
                    ),
                )
                .with_hint("the left side of a walk must be a relation of the same entity"));
            }
        };
        // Depth-first over subject types; subject sets contribute the types
        // of the relation they name. `seen` stops recursive subject sets
        // (Permify loops forever on those).
        let mut seen: HashSet<(&str, &str)> = HashSet::new();
        let mut stack: Vec<(&RelationDecl, &str)> = vec![(start, site.entity)];
        while let Some((rel, owner)) = stack.pop() {
            if !seen.insert((owner, rel.name.name.as_str())) {
                continue;
            }
            for st in &rel.subject_types {
                crate::interrupt::poll();
                match &st.relation {
                    None => self.check_walk_target(site, &walk, target, rel, owner, &st.entity.name)?,
                    Some(r) => {
                        if let Some(MemberDecl::Relation(next)) = self.member(&st.entity.name, &r.name) {
                            stack.push((next, st.entity.name.as_str()));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn check_walk_target(
        &self,
        site: &Site<'_>,
        walk: &str,
        target: &Ident,
        via: &RelationDecl,
        via_owner: &str,
        ty: &str,
    ) -> Result<()> {
        let phrase = "undefined relation reference";
        let via = format!("{via_owner}#{}", via.name.name);
        match self.member(ty, &target.name) {
            Some(MemberDecl::Relation(_) | MemberDecl::Permission) => Ok(()),
            Some(MemberDecl::Attribute(_)) => Err(compile_error(
                target.pos,
                format!(
                    "{phrase}: {} walks \"{walk}\", but \"{ty}#{}\" is an attribute; a walk can reach only \
                     relations and permissions",
                    site.describe(),
                    target.name
                ),
            )
            .with_hint(format!(
                "define a permission on \"{ty}\" that uses the attribute (e.g. \"permission {0}_set = {0}\") and \
                 walk to that permission",
                target.name
            ))),
            None => Err(compile_error(
                target.pos,
                format!(
                    "{phrase}: {} walks \"{walk}\", but entity \"{ty}\" (a subject type of \"{via}\") has no \
                     relation or permission \"{}\"",
                    site.describe(),
                    target.name
                ),
            )
            .with_hint(format!("every subject type of \"{via}\" must define \"{}\"", target.name))),
        }
    }

    /// `rule(attr, …)`: arguments bind by name to the rule's parameters.
    fn compile_call(&self, site: &Site<'_>, rule_name: &Ident, args: &[Vec<Ident>]) -> Result<Leaf> {
        let Some(rule) = self.rules.get(rule_name.name.as_str()) else {
            return Err(compile_error(
                rule_name.pos,
                format!(
                    "invalid rule reference: {} calls \"{}\", which is not a rule",
                    site.describe(),
                    rule_name.name
                ),
            ));
        };
        let signature = rule_signature(rule);
        if rule.params.len() != args.len() || args.is_empty() {
            let message = if args.is_empty() {
                format!("missing argument: {} calls rule \"{}\" without arguments", site.describe(), rule_name.name)
            } else {
                format!(
                    "missing argument: {} passes {} argument(s) to rule \"{}\", which declares {} parameter(s)",
                    site.describe(),
                    args.len(),
                    rule_name.name,
                    rule.params.len()
                )
            };
            return Err(compile_error(rule_name.pos, message)
                .with_hint(format!("pass one attribute per parameter: {signature}")));
        }
        let mut names = Vec::new();
        for arg in args {
            let Some(first) = arg.first() else { continue };
            if arg.len() > 1 {
                let second = arg.get(1).map(|s| s.pos).unwrap_or(first.pos);
                return Err(compile_error(
                    second,
                    format!(
                        "not supported walk: {} passes \"{}\" to rule \"{}\"; rule arguments must be attributes of \
                         \"{}\"",
                        site.describe(),
                        dotted(arg),
                        rule_name.name,
                        site.entity
                    ),
                )
                .with_hint("read request data inside the rule body as \"context.data.<key>\" instead"));
            }
            let attribute = match self.member(site.entity, &first.name) {
                Some(MemberDecl::Attribute(a)) => a,
                other => {
                    let what = match other {
                        Some(m) => format!("a {}", m.what()),
                        None => "not defined".to_string(),
                    };
                    return Err(compile_error(
                        rule_name.pos,
                        format!(
                            "invalid rule reference: {} passes \"{}\" to rule \"{}\", but \"{}\" is not an \
                             attribute of \"{}\" (it is {what})",
                            site.describe(),
                            first.name,
                            rule_name.name,
                            first.name,
                            site.entity
                        ),
                    ));
                }
            };
            let Some(param) = rule.params.iter().find(|p| p.name.name == first.name) else {
                return Err(compile_error(
                    first.pos,
                    format!(
                        "invalid argument: {} passes attribute \"{}\" to rule \"{}\", which has no parameter named \
                         \"{}\"",
                        site.describe(),
                        first.name,
                        rule_name.name,
                        first.name
                    ),
                )
                .with_hint(format!(
                    "rule arguments bind by name, not by position: the attribute and the parameter must have the \
                     same name ({signature})"
                )));
            };
            if param.ty.to_string() != attribute.ty.to_string() {
                return Err(compile_error(
                    first.pos,
                    format!(
                        "invalid argument: {} passes attribute \"{}\" of type {} to parameter \"{}\" of type {} of \
                         rule \"{}\"",
                        site.describe(),
                        first.name,
                        attribute.ty,
                        param.name.name,
                        param.ty,
                        rule_name.name
                    ),
                )
                .with_hint("the attribute and the parameter must have exactly the same type"));
            }
            names.push(first.name.clone());
        }
        Ok(Leaf::Call { rule: rule_name.name.clone(), args: names })
    }
}

fn rule_signature(rule: &RuleDecl) -> String {
    let params: Vec<String> = rule.params.iter().map(|p| format!("{} {}", p.name.name, p.ty)).collect();
    format!("{}({})", rule.name.name, params.join(", "))
}

/// How Permify groups a level: `((a or b or c) and d)`. Runs of one
/// operator are shown together. Built in one pass (each change of operator
/// wraps all that came before, so the opening brackets are counted first),
/// and cut to [`READING_SHOWN`] characters: a level may have a million
/// operands.
fn left_to_right_reading(chain: &Chain) -> String {
    let changes = chain.rest.windows(2).filter(|w| w[0].0 != w[1].0).count();
    let mut text = "(".repeat(changes + 1);
    text.push_str(&chain.first.to_string());
    let mut run: Option<Op> = None;
    for (op, _, operand) in &chain.rest {
        if run.is_some_and(|r| r != *op) {
            text.push(')');
        }
        run = Some(*op);
        text.push(' ');
        text.push_str(op.keyword());
        text.push(' ');
        text.push_str(&operand.to_string());
        if text.len() > READING_SHOWN {
            let cut = (0..=READING_SHOWN).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
            text.truncate(cut);
            text.push_str(" …");
            return text;
        }
    }
    text.push(')');
    text
}

/// Characters of a mixed-operator warning's reading shown at most.
const READING_SHOWN: usize = 400;

fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" }
}
