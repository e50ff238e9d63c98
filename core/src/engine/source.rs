//! Where the engine reads relationships and attributes from.
//!
//! The extension implements [`TupleSource`] over its tables (reading in the
//! caller's snapshot, so checks are transaction-consistent); tests and the
//! validation-file runner use [`crate::engine::MemorySource`]. The engine
//! adds a request's contextual tuples and attributes on top of whatever the
//! source returns, so sources only ever hold stored data.

use crate::error::Result;
use crate::tuple::{ObjectRef, SubjectRef, Value};

/// One hit of a reverse lookup: a stored tuple
/// `entity_type:entity_id#relation@subject.type:subject.id#subject_relation`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReverseHit {
    pub entity_id: String,
    /// The stored subject relation (`""` for a plain subject).
    pub subject_relation: String,
}

/// Read access to stored relationships and attributes.
///
/// Every method appends to `out` (it does not clear it) so that callers can
/// reuse buffers on hot paths. Order of results is unspecified; duplicates
/// are not returned.
pub trait TupleSource {
    /// Forward: the subject of every stored tuple `entity#relation@subject`.
    fn subjects(&mut self, entity: &ObjectRef, relation: &str, out: &mut Vec<SubjectRef>) -> Result<()>;

    /// Whether the stored tuple `entity#relation@subject` exists (subject
    /// relation compared exactly; `""` for a plain subject). Checks ask this
    /// first: a point probe, however many subjects the relation has (a
    /// workspace's member list can hold thousands).
    fn contains(&mut self, entity: &ObjectRef, relation: &str, subject: &SubjectRef) -> Result<bool> {
        let mut buf = Vec::new();
        self.subjects(entity, relation, &mut buf)?;
        Ok(buf.iter().any(|s| s == subject))
    }

    /// Forward, subject sets only: the subjects of stored tuples
    /// `entity#relation@type:id#rel` with a non-empty subject relation —
    /// the only ones a check has to expand after [`Self::contains`] said no.
    fn subject_sets(&mut self, entity: &ObjectRef, relation: &str, out: &mut Vec<SubjectRef>) -> Result<()> {
        let mut buf = Vec::new();
        self.subjects(entity, relation, &mut buf)?;
        out.extend(buf.into_iter().filter(|s| !s.relation.is_empty()));
        Ok(())
    }

    /// Reverse: every stored tuple
    /// `entity_type:?#relation@subject.ty:subject.id#?` (any subject relation).
    fn reverse(
        &mut self,
        subject: &ObjectRef,
        entity_type: &str,
        relation: &str,
        out: &mut Vec<ReverseHit>,
    ) -> Result<()>;

    /// The stored value of attribute `name` of `entity`, if any.
    fn attribute(&mut self, entity: &ObjectRef, name: &str) -> Result<Option<Value>>;

    /// Ids of every entity of `entity_type` with a stored value for
    /// attribute `name` (lookups use these as candidates for attribute- and
    /// rule-based permissions).
    fn entities_with_attribute(&mut self, entity_type: &str, name: &str, out: &mut Vec<String>) -> Result<()>;

    /// Every distinct id of `subject_type` that appears as a subject
    /// (with an empty subject relation) in any stored tuple. Lookup-subject
    /// uses it as the candidate set where a permission can hold through an
    /// attribute or rule alone.
    fn subject_ids_of_type(&mut self, subject_type: &str, out: &mut Vec<String>) -> Result<()>;
}

/// A source that gives up once a deadline has passed: every read after it
/// fails (and [`Deadline::passed`] tells that this was why). For work that
/// is only worth doing if it is cheap — the row-level-security function
/// tries a whole lookup within the time its per-row checks already took.
pub struct Deadline<'s, S: TupleSource + ?Sized> {
    inner: &'s mut S,
    deadline: std::time::Instant,
    reads: u32,
    passed: bool,
}

impl<'s, S: TupleSource + ?Sized> Deadline<'s, S> {
    pub fn new(inner: &'s mut S, deadline: std::time::Instant) -> Self {
        Deadline { inner, deadline, reads: 0, passed: false }
    }

    /// Whether a read was refused because the deadline had passed.
    pub fn passed(&self) -> bool {
        self.passed
    }

    fn tick(&mut self) -> Result<()> {
        // The clock is read every 16th read: a read costs about a
        // microsecond, a clock read a few tens of nanoseconds.
        self.reads = self.reads.wrapping_add(1);
        if self.passed || (self.reads % 16 == 0 && std::time::Instant::now() >= self.deadline) {
            self.passed = true;
            return Err(crate::error::Error::new(crate::error::ErrorKind::LimitExceeded, "deadline passed"));
        }
        Ok(())
    }
}

impl<S: TupleSource + ?Sized> TupleSource for Deadline<'_, S> {
    fn subjects(&mut self, entity: &ObjectRef, relation: &str, out: &mut Vec<SubjectRef>) -> Result<()> {
        self.tick()?;
        self.inner.subjects(entity, relation, out)
    }
    fn contains(&mut self, entity: &ObjectRef, relation: &str, subject: &SubjectRef) -> Result<bool> {
        self.tick()?;
        self.inner.contains(entity, relation, subject)
    }
    fn subject_sets(&mut self, entity: &ObjectRef, relation: &str, out: &mut Vec<SubjectRef>) -> Result<()> {
        self.tick()?;
        self.inner.subject_sets(entity, relation, out)
    }
    fn reverse(&mut self, subject: &ObjectRef, entity_type: &str, relation: &str, out: &mut Vec<ReverseHit>) -> Result<()> {
        self.tick()?;
        self.inner.reverse(subject, entity_type, relation, out)
    }
    fn attribute(&mut self, entity: &ObjectRef, name: &str) -> Result<Option<Value>> {
        self.tick()?;
        self.inner.attribute(entity, name)
    }
    fn entities_with_attribute(&mut self, entity_type: &str, name: &str, out: &mut Vec<String>) -> Result<()> {
        self.tick()?;
        self.inner.entities_with_attribute(entity_type, name, out)
    }
    fn subject_ids_of_type(&mut self, subject_type: &str, out: &mut Vec<String>) -> Result<()> {
        self.tick()?;
        self.inner.subject_ids_of_type(subject_type, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::MemorySource;
    use crate::tuple::parse_tuple;

    #[test]
    fn deadline_refuses_reads_once_passed() {
        let mut mem = MemorySource::new();
        mem.insert_tuple(parse_tuple("doc:a#reader@user:x").unwrap());
        let doc = ObjectRef { ty: "doc".into(), id: "a".into() };
        let mut out = Vec::new();
        let far = std::time::Instant::now() + std::time::Duration::from_secs(3600);
        let mut open = Deadline::new(&mut mem, far);
        for _ in 0..40 {
            open.subjects(&doc, "reader", &mut out).unwrap();
        }
        assert!(!open.passed());
        let mut closed = Deadline::new(&mut mem, std::time::Instant::now());
        let failed = (0..40).any(|_| closed.subjects(&doc, "reader", &mut out).is_err());
        assert!(failed && closed.passed());
        assert!(closed.subjects(&doc, "reader", &mut out).is_err(), "stays refused");
    }
}
