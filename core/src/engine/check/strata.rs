//! Where node kinds sit in the schema's graph: which of them lie on a
//! cycle through the subtracted side of an exclusion, so that the check
//! settles their nodes instead of searching them (see "Settling" in the
//! module docs of [`check`](super)).

use rustc_hash::FxHashMap as HashMap;

use super::memo::NodeKind;
use crate::engine::context::Context;
use crate::model::{EntityDef, Expr, Leaf, Member, Schema};

/// For the node kinds analysed so far, whether each lies on a cycle
/// through the subtracted side of an exclusion (its strongly connected
/// component of the kind graph contains such an edge: it is not
/// stratified there).
#[derive(Default)]
pub(super) struct Strata {
    pub(super) info: HashMap<NodeKind, bool>,
}

/// An edge of the kind graph: the kind a node's evaluation can visit, and
/// whether it is visited inside the subtracted side of an exclusion.
type KindEdge<'a> = (&'a EntityDef, Member, bool);

/// Every kind the check can visit directly from a node of kind
/// `entity#member`: the declared subject sets of a relation and the
/// members its walks reach on the declared subject types (stored tuples
/// always fit the schema: every write path validates them), plus whatever
/// the contextual tuples add (those are not validated).
fn kind_edges<'a>(
    schema: &'a Schema,
    ctx: &Context,
    entity: &'a EntityDef,
    member: Member,
    out: &mut Vec<KindEdge<'a>>,
) {
    match member {
        Member::Relation(i) => {
            let Some(rel) = entity.relations.get(i) else {
                return;
            };
            for st in &rel.subject_types {
                if let Some(r) = &st.relation {
                    push_member(schema, &st.entity, r, false, out);
                }
            }
            for (i, t) in ctx.tuples.iter().enumerate() {
                crate::engine::context::poll_every(i);
                if !t.subject.relation.is_empty()
                    && t.relation == rel.name
                    && t.entity.ty == entity.name
                {
                    push_member(schema, &t.subject.ty, &t.subject.relation, false, out);
                }
            }
        }
        Member::Permission(i) => {
            if let Some(p) = entity.permissions.get(i) {
                expr_edges(schema, ctx, entity, &p.expr, false, out);
            }
        }
        Member::Attribute(_) => {}
    }
}

fn push_member<'a>(
    schema: &'a Schema,
    ty: &str,
    name: &str,
    negative: bool,
    out: &mut Vec<KindEdge<'a>>,
) {
    if let Some(e) = schema.entity(ty)
        && let Some(m) = e.member(name)
    {
        out.push((e, m, negative));
    }
}

fn expr_edges<'a>(
    schema: &'a Schema,
    ctx: &Context,
    entity: &'a EntityDef,
    expr: &'a Expr,
    negative: bool,
    out: &mut Vec<KindEdge<'a>>,
) {
    match expr {
        Expr::Leaf(Leaf::Computed(name) | Leaf::Attribute(name)) => {
            if let Some(m) = entity.member(name) {
                out.push((entity, m, negative));
            }
        }
        Expr::Leaf(Leaf::Walk { relation, target }) => {
            if let Some(rel) = entity.relation(relation) {
                for st in &rel.subject_types {
                    push_member(schema, &st.entity, target, negative, out);
                }
            }
            for (i, t) in ctx.tuples.iter().enumerate() {
                crate::engine::context::poll_every(i);
                if t.relation == *relation && t.entity.ty == entity.name {
                    push_member(schema, &t.subject.ty, target, negative, out);
                }
            }
        }
        Expr::Leaf(Leaf::Call { .. }) => {}
        Expr::Or(children) | Expr::And(children) => {
            for c in children {
                expr_edges(schema, ctx, entity, c, negative, out);
            }
        }
        Expr::Not(base, subtract) => {
            expr_edges(schema, ctx, entity, base, negative, out);
            expr_edges(schema, ctx, entity, subtract, true, out);
        }
    }
}

/// Adds to `strata` every kind reachable from `entity#member`. Kinds
/// analysed by an earlier call are skipped: their components are complete,
/// and none of them can reach a kind that was not analysed with them.
pub(super) fn analyse<'a>(
    schema: &'a Schema,
    ctx: &Context,
    strata: &mut Strata,
    entity: &'a EntityDef,
    member: Member,
) {
    let root = NodeKind::new(entity, member);
    if strata.info.contains_key(&root) {
        return;
    }
    let mut kinds: Vec<(&'a EntityDef, Member)> = vec![(entity, member)];
    let mut at: HashMap<NodeKind, u32> = HashMap::default();
    at.insert(root, 0);
    let mut edges: Vec<Vec<(u32, bool)>> = Vec::new();
    let mut out = Vec::new();
    while edges.len() < kinds.len() {
        let (e, m) = kinds[edges.len()];
        out.clear();
        kind_edges(schema, ctx, e, m, &mut out);
        let mut mine = Vec::with_capacity(out.len());
        for &(te, tm, negative) in &out {
            let target = NodeKind::new(te, tm);
            if strata.info.contains_key(&target) {
                continue;
            }
            let w = *at.entry(target).or_insert_with(|| {
                kinds.push((te, tm));
                (kinds.len() - 1) as u32
            });
            mine.push((w, negative));
        }
        edges.push(mine);
    }
    let succ: Vec<Vec<u32>> = edges
        .iter()
        .map(|es| es.iter().map(|&(w, _)| w).collect())
        .collect();
    let mut comp_of = vec![0usize; kinds.len()];
    let components = crate::graph::strongly_connected_components(&succ);
    for (c, members) in components.iter().enumerate() {
        for &v in members {
            comp_of[v as usize] = c;
        }
    }
    for (c, members) in components.iter().enumerate() {
        let negated_cycle = members.iter().any(|&v| {
            edges[v as usize]
                .iter()
                .any(|&(w, negative)| negative && comp_of[w as usize] == c)
        });
        for &v in members {
            let (e, m) = kinds[v as usize];
            strata.info.insert(NodeKind::new(e, m), negated_cycle);
        }
    }
}

/// For every member of every entity (by [`EntityDef::index`] and
/// [`EntityDef::ordinal`]), whether it lies on a cycle through an exclusion
/// in the schema's own graph. Computed once per compiled schema.
pub(super) fn schema_strata(schema: &Schema) -> Vec<Vec<bool>> {
    let ctx = Context::default();
    let mut strata = Strata::default();
    let members = |e: &EntityDef| {
        (0..e.relations.len())
            .map(Member::Relation)
            .chain((0..e.attributes.len()).map(Member::Attribute))
            .chain((0..e.permissions.len()).map(Member::Permission))
            .collect::<Vec<_>>()
    };
    for e in &schema.entities {
        for m in members(e) {
            analyse(schema, &ctx, &mut strata, e, m);
        }
    }
    schema
        .entities
        .iter()
        .map(|e| {
            members(e)
                .into_iter()
                .map(|m| strata.info.get(&NodeKind::new(e, m)).copied().unwrap_or(false))
                .collect()
        })
        .collect()
}
