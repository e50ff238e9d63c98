//! Lookups: which entities of a type a subject has a permission on
//! ([`lookup_resources`]), and which subjects of a type have a permission
//! on an entity ([`lookup_subjects`]).
//!
//! Both work in two phases. A schema-guided graph search finds a
//! *candidate* set that is guaranteed to contain every answer, touching only
//! tuples that can matter for the permission asked; then the ordinary
//! [`Checker`] decides each candidate, sharing its memo (or its reads) across
//! candidates. The answer is therefore exactly "the candidates whose check is
//! true", with the check's semantics (cycles included), and its cost grows
//! with the candidates rather than with the store.
//!
//! Why a superset is easy to get right: for a true node, one of the
//! "positive" leaves of its expression is true — any child of a union, every
//! child of an intersection (so one chosen child suffices), the base of an
//! exclusion (`a not b` true implies `a` true; the subtracted side can only
//! remove answers, so it is never searched). Following positive leaves from
//! the permission down to tuples and attributes, and back, therefore reaches
//! every entity (or subject) for which the check can be true.
//!
//! Attribute and rule leaves hold or fail independently of the subject. For
//! entities, their candidates are the entities with a stored or contextual
//! value of an attribute the leaf reads. For subjects, a leaf that holds on a
//! reached entity makes "everyone" a candidate: every subject id of the type
//! that appears as a plain subject in a stored or contextual tuple (Permify's
//! notion of everyone). A rule that is true on the zero values of missing
//! attributes is thus true for entities no search can enumerate; like
//! Permify, lookups only return entities that have one of the attributes.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};

use super::check::{CheckOptions, Checker, member_name, undefined_entity, undefined_member};
use super::context::{Context, ContextIndex};
use super::source::{ReverseHit, TupleSource};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{EntityDef, Expr, Leaf, Member, Schema};
use crate::tuple::{ObjectRef, SubjectRef};

/// A node kind: a member (or a rule checked by name) of an entity type.
#[derive(Clone, Copy, Debug)]
struct Kind<'a> {
    entity: &'a EntityDef,
    name: &'a str,
}

impl PartialEq for Kind<'_> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.entity, other.entity) && self.name == other.name
    }
}
impl Eq for Kind<'_> {}
impl Hash for Kind<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self.entity as *const EntityDef as usize).hash(state);
        self.name.hash(state);
    }
}

/// The schema viewed as a graph, plus the subject types that contextual
/// tuples (which are not validated) add to relations.
struct Graph<'a> {
    schema: &'a Schema,
    contextual_types: HashMap<(&'a str, &'a str), Vec<(&'a str, &'a str)>>,
    uses_attributes: HashMap<Kind<'a>, bool>,
    in_progress: HashSet<Kind<'a>>,
}

impl<'a> Graph<'a> {
    fn new(schema: &'a Schema, ctx: &'a Context) -> Self {
        let mut contextual_types: HashMap<(&'a str, &'a str), Vec<(&'a str, &'a str)>> =
            HashMap::new();
        for t in &ctx.tuples {
            let types = contextual_types
                .entry((t.entity.ty.as_str(), t.relation.as_str()))
                .or_default();
            let ty = (t.subject.ty.as_str(), t.subject.relation.as_str());
            if !types.contains(&ty) {
                types.push(ty);
            }
        }
        Graph {
            schema,
            contextual_types,
            uses_attributes: HashMap::new(),
            in_progress: HashSet::new(),
        }
    }

    /// `(type, relation)` of every subject `entity#relation` may hold
    /// (`""` for a plain subject): the declared ones and contextual ones.
    fn subject_types(&self, entity: &'a EntityDef, relation: &str) -> Vec<(&'a str, &'a str)> {
        let mut types: Vec<(&'a str, &'a str)> = Vec::new();
        if let Some(def) = entity.relation(relation) {
            for st in &def.subject_types {
                types.push((st.entity.as_str(), st.relation.as_deref().unwrap_or("")));
            }
        }
        if let Some(extra) = self.contextual_types.get(&(entity.name.as_str(), relation)) {
            for ty in extra {
                if !types.contains(ty) {
                    types.push(*ty);
                }
            }
        }
        types
    }

    /// The kind `name` on entity type `ty`, if both exist.
    fn kind(&self, ty: &str, name: &str) -> Option<Kind<'a>> {
        let entity = self.schema.entity(ty)?;
        let member = entity.member(name)?;
        Some(Kind {
            entity,
            name: member_name(entity, member),
        })
    }

    /// The leaves to follow to find where `expr` can be true (see the module
    /// docs). Of an intersection's children the first whose truth never
    /// rests on an attribute or rule is followed, because its candidates are
    /// exact; failing that, all of them.
    fn positive_leaves(&mut self, entity: &'a EntityDef, expr: &'a Expr, out: &mut Vec<&'a Leaf>) {
        match expr {
            Expr::Leaf(leaf) => out.push(leaf),
            Expr::Or(children) => {
                for c in children {
                    self.positive_leaves(entity, c, out);
                }
            }
            Expr::And(children) => {
                let mut chosen = None;
                for c in children {
                    if !self.expr_uses_attributes(entity, c) {
                        chosen = Some(c);
                        break;
                    }
                }
                match chosen {
                    Some(c) => self.positive_leaves(entity, c, out),
                    None => {
                        for c in children {
                            self.positive_leaves(entity, c, out);
                        }
                    }
                }
            }
            Expr::Not(base, _) => self.positive_leaves(entity, base, out),
        }
    }

    /// Whether `expr` can be true through an attribute or rule leaf (in
    /// which case its candidates are not exact). Only a heuristic for
    /// choosing among intersection children: a cycle counts as "no".
    fn expr_uses_attributes(&mut self, entity: &'a EntityDef, expr: &'a Expr) -> bool {
        match expr {
            Expr::Leaf(Leaf::Attribute(_) | Leaf::Call { .. }) => true,
            Expr::Leaf(Leaf::Computed(name)) => self.kind_uses_attributes(Kind { entity, name }),
            Expr::Leaf(Leaf::Walk { relation, target }) => {
                let mut uses = false;
                for (ty, _) in self.subject_types(entity, relation) {
                    if let Some(k) = self.kind(ty, target) {
                        uses |= self.kind_uses_attributes(k);
                    }
                }
                uses
            }
            Expr::Or(children) => children
                .iter()
                .any(|c| self.expr_uses_attributes(entity, c)),
            Expr::And(children) => children
                .iter()
                .all(|c| self.expr_uses_attributes(entity, c)),
            Expr::Not(base, _) => self.expr_uses_attributes(entity, base),
        }
    }

    fn kind_uses_attributes(&mut self, kind: Kind<'a>) -> bool {
        if let Some(&uses) = self.uses_attributes.get(&kind) {
            return uses;
        }
        if !self.in_progress.insert(kind) {
            return false;
        }
        let uses = match kind.entity.member(kind.name) {
            Some(Member::Relation(_)) => {
                let mut uses = false;
                for (ty, rel) in self.subject_types(kind.entity, kind.name) {
                    if rel.is_empty() {
                        continue;
                    }
                    if let Some(k) = self.kind(ty, rel) {
                        uses |= self.kind_uses_attributes(k);
                    }
                }
                uses
            }
            Some(Member::Permission(i)) => match kind.entity.permissions.get(i) {
                Some(p) => self.expr_uses_attributes(kind.entity, &p.expr),
                None => false,
            },
            Some(Member::Attribute(_)) | None => true,
        };
        self.in_progress.remove(&kind);
        self.uses_attributes.insert(kind, uses);
        uses
    }
}

/// The kind a lookup asks about: a member of the entity type, or a rule
/// checked by name (as [`Checker::check`] allows).
fn target_kind<'a>(schema: &'a Schema, entity: &'a EntityDef, name: &str) -> Result<Kind<'a>> {
    if let Some(member) = entity.member(name) {
        return Ok(Kind {
            entity,
            name: member_name(entity, member),
        });
    }
    match schema.rule(name) {
        Some(rule) => Ok(Kind {
            entity,
            name: rule.name.as_str(),
        }),
        None => Err(undefined_member(entity, name)),
    }
}

/// How a true node of one kind can make a node of another kind true.
#[derive(Clone, Copy, Debug)]
enum Up<'a> {
    /// `parent = … child …` on the same entity.
    Same(Kind<'a>),
    /// The parent relation holds the child as a subject set `X:x#child`.
    Userset(Kind<'a>),
    /// `parent = … relation.child …`: the parent walks `relation` to the
    /// child's entity.
    Walk { relation: &'a str, parent: Kind<'a> },
}

/// Everything a reverse search for one target kind needs to know.
struct Relevance<'a> {
    kinds: HashSet<Kind<'a>>,
    up: HashMap<Kind<'a>, Vec<Up<'a>>>,
    /// Relation kinds whose tuples can name the subject directly.
    relations: Vec<Kind<'a>>,
    /// `(node kind seeded, attribute name)`: entities with that attribute
    /// are candidates for the node.
    attribute_seeds: Vec<(Kind<'a>, &'a str)>,
}

impl<'a> Relevance<'a> {
    /// Every kind the target depends on through positive leaves, with the
    /// reverse edges between them.
    fn build(graph: &mut Graph<'a>, target: Kind<'a>) -> Self {
        let schema = graph.schema;
        let mut r = Relevance {
            kinds: HashSet::new(),
            up: HashMap::new(),
            relations: Vec::new(),
            attribute_seeds: Vec::new(),
        };
        let mut work = vec![target];
        r.kinds.insert(target);
        let mut leaves = Vec::new();
        while let Some(kind) = work.pop() {
            let mut children: Vec<(Kind<'a>, Up<'a>)> = Vec::new();
            match kind.entity.member(kind.name) {
                Some(Member::Relation(_)) => {
                    r.relations.push(kind);
                    for (ty, rel) in graph.subject_types(kind.entity, kind.name) {
                        if rel.is_empty() {
                            continue;
                        }
                        if let Some(child) = graph.kind(ty, rel) {
                            children.push((child, Up::Userset(kind)));
                        }
                    }
                }
                Some(Member::Permission(i)) => {
                    let Some(permission) = kind.entity.permissions.get(i) else {
                        continue;
                    };
                    leaves.clear();
                    graph.positive_leaves(kind.entity, &permission.expr, &mut leaves);
                    for leaf in leaves.iter().copied() {
                        match leaf {
                            Leaf::Computed(name) | Leaf::Attribute(name) => {
                                match kind.entity.member(name) {
                                    Some(Member::Attribute(_)) => {
                                        r.attribute_seeds.push((kind, name.as_str()))
                                    }
                                    Some(_) => children.push((
                                        Kind {
                                            entity: kind.entity,
                                            name,
                                        },
                                        Up::Same(kind),
                                    )),
                                    None => {}
                                }
                            }
                            Leaf::Walk { relation, target } => {
                                let mut seen: Vec<&str> = Vec::new();
                                for (ty, _) in graph.subject_types(kind.entity, relation) {
                                    if seen.contains(&ty) {
                                        continue;
                                    }
                                    seen.push(ty);
                                    if let Some(child) = graph.kind(ty, target) {
                                        children.push((
                                            child,
                                            Up::Walk {
                                                relation: relation.as_str(),
                                                parent: kind,
                                            },
                                        ));
                                    }
                                }
                            }
                            Leaf::Call { rule, .. } => {
                                if let Some(rule) = schema.rule(rule) {
                                    for (param, _) in &rule.params {
                                        r.attribute_seeds.push((kind, param.as_str()));
                                    }
                                }
                            }
                        }
                    }
                }
                Some(Member::Attribute(_)) => r.attribute_seeds.push((kind, kind.name)),
                None => {
                    // A rule checked by name: its parameters are attributes.
                    if let Some(rule) = schema.rule(kind.name) {
                        for (param, _) in &rule.params {
                            r.attribute_seeds.push((kind, param.as_str()));
                        }
                    }
                }
            }
            for (child, up) in children {
                r.up.entry(child).or_default().push(up);
                if r.kinds.insert(child) {
                    work.push(child);
                }
            }
        }
        r
    }
}

/// Every id of `entity_type` on which `subject` has `permission` (a
/// permission, relation, attribute or rule name), sorted and de-duplicated.
/// Exactly the ids whose [`Checker::check`] is true, among the entities that
/// tuples or attribute values connect to the subject (see the module docs).
/// An error checking any candidate fails the lookup, as in Permify.
pub fn lookup_resources<S: TupleSource + ?Sized>(
    schema: &Schema,
    source: &mut S,
    subject: &SubjectRef,
    permission: &str,
    entity_type: &str,
    ctx: &Context,
    opts: CheckOptions,
) -> Result<Vec<String>> {
    let entity = schema
        .entity(entity_type)
        .ok_or_else(|| undefined_entity(entity_type))?;
    let target = target_kind(schema, entity, permission)?;
    let mut graph = Graph::new(schema, ctx);
    let relevance = Relevance::build(&mut graph, target);
    let ctx_index = ContextIndex::new(ctx);
    let mut candidates = reverse_search(&graph, &relevance, target, source, &ctx_index, subject)?;
    candidates.sort_unstable();
    candidates.dedup();

    let mut checker = Checker::new(schema, source, ctx, opts);
    checker.memoize_all();
    let mut object = ObjectRef {
        ty: entity_type.to_string(),
        id: String::new(),
    };
    let mut allowed = Vec::new();
    for id in candidates {
        object.id = id;
        if checker.check(&object, permission, subject)? {
            allowed.push(std::mem::take(&mut object.id));
        }
    }
    Ok(allowed)
}

/// Breadth-first search backwards from the subject over the relevant kinds;
/// returns the ids of the target kind reached (unsorted, maybe repeated).
fn reverse_search<'a, S: TupleSource + ?Sized>(
    graph: &Graph<'a>,
    relevance: &Relevance<'a>,
    target: Kind<'a>,
    source: &mut S,
    ctx: &ContextIndex<'_>,
    subject: &SubjectRef,
) -> Result<Vec<String>> {
    let mut queue: VecDeque<(Kind<'a>, String)> = VecDeque::new();
    let mut seen: HashSet<(Kind<'a>, String)> = HashSet::new();
    let mut push = |queue: &mut VecDeque<(Kind<'a>, String)>, kind: Kind<'a>, id: &str| {
        if seen.insert((kind, id.to_string())) {
            queue.push_back((kind, id.to_string()));
        }
    };

    // The self shortcut: `T:x#m` has `m` on `T:x`.
    if !subject.relation.is_empty()
        && let Some(kind) = graph.kind(&subject.ty, &subject.relation)
        && relevance.kinds.contains(&kind)
    {
        push(&mut queue, kind, &subject.id);
    }
    // Tuples naming the subject exactly.
    let subject_object = subject.object();
    let mut hits: Vec<ReverseHit> = Vec::new();
    for &kind in &relevance.relations {
        let types = graph.subject_types(kind.entity, kind.name);
        if types.contains(&(subject.ty.as_str(), subject.relation.as_str())) {
            hits.clear();
            source.reverse(&subject_object, &kind.entity.name, kind.name, &mut hits)?;
            for h in &hits {
                if h.subject_relation == subject.relation {
                    push(&mut queue, kind, &h.entity_id);
                }
            }
        }
        for t in ctx.reverse(&subject.ty, &subject.id, &kind.entity.name, kind.name) {
            if t.subject.relation == subject.relation {
                push(&mut queue, kind, &t.entity.id);
            }
        }
    }
    // Entities with an attribute an attribute or rule leaf reads.
    let mut ids: Vec<String> = Vec::new();
    for &(kind, attribute) in &relevance.attribute_seeds {
        ids.clear();
        source.entities_with_attribute(&kind.entity.name, attribute, &mut ids)?;
        for id in &ids {
            push(&mut queue, kind, id);
        }
        for a in &ctx.context().attributes {
            if a.entity.ty == kind.entity.name && a.name == attribute {
                push(&mut queue, kind, &a.entity.id);
            }
        }
    }

    let mut found = Vec::new();
    let mut object = ObjectRef {
        ty: String::new(),
        id: String::new(),
    };
    while let Some((kind, id)) = queue.pop_front() {
        let Some(ups) = relevance.up.get(&kind) else {
            if kind == target {
                found.push(id);
            }
            continue;
        };
        object.ty.clear();
        object.ty.push_str(&kind.entity.name);
        object.id.clear();
        object.id.push_str(&id);
        for up in ups {
            let (parent, relation, subject_relation) = match *up {
                Up::Same(parent) => {
                    push(&mut queue, parent, &id);
                    continue;
                }
                Up::Userset(parent) => (parent, parent.name, Some(kind.name)),
                // A walk ignores the stored subject relation.
                Up::Walk { relation, parent } => (parent, relation, None),
            };
            hits.clear();
            source.reverse(&object, &parent.entity.name, relation, &mut hits)?;
            for h in &hits {
                if subject_relation.is_none_or(|r| r == h.subject_relation) {
                    push(&mut queue, parent, &h.entity_id);
                }
            }
            for t in ctx.reverse(&kind.entity.name, &id, &parent.entity.name, relation) {
                if subject_relation.is_none_or(|r| r == t.subject.relation) {
                    push(&mut queue, parent, &t.entity.id);
                }
            }
        }
        if kind == target {
            found.push(id);
        }
    }
    Ok(found)
}

/// Every subject id of `subject_reference` (`"user"`, or `"group#member"`
/// for subject sets) that has `permission` on `entity`, sorted and
/// de-duplicated: exactly the candidates whose [`Checker::check`] is true
/// (see the module docs for the candidates). An error checking any
/// candidate fails the lookup.
pub fn lookup_subjects<S: TupleSource + ?Sized>(
    schema: &Schema,
    source: &mut S,
    entity: &ObjectRef,
    permission: &str,
    subject_reference: &str,
    ctx: &Context,
    opts: CheckOptions,
) -> Result<Vec<String>> {
    let def = schema
        .entity(&entity.ty)
        .ok_or_else(|| undefined_entity(&entity.ty))?;
    let start = target_kind(schema, def, permission)?;
    let (subject_type, subject_relation) = parse_subject_reference(schema, subject_reference)?;

    let mut graph = Graph::new(schema, ctx);
    let mut checker = Checker::new(schema, source, ctx, opts);
    checker.enable_read_cache();
    let (mut candidates, everyone) = forward_search(
        &mut graph,
        &mut checker,
        start,
        &entity.id,
        subject_type,
        subject_relation,
    )?;
    if everyone {
        let mut ids = Vec::new();
        checker
            .source()
            .subject_ids_of_type(subject_type, &mut ids)?;
        candidates.extend(ids);
        for t in &ctx.tuples {
            if t.subject.ty == subject_type && t.subject.relation.is_empty() {
                candidates.insert(t.subject.id.clone());
            }
        }
    }

    let mut subject = SubjectRef {
        ty: subject_type.to_string(),
        id: String::new(),
        relation: subject_relation.to_string(),
    };
    let mut allowed = Vec::new();
    for id in candidates {
        subject.id = id;
        if checker.check(entity, permission, &subject)? {
            allowed.push(std::mem::take(&mut subject.id));
        }
    }
    Ok(allowed)
}

/// Splits `"type"` / `"type#relation"` and checks both names exist.
fn parse_subject_reference<'r>(schema: &Schema, reference: &'r str) -> Result<(&'r str, &'r str)> {
    let reference = reference.trim();
    let (ty, relation) = match reference.split_once('#') {
        Some((ty, "...")) => (ty, ""),
        Some((ty, relation)) if !relation.is_empty() => (ty, relation),
        Some(_) => ("", ""),
        None => (reference, ""),
    };
    if ty.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidArgument,
            format!(
                "invalid subject reference \"{reference}\": expected \"type\" or \"type#relation\""
            ),
        ));
    }
    let def = schema.entity(ty).ok_or_else(|| undefined_entity(ty))?;
    if !relation.is_empty() && def.member(relation).is_none() {
        return Err(undefined_member(def, relation));
    }
    Ok((ty, relation))
}

/// Depth-first search forwards from the entity along positive leaves;
/// returns the subject ids of the wanted type found in tuples (or by the
/// self shortcut), and whether an attribute or rule leaf that holds (or
/// fails with an error) was reached, making everyone a candidate.
fn forward_search<'a, S: TupleSource + ?Sized>(
    graph: &mut Graph<'a>,
    checker: &mut Checker<'a, S>,
    start: Kind<'a>,
    start_id: &str,
    subject_type: &str,
    subject_relation: &str,
) -> Result<(BTreeSet<String>, bool)> {
    let schema = checker.schema();
    let ctx = checker.context_index();
    let mut candidates = BTreeSet::new();
    let mut everyone = false;
    let mut seen: HashSet<(Kind<'a>, String)> = HashSet::new();
    let mut stack: Vec<(Kind<'a>, String)> = Vec::new();
    seen.insert((start, start_id.to_string()));
    stack.push((start, start_id.to_string()));
    let mut push = |stack: &mut Vec<(Kind<'a>, String)>, kind: Kind<'a>, id: &str| {
        if seen.insert((kind, id.to_string())) {
            stack.push((kind, id.to_string()));
        }
    };
    let mut leaves = Vec::new();
    // Attribute and rule leaves hold or fail independently of the subject;
    // an error is left for the checks to report.
    let holds = |r: Result<bool>| !matches!(r, Ok(false));

    while let Some((kind, id)) = stack.pop() {
        let entity = kind.entity;
        if !subject_relation.is_empty()
            && kind.name == subject_relation
            && entity.name == subject_type
        {
            candidates.insert(id.clone());
        }
        match entity.member(kind.name) {
            Some(Member::Relation(_)) => {
                let rows = checker.read_rows(&entity.name, &id, None, kind.name)?;
                for t in rows.iter().chain(ctx.forward(&entity.name, &id, kind.name)) {
                    if t.ty == subject_type && t.relation == subject_relation {
                        candidates.insert(t.id.clone());
                    }
                    if !t.relation.is_empty()
                        && let Some(next) = graph.kind(&t.ty, &t.relation)
                    {
                        push(&mut stack, next, &t.id);
                    }
                }
                checker.release(rows);
            }
            Some(Member::Permission(i)) => {
                let Some(permission) = entity.permissions.get(i) else {
                    continue;
                };
                leaves.clear();
                graph.positive_leaves(entity, &permission.expr, &mut leaves);
                for leaf in leaves.iter().copied() {
                    match leaf {
                        Leaf::Computed(name) | Leaf::Attribute(name) => match entity.member(name) {
                            Some(Member::Attribute(_)) if !everyone => {
                                everyone =
                                    holds(checker.boolean_attribute(entity, &id, None, name));
                            }
                            Some(Member::Attribute(_)) => {}
                            Some(_) => push(&mut stack, Kind { entity, name }, &id),
                            None => {}
                        },
                        Leaf::Walk { relation, target } => {
                            let rows = checker.read_rows(&entity.name, &id, None, relation)?;
                            for t in rows.iter().chain(ctx.forward(&entity.name, &id, relation)) {
                                if let Some(next) = graph.kind(&t.ty, target) {
                                    push(&mut stack, next, &t.id);
                                }
                            }
                            checker.release(rows);
                        }
                        Leaf::Call { rule, .. } => {
                            if !everyone && let Some(rule) = schema.rule(rule) {
                                everyone = holds(checker.rule_holds(rule, entity, &id, None));
                            }
                        }
                    }
                }
            }
            Some(Member::Attribute(_)) => {
                if !everyone {
                    everyone = holds(checker.boolean_attribute(entity, &id, None, kind.name));
                }
            }
            None => {
                if !everyone && let Some(rule) = schema.rule(kind.name) {
                    everyone = holds(checker.rule_holds(rule, entity, &id, None));
                }
            }
        }
    }
    Ok((candidates, everyone))
}
