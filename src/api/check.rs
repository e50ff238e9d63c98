//! Permission checks: `rbac.check` and `rbac.check_many`.
//!
//! Every check reads the active schema and the tuples in the calling
//! statement's snapshot (see `store::source` and `store::read_cache`), so it
//! is exactly as consistent as any other query of the caller's transaction.

use notion_rbac_core::engine::{self, CheckOptions, Checker, Context};
use notion_rbac_core::model::Schema;
use notion_rbac_core::tuple::{self, ObjectRef, SubjectRef};
use pgrx::prelude::*;

use super::context::{context_of, ContextArg};
use super::tuples::parse_elements;
use crate::errors::OrRaise;
use crate::guc;
use crate::store;
use crate::store::source::IndexSource;

/// The limits of [`options`] as part of the key of an answer kept across
/// calls: under other limits the same question may end in an error (depth
/// or fixpoint size exceeded) instead of an answer.
pub(crate) fn options_key() -> String {
    format!("{}/{}", guc::max_depth(), guc::max_fixpoint_size())
}

pub(crate) fn options() -> CheckOptions {
    CheckOptions {
        max_depth: guc::max_depth(),
        max_fixpoint_size: guc::max_fixpoint_size(),
        ..CheckOptions::default()
    }
}


fn subject_of(text: &str) -> SubjectRef {
    tuple::parse_subject(text).or_raise()
}

fn object_of(text: &str) -> ObjectRef {
    tuple::parse_object(text).or_raise()
}

/// Runs `run` on a checker resumed from what earlier checks of `subject`
/// (its text as given) learnt in the same snapshot view (see
/// `ReadCache::take_checker`), and keeps what it learns for later ones when
/// `succeeded` says so: a failed check's results are dropped with it, as is
/// what the cache refuses (more than its whole bound).
fn with_kept_checker<'s, R>(
    schema: &Schema,
    source: &mut IndexSource<'s>,
    subject: &str,
    opts: CheckOptions,
    run: impl FnOnce(&mut Checker<'_, IndexSource<'s>>) -> R,
    succeeded: impl FnOnce(&R) -> bool,
) -> R {
    let ctx = Context::default();
    let reads_before = source.cache().reads();
    let kept = source.cache().take_checker(subject, opts);
    let mut checker = Checker::resume(schema, source, &ctx, opts, kept);
    let out = run(&mut checker);
    if succeeded(&out) {
        let kept = checker.keep();
        drop(source.cache().keep_checker(subject, opts, kept, reads_before));
    }
    out
}

fn run_check(subject_text: &str, action: &str, object: &str, ctx: &Context) -> bool {
    let subject = subject_of(subject_text);
    let object = object_of(object);
    let opts = options();
    store::read(|schema, source| {
        if !ctx.is_empty() {
            return engine::check(schema, source, &object, action, &subject, ctx, opts);
        }
        // A repeated check costs a memo probe.
        with_kept_checker(schema, source, subject_text, opts, |c| c.check(&object, action, &subject), Result::is_ok)
    })
    .or_raise()
}

/// Does `subject` (`user:alice`, or a subject set `team:eng#member`) have
/// `action` (a permission, relation, boolean attribute or rule of the
/// object's entity) on `object` (`page:plan`)?
///
/// An unknown entity type or action is an error naming it; an unknown id
/// is simply false. Cycles in the data grant nothing by themselves; an
/// acyclic chain deeper than `notion_rbac.max_depth` is an error (54001).
#[pg_extern(stable, strict, parallel_restricted, name = "check")]
fn check(subject: &str, action: &str, object: &str) -> bool {
    run_check(subject, action, object, &Context::default())
}

/// `rbac.check` with a request context:
/// `{"tuples": ["page:x#reader@user:a"], "attributes": ["page:x$public|boolean:true"], "data": {"amount": 10}}`.
/// Contextual tuples and attributes count for this call only; `data` is
/// visible to rules as `context.data`.
#[pg_extern(stable, parallel_restricted, name = "check")]
fn check_with_context(
    subject: Option<&str>,
    action: Option<&str>,
    object: Option<&str>,
    context: Option<ContextArg>,
) -> Option<bool> {
    // NULLs first: a NULL answer reads nothing, so a token must not make
    // it wait (nor leave a request for a new snapshot behind).
    let (subject, action, object) = (subject?, action?, object?);
    let ctx = context_of(context);
    Some(run_check(subject, action, object, &ctx))
}

/// Checks one subject against many objects in one call (sharing the work
/// between them). One row per object, in the given order.
#[pg_extern(stable, parallel_restricted, name = "check_many")]
fn check_many_objects(
    subject: Option<&str>,
    action: Option<&str>,
    objects: Option<Vec<Option<String>>>,
    context: default!(Option<ContextArg>, "NULL"),
) -> TableIterator<'static, (name!(object, Option<String>), name!(allowed, Option<bool>))> {
    let objects = objects.unwrap_or_default();
    // A NULL subject or action answers NULL for every object, as a strict
    // rbac.check would.
    let (Some(subject), Some(action)) = (subject, action) else {
        return TableIterator::new(objects.into_iter().map(|o| (o, None)).collect::<Vec<_>>());
    };
    let ctx = context_of(context);
    let subject_text = subject;
    let subject = subject_of(subject_text);
    let (is_present, present) = split_present(parse_elements(&objects, None, tuple::parse_object));
    let opts = options();
    let results = store::read(|schema, source| {
        if !ctx.is_empty() {
            return Checker::new(schema, source, &ctx, opts).check_many_objects(&present, action, &subject);
        }
        with_kept_checker(
            schema,
            source,
            subject_text,
            opts,
            |c| c.check_many_objects(&present, action, &subject),
            |results| results.iter().all(Result::is_ok),
        )
    });
    TableIterator::new(rows_in_order(objects, is_present, results))
}

/// Checks many subjects against one object in one call. One row per
/// subject, in the given order.
#[pg_extern(stable, parallel_restricted, name = "check_many")]
fn check_many_subjects(
    subjects: Option<Vec<Option<String>>>,
    action: Option<&str>,
    object: Option<&str>,
    context: default!(Option<ContextArg>, "NULL"),
) -> TableIterator<'static, (name!(subject, Option<String>), name!(allowed, Option<bool>))> {
    let subjects = subjects.unwrap_or_default();
    let (Some(action), Some(object)) = (action, object) else {
        return TableIterator::new(subjects.into_iter().map(|s| (s, None)).collect::<Vec<_>>());
    };
    let ctx = context_of(context);
    let object = object_of(object);
    let (is_present, present) = split_present(parse_elements(&subjects, None, tuple::parse_subject));
    let results = store::read(|schema, source| {
        Checker::new(schema, source, &ctx, options()).check_many_subjects(&object, action, &present)
    });
    TableIterator::new(rows_in_order(subjects, is_present, results))
}

/// Where an array's elements are present (not NULL), and those elements,
/// moved out rather than copied: an array may hold millions.
fn split_present<T>(parsed: Vec<Option<T>>) -> (Vec<bool>, Vec<T>) {
    let is_present = parsed.iter().map(Option::is_some).collect();
    (is_present, parsed.into_iter().flatten().collect())
}

/// One row per element of a `check_many` array, in the given order: an
/// element's answer, NULL for a NULL element. Any error is raised before a
/// row is made.
fn rows_in_order(
    texts: Vec<Option<String>>,
    is_present: Vec<bool>,
    results: Vec<notion_rbac_core::Result<bool>>,
) -> Vec<(Option<String>, Option<bool>)> {
    let mut results = results.into_iter().map(|r| r.or_raise()).collect::<Vec<_>>().into_iter();
    texts
        .into_iter()
        .zip(is_present)
        .map(|(text, present)| if present { (text, results.next()) } else { (None, None) })
        .collect()
}

