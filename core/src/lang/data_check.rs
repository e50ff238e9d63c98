//! Does a relationship tuple or an attribute fit a compiled schema?
//!
//! The rules and their order are Permify's (`internal/validation`), applied
//! when tuples and attributes are written (contextual tuples are not
//! validated). Messages start with Permify's phrase and then quote the
//! names involved; errors are [`ErrorKind::SchemaViolation`].

use crate::error::{Error, ErrorKind, Result};
use crate::model::{EntityDef, Member, Schema};
use crate::tuple::{Attribute, Tuple};

fn violation(message: String) -> Error {
    Error::new(ErrorKind::SchemaViolation, message)
}

impl Schema {
    /// Checks a tuple about to be stored:
    /// 1. its entity type is declared (`entity definition not found`);
    /// 2. entity and subject differ (`entity and subject cannot be equal`:
    ///    same type, id and relation, e.g. `group:1#member@group:1#member`);
    /// 3. its relation is a *relation* of the entity — permissions and
    ///    attributes cannot be written (`relation definition not found`);
    /// 4. the subject's `type` or `type#relation` is one of the relation's
    ///    subject types (`subject type not found`).
    pub fn validate_tuple(&self, tuple: &Tuple) -> Result<()> {
        let entity = self.entity_for(&tuple.entity.ty, || format!("tuple \"{tuple}\""))?;
        if tuple.entity.ty == tuple.subject.ty
            && tuple.entity.id == tuple.subject.id
            && tuple.relation == tuple.subject.relation
        {
            return Err(violation(format!(
                "entity and subject cannot be equal: tuple \"{tuple}\" relates \"{}#{}\" to itself",
                tuple.entity, tuple.relation
            )));
        }
        let Some(relation) = entity.relation(&tuple.relation) else {
            let what = match entity.member(&tuple.relation) {
                Some(Member::Permission(_)) => format!(
                    "\"{}#{}\" is a permission, not a relation; only relations can be written",
                    entity.name, tuple.relation
                ),
                Some(Member::Attribute(_)) => format!(
                    "\"{}#{}\" is an attribute, not a relation; write it as an attribute",
                    entity.name, tuple.relation
                ),
                _ if tuple.relation.is_empty() => {
                    "the tuple names no relation (expected type:id#relation@subject)".to_string()
                }
                _ => format!("entity \"{}\" has no relation \"{}\"", entity.name, tuple.relation),
            };
            return Err(violation(format!("relation definition not found: tuple \"{tuple}\": {what}")));
        };
        if !relation.allows(&tuple.subject.ty, &tuple.subject.relation) {
            let given = if tuple.subject.relation.is_empty() {
                format!("@{}", tuple.subject.ty)
            } else {
                format!("@{}#{}", tuple.subject.ty, tuple.subject.relation)
            };
            let allowed: Vec<String> = relation.subject_types.iter().map(|s| s.to_string()).collect();
            return Err(violation(format!(
                "subject type not found: tuple \"{tuple}\": relation \"{}#{}\" does not allow subjects of type \
                 \"{given}\"; it allows {}",
                entity.name,
                relation.name,
                allowed.join(" ")
            )));
        }
        Ok(())
    }

    /// Checks an attribute about to be stored:
    /// 1. its entity type is declared (`entity definition not found`);
    /// 2. the entity declares an attribute of that name
    ///    (`attribute definition not found`);
    /// 3. the value's type equals the declared type exactly, arrays
    ///    included (`attribute type mismatch`).
    pub fn validate_attribute(&self, attribute: &Attribute) -> Result<()> {
        let entity = self.entity_for(&attribute.entity.ty, || format!("attribute \"{attribute}\""))?;
        let Some(definition) = entity.attribute(&attribute.name) else {
            let what = match entity.member(&attribute.name) {
                Some(Member::Relation(_)) => "a relation",
                Some(Member::Permission(_)) => "a permission",
                _ => "not declared",
            };
            return Err(violation(format!(
                "attribute definition not found: attribute \"{attribute}\": \"{}#{}\" is {what}",
                entity.name, attribute.name
            )));
        };
        let given = attribute.value.attr_type();
        if given != definition.ty {
            return Err(violation(format!(
                "attribute type mismatch: attribute \"{attribute}\": \"{}#{}\" is declared as {}, but the value is \
                 {given}",
                entity.name, attribute.name, definition.ty
            )));
        }
        Ok(())
    }

    fn entity_for(&self, ty: &str, what: impl FnOnce() -> String) -> Result<&EntityDef> {
        self.entity(ty).ok_or_else(|| {
            let declared: Vec<&str> = self.entities.iter().map(|e| e.name.as_str()).collect();
            violation(format!(
                "entity definition not found: {} names entity type \"{ty}\", which the schema does not declare",
                what()
            ))
            .with_detail(format!("declared entity types: {}", declared.join(", ")))
        })
    }
}
