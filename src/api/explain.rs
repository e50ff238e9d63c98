//! Explanations: `rbac.explain` / `rbac.explain_text` (why a check is true
//! or false) and `rbac.expand` (the userset tree of a permission). The
//! logic is `notion_rbac_core::engine::explain`; every node's value there is
//! a check in the caller's snapshot, so an explanation agrees with
//! `rbac.check` in the same statement.

use notion_rbac_core::engine::{self, explain as engine_explain};
use notion_rbac_core::tuple;
use notion_rbac_core::{Error, ErrorKind};
use pgrx::prelude::*;
use pgrx::JsonB;

use super::check::options;
use super::context::{context_of, ContextArg};
use crate::errors::{raise, OrRaise};
use crate::store;

/// Nodes an explanation or expansion may hold at most, whatever is asked.
const MAX_NODES: i32 = 100_000;

fn node_limit(max_nodes: i32) -> usize {
    if !(1..=MAX_NODES).contains(&max_nodes) {
        raise(
            Error::new(ErrorKind::InvalidArgument, format!("max_nodes must be between 1 and {MAX_NODES}, not {max_nodes}"))
                .with_hint("the limit bounds the size of the answer; what it cuts is marked \"truncated\""),
        );
    }
    max_nodes as usize
}

fn explained(subject: &str, action: &str, object: &str, context: Option<ContextArg>, max_nodes: i32) -> serde_json::Value {
    let limit = node_limit(max_nodes);
    let subject = tuple::parse_subject(subject).or_raise();
    let object = tuple::parse_object(object).or_raise();
    let ctx = context_of(context);
    store::read(|schema, source| engine_explain::explain(schema, source, &object, action, &subject, &ctx, options(), limit))
        .or_raise()
}

/// Why `rbac.check(subject, action, object)` is true — one granting path:
/// the tuples, walks, attributes and rules that make it — or false — every
/// branch tried and why it failed. `{"check", "result", "explanation",
/// "nodes", "truncated"}`; at most `max_nodes` nodes, the rest marked
/// `"truncated": true`.
#[pg_extern(stable, parallel_restricted)]
fn explain(
    subject: Option<&str>,
    action: Option<&str>,
    object: Option<&str>,
    context: default!(Option<ContextArg>, "NULL"),
    max_nodes: default!(Option<i32>, 200),
) -> Option<JsonB> {
    // NULL arguments give NULL, as a strict function would.
    Some(JsonB(explained(subject?, action?, object?, context, max_nodes?)))
}

/// `rbac.explain` as indented lines for psql: `yes`/`no`, each node and
/// what decided it, children below their parent.
#[pg_extern(stable, parallel_restricted)]
fn explain_text(
    subject: Option<&str>,
    action: Option<&str>,
    object: Option<&str>,
    context: default!(Option<ContextArg>, "NULL"),
    max_nodes: default!(Option<i32>, 200),
) -> Option<String> {
    Some(engine_explain::explanation_text(&explained(subject?, action?, object?, context, max_nodes?)))
}

/// The userset tree of `action` on `object`, as Permify's expand: `union`,
/// `intersection` and `exclusion` nodes, walks to related objects, relations
/// with their subjects (subject sets expanded in turn), attributes and rules
/// with their values; cycles marked `"cycle": true`, and at most
/// `max_nodes` nodes.
#[pg_extern(stable, parallel_restricted)]
fn expand(
    object: Option<&str>,
    action: Option<&str>,
    context: default!(Option<ContextArg>, "NULL"),
    max_nodes: default!(Option<i32>, 1000),
) -> Option<JsonB> {
    let (object, action) = (object?, action?);
    let limit = node_limit(max_nodes?);
    let object = tuple::parse_object(object).or_raise();
    let ctx = context_of(context);
    Some(JsonB(store::read(|schema, source| engine::expand(schema, source, &object, action, &ctx, options(), limit)).or_raise()))
}
