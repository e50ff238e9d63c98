//! The request context: contextual tuples, contextual attributes and the
//! free-form `data` object that rules read as `context.data`.
//!
//! Contextual data counts for one call only and is never validated against
//! the schema (as in Permify): a caller may pass tuples the schema would
//! reject, and the engine simply follows them where they lead.

use rustc_hash::FxHashMap as HashMap;
use std::hash::{Hash, Hasher};

use rustc_hash::FxHasher;
use std::rc::Rc;

use serde_json::{Map, Value as Json};

use crate::error::{Error, ErrorKind, Result};
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
        let object = match value {
            Json::Null => return Ok(Context::default()),
            Json::Object(o) => o,
            other => {
                return Err(invalid_argument(format!(
                    "context must be a JSON object with the keys \"tuples\", \"attributes\" and \"data\", not {}",
                    json_kind(other)
                )));
            }
        };
        let mut ctx = Context::default();
        for (key, v) in object {
            match key.as_str() {
                "tuples" => {
                    for (i, text) in string_list(key, v)?.into_iter().enumerate() {
                        poll_every(i);
                        let t = tuple::parse_tuple(text).map_err(|e| prefixed(e, key, i))?;
                        ctx.tuples.push(t);
                    }
                }
                "attributes" => {
                    for (i, text) in string_list(key, v)?.into_iter().enumerate() {
                        poll_every(i);
                        let a = tuple::parse_attribute(text).map_err(|e| prefixed(e, key, i))?;
                        ctx.attributes.push(a);
                    }
                }
                "data" => match v {
                    Json::Null => {}
                    Json::Object(o) => ctx.data = o.clone(),
                    other => {
                        return Err(invalid_argument(format!(
                            "context key \"data\" must be a JSON object, not {}",
                            json_kind(other)
                        )));
                    }
                },
                other => {
                    return Err(invalid_argument(format!(
                        "unknown context key \"{other}\" (expected \"tuples\", \"attributes\" or \"data\")"
                    )));
                }
            }
        }
        Ok(ctx)
    }
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
    forward: Option<Rc<HashMap<u64, Vec<u32>>>>,
    reverse: Option<Rc<HashMap<u64, Vec<u32>>>>,
    /// Contextual attributes by (type, id, name): the positions of the
    /// values with that key's hash, in context order (a lookup asks once
    /// per entity, so a linear scan would make it quadratic).
    attributes: Option<Rc<HashMap<u64, Vec<u32>>>>,
}

fn key_hash(parts: &[&str]) -> u64 {
    let mut h = FxHasher::default();
    for p in parts {
        p.hash(&mut h);
    }
    h.finish()
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
        if ctx.tuples.len() > LINEAR_SCAN_LIMIT {
            let mut f: HashMap<u64, Vec<u32>> = HashMap::default();
            let mut r: HashMap<u64, Vec<u32>> = HashMap::default();
            for (i, t) in ctx.tuples.iter().enumerate() {
                poll_every(i);
                let i = i as u32;
                f.entry(key_hash(&[&t.entity.ty, &t.entity.id, &t.relation]))
                    .or_default()
                    .push(i);
                r.entry(key_hash(&[
                    &t.subject.ty,
                    &t.subject.id,
                    &t.entity.ty,
                    &t.relation,
                ]))
                .or_default()
                .push(i);
            }
            forward = Some(Rc::new(f));
            reverse = Some(Rc::new(r));
        }
        let attributes = (ctx.attributes.len() > LINEAR_SCAN_LIMIT).then(|| {
            let mut a: HashMap<u64, Vec<u32>> = HashMap::default();
            for (i, attr) in ctx.attributes.iter().enumerate() {
                poll_every(i);
                a.entry(key_hash(&[&attr.entity.ty, &attr.entity.id, &attr.name]))
                    .or_default()
                    .push(i as u32);
            }
            Rc::new(a)
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
            .map(|map| map.get(&key_hash(&[ty, id, relation])));
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
            .map(|map| map.get(&key_hash(&[subject_ty, subject_id, entity_type, relation])));
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
            Some(map) => map
                .get(&key_hash(&[ty, id, name]))
                .into_iter()
                .flatten()
                .filter_map(|&i| self.ctx.attributes.get(i as usize))
                .find(matches),
        }
        .map(|a| &a.value)
    }
}

/// The tuples a lookup has to look at: one hash bucket of an indexed
/// context, or every tuple of a small one. An enum rather than a boxed
/// iterator so that a read allocates nothing.
enum Candidates<'s, 'c> {
    Indexed {
        tuples: &'c [Tuple],
        bucket: std::slice::Iter<'s, u32>,
    },
    Linear(std::slice::Iter<'c, Tuple>),
}

impl<'s, 'c> Candidates<'s, 'c> {
    /// `bucket` is `None` for an unindexed context, `Some(None)` for an
    /// indexed one without that key.
    fn new(tuples: &'c [Tuple], bucket: Option<Option<&'s Vec<u32>>>) -> Self {
        match bucket {
            None => Candidates::Linear(tuples.iter()),
            Some(b) => Candidates::Indexed {
                tuples,
                bucket: b.map_or(&[][..], |v| v.as_slice()).iter(),
            },
        }
    }
}

impl<'s, 'c> Iterator for Candidates<'s, 'c> {
    type Item = &'c Tuple;
    fn next(&mut self) -> Option<&'c Tuple> {
        match self {
            Candidates::Indexed { tuples, bucket } => {
                bucket.next().and_then(|&i| tuples.get(i as usize))
            }
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
}
