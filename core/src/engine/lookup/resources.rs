//! `lookup_resources`: the reverse expansion from the subject (see the
//! parent module's docs for the rule it follows and why it is exact).

use rustc_hash::FxHashMap as HashMap;

use super::analysis::{EdgeGate, Graph, Kind, Plan, Up, Via, What};
use super::state_ids::{SortScratch, StateIds};
use super::{LookupStats, target_kind};
use crate::engine::check::{CheckOptions, Checker, undefined_entity, undefined_member};
use crate::engine::context::{Context, ContextIndex, poll_every};
use crate::engine::source::{ReverseHit, TupleSource};
use crate::engine::text_list::TextList;
use crate::error::{Error, Result};
use crate::model::{EntityDef, Expr, Leaf, Schema};
use crate::tuple::{ObjectRef, SubjectRef};

/// A proof height: the deepest level, counted from the node proved, that
/// the check visits along the proof (see the module docs). The self
/// shortcut is -1: it answers before the depth test.
type Height = i64;

/// A monotone priority queue of states by proof height (Dial's
/// algorithm): heights only grow along edges, so the buckets are emptied in
/// order and every push and pop is O(1) (plus one sort per bucket, below).
#[derive(Default)]
struct Buckets {
    /// Bucket `i` holds the states of height `i - 1` (the self shortcut is -1).
    buckets: Vec<Vec<usize>>,
    cursor: usize,
    /// The bucket last put in order by `pop`.
    sorted: Option<usize>,
    /// Room for sorting a bucket (see [`StateIds::sort`]).
    scratch: SortScratch,
}

impl Buckets {
    fn push(&mut self, height: Height, s: usize) {
        let i = usize::try_from(height.saturating_add(1)).unwrap_or(0);
        if i >= self.buckets.len() {
            self.buckets.resize_with(i + 1, Vec::new);
        }
        self.buckets[i].push(s);
        // Never lower with growing heights; kept so that the order stays
        // right whatever is pushed.
        self.cursor = self.cursor.min(i);
    }

    /// The next state of least height; the states of one height come in
    /// the order of their plan node and id (a bucket is sorted once, when
    /// the queue reaches it: pushes during its draining go to higher
    /// buckets).
    fn pop(&mut self, ids: &StateIds) -> Option<(Height, usize)> {
        while let Some(bucket) = self.buckets.get_mut(self.cursor) {
            if self.sorted != Some(self.cursor) {
                // Popped from the end: the first in order goes last.
                ids.sort(bucket, &mut self.scratch);
                bucket.reverse();
                self.sorted = Some(self.cursor);
            }
            if let Some(s) = bucket.pop() {
                let height = Height::try_from(self.cursor).unwrap_or(Height::MAX) - 1;
                return Some((height, s));
            }
            self.cursor += 1;
        }
        None
    }
}

/// One `(kind, id)` node the expansion has met.
struct State {
    node: usize,
    /// The smallest proof height found so far, if the node is proved.
    best: Option<Height>,
    /// Proved with `best` final (popped from the queue).
    settled: bool,
    /// Reached in a way that leaves its truth open.
    candidate: bool,
}

/// The outcome of a gate's residual evaluation on one node.
#[derive(Clone, Copy)]
enum Verdict {
    True,
    False,
    /// The evaluation failed (depth, a rule, the source): the check decides.
    Unknown,
}

struct Expansion<'p, 'a, 'c, S: TupleSource + ?Sized> {
    plan: &'p Plan<'a>,
    schema: &'a Schema,
    checker: Checker<'c, S>,
    ctx: ContextIndex<'c>,
    subject: &'p SubjectRef,
    states: Vec<State>,
    /// Per state (same numbers): its id, found by plan node and id.
    ids: StateIds,
    queue: Buckets,
    /// One more than the depth limit: every taller proof is as good as
    /// this one (its target is checked), which keeps the queue small.
    too_tall: Height,
    pending: Vec<usize>,
    verdicts: HashMap<(usize, usize), Verdict>,
    stats: LookupStats,
    hits: Vec<ReverseHit>,
    scratch: ObjectRef,
}

pub(super) fn lookup<S: TupleSource + ?Sized>(
    schema: &Schema,
    source: &mut S,
    subject: &SubjectRef,
    permission: &str,
    entity_type: &str,
    ctx: &Context,
    opts: CheckOptions,
) -> Result<(TextList, LookupStats)> {
    let entity = schema
        .entity(entity_type)
        .ok_or_else(|| undefined_entity(entity_type))?;
    let target = target_kind(schema, entity, permission)?;
    let mut graph = Graph::new(schema, ctx);
    let plan = Plan::build(&mut graph, target);

    // One checker serves the gates' residual evaluations and most final
    // checks (see below), sharing its memo.
    let mut checker = Checker::new(schema, source, ctx, opts);
    checker.memoize_all();
    let ctx_index = checker.context_index();
    let mut ex = Expansion {
        plan: &plan,
        schema,
        checker,
        ctx: ctx_index,
        subject,
        states: Vec::new(),
        ids: StateIds::default(),
        queue: Buckets::default(),
        too_tall: Height::from(opts.max_depth) + 1,
        pending: Vec::new(),
        verdicts: HashMap::default(),
        stats: LookupStats::default(),
        hits: Vec::new(),
        scratch: ObjectRef {
            ty: String::new(),
            id: String::new(),
        },
    };
    ex.seed(&graph, target)?;
    ex.run_proofs()?;
    ex.spread_candidates()?;

    // Decide the target's nodes: a proof the check finds within its depth
    // limit answers; anything else met is checked. Answers are kept as
    // state numbers (their ids live in `ex.ids`) until the end, where they
    // are copied once, sorted, into one buffer: a lookup may answer
    // millions of ids, and a string each made building, sorting and
    // freeing them (also when a cancel unwinds the call) the slow part.
    let max_depth = Height::from(opts.max_depth);
    let mut allowed: Vec<usize> = Vec::new();
    // (state, checked on its own): see below.
    let mut to_check: Vec<(usize, bool)> = Vec::new();
    for (s, state) in ex.states.iter().enumerate() {
        poll_every(s);
        if state.node != 0 {
            continue;
        }
        match state.best {
            Some(h) if h <= max_depth => allowed.push(s),
            Some(_) => to_check.push((s, true)),
            None if state.candidate => to_check.push((s, false)),
            None => {}
        }
    }
    ex.stats.proven = allowed.len();
    let ids = &ex.ids;
    crate::interrupt::sort_unstable_by(&mut to_check, |a, b| ids.id(a.0).cmp(ids.id(b.0)).then(a.1.cmp(&b.1)));
    let mut object = ObjectRef {
        ty: entity_type.to_string(),
        id: String::new(),
    };
    for (s, alone) in to_check {
        crate::interrupt::poll();
        ex.stats.checked += 1;
        object.id.clear();
        object.id.push_str(ex.ids.id(s));
        // Candidates share the memo (an ancestor's permission decided for
        // one answers the others; nodes of an unstratified schema are
        // settled once for all). The memo is exact; nodes whose proof is
        // taller than the depth limit are checked alone anyway, as a cheap
        // second line of defence.
        let allow = if alone {
            Checker::new(schema, ex.checker.source(), ctx, opts)
                .check(&object, permission, subject)?
        } else {
            ex.checker.check(&object, permission, subject)?
        };
        if allow {
            allowed.push(s);
        }
    }
    let ids = &ex.ids;
    ids.sort(&mut allowed, &mut ex.queue.scratch);
    let mut answer = TextList::default();
    for (i, s) in allowed.iter().enumerate() {
        poll_every(i);
        let id = ids.id(*s);
        if answer.is_empty() || answer.get(answer.len() - 1) != id {
            answer.push(id);
        }
    }
    Ok((answer, ex.stats))
}

impl<'p, 'a, 'c, S: TupleSource + ?Sized> Expansion<'p, 'a, 'c, S> {
    fn state(&mut self, node: usize, id: &str) -> usize {
        if let Some(s) = self.ids.find(node, id) {
            return s;
        }
        let s = self.ids.add(node, id);
        self.states.push(State {
            node,
            best: None,
            settled: false,
            candidate: false,
        });
        s
    }

    fn prove(&mut self, s: usize, height: Height) {
        let height = height.min(self.too_tall);
        let state = &mut self.states[s];
        if !state.settled && state.best.is_none_or(|b| height < b) {
            state.best = Some(height);
            self.queue.push(height, s);
        }
    }

    fn mark_candidate(&mut self, s: usize) {
        let state = &mut self.states[s];
        if !state.candidate {
            state.candidate = true;
            self.pending.push(s);
        }
    }

    /// The nodes true without any edge: the subject itself (self
    /// shortcut), relations whose tuples name it exactly, attributes and
    /// rules that hold on entities with a value.
    fn seed(&mut self, graph: &Graph<'a>, target: Kind<'a>) -> Result<()> {
        let subject = self.subject;
        if !subject.relation.is_empty() {
            if let Some(node) = graph
                .kind(&subject.ty, &subject.relation)
                .and_then(|k| self.plan.node(k))
            {
                let s = self.state(node, &subject.id);
                self.prove(s, -1);
            }
            // A rule checked by name has the shortcut too.
            if target.rule && target.entity.name == subject.ty && target.name == subject.relation {
                let s = self.state(0, &subject.id);
                self.prove(s, -1);
            }
        }

        let subject_object = subject.object();
        let mut ids: Vec<String> = Vec::new();
        for node in 0..self.plan.nodes.len() {
            let kind = self.plan.nodes[node];
            let entity = kind.entity;
            match kind.what(self.schema) {
                What::Relation => {
                    let types = graph.subject_types(entity, kind.name);
                    ids.clear();
                    if types.contains(&(subject.ty.as_str(), subject.relation.as_str())) {
                        self.hits.clear();
                        self.checker.source().reverse(
                            &subject_object,
                            &entity.name,
                            kind.name,
                            &mut self.hits,
                        )?;
                        for h in self.hits.drain(..) {
                            if h.subject_relation == subject.relation {
                                ids.push(h.entity_id);
                            }
                        }
                    }
                    for t in self
                        .ctx
                        .reverse(&subject.ty, &subject.id, &entity.name, kind.name)
                    {
                        if t.subject.relation == subject.relation {
                            ids.push(t.entity.id.clone());
                        }
                    }
                    for (i, id) in ids.iter().enumerate() {
                        poll_every(i);
                        let s = self.state(node, id);
                        self.prove(s, 0);
                    }
                }
                What::Attribute => {
                    self.attribute_owners(entity, &[kind.name], &mut ids)?;
                    for (i, id) in ids.iter().enumerate() {
                        poll_every(i);
                        let value = self.checker.boolean_attribute(entity, id, None, kind.name);
                        self.seed_value(node, id, value);
                    }
                }
                What::Rule(rule) => {
                    let params: Vec<&str> = rule.params.iter().map(|(p, _)| p.as_str()).collect();
                    self.attribute_owners(entity, &params, &mut ids)?;
                    for (i, id) in ids.iter().enumerate() {
                        poll_every(i);
                        let value = self.checker.rule_holds(rule, entity, id, None);
                        self.seed_value(node, id, value);
                    }
                }
                What::Permission(_) | What::Missing => {}
            }
        }
        Ok(())
    }

    /// Ids of `entity` with a stored or contextual value of any of
    /// `names`, sorted and de-duplicated. Like Permify, a lookup only finds
    /// attribute- and rule-based answers among entities that have a value.
    fn attribute_owners(
        &mut self,
        entity: &EntityDef,
        names: &[&str],
        ids: &mut Vec<String>,
    ) -> Result<()> {
        ids.clear();
        for name in names {
            self.checker
                .source()
                .entities_with_attribute(&entity.name, name, ids)?;
            for (i, a) in self.ctx.context().attributes.iter().enumerate() {
                poll_every(i);
                if a.entity.ty == entity.name && a.name == *name {
                    ids.push(a.entity.id.clone());
                }
            }
        }
        crate::interrupt::sort_unstable(ids);
        ids.dedup();
        Ok(())
    }

    /// An attribute or rule node holds or not whatever the subject; an
    /// error is left for the check to report.
    fn seed_value(&mut self, node: usize, id: &str, value: Result<bool>) {
        match value {
            Ok(true) => {
                let s = self.state(node, id);
                self.prove(s, 0);
            }
            Ok(false) => {}
            Err(_) => {
                let s = self.state(node, id);
                self.mark_candidate(s);
            }
        }
    }

    /// Phase 1: proofs, smallest height first (heights only grow along
    /// edges, so the first time a node is popped its height is minimal).
    /// Stale queue entries (a node proved lower since) are skipped.
    fn run_proofs(&mut self) -> Result<()> {
        let plan = self.plan;
        let mut parents = Vec::new();
        // One height's states in the order of their kind and id: their
        // reverse reads then ask for ascending keys, which a source can
        // serve by reading on along its index instead of searching it
        // again for each (see `TupleSource::reverse`).
        loop {
            let Some((height, s)) = self.queue.pop(&self.ids) else {
                break;
            };
            crate::interrupt::poll();
            if self.states[s].settled || self.states[s].best != Some(height) {
                continue;
            }
            self.states[s].settled = true;
            let node = self.states[s].node;
            for up in &plan.ups[node] {
                self.parents(s, up, &mut parents)?;
                for pid in &parents {
                    let p = self.state(up.parent, pid);
                    if self.states[p].settled {
                        continue;
                    }
                    match up.gate {
                        EdgeGate::Open => self.prove(p, height + 1),
                        EdgeGate::Residual(r) => {
                            let h = (height + 1).max(Height::from(plan.residuals[r].height));
                            if self.states[p].best.is_some_and(|b| b <= h) {
                                continue;
                            }
                            match self.verdict(r, p) {
                                Verdict::True => self.prove(p, h),
                                Verdict::False => {}
                                Verdict::Unknown => self.mark_candidate(p),
                            }
                        }
                        EdgeGate::Closed => self.mark_candidate(p),
                    }
                }
            }
        }
        Ok(())
    }

    /// Phase 2: whatever a candidate can make true is a candidate too
    /// (the superset the old two-phase lookup computed, restricted to what
    /// the proofs left open).
    fn spread_candidates(&mut self) -> Result<()> {
        let plan = self.plan;
        let mut parents = Vec::new();
        while let Some(s) = self.pending.pop() {
            crate::interrupt::poll();
            // A proved node already told its parents everything.
            if self.states[s].best.is_some() {
                continue;
            }
            let node = self.states[s].node;
            for up in &plan.ups[node] {
                self.parents(s, up, &mut parents)?;
                for pid in &parents {
                    let p = self.state(up.parent, pid);
                    if self.states[p].best.is_none() {
                        self.mark_candidate(p);
                    }
                }
            }
        }
        Ok(())
    }

    /// Ids of the parent nodes an edge leads to from state `s`.
    fn parents(&mut self, s: usize, up: &Up<'a>, out: &mut Vec<String>) -> Result<()> {
        out.clear();
        let kind = self.plan.nodes[self.states[s].node];
        let parent = self.plan.nodes[up.parent];
        let (relation, subject_relation) = match up.via {
            Via::Same => {
                out.push(self.ids.id(s).to_string());
                return Ok(());
            }
            Via::Userset {
                relation,
                subject_relation,
            } => (relation, Some(subject_relation)),
            // A walk ignores the stored subject relation.
            Via::Walk { relation } => (relation, None),
        };
        let id: &str = self.ids.id(s);
        self.scratch.ty.clear();
        self.scratch.ty.push_str(&kind.entity.name);
        self.scratch.id.clear();
        self.scratch.id.push_str(id);
        self.hits.clear();
        self.checker.source().reverse(
            &self.scratch,
            &parent.entity.name,
            relation,
            &mut self.hits,
        )?;
        for h in self.hits.drain(..) {
            if subject_relation.is_none_or(|r| r == h.subject_relation) {
                out.push(h.entity_id);
            }
        }
        for t in self
            .ctx
            .reverse(&kind.entity.name, id, &parent.entity.name, relation)
        {
            if subject_relation.is_none_or(|r| r == t.subject.relation) {
                out.push(t.entity.id.clone());
            }
        }
        Ok(())
    }

    /// The residual evaluation of gate `r` on state `p`, once per pair.
    fn verdict(&mut self, r: usize, p: usize) -> Verdict {
        if let Some(&v) = self.verdicts.get(&(r, p)) {
            return v;
        }
        self.stats.gates += 1;
        let plan = self.plan;
        let residual = &plan.residuals[r];
        let entity = plan.nodes[self.states[p].node].entity;
        let id = self.ids.id(p);
        let mut eval = Evaluator {
            checker: &mut self.checker,
            ctx: &self.ctx,
            schema: self.schema,
            subject: self.subject,
        };
        let v = match eval.residual(entity, id, residual.expr, &residual.path) {
            Ok(true) => Verdict::True,
            Ok(false) => Verdict::False,
            Err(_) => Verdict::Unknown,
        };
        self.verdicts.insert((r, p), v);
        v
    }
}

/// Evaluates (parts of) a permission's expression on one node with the
/// checker's semantics, the leaves through the checker.
struct Evaluator<'e, 'c, S: TupleSource + ?Sized> {
    checker: &'e mut Checker<'c, S>,
    ctx: &'e ContextIndex<'c>,
    schema: &'e Schema,
    subject: &'e SubjectRef,
}

impl<S: TupleSource + ?Sized> Evaluator<'_, '_, S> {
    /// `expr` of `entity:id`, given that the leaf at `path` is true.
    ///
    /// Exactly the checker's value of the expression when that value is
    /// `true`; `false` when the expression is false or only true through
    /// other leaves of a union on the path (those are other occurrences,
    /// with edges of their own).
    fn residual(
        &mut self,
        entity: &EntityDef,
        id: &str,
        expr: &Expr,
        path: &[u32],
    ) -> Result<bool> {
        let Some((&first, rest)) = path.split_first() else {
            return Ok(true);
        };
        let first = first as usize;
        match expr {
            // A path that does not fit the expression cannot come from the
            // plan; an error leaves the node to the check.
            Expr::Leaf(_) => Err(stale_path()),
            Expr::Or(children) => match children.get(first) {
                Some(child) => self.residual(entity, id, child, rest),
                None => Err(stale_path()),
            },
            Expr::And(children) => {
                // As the checker: false if an operand is false, else the
                // first error, else true.
                let mut error = None;
                for (i, c) in children.iter().enumerate() {
                    let value = if i == first {
                        self.residual(entity, id, c, rest)
                    } else {
                        self.eval(entity, id, c)
                    };
                    match value {
                        Ok(false) => return Ok(false),
                        Ok(true) => {}
                        Err(e) => {
                            error.get_or_insert(e);
                        }
                    }
                }
                error.map_or(Ok(true), Err)
            }
            Expr::Not(base, subtract) => {
                if first != 0 {
                    return Err(stale_path());
                }
                let base = self.residual(entity, id, base, rest);
                if let Ok(false) = base {
                    return base;
                }
                exclusion(base, self.eval(entity, id, subtract))
            }
        }
    }

    /// The children of a union (`decisive` = true) or an intersection
    /// (`decisive` = false): the first child with the decisive value decides;
    /// otherwise the first error, otherwise the other value.
    fn fold(&mut self, entity: &EntityDef, id: &str, children: &[Expr], decisive: bool) -> Result<bool> {
        let mut error = None;
        for c in children {
            match self.eval(entity, id, c) {
                Ok(v) if v == decisive => return Ok(decisive),
                Ok(_) => {}
                Err(e) => {
                    error.get_or_insert(e);
                }
            }
        }
        error.map_or(Ok(!decisive), Err)
    }

    /// `expr` of `entity:id`, as the checker evaluates it.
    fn eval(&mut self, entity: &EntityDef, id: &str, expr: &Expr) -> Result<bool> {
        match expr {
            Expr::Leaf(leaf) => self.leaf(entity, id, leaf),
            // A union stops at the first true child, an intersection at the
            // first false one; an error counts only if no child decided.
            Expr::Or(children) => self.fold(entity, id, children, true),
            Expr::And(children) => self.fold(entity, id, children, false),
            Expr::Not(base, subtract) => {
                let base = self.eval(entity, id, base);
                if let Ok(false) = base {
                    return base;
                }
                exclusion(base, self.eval(entity, id, subtract))
            }
        }
    }

    fn leaf(&mut self, entity: &EntityDef, id: &str, leaf: &Leaf) -> Result<bool> {
        match leaf {
            Leaf::Computed(name) | Leaf::Attribute(name) => {
                if entity.member(name).is_none() {
                    return Err(undefined_member(entity, name));
                }
                let object = ObjectRef {
                    ty: entity.name.clone(),
                    id: id.to_string(),
                };
                self.checker.check(&object, name, self.subject)
            }
            Leaf::Walk { relation, target } => {
                let rows = self.checker.read_rows(&entity.name, id, None, relation)?;
                let ctx = self.ctx.clone();
                let mut error = None;
                let mut found = false;
                let mut object = ObjectRef {
                    ty: String::new(),
                    id: String::new(),
                };
                for t in rows.iter().chain(ctx.forward(&entity.name, id, relation)) {
                    // As the checker: subjects the schema cannot interpret
                    // lead nowhere.
                    let Some(next) = self.schema.entity(&t.ty) else {
                        continue;
                    };
                    if next.member(target).is_none() {
                        continue;
                    }
                    object.ty.clone_from(&t.ty);
                    object.id.clone_from(&t.id);
                    match self.checker.check(&object, target, self.subject) {
                        Ok(true) => {
                            found = true;
                            break;
                        }
                        Ok(false) => {}
                        Err(e) => {
                            error.get_or_insert(e);
                        }
                    }
                }
                self.checker.release(rows);
                match (found, error) {
                    (true, _) => Ok(true),
                    (false, Some(e)) => Err(e),
                    (false, None) => Ok(false),
                }
            }
            Leaf::Call { rule, .. } => match self.schema.rule(rule) {
                Some(def) => self.checker.rule_holds(def, entity, id, None),
                None => Err(Error::internal(format!(
                    "rule \"{rule}\" is not defined in the schema"
                ))),
            },
        }
    }
}

fn stale_path() -> Error {
    Error::internal("a lookup gate's leaf path does not fit its expression")
}

/// `base not subtract` from the operands' results, as the checker combines
/// them (the caller has handled a false base).
fn exclusion(base: Result<bool>, subtract: Result<bool>) -> Result<bool> {
    match (base, subtract) {
        (_, Ok(true)) => Ok(false),
        (Err(e), _) | (_, Err(e)) => Err(e),
        (Ok(b), Ok(false)) => Ok(b),
    }
}
