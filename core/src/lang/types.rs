//! Attribute and rule-parameter types as written in a schema: shared by the
//! compiler (attributes) and the rule compiler (parameters).

use super::ast::TypeRef;
use crate::error::{Error, ErrorKind, Result};
use crate::model::AttrType;

/// Parses an attribute or parameter type, or reports `invalid argument`.
pub(super) fn attribute_type(ty: &TypeRef, owner: impl FnOnce() -> String) -> Result<AttrType> {
    match AttrType::parse(&ty.to_string()) {
        Some(t) => Ok(t),
        None => Err(Error::at(
            ErrorKind::Compile,
            ty.name.pos,
            format!("invalid argument: {} has type \"{ty}\"", owner()),
        )
        .with_hint("the types are boolean, string, integer and double, each optionally followed by []")),
    }
}
