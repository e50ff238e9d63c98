//! Allocation budget of the check hot path: the engine itself must not
//! allocate for a check answered by one direct tuple, and only a little for
//! a short hierarchy. Allocations made by the tuple source (its strings) are
//! measured separately and not charged to the engine.

mod engine_util;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use engine_util::world;
use notion_rbac_core::Result;
use notion_rbac_core::engine::{
    self, CheckOptions, Context, MemorySource, ReverseHit, TupleSource,
};
use notion_rbac_core::tuple::{ObjectRef, SubjectRef, Value, parse_object, parse_subject};

struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn allocations() -> usize {
    ALLOCATIONS.try_with(Cell::get).unwrap_or(0)
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// A source that counts the allocations made inside its calls.
struct Measured {
    inner: MemorySource,
    inside: usize,
}

impl Measured {
    fn measure<T>(&mut self, f: impl FnOnce(&mut MemorySource) -> T) -> T {
        let before = allocations();
        let out = f(&mut self.inner);
        self.inside += allocations() - before;
        out
    }
}

impl TupleSource for Measured {
    fn subjects(
        &mut self,
        entity: &ObjectRef,
        relation: &str,
        out: &mut Vec<SubjectRef>,
    ) -> Result<()> {
        self.measure(|s| s.subjects(entity, relation, out))
    }
    fn contains(&mut self, entity: &ObjectRef, relation: &str, subject: &SubjectRef) -> Result<bool> {
        self.measure(|s| s.contains(entity, relation, subject))
    }
    fn subject_sets(&mut self, entity: &ObjectRef, relation: &str, out: &mut Vec<SubjectRef>) -> Result<()> {
        self.measure(|s| s.subject_sets(entity, relation, out))
    }
    fn reverse(
        &mut self,
        subject: &ObjectRef,
        ty: &str,
        rel: &str,
        out: &mut Vec<ReverseHit>,
    ) -> Result<()> {
        self.measure(|s| s.reverse(subject, ty, rel, out))
    }
    fn attribute(&mut self, entity: &ObjectRef, name: &str) -> Result<Option<Value>> {
        self.measure(|s| s.attribute(entity, name))
    }
    fn entities_with_attribute(
        &mut self,
        ty: &str,
        name: &str,
        out: &mut Vec<String>,
    ) -> Result<()> {
        self.measure(|s| s.entities_with_attribute(ty, name, out))
    }
    fn subject_ids_of_type(&mut self, ty: &str, out: &mut Vec<String>) -> Result<()> {
        self.measure(|s| s.subject_ids_of_type(ty, out))
    }
}

const PAGES: &str = r#"
entity user {}
entity workspace {
    relation admin @user
}
entity page {
    relation workspace @workspace
    relation parent @page
    relation reader @user
    relation banned @user
    attribute public boolean
    permission read = (reader or public or workspace.admin or parent.read) not banned
}
"#;

/// Allocations of one check made by the engine (not by the source).
fn engine_allocations(entity: &str, subject: &str, expected: bool) -> usize {
    let w = world(
        PAGES,
        &[
            "page:a#reader@user:r",
            "page:a#reader@user:r2",
            "page:a#workspace@workspace:w",
            "workspace:w#admin@user:boss",
            "page:b#parent@page:a",
            "page:c#parent@page:b",
        ],
        &[],
    );
    let mut source = Measured {
        inner: w.source,
        inside: 0,
    };
    let (entity, subject) = (
        parse_object(entity).unwrap(),
        parse_subject(subject).unwrap(),
    );
    let ctx = Context::default();
    // The schema's stratification is computed by its first check and kept
    // with the compiled schema (which the database caches): warm it.
    let warm = parse_subject("user:warm-up").unwrap();
    engine::check(&w.schema, &mut source, &entity, "read", &warm, &ctx, CheckOptions::default())
        .unwrap();
    source.inside = 0;
    let before = allocations();
    let allowed = engine::check(
        &w.schema,
        &mut source,
        &entity,
        "read",
        &subject,
        &ctx,
        CheckOptions::default(),
    );
    let total = allocations() - before;
    assert_eq!(allowed.unwrap(), expected);
    total - source.inside
}

#[test]
fn a_direct_hit_allocates_nothing_in_the_engine() {
    assert_eq!(engine_allocations("page:a", "user:r", true), 0);
}

#[test]
fn a_short_hierarchy_allocates_little() {
    // Two walk hops up, then the workspace: only the row buffers of nested
    // reads (one per level) and a few memo entries.
    let n = engine_allocations("page:c", "user:boss", true);
    eprintln!("allowed: {n} engine allocations");
    assert!(n <= 12, "{n} engine allocations");
    let n = engine_allocations("page:c", "user:nobody", false);
    eprintln!("denied: {n} engine allocations");
    assert!(n <= 12, "{n} engine allocations");
}
