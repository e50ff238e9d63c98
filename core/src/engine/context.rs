//! The request context: contextual tuples, contextual attributes and the
//! free-form `data` object that rules read as `context.data`.
//!
//! Contextual data counts for one call only and is never validated against
//! the schema (as in Permify): a caller may pass tuples the schema would
//! reject, and the engine simply follows them where they lead.


use std::rc::Rc;

use serde_json::{Map, Value as Json};

use crate::error::{Error, ErrorKind, Result};
use super::chains::{Chain, Chains, key_hash};
use super::text_list::TextList;
use crate::tuple::{self, Attribute, SubjectRef, Tuple, Value};

/// Contextual data of one check or lookup.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    /// Tuples added to the stored ones for this call.
    pub tuples: Vec<Tuple>,
    /// Attribute values added to the stored ones for this call.
    pub attributes: Vec<Attribute>,
    /// `context.data` for rules. JSON numbers reach CEL as doubles, as they
    /// do in Permify (whose context travels as a protobuf `Struct`).
    pub data: Map<String, Json>,
}

impl Context {
    /// Whether the context adds nothing at all.
    pub fn is_empty(&self) -> bool {
        self.tuples.is_empty() && self.attributes.is_empty() && self.data.is_empty()
    }

    /// Parses the SQL layer's `context jsonb` argument:
    /// `{"tuples": ["page:x#reader@user:a", …], "attributes":
    /// ["page:x$public|boolean:true", …], "data": {…}}`.
    ///
    /// Every key is optional and may be `null`. An unknown key or a value of
    /// the wrong shape is an [`ErrorKind::InvalidArgument`] naming the key;
    /// a tuple or attribute that does not parse keeps the parser's error kind
    /// and gets the key and index prefixed to its message.
    pub fn from_json(value: &Json) -> Result<Context> {
        Context::from_json_and_lists(value, None, None)
    }

    /// [`Context::from_json`] for a host that read the `tuples` and
    /// `attributes` arrays (when they hold only strings) into
    /// [`TextList`]s itself, leaving them out of `value`: a context of a
    /// million items then costs no JSON value and allocation per item, to
    /// build or to free (a cancelled call frees everything it read before
    /// PostgreSQL reports the cancel). Same result and errors, in the same
    /// order: keys are read in sorted order either way.
    pub fn from_json_and_lists(
        value: &Json,
        tuples: Option<&TextList>,
        attributes: Option<&TextList>,
    ) -> Result<Context> {
        let empty = Map::new();
        let object = match value {
            Json::Null if tuples.is_none() && attributes.is_none() => return Ok(Context::default()),
            Json::Null => &empty,
            Json::Object(o) => o,
            other => {
                return Err(invalid_argument(format!(
                    "context must be a JSON object with the keys \"tuples\", \"attributes\" and \"data\", not {}",
                    json_kind(other)
                )));
            }
        };
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        // (A host gives a list in place of its key, never both.)
        if tuples.is_some() && !object.contains_key("tuples") {
            keys.push("tuples");
        }
        if attributes.is_some() && !object.contains_key("attributes") {
            keys.push("attributes");
        }
        keys.sort_unstable();
        // Set aside, not freed, if a cancel unwinds the parse.
        let mut ctx = CallContext::new(Context::default());
        for key in keys {
            let listed = match key {
                "tuples" => tuples,
                "attributes" => attributes,
                _ => None,
            };
            let texts: Vec<&str> = match (listed, object.get(key)) {
                (Some(list), _) => list.iter().collect(),
                (None, Some(v)) if key == "tuples" || key == "attributes" => string_list(key, v)?,
                (None, Some(v)) if key == "data" => {
                    match v {
                        Json::Null => {}
                        Json::Object(o) => ctx.data = o.clone(),
                        other => {
                            return Err(invalid_argument(format!(
                                "context key \"data\" must be a JSON object, not {}",
                                json_kind(other)
                            )));
                        }
                    }
                    continue;
                }
                _ => {
                    return Err(invalid_argument(format!(
                        "unknown context key \"{key}\" (expected \"tuples\", \"attributes\" or \"data\")"
                    )));
                }
            };
            if key == "tuples" {
                ctx.tuples.reserve(texts.len());
                for (i, text) in texts.into_iter().enumerate() {
                    poll_every(i);
                    let t = tuple::parse_tuple(text).map_err(|e| prefixed(e, key, i))?;
                    ctx.tuples.push(t);
                }
            } else {
                ctx.attributes.reserve(texts.len());
                for (i, text) in texts.into_iter().enumerate() {
                    poll_every(i);
                    let a = tuple::parse_attribute(text).map_err(|e| prefixed(e, key, i))?;
                    ctx.attributes.push(a);
                }
            }
        }
        Ok(ctx.into_inner())
    }
}

/// A call's context, for hosts whose cancellation unwinds the call.
///
/// Dropped when the call ends, as usual; but when the call unwinds (a
/// cancel, a timeout, any error) a large context is set aside instead of
/// freed: freeing a million parsed items takes about a tenth of a second,
/// and PostgreSQL reports a cancel only once the call has unwound. What is
/// set aside is freed a few thousand items at a time by later polls of the
/// same thread ([`crate::interrupt::poll`] calls [`free_set_aside`]), so no
/// step of it delays a cancel either.
pub struct CallContext(Context);

/// Contexts with fewer items are freed as they unwind: they take no time
/// worth deferring.
const SET_ASIDE_FROM: usize = 4096;

/// Items freed per poll while contexts are set aside (about 0.1 ms).
const FREED_PER_POLL: usize = 4096;

thread_local! {
    static SET_ASIDE: std::cell::RefCell<Vec<Context>> = const { std::cell::RefCell::new(Vec::new()) };
    static ANY_SET_ASIDE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl CallContext {
    pub fn new(ctx: Context) -> Self {
        CallContext(ctx)
    }

    /// The context, no longer set aside if an unwind follows.
    pub fn into_inner(mut self) -> Context {
        std::mem::take(&mut self.0)
    }
}

impl std::ops::DerefMut for CallContext {
    fn deref_mut(&mut self) -> &mut Context {
        &mut self.0
    }
}

impl std::ops::Deref for CallContext {
    type Target = Context;
    fn deref(&self) -> &Context {
        &self.0
    }
}

impl Drop for CallContext {
    fn drop(&mut self) {
        let ctx = std::mem::take(&mut self.0);
        if std::thread::panicking() && ctx.tuples.len() + ctx.attributes.len() >= SET_ASIDE_FROM {
            let kept = SET_ASIDE.with(|s| match s.try_borrow_mut() {
                Ok(mut s) => {
                    s.push(ctx);
                    ANY_SET_ASIDE.with(|a| a.set(true));
                    None
                }
                Err(_) => Some(ctx),
            });
            drop(kept);
        }
    }
}

/// Frees up to [`FREED_PER_POLL`] items of contexts set aside by calls
/// that unwound (see [`CallContext`]); nothing when there are none.
#[inline]
pub fn free_set_aside() {
    if ANY_SET_ASIDE.with(|a| a.get()) {
        free_some(FREED_PER_POLL);
    }
}

#[cold]
fn free_some(mut budget: usize) {
    SET_ASIDE.with(|s| {
        let Ok(mut s) = s.try_borrow_mut() else { return };
        while budget > 0 {
            let Some(ctx) = s.last_mut() else { break };
            let n = ctx.attributes.len().min(budget);
            ctx.attributes.truncate(ctx.attributes.len() - n);
            budget -= n;
            let n = ctx.tuples.len().min(budget);
            ctx.tuples.truncate(ctx.tuples.len() - n);
            budget -= n;
            if ctx.attributes.is_empty() && ctx.tuples.is_empty() {
                s.pop();
            }
        }
        if s.is_empty() {
            ANY_SET_ASIDE.with(|a| a.set(false));
        }
    });
}

/// Items of contexts set aside and not yet freed (for tests).
pub fn set_aside_items() -> usize {
    SET_ASIDE.with(|s| s.borrow().iter().map(|c| c.tuples.len() + c.attributes.len()).sum())
}


fn invalid_argument(message: String) -> Error {
    Error::new(ErrorKind::InvalidArgument, message)
}

fn prefixed(mut e: Error, key: &str, index: usize) -> Error {
    e.message = format!("context {key}[{index}]: {}", e.message);
    e
}

fn json_kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// A `null` or an array of strings.
fn string_list<'v>(key: &str, v: &'v Json) -> Result<Vec<&'v str>> {
    match v {
        Json::Null => Ok(Vec::new()),
        Json::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                item.as_str().ok_or_else(|| {
                    invalid_argument(format!(
                        "context key \"{key}\" must be an array of strings, but element {i} is {}",
                        json_kind(item)
                    ))
                })
            })
            .collect(),
        other => Err(invalid_argument(format!(
            "context key \"{key}\" must be an array of strings, not {}",
            json_kind(other)
        ))),
    }
}

/// Contexts up to this size are scanned linearly; larger ones get a hash
/// index so that a check stays cheap however many tuples the caller passes.
const LINEAR_SCAN_LIMIT: usize = 8;

/// Read access to a context's tuples and attributes by the keys the engine
/// asks for (forward, reverse, attribute), mirroring [`super::TupleSource`].
///
/// The index stores hashes of borrowed keys rather than the keys themselves,
/// so lookups with short-lived `&str`s need no allocation; every hit is
/// verified against the tuple, so a hash collision costs time, not truth.
///
/// Cloning is cheap (the maps are shared), which lets the checker iterate
/// contextual rows while it recurses.
#[derive(Clone)]
pub(crate) struct ContextIndex<'c> {
    ctx: &'c Context,
    forward: Option<Rc<Chains>>,
    reverse: Option<Rc<Chains>>,
    /// Contextual attributes by (type, id, name), in context order (a
    /// lookup asks once per entity, so a linear scan would make it
    /// quadratic).
    attributes: Option<Rc<Chains>>,
}

/// Polls for interrupts every 1024th item of a long list: a context may
/// hold millions of items, and reading them is work like any other.
#[inline]
pub(crate) fn poll_every(i: usize) {
    if i % 1024 == 1023 {
        crate::interrupt::poll();
    }
}

impl<'c> ContextIndex<'c> {
    pub(crate) fn new(ctx: &'c Context) -> Self {
        let (mut forward, mut reverse) = (None, None);
        let tuples = &ctx.tuples;
        if tuples.len() > LINEAR_SCAN_LIMIT {
            forward = Some(Rc::new(Chains::build(tuples.len(), |i| {
                let t = &tuples[i];
                key_hash(&[&t.entity.ty, &t.entity.id, &t.relation])
            })));
            reverse = Some(Rc::new(Chains::build(tuples.len(), |i| {
                let t = &tuples[i];
                key_hash(&[&t.subject.ty, &t.subject.id, &t.entity.ty, &t.relation])
            })));
        }
        let attributes = &ctx.attributes;
        let attributes = (attributes.len() > LINEAR_SCAN_LIMIT).then(|| {
            Rc::new(Chains::build(attributes.len(), |i| {
                let a = &attributes[i];
                key_hash(&[&a.entity.ty, &a.entity.id, &a.name])
            }))
        });
        ContextIndex {
            ctx,
            forward,
            reverse,
            attributes,
        }
    }

    pub(crate) fn context(&self) -> &'c Context {
        self.ctx
    }

    pub(crate) fn has_tuples(&self) -> bool {
        !self.ctx.tuples.is_empty()
    }

    /// Contextual tuples `ty:id#relation@…`, as their subjects.
    pub(crate) fn forward<'s>(
        &'s self,
        ty: &'s str,
        id: &'s str,
        relation: &'s str,
    ) -> impl Iterator<Item = &'c SubjectRef> + 's {
        let bucket = self
            .forward
            .as_ref()
            .map(|chains| chains.positions(key_hash(&[ty, id, relation])));
        Candidates::new(&self.ctx.tuples, bucket)
            .filter(move |t| t.entity.id == id && t.relation == relation && t.entity.ty == ty)
            .map(|t| &t.subject)
    }

    /// Contextual tuples `entity_type:?#relation@subject_ty:subject_id#?`.
    pub(crate) fn reverse<'s>(
        &'s self,
        subject_ty: &'s str,
        subject_id: &'s str,
        entity_type: &'s str,
        relation: &'s str,
    ) -> impl Iterator<Item = &'c Tuple> + 's {
        let bucket = self
            .reverse
            .as_ref()
            .map(|chains| chains.positions(key_hash(&[subject_ty, subject_id, entity_type, relation])));
        Candidates::new(&self.ctx.tuples, bucket).filter(move |t| {
            t.subject.id == subject_id
                && t.relation == relation
                && t.entity.ty == entity_type
                && t.subject.ty == subject_ty
        })
    }

    /// The first contextual value of attribute `name` of `ty:id`.
    pub(crate) fn attribute(&self, ty: &str, id: &str, name: &str) -> Option<&'c Value> {
        let matches = |a: &&'c Attribute| a.entity.id == id && a.name == name && a.entity.ty == ty;
        match &self.attributes {
            None => self.ctx.attributes.iter().find(matches),
            Some(chains) => chains
                .positions(key_hash(&[ty, id, name]))
                .filter_map(|i| self.ctx.attributes.get(i))
                .find(matches),
        }
        .map(|a| &a.value)
    }
}

/// The tuples a lookup has to look at: one hash chain of an indexed
/// context, or every tuple of a small one. An enum rather than a boxed
/// iterator so that a read allocates nothing.
enum Candidates<'s, 'c> {
    Indexed { tuples: &'c [Tuple], chain: Chain<'s> },
    Linear(std::slice::Iter<'c, Tuple>),
}

impl<'s, 'c> Candidates<'s, 'c> {
    /// `chain` is `None` for an unindexed context.
    fn new(tuples: &'c [Tuple], chain: Option<Chain<'s>>) -> Self {
        match chain {
            None => Candidates::Linear(tuples.iter()),
            Some(chain) => Candidates::Indexed { tuples, chain },
        }
    }
}

impl<'s, 'c> Iterator for Candidates<'s, 'c> {
    type Item = &'c Tuple;
    fn next(&mut self) -> Option<&'c Tuple> {
        match self {
            Candidates::Indexed { tuples, chain } => chain.next().and_then(|i| tuples.get(i)),
            Candidates::Linear(it) => it.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx_with(attributes: &[&str]) -> Context {
        let json = serde_json::json!({ "attributes": attributes });
        Context::from_json(&json).unwrap()
    }

    /// Large contexts are indexed; the answer is the same as the linear
    /// scan of small ones: the first value given for a key wins.
    #[test]
    fn indexed_attributes_answer_like_the_linear_scan() {
        let mut many: Vec<String> = (0..50).map(|i| format!("doc:d{i}$public|boolean:true")).collect();
        many.push("doc:d7$public|boolean:false".to_owned());
        many.push("doc:d60$public|boolean:false".to_owned());
        many.push("doc:d60$public|boolean:true".to_owned());
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let big = ctx_with(&refs);
        let index = ContextIndex::new(&big);
        assert!(index.attributes.is_some(), "a context this large is indexed");
        assert_eq!(index.attribute("doc", "d7", "public"), Some(&Value::Boolean(true)));
        assert_eq!(index.attribute("doc", "d60", "public"), Some(&Value::Boolean(false)));
        assert_eq!(index.attribute("doc", "d99", "public"), None);
        assert_eq!(index.attribute("folder", "d7", "public"), None);
        let small = ctx_with(&["doc:d60$public|boolean:false", "doc:d60$public|boolean:true"]);
        let index = ContextIndex::new(&small);
        assert!(index.attributes.is_none());
        assert_eq!(index.attribute("doc", "d60", "public"), Some(&Value::Boolean(false)));
    }

    /// Indexed tuples come back in context order, as a linear scan
    /// finds them, forwards and in reverse.
    #[test]
    fn indexed_tuples_answer_like_the_linear_scan() {
        let texts: Vec<String> = (0..60)
            .map(|i| format!("doc:d{}#viewer@user:u{}", i % 7, i % 5))
            .collect();
        let ctx = Context::from_json(&serde_json::json!({ "tuples": texts })).unwrap();
        let index = ContextIndex::new(&ctx);
        assert!(index.forward.is_some(), "a context this large is indexed");
        for d in 0..8 {
            let id = format!("d{d}");
            let got: Vec<&SubjectRef> = index.forward("doc", &id, "viewer").collect();
            let want: Vec<&SubjectRef> = ctx
                .tuples
                .iter()
                .filter(|t| t.entity.id == id && t.relation == "viewer")
                .map(|t| &t.subject)
                .collect();
            assert_eq!(got, want, "forward {id}");
        }
        for u in 0..6 {
            let id = format!("u{u}");
            let got: Vec<&Tuple> = index.reverse("user", &id, "doc", "viewer").collect();
            let want: Vec<&Tuple> = ctx.tuples.iter().filter(|t| t.subject.id == id).collect();
            assert_eq!(got, want, "reverse {id}");
        }
        assert_eq!(index.forward("doc", "d1", "owner").count(), 0);
    }

    /// Lists read by the host give what the same arrays in the JSON give,
    /// errors included (same message, same index, same key order).
    #[test]
    fn lists_read_by_the_host_parse_like_json_arrays() {
        let tuples = ["doc:d1#viewer@user:u1", "doc:d2#parent@doc:d1"];
        let attributes = ["doc:d1$public|boolean:true"];
        let json = serde_json::json!({ "tuples": tuples, "attributes": attributes, "data": { "k": 1 } });
        let mut t = TextList::default();
        tuples.iter().for_each(|s| t.push(s));
        let mut a = TextList::default();
        attributes.iter().for_each(|s| a.push(s));
        assert_eq!(t.iter().collect::<Vec<_>>(), tuples);
        let rest = serde_json::json!({ "data": { "k": 1 } });
        assert_eq!(
            Context::from_json_and_lists(&rest, Some(&t), Some(&a)).unwrap(),
            Context::from_json(&json).unwrap()
        );
        assert_eq!(
            Context::from_json_and_lists(&Json::Null, Some(&t), None).unwrap(),
            Context::from_json(&serde_json::json!({ "tuples": tuples })).unwrap()
        );
        // The first error in key order, whichever way the arrays came.
        let bad_t = ["doc:d1#viewer@user:u1", "nonsense"];
        let bad_a = ["doc:d1$public"];
        let json = serde_json::json!({ "tuples": bad_t, "attributes": bad_a, "zzz": 1 });
        let mut t = TextList::default();
        bad_t.iter().for_each(|s| t.push(s));
        let mut a = TextList::default();
        bad_a.iter().for_each(|s| a.push(s));
        let want = Context::from_json(&json).unwrap_err();
        assert!(want.message.starts_with("context attributes[0]"), "{}", want.message);
        let got = Context::from_json_and_lists(&serde_json::json!({ "zzz": 1 }), Some(&t), Some(&a)).unwrap_err();
        assert_eq!((got.kind, got.message), (want.kind, want.message));
        let got = Context::from_json_and_lists(&serde_json::json!({ "zzz": 1 }), Some(&t), None).unwrap_err();
        assert_eq!(got.message, Context::from_json(&serde_json::json!({ "tuples": bad_t, "zzz": 1 })).unwrap_err().message);
    }

    /// A context unwound through is set aside, not freed, and later polls
    /// free it a chunk at a time; one dropped normally is freed at once.
    #[test]
    fn unwinding_sets_a_large_context_aside_and_polls_free_it() {
        let many: Vec<String> = (0..10_000).map(|i| format!("doc:d{i}$public|boolean:true")).collect();
        let ctx = Context::from_json(&serde_json::json!({ "attributes": many })).unwrap();
        let before = set_aside_items();
        drop(CallContext::new(ctx.clone()));
        assert_eq!(set_aside_items(), before, "an ordinary end frees it");
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let call = CallContext::new(ctx.clone());
            assert_eq!(call.attributes.len(), 10_000);
            std::panic::panic_any("cancelled");
        }));
        assert!(unwound.is_err());
        assert_eq!(set_aside_items(), before + 10_000, "unwinding set it aside");
        free_set_aside();
        assert_eq!(set_aside_items(), before + 10_000 - FREED_PER_POLL, "one poll frees one chunk");
        while set_aside_items() > 0 {
            free_set_aside();
        }
        // A small context unwinds the ordinary way.
        let small = Context::from_json(&serde_json::json!({ "tuples": ["doc:d1#viewer@user:u1"] })).unwrap();
        let _ = std::panic::catch_unwind(|| {
            let _call = CallContext::new(small);
            std::panic::panic_any("cancelled");
        });
        assert_eq!(set_aside_items(), 0);
    }
}
