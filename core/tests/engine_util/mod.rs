//! Shared helpers of the engine tests: a compiled schema plus an in-memory
//! store, with checks and lookups taking Permify's text syntax.

#![allow(dead_code)]

use notion_rbac_core::engine::{self, CheckOptions, Checker, Context, MemorySource, ReverseHit, TupleSource};
use notion_rbac_core::model::Schema;
use notion_rbac_core::tuple::{ObjectRef, SubjectRef, Value, parse_attribute, parse_object, parse_subject, parse_tuple};
use notion_rbac_core::{Result, lang};

pub struct World {
    pub schema: Schema,
    pub source: MemorySource,
    pub opts: CheckOptions,
}

/// Compiles `schema` and loads `tuples` and `attributes` (validated against
/// the schema, as stored data is).
pub fn world(schema: &str, tuples: &[&str], attributes: &[&str]) -> World {
    let schema = lang::compile(schema).unwrap_or_else(|e| panic!("schema does not compile: {e}"));
    let tuples = tuples.iter().map(|t| {
        let t = parse_tuple(t).unwrap_or_else(|e| panic!("{t}: {e}"));
        schema
            .validate_tuple(&t)
            .unwrap_or_else(|e| panic!("{t}: {e}"));
        t
    });
    let tuples: Vec<_> = tuples.collect();
    let attributes: Vec<_> = attributes
        .iter()
        .map(|a| {
            let a = parse_attribute(a).unwrap_or_else(|e| panic!("{a}: {e}"));
            schema
                .validate_attribute(&a)
                .unwrap_or_else(|e| panic!("{a:?}: {e}"));
            a
        })
        .collect();
    World {
        schema,
        source: MemorySource::from_data(tuples, attributes),
        opts: CheckOptions::default(),
    }
}

/// A context with contextual tuples and attributes (not validated).
pub fn context(tuples: &[&str], attributes: &[&str], data: serde_json::Value) -> Context {
    Context {
        tuples: tuples
            .iter()
            .map(|t| parse_tuple(t).expect("contextual tuple"))
            .collect(),
        attributes: attributes
            .iter()
            .map(|a| parse_attribute(a).expect("contextual attribute"))
            .collect(),
        data: match data {
            serde_json::Value::Object(m) => m,
            _ => Default::default(),
        },
    }
}

impl World {
    pub fn check(&mut self, entity: &str, name: &str, subject: &str) -> Result<bool> {
        self.check_in(entity, name, subject, &Context::default())
    }

    pub fn check_in(
        &mut self,
        entity: &str,
        name: &str,
        subject: &str,
        ctx: &Context,
    ) -> Result<bool> {
        let entity = parse_object(entity).expect("entity");
        let subject = parse_subject(subject).expect("subject");
        engine::check(
            &self.schema,
            &mut self.source,
            &entity,
            name,
            &subject,
            ctx,
            self.opts,
        )
    }

    /// Asserts a check's answer, naming the query on failure.
    pub fn expect(&mut self, entity: &str, name: &str, subject: &str, expected: bool) {
        match self.check(entity, name, subject) {
            Ok(v) => assert_eq!(v, expected, "check {entity}#{name}@{subject}"),
            Err(e) => panic!("check {entity}#{name}@{subject}: unexpected error {e}"),
        }
    }

    pub fn checker<'a>(&'a mut self, ctx: &'a Context) -> Checker<'a, MemorySource> {
        Checker::new(&self.schema, &mut self.source, ctx, self.opts)
    }

    pub fn resources(
        &mut self,
        subject: &str,
        name: &str,
        entity_type: &str,
    ) -> Result<Vec<String>> {
        self.resources_in(subject, name, entity_type, &Context::default())
    }

    pub fn resources_in(
        &mut self,
        subject: &str,
        name: &str,
        entity_type: &str,
        ctx: &Context,
    ) -> Result<Vec<String>> {
        let subject = parse_subject(subject).expect("subject");
        engine::lookup_resources(
            &self.schema,
            &mut self.source,
            &subject,
            name,
            entity_type,
            ctx,
            self.opts,
        )
    }

    pub fn subjects(&mut self, entity: &str, name: &str, reference: &str) -> Result<Vec<String>> {
        self.subjects_in(entity, name, reference, &Context::default())
    }

    pub fn subjects_in(
        &mut self,
        entity: &str,
        name: &str,
        reference: &str,
        ctx: &Context,
    ) -> Result<Vec<String>> {
        let entity = parse_object(entity).expect("entity");
        engine::lookup_subjects(
            &self.schema,
            &mut self.source,
            &entity,
            name,
            reference,
            ctx,
            self.opts,
        )
    }
}

pub fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Records every call the engine makes, as `method entity#relation`.
pub struct Recording {
    pub inner: MemorySource,
    pub log: Vec<String>,
}

impl Recording {
    pub fn new(inner: MemorySource) -> Self {
        Recording { inner, log: Vec::new() }
    }
    /// How many calls (each one index scan in the database) were made.
    pub fn reads(&self) -> usize {
        self.log.len()
    }
    fn note(&mut self, method: &str, entity: &ObjectRef, name: &str) {
        self.log.push(format!("{method} {entity}#{name}"));
    }
    /// How many calls read `entity` (`type:id`).
    pub fn reads_of(&self, entity: &str) -> usize {
        let prefix = format!("{entity}#");
        self.log
            .iter()
            .filter(|l| {
                l.split_once(' ')
                    .is_some_and(|(_, e)| e.starts_with(&prefix))
            })
            .count()
    }
}

impl TupleSource for Recording {
    fn subjects(
        &mut self,
        entity: &ObjectRef,
        relation: &str,
        out: &mut Vec<SubjectRef>,
    ) -> Result<()> {
        self.note("subjects", entity, relation);
        self.inner.subjects(entity, relation, out)
    }
    fn contains(
        &mut self,
        entity: &ObjectRef,
        relation: &str,
        subject: &SubjectRef,
    ) -> Result<bool> {
        self.note("contains", entity, relation);
        self.inner.contains(entity, relation, subject)
    }
    fn subject_sets(
        &mut self,
        entity: &ObjectRef,
        relation: &str,
        out: &mut Vec<SubjectRef>,
    ) -> Result<()> {
        self.note("subject_sets", entity, relation);
        self.inner.subject_sets(entity, relation, out)
    }
    fn reverse(
        &mut self,
        subject: &ObjectRef,
        ty: &str,
        rel: &str,
        out: &mut Vec<ReverseHit>,
    ) -> Result<()> {
        self.note("reverse", subject, rel);
        self.inner.reverse(subject, ty, rel, out)
    }
    fn attribute(&mut self, entity: &ObjectRef, name: &str) -> Result<Option<Value>> {
        self.note("attribute", entity, name);
        self.inner.attribute(entity, name)
    }
    fn entities_with_attribute(
        &mut self,
        ty: &str,
        name: &str,
        out: &mut Vec<String>,
    ) -> Result<()> {
        self.log
            .push(format!("entities_with_attribute {ty}#{name}"));
        self.inner.entities_with_attribute(ty, name, out)
    }
    fn subject_ids_of_type(&mut self, ty: &str, out: &mut Vec<String>) -> Result<()> {
        self.log.push(format!("subject_ids_of_type {ty}"));
        self.inner.subject_ids_of_type(ty, out)
    }
}

/// The small id pool of an entity type (`doc` → `d1`, `d2`, `d3`) from
/// which the property tests' universes are built.
pub fn id_pool(ty: &str) -> Vec<String> {
    (1..=3).map(|i| format!("{}{i}", &ty[..1])).collect()
}

/// Every tuple the schema's relation declarations allow over the id pools:
/// each relation of each entity, with each declared subject type (and its
/// subject relation). Property tests draw their stored data from these.
pub fn every_tuple(schema: &Schema) -> Vec<String> {
    let mut tuples = Vec::new();
    for entity in &schema.entities {
        for e in id_pool(&entity.name) {
            for rel in &entity.relations {
                for st in &rel.subject_types {
                    for s in id_pool(&st.entity) {
                        let subject = match &st.relation {
                            Some(r) => format!("{}:{s}#{r}", st.entity),
                            None => format!("{}:{s}", st.entity),
                        };
                        tuples.push(format!("{}:{e}#{}@{subject}", entity.name, rel.name));
                    }
                }
            }
        }
    }
    tuples
}

/// Every attribute value over the id pools, with the sample values
/// `values` gives for an attribute type (`boolean`, `integer`, ...).
pub fn every_attribute(schema: &Schema, values: impl Fn(&str) -> Vec<&'static str>) -> Vec<String> {
    let mut attributes = Vec::new();
    for entity in &schema.entities {
        for e in id_pool(&entity.name) {
            for attr in &entity.attributes {
                for v in values(&attr.ty.to_string()) {
                    attributes.push(format!("{}:{e}${}|{v}", entity.name, attr.name));
                }
            }
        }
    }
    attributes
}
