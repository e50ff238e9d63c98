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
