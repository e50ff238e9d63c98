//! The request context argument of checks and lookups (`jsonb`).
//!
//! pgrx's `JsonB` argument panics — an internal error, XX000 — on a value
//! serde_json will not parse, such as one nested deeper than 128 levels.
//! [`ContextArg`] is the same `jsonb` argument in SQL, converted here so
//! that every bad context is an ordinary error naming what is wrong, and
//! bounded by `notion_rbac.max_context_items`.

use notion_rbac_core::engine::Context;
use notion_rbac_core::{Error, ErrorKind};
use pgrx::datum::{FromDatum, JsonB};
use pgrx::pg_sys;

use crate::errors::{raise, OrRaise};
use crate::guc;

/// A `jsonb` request context as text, not yet parsed.
pub struct ContextArg(String);

impl FromDatum for ContextArg {
    unsafe fn from_polymorphic_datum(datum: pg_sys::Datum, is_null: bool, _: pg_sys::Oid) -> Option<Self> {
        if is_null {
            return None;
        }
        // SAFETY: a non-null jsonb datum; jsonb_out renders it as text.
        unsafe {
            let detoasted = pg_sys::pg_detoast_datum_packed(datum.cast_mut_ptr());
            let cstr = pgrx::direct_function_call::<&std::ffi::CStr>(pg_sys::jsonb_out, &[Some(detoasted.into())])
                .expect("jsonb_out returns a string");
            let text = cstr.to_string_lossy().into_owned();
            pg_sys::pfree(cstr.as_ptr() as *mut std::ffi::c_void);
            Some(ContextArg(text))
        }
    }
}

crate::sql_type::argument_from_datum!(ContextArg);
crate::sql_type::same_sql_type_as!(ContextArg, JsonB);

/// The context of a call: empty for NULL or JSON `null`; an error (22023)
/// for a value that is not a context or nests too deeply; an error (54000)
/// for more contextual tuples and attributes than
/// `notion_rbac.max_context_items`.
pub(crate) fn context_of(context: Option<ContextArg>) -> Context {
    let Some(ContextArg(text)) = context else { return Context::default() };
    let json: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        raise(
            Error::new(ErrorKind::InvalidArgument, format!("invalid context: {e}"))
                .with_hint("contexts nest at most 128 levels deep"),
        )
    });
    if json.is_null() {
        return Context::default();
    }
    let ctx = Context::from_json(&json).or_raise();
    let items = ctx.tuples.len() + ctx.attributes.len();
    let limit = guc::max_context_items();
    if items > limit {
        crate::errors::limit_exceeded(
            format!("context holds {items} tuples and attributes, more than notion_rbac.max_context_items ({limit})"),
            "write the relationships to rbac.tuples instead, or raise notion_rbac.max_context_items",
        );
    }
    ctx
}
