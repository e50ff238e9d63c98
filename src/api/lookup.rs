//! Lookups: which objects a subject can act on, which subjects can act on
//! an object. Complete (no cap, no time limit) and exactly the ids for which
//! `rbac.check` is true; their cost grows with the answer, not with the
//! number of stored tuples.

use std::rc::Rc;

use notion_rbac_core::engine::{self, TextList};
use notion_rbac_core::tuple;
use pgrx::prelude::*;

use super::check::{options, options_key};
use super::context::{context_of, ContextArg};
use crate::errors::OrRaise;
use crate::store;

/// Every id of `entity_type` on which `subject` has `action`, sorted.
/// Join it with your own tables to filter, sort and paginate by permission:
/// `SELECT p.* FROM pages p JOIN rbac.lookup_resources('user:bob', 'read', 'page') r(id) ON r.id = p.id`.
#[pg_extern(stable, parallel_restricted)]
fn lookup_resources(
    subject: Option<&str>,
    action: Option<&str>,
    entity_type: Option<&str>,
    context: default!(Option<ContextArg>, "NULL"),
) -> SetOfIterator<'static, String> {
    // NULL arguments find nothing, as a strict function would.
    let (Some(subject), Some(action), Some(entity_type)) = (subject, action, entity_type) else {
        return SetOfIterator::new(Vec::new());
    };
    let ctx = context_of(context);
    let subject = tuple::parse_subject(subject).or_raise();
    // Without a context the answer depends on the stored data alone: kept
    // for later calls whose snapshot sees the same data (the read cache's
    // rule; nothing is kept when the cache is off).
    // (Under the same limits: others may end in an error instead.)
    let key = ctx.is_empty()
        .then(|| format!("lookup_resources\0{subject}\0{action}\0{entity_type}\0{}", options_key()));
    let ids = store::read(|schema, source| {
        if let Some(kept) = key.as_deref().and_then(|k| source.cache().recall::<TextList>(k)) {
            return Ok(kept);
        }
        let ids = Rc::new(engine::lookup_resource_list(schema, source, &subject, action, entity_type, &ctx, options())?);
        if let Some(k) = key.as_deref() {
            source.cache().remember(k, Rc::clone(&ids), ids.len());
        }
        Ok(ids)
    })
    .or_raise();
    SetOfIterator::new(Ids { list: ids, next: 0 })
}

/// A lookup's answer as rows: one buffer, shared with the read cache, each
/// id copied out as its row is returned (a cancelled or abandoned scan of
/// a million rows frees two allocations, not a million).
struct Ids {
    list: Rc<TextList>,
    next: usize,
}

impl Iterator for Ids {
    type Item = String;
    fn next(&mut self) -> Option<String> {
        let id = (self.next < self.list.len()).then(|| self.list.get(self.next).to_owned());
        self.next += 1;
        id
    }
}

/// Every subject id of `subject_type` (`user`, or `team#member` for subject
/// sets) that has `action` on `object`, sorted.
#[pg_extern(stable, parallel_restricted)]
fn lookup_subjects(
    object: Option<&str>,
    action: Option<&str>,
    subject_type: Option<&str>,
    context: default!(Option<ContextArg>, "NULL"),
) -> SetOfIterator<'static, String> {
    let (Some(object), Some(action), Some(subject_type)) = (object, action, subject_type) else {
        return SetOfIterator::new(Vec::new());
    };
    let ctx = context_of(context);
    let object = tuple::parse_object(object).or_raise();
    let ids = store::read(|schema, source| {
        engine::lookup_subjects(schema, source, &object, action, subject_type, &ctx, options())
    })
    .or_raise();
    SetOfIterator::new(ids)
}
