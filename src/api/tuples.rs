//! Writing and deleting relationship tuples and attribute values.
//!
//! The functions parse Permify syntax and validate against the active schema
//! in Rust first, so that an error names the offending element and its
//! position in the array; the table triggers validate again, which also
//! covers plain INSERT and COPY.

use notion_rbac_core::model::Schema;
use notion_rbac_core::tuple::{self, Attribute, Tuple};
use notion_rbac_core::{Error, ErrorKind};
use pgrx::prelude::*;
use pgrx::datum::DatumWithOid;
use pgrx::JsonB;

use crate::errors::{raise, OrRaise};
use crate::store;
use crate::whole_errors::whole_entry;

/// Prefixes an error with the element's position ("element 3 of 5").
fn at_element(i: usize, n: usize, e: Error) -> Error {
    let message = format!("element {} of {}: {}", i + 1, n, e.message);
    Error { message, ..e }
}

fn active_schema() -> std::rc::Rc<store::schema::ActiveSchema> {
    store::schema::require_active()
}

/// Parses each element of a text array with `parse`, raising the first
/// error with its position ("element 3 of 5: …"), cancellable throughout
/// (a large array takes a while). A NULL element is `None`, or, when
/// `null` names what the elements are, an error in its place.
pub(crate) fn parse_elements<T>(
    items: &[Option<String>],
    null: Option<&str>,
    parse: impl Fn(&str) -> notion_rbac_core::Result<T>,
) -> Vec<Option<T>> {
    let n = items.len();
    items
        .iter()
        .enumerate()
        .map(|(i, s)| {
            pgrx::check_for_interrupts!();
            match (s.as_deref(), null) {
                (Some(s), _) => Some(parse(s).map_err(|e| at_element(i, n, e)).or_raise()),
                (None, None) => None,
                (None, Some(what)) => {
                    raise(at_element(i, n, Error::new(ErrorKind::InvalidText, format!("{what} must not be NULL"))))
                }
            }
        })
        .collect()
}

/// [`parse_elements`] where NULL elements are errors.
fn parse_each<T>(items: &[Option<String>], what: &str, parse: impl Fn(&str) -> notion_rbac_core::Result<T>) -> Vec<T> {
    parse_elements(items, Some(what), parse).into_iter().flatten().collect()
}

fn parse_tuples(items: &[Option<String>], schema: Option<&Schema>) -> Vec<Tuple> {
    parse_each(items, "tuple", |s| {
        let t = tuple::parse_tuple(s)?;
        tuple::validate_id(&t.entity.id)?;
        tuple::validate_id(&t.subject.id)?;
        if let Some(schema) = schema {
            schema.validate_tuple(&t)?;
        }
        Ok(t)
    })
}

/// Columns of a batch of tuples, for one `unnest` statement.
fn columns(tuples: &[Tuple]) -> [Vec<String>; 6] {
    let mut cols: [Vec<String>; 6] = Default::default();
    for t in tuples {
        cols[0].push(t.entity.ty.clone());
        cols[1].push(t.entity.id.clone());
        cols[2].push(t.relation.clone());
        cols[3].push(t.subject.ty.clone());
        cols[4].push(t.subject.id.clone());
        cols[5].push(t.subject.relation.clone());
    }
    cols
}

/// Runs a writer's statement with its arguments (text arrays, then any
/// other typed values) and returns the rows it wrote; an error the
/// statement raises reaches the caller whole (see `whole_errors`).
fn run<const N: usize>(
    sql: &std::ffi::CStr,
    texts: [Vec<String>; N],
    others: Vec<DatumWithOid<'static>>,
) -> i64 {
    let mut args: Vec<DatumWithOid> = texts.into_iter().map(DatumWithOid::from).collect();
    args.extend(others);
    i64::try_from(crate::whole_errors::execute(sql, &args)).unwrap_or(i64::MAX)
}

/// Writes relationship tuples given in Permify syntax
/// (`page:plan#writer@user:frank`, `page:x#reader@workspace:eng#member`).
/// Every tuple is validated against the active schema; one bad tuple fails
/// the whole call. Tuples that already exist are skipped. Returns the number
/// of tuples actually added.
fn write_tuples(tuples: Vec<Option<String>>) -> i64 {
    store::require_writable("write tuples");
    let active = active_schema();
    let parsed = parse_tuples(&tuples, Some(&active.schema));
    if parsed.is_empty() {
        return 0;
    }
    run(
        c"INSERT INTO rbac.tuples (entity_type, entity_id, relation, subject_type, subject_id, subject_relation) \
                 SELECT DISTINCT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) \
                 ON CONFLICT DO NOTHING",
        columns(&parsed), vec![],
    )
}

/// Deletes relationship tuples given in Permify syntax. Tuples that do not
/// exist are ignored. Returns the number of tuples deleted.
fn delete_tuples(tuples: Vec<Option<String>>) -> i64 {
    store::require_writable("delete tuples");
    let parsed = parse_tuples(&tuples, None);
    if parsed.is_empty() {
        return 0;
    }
    run(
        c"DELETE FROM rbac.tuples t USING unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) \
                   AS d(entity_type, entity_id, relation, subject_type, subject_id, subject_relation) \
                 WHERE t.entity_type = d.entity_type AND t.entity_id = d.entity_id AND t.relation = d.relation \
                   AND t.subject_type = d.subject_type AND t.subject_id = d.subject_id \
                   AND t.subject_relation = d.subject_relation",
        columns(&parsed), vec![],
    )
}

fn parse_attributes(items: &[Option<String>], schema: &Schema) -> Vec<Attribute> {
    parse_each(items, "attribute", |s| {
        let a = tuple::parse_attribute(s)?;
        tuple::validate_id(&a.entity.id)?;
        schema.validate_attribute(&a)?;
        Ok(a)
    })
}

/// Writes attribute values given in Permify syntax
/// (`repository:1$is_public|boolean:true`, `org:1$ips|string[]:a,b`).
/// Each value must have the type the schema declares; a value for the same
/// entity and attribute replaces the stored one. Returns the number written.
fn write_attributes(attributes: Vec<Option<String>>) -> i64 {
    store::require_writable("write attributes");
    let active = active_schema();
    let parsed = parse_attributes(&attributes, &active.schema);
    let mut cols: [Vec<String>; 4] = Default::default();
    let mut values: Vec<JsonB> = Vec::new();
    for a in &parsed {
        let (ty, json) = a.value.to_json();
        if json.is_null() || json.as_array().is_some_and(|v| v.iter().any(|x| x.is_null())) {
            raise(Error::new(
                ErrorKind::InvalidText,
                format!("attribute {}${}: NaN and infinite doubles cannot be stored", a.entity, a.name),
            ));
        }
        cols[0].push(a.entity.ty.clone());
        cols[1].push(a.entity.id.clone());
        cols[2].push(a.name.clone());
        cols[3].push(ty.to_owned());
        values.push(JsonB(json));
    }
    if values.is_empty() {
        return 0;
    }
    run(
        c"INSERT INTO rbac.attributes AS t (entity_type, entity_id, attribute, value_type, value) \
                 SELECT DISTINCT ON (1, 2, 3) u.et, u.eid, u.attr, u.vt, u.val \
                   FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::jsonb[]) WITH ORDINALITY AS u(et, eid, attr, vt, val, n) \
                  ORDER BY 1, 2, 3, u.n DESC \
                 ON CONFLICT (entity_type, entity_id, attribute) DO UPDATE \
                   SET value_type = EXCLUDED.value_type, value = EXCLUDED.value",
        cols, vec![values.into()],
    )
}

/// Deletes the values of attributes named `type:id$attribute`. Returns the
/// number deleted.
fn delete_attributes(attributes: Vec<Option<String>>) -> i64 {
    store::require_writable("delete attributes");
    let refs = parse_each(&attributes, "attribute", tuple::parse_attribute_ref);
    let mut cols: [Vec<String>; 3] = Default::default();
    for (object, name) in refs {
        cols[0].push(object.ty);
        cols[1].push(object.id);
        cols[2].push(name);
    }
    run(
        c"DELETE FROM rbac.attributes t USING unnest($1::text[], $2::text[], $3::text[]) AS d(entity_type, entity_id, attribute) \
                 WHERE t.entity_type = d.entity_type AND t.entity_id = d.entity_id AND t.attribute = d.attribute",
        cols, vec![],
    )
}

// The four writers' C entry points: made by hand rather than by
// `#[pg_extern]`, so that an error their statement raises reaches the
// caller whole (see `whole_errors`). Their SQL is what `#[pg_extern]`
// generated for them, symbols included.

whole_entry!(pg_finfo_write_tuples_wrapper, write_tuples_wrapper, Vec<Option<String>>, write_tuples);
whole_entry!(pg_finfo_delete_tuples_wrapper, delete_tuples_wrapper, Vec<Option<String>>, delete_tuples);
whole_entry!(pg_finfo_write_attributes_wrapper, write_attributes_wrapper, Vec<Option<String>>, write_attributes);
whole_entry!(pg_finfo_delete_attributes_wrapper, delete_attributes_wrapper, Vec<Option<String>>, delete_attributes);

pgrx::extension_sql!(
    r#"
CREATE FUNCTION rbac."write_tuples"(
	"tuples" TEXT[]
) RETURNS bigint
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'write_tuples_wrapper';

CREATE FUNCTION rbac."delete_tuples"(
	"tuples" TEXT[]
) RETURNS bigint
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'delete_tuples_wrapper';

CREATE FUNCTION rbac."write_attributes"(
	"attributes" TEXT[]
) RETURNS bigint
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'write_attributes_wrapper';

CREATE FUNCTION rbac."delete_attributes"(
	"attributes" TEXT[]
) RETURNS bigint
STRICT VOLATILE PARALLEL UNSAFE
SET search_path TO pg_catalog, pg_temp
LANGUAGE c
AS 'MODULE_PATHNAME', 'delete_attributes_wrapper';
"#,
    name = "tuple_writers",
    requires = ["bootstrap"]
);

/// Internal (tuple validation trigger): raises the error explaining why a
/// stored tuple does not fit the active schema.
#[pg_extern(volatile, name = "_raise_tuple_misfit")]
fn raise_tuple_misfit(
    entity_type: &str,
    entity_id: &str,
    relation: &str,
    subject_type: &str,
    subject_id: &str,
    subject_relation: &str,
) {
    let t = Tuple {
        entity: tuple::ObjectRef { ty: entity_type.into(), id: entity_id.into() },
        relation: relation.into(),
        subject: tuple::SubjectRef { ty: subject_type.into(), id: subject_id.into(), relation: subject_relation.into() },
    };
    let active = active_schema();
    let err = active.schema.validate_tuple(&t).err().unwrap_or_else(|| {
        Error::new(ErrorKind::SchemaViolation, format!("tuple {t} does not fit the active schema"))
    });
    raise(Error { message: format!("tuple {t} rejected: {}", err.message), ..err });
}

/// Internal (attribute validation trigger): raises the error explaining why
/// an attribute value does not fit the active schema.
#[pg_extern(volatile, name = "_raise_attribute_misfit")]
fn raise_attribute_misfit(entity_type: &str, entity_id: &str, attribute: &str, value_type: &str) {
    let active = active_schema();
    let declared = active.schema.entity(entity_type).and_then(|e| e.attribute(attribute)).map(|a| a.ty.to_string());
    let message = match (active.schema.entity(entity_type), declared) {
        (None, _) => format!("entity definition not found: entity \"{entity_type}\" is not defined in the schema"),
        (Some(_), None) => format!("attribute definition not found: entity \"{entity_type}\" has no attribute \"{attribute}\""),
        (Some(_), Some(ty)) => format!("attribute type mismatch: \"{entity_type}${attribute}\" is declared {ty}, got {value_type}"),
    };
    raise(Error::new(
        ErrorKind::SchemaViolation,
        format!("attribute {entity_type}:{entity_id}${attribute} rejected: {message}"),
    ));
}
