//! An in-memory [`TupleSource`]: the validation-file runner and the tests
//! use it, and it is the reference behaviour the database-backed source must
//! agree with.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};

use rustc_hash::FxHasher;

use super::source::{ReverseHit, TupleSource};
use crate::error::Result;
use crate::tuple::{Attribute, ObjectRef, SubjectRef, Tuple, Value};

/// `map[a][b][c]`, looked up with borrowed keys (no allocation per read).
type Nested3<T> = HashMap<String, HashMap<String, HashMap<String, T>>>;

/// subject type → subject id → entity type → relation → hits.
type Reverse = HashMap<String, Nested3<Vec<ReverseHit>>>;

/// Relationships and attributes held in memory, with a forward index
/// (entity, relation → subjects), a reverse index (subject, entity type,
/// relation → entity ids) and attribute indexes.
#[derive(Debug, Default, Clone)]
pub struct MemorySource {
    /// Hashes of the stored tuples, for finding duplicates (a hash seen
    /// before is confirmed against the forward index): the tuples
    /// themselves are in the indexes, and a second copy of every string
    /// made a validation file's universe larger and slower to free.
    tuple_hashes: HashSet<u64>,
    /// Number of stored tuples.
    count: usize,
    /// entity type → entity id → relation → subjects.
    forward: Nested3<Vec<SubjectRef>>,
    /// subject type → subject id → entity type → relation → hits, sorted
    /// by entity id (as the database's index returns them). Built on the
    /// first reverse read: only lookups read it, and a validation file's
    /// checks would otherwise pay for building it and — when a cancel
    /// unwinds the call — for freeing it (most of a cancelled validation's
    /// wait).
    reverse: Option<Reverse>,
    /// entity type → entity id → attribute name → value.
    attributes: Nested3<Value>,
    /// entity type → attribute name → ids with a value.
    attribute_owners: HashMap<String, HashMap<String, BTreeSet<String>>>,
    /// subject type → ids appearing as plain subjects.
    plain_subjects: HashMap<String, BTreeSet<String>>,
}

impl MemorySource {
    pub fn new() -> Self {
        MemorySource::default()
    }

    /// A source holding `tuples` (duplicates ignored) and `attributes` (a
    /// later value for the same attribute replaces an earlier one).
    pub fn from_data(
        tuples: impl IntoIterator<Item = Tuple>,
        attributes: impl IntoIterator<Item = Attribute>,
    ) -> Self {
        let mut s = MemorySource::new();
        for t in tuples {
            s.insert_tuple(t);
        }
        for a in attributes {
            s.set_attribute(a);
        }
        s
    }

    /// Adds a tuple; returns false if it was already there.
    pub fn insert_tuple(&mut self, t: Tuple) -> bool {
        let hash = {
            let mut h = FxHasher::default();
            t.hash(&mut h);
            h.finish()
        };
        if !self.tuple_hashes.insert(hash)
            && get3(&self.forward, &t.entity.ty, &t.entity.id, &t.relation).is_some_and(|s| s.contains(&t.subject))
        {
            return false;
        }
        self.count += 1;
        self.forward
            .entry(t.entity.ty.clone())
            .or_default()
            .entry(t.entity.id.clone())
            .or_default()
            .entry(t.relation.clone())
            .or_default()
            .push(t.subject.clone());
        if let Some(reverse) = self.reverse.as_mut() {
            let hits = reverse_hits(reverse, &t.subject, &t.entity.ty, &t.relation);
            let hit = ReverseHit { entity_id: t.entity.id.clone(), subject_relation: t.subject.relation.clone() };
            let at = hits.partition_point(|h| hit_order(h) < hit_order(&hit));
            hits.insert(at, hit);
        }
        if t.subject.relation.is_empty() {
            self.plain_subjects
                .entry(t.subject.ty.clone())
                .or_default()
                .insert(t.subject.id.clone());
        }
        true
    }

    /// Sets (or replaces) an attribute value.
    pub fn set_attribute(&mut self, a: Attribute) {
        self.attribute_owners
            .entry(a.entity.ty.clone())
            .or_default()
            .entry(a.name.clone())
            .or_default()
            .insert(a.entity.id.clone());
        self.attributes
            .entry(a.entity.ty)
            .or_default()
            .entry(a.entity.id)
            .or_default()
            .insert(a.name, a.value);
    }

    /// Number of stored tuples.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// The hits of (subject, entity type, relation), made if missing.
fn reverse_hits<'m>(reverse: &'m mut Reverse, subject: &SubjectRef, entity_type: &str, relation: &str) -> &'m mut Vec<ReverseHit> {
    reverse
        .entry(subject.ty.clone())
        .or_default()
        .entry(subject.id.clone())
        .or_default()
        .entry(entity_type.to_owned())
        .or_default()
        .entry(relation.to_owned())
        .or_default()
}

fn hit_order(h: &ReverseHit) -> (&str, &str) {
    (&h.entity_id, &h.subject_relation)
}

impl MemorySource {
    /// The reverse index, built from the forward one on first use.
    fn reverse_index(&mut self) -> &Reverse {
        let forward = &self.forward;
        self.reverse.get_or_insert_with(|| {
            let mut reverse = Reverse::new();
            let mut n = 0usize;
            for (entity_type, ids) in forward {
                for (entity_id, relations) in ids {
                    for (relation, subjects) in relations {
                        for s in subjects {
                            crate::engine::context::poll_every(n);
                            n += 1;
                            reverse_hits(&mut reverse, s, entity_type, relation)
                                .push(ReverseHit { entity_id: entity_id.clone(), subject_relation: s.relation.clone() });
                        }
                    }
                }
            }
            for hits in reverse.values_mut().flat_map(|m| m.values_mut()).flat_map(|m| m.values_mut()).flat_map(|m| m.values_mut()) {
                hits.sort_unstable_by(|a, b| hit_order(a).cmp(&hit_order(b)));
            }
            reverse
        })
    }
}

fn get3<'m, T>(map: &'m Nested3<T>, a: &str, b: &str, c: &str) -> Option<&'m T> {
    map.get(a)?.get(b)?.get(c)
}

impl TupleSource for MemorySource {
    fn subjects(
        &mut self,
        entity: &ObjectRef,
        relation: &str,
        out: &mut Vec<SubjectRef>,
    ) -> Result<()> {
        if let Some(subjects) = get3(&self.forward, &entity.ty, &entity.id, relation) {
            out.extend_from_slice(subjects);
        }
        Ok(())
    }

    fn contains(&mut self, entity: &ObjectRef, relation: &str, subject: &SubjectRef) -> Result<bool> {
        Ok(get3(&self.forward, &entity.ty, &entity.id, relation).is_some_and(|s| s.contains(subject)))
    }

    fn subject_sets(&mut self, entity: &ObjectRef, relation: &str, out: &mut Vec<SubjectRef>) -> Result<()> {
        if let Some(subjects) = get3(&self.forward, &entity.ty, &entity.id, relation) {
            out.extend(subjects.iter().filter(|s| !s.relation.is_empty()).cloned());
        }
        Ok(())
    }

    fn reverse(
        &mut self,
        subject: &ObjectRef,
        entity_type: &str,
        relation: &str,
        out: &mut Vec<ReverseHit>,
    ) -> Result<()> {
        if let Some(hits) = self
            .reverse_index()
            .get(&subject.ty)
            .and_then(|m| get3(m, &subject.id, entity_type, relation))
        {
            out.extend_from_slice(hits);
        }
        Ok(())
    }

    fn attribute(&mut self, entity: &ObjectRef, name: &str) -> Result<Option<Value>> {
        Ok(get3(&self.attributes, &entity.ty, &entity.id, name).cloned())
    }

    fn entities_with_attribute(
        &mut self,
        entity_type: &str,
        name: &str,
        out: &mut Vec<String>,
    ) -> Result<()> {
        if let Some(ids) = self
            .attribute_owners
            .get(entity_type)
            .and_then(|m| m.get(name))
        {
            out.extend(ids.iter().cloned());
        }
        Ok(())
    }

    fn subject_ids_of_type(&mut self, subject_type: &str, out: &mut Vec<String>) -> Result<()> {
        if let Some(ids) = self.plain_subjects.get(subject_type) {
            out.extend(ids.iter().cloned());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tuple::{parse_object, parse_tuple};

    fn reverse_ids(source: &mut MemorySource) -> Vec<String> {
        let mut out = Vec::new();
        let subject = parse_object("user:u").unwrap();
        source.reverse(&subject, "doc", "viewer", &mut out).unwrap();
        out.into_iter().map(|h| h.entity_id).collect()
    }

    #[test]
    fn reverse_reads_see_tuples_added_before_and_after_the_first() {
        let tuples = ["doc:b#viewer@user:u", "doc:a#viewer@user:u", "doc:z#editor@user:u"];
        let mut source = MemorySource::from_data(tuples.map(|t| parse_tuple(t).unwrap()), []);
        assert!(source.reverse.is_none(), "built only when read");
        assert_eq!(reverse_ids(&mut source), ["a", "b"]);
        for t in ["doc:c#viewer@user:u", "doc:0#viewer@user:u", "doc:a#viewer@user:u"] {
            source.insert_tuple(parse_tuple(t).unwrap());
        }
        assert_eq!(reverse_ids(&mut source), ["0", "a", "b", "c"]);
        assert_eq!(source.len(), 5);
    }

    #[test]
    fn a_tuple_is_stored_once() {
        let t = |s: &str| parse_tuple(s).unwrap();
        let mut source = MemorySource::from_data([t("doc:a#viewer@user:u"), t("doc:a#viewer@user:u")], []);
        assert_eq!(source.len(), 1);
        assert!(!source.insert_tuple(t("doc:a#viewer@user:u")));
        assert!(source.insert_tuple(t("doc:a#viewer@team:t#member")));
        assert!(source.insert_tuple(t("doc:a#editor@user:u")));
        assert_eq!(source.len(), 3);
        let mut out = Vec::new();
        source.subjects(&parse_object("doc:a").unwrap(), "viewer", &mut out).unwrap();
        assert_eq!(out.len(), 2);
    }
}
