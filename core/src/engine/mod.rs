//! Check and lookups over an abstract tuple source.
//!
//! - [`Checker`] / [`check()`]: does a subject have a permission (or relation,
//!   attribute, rule) on an entity? The well-founded value (the least
//!   fixpoint on cycles), in polynomial time for every schema, with a limit
//!   on the height of a proof (see [`check`](mod@check)).
//! - [`lookup_resources`] / [`lookup_subjects`]: the entities a subject has
//!   a permission on, the subjects with a permission on an entity.
//! - [`Context`]: contextual tuples, attributes and `context.data` of one call.
//! - [`MemorySource`]: an in-memory [`TupleSource`], the reference the
//!   database-backed source must agree with.

mod chains;
pub mod check;
pub mod context;
pub mod explain;
pub mod lookup;
pub mod memory;
pub(crate) mod rules;
pub mod source;
mod sorted_probe;
mod text_list;

pub use check::{
    CheckOptions, Checker, Kept, DEFAULT_MAX_DEPTH, DEFAULT_MAX_FIXPOINT_SIZE, DEFAULT_MAX_STACK_BYTES,
};
pub use context::{CallContext, Context, free_set_aside};
pub use chains::{Chains, key_hash};
pub use sorted_probe::probe_sorted;
pub use text_list::TextList;
pub use explain::{expand, explain};
pub use lookup::{lookup_resource_list, lookup_resources, lookup_subjects, unlisted_by};
pub use memory::MemorySource;
pub use source::{Deadline, ReverseHit, TupleSource};

use crate::error::Result;
use crate::model::Schema;
use crate::tuple::{ObjectRef, SubjectRef};

/// One check: does `subject` have `name` on `entity`? See [`Checker::check`].
/// For many checks in one call, keep a [`Checker`] to share its memo.
pub fn check<S: TupleSource + ?Sized>(
    schema: &Schema,
    source: &mut S,
    entity: &ObjectRef,
    name: &str,
    subject: &SubjectRef,
    ctx: &Context,
    opts: CheckOptions,
) -> Result<bool> {
    Checker::new(schema, source, ctx, opts).check(entity, name, subject)
}
