//! Settling a node exactly: its well-founded value and the height of its
//! shortest proof, computed over everything the node reaches, without
//! depth-first search (see "Settling" in the module docs of
//! [`check`](super)).
//!
//! Three phases, each polynomial:
//! 1. **Ground.** From the node, every node it reaches is read once and its
//!    rule written as a formula over leaves (tuples, attribute values, rule
//!    results) and other nodes — breadth first, no recursion, bounded by
//!    [`CheckOptions::max_fixpoint_size`](super::CheckOptions).
//! 2. **Order.** The graph of these nodes is cut into strongly connected
//!    components; they are settled so that every node a component uses from
//!    outside is already settled.
//! 3. **Settle** each component by the alternating fixpoint (Van Gelder):
//!    the nodes surely true are the least fixpoint where a subtracted side
//!    counts as absent only if it is surely impossible; the nodes possibly
//!    true the least fixpoint where it counts as absent unless surely
//!    true; alternate until nothing changes. Surely true nodes get their
//!    smallest proof height on the way (Knuth's generalisation of
//!    Dijkstra's algorithm: a height only grows along a proof). A node
//!    neither surely true nor impossible is *undetermined*.
//!
//! A component without a cycle through an exclusion is settled by its first
//! round (true = least fixpoint, false = everything else), which is what the
//! depth-first check computes; only a cycle through an exclusion in the data
//! needs more rounds, each linear in the component.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rustc_hash::FxHashMap as HashMap;

use super::{Checker, Entry, NO_LOW, NodeKind, Outcome, Step, member_name, undefined_member};
use crate::engine::source::TupleSource;
use crate::error::{Error, ErrorKind, Result};
use crate::graph::strongly_connected_components;
use crate::model::{EntityDef, Expr, Leaf, Member};
use crate::tuple::SubjectRef;

/// One term of a node's formula.
#[derive(Debug, Clone, Copy)]
enum Term {
    /// A leaf that holds, and the height its test relies on relative to the
    /// node (0: none below the node; 1: one dispatch below it).
    Holds(u32),
    /// A leaf that does not hold.
    Fails,
    /// A leaf that failed (a rule error, kept in `Graph::errors`): neither
    /// true nor false.
    Failed,
    /// Another node, one dispatch below.
    Node(u32),
    /// Children `kids[from..to]`.
    Or(u32, u32),
    And(u32, u32),
    /// Base and subtracted side.
    Not(u32, u32),
}

/// What a row of a relation stands for in a formula.
#[derive(Clone, Copy)]
enum RowsOf<'t> {
    /// The relation itself: a row naming the subject holds, a subject set
    /// is its node.
    Relation,
    /// A walk `relation.target`: `target` on the row's subject (whose own
    /// relation is ignored, as in Permify).
    Walk(&'t str),
}

/// A node of the ground graph.
struct Ground<'s> {
    entity: &'s EntityDef,
    member: Member,
    id: Box<str>,
    /// The root of its formula (set once the node is read).
    formula: u32,
}

/// The ground graph of one settle call.
struct Graph<'s> {
    nodes: Vec<Ground<'s>>,
    at: HashMap<NodeKind, HashMap<Box<str>, u32>>,
    terms: Vec<Term>,
    kids: Vec<u32>,
    /// The nodes each node's formula names.
    succ: Vec<Vec<u32>>,
    errors: Vec<Error>,
    limit: usize,
}

impl<'s> Graph<'s> {
    fn size(&self) -> usize {
        self.nodes.len() + self.terms.len()
    }

    fn term(&mut self, t: Term) -> Result<u32> {
        if self.size() >= self.limit {
            return Err(too_large(self.limit));
        }
        self.terms.push(t);
        Ok((self.terms.len() - 1) as u32)
    }

    fn list(&mut self, kids: &[u32], make: fn(u32, u32) -> Term, empty: Term) -> Result<u32> {
        if kids.is_empty() {
            return self.term(empty);
        }
        if let [one] = kids {
            return Ok(*one);
        }
        let from = self.kids.len() as u32;
        self.kids.extend_from_slice(kids);
        self.term(make(from, self.kids.len() as u32))
    }

    /// The node `entity:id#member`, added (to be read) if new.
    fn node(&mut self, entity: &'s EntityDef, member: Member, id: &str) -> Result<u32> {
        let kind = NodeKind::new(entity, member);
        if let Some(&n) = self.at.get(&kind).and_then(|ids| ids.get(id)) {
            return Ok(n);
        }
        if self.size() >= self.limit {
            return Err(too_large(self.limit));
        }
        let n = self.nodes.len() as u32;
        self.nodes.push(Ground {
            entity,
            member,
            id: id.into(),
            formula: u32::MAX,
        });
        self.succ.push(Vec::new());
        self.at.entry(kind).or_default().insert(id.into(), n);
        Ok(n)
    }
}

#[cold]
fn too_large(limit: usize) -> Error {
    Error::new(
        ErrorKind::LimitExceeded,
        format!(
            "permission check reached more than {limit} nodes and edges while settling a cycle or a chain deeper than notion_rbac.max_depth"
        ),
    )
    .with_hint("raise notion_rbac.max_fixpoint_size, or lower notion_rbac.max_depth so that the check fails sooner")
}

/// Where the current component's working values are: a node of component
/// `comp` reads `vals[local[node]]`, every other node the settled values.
struct Work<'w, V> {
    comp: u32,
    comp_of: &'w [u32],
    local: &'w [u32],
    vals: &'w [V],
}

impl<V: Copy> Work<'_, V> {
    fn get(&self, node: u32) -> Option<V> {
        let n = node as usize;
        if self.comp_of.get(n) == Some(&self.comp) {
            self.vals.get(self.local[n] as usize).copied()
        } else {
            None
        }
    }
}

/// The settled values: `sure[n]` the height of `n`'s shortest proof if it is
/// surely true, `possible[n]` whether it may be true.
struct Values {
    sure: Vec<Option<u32>>,
    possible: Vec<bool>,
}

impl Graph<'_> {
    /// The height of term `x` if it surely holds: nodes of the current
    /// component read `work`, others and every subtracted side the settled
    /// (or, inside the component, previous round's) values.
    fn lower(&self, x: u32, work: &Work<'_, Option<u32>>, v: &Values) -> Option<u32> {
        match self.terms[x as usize] {
            Term::Holds(h) => Some(h),
            Term::Fails | Term::Failed => None,
            Term::Node(r) => work
                .get(r)
                .unwrap_or(v.sure[r as usize])
                .map(|h| h.saturating_add(1)),
            Term::Or(a, b) => self.kids[a as usize..b as usize]
                .iter()
                .filter_map(|&k| self.lower(k, work, v))
                .min(),
            Term::And(a, b) => {
                let mut height = 0;
                for &k in &self.kids[a as usize..b as usize] {
                    height = height.max(self.lower(k, work, v)?);
                }
                Some(height)
            }
            Term::Not(base, subtract) => {
                let h = self.lower(base, work, v)?;
                (!self.upper(subtract, &Work::settled(), v)).then_some(h)
            }
        }
    }

    /// Whether term `x` may hold (the mirror of [`Graph::lower`]).
    fn upper(&self, x: u32, work: &Work<'_, bool>, v: &Values) -> bool {
        match self.terms[x as usize] {
            Term::Holds(_) | Term::Failed => true,
            Term::Fails => false,
            Term::Node(r) => work.get(r).unwrap_or(v.possible[r as usize]),
            Term::Or(a, b) => self.kids[a as usize..b as usize]
                .iter()
                .any(|&k| self.upper(k, work, v)),
            Term::And(a, b) => self.kids[a as usize..b as usize]
                .iter()
                .all(|&k| self.upper(k, work, v)),
            Term::Not(base, subtract) => {
                self.upper(base, work, v) && self.lower(subtract, &Work::settled(), v).is_none()
            }
        }
    }

    /// Settles every node (see the module docs).
    fn settle(&self) -> Values {
        let n = self.nodes.len();
        let mut users: Vec<Vec<u32>> = vec![Vec::new(); n];
        for (v, s) in self.succ.iter().enumerate() {
            crate::engine::context::poll_every(v);
            for &w in s {
                users[w as usize].push(v as u32);
            }
        }
        let mut values = Values {
            sure: vec![None; n],
            possible: vec![true; n],
        };
        let mut comp_of = vec![u32::MAX; n];
        let mut local = vec![0u32; n];
        for (c, members) in strongly_connected_components(&self.succ).iter().enumerate() {
            crate::engine::context::poll_every(c);
            let c = c as u32;
            for (i, &m) in members.iter().enumerate() {
                comp_of[m as usize] = c;
                local[m as usize] = i as u32;
            }
            let cyclic = members.len() > 1 || self.succ[members[0] as usize].contains(&members[0]);
            loop {
                let sure = self.least_sure(c, members, &comp_of, &local, &users, &values);
                let mut changed = false;
                for (i, &m) in members.iter().enumerate() {
                    changed |= values.sure[m as usize] != sure[i];
                    values.sure[m as usize] = sure[i];
                }
                let possible = self.least_possible(c, members, &comp_of, &local, &users, &values);
                for (i, &m) in members.iter().enumerate() {
                    changed |= values.possible[m as usize] != possible[i];
                    values.possible[m as usize] = possible[i];
                }
                if !cyclic || !changed {
                    break;
                }
            }
        }
        values
    }

    /// The surely true nodes of component `c` and their proof heights,
    /// smallest first.
    fn least_sure(
        &self,
        c: u32,
        members: &[u32],
        comp_of: &[u32],
        local: &[u32],
        users: &[Vec<u32>],
        values: &Values,
    ) -> Vec<Option<u32>> {
        let mut sure: Vec<Option<u32>> = vec![None; members.len()];
        let mut done = vec![false; members.len()];
        let mut queue = BinaryHeap::new();
        for (i, &m) in members.iter().enumerate() {
            let work = Work {
                comp: c,
                comp_of,
                local,
                vals: &sure,
            };
            let h = self.lower(self.nodes[m as usize].formula, &work, values);
            if let Some(h) = h {
                sure[i] = Some(h);
                queue.push(Reverse((h, i as u32)));
            }
        }
        while let Some(Reverse((h, i))) = queue.pop() {
            let i = i as usize;
            if done[i] || sure[i] != Some(h) {
                continue;
            }
            done[i] = true;
            crate::interrupt::poll();
            for &u in &users[members[i] as usize] {
                if comp_of[u as usize] != c {
                    continue;
                }
                let lu = local[u as usize] as usize;
                if done[lu] || sure[lu].is_some_and(|x| x <= h.saturating_add(1)) {
                    continue;
                }
                let work = Work {
                    comp: c,
                    comp_of,
                    local,
                    vals: &sure,
                };
                if let Some(h2) = self.lower(self.nodes[u as usize].formula, &work, values)
                    && sure[lu].is_none_or(|x| h2 < x)
                {
                    sure[lu] = Some(h2);
                    queue.push(Reverse((h2, lu as u32)));
                }
            }
        }
        sure
    }

    /// The possibly true nodes of component `c`.
    fn least_possible(
        &self,
        c: u32,
        members: &[u32],
        comp_of: &[u32],
        local: &[u32],
        users: &[Vec<u32>],
        values: &Values,
    ) -> Vec<bool> {
        let mut possible = vec![false; members.len()];
        let mut queue = Vec::new();
        for (i, &m) in members.iter().enumerate() {
            let work = Work {
                comp: c,
                comp_of,
                local,
                vals: &possible,
            };
            if self.upper(self.nodes[m as usize].formula, &work, values) {
                possible[i] = true;
                queue.push(i);
            }
        }
        while let Some(i) = queue.pop() {
            crate::interrupt::poll();
            for &u in &users[members[i] as usize] {
                if comp_of[u as usize] != c {
                    continue;
                }
                let lu = local[u as usize] as usize;
                if possible[lu] {
                    continue;
                }
                let work = Work {
                    comp: c,
                    comp_of,
                    local,
                    vals: &possible,
                };
                if self.upper(self.nodes[u as usize].formula, &work, values) {
                    possible[lu] = true;
                    queue.push(lu);
                }
            }
        }
        possible
    }
}

impl<V> Work<'_, V> {
    /// Reads settled values only (subtracted sides).
    fn settled() -> Self {
        Work {
            comp: u32::MAX,
            comp_of: &[],
            local: &[],
            vals: &[],
        }
    }
}

impl<'a, S: TupleSource + ?Sized> Checker<'a, S> {
    /// The node `entity:id#member` at position `pos`, settled exactly (see
    /// "Settling" in the module docs). Every node settled on the way is
    /// memoised: its value does not depend on any path.
    pub(super) fn settle(
        &mut self,
        entity: &EntityDef,
        member: Member,
        id: &str,
        pos: u32,
        subject: &SubjectRef,
    ) -> Step<Outcome> {
        let schema = self.schema;
        let Some(entity) = schema.entities.get(entity.index) else {
            return Err(Box::new(Error::internal("entity outside the schema")));
        };
        let graph = self.ground(entity, member, id, subject).map_err(Box::new)?;
        let values = graph.settle();
        for (n, node) in graph.nodes.iter().enumerate() {
            let entry = match (values.sure[n], values.possible[n]) {
                (Some(height), _) => Entry {
                    value: true,
                    height,
                    settled: true,
                },
                (None, false) => Entry {
                    value: false,
                    height: 0,
                    settled: true,
                },
                (None, true) => continue,
            };
            let kind = NodeKind::new(node.entity, node.member);
            self.memo.insert_keyed(kind, &node.id, entry, subject);
        }
        let name = member_name(entity, member);
        match (values.sure[0], values.possible[0]) {
            (Some(height), _) => {
                let deep = pos.saturating_add(height);
                if deep > self.opts.max_depth {
                    return Err(Box::new(self.too_tall(entity, id, name, deep)));
                }
                Ok(Outcome {
                    value: true,
                    low: NO_LOW,
                    deep,
                })
            }
            (None, false) => Ok(Outcome {
                value: false,
                low: NO_LOW,
                deep: pos,
            }),
            (None, true) => Err(Box::new(match graph.errors.into_iter().next() {
                Some(e) => e,
                None => undetermined(entity, id, name),
            })),
        }
    }

    #[cold]
    fn too_tall(&self, entity: &EntityDef, id: &str, name: &str, deep: u32) -> Error {
        Error::new(
            ErrorKind::DepthExceeded,
            format!(
                "permission check exceeded the maximum depth of {} at {}:{}#{}: its shortest proof needs depth {deep}; raise notion_rbac.max_depth if the hierarchy is this deep",
                self.opts.max_depth, entity.name, id, name
            ),
        )
    }

    /// Reads every node `entity:id#member` reaches (phase 1).
    fn ground(
        &mut self,
        entity: &'a EntityDef,
        member: Member,
        id: &str,
        subject: &SubjectRef,
    ) -> Result<Graph<'a>> {
        let mut g = Graph {
            nodes: Vec::new(),
            at: HashMap::default(),
            terms: Vec::new(),
            kids: Vec::new(),
            succ: Vec::new(),
            errors: Vec::new(),
            limit: self.opts.max_fixpoint_size,
        };
        g.node(entity, member, id)?;
        let mut next = 0;
        while next < g.nodes.len() {
            crate::interrupt::poll();
            let (entity, member) = (g.nodes[next].entity, g.nodes[next].member);
            let id = g.nodes[next].id.clone();
            let mut refs = Vec::new();
            let formula = match member {
                Member::Relation(_) => self.relation_formula(&mut g, entity, member, &id, subject, &mut refs)?,
                Member::Permission(i) => match entity.permissions.get(i) {
                    Some(p) => self.expr_formula(&mut g, entity, &id, &p.expr, subject, &mut refs)?,
                    None => return Err(Error::internal("permission outside its entity")),
                },
                Member::Attribute(_) => return Err(Error::internal("attribute in the ground graph")),
            };
            g.nodes[next].formula = formula;
            refs.sort_unstable();
            refs.dedup();
            g.succ[next] = refs;
            next += 1;
        }
        Ok(g)
    }

    /// A relation: a tuple naming the subject holds; a subject set is a node.
    fn relation_formula(
        &mut self,
        g: &mut Graph<'a>,
        entity: &'a EntityDef,
        member: Member,
        id: &str,
        subject: &SubjectRef,
        refs: &mut Vec<u32>,
    ) -> Result<u32> {
        let relation = member_name(entity, member);
        self.rows_formula(g, entity, id, relation, RowsOf::Relation, subject, refs)
    }

    /// An `or` over the stored and contextual rows of `entity:id#relation`,
    /// each standing for what `of` says.
    #[allow(clippy::too_many_arguments)]
    fn rows_formula(
        &mut self,
        g: &mut Graph<'a>,
        entity: &'a EntityDef,
        id: &str,
        relation: &str,
        of: RowsOf<'_>,
        subject: &SubjectRef,
        refs: &mut Vec<u32>,
    ) -> Result<u32> {
        let schema = self.schema;
        let rows = self.read_rows(&entity.name, id, None, relation)?;
        let ctx = self.ctx.clone();
        let mut kids = Vec::new();
        let mut holds = false;
        let mut result = Ok(());
        for t in rows.iter().chain(ctx.forward(&entity.name, id, relation)) {
            let (ty, name) = match of {
                RowsOf::Relation if t == subject => {
                    holds = true;
                    break;
                }
                RowsOf::Relation if t.relation.is_empty() => continue,
                RowsOf::Relation => (t.ty.as_str(), t.relation.as_str()),
                RowsOf::Walk(target) => (t.ty.as_str(), target),
            };
            // Data the schema cannot interpret grants nothing.
            let Some(e) = schema.entity(ty) else {
                continue;
            };
            let Some(m) = e.member(name) else {
                continue;
            };
            match self.reference(g, e, m, &t.id, subject, refs) {
                Ok(k) => kids.push(k),
                Err(err) => {
                    result = Err(err);
                    break;
                }
            }
        }
        self.release(rows);
        result?;
        if holds {
            return g.term(Term::Holds(0));
        }
        g.list(&kids, Term::Or, Term::Fails)
    }

    /// The term for node `entity:id#member` named by another node's formula.
    fn reference(
        &mut self,
        g: &mut Graph<'a>,
        entity: &'a EntityDef,
        member: Member,
        id: &str,
        subject: &SubjectRef,
        refs: &mut Vec<u32>,
    ) -> Result<u32> {
        let name = member_name(entity, member);
        // The self shortcut answers before any depth test.
        if subject.relation == name && subject.id == id && subject.ty == entity.name {
            return g.term(Term::Holds(0));
        }
        if let Member::Attribute(_) = member {
            let value = self.boolean_attribute(entity, id, None, name)?;
            return g.term(if value { Term::Holds(1) } else { Term::Fails });
        }
        // A node settled earlier (by this call or an earlier one of a batch
        // or lookup) is a leaf now: its value and smallest height are exact.
        if let Some(e) = self.memo.get(NodeKind::new(entity, member), id, false)
            && e.settled
        {
            return g.term(if e.value { Term::Holds(e.height.saturating_add(1)) } else { Term::Fails });
        }
        let n = g.node(entity, member, id)?;
        refs.push(n);
        g.term(Term::Node(n))
    }

    fn expr_formula(
        &mut self,
        g: &mut Graph<'a>,
        entity: &'a EntityDef,
        id: &str,
        expr: &'a Expr,
        subject: &SubjectRef,
        refs: &mut Vec<u32>,
    ) -> Result<u32> {
        match expr {
            Expr::Leaf(Leaf::Computed(name) | Leaf::Attribute(name)) => match entity.member(name) {
                Some(m) => self.reference(g, entity, m, id, subject, refs),
                None => Err(undefined_member(entity, name)),
            },
            Expr::Leaf(Leaf::Walk { relation, target }) => {
                self.rows_formula(g, entity, id, relation, RowsOf::Walk(target), subject, refs)
            }
            Expr::Leaf(Leaf::Call { rule, .. }) => {
                let Some(def) = self.schema.rule(rule) else {
                    return Err(Error::internal(format!("rule \"{rule}\" is not defined in the schema")));
                };
                match self.rule_holds(def, entity, id, None) {
                    Ok(true) => g.term(Term::Holds(1)),
                    Ok(false) => g.term(Term::Fails),
                    Err(e) if e.kind == ErrorKind::RuleEvaluation => {
                        g.errors.push(e);
                        g.term(Term::Failed)
                    }
                    Err(e) => Err(e),
                }
            }
            Expr::Or(children) | Expr::And(children) => {
                let mut kids = Vec::with_capacity(children.len());
                for c in children {
                    kids.push(self.expr_formula(g, entity, id, c, subject, refs)?);
                }
                if matches!(expr, Expr::Or(_)) {
                    g.list(&kids, Term::Or, Term::Fails)
                } else {
                    g.list(&kids, Term::And, Term::Holds(0))
                }
            }
            Expr::Not(base, subtract) => {
                let b = self.expr_formula(g, entity, id, base, subject, refs)?;
                let s = self.expr_formula(g, entity, id, subtract, subject, refs)?;
                g.term(Term::Not(b, s))
            }
        }
    }
}

#[cold]
fn undetermined(entity: &EntityDef, id: &str, name: &str) -> Error {
    Error::new(
        ErrorKind::Undetermined,
        format!(
            "{}:{}#{} is neither true nor false: it depends on its own exclusion through a cycle in the data",
            entity.name, id, name
        ),
    )
    .with_hint("remove the cycle from the relationships, or change the schema so that no permission excludes itself through a relation")
}
