//! The check: does `subject` have `name` (a permission, relation, boolean
//! attribute or rule) on `entity`?
//!
//! # Evaluation
//!
//! A *node* is `(entity type, entity id, member)`; the subject is fixed for
//! one check. A node is evaluated as in Permify (see
//! `docs/permify-language.md` §8):
//! - the *self shortcut*: `T:x#m` asked about `T:x`'s member `m` holds at
//!   every level, with no data at all;
//! - a relation holds if a stored or contextual tuple names the subject
//!   exactly, or names a subject set `U:u#r` whose node holds (recursively);
//! - a permission evaluates its expression: `or` is union, `and`
//!   intersection, `a not b` exclusion; a walk `rel.target` evaluates
//!   `target` on `t.type:t.id` for every tuple `e#rel@t`, ignoring `t`'s
//!   relation;
//! - a boolean attribute holds if its value is `true` (a contextual value
//!   wins over a stored one); a rule call runs the rule's CEL program.
//!
//! For a plain subject, a permission whose union names another permission
//! and walks a relation to a member that a second walk of the union over the
//! same relation subsumes is evaluated in an equivalent rewritten form,
//! which visits nearer grants first (see [`union_form`]).
//!
//! Errors are deterministic: a union is true if any child is true and only
//! errs when none is true and some child erred; an intersection is false as
//! soon as a child (evaluated in order) is false.
//!
//! # Cycles: the least fixpoint
//!
//! Data and schemas may be cyclic (a group nested in itself, a page that is
//! its own ancestor, `permission a = b` / `permission b = a`). The checker is
//! a depth-first search that keeps the current path of nodes as a linked
//! list of `Frame`s on the Rust stack. Reaching a node that is already on
//! the path answers `false` for that branch ("cut"). For a monotone system
//! (union, intersection, walks, usersets) this yields exactly the *least
//! fixpoint*, where a node is true iff it has a finite proof. Claim:
//! evaluating node `n` with path `P` returns true iff `n` has a proof that
//! avoids `P`. Every `true` is built from tuples and attribute values, so it
//! is a proof. Conversely, take a proof of `n` avoiding `P` of minimal
//! height: it cannot mention `n` again below the root (the inner occurrence's
//! sub-proof would be shorter), so the children it uses have proofs avoiding
//! `P ∪ {n}`, and by induction on the height their evaluations return true.
//! At the root `P` is empty, so the root gets its least-fixpoint value.
//!
//! This argument needs monotonicity: it holds for every node whose strongly
//! connected component of the schema graph (below) has no edge through the
//! subtracted side of an exclusion. There the depth-first search with cuts
//! is the answer, and the memo only a shortcut: it never changes an answer,
//! whatever was checked before and in which order (`tests/engine_check_many.rs`
//! compares batches and single checks with a naive reference evaluator on
//! random data). Nodes on a cycle through an exclusion are *settled* instead
//! (below).
//!
//! # The answer
//!
//! The value of a node is its value in the *well-founded model* of the
//! rules (Van Gelder, Ross and Schlipf), which is the least fixpoint for
//! every schema without a cycle through an exclusion and for all data
//! without such a cycle. A check is
//! - **true** if the node is true there with a proof whose height (below)
//!   is within `max_depth`;
//! - **false** if it is false there: a refusal needs no proof, so a cycle
//!   or chain of any length that grants nothing is simply false;
//! - **an error** otherwise: [`ErrorKind::DepthExceeded`] when every proof
//!   is too tall, a rule's error when the value depends on a failed rule,
//!   [`ErrorKind::Undetermined`] when the data makes the node depend on its
//!   own exclusion through a cycle (`x(n1) = a not x(n2)`,
//!   `x(n2) = a not x(n1)`): it is then neither true nor false.
//!
//! The depth-first search computes this whenever it answers true or false.
//! When it fails — on the depth limit, the stack guard, a rule error or an
//! undetermined node somewhere below — the call's node is settled (below),
//! which may still find the answer: a union whose one operand is a ring of
//! ten thousand pages and whose other is false is false, as lookups say.
//!
//! # Settling
//!
//! [`fixpoint`] settles a node by reading everything it reaches into a
//! ground graph and computing the well-founded model over it by the
//! alternating fixpoint, component by component, with the smallest proof
//! height of every true node. It costs time and memory linear in what the
//! node reaches for every component without a cycle through an exclusion
//! in the data, and a few more rounds over a component with one; its size
//! is bounded by [`CheckOptions::max_fixpoint_size`]. It does not recurse,
//! so no depth can overflow the stack. Its values do not depend on any
//! path, so all of them are memoised.
//!
//! # Memo
//!
//! A result computed while some branch was cut at an ancestor *above* the
//! node is only provisional — it assumed that ancestor false. So, like
//! Tarjan's low-link, every result carries `low`: the shallowest stack
//! position a cut it relied on happened at. A node at position `p` whose
//! `low >= p` (cuts only at itself or below, or none) is *final*; it is
//! memoised, however cheap (a relation probe saved is a storage read
//! saved). Otherwise the result is passed up unmemoised and the ancestor's
//! `low` absorbs it.
//!
//! *What a result relied on.* A result keeps the marks of the children
//! that decided it — the true child of a true union, the false operand of a
//! false intersection, the true subtracted side of a false exclusion — and
//! combines those of all children otherwise; siblings it did not need may
//! take any value (even fail) without changing it. Besides `low`, the marks
//! include `deep`: the deepest position whose depth test it relied on. An
//! entry stores the node's value and its *height* `deep - p`.
//!
//! (1) *An entry is path-free.* A final result relied on no cut above its
//! node and on depth tests at most `height` below it. The plain evaluation
//! of that node at any position `q` with `q + height <= max_depth`, under a
//! path holding none of the nodes it visits, takes the same deciding steps
//! and gives the same value.
//!
//! Where may an entry answer? Group node *kinds* (entity type and member)
//! into the strongly connected components of the schema graph: an edge
//! leads from a kind to each kind its evaluation visits directly (subject
//! sets, named members, walk targets on the declared subject types and on
//! those the contextual tuples add), marked *negative* inside a subtracted
//! side. The kinds on a path all reach the kind of the path's last node.
//!
//! (2) *Entering a component*, the parent of the node lies in another
//! component (or there is no parent): no node on the path is reachable
//! from the node — its kind would reach back and be in the component, and
//! so would every kind between, the parent's included. By (1) the entry is
//! the plain value there.
//!
//! (3) *Inside a component without negative edges* the entry may answer
//! too. Order the values false < error < true: union is the maximum,
//! intersection the minimum, exclusion the minimum of the base and the
//! mirrored subtracted side; negation only reaches lower components, whose
//! values are exact (by (2), in component order), so inside the component
//! everything is monotone. Write `plain(n, P)` for the plain value of `n`
//! under path `P`, and `free(n)` for `plain(n, ∅)` at the same position;
//! a cut only lowers, so `plain(n, P) <= free(n)`, and an entry is
//! `free(n)` by (1). So the value the checker computes for a node inside,
//! memo hits included, lies between `plain(n, P)` and `free(n)` — a memo
//! hit may find a proof through an ancestor the plain evaluation cuts —
//! and at the component's entry, where the two coincide by (2), it is
//! exact. A final result inside is computed as without its ancestors, so
//! it is `free(n)` by the same bounds: the memo only holds exact entries.
//! Every component of a stratified schema is of this kind.
//!
//! (4) *A component with a negative edge* — the schema is not stratified
//! there: `x = a not y`, `y = next.x` — is never searched depth first: the
//! search settles its nodes (see "Settling"), whose values are exact
//! anywhere. (The depth-first value of such a node depended on which nodes
//! of its component were on the path, and exploring the paths took
//! exponential time.) The components are those of the schema's graph,
//! computed once per compiled schema, or per call when contextual tuples
//! add edges.
//!
//! (5) *Depth.* An entry answers at position `q` only if
//! `q + height <= max_depth`: the depth tests its value relied on pass
//! there. Otherwise the node is evaluated again and fails on the depth
//! exactly where the plain evaluation fails. The stack guard
//! ([`CheckOptions::max_stack_bytes`]) is a safety net outside this rule:
//! memo hits shorten the recursion, so only a `max_depth` beyond what the
//! stack budget holds (by default several hundred levels) can make an
//! answer depend on the memo.
//!
//! # Depth
//!
//! Every dispatch — a relation, permission, attribute or rule leaf, a
//! userset hop, a walk hop; not the `and`/`or`/`not` nodes — is one level.
//! The *height* of a proof is the deepest level it visits below its node
//! (the self shortcut answers before any level). The depth-first search
//! fails a branch that goes deeper than `max_depth`; a call whose search
//! failed that way is settled, which answers false if nothing grants the
//! permission at any depth, and fails only if the shortest proof is too
//! tall. The recursion also watches its stack use
//! ([`CheckOptions::max_stack_bytes`]) so that no setting of `max_depth` can
//! overflow the stack of the database backend; settling needs no stack.
//!
//! # Cost
//!
//! A check answered by one direct tuple allocates nothing in the engine (the
//! source fills a row buffer taken from a fixed-size pool): the path lives
//! on the call stack, ids are borrowed from the rows being iterated, the
//! memo keeps the members of the checked entity in fixed slots (no id to
//! store) and only looks at the schema graph once an entry could answer,
//! and the caller's `ObjectRef` is handed to the source for reads of the
//! requested entity (other reads reuse one scratch `ObjectRef`). Other
//! memo entries store their ids end to end in one string.


use std::rc::Rc;

mod fixpoint;
mod memo;
mod rows;
mod strata;
mod union_form;

use memo::{Entry, Memo, NodeKind};
use rows::{RowPool, Rows, SharedReads};
use strata::{Strata, analyse, schema_strata};

use super::context::{Context, ContextIndex};
use super::rules;
use super::source::TupleSource;
use crate::error::{Error, ErrorKind, Result};
use crate::model::{EntityDef, Expr, Leaf, Member, RuleDef, Schema};
use crate::tuple::{ObjectRef, SubjectRef, Value};

/// The depth `permify validate` uses when a file does not say.
pub const DEFAULT_MAX_DEPTH: u32 = 100;

/// The default of [`CheckOptions::max_stack_bytes`]: room for several
/// hundred levels (a level takes roughly 1–1.5 KiB in a release build).
pub const DEFAULT_MAX_STACK_BYTES: usize = 1 << 20;

/// The default of [`CheckOptions::max_fixpoint_size`]: a million nodes and
/// edges, some 100 MB at most.
pub const DEFAULT_MAX_FIXPOINT_SIZE: usize = 1_000_000;

/// Limits of one check or lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckOptions {
    /// The deepest chain of dispatches allowed (see the module docs).
    pub max_depth: u32,
    /// How much call stack the evaluation may use below the `check` call.
    /// The checker recurses once per level; this guard turns a depth the
    /// stack cannot hold (a large `max_depth` on a deep hierarchy) into a
    /// [`ErrorKind::DepthExceeded`] error instead of a stack overflow,
    /// which would take the whole database backend down.
    pub max_stack_bytes: usize,
    /// How many nodes and edges the exact fixpoint (see "Settling" in the
    /// module docs) may hold for one check: it explores everything a node
    /// reaches, so this bounds its memory. Beyond it the check fails with
    /// [`ErrorKind::LimitExceeded`].
    pub max_fixpoint_size: usize,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            max_depth: DEFAULT_MAX_DEPTH,
            max_stack_bytes: DEFAULT_MAX_STACK_BYTES,
            max_fixpoint_size: DEFAULT_MAX_FIXPOINT_SIZE,
        }
    }
}

impl CheckOptions {
    /// The defaults with another maximum depth.
    pub fn with_max_depth(max_depth: u32) -> Self {
        CheckOptions {
            max_depth,
            ..CheckOptions::default()
        }
    }
}

/// The address of a local of the calling frame: a reading of the stack
/// pointer, precise enough to measure stack use.
#[inline(always)]
fn stack_position() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

/// Internal results box their error: an `Error` is about a hundred bytes,
/// and every recursion level holds a few results on the stack.
type Step<T> = std::result::Result<T, Box<Error>>;

/// "No cut above this node": the neutral element of `low`.
const NO_LOW: u32 = u32::MAX;

/// "No depth test relied on": the neutral element of `deep`.
const NO_DEEP: u32 = 0;

/// The result of evaluating a node or expression: its value, the
/// shallowest stack position a cut it depends on happened at, and the
/// deepest position whose depth test it relied on. Both follow the same
/// rule (see "Memo" in the module docs): a result keeps the marks of the
/// children that decided it — the true child of a true union, the false
/// child of a false intersection, the true subtracted side of a false
/// exclusion — and otherwise combines the marks of all its children.
#[derive(Debug, Clone, Copy)]
struct Outcome {
    value: bool,
    low: u32,
    deep: u32,
}

impl Outcome {
    const TRUE: Outcome = Outcome {
        value: true,
        low: NO_LOW,
        deep: NO_DEEP,
    };
    /// A value that rests on no cut, and on the depth test at `deep`.
    fn definite(value: bool, deep: u32) -> Outcome {
        Outcome {
            value,
            low: NO_LOW,
            deep,
        }
    }
}

/// One node on the current DFS path. Frames form a linked list through the
/// Rust call stack, so pushing one allocates nothing.
struct Frame<'f> {
    entity: &'f EntityDef,
    member: Member,
    id: &'f str,
    /// The caller's `ObjectRef` when this frame is about the requested
    /// entity: reads then pass it straight to the source.
    obj: Option<&'f ObjectRef>,
    /// Position on the path (the root is 0) = depth.
    pos: u32,
    parent: Option<&'f Frame<'f>>,
    /// A stand-in for a permission inlined into its caller's union (see
    /// [`union_form`]): it only carries the position its children are
    /// evaluated below. No cut happens at it.
    stand_in: bool,
}

/// The name of a member of `entity`.
pub(crate) fn member_name(entity: &EntityDef, member: Member) -> &str {
    let name = match member {
        Member::Relation(i) => entity.relations.get(i).map(|r| r.name.as_str()),
        Member::Attribute(i) => entity.attributes.get(i).map(|a| a.name.as_str()),
        Member::Permission(i) => entity.permissions.get(i).map(|p| p.name.as_str()),
    };
    name.unwrap_or("")
}

/// Whether a failed depth-first check is settled exactly instead: when it
/// failed on the depth or stack limit, or on a rule error or an
/// undetermined node that the exact value may not depend on.
fn settles(e: &Error) -> bool {
    matches!(
        e.kind,
        ErrorKind::DepthExceeded | ErrorKind::RuleEvaluation | ErrorKind::Undetermined
    )
}

/// `obj` if it is `ty:id`, otherwise `scratch` overwritten with `ty:id`
/// (reusing its buffers).
fn object_ref<'o>(
    scratch: &'o mut ObjectRef,
    obj: Option<&'o ObjectRef>,
    ty: &str,
    id: &str,
) -> &'o ObjectRef {
    match obj {
        Some(o) if o.id == id && o.ty == ty => o,
        _ => {
            scratch.ty.clear();
            scratch.ty.push_str(ty);
            scratch.id.clear();
            scratch.id.push_str(id);
            scratch
        }
    }
}

/// Accumulates a union: true as soon as one child is (that child's outcome),
/// else the first error, else false with the smallest low and deepest deep.
struct AnyOf {
    found: Option<Outcome>,
    low: u32,
    deep: u32,
    error: Option<Box<Error>>,
}

impl AnyOf {
    fn new() -> Self {
        AnyOf {
            found: None,
            low: NO_LOW,
            deep: NO_DEEP,
            error: None,
        }
    }
    /// Records a child; returns true once the union is decided (true).
    fn add(&mut self, child: Step<Outcome>) -> bool {
        match child {
            Ok(o) if o.value => {
                self.found = Some(o);
                true
            }
            Ok(o) => {
                self.low = self.low.min(o.low);
                self.deep = self.deep.max(o.deep);
                false
            }
            Err(e) => {
                self.error.get_or_insert(e);
                false
            }
        }
    }
    fn finish(self) -> Step<Outcome> {
        match (self.found, self.error) {
            (Some(o), _) => Ok(o),
            (None, Some(e)) => Err(e),
            (None, None) => Ok(Outcome {
                value: false,
                low: self.low,
                deep: self.deep,
            }),
        }
    }
}

#[cold]
#[inline(never)]
fn missing_permission(entity: &EntityDef, index: usize) -> Error {
    Error::internal(format!("permission {index} of {} is missing", entity.name))
}

#[cold]
#[inline(never)]
pub(crate) fn undefined_entity(ty: &str) -> Error {
    Error::new(
        ErrorKind::UndefinedName,
        format!("entity type \"{}\" is not defined in the schema", crate::error::shown(ty)),
    )
}

#[cold]
#[inline(never)]
pub(crate) fn undefined_member(entity: &EntityDef, name: &str) -> Error {
    Error::new(
        ErrorKind::UndefinedName,
        format!(
            "\"{}\" is not a permission, relation, attribute or rule of entity type \"{}\"",
            crate::error::shown(name),
            entity.name
        ),
    )
}

/// What a [`Checker`] learnt, kept between calls (see [`Checker::keep`]).
#[derive(Default)]
pub struct Kept {
    memo: Memo,
    strata: Strata,
}

impl Kept {
    /// Node results held (a measure of its memory, for callers that bound
    /// what they keep).
    pub fn len(&self) -> usize {
        self.memo.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Gives back memory reserved for results not there (see
    /// [`Memo::trim`]): before keeping this for long.
    pub fn trim(&mut self) {
        self.memo.trim();
    }
}

/// Evaluates checks against one schema, source and context, reusing its
/// memo and buffers across calls (see [`Checker::check_many_objects`]).
/// The memo never changes an answer (see "Memo" in the module docs).
pub struct Checker<'a, S: TupleSource + ?Sized> {
    schema: &'a Schema,
    source: &'a mut S,
    ctx: ContextIndex<'a>,
    opts: CheckOptions,
    memo: Memo,
    /// Keep the memo entries of each call's own entity for later calls
    /// (batches over one subject, lookups); a single check drops them.
    memo_all: bool,
    /// Where node kinds sit in the schema graph, for the memo's rule.
    strata: Strata,

    read_cache: Option<SharedReads>,
    row_pool: RowPool,
    scratch: ObjectRef,
    /// `context` for rules, converted once.
    cel_context: Option<rules::CelVal>,
    /// [`stack_position`] at the entry of the current public call.
    stack_base: usize,
}

impl<'a, S: TupleSource + ?Sized> Checker<'a, S> {
    pub fn new(
        schema: &'a Schema,
        source: &'a mut S,
        ctx: &'a Context,
        opts: CheckOptions,
    ) -> Self {
        Checker {
            schema,
            source,
            ctx: ContextIndex::new(ctx),
            opts,
            memo: Memo::default(),
            memo_all: false,
            strata: Strata::default(),
            read_cache: None,
            row_pool: RowPool::default(),
            scratch: ObjectRef {
                ty: String::new(),
                id: String::new(),
            },
            cel_context: None,
            stack_base: 0,
        }
    }

    /// Does `subject` have `name` on `entity`? `name` may be a permission, a
    /// relation, an attribute (true iff its value is boolean `true`) or a
    /// rule (evaluated with the entity's attributes bound by parameter name).
    ///
    /// An unknown entity type or name is an [`ErrorKind::UndefinedName`]
    /// error; an unknown id simply has no data.
    pub fn check(&mut self, entity: &ObjectRef, name: &str, subject: &SubjectRef) -> Result<bool> {
        let schema = self.schema;
        let def = schema
            .entity(&entity.ty)
            .ok_or_else(|| undefined_entity(&entity.ty))?;
        self.memo.prepare(subject);
        self.stack_base = stack_position();
        match def.member(name) {
            Some(member) => {
                let mut result = self.visit(def, member, &entity.id, Some(entity), None, subject);
                if let Err(e) = &result
                    && settles(e)
                    && !matches!(member, Member::Attribute(_))
                {
                    // The depth-first search gave up (depth, stack) or met a
                    // failure it could not see past: the exact answer.
                    result = self.settle(def, member, &entity.id, 0, subject);
                }
                self.memo.end_call(&entity.id, self.memo_all, subject);
                match result {
                    Ok(outcome) => Ok(outcome.value),
                    Err(e) => Err(*e),
                }
            }
            None => {
                let rule = schema
                    .rule(name)
                    .ok_or_else(|| undefined_member(def, name))?;
                if subject.relation == name && subject.id == entity.id && subject.ty == entity.ty {
                    return Ok(true);
                }
                self.rule_holds(rule, def, &entity.id, Some(entity))
            }
        }
    }

    /// Checks many entities for one subject and name, sharing the memo (a
    /// sub-result found for one entity, e.g. a common ancestor's
    /// permission, answers the others where the module docs' rule allows:
    /// each result is exactly that of a single check). One result per
    /// entity, in order.
    pub fn check_many_objects(
        &mut self,
        entities: &[ObjectRef],
        name: &str,
        subject: &SubjectRef,
    ) -> Vec<Result<bool>> {
        self.memo_all = true;
        entities
            .iter()
            .map(|e| self.check(e, name, subject))
            .collect()
    }

    /// Checks many subjects against one entity and name, sharing the reads
    /// of the entity's relations. One result per subject, in order.
    pub fn check_many_subjects(
        &mut self,
        entity: &ObjectRef,
        name: &str,
        subjects: &[SubjectRef],
    ) -> Vec<Result<bool>> {
        self.enable_read_cache();
        subjects
            .iter()
            .map(|s| self.check(entity, name, s))
            .collect()
    }

    /// Ends this checker, keeping what it learnt (its memo and schema
    /// analyses) for [`Checker::resume`]: for callers that check one
    /// object per call against data that does not change between calls,
    /// but cannot hold a borrow of the source from one call to the next
    /// (a row-level-security policy runs once per row).
    pub fn keep(self) -> Kept {
        Kept { memo: self.memo, strata: self.strata }
    }

    /// A checker that starts with what an earlier one kept. The caller
    /// guarantees that `source` reads the same data as the earlier one's,
    /// and that `schema` and `opts` are the same (the memo is keyed by the
    /// schema's entity definitions' addresses; the caller keeps the schema
    /// alive and unchanged). Every call's results are kept for the next.
    pub fn resume(schema: &'a Schema, source: &'a mut S, ctx: &'a Context, opts: CheckOptions, kept: Kept) -> Self {
        let mut checker = Checker::new(schema, source, ctx, opts);
        checker.memo = kept.memo;
        checker.strata = kept.strata;
        checker.memo_all = true;
        checker
    }

    /// Keeps the memo entries of every call's own entity for later calls:
    /// for batches of checks with one subject.
    pub(crate) fn memoize_all(&mut self) {
        self.memo_all = true;
    }

    /// Caches forward reads across checks: for batches over many subjects.
    pub(crate) fn enable_read_cache(&mut self) {
        if self.read_cache.is_none() {
            self.read_cache = Some(SharedReads::default());
        }
    }

    pub(crate) fn schema(&self) -> &'a Schema {
        self.schema
    }

    pub(crate) fn context_index(&self) -> ContextIndex<'a> {
        self.ctx.clone()
    }

    pub(crate) fn source(&mut self) -> &mut S {
        self.source
    }

    fn check_depth(&self, pos: u32, entity: &EntityDef, id: &str, name: &str) -> Step<()> {
        if pos > self.opts.max_depth {
            return Err(Box::new(self.depth_error(entity, id, name)));
        }
        let used = self.stack_base.abs_diff(stack_position());
        if used > self.opts.max_stack_bytes {
            return Err(Box::new(self.stack_error(pos, entity, id, name)));
        }
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn stack_error(&self, pos: u32, entity: &EntityDef, id: &str, name: &str) -> Error {
        Error::new(
            ErrorKind::DepthExceeded,
            format!(
                "permission check used more than {} bytes of stack at {}:{}#{} (depth {pos}); lower notion_rbac.max_depth or flatten the hierarchy",
                self.opts.max_stack_bytes, entity.name, id, name
            ),
        )
    }

    #[cold]
    #[inline(never)]
    fn depth_error(&self, entity: &EntityDef, id: &str, name: &str) -> Error {
        Error::new(
            ErrorKind::DepthExceeded,
            format!(
                "permission check exceeded the maximum depth of {} at {}:{}#{}; raise notion_rbac.max_depth if the hierarchy is this deep",
                self.opts.max_depth, entity.name, id, name
            ),
        )
    }

    /// Evaluates the node `entity:id#member` below `parent`.
    fn visit(
        &mut self,
        entity: &EntityDef,
        member: Member,
        id: &str,
        obj: Option<&ObjectRef>,
        parent: Option<&Frame<'_>>,
        subject: &SubjectRef,
    ) -> Step<Outcome> {
        crate::interrupt::poll();
        let name = member_name(entity, member);
        if subject.relation == name && subject.id == id && subject.ty == entity.name {
            return Ok(Outcome::TRUE);
        }
        let pos = parent.map_or(0, |p| p.pos + 1);
        if let Member::Attribute(_) = member {
            // A leaf: no recursion, so no path entry and no memo entry.
            self.check_depth(pos, entity, id, name)?;
            return self
                .boolean_attribute(entity, id, obj, name)
                .map(|value| Outcome::definite(value, pos))
                .map_err(Box::new);
        }
        let kind = NodeKind::new(entity, member);
        // The call's own entity: its entries live in the memo's slots.
        let on_root = obj.is_some_and(|o| o.id == id && o.ty == entity.name);
        if let Some(entry) = self.memo.get(kind, id, on_root)
            && self.reusable(entry, pos)
        {
            return Ok(Outcome {
                value: entry.value,
                low: NO_LOW,
                deep: pos.saturating_add(entry.height),
            });
        }
        // A node on a cycle through an exclusion has no path-independent
        // depth-first value: settle it exactly (see "Settling").
        if self.unstratified(entity, member) {
            return self.settle(entity, member, id, pos, subject);
        }
        let mut on_path = parent;
        while let Some(f) = on_path {
            if f.member == member && f.id == id && std::ptr::eq(f.entity, entity) && !f.stand_in {
                return Ok(Outcome {
                    value: false,
                    low: f.pos,
                    deep: NO_DEEP,
                });
            }
            on_path = f.parent;
        }
        self.check_depth(pos, entity, id, name)?;
        let frame = Frame {
            entity,
            member,
            id,
            obj,
            pos,
            parent,
            stand_in: false,
        };
        let outcome = match member {
            Member::Relation(_) => self.direct(&frame, subject)?,
            Member::Permission(i) => match self.union_form(entity, i, subject) {
                Some(form) => self.eval_union_form(form, &frame, subject)?,
                None => match entity.permissions.get(i) {
                    Some(permission) => self.eval(&permission.expr, &frame, subject)?,
                    None => return Err(Box::new(missing_permission(entity, i))),
                },
            },
            Member::Attribute(_) => {
                return Err(Box::new(Error::internal("attribute reached the node path")));
            }
        };
        let low = if outcome.low >= pos {
            NO_LOW
        } else {
            outcome.low
        };
        let deep = outcome.deep.max(pos);
        // A result that rests on no cut above the node is final: memoise
        // it, however cheap, with the height it relied on.
        if low == NO_LOW {
            let entry = Entry {
                value: outcome.value,
                height: deep - pos,
                settled: false,
            };
            self.memo.insert(kind, id, on_root, entry, subject);
        }
        Ok(Outcome {
            value: outcome.value,
            low,
            deep,
        })
    }

    /// The rewritten union the check evaluates for permission `i` of
    /// `entity` (see [`union_form`]), if it has one: only for plain
    /// subjects, whose values it keeps.
    fn union_form(&self, entity: &EntityDef, i: usize, subject: &SubjectRef) -> Option<&'a [(Expr, u32)]> {
        if !subject.relation.is_empty() {
            return None;
        }
        let schema = self.schema;
        let forms = schema.union_forms.get_or_init(|| union_form::union_forms(schema));
        forms.get(entity.index)?.get(i)?.as_deref()
    }

    /// A rewritten union: each child below a stand-in frame as many
    /// positions down as the permissions it was inlined through.
    #[inline(never)]
    fn eval_union_form(&mut self, form: &[(Expr, u32)], frame: &Frame<'_>, subject: &SubjectRef) -> Step<Outcome> {
        let mut any = AnyOf::new();
        for (child, levels) in form {
            let result = if *levels == 0 {
                self.child(child, frame, subject)
            } else {
                let stand_in = Frame {
                    entity: frame.entity,
                    member: frame.member,
                    id: frame.id,
                    obj: frame.obj,
                    pos: frame.pos.saturating_add(*levels),
                    parent: Some(frame),
                    stand_in: true,
                };
                self.child(child, &stand_in, subject)
            };
            if any.add(result) {
                break;
            }
        }
        any.finish()
    }

    /// Whether the memo's `entry` may answer at `pos`: exactly when the
    /// depth tests its value relied on pass there too (see "Memo" in the
    /// module docs).
    fn reusable(&self, entry: Entry, pos: u32) -> bool {
        u64::from(pos) + u64::from(entry.height) <= u64::from(self.opts.max_depth)
    }

    /// Whether nodes of `entity#member` lie on a cycle through an exclusion:
    /// in the schema's graph, or — when the call has contextual tuples,
    /// which may add edges — in the graph with those edges.
    // Kept out of line: inlined, its locals would enlarge the stack frame
    // of every recursion level.
    #[inline(never)]
    fn unstratified(&mut self, entity: &EntityDef, member: Member) -> bool {
        let schema = self.schema;
        if self.ctx.has_tuples() {
            let kind = NodeKind::new(entity, member);
            if !self.strata.info.contains_key(&kind) {
                let Some(def) = schema.entities.get(entity.index) else {
                    return false;
                };
                analyse(schema, self.ctx.context(), &mut self.strata, def, member);
            }
            return self.strata.info.get(&kind).copied().unwrap_or(false);
        }
        let flags = schema.unstratified.get_or_init(|| schema_strata(schema));
        flags
            .get(entity.index)
            .and_then(|f| f.get(entity.ordinal(member)))
            .copied()
            .unwrap_or(false)
    }

    /// A relation: a tuple naming the subject, or a subject set whose node
    /// holds.
    #[inline(never)]
    fn direct(&mut self, frame: &Frame<'_>, subject: &SubjectRef) -> Step<Outcome> {
        let schema = self.schema;
        let entity = frame.entity;
        let relation = member_name(entity, frame.member);
        let ctx = self.ctx.clone();
        let contextual_hit = || {
            ctx.has_tuples()
                && ctx
                    .forward(&entity.name, frame.id, relation)
                    .any(|t| t == subject)
        };
        // Exact matches first: they answer without any recursion. Without a
        // shared read cache, ask storage for the exact tuple (a point probe)
        // and then read only the subject sets: a relation with thousands of
        // plain subjects (a workspace's members) costs the same as one.
        let rows = if self.read_cache.is_some() {
            let rows = self
                .read_rows(&entity.name, frame.id, frame.obj, relation)
                .map_err(Box::new)?;
            if rows.iter().any(|t| t == subject) || contextual_hit() {
                self.release(rows);
                return Ok(Outcome::TRUE);
            }
            rows
        } else {
            // Stored tuples always fit the active schema (every write path
            // validates them), so the relation's declared subject types say
            // which reads can find anything: no probe for a subject type the
            // relation does not allow, no subject-set read for a relation
            // that allows none. Contextual tuples are not validated and are
            // looked at separately.
            let (plain_allowed, has_sets) = match frame.member {
                Member::Relation(i) => {
                    let def = &entity.relations[i];
                    (
                        def.allows(&subject.ty, &subject.relation),
                        def.subject_types.iter().any(|t| t.relation.is_some()),
                    )
                }
                _ => (true, true),
            };
            if (plain_allowed
                && self
                    .probe(&entity.name, frame.id, frame.obj, relation, subject)
                    .map_err(Box::new)?)
                || contextual_hit()
            {
                return Ok(Outcome::TRUE);
            }
            if has_sets {
                self.read_subject_sets(&entity.name, frame.id, frame.obj, relation)
                    .map_err(Box::new)?
            } else {
                Rows::Pooled(self.row_pool.take())
            }
        };
        let mut any = AnyOf::new();
        for t in rows
            .iter()
            .chain(ctx.forward(&entity.name, frame.id, relation))
        {
            if t.relation.is_empty() {
                continue;
            }
            // Data the schema cannot interpret (only possible through
            // unvalidated contextual tuples) grants nothing.
            let Some(set_entity) = schema.entity(&t.ty) else {
                continue;
            };
            let Some(set_member) = set_entity.member(&t.relation) else {
                continue;
            };
            if any.add(self.visit(set_entity, set_member, &t.id, None, Some(frame), subject)) {
                break;
            }
        }
        self.release(rows);
        any.finish()
    }

    /// An expression. Leaf children are evaluated without an intermediate
    /// `eval` call, which keeps the stack per dispatch level small.
    fn eval(&mut self, expr: &Expr, frame: &Frame<'_>, subject: &SubjectRef) -> Step<Outcome> {
        match expr {
            Expr::Leaf(leaf) => self.leaf(leaf, frame, subject),
            Expr::Or(children) => {
                let mut any = AnyOf::new();
                for c in children {
                    if any.add(self.child(c, frame, subject)) {
                        break;
                    }
                }
                any.finish()
            }
            Expr::And(children) => {
                let mut low = NO_LOW;
                let mut deep = NO_DEEP;
                let mut error = None;
                for c in children {
                    match self.child(c, frame, subject) {
                        Ok(o) if !o.value => return Ok(o),
                        Ok(o) => {
                            low = low.min(o.low);
                            deep = deep.max(o.deep);
                        }
                        Err(e) => {
                            error.get_or_insert(e);
                        }
                    }
                }
                match error {
                    Some(e) => Err(e),
                    None => Ok(Outcome {
                        value: true,
                        low,
                        deep,
                    }),
                }
            }
            Expr::Not(base, subtract) => {
                let base = self.child(base, frame, subject);
                if let Ok(o) = &base
                    && !o.value
                {
                    return base;
                }
                let subtract = self.child(subtract, frame, subject);
                match (base, subtract) {
                    (_, Ok(s)) if s.value => Ok(Outcome {
                        value: false,
                        low: s.low,
                        deep: s.deep,
                    }),
                    (Err(e), _) | (_, Err(e)) => Err(e),
                    (Ok(b), Ok(s)) => Ok(Outcome {
                        value: true,
                        low: b.low.min(s.low),
                        deep: b.deep.max(s.deep),
                    }),
                }
            }
        }
    }

    #[inline(always)]
    fn child(&mut self, expr: &Expr, frame: &Frame<'_>, subject: &SubjectRef) -> Step<Outcome> {
        match expr {
            Expr::Leaf(leaf) => self.leaf(leaf, frame, subject),
            _ => self.eval(expr, frame, subject),
        }
    }

    #[inline]
    fn leaf(&mut self, leaf: &Leaf, frame: &Frame<'_>, subject: &SubjectRef) -> Step<Outcome> {
        let entity = frame.entity;
        match leaf {
            Leaf::Computed(name) | Leaf::Attribute(name) => match entity.member(name) {
                Some(member) => {
                    self.visit(entity, member, frame.id, frame.obj, Some(frame), subject)
                }
                None => Err(Box::new(undefined_member(entity, name))),
            },
            Leaf::Walk { relation, target } => self.walk(relation, target, frame, subject),
            Leaf::Call { rule, .. } => self.call(rule, frame),
        }
    }

    /// `relation.target`: `target` on every subject of `relation`; the
    /// tuple's subject relation is ignored, as in Permify.
    #[inline(never)]
    fn walk(
        &mut self,
        relation: &str,
        target: &str,
        frame: &Frame<'_>,
        subject: &SubjectRef,
    ) -> Step<Outcome> {
        let schema = self.schema;
        let entity = frame.entity;
        let rows = self
            .read_rows(&entity.name, frame.id, frame.obj, relation)
            .map_err(Box::new)?;
        let ctx = self.ctx.clone();
        let mut any = AnyOf::new();
        for t in rows
            .iter()
            .chain(ctx.forward(&entity.name, frame.id, relation))
        {
            let Some(next) = schema.entity(&t.ty) else {
                continue;
            };
            let Some(member) = next.member(target) else {
                continue;
            };
            if any.add(self.visit(next, member, &t.id, None, Some(frame), subject)) {
                break;
            }
        }
        self.release(rows);
        any.finish()
    }

    /// A rule call leaf (one dispatch level).
    #[inline(never)]
    fn call(&mut self, rule: &str, frame: &Frame<'_>) -> Step<Outcome> {
        let pos = frame.pos + 1;
        self.check_depth(pos, frame.entity, frame.id, rule)?;
        let Some(def) = self.schema.rule(rule) else {
            return Err(Box::new(Error::internal(format!(
                "rule \"{rule}\" is not defined in the schema"
            ))));
        };
        self.rule_holds(def, frame.entity, frame.id, frame.obj)
            .map(|value| Outcome::definite(value, pos))
            .map_err(Box::new)
    }

    /// The subjects of `ty:id#relation` in storage (contextual tuples are
    /// added by the callers).
    // Kept out of line: inlined, its locals would enlarge the stack frame
    // of every recursion level.
    #[inline(never)]
    pub(crate) fn read_rows(
        &mut self,
        ty: &str,
        id: &str,
        obj: Option<&ObjectRef>,
        relation: &str,
    ) -> Result<Rows> {
        if let Some(cache) = self.read_cache.as_mut() {
            cache.key.clear();
            // Types and relations are identifiers (no ':' or '#'), so the id
            // last makes the key unambiguous.
            cache.key.push_str(ty);
            cache.key.push(':');
            cache.key.push_str(relation);
            cache.key.push('#');
            cache.key.push_str(id);
            if let Some(rows) = cache.rows.get(cache.key.as_str()) {
                return Ok(Rows::Shared(Rc::clone(rows)));
            }
        }
        let mut buf = self.row_pool.take();
        let target = object_ref(&mut self.scratch, obj, ty, id);
        self.source.subjects(target, relation, &mut buf)?;
        match self.read_cache.as_mut() {
            Some(cache) => {
                let rows: Rc<[SubjectRef]> = buf.drain(..).collect();
                cache
                    .rows
                    .insert(cache.key.as_str().into(), Rc::clone(&rows));
                self.row_pool.give(buf);
                Ok(Rows::Shared(rows))
            }
            None => Ok(Rows::Pooled(buf)),
        }
    }

    /// Whether storage holds exactly `ty:id#relation@subject`.
    #[inline(never)]
    fn probe(
        &mut self,
        ty: &str,
        id: &str,
        obj: Option<&ObjectRef>,
        relation: &str,
        subject: &SubjectRef,
    ) -> Result<bool> {
        let target = object_ref(&mut self.scratch, obj, ty, id);
        self.source.contains(target, relation, subject)
    }

    /// The stored subject sets of `ty:id#relation` (see
    /// [`TupleSource::subject_sets`]).
    #[inline(never)]
    fn read_subject_sets(
        &mut self,
        ty: &str,
        id: &str,
        obj: Option<&ObjectRef>,
        relation: &str,
    ) -> Result<Rows> {
        let mut buf = self.row_pool.take();
        let target = object_ref(&mut self.scratch, obj, ty, id);
        self.source.subject_sets(target, relation, &mut buf)?;
        Ok(Rows::Pooled(buf))
    }

    /// Returns a row buffer to the pool.
    pub(crate) fn release(&mut self, rows: Rows) {
        if let Rows::Pooled(buf) = rows {
            self.row_pool.give(buf);
        }
    }

    /// A boolean attribute used as an operand: true iff the value is `true`;
    /// a contextual value wins over the stored one (Permify's behaviour).
    // Kept out of line: inlined, its locals would enlarge the stack frame
    // of every recursion level.
    #[inline(never)]
    pub(crate) fn boolean_attribute(
        &mut self,
        entity: &EntityDef,
        id: &str,
        obj: Option<&ObjectRef>,
        name: &str,
    ) -> Result<bool> {
        if let Some(v) = self.ctx.attribute(&entity.name, id, name) {
            return Ok(matches!(v, Value::Boolean(true)));
        }
        let target = object_ref(&mut self.scratch, obj, &entity.name, id);
        Ok(matches!(
            self.source.attribute(target, name)?,
            Some(Value::Boolean(true))
        ))
    }

    /// Runs `rule` for `entity:id`: each parameter is bound to the entity's
    /// attribute of the same name — the stored value first, then a
    /// contextual one (Permify's precedence for rule arguments), else the
    /// type's zero value.
    // Kept out of line: inlined, its locals would enlarge the stack frame
    // of every recursion level.
    #[inline(never)]
    pub(crate) fn rule_holds(
        &mut self,
        rule: &RuleDef,
        entity: &EntityDef,
        id: &str,
        obj: Option<&ObjectRef>,
    ) -> Result<bool> {
        let mut arguments = Vec::with_capacity(rule.params.len());
        for (name, ty) in &rule.params {
            let target = object_ref(&mut self.scratch, obj, &entity.name, id);
            let stored = self.source.attribute(target, name)?;
            let value = match stored {
                Some(v) if rules::fits(&v, *ty) => rules::attribute_to_cel(&v),
                _ => match self.ctx.attribute(&entity.name, id, name) {
                    Some(v) if rules::fits(v, *ty) => rules::attribute_to_cel(v),
                    _ => rules::zero_value(*ty),
                },
            };
            arguments.push(value);
        }
        let ctx = &self.ctx;
        let context = self
            .cel_context
            .get_or_insert_with(|| rules::context_value(&ctx.context().data));
        rules::evaluate(
            rule,
            arguments,
            context.as_ref(),
            &format_args!("{}:{}", entity.name, id),
        )
    }
}
