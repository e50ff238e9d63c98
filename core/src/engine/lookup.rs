//! Lookups: which entities of a type a subject has a permission on
//! ([`lookup_resources`]), and which subjects of a type have a permission
//! on an entity ([`lookup_subjects`]).
//!
//! The answer is exactly the ids whose [`Checker::check`] is true, among
//! the ids that tuples or attribute values connect to the question (see
//! "Candidates" below), and the cost grows with the answer, not with the
//! store: the part of the permission graph that is a plain union is
//! *proved* by the search itself, and only what the search leaves open is
//! decided by a full check.
//!
//! # Nodes, proofs, gates
//!
//! A node is `(type, id, name)`: "the subject has `name` on `type:id`". The
//! check's value of a node is the least fixpoint of the rules of §8 of the
//! language notes (see [`check`](mod@super::check)): a relation holds if a
//! tuple names the subject or names a subject set whose node holds; a
//! permission evaluates its expression; a walk `rel.target` holds if
//! `target` holds on some subject of `rel`.
//!
//! [`lookup_resources`] runs these rules backwards, from the subject. Its
//! seeds are the nodes true without further evidence: the subject itself
//! (the self shortcut — the subject set `T:x#r` has `r` on `T:x`), relation
//! nodes whose stored or contextual tuple names the subject exactly, and
//! attribute or rule nodes that hold on an entity with a value (those hold
//! whatever the subject). From a true node it follows the schema's rewrite
//! edges upwards (precomputed per target from the schema, `analysis::Plan`):
//! - a relation `E#R` with subject type `T#r`: `E:x#R` from each tuple
//!   `E:x#R@T:y#r` (the reverse index) when `T:y#r` holds;
//! - a computed name `p = … q …`: `E:x#p` from `E:x#q`;
//! - a walk `p = … rel.target …`: `E:x#p` from each tuple `E:x#rel@T:y(#any)`
//!   when `T:y#target` holds.
//!
//! Whether the parent is then *true* depends on where the leaf sits in the
//! parent's expression — its **gate** (`analysis::Gate`):
//! - **Open**: only unions (`or`) lie between the permission and the leaf,
//!   and relations are open for their subject sets. The leaf being true
//!   makes the parent true: this is the monotone part, and proofs through it
//!   cost one index read per edge and no evaluation at all.
//! - **Residual**: intersections or exclusions lie above the leaf (`a and b`
//!   reached through `a`; `(reader or parent.read) not banned` reached
//!   through either base leaf). The other operands that decide the parent —
//!   the remaining intersection operands, the subtracted sides — are
//!   evaluated on that one node, with the leaf known true, by the checker's
//!   own rules (`resources::Evaluator::residual`). This is allowed only if
//!   those operands are *acyclic* in the schema graph: then their
//!   evaluation visits a bounded number of levels whatever the data (their
//!   static height), and cannot reach any node above in the derivation (it
//!   would close a cycle), so it gives the value the full check would see
//!   there. `true` proves the parent; `false` proves nothing through this
//!   leaf (another leaf may still prove it); an error makes it a candidate.
//! - **Closed**: some such operand is recursive (`x and parent.x`, or
//!   `not banned` where `banned` holds nested groups). The parent is only a
//!   *candidate*.
//!
//! Candidates spread upwards (a candidate can make any parent a candidate:
//! the superset a candidate-then-check search needs), but only where
//! nothing was proved. Target nodes
//! proved within the depth limit are answers; candidate target nodes are
//! decided by a full check (memoised across candidates). So a schema whose
//! target only reaches unions needs no check at all, a mixed one such as
//! `read = (reader or parent.read) not banned` costs one reverse read per
//! node plus the evaluation of `banned` on it, and only recursive gates
//! fall back to checking candidates.
//!
//! Why this is exact. *Sound:* every proof step is a rule of the check,
//! applied to nodes already proved (so the proof is finite and acyclic),
//! with gates evaluated exactly as the check evaluates them. *Complete:* a
//! true node has a proof; in its expression some positive leaf (any true
//! operand of a union, the chosen operand of a true intersection, the base
//! of a true exclusion) is true and its gate's operands have the values that
//! make it count, so by induction on the proof the node is proved or, where
//! an evaluation failed or the gate is closed, made a candidate and checked.
//!
//! # Depth
//!
//! The check errs on a node deeper than `max_depth`. Every proved node
//! carries its proof *height*: the deepest level, counted from the node,
//! that the check visits when it follows this proof (a seed is 0, the self
//! shortcut -1 because it answers before the depth test, an edge adds one,
//! a residual gate needs at least its operands' static height). Proofs are
//! expanded smallest height first, so each node gets its smallest height.
//! A target node whose height is within `max_depth` is one the check finds
//! true (a union is true as soon as one operand is, whatever errors the
//! others raise); a taller one is checked, on its own, which reports the
//! error exactly when a single check would. (The check also guards its
//! stack with [`CheckOptions::max_stack_bytes`], a safety net sized to hold
//! the default depth; the expansion does not recurse and does not need it.)
//!
//! Candidates are checked with one checker whose memo is shared across
//! candidates and gate evaluations: an ancestor's permission decided once
//! answers for all its descendants. The checker's memo is exact (see the
//! "Memo" section of the check module: entries answer only where reuse
//! cannot change a value, and record the depth they relied on), so a shared
//! memo gives the same answers and the same depth errors as single checks.
//! Nodes of an *unstratified* schema (`x = a not y`, `y = next.x`) are
//! settled by the check, once for all candidates. The taller-than-the-limit
//! proofs above are still checked alone, as a second line of defence that
//! costs little.
//!
//! # Candidates
//!
//! Attribute and rule leaves hold or fail independently of the subject. For
//! entities, their nodes are the entities with a stored or contextual value
//! of an attribute the leaf reads. A rule that is true on the zero values of
//! missing attributes is thus true for entities no search can enumerate;
//! like Permify, lookups only return entities that have one of the
//! attributes. [`unlisted_by`] names such a rule for a permission, for
//! callers that need the lookup to equal the check (row-level security).
//!
//! # Subjects
//!
//! [`lookup_subjects`] runs the same idea forwards from the entity: a node
//! reached through open gates only (and within the depth limit) is *sure*,
//! so a subject that a sure relation node holds exactly — or that a sure
//! node is, by the self shortcut — is an answer without a check. Everything
//! found behind a residual or closed gate is a candidate, checked with
//! shared reads: the gate's other operands depend on the subject, so there
//! is nothing to evaluate once for all. An attribute or rule leaf that holds
//! makes "everyone" (every subject id of the type that appears as a plain
//! subject in a stored or contextual tuple, Permify's notion) an answer
//! when its node is sure, else candidates.

mod analysis;
mod resources;
mod state_ids;
mod subjects;
mod unlisted;

pub use unlisted::unlisted_by;

use analysis::Kind;

#[cfg(doc)]
use super::check::Checker;
use super::check::{CheckOptions, undefined_member};
use super::context::Context;
use super::source::TupleSource;
use super::text_list::TextList;
use crate::error::Result;
use crate::model::{EntityDef, Schema};
use crate::tuple::{ObjectRef, SubjectRef};

/// How a lookup reached its answer: what the expansion proved and what it
/// left to full checks. For tests and diagnostics; the answer itself does
/// not depend on it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LookupStats {
    /// Answers the expansion proved, returned without a check.
    pub proven: usize,
    /// Candidates decided by a full check.
    pub checked: usize,
    /// Residual gate evaluations made during the expansion (resources only).
    pub gates: usize,
}

/// The kind a lookup asks about: a member of the entity type, or a rule
/// checked by name (as [`Checker::check`] allows; members come first).
fn target_kind<'a>(schema: &'a Schema, entity: &'a EntityDef, name: &str) -> Result<Kind<'a>> {
    if let Some(member) = entity.member(name) {
        return Ok(Kind::member(entity, member));
    }
    match schema.rule(name) {
        Some(rule) => Ok(Kind::rule(entity, rule)),
        None => Err(undefined_member(entity, name)),
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
    lookup_resources_with_stats(schema, source, subject, permission, entity_type, ctx, opts)
        .map(|(ids, _)| ids)
}

/// [`lookup_resources`], its ids in one buffer: what a server returning or
/// keeping large answers should use (a million ids are two allocations,
/// not a million, to build, share and free).
pub fn lookup_resource_list<S: TupleSource + ?Sized>(
    schema: &Schema,
    source: &mut S,
    subject: &SubjectRef,
    permission: &str,
    entity_type: &str,
    ctx: &Context,
    opts: CheckOptions,
) -> Result<TextList> {
    resources::lookup(schema, source, subject, permission, entity_type, ctx, opts).map(|(ids, _)| ids)
}

/// [`lookup_resources`], also telling how the answer was reached.
pub fn lookup_resources_with_stats<S: TupleSource + ?Sized>(
    schema: &Schema,
    source: &mut S,
    subject: &SubjectRef,
    permission: &str,
    entity_type: &str,
    ctx: &Context,
    opts: CheckOptions,
) -> Result<(Vec<String>, LookupStats)> {
    resources::lookup(schema, source, subject, permission, entity_type, ctx, opts)
        .map(|(ids, stats)| (ids.iter().map(str::to_owned).collect(), stats))
}

/// Every subject id of `subject_reference` (`"user"`, or `"group#member"`
/// for subject sets) that has `permission` on `entity`, sorted and
/// de-duplicated: exactly the ids whose [`Checker::check`] is true, among
/// the subjects found in tuples below the entity (or everyone, see the
/// module docs). An error checking any candidate fails the lookup.
pub fn lookup_subjects<S: TupleSource + ?Sized>(
    schema: &Schema,
    source: &mut S,
    entity: &ObjectRef,
    permission: &str,
    subject_reference: &str,
    ctx: &Context,
    opts: CheckOptions,
) -> Result<Vec<String>> {
    lookup_subjects_with_stats(
        schema,
        source,
        entity,
        permission,
        subject_reference,
        ctx,
        opts,
    )
    .map(|(ids, _)| ids)
}

/// [`lookup_subjects`], also telling how the answer was reached.
pub fn lookup_subjects_with_stats<S: TupleSource + ?Sized>(
    schema: &Schema,
    source: &mut S,
    entity: &ObjectRef,
    permission: &str,
    subject_reference: &str,
    ctx: &Context,
    opts: CheckOptions,
) -> Result<(Vec<String>, LookupStats)> {
    subjects::lookup(
        schema,
        source,
        entity,
        permission,
        subject_reference,
        ctx,
        opts,
    )
}
