//! [`TupleSource`] over the `rbac.tuples` and `rbac.attributes` tables.
//!
//! Reads run through SPI in read-only mode, which uses the calling
//! statement's snapshot: a check sees its own transaction's earlier writes,
//! never another transaction's uncommitted ones, and under REPEATABLE READ
//! answers from the transaction snapshot. It works unchanged in read-only
//! transactions and on hot standbys.

use notion_rbac_core::engine::{ReverseHit, TupleSource};
use notion_rbac_core::model::{AttrType, BaseType, Schema};
use notion_rbac_core::tuple::{ObjectRef, SubjectRef, Value};
use notion_rbac_core::{Error, ErrorKind, Result};
use pgrx::spi::{SpiClient, SpiResult};
use pgrx::{JsonB, PgBuiltInOids, PgOid};

use super::plans::KeptPlan;

const TEXT: PgOid = PgOid::BuiltIn(PgBuiltInOids::TEXTOID);

thread_local! {
    static SUBJECTS: KeptPlan = const { KeptPlan::new(
        "SELECT subject_type, subject_id, subject_relation FROM rbac.tuples \
         WHERE entity_type = $1 AND entity_id = $2 AND relation = $3",
        &[TEXT, TEXT, TEXT]) };
    static REVERSE: KeptPlan = const { KeptPlan::new(
        "SELECT entity_id, subject_relation FROM rbac.tuples \
         WHERE subject_type = $1 AND subject_id = $2 AND entity_type = $3 AND relation = $4",
        &[TEXT, TEXT, TEXT, TEXT]) };
    static ATTRIBUTE: KeptPlan = const { KeptPlan::new(
        "SELECT value FROM rbac.attributes WHERE entity_type = $1 AND entity_id = $2 AND attribute = $3",
        &[TEXT, TEXT, TEXT]) };
    static WITH_ATTRIBUTE: KeptPlan = const { KeptPlan::new(
        "SELECT entity_id FROM rbac.attributes WHERE entity_type = $1 AND attribute = $2",
        &[TEXT, TEXT]) };
    static SUBJECT_IDS: KeptPlan = const { KeptPlan::new(
        "SELECT DISTINCT subject_id FROM rbac.tuples WHERE subject_type = $1 AND subject_relation = ''",
        &[TEXT]) };
}

/// Reads tuples and attributes through an open SPI connection.
pub struct SpiSource<'a, 'conn> {
    client: &'a SpiClient<'conn>,
    schema: &'a Schema,
}

impl<'a, 'conn> SpiSource<'a, 'conn> {
    pub fn new(client: &'a SpiClient<'conn>, schema: &'a Schema) -> Self {
        SpiSource { client, schema }
    }
}

fn spi_err(e: pgrx::spi::SpiError) -> Error {
    Error::new(ErrorKind::Internal, format!("reading rbac tables failed: {e}"))
}

fn text(t: &pgrx::spi::SpiHeapTupleData<'_>, i: usize) -> SpiResult<String> {
    Ok(t.get::<String>(i)?.unwrap_or_default())
}

impl TupleSource for SpiSource<'_, '_> {
    fn subjects(&mut self, entity: &ObjectRef, relation: &str, out: &mut Vec<SubjectRef>) -> Result<()> {
        let client = self.client;
        SUBJECTS.with(|p| {
            p.with(client, |plan| -> SpiResult<()> {
                let rows = client.select(plan, None, &[entity.ty.as_str().into(), entity.id.as_str().into(), relation.into()])?;
                for row in rows {
                    out.push(SubjectRef { ty: text(&row, 1)?, id: text(&row, 2)?, relation: text(&row, 3)? });
                }
                Ok(())
            })
        })
        .map_err(spi_err)
    }

    fn reverse(&mut self, subject: &ObjectRef, entity_type: &str, relation: &str, out: &mut Vec<ReverseHit>) -> Result<()> {
        let client = self.client;
        REVERSE
            .with(|p| {
                p.with(client, |plan| -> SpiResult<()> {
                    let rows = client.select(
                        plan,
                        None,
                        &[subject.ty.as_str().into(), subject.id.as_str().into(), entity_type.into(), relation.into()],
                    )?;
                    for row in rows {
                        out.push(ReverseHit { entity_id: text(&row, 1)?, subject_relation: text(&row, 2)? });
                    }
                    Ok(())
                })
            })
            .map_err(spi_err)
    }

    fn attribute(&mut self, entity: &ObjectRef, name: &str) -> Result<Option<Value>> {
        let client = self.client;
        let json: Option<JsonB> = ATTRIBUTE
            .with(|p| {
                p.with(client, |plan| -> SpiResult<Option<JsonB>> {
                    let rows = client.select(plan, Some(1), &[entity.ty.as_str().into(), entity.id.as_str().into(), name.into()])?;
                    if rows.is_empty() { Ok(None) } else { rows.first().get::<JsonB>(1) }
                })
            })
            .map_err(spi_err)?;
        let Some(JsonB(json)) = json else { return Ok(None) };
        let ty = self
            .schema
            .entity(&entity.ty)
            .and_then(|e| e.attribute(name))
            .map(|a| a.ty)
            .ok_or_else(|| Error::internal(format!("attribute {}${} is stored but not declared", entity, name)))?;
        json_to_value(&json, ty).map(Some)
    }

    fn entities_with_attribute(&mut self, entity_type: &str, name: &str, out: &mut Vec<String>) -> Result<()> {
        let client = self.client;
        WITH_ATTRIBUTE
            .with(|p| {
                p.with(client, |plan| -> SpiResult<()> {
                    for row in client.select(plan, None, &[entity_type.into(), name.into()])? {
                        out.push(text(&row, 1)?);
                    }
                    Ok(())
                })
            })
            .map_err(spi_err)
    }

    fn subject_ids_of_type(&mut self, subject_type: &str, out: &mut Vec<String>) -> Result<()> {
        let client = self.client;
        SUBJECT_IDS
            .with(|p| {
                p.with(client, |plan| -> SpiResult<()> {
                    for row in client.select(plan, None, &[subject_type.into()])? {
                        out.push(text(&row, 1)?);
                    }
                    Ok(())
                })
            })
            .map_err(spi_err)
    }
}

/// Converts a stored JSON value to the schema's attribute type. The table's
/// CHECK constraint already guarantees the JSON shape for scalars.
pub fn json_to_value(json: &serde_json::Value, ty: AttrType) -> Result<Value> {
    use serde_json::Value as J;
    let bad = || Error::internal(format!("stored attribute value {json} does not match type {ty}"));
    let int = |v: &J| v.as_i64().and_then(|i| i32::try_from(i).ok());
    Ok(match (ty.base, ty.array) {
        (BaseType::Boolean, false) => Value::Boolean(json.as_bool().ok_or_else(bad)?),
        (BaseType::String, false) => Value::String(json.as_str().ok_or_else(bad)?.to_owned()),
        (BaseType::Integer, false) => Value::Integer(int(json).ok_or_else(bad)?),
        (BaseType::Double, false) => Value::Double(json.as_f64().ok_or_else(bad)?),
        (base, true) => {
            let items = json.as_array().ok_or_else(bad)?;
            match base {
                BaseType::Boolean => Value::BooleanArray(items.iter().map(|v| v.as_bool().ok_or_else(bad)).collect::<Result<_>>()?),
                BaseType::String => Value::StringArray(
                    items.iter().map(|v| v.as_str().map(str::to_owned).ok_or_else(bad)).collect::<Result<_>>()?,
                ),
                BaseType::Integer => Value::IntegerArray(items.iter().map(|v| int(v).ok_or_else(bad)).collect::<Result<_>>()?),
                BaseType::Double => Value::DoubleArray(items.iter().map(|v| v.as_f64().ok_or_else(bad)).collect::<Result<_>>()?),
            }
        }
    })
}

/// Converts an attribute value to its stored form: (value_type, JSON).
pub fn value_to_json(value: &Value) -> (&'static str, serde_json::Value) {
    use serde_json::json;
    match value {
        Value::Boolean(b) => ("boolean", json!(b)),
        Value::String(s) => ("string", json!(s)),
        Value::Integer(i) => ("integer", json!(i)),
        Value::Double(d) => ("double", json!(d)),
        Value::BooleanArray(v) => ("boolean[]", json!(v)),
        Value::StringArray(v) => ("string[]", json!(v)),
        Value::IntegerArray(v) => ("integer[]", json!(v)),
        Value::DoubleArray(v) => ("double[]", json!(v)),
    }
}
