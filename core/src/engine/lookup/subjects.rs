//! `lookup_subjects`: the forward expansion from the entity (see the
//! parent module's docs for the rule it follows and why it is exact).

use std::collections::{BTreeSet, VecDeque};

use rustc_hash::FxHashMap as HashMap;

use super::analysis::{Gate, Graph, Kind, What};
use super::{LookupStats, target_kind};
use crate::engine::check::{CheckOptions, Checker, undefined_entity, undefined_member};
use crate::engine::context::Context;
use crate::engine::source::TupleSource;
use crate::error::{Error, ErrorKind, Result};
use crate::model::{Leaf, Schema};
use crate::tuple::{ObjectRef, SubjectRef};

/// What the attribute and rule leaves met say about "everyone" (every
/// subject id of the type that appears in a tuple).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Everyone {
    /// No such leaf holds.
    No,
    /// One holds (or failed) behind a gate: everyone is a candidate.
    Candidate,
    /// One holds on a node whose truth makes the entity's permission true:
    /// everyone is an answer.
    Yes,
}

pub(super) fn lookup<S: TupleSource + ?Sized>(
    schema: &Schema,
    source: &mut S,
    entity: &ObjectRef,
    permission: &str,
    subject_reference: &str,
    ctx: &Context,
    opts: CheckOptions,
) -> Result<(Vec<String>, LookupStats)> {
    let def = schema
        .entity(&entity.ty)
        .ok_or_else(|| undefined_entity(&entity.ty))?;
    let start = target_kind(schema, def, permission)?;
    let (subject_type, subject_relation) = parse_subject_reference(schema, subject_reference)?;

    let mut graph = Graph::new(schema, ctx);
    let mut checker = Checker::new(schema, source, ctx, opts);
    checker.enable_read_cache();
    let mut search = Forward {
        graph: &mut graph,
        checker: &mut checker,
        subject_type,
        subject_relation,
        max_depth: opts.max_depth,
        seen: HashMap::default(),
        sure: VecDeque::new(),
        open: Vec::new(),
        answers: BTreeSet::new(),
        candidates: BTreeSet::new(),
        everyone: Everyone::No,
    };
    search.push(start, &entity.id, true, 0);
    search.run()?;
    let Forward {
        mut answers,
        mut candidates,
        everyone,
        ..
    } = search;

    if everyone != Everyone::No {
        let mut ids = Vec::new();
        checker
            .source()
            .subject_ids_of_type(subject_type, &mut ids)?;
        for (i, t) in ctx.tuples.iter().enumerate() {
            crate::engine::context::poll_every(i);
            if t.subject.ty == subject_type && t.subject.relation.is_empty() {
                ids.push(t.subject.id.clone());
            }
        }
        if everyone == Everyone::Yes {
            answers.extend(ids);
        } else {
            candidates.extend(ids);
        }
    }

    let mut stats = LookupStats {
        proven: answers.len(),
        ..LookupStats::default()
    };
    let mut subject = SubjectRef {
        ty: subject_type.to_string(),
        id: String::new(),
        relation: subject_relation.to_string(),
    };
    for id in candidates {
        crate::interrupt::poll();
        if answers.contains(&id) {
            continue;
        }
        stats.checked += 1;
        subject.id = id;
        if checker.check(entity, permission, &subject)? {
            answers.insert(std::mem::take(&mut subject.id));
        }
    }
    Ok((answers.into_iter().collect(), stats))
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

/// Breadth-first search forwards from the entity along positive
/// occurrences. A node is *sure* when every step from the entity to it went
/// through an open gate: its truth for a subject makes the entity's
/// permission true for that subject. Sure nodes are expanded first, in
/// order of depth, so each is met first at its smallest depth.
struct Forward<'g, 'a, 'k, 'c, S: TupleSource + ?Sized> {
    graph: &'g mut Graph<'a>,
    checker: &'k mut Checker<'c, S>,
    subject_type: &'g str,
    subject_relation: &'g str,
    max_depth: u32,
    /// Every node met, and whether it is sure.
    seen: HashMap<(Kind<'a>, String), bool>,
    /// Sure nodes to expand, with their depth below the entity.
    sure: VecDeque<(Kind<'a>, String, u32)>,
    /// Nodes met behind a gate, expanded after all sure ones.
    open: Vec<(Kind<'a>, String)>,
    answers: BTreeSet<String>,
    candidates: BTreeSet<String>,
    everyone: Everyone,
}

impl<'a, S: TupleSource + ?Sized> Forward<'_, 'a, '_, '_, S> {
    fn push(&mut self, kind: Kind<'a>, id: &str, sure: bool, depth: u32) {
        let key = (kind, id.to_string());
        match self.seen.get_mut(&key) {
            Some(known) if *known || !sure => {}
            Some(known) => {
                *known = true;
                self.sure.push_back((kind, key.1, depth));
            }
            None => {
                self.seen.insert(key, sure);
                if sure {
                    self.sure.push_back((kind, id.to_string(), depth));
                } else {
                    self.open.push((kind, id.to_string()));
                }
            }
        }
    }

    fn run(&mut self) -> Result<()> {
        while let Some((kind, id, depth)) = self.sure.pop_front() {
            crate::interrupt::poll();
            self.expand(kind, &id, Some(depth))?;
        }
        while let Some((kind, id)) = self.open.pop() {
            crate::interrupt::poll();
            // Met behind a gate first, then found sure and expanded as such.
            if self.seen.get(&(kind, id.clone())).copied().unwrap_or(false) {
                continue;
            }
            self.expand(kind, &id, None)?;
        }
        Ok(())
    }

    /// A subject found: an answer if the check is sure to find it within
    /// its depth limit (`within`), else a candidate.
    fn found(&mut self, id: &str, within: bool) {
        if within {
            self.answers.insert(id.to_string());
        } else if !self.answers.contains(id) {
            self.candidates.insert(id.to_string());
        }
    }

    /// An attribute or rule leaf evaluated on a node at `depth` (None: not
    /// sure). It holds whatever the subject; an error is left for the checks
    /// to report.
    fn everyone(&mut self, value: Result<bool>, depth: Option<u32>) {
        let sure = depth.is_some_and(|d| d <= self.max_depth);
        let level = match value {
            Ok(true) if sure => Everyone::Yes,
            Ok(false) => Everyone::No,
            _ => Everyone::Candidate,
        };
        self.everyone = self.everyone.max(level);
    }

    /// Expands `kind:id`; `depth` is its depth below the entity if it is
    /// sure.
    fn expand(&mut self, kind: Kind<'a>, id: &str, depth: Option<u32>) -> Result<()> {
        let schema = self.checker.schema();
        let entity = kind.entity;
        let ctx = self.checker.context_index();
        // The self shortcut needs no depth test at the node itself, only at
        // its parent.
        if !self.subject_relation.is_empty()
            && kind.name == self.subject_relation
            && entity.name == self.subject_type
        {
            let within = depth.is_some_and(|d| d <= self.max_depth.saturating_add(1));
            self.found(id, within);
        }
        let here = depth.filter(|&d| d <= self.max_depth);
        let below = depth.map(|d| d.saturating_add(1));
        match kind.what(schema) {
            What::Relation => {
                let rows = self.checker.read_rows(&entity.name, id, None, kind.name)?;
                for t in rows.iter().chain(ctx.forward(&entity.name, id, kind.name)) {
                    if t.ty == self.subject_type && t.relation == self.subject_relation {
                        self.found(&t.id, here.is_some());
                    }
                    if !t.relation.is_empty()
                        && let Some(next) = self.graph.kind(&t.ty, &t.relation)
                    {
                        self.push_below(next, &t.id, below);
                    }
                }
                self.checker.release(rows);
            }
            What::Permission(_) => {
                let occurrences = self.graph.occurrences(kind);
                for occ in occurrences.iter() {
                    let child = match occ.gate {
                        Gate::Open => below,
                        Gate::Residual { .. } | Gate::Closed => None,
                    };
                    match occ.leaf {
                        // An attribute is a node too: the self shortcut
                        // applies to it before its value is read.
                        Leaf::Computed(name) | Leaf::Attribute(name) => {
                            if let Some(member) = entity.member(name) {
                                self.push_below(Kind::member(entity, member), id, child);
                            }
                        }
                        Leaf::Walk { relation, target } => {
                            let rows = self.checker.read_rows(&entity.name, id, None, relation)?;
                            for t in rows.iter().chain(ctx.forward(&entity.name, id, relation)) {
                                if let Some(next) = self.graph.kind(&t.ty, target) {
                                    self.push_below(next, &t.id, child);
                                }
                            }
                            self.checker.release(rows);
                        }
                        Leaf::Call { rule, .. } => {
                            if self.everyone != Everyone::Yes
                                && let Some(rule) = schema.rule(rule)
                            {
                                let v = self.checker.rule_holds(rule, entity, id, None);
                                self.everyone(v, child);
                            }
                        }
                    }
                }
            }
            What::Attribute => {
                if self.everyone != Everyone::Yes {
                    let v = self.checker.boolean_attribute(entity, id, None, kind.name);
                    self.everyone(v, here);
                }
            }
            What::Rule(rule) => {
                // Only ever the entity itself (a rule checked by name), which
                // the check evaluates without a depth test.
                if self.everyone != Everyone::Yes {
                    let v = self.checker.rule_holds(rule, entity, id, None);
                    self.everyone(v, depth.map(|_| 0));
                }
            }
            What::Missing => {}
        }
        Ok(())
    }

    fn push_below(&mut self, kind: Kind<'a>, id: &str, depth: Option<u32>) {
        match depth {
            Some(d) => self.push(kind, id, true, d),
            None => self.push(kind, id, false, 0),
        }
    }
}
