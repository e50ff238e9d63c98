//! What both lookups need to know about the schema: node kinds, the
//! *positive occurrences* of a permission's leaves with the *gate* that says
//! what else must hold when such a leaf is true, static heights, and (for
//! [`lookup_resources`](super::lookup_resources)) the reverse rule set of one
//! target.
//!
//! Everything here depends only on the schema and on the subject types that
//! the request's contextual tuples add to relations (contextual tuples are
//! not validated, so they can put any subject into any relation).

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::hash::{Hash, Hasher};
use std::rc::Rc;

use crate::engine::check::member_name;
use crate::engine::context::Context;
use crate::model::{EntityDef, Expr, Leaf, Member, RuleDef, Schema};

/// A node kind: a member of an entity type, or a rule applied to an entity
/// of that type (a call leaf, or a rule checked by name).
#[derive(Clone, Copy, Debug)]
pub(super) struct Kind<'a> {
    pub entity: &'a EntityDef,
    pub name: &'a str,
    /// `name` is a rule, not a member. Members and rules live in different
    /// namespaces, so the flag is part of the identity.
    pub rule: bool,
}

impl PartialEq for Kind<'_> {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.entity, other.entity)
            && self.rule == other.rule
            && self.name == other.name
    }
}
impl Eq for Kind<'_> {}
impl Hash for Kind<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self.entity as *const EntityDef as usize).hash(state);
        self.name.hash(state);
        self.rule.hash(state);
    }
}

/// What a node of a kind evaluates.
#[derive(Clone, Copy)]
pub(super) enum What<'a> {
    Relation,
    Permission(&'a Expr),
    Attribute,
    Rule(&'a RuleDef),
    /// A name the schema does not define (never produced for compiled
    /// schemas; such a node simply has no edges).
    Missing,
}

impl<'a> Kind<'a> {
    pub fn member(entity: &'a EntityDef, member: Member) -> Self {
        Kind {
            entity,
            name: member_name(entity, member),
            rule: false,
        }
    }

    pub fn rule(entity: &'a EntityDef, rule: &'a RuleDef) -> Self {
        Kind {
            entity,
            name: rule.name.as_str(),
            rule: true,
        }
    }

    pub fn what(&self, schema: &'a Schema) -> What<'a> {
        if self.rule {
            return schema.rule(self.name).map_or(What::Missing, What::Rule);
        }
        match self.entity.member(self.name) {
            Some(Member::Relation(_)) => What::Relation,
            Some(Member::Attribute(_)) => What::Attribute,
            Some(Member::Permission(i)) => self
                .entity
                .permissions
                .get(i)
                .map_or(What::Missing, |p| What::Permission(&p.expr)),
            None => What::Missing,
        }
    }
}

/// What has to be evaluated, besides a positive leaf, to know that the
/// permission holds when the leaf holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Gate {
    /// Only unions lie between the permission and the leaf: the leaf being
    /// true makes the permission true. This is the monotone part.
    Open,
    /// Intersections or exclusions lie above the leaf, and every other
    /// operand they need evaluated is acyclic in the schema graph: evaluating
    /// them visits at most `height` levels below the permission's node,
    /// whatever the data, and cannot reach back into the nodes above (a node
    /// above that the operands could reach would close a cycle).
    Residual { height: u32 },
    /// Some other operand is recursive: its evaluation has no static depth
    /// bound and could depend on the very nodes being derived. The
    /// permission is then only a candidate, decided by a full check.
    Closed,
}

/// A leaf that can make its permission true, with where it sits.
pub(super) struct Occurrence<'a> {
    pub leaf: &'a Leaf,
    /// Child indices from the expression's root down to the leaf (an
    /// exclusion's base is child 0).
    pub path: Vec<u32>,
    pub gate: Gate,
}

/// The schema viewed as a graph, with the subject types contextual tuples
/// add, and memoised analyses of its kinds.
pub(super) struct Graph<'a> {
    pub schema: &'a Schema,
    contextual_types: HashMap<(&'a str, &'a str), Vec<(&'a str, &'a str)>>,
    uses_attributes: HashMap<Kind<'a>, bool>,
    in_progress: HashSet<Kind<'a>>,
    heights: HashMap<Kind<'a>, Option<u32>>,
    height_in_progress: HashSet<Kind<'a>>,
    occurrences: HashMap<Kind<'a>, Rc<[Occurrence<'a>]>>,
}

impl<'a> Graph<'a> {
    pub fn new(schema: &'a Schema, ctx: &'a Context) -> Self {
        let mut contextual_types: HashMap<(&'a str, &'a str), Vec<(&'a str, &'a str)>> =
            HashMap::default();
        for (i, t) in ctx.tuples.iter().enumerate() {
            crate::engine::context::poll_every(i);
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
            uses_attributes: HashMap::default(),
            in_progress: HashSet::default(),
            heights: HashMap::default(),
            height_in_progress: HashSet::default(),
            occurrences: HashMap::default(),
        }
    }

    /// `(type, relation)` of every subject `entity#relation` may hold
    /// (`""` for a plain subject): the declared ones and contextual ones.
    pub fn subject_types(&self, entity: &'a EntityDef, relation: &str) -> Vec<(&'a str, &'a str)> {
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

    /// The distinct entity types of the subjects of `entity#relation`
    /// (what a walk over the relation can reach; it ignores the subject
    /// relation).
    pub fn walk_types(&self, entity: &'a EntityDef, relation: &str) -> Vec<&'a str> {
        let mut seen: Vec<&'a str> = Vec::new();
        for (ty, _) in self.subject_types(entity, relation) {
            if !seen.contains(&ty) {
                seen.push(ty);
            }
        }
        seen
    }

    /// The member kind `name` of entity type `ty`, if both exist.
    pub fn kind(&self, ty: &str, name: &str) -> Option<Kind<'a>> {
        let entity = self.schema.entity(ty)?;
        let member = entity.member(name)?;
        Some(Kind::member(entity, member))
    }

    /// The kinds a leaf of `entity`'s permission leads to, each with how a
    /// node of that kind connects back to the permission's node.
    pub fn leaf_children(
        &self,
        entity: &'a EntityDef,
        leaf: &'a Leaf,
    ) -> Vec<(Kind<'a>, Option<&'a str>)> {
        let mut out = Vec::new();
        match leaf {
            Leaf::Computed(name) | Leaf::Attribute(name) => {
                if let Some(member) = entity.member(name) {
                    out.push((Kind::member(entity, member), None));
                }
            }
            Leaf::Walk { relation, target } => {
                for ty in self.walk_types(entity, relation) {
                    if let Some(child) = self.kind(ty, target) {
                        out.push((child, Some(relation.as_str())));
                    }
                }
            }
            Leaf::Call { rule, .. } => {
                if let Some(rule) = self.schema.rule(rule) {
                    out.push((Kind::rule(entity, rule), None));
                }
            }
        }
        out
    }

    /// The positive occurrences of a permission kind's leaves (empty for
    /// other kinds): every leaf of a union, one chosen operand of an
    /// intersection (all operands are true when it is, so one suffices to
    /// find it), the base of an exclusion (the subtracted side can only
    /// remove answers). For a true node, some positive occurrence is true
    /// with its gate satisfied, which is what makes both searches complete.
    pub fn occurrences(&mut self, kind: Kind<'a>) -> Rc<[Occurrence<'a>]> {
        if let Some(o) = self.occurrences.get(&kind) {
            return Rc::clone(o);
        }
        let mut out = Vec::new();
        if let What::Permission(expr) = kind.what(self.schema) {
            let mut path = Vec::new();
            let mut others = Vec::new();
            self.collect(kind.entity, expr, &mut path, &mut others, &mut out);
        }
        let out: Rc<[Occurrence<'a>]> = out.into();
        self.occurrences.insert(kind, Rc::clone(&out));
        out
    }

    /// `others` holds the operands that must also be evaluated when the
    /// current subexpression is true (siblings in intersections, subtracted
    /// sides of exclusions) on the way down.
    fn collect(
        &mut self,
        entity: &'a EntityDef,
        expr: &'a Expr,
        path: &mut Vec<u32>,
        others: &mut Vec<&'a Expr>,
        out: &mut Vec<Occurrence<'a>>,
    ) {
        match expr {
            Expr::Leaf(leaf) => {
                let gate = if others.is_empty() {
                    Gate::Open
                } else {
                    let mut height = Some(0);
                    for other in others.iter() {
                        height = match (height, self.expr_height(entity, other)) {
                            (Some(a), Some(b)) => Some(a.max(b)),
                            _ => None,
                        };
                    }
                    match height {
                        Some(height) => Gate::Residual { height },
                        None => Gate::Closed,
                    }
                };
                out.push(Occurrence {
                    leaf,
                    path: path.clone(),
                    gate,
                });
            }
            Expr::Or(children) => {
                for (i, c) in children.iter().enumerate() {
                    path.push(i as u32);
                    self.collect(entity, c, path, others, out);
                    path.pop();
                }
            }
            Expr::And(children) => {
                // Follow the first operand whose truth never rests on an
                // attribute or rule (its nodes are found through tuples,
                // not through every entity with an attribute); the others
                // become part of the gate.
                let chosen = children
                    .iter()
                    .position(|c| !self.expr_uses_attributes(entity, c))
                    .unwrap_or(0);
                let Some(child) = children.get(chosen) else {
                    return;
                };
                let before = others.len();
                for (i, c) in children.iter().enumerate() {
                    if i != chosen {
                        others.push(c);
                    }
                }
                path.push(chosen as u32);
                self.collect(entity, child, path, others, out);
                path.pop();
                others.truncate(before);
            }
            Expr::Not(base, subtract) => {
                others.push(subtract);
                path.push(0);
                self.collect(entity, base, path, others, out);
                path.pop();
                others.pop();
            }
        }
    }

    /// The most levels below a node of `kind` that evaluating it can visit,
    /// whatever the data; `None` if unbounded (a cycle in the schema graph
    /// is reachable). Levels are counted as the checker counts depth: every
    /// relation, permission, attribute or rule dispatch, userset hop and
    /// walk hop is one.
    pub fn height(&mut self, kind: Kind<'a>) -> Option<u32> {
        if let Some(&h) = self.heights.get(&kind) {
            return h;
        }
        if !self.height_in_progress.insert(kind) {
            // A cycle: every kind on the way here reaches it. Callers up
            // the recursion get None and memoise it, which is right for
            // them too (they reach the cycle).
            return None;
        }
        let h = match kind.what(self.schema) {
            What::Relation => {
                let mut h = Some(0);
                for (ty, rel) in self.subject_types(kind.entity, kind.name) {
                    if rel.is_empty() {
                        continue;
                    }
                    if let Some(child) = self.kind(ty, rel) {
                        h = match (h, self.height(child)) {
                            (Some(a), Some(b)) => Some(a.max(b.saturating_add(1))),
                            _ => None,
                        };
                    }
                }
                h
            }
            What::Permission(expr) => self.expr_height(kind.entity, expr),
            What::Attribute | What::Rule(_) | What::Missing => Some(0),
        };
        self.height_in_progress.remove(&kind);
        self.heights.insert(kind, h);
        h
    }

    /// [`Graph::height`] of an expression of `entity`: its leaves are one
    /// level below the node owning the expression.
    pub fn expr_height(&mut self, entity: &'a EntityDef, expr: &'a Expr) -> Option<u32> {
        match expr {
            Expr::Leaf(leaf) => {
                let mut h = Some(1);
                for (child, _) in self.leaf_children(entity, leaf) {
                    h = match (h, self.height(child)) {
                        (Some(a), Some(b)) => Some(a.max(b.saturating_add(1))),
                        _ => None,
                    };
                }
                h
            }
            Expr::Or(children) | Expr::And(children) => {
                let mut h = Some(0);
                for c in children {
                    h = match (h, self.expr_height(entity, c)) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        _ => None,
                    };
                }
                h
            }
            Expr::Not(base, subtract) => {
                match (
                    self.expr_height(entity, base),
                    self.expr_height(entity, subtract),
                ) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                }
            }
        }
    }

    /// Whether `expr` can be true through an attribute or rule leaf. Only a
    /// heuristic for choosing among intersection operands: a cycle counts
    /// as "no".
    fn expr_uses_attributes(&mut self, entity: &'a EntityDef, expr: &'a Expr) -> bool {
        match expr {
            Expr::Leaf(Leaf::Call { .. }) => true,
            Expr::Leaf(leaf) => {
                let mut uses = false;
                for (child, _) in self.leaf_children(entity, leaf) {
                    uses |= self.kind_uses_attributes(child);
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
        let uses = match kind.what(self.schema) {
            What::Relation => {
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
            What::Permission(expr) => self.expr_uses_attributes(kind.entity, expr),
            What::Attribute | What::Rule(_) => true,
            What::Missing => false,
        };
        self.in_progress.remove(&kind);
        self.uses_attributes.insert(kind, uses);
        uses
    }
}

/// How a node connects to a parent node in the reverse rule set.
#[derive(Clone, Copy, Debug)]
pub(super) enum Via<'a> {
    /// The parent's expression names the child's member (or calls the
    /// child's rule) on the same entity.
    Same,
    /// The parent relation holds the child node as a subject set
    /// `T:id#subject_relation`.
    Userset {
        relation: &'a str,
        subject_relation: &'a str,
    },
    /// The parent's expression walks `relation` to the child's entity
    /// (whatever the stored subject relation).
    Walk { relation: &'a str },
}

/// What the truth of a child node says about its parent.
#[derive(Clone, Copy, Debug)]
pub(super) enum EdgeGate {
    /// The parent is true.
    Open,
    /// The parent is true iff [`Residual`] number `n` evaluates to true.
    Residual(usize),
    /// The parent is a candidate.
    Closed,
}

/// A reverse edge: a true node of the child's kind can make `parent` true.
#[derive(Clone, Copy, Debug)]
pub(super) struct Up<'a> {
    pub parent: usize,
    pub via: Via<'a>,
    pub gate: EdgeGate,
}

/// A gated occurrence: the parent permission's expression and the path to
/// the leaf known to be true.
pub(super) struct Residual<'a> {
    pub expr: &'a Expr,
    pub path: Vec<u32>,
    pub height: u32,
}

/// The reverse rule set of one target kind: every kind the target depends
/// on through positive occurrences, and the edges from each kind up to the
/// kinds its nodes can make true. Node 0 is the target.
pub(super) struct Plan<'a> {
    pub nodes: Vec<Kind<'a>>,
    index: HashMap<Kind<'a>, usize>,
    pub ups: Vec<Vec<Up<'a>>>,
    pub residuals: Vec<Residual<'a>>,
}

impl<'a> Plan<'a> {
    pub fn build(graph: &mut Graph<'a>, target: Kind<'a>) -> Self {
        let mut plan = Plan {
            nodes: vec![target],
            index: [(target, 0)].into_iter().collect(),
            ups: vec![Vec::new()],
            residuals: Vec::new(),
        };
        let mut work = vec![0usize];
        while let Some(n) = work.pop() {
            let kind = plan.nodes[n];
            match kind.what(graph.schema) {
                What::Relation => {
                    for (ty, rel) in graph.subject_types(kind.entity, kind.name) {
                        if rel.is_empty() {
                            continue;
                        }
                        if let Some(child) = graph.kind(ty, rel) {
                            let via = Via::Userset {
                                relation: kind.name,
                                subject_relation: child.name,
                            };
                            plan.edge(&mut work, child, n, via, EdgeGate::Open);
                        }
                    }
                }
                What::Permission(expr) => {
                    for occ in graph.occurrences(kind).iter() {
                        let gate = match occ.gate {
                            Gate::Open => EdgeGate::Open,
                            Gate::Closed => EdgeGate::Closed,
                            Gate::Residual { height } => {
                                plan.residuals.push(Residual {
                                    expr,
                                    path: occ.path.clone(),
                                    height,
                                });
                                EdgeGate::Residual(plan.residuals.len() - 1)
                            }
                        };
                        for (child, walk) in graph.leaf_children(kind.entity, occ.leaf) {
                            let via = match walk {
                                Some(relation) => Via::Walk { relation },
                                None => Via::Same,
                            };
                            plan.edge(&mut work, child, n, via, gate);
                        }
                    }
                }
                What::Attribute | What::Rule(_) | What::Missing => {}
            }
        }
        plan
    }

    fn edge(
        &mut self,
        work: &mut Vec<usize>,
        child: Kind<'a>,
        parent: usize,
        via: Via<'a>,
        gate: EdgeGate,
    ) {
        let c = match self.index.get(&child) {
            Some(&c) => c,
            None => {
                let c = self.nodes.len();
                self.nodes.push(child);
                self.index.insert(child, c);
                self.ups.push(Vec::new());
                work.push(c);
                c
            }
        };
        self.ups[c].push(Up { parent, via, gate });
    }

    /// The node of `kind`, if the target depends on it.
    pub fn node(&self, kind: Kind<'a>) -> Option<usize> {
        self.index.get(&kind).copied()
    }
}

