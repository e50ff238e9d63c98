//! Batches and memos must not change answers: `check_many_objects`,
//! `check_many_subjects` and a checker reused across names give, item by
//! item, exactly what a plain depth-first evaluation without any memo gives
//! (the semantics of the check's module docs, restated here as a small
//! reference evaluator), including which checks fail on the depth limit.
//! Random data over several schemas, stratified and not.

mod engine_util;

use engine_util::{every_attribute, every_tuple, id_pool, world};
use notion_rbac_core::engine::{self, CheckOptions, Checker, Context, MemorySource, TupleSource};
use notion_rbac_core::model::{Expr, Leaf, Member, Schema};
use notion_rbac_core::tuple::{
    ObjectRef, SubjectRef, Tuple, parse_attribute, parse_subject, parse_tuple,
};
use notion_rbac_core::{ErrorKind, Result, lang};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// A check's answer with errors reduced to "it failed": the three values
/// in the order in which union takes the largest and intersection the
/// smallest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum V {
    False,
    Error,
    True,
}

fn answer(r: &Result<bool>) -> V {
    match r {
        Ok(true) => V::True,
        Ok(false) => V::False,
        Err(_) => V::Error,
    }
}

/// A node's rule, restated naively as a formula.
#[derive(Debug, Clone)]
enum F {
    /// A leaf that holds, with the depth it needs below the node.
    Holds(u32),
    Fails,
    /// Another node, one level below.
    Node(usize),
    Or(Vec<F>),
    And(Vec<F>),
    Not(Box<F>, Box<F>),
}

/// The semantics of the check's module docs, restated as a small reference
/// with none of the engine's machinery: every node the root reaches, its
/// well-founded value by the plain alternating fixpoint over all of them
/// (no components, no priority queue, iterated until nothing changes), and
/// the smallest proof height of true nodes. A check is true if its node is
/// surely true with a proof within `max_depth`, false if it cannot be true,
/// an error otherwise. Quadratic and more, fine for a handful of nodes.
struct Reference<'a> {
    schema: &'a Schema,
    source: &'a mut MemorySource,
    ctx: &'a Context,
    subject: &'a SubjectRef,
    max_depth: u32,
    nodes: Vec<(String, String, String)>,
    formulas: Vec<F>,
}

impl<'a> Reference<'a> {
    fn new(
        schema: &'a Schema,
        source: &'a mut MemorySource,
        ctx: &'a Context,
        subject: &'a SubjectRef,
        max_depth: u32,
    ) -> Self {
        Reference {
            schema,
            source,
            ctx,
            subject,
            max_depth,
            nodes: Vec::new(),
            formulas: Vec::new(),
        }
    }

    fn rows(&mut self, ty: &str, id: &str, relation: &str) -> Vec<SubjectRef> {
        let mut rows = Vec::new();
        let object = ObjectRef {
            ty: ty.to_string(),
            id: id.to_string(),
        };
        self.source
            .subjects(&object, relation, &mut rows)
            .expect("read");
        for t in &self.ctx.tuples {
            if t.entity.ty == ty && t.entity.id == id && t.relation == relation {
                rows.push(t.subject.clone());
            }
        }
        rows
    }

    /// The formula naming node `ty:id#name` from its parent.
    fn reference(&mut self, ty: &str, id: &str, name: &str) -> F {
        let s = self.subject;
        if s.ty == ty && s.id == id && s.relation == name {
            return F::Holds(0);
        }
        let Some(entity) = self.schema.entity(ty) else {
            return F::Fails;
        };
        let Some(member) = entity.member(name) else {
            return F::Fails;
        };
        if let Member::Attribute(_) = member {
            let object = ObjectRef {
                ty: ty.to_string(),
                id: id.to_string(),
            };
            let value = self.source.attribute(&object, name).expect("read");
            return if matches!(value, Some(notion_rbac_core::tuple::Value::Boolean(true))) {
                F::Holds(1)
            } else {
                F::Fails
            };
        }
        let key = (ty.to_string(), id.to_string(), name.to_string());
        F::Node(match self.nodes.iter().position(|k| *k == key) {
            Some(n) => n,
            None => {
                self.nodes.push(key);
                self.nodes.len() - 1
            }
        })
    }

    fn formula(&mut self, n: usize) -> F {
        let (ty, id, name) = self.nodes[n].clone();
        let entity = self.schema.entity(&ty).expect("entity");
        match entity.member(&name).expect("member") {
            Member::Relation(_) => {
                let rows = self.rows(&ty, &id, &name);
                if rows.iter().any(|r| r == self.subject) {
                    return F::Holds(0);
                }
                F::Or(
                    rows.iter()
                        .filter(|r| !r.relation.is_empty())
                        .map(|r| self.reference(&r.ty, &r.id, &r.relation))
                        .collect(),
                )
            }
            Member::Permission(i) => {
                let expr = entity.permissions[i].expr.clone();
                self.expr(&ty, &id, &expr)
            }
            Member::Attribute(_) => unreachable!(),
        }
    }

    fn expr(&mut self, ty: &str, id: &str, expr: &Expr) -> F {
        match expr {
            Expr::Leaf(Leaf::Computed(name) | Leaf::Attribute(name)) => self.reference(ty, id, name),
            Expr::Leaf(Leaf::Walk { relation, target }) => {
                let mut kids = Vec::new();
                for r in self.rows(ty, id, relation) {
                    let known = self
                        .schema
                        .entity(&r.ty)
                        .is_some_and(|e| e.member(target).is_some());
                    if known {
                        kids.push(self.reference(&r.ty, &r.id, target));
                    }
                }
                F::Or(kids)
            }
            Expr::Leaf(Leaf::Call { .. }) => panic!("no rules in these schemas"),
            Expr::Or(c) => F::Or(c.iter().map(|c| self.expr(ty, id, c)).collect()),
            Expr::And(c) => F::And(c.iter().map(|c| self.expr(ty, id, c)).collect()),
            Expr::Not(b, s) => F::Not(Box::new(self.expr(ty, id, b)), Box::new(self.expr(ty, id, s))),
        }
    }

    /// Height if `f` surely holds: nodes read `cur`; subtracted sides are
    /// evaluated on the fixed pair (`t`, `p`).
    fn lower(f: &F, cur: &[Option<u32>], t: &[Option<u32>], p: &[bool]) -> Option<u32> {
        match f {
            F::Holds(h) => Some(*h),
            F::Fails => None,
            F::Node(n) => cur[*n].map(|h| h + 1),
            F::Or(c) => c.iter().filter_map(|c| Self::lower(c, cur, t, p)).min(),
            F::And(c) => c.iter().try_fold(0, |m, c| Some(m.max(Self::lower(c, cur, t, p)?))),
            F::Not(b, s) => {
                let h = Self::lower(b, cur, t, p)?;
                (!Self::upper(s, p, t, p)).then_some(h)
            }
        }
    }

    /// Whether `f` may hold: nodes read `cur`; subtracted sides the fixed pair.
    fn upper(f: &F, cur: &[bool], t: &[Option<u32>], p: &[bool]) -> bool {
        match f {
            F::Holds(_) => true,
            F::Fails => false,
            F::Node(n) => cur[*n],
            F::Or(c) => c.iter().any(|c| Self::upper(c, cur, t, p)),
            F::And(c) => c.iter().all(|c| Self::upper(c, cur, t, p)),
            F::Not(b, s) => Self::upper(b, cur, t, p) && Self::lower(s, t, t, p).is_none(),
        }
    }

    fn answer(&mut self, ty: &str, id: &str, name: &str) -> V {
        let root = match self.reference(ty, id, name) {
            F::Holds(_) => return V::True,
            F::Fails => return V::False,
            F::Node(n) => n,
            _ => unreachable!(),
        };
        while self.formulas.len() < self.nodes.len() {
            let f = self.formula(self.formulas.len());
            self.formulas.push(f);
        }
        let n = self.nodes.len();
        let (mut t, mut p) = (vec![None; n], vec![true; n]);
        loop {
            let mut t2: Vec<Option<u32>> = vec![None; n];
            loop {
                let mut changed = false;
                for i in 0..n {
                    let v = Self::lower(&self.formulas[i], &t2, &t, &p);
                    if v.is_some_and(|h| t2[i].is_none_or(|old| h < old)) {
                        t2[i] = v;
                        changed = true;
                    }
                }
                if !changed {
                    break;
                }
            }
            let mut p2 = vec![false; n];
            loop {
                let mut changed = false;
                for i in 0..n {
                    if !p2[i] && Self::upper(&self.formulas[i], &p2, &t2, &p) {
                        p2[i] = true;
                        changed = true;
                    }
                }
                if !changed {
                    break;
                }
            }
            if t2 == t && p2 == p {
                break;
            }
            (t, p) = (t2, p2);
        }
        match (t[root], p[root]) {
            (Some(h), _) if h <= self.max_depth => V::True,
            (Some(_), _) => V::Error,
            (None, false) => V::False,
            (None, true) => V::Error,
        }
    }
}

/// `x`'s subtracted side `y` walks back to `x`: not stratified. The schema
/// of the reported bug.
const NEGATED_CHAIN: &str = r#"
entity user {}
entity node {
    relation next @node
    relation a_rel @user
    relation b_rel @user
    permission y = b_rel or next.x
    permission x = (a_rel or next.x) not y
}
"#;

/// A monotone cycle (`a`/`b`), stratified negation over it (`c`, `d`), an
/// unstratified pair (`x`/`y`) and subject sets into it.
const RECURSIVE: &str = r#"
entity user {}
entity node {
    relation next @node
    relation link @node#a_rel
    relation a_rel @user
    relation b_rel @user
    permission a = a_rel or next.b or link
    permission b = b_rel or next.a
    permission c = a and b
    permission d = a not b
    permission x = (a_rel or next.x) not y
    permission y = b_rel or next.x
    permission top = x or a or next.top
}
"#;

/// Stratified: nested groups, folder trees, negation of recursive
/// permissions, a boolean attribute.
const FOLDERS: &str = r#"
entity user {}
entity group {
    relation member @user @group#member
}
entity folder {
    relation parent @folder
    relation viewer @user @group#member
    relation banned @user @group#member
    attribute locked boolean
    permission blocked = banned or parent.blocked
    permission view = (viewer or parent.view) not blocked
    permission strict = viewer and parent.view
    permission open = (viewer or parent.open) not locked
}
"#;

/// Unstratified cycles through walks, a negative self-loop, a monotone
/// cycle above an unstratified one and one below it, subject sets.
const MIXED: &str = r#"
entity user {}
entity team {
    relation member @user @team#member
    relation doc @doc
    permission good = member or doc.ok
}
entity doc {
    relation parent @doc
    relation team @team
    relation owner @user
    relation flag @user
    permission ok = (owner or team.member) not bad
    permission bad = flag or parent.ok
    permission top = ok or parent.top
    permission neg = owner not neg
    permission mono = top and team.good
    permission under = (owner or parent.under) not team.member
}
"#;

/// Notion's model as integrations write it: `read` names `write`, and
/// both walk `parent`, so the check leaves `parent.write` out of `read`
/// for plain subjects (engine::check::union_form); `wide` inlines two
/// levels. Subjects that are permissions exercise the self shortcut,
/// which the rewrite must not lose; a workspace reaching back into pages
/// makes a cross-type cycle.
const SUBSUMED: &str = r#"
entity user {}
entity group {
    relation member @user @group#member
}
entity workspace {
    relation admin @user
    relation home @page
    permission manage = admin or home.write
}
entity page {
    relation workspace @workspace
    relation parent @page
    relation writer @user @group#member
    relation reader @user @group#member
    attribute public boolean
    permission write = writer or parent.write or workspace.manage
    permission read = reader or write or parent.read or public
    permission both = read and parent.write
    permission hidden = read not parent.write
    permission wide = read or parent.wide or parent.read
}
"#;

struct Universe {
    schema: Schema,
    tuples: Vec<String>,
    attributes: Vec<String>,
    /// Contextual tuples to draw from; they are not validated, so some name
    /// a permission as a subject set (edges only the context adds).
    contextual: Vec<String>,
    subjects: Vec<String>,
}

fn universe(text: &str, subjects: &[&str], contextual: &[&str]) -> Universe {
    let schema = lang::compile(text).expect("schema compiles");
    let tuples = every_tuple(&schema);
    let attributes = every_attribute(&schema, |_| vec!["boolean:true"]);
    let mut contextual: Vec<String> = contextual.iter().map(|s| s.to_string()).collect();
    contextual.extend(tuples.iter().step_by(13).cloned());
    Universe {
        schema,
        tuples,
        attributes,
        contextual,
        subjects: subjects.iter().map(|s| s.to_string()).collect(),
    }
}

fn universes() -> Vec<Universe> {
    vec![
        universe(
            NEGATED_CHAIN,
            &["user:u1", "user:u2", "node:n1#x", "node:n2#y"],
            &[],
        ),
        universe(
            RECURSIVE,
            &["user:u1", "user:u2", "node:n1#a_rel", "node:n2#x"],
            &["node:n1#link@node:n2#x", "node:n2#link@node:n1#top"],
        ),
        universe(
            FOLDERS,
            &["user:u1", "user:u2", "group:g1#member", "folder:f1#view"],
            &["group:g1#member@folder:f2#view"],
        ),
        universe(
            MIXED,
            &["user:u1", "user:u2", "team:t1#member", "doc:d1#ok"],
            &["team:t1#member@doc:d2#ok", "team:t2#member@doc:d1#neg"],
        ),
        universe(
            SUBSUMED,
            &["user:u1", "user:u2", "group:g1#member", "page:p1#write", "page:p2#read"],
            &["page:p1#parent@workspace:w1", "page:p2#reader@page:p1#read", "page:p3#parent@page:p3"],
        ),
    ]
}

struct Data {
    source: MemorySource,
    ctx: Context,
    opts: CheckOptions,
}

fn data(stored: &[String], attrs: &[String], ctx: &[String], depth: u32) -> Data {
    let tuples: Vec<Tuple> = stored
        .iter()
        .map(|t| parse_tuple(t).expect("tuple"))
        .collect();
    let attributes: Vec<_> = attrs
        .iter()
        .map(|a| parse_attribute(a).expect("attribute"))
        .collect();
    Data {
        source: MemorySource::from_data(tuples, attributes),
        ctx: Context {
            tuples: ctx.iter().map(|t| parse_tuple(t).expect("tuple")).collect(),
            ..Context::default()
        },
        opts: CheckOptions::with_max_depth(depth),
    }
}

/// Every relation and permission of every entity type.
fn names(schema: &Schema) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in &schema.entities {
        for r in &e.relations {
            out.push((e.name.clone(), r.name.clone()));
        }
        for p in &e.permissions {
            out.push((e.name.clone(), p.name.clone()));
        }
    }
    out
}

fn objects(ty: &str) -> Vec<ObjectRef> {
    id_pool(ty)
        .into_iter()
        .map(|id| ObjectRef {
            ty: ty.to_string(),
            id,
        })
        .collect()
}

fn only_depth_errors(results: &[Result<bool>]) -> std::result::Result<(), TestCaseError> {
    for r in results {
        if let Err(e) = r {
            prop_assert!(
                matches!(e.kind, ErrorKind::DepthExceeded | ErrorKind::Undetermined),
                "{}",
                e
            );
        }
    }
    Ok(())
}

fn run_case(
    u: &Universe,
    stored: &[String],
    attrs: &[String],
    ctx: &[String],
    depth: u32,
) -> std::result::Result<(), TestCaseError> {
    let Data {
        mut source,
        ctx,
        opts,
    } = data(stored, attrs, ctx, depth);
    let names = names(&u.schema);
    let subjects: Vec<SubjectRef> = u
        .subjects
        .iter()
        .map(|s| parse_subject(s).expect("subject"))
        .collect();
    for subject in &subjects {
        // One checker for every name: its memo is shared across names too.
        let mut shared = Checker::new(&u.schema, &mut source, &ctx, opts);
        let mut shared_results = Vec::new();
        for (ty, name) in &names {
            shared_results.push(shared.check_many_objects(&objects(ty), name, subject));
        }
        drop(shared);
        for ((ty, name), shared) in names.iter().zip(shared_results) {
            let objects = objects(ty);
            let mut expected = Vec::new();
            for object in &objects {
                let mut reference =
                    Reference::new(&u.schema, &mut source, &ctx, subject, opts.max_depth);
                expected.push(reference.answer(ty, &object.id, name));
            }
            let single: Vec<Result<bool>> = objects
                .iter()
                .map(|o| engine::check(&u.schema, &mut source, o, name, subject, &ctx, opts))
                .collect();
            only_depth_errors(&single)?;
            let single: Vec<V> = single.iter().map(answer).collect();
            prop_assert_eq!(
                &single,
                &expected,
                "single checks of {}#{}@{}",
                ty,
                name,
                subject
            );

            let batch = Checker::new(&u.schema, &mut source, &ctx, opts)
                .check_many_objects(&objects, name, subject);
            only_depth_errors(&batch)?;
            let batch: Vec<V> = batch.iter().map(answer).collect();
            prop_assert_eq!(
                &batch,
                &expected,
                "check_many_objects {}#{}@{}",
                ty,
                name,
                subject
            );

            let reversed: Vec<ObjectRef> = objects.iter().rev().cloned().collect();
            let mut batch: Vec<V> = Checker::new(&u.schema, &mut source, &ctx, opts)
                .check_many_objects(&reversed, name, subject)
                .iter()
                .map(answer)
                .collect();
            batch.reverse();
            prop_assert_eq!(
                &batch,
                &expected,
                "reversed check_many_objects {}#{}@{}",
                ty,
                name,
                subject
            );

            let shared: Vec<V> = shared.iter().map(answer).collect();
            prop_assert_eq!(
                &shared,
                &expected,
                "shared checker {}#{}@{}",
                ty,
                name,
                subject
            );
        }
    }
    // Many subjects against one entity.
    for (ty, name) in &names {
        for object in objects(ty) {
            let batch = Checker::new(&u.schema, &mut source, &ctx, opts)
                .check_many_subjects(&object, name, &subjects);
            only_depth_errors(&batch)?;
            for (subject, got) in subjects.iter().zip(&batch) {
                let mut reference =
                    Reference::new(&u.schema, &mut source, &ctx, subject, opts.max_depth);
                let expected = reference.answer(ty, &object.id, name);
                prop_assert_eq!(
                    answer(got),
                    expected,
                    "check_many_subjects {}#{}@{}",
                    object,
                    name,
                    subject
                );
            }
        }
    }
    Ok(())
}

fn case_strategy(
    u: &Universe,
) -> impl Strategy<Value = (Vec<String>, Vec<String>, Vec<String>, u32)> {
    (
        proptest::sample::subsequence(u.tuples.clone(), 0..=14.min(u.tuples.len())),
        proptest::sample::subsequence(u.attributes.clone(), 0..=2.min(u.attributes.len())),
        proptest::sample::subsequence(u.contextual.clone(), 0..=3.min(u.contextual.len())),
        // Small limits make depth errors common; 100 is the default.
        prop_oneof![1..=7u32, Just(100u32)],
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn batches_equal_plain_evaluation_negated_chain(case in case_strategy(&universes()[0])) {
        run_case(&universes()[0], &case.0, &case.1, &case.2, case.3)?;
    }

    #[test]
    fn batches_equal_plain_evaluation_recursive(case in case_strategy(&universes()[1])) {
        run_case(&universes()[1], &case.0, &case.1, &case.2, case.3)?;
    }

    #[test]
    fn batches_equal_plain_evaluation_folders(case in case_strategy(&universes()[2])) {
        run_case(&universes()[2], &case.0, &case.1, &case.2, case.3)?;
    }

    #[test]
    fn batches_equal_plain_evaluation_mixed(case in case_strategy(&universes()[3])) {
        run_case(&universes()[3], &case.0, &case.1, &case.2, case.3)?;
    }

    #[test]
    fn batches_equal_plain_evaluation_subsumed(case in case_strategy(&universes()[4])) {
        run_case(&universes()[4], &case.0, &case.1, &case.2, case.3)?;
    }
}

/// `x(n1)` excludes `y(n1)`, which walks to `x(n3)`, which excludes
/// `y(n3)`, which walks back to `x(n1)`: each `x` is true exactly when the
/// other is false. Neither value is well-founded, so both checks fail —
/// the same way alone and in a batch, in either order. (The depth-first
/// evaluation used to answer false for both alone, a value that depended on
/// which node the search started from.)
#[test]
fn check_many_objects_on_an_unstratified_schema() {
    let mut w = world(
        NEGATED_CHAIN,
        &[
            "node:n1#next@node:n3",
            "node:n3#next@node:n1",
            "node:n1#a_rel@user:u",
            "node:n3#a_rel@user:u",
        ],
        &[],
    );
    let subject = parse_subject("user:u").unwrap();
    let objects: Vec<ObjectRef> = ["node:n1", "node:n3"]
        .iter()
        .map(|o| notion_rbac_core::tuple::parse_object(o).unwrap())
        .collect();
    let kinds = |r: Vec<Result<bool>>| -> Vec<std::result::Result<bool, ErrorKind>> {
        r.into_iter().map(|r| r.map_err(|e| e.kind)).collect()
    };
    let single = kinds(
        objects
            .iter()
            .map(|o| w.check(&o.to_string(), "x", "user:u"))
            .collect(),
    );
    assert_eq!(single, [Err(ErrorKind::Undetermined), Err(ErrorKind::Undetermined)]);
    let ctx = Context::default();
    let batch = kinds(w.checker(&ctx).check_many_objects(&objects, "x", &subject));
    assert_eq!(batch, single);
    // Breaking the cycle settles it: n3 no longer walks back.
    let mut w = world(
        NEGATED_CHAIN,
        &["node:n1#next@node:n3", "node:n1#a_rel@user:u", "node:n3#a_rel@user:u"],
        &[],
    );
    w.expect("node:n3", "x", "user:u", true);
    w.expect("node:n1", "y", "user:u", true);
    w.expect("node:n1", "x", "user:u", false);
}

/// Undetermined nodes stay inside what depends on them: `y(n1)` walks to
/// the undetermined pair `x(n2)`/`x(n3)` and fails; a relation that grants
/// `y` directly decides it whatever the cycle says.
#[test]
fn an_unstratified_cycle_decides_nothing_it_is_not_needed_for() {
    let mut w = world(
        NEGATED_CHAIN,
        &[
            "node:n1#next@node:n2",
            "node:n1#next@node:n3",
            "node:n2#next@node:n3",
            "node:n3#next@node:n2",
            "node:n2#a_rel@user:u",
            "node:n3#a_rel@user:u",
            "node:n4#next@node:n2",
            "node:n4#b_rel@user:u",
        ],
        &[],
    );
    for node in ["node:n1", "node:n2", "node:n3"] {
        let e = w.check(node, if node == "node:n1" { "y" } else { "x" }, "user:u").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Undetermined, "{node}: {e}");
        assert_eq!(e.kind.sqlstate(), "22000");
    }
    w.expect("node:n4", "y", "user:u", true);
    w.expect("node:n4", "x", "user:u", false);
    // Another subject has no a_rel anywhere: nothing is undetermined.
    w.expect("node:n1", "y", "user:v", false);
}

/// Contextual tuples are not validated: here one puts `folder#view` into
/// `group#member`, which closes a cycle through `not blocked`. The memo's
/// analysis of the schema must see the edges the context adds.
#[test]
fn contextual_tuples_can_unstratify_a_schema() {
    let u = &universes()[2];
    for depth in [100, 3, 4, 5] {
        run_case(
            u,
            &["folder:f2#viewer@user:u2".to_string()],
            &[],
            &[
                "group:g1#member@folder:f2#view".to_string(),
                "folder:f2#banned@group:g1#member".to_string(),
            ],
            depth,
        )
        .unwrap();
    }
}

// ---- Depth: a memo entry must not hide the error a single check reports.

const FOLDER_CHAIN: &str = r#"
entity user {}
entity folder {
    relation parent @folder
    relation viewer @user
    permission view = viewer or parent.view
}
"#;

/// `folder:f0` is 11 levels above the viewer of `folder:f10`: with a limit
/// of 10 its check for the viewer fails, whether or not `folder:f5` (decided 6 levels
/// above the viewer) was checked first and memoised.
#[test]
fn a_warm_memo_does_not_hide_a_depth_error() {
    let mut tuples: Vec<String> = (0..10)
        .map(|i| format!("folder:f{i}#parent@folder:f{}", i + 1))
        .collect();
    tuples.push("folder:f10#viewer@user:v".to_string());
    let refs: Vec<&str> = tuples.iter().map(String::as_str).collect();
    let mut w = world(FOLDER_CHAIN, &refs, &[]);
    let objects: Vec<ObjectRef> = ["folder:f5", "folder:f0"]
        .iter()
        .map(|o| notion_rbac_core::tuple::parse_object(o).unwrap())
        .collect();
    for (limit, subject) in [
        (10, "user:v"),
        (10, "user:nobody"),
        (11, "user:v"),
        (11, "user:nobody"),
    ] {
        w.opts = CheckOptions::with_max_depth(limit);
        let single: Vec<std::result::Result<bool, ErrorKind>> = objects
            .iter()
            .map(|o| w.check(&o.to_string(), "view", subject).map_err(|e| e.kind))
            .collect();
        // 11 levels below f0: the limit 11 fits them, 10 does not. A
        // refusal has no proof to be too tall: false at any limit.
        let fits = limit == 11;
        let expected_f0 = if fits || subject == "user:nobody" {
            Ok(subject == "user:v")
        } else {
            Err(ErrorKind::DepthExceeded)
        };
        assert_eq!(
            single,
            [Ok(subject == "user:v"), expected_f0],
            "{subject} at {limit}"
        );
        let ctx = Context::default();
        let s = parse_subject(subject).unwrap();
        let batch: Vec<std::result::Result<bool, ErrorKind>> = w
            .checker(&ctx)
            .check_many_objects(&objects, "view", &s)
            .into_iter()
            .map(|r| r.map_err(|e| e.kind))
            .collect();
        assert_eq!(batch, single, "{subject} at {limit}");
    }
}
