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

/// The plain evaluation: depth-first, the current path cut to false, no
/// memo at all. Exponential in general, fine for a handful of nodes.
struct Reference<'a> {
    schema: &'a Schema,
    source: &'a mut MemorySource,
    ctx: &'a Context,
    subject: &'a SubjectRef,
    max_depth: u32,
    path: Vec<(String, String, String)>,
}

impl Reference<'_> {
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

    fn node(&mut self, ty: &str, id: &str, name: &str, pos: u32) -> V {
        let s = self.subject;
        if s.ty == ty && s.id == id && s.relation == name {
            return V::True;
        }
        let Some(entity) = self.schema.entity(ty) else {
            return V::False;
        };
        let Some(member) = entity.member(name) else {
            return V::False;
        };
        if let Member::Attribute(_) = member {
            if pos > self.max_depth {
                return V::Error;
            }
            let object = ObjectRef {
                ty: ty.to_string(),
                id: id.to_string(),
            };
            let value = self.source.attribute(&object, name).expect("read");
            return if matches!(value, Some(notion_rbac_core::tuple::Value::Boolean(true))) {
                V::True
            } else {
                V::False
            };
        }
        let key = (ty.to_string(), id.to_string(), name.to_string());
        if self.path.contains(&key) {
            return V::False;
        }
        if pos > self.max_depth {
            return V::Error;
        }
        self.path.push(key);
        let v = match member {
            Member::Relation(_) => {
                let rows = self.rows(ty, id, name);
                if rows.iter().any(|r| r == s) {
                    V::True
                } else {
                    let mut v = V::False;
                    for r in rows.iter().filter(|r| !r.relation.is_empty()) {
                        v = v.max(self.node(&r.ty, &r.id, &r.relation, pos + 1));
                    }
                    v
                }
            }
            Member::Permission(i) => {
                let expr = entity.permissions[i].expr.clone();
                self.expr(ty, id, &expr, pos)
            }
            Member::Attribute(_) => unreachable!(),
        };
        self.path.pop();
        v
    }

    fn expr(&mut self, ty: &str, id: &str, expr: &Expr, pos: u32) -> V {
        match expr {
            Expr::Leaf(Leaf::Computed(name) | Leaf::Attribute(name)) => {
                self.node(ty, id, name, pos + 1)
            }
            Expr::Leaf(Leaf::Walk { relation, target }) => {
                let mut v = V::False;
                for r in self.rows(ty, id, relation) {
                    let known = self
                        .schema
                        .entity(&r.ty)
                        .is_some_and(|e| e.member(target).is_some());
                    if known {
                        v = v.max(self.node(&r.ty, &r.id, target, pos + 1));
                    }
                }
                v
            }
            Expr::Leaf(Leaf::Call { .. }) => panic!("no rules in these schemas"),
            Expr::Or(children) => children
                .iter()
                .map(|c| self.expr(ty, id, c, pos))
                .fold(V::False, V::max),
            Expr::And(children) => children
                .iter()
                .map(|c| self.expr(ty, id, c, pos))
                .fold(V::True, V::min),
            Expr::Not(base, subtract) => {
                let base = self.expr(ty, id, base, pos);
                let subtract = match self.expr(ty, id, subtract, pos) {
                    V::True => V::False,
                    V::Error => V::Error,
                    V::False => V::True,
                };
                base.min(subtract)
            }
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
            prop_assert_eq!(e.kind, ErrorKind::DepthExceeded, "{}", e);
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
                let mut reference = Reference {
                    schema: &u.schema,
                    source: &mut source,
                    ctx: &ctx,
                    subject,
                    max_depth: opts.max_depth,
                    path: Vec::new(),
                };
                expected.push(reference.node(ty, &object.id, name, 0));
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
                let mut reference = Reference {
                    schema: &u.schema,
                    source: &mut source,
                    ctx: &ctx,
                    subject,
                    max_depth: opts.max_depth,
                    path: Vec::new(),
                };
                let expected = reference.node(ty, &object.id, name, 0);
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
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

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
}

/// The reported case. `x(n1)` is false: its subtracted side `y(n1)` walks
/// to `x(n3)`, true there because `y(n3)` walks back to `x(n1)`, which is on
/// the path (cut). A batch memoised `x(n1) = false` and used it inside
/// `x(n3)`, where the plain evaluation cuts `x(n1)` instead: `x(n3)` came
/// out true.
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
    let single: Vec<bool> = objects
        .iter()
        .map(|o| w.check(&o.to_string(), "x", "user:u").unwrap())
        .collect();
    assert_eq!(single, [false, false]);
    let ctx = Context::default();
    let batch: Vec<bool> = w
        .checker(&ctx)
        .check_many_objects(&objects, "x", &subject)
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(batch, single);
}

/// The same within one check. `y(n1)` walks to `x(n2)` and `x(n3)`. Under
/// `x(n2)`, `x(n3)` is true (its `y(n3)` reaches `x(n2)`, on the path), so
/// `y(n2)` is true and `x(n2)` false — a final result, memoised. Under
/// `x(n3)` the roles swap: the plain evaluation finds `x(n2)` true there
/// (now `x(n3)` is on the path), and both branches make `y(n1)` false. The
/// memoised `x(n2) = false` used inside `x(n3)` made `y(n1)` true.
#[test]
fn a_single_check_does_not_reuse_a_value_inside_an_unstratified_cycle() {
    let mut w = world(
        NEGATED_CHAIN,
        &[
            "node:n1#next@node:n2",
            "node:n1#next@node:n3",
            "node:n2#next@node:n3",
            "node:n3#next@node:n2",
            "node:n2#a_rel@user:u",
            "node:n3#a_rel@user:u",
        ],
        &[],
    );
    w.expect("node:n1", "y", "user:u", false);
    w.expect("node:n2", "x", "user:u", false);
    w.expect("node:n3", "x", "user:u", false);
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
/// of 10 its check fails, whether or not `folder:f5` (decided 6 levels
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
        // 11 levels below f0: the limit 11 fits them, 10 does not.
        let fits = limit == 11;
        let expected_f0 = if fits {
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
