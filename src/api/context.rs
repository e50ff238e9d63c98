//! The request context argument of checks and lookups (`jsonb`).
//!
//! pgrx's `JsonB` argument goes through text and serde_json, panicking — an
//! internal error, XX000 — on a value nested deeper than 128 levels, and
//! spending a long, uncancellable moment on a large one (render, then
//! parse). [`ContextArg`] is the same `jsonb` argument in SQL, read here
//! by walking the jsonb itself: no text round trip, interrupts polled as
//! it goes, every bad context an ordinary error naming what is wrong, and
//! bounded by `notion_rbac.max_context_items` before any work is done.

use notion_rbac_core::engine::{CallContext, Context, TextList};
use notion_rbac_core::{Error, ErrorKind};
use pgrx::datum::{FromDatum, JsonB};
use pgrx::pg_sys;
use serde_json::{Map, Number, Value};

use crate::errors::{raise, OrRaise};
use crate::guc;

/// A `jsonb` request context as JSON, not yet interpreted; its top-level
/// `tuples` and `attributes` arrays, when they hold only strings, as
/// [`TextList`]s instead (two allocations for a million items, not a
/// million: cheaper to build, and to free when a cancel unwinds the call).
pub struct ContextArg {
    json: Value,
    tuples: Option<TextList>,
    attributes: Option<TextList>,
}

/// Deepest nesting a context may have (serde_json's own default limit).
const MAX_NESTING: usize = 128;

/// Bytes of jsonb allowed per contextual item, beyond a fixed allowance for
/// `data`: a context larger than this cannot be within the item limit, so
/// it is refused before it is read.
const BYTES_PER_ITEM: usize = 1024;
const DATA_ALLOWANCE: usize = 1 << 20;

impl FromDatum for ContextArg {
    unsafe fn from_polymorphic_datum(datum: pg_sys::Datum, is_null: bool, _: pg_sys::Oid) -> Option<Self> {
        if is_null {
            return None;
        }
        // SAFETY: a non-null jsonb datum, detoasted into this memory context.
        unsafe {
            let jsonb = pg_sys::pg_detoast_datum(datum.cast_mut_ptr()) as *mut pg_sys::Jsonb;
            let size = pgrx::varlena::varsize_any(jsonb as *const pg_sys::varlena);
            let limit = guc::max_context_items();
            if size > limit.saturating_mul(BYTES_PER_ITEM).saturating_add(DATA_ALLOWANCE) {
                crate::errors::limit_exceeded(
                    format!("context is {size} bytes, more than notion_rbac.max_context_items ({limit}) items can take"),
                    "write the relationships to rbac.tuples instead, or have a superuser raise notion_rbac.max_context_items",
                );
            }
            Some(jsonb_to_context(jsonb))
        }
    }
}

/// A container being read.
enum Open {
    Array(Vec<Value>),
    Object(Map<String, Value>, Option<String>),
    /// The top-level `tuples` (true) or `attributes` (false) array, while
    /// every element has been a string.
    Texts(TextList, bool),
}

/// Turns a [`Open::Texts`] on top of `open` into the ordinary array it
/// stands for: an element that is not a string was met, which
/// [`Context::from_json`] reports as such.
fn demote(open: &mut [Open]) {
    if let Some(top) = open.last_mut()
        && let Open::Texts(list, _) = top
    {
        *top = Open::Array(list.iter().map(|s| Value::String(s.to_owned())).collect());
    }
}

fn invalid_context(what: &str) -> ! {
    raise(Error::new(ErrorKind::InvalidArgument, format!("invalid context: {what}")))
}

/// The context of a jsonb, read token by token: its JSON value, but the
/// top-level `tuples` and `attributes` arrays as text lists while they
/// hold only strings.
///
/// # Safety
/// `jsonb` points to a detoasted jsonb value.
unsafe fn jsonb_to_context(jsonb: *mut pg_sys::Jsonb) -> ContextArg {
    use pg_sys::JsonbIteratorToken::*;
    // SAFETY (whole body): the iterator walks the container it was given;
    // each JsonbValue is read according to its type tag.
    unsafe {
        let mut it = pg_sys::JsonbIteratorInit(&mut (*jsonb).root);
        let mut v: pg_sys::JsonbValue = std::mem::zeroed();
        let mut open: Vec<Open> = Vec::new();
        let mut raw_scalar = false;
        let mut result = Value::Null;
        let (mut tuples, mut attributes) = (None, None);
        let mut tokens: u32 = 0;
        loop {
            let token = pg_sys::JsonbIteratorNext(&mut it, &mut v, false);
            tokens = tokens.wrapping_add(1);
            if tokens % 1024 == 0 {
                pgrx::check_for_interrupts!();
            }
            let done = match token {
                WJB_DONE => break,
                WJB_BEGIN_ARRAY => {
                    raw_scalar = open.is_empty() && v.val.array.rawScalar;
                    demote(&mut open);
                    let listed = match open.as_slice() {
                        [Open::Object(_, Some(key))] if key == "tuples" && tuples.is_none() => Some(true),
                        [Open::Object(_, Some(key))] if key == "attributes" && attributes.is_none() => Some(false),
                        _ => None,
                    };
                    open.push(match listed {
                        Some(is_tuples) => Open::Texts(TextList::default(), is_tuples),
                        None => Open::Array(Vec::new()),
                    });
                    None
                }
                WJB_BEGIN_OBJECT => {
                    demote(&mut open);
                    open.push(Open::Object(Map::new(), None));
                    None
                }
                WJB_KEY => {
                    if let Some(Open::Object(_, key)) = open.last_mut() {
                        *key = Some(string_of(&v));
                    }
                    None
                }
                WJB_ELEM if v.type_ == pg_sys::jbvType::jbvString && matches!(open.last(), Some(Open::Texts(..))) => {
                    if let Some(Open::Texts(list, _)) = open.last_mut() {
                        list.push(&text_of(&v));
                    }
                    None
                }
                WJB_VALUE | WJB_ELEM => {
                    demote(&mut open);
                    Some(scalar_of(&v))
                }
                WJB_END_ARRAY | WJB_END_OBJECT => match open.pop() {
                    Some(Open::Texts(list, is_tuples)) => {
                        // Kept aside: the key does not go into the map.
                        if let Some(Open::Object(_, key)) = open.last_mut() {
                            *key = None;
                        }
                        *(if is_tuples { &mut tuples } else { &mut attributes }) = Some(list);
                        None
                    }
                    Some(Open::Array(mut items)) if raw_scalar && open.is_empty() => {
                        Some(items.pop().unwrap_or(Value::Null))
                    }
                    Some(Open::Array(items)) => Some(Value::Array(items)),
                    Some(Open::Object(map, _)) => Some(Value::Object(map)),
                    None => invalid_context("malformed jsonb"),
                },
                _ => invalid_context("malformed jsonb"),
            };
            if open.len() > MAX_NESTING {
                raise(
                    Error::new(ErrorKind::InvalidArgument, "invalid context: it nests deeper than 128 levels")
                        .with_hint("contexts nest at most 128 levels deep"),
                );
            }
            if let Some(value) = done {
                match open.last_mut() {
                    Some(Open::Array(items)) => items.push(value),
                    Some(Open::Object(map, key)) => {
                        map.insert(key.take().unwrap_or_default(), value);
                    }
                    Some(Open::Texts(..)) => invalid_context("malformed jsonb"),
                    None => result = value,
                }
            }
        }
        ContextArg { json: result, tuples, attributes }
    }
}

/// # Safety
/// `v` holds a string (a key or a string scalar).
unsafe fn text_of(v: &pg_sys::JsonbValue) -> std::borrow::Cow<'_, str> {
    // SAFETY: for jbvString, `val.string` is the (pointer, length) pair.
    unsafe {
        let s = v.val.string;
        let bytes = std::slice::from_raw_parts(s.val as *const u8, usize::try_from(s.len).unwrap_or(0));
        String::from_utf8_lossy(bytes)
    }
}

/// # Safety
/// `v` holds a string (a key or a string scalar).
unsafe fn string_of(v: &pg_sys::JsonbValue) -> String {
    // SAFETY: as for `text_of`.
    unsafe { text_of(v).into_owned() }
}

/// # Safety
/// `v` holds a scalar.
unsafe fn scalar_of(v: &pg_sys::JsonbValue) -> Value {
    use pg_sys::jbvType;
    // SAFETY: each arm reads the union member its type tag names.
    unsafe {
        match v.type_ {
            jbvType::jbvNull => Value::Null,
            jbvType::jbvString => Value::String(string_of(v)),
            jbvType::jbvBool => Value::Bool(v.val.boolean),
            jbvType::jbvNumeric => {
                // numeric_out returns a C string (palloc'd), not text.
                let Some(cstr) = pgrx::direct_function_call::<&std::ffi::CStr>(
                    pg_sys::numeric_out,
                    &[Some(pg_sys::Datum::from(v.val.numeric))],
                ) else {
                    invalid_context("unreadable number")
                };
                let text = cstr.to_string_lossy().into_owned();
                pg_sys::pfree(cstr.as_ptr() as *mut std::ffi::c_void);
                match text.parse::<Number>() {
                    Ok(n) => Value::Number(n),
                    Err(_) => invalid_context("a number is out of range"),
                }
            }
            _ => invalid_context("unsupported jsonb value"),
        }
    }
}

crate::sql_type::argument_from_datum!(ContextArg);
crate::sql_type::same_sql_type_as!(ContextArg, JsonB);

/// The context of a call: empty for NULL or JSON `null`; an error (22023)
/// for a value that is not a context or nests too deeply; an error (54000)
/// for more contextual tuples and attributes than
/// `notion_rbac.max_context_items`.
/// (A [`CallContext`]: a large one that a cancel unwinds through is freed
/// later, a chunk per poll, so that the cancel is reported at once.)
pub(crate) fn context_of(context: Option<ContextArg>) -> CallContext {
    let Some(ContextArg { mut json, tuples, attributes }) = context else { return CallContext::new(Context::default()) };
    if json.is_null() && tuples.is_none() && attributes.is_none() {
        return CallContext::new(Context::default());
    }
    // "at_least": a consistency token; the call's read then includes what
    // it names (see store::consistency). Not part of the engine's context.
    // Honoured last, once everything else parsed: its request for a new
    // snapshot is for this call's read, which must follow.
    let token = match json.as_object_mut().and_then(|o| o.remove("at_least")) {
        Some(Value::String(t)) => Some(t),
        None | Some(Value::Null) => None,
        Some(_) => raise(Error::new(ErrorKind::InvalidArgument, "invalid context: \"at_least\" must be a consistency token (text)")),
    };
    // Counted before anything is parsed.
    let count = |key: &str| json.get(key).and_then(Value::as_array).map_or(0, Vec::len);
    let listed = tuples.as_ref().map_or(0, TextList::len) + attributes.as_ref().map_or(0, TextList::len);
    let items = count("tuples") + count("attributes") + listed;
    let limit = guc::max_context_items();
    if items > limit {
        crate::errors::limit_exceeded(
            format!("context holds {items} tuples and attributes, more than notion_rbac.max_context_items ({limit})"),
            "write the relationships to rbac.tuples instead, or have a superuser raise notion_rbac.max_context_items",
        );
    }
    let ctx = CallContext::new(Context::from_json_and_lists(&json, tuples.as_ref(), attributes.as_ref()).or_raise());
    if let Some(t) = token {
        crate::store::consistency::require(&t);
    }
    ctx
}
