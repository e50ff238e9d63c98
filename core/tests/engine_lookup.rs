//! Lookups: fixed examples, and a property test comparing both lookups with
//! brute force ("check every known id") on random data over a fixed set of
//! schemas (cyclic data, exclusion, intersection, subject sets, attributes,
//! rules, contextual tuples).

mod engine_util;

use std::collections::BTreeSet;

use engine_util::{context, every_attribute, every_tuple, ids, world};
use notion_rbac_core::ErrorKind;
use notion_rbac_core::engine::{self, CheckOptions, Context, MemorySource, lookup};
use notion_rbac_core::lang;
use notion_rbac_core::model::Schema;
use notion_rbac_core::tuple::{
    Attribute, ObjectRef, SubjectRef, Tuple, parse_attribute, parse_object, parse_subject,
    parse_tuple,
};
use proptest::prelude::*;
use serde_json::json;

const GROUPS: &str = r#"
entity user {}
entity group {
    relation member @user @group#member
    relation owner @user
    permission manage = owner or member
}
entity folder {
    relation parent @folder
    relation viewer @user @group#member
    relation banned @user
    permission view = (viewer or parent.view) not banned
    permission strict = viewer and parent.view
}
entity doc {
    relation folder @folder
    relation editor @user @group#member
    relation owner @user
    permission edit = owner or editor
    permission view = edit or folder.view
    permission both = owner and folder.view
    permission edit_not_view = edit not folder.view
}
"#;

const RULES: &str = r#"
entity user {}
entity org {
    relation member @user
    relation admin @user
    attribute credit integer
    attribute tags string[]
    permission rich = high_credit(credit) and member
    permission tagged = has_tag(tags) or admin
}
entity repo {
    relation org @org
    relation owner @user @org#admin
    attribute public boolean
    permission view = public or owner or org.rich
    permission push = owner and org.tagged
    permission open = public not owner
}
rule high_credit(credit integer) {
    credit > context.data.min
}
rule has_tag(tags string[]) {
    context.data.tag in tags
}
"#;

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
}
"#;

/// Only unions: walks over a polymorphic `parent` (a page or a
/// workspace), nested groups, workspace members as subject sets. Random
/// data adds parent cycles and group cycles.
const MONOTONE: &str = r#"
entity user {}
entity group {
    relation member @user @group#member
}
entity workspace {
    relation admin @user
    relation member @user @group#member
    permission manage = admin
    permission write = manage
    permission read = manage or member
}
entity page {
    relation workspace @workspace
    relation parent @page @workspace
    relation reader @user @group#member @workspace#member
    relation editor @user @group#member
    permission write = editor or parent.write or workspace.manage
    permission read = reader or write or parent.read
}
"#;

/// Unions under intersections and exclusions whose other operands are
/// acyclic (`banned`, `space.lock`, `approver`, `space.owner`), and two
/// whose other operand is recursive (`closed`, `unbanned`).
const MIXED: &str = r#"
entity user {}
entity team {
    relation member @user @team#member
}
entity space {
    relation owner @user
    relation member @user @team#member
    relation locked @user
    permission lock = locked
}
entity page {
    relation space @space
    relation parent @page
    relation reader @user @team#member
    relation banned @user
    relation approver @user
    permission read = (reader or parent.read or space.member) not banned not space.lock
    permission review = (read and approver) or reader
    permission gated = (parent.gated or approver) and space.owner
    permission plain = reader or parent.plain
    permission closed = approver and parent.read
    permission unbanned = read not parent.read
}
"#;

#[test]
fn resources_through_walks_usersets_and_exclusion() {
    let mut w = world(
        GROUPS,
        &[
            "folder:root#viewer@group:eng#member",
            "group:eng#member@user:a",
            "folder:sub#parent@folder:root",
            "folder:banned#parent@folder:root",
            "folder:banned#banned@user:a",
            "doc:1#folder@folder:sub",
            "doc:2#folder@folder:banned",
            "doc:3#owner@user:a",
            "doc:4#owner@user:b",
        ],
        &[],
    );
    assert_eq!(
        w.resources("user:a", "view", "doc").unwrap(),
        ids(&["1", "3"])
    );
    assert_eq!(
        w.resources("user:a", "view", "folder").unwrap(),
        ids(&["root", "sub"])
    );
    assert_eq!(
        w.resources("group:eng#member", "view", "doc").unwrap(),
        ids(&["1", "2"])
    );
    assert_eq!(w.resources("user:b", "view", "doc").unwrap(), ids(&["4"]));
    assert_eq!(
        w.resources("user:nobody", "view", "doc").unwrap(),
        Vec::<String>::new()
    );
    // Relations can be looked up too.
    assert_eq!(
        w.resources("user:a", "member", "group").unwrap(),
        ids(&["eng"])
    );
}

#[test]
fn subjects_through_walks_usersets_and_exclusion() {
    let mut w = world(
        GROUPS,
        &[
            "folder:root#viewer@group:eng#member",
            "group:eng#member@user:a",
            "group:eng#member@user:c",
            "group:eng#member@group:ops#member",
            "group:ops#member@user:d",
            "folder:sub#parent@folder:root",
            "folder:sub#banned@user:c",
            "doc:1#folder@folder:sub",
            "doc:1#owner@user:b",
        ],
        &[],
    );
    assert_eq!(
        w.subjects("doc:1", "view", "user").unwrap(),
        ids(&["a", "b", "d"])
    );
    assert_eq!(
        w.subjects("folder:root", "view", "user").unwrap(),
        ids(&["a", "c", "d"])
    );
    // Subject sets, including the self shortcut.
    assert_eq!(
        w.subjects("doc:1", "view", "group#member").unwrap(),
        ids(&["eng", "ops"])
    );
    assert_eq!(
        w.subjects("group:eng", "member", "group#member").unwrap(),
        ids(&["eng", "ops"])
    );
    // folder:sub's view holds through `parent.view` for folder:root#view
    // (self shortcut one level up).
    assert_eq!(
        w.subjects("doc:1", "view", "folder#view").unwrap(),
        ids(&["root", "sub"])
    );
}

#[test]
fn lookups_with_contextual_tuples() {
    let mut w = world(GROUPS, &["doc:1#owner@user:a"], &[]);
    let ctx = context(
        &[
            "doc:2#owner@user:a",
            "doc:2#editor@user:b",
            "doc:2#editor@user:b",
        ],
        &[],
        json!({}),
    );
    assert_eq!(
        w.resources_in("user:a", "edit", "doc", &ctx).unwrap(),
        ids(&["1", "2"])
    );
    assert_eq!(
        w.subjects_in("doc:2", "edit", "user", &ctx).unwrap(),
        ids(&["a", "b"])
    );
    // Contextual tuples outside the declared types still count.
    let odd = context(
        &["doc:3#editor@folder:f#viewer", "folder:f#viewer@user:z"],
        &[],
        json!({}),
    );
    assert_eq!(
        w.resources_in("user:z", "edit", "doc", &odd).unwrap(),
        ids(&["3"])
    );
    assert_eq!(
        w.subjects_in("doc:3", "edit", "user", &odd).unwrap(),
        ids(&["z"])
    );
}

#[test]
fn lookups_with_attributes_and_rules() {
    let mut w = world(
        RULES,
        &[
            "repo:1#owner@user:a",
            "repo:2#org@org:o",
            "org:o#member@user:b",
            "org:o#member@user:c",
            "repo:3#owner@user:d",
        ],
        &[
            "repo:4$public|boolean:true",
            "org:o$credit|integer:500",
            "repo:3$public|boolean:false",
        ],
    );
    let data = context(&[], &[], json!({ "min": 100, "tag": "gold" }));
    assert_eq!(
        w.resources_in("user:b", "view", "repo", &data).unwrap(),
        ids(&["2", "4"])
    );
    assert_eq!(
        w.resources_in("user:a", "view", "repo", &data).unwrap(),
        ids(&["1", "4"])
    );
    // Everyone = every user appearing as a subject in stored tuples.
    assert_eq!(
        w.subjects_in("repo:4", "view", "user", &data).unwrap(),
        ids(&["a", "b", "c", "d"])
    );
    assert_eq!(
        w.subjects_in("repo:2", "view", "user", &data).unwrap(),
        ids(&["b", "c"])
    );
    assert_eq!(
        w.subjects_in("repo:4", "open", "user", &data).unwrap(),
        ids(&["a", "b", "c", "d"])
    );
    assert_eq!(
        w.subjects_in("repo:3", "open", "user", &data).unwrap(),
        Vec::<String>::new()
    );
    // A contextual attribute makes an entity a candidate.
    let public5 = context(
        &[],
        &["repo:5$public|boolean:true"],
        json!({ "min": 100, "tag": "gold" }),
    );
    assert_eq!(
        w.resources_in("user:z", "view", "repo", &public5).unwrap(),
        ids(&["4", "5"])
    );
    // The self shortcut applies to attribute nodes too.
    assert_eq!(
        w.resources("repo:9#public", "view", "repo").unwrap(),
        ids(&["4", "9"])
    );
    assert_eq!(
        w.subjects("repo:9", "view", "repo#public").unwrap(),
        ids(&["9"])
    );
    // Attributes can be looked up by name, like relations.
    assert_eq!(
        w.resources("user:z", "public", "repo").unwrap(),
        ids(&["4"])
    );
    assert_eq!(
        w.subjects("repo:4", "public", "user").unwrap(),
        ids(&["a", "b", "c", "d"])
    );
    assert_eq!(
        w.subjects("repo:3", "public", "user").unwrap(),
        Vec::<String>::new()
    );
    // A rule error on a candidate fails the lookup.
    let e = w.resources("user:b", "view", "repo").unwrap_err();
    assert_eq!(e.kind, ErrorKind::RuleEvaluation);
}

#[test]
fn lookups_on_cycles_return_the_least_fixpoint() {
    let mut w = world(
        RECURSIVE,
        &[
            "node:1#next@node:2",
            "node:2#next@node:1",
            "node:2#b_rel@user:u",
            "node:3#next@node:3",
            "node:3#a_rel@user:v",
        ],
        &[],
    );
    assert_eq!(w.resources("user:u", "a", "node").unwrap(), ids(&["1"]));
    assert_eq!(w.resources("user:u", "b", "node").unwrap(), ids(&["2"]));
    assert_eq!(w.resources("user:v", "c", "node").unwrap(), ids(&["3"]));
    assert_eq!(
        w.resources("user:v", "d", "node").unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(w.subjects("node:1", "a", "user").unwrap(), ids(&["u"]));
    assert_eq!(w.subjects("node:3", "c", "user").unwrap(), ids(&["v"]));
}

#[test]
fn lookup_errors() {
    let mut w = world(GROUPS, &[], &[]);
    assert_eq!(
        w.resources("user:a", "view", "nope").unwrap_err().kind,
        ErrorKind::UndefinedName
    );
    assert_eq!(
        w.resources("user:a", "nope", "doc").unwrap_err().kind,
        ErrorKind::UndefinedName
    );
    assert_eq!(
        w.subjects("doc:1", "nope", "user").unwrap_err().kind,
        ErrorKind::UndefinedName
    );
    assert_eq!(
        w.subjects("nope:1", "view", "user").unwrap_err().kind,
        ErrorKind::UndefinedName
    );
    assert_eq!(
        w.subjects("doc:1", "view", "alien").unwrap_err().kind,
        ErrorKind::UndefinedName
    );
    assert_eq!(
        w.subjects("doc:1", "view", "group#nope").unwrap_err().kind,
        ErrorKind::UndefinedName
    );
    assert_eq!(
        w.subjects("doc:1", "view", "group#").unwrap_err().kind,
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        w.subjects("doc:1", "view", "user#...").unwrap(),
        Vec::<String>::new()
    );
}

const CHAIN: &str = r#"
entity user {}
entity group {
    relation member @user @group#member
}
entity page {
    relation parent @page
    relation reader @user @group#member
    relation banned @user
    relation approver @user
    permission read = reader or parent.read
    permission safe = (reader or parent.safe) not banned
    permission strict = approver and parent.read
}
"#;

#[test]
fn unions_are_proved_without_checks() {
    let mut w = world(
        CHAIN,
        &[
            "page:a#reader@group:eng#member",
            "group:eng#member@group:core#member",
            "group:core#member@group:eng#member",
            "group:core#member@user:u",
            "page:b#parent@page:a",
            "page:c#parent@page:b",
            "page:a#parent@page:c",
            "page:x#reader@user:v",
        ],
        &[],
    );
    let u = parse_subject("user:u").unwrap();
    let ctx = Context::default();
    let (found, stats) = lookup::lookup_resources_with_stats(
        &w.schema,
        &mut w.source,
        &u,
        "read",
        "page",
        &ctx,
        w.opts,
    )
    .unwrap();
    assert_eq!(found, ids(&["a", "b", "c"]));
    assert_eq!((stats.proven, stats.checked), (3, 0));
    // The self shortcut seeds the expansion: group:core#member is a member
    // of eng, which reads a.
    assert_eq!(
        w.resources("group:core#member", "read", "page").unwrap(),
        ids(&["a", "b", "c"])
    );
    assert_eq!(
        w.resources("page:b#read", "read", "page").unwrap(),
        ids(&["a", "b", "c"])
    );
    let p = parse_object("page:c").unwrap();
    let (found, stats) = lookup::lookup_subjects_with_stats(
        &w.schema,
        &mut w.source,
        &p,
        "read",
        "user",
        &ctx,
        w.opts,
    )
    .unwrap();
    assert_eq!(found, ids(&["u"]));
    assert_eq!((stats.proven, stats.checked), (1, 0));
}

#[test]
fn exclusions_with_acyclic_operands_are_proved_by_their_gate() {
    let mut w = world(
        CHAIN,
        &[
            "page:a#reader@user:u",
            "page:b#parent@page:a",
            "page:c#parent@page:b",
            "page:d#parent@page:c",
            "page:c#banned@user:u",
            "page:b#approver@user:u",
            "page:d#approver@user:u",
        ],
        &[],
    );
    let u = parse_subject("user:u").unwrap();
    let ctx = Context::default();
    let (found, stats) = lookup::lookup_resources_with_stats(
        &w.schema,
        &mut w.source,
        &u,
        "safe",
        "page",
        &ctx,
        w.opts,
    )
    .unwrap();
    assert_eq!(found, ids(&["a", "b"]));
    assert_eq!(stats.checked, 0, "{stats:?}");
    assert!(stats.gates >= 3, "{stats:?}");
    // `approver and parent.read`: the other operand is recursive, so the
    // pages approver reaches are candidates, decided by checks.
    let (found, stats) = lookup::lookup_resources_with_stats(
        &w.schema,
        &mut w.source,
        &u,
        "strict",
        "page",
        &ctx,
        w.opts,
    )
    .unwrap();
    assert_eq!(found, ids(&["b", "d"]));
    assert_eq!((stats.proven, stats.checked), (0, 2));
}

/// Lookups agree with single checks on both sides of the depth limit: a
/// proof taller than the limit is checked, and the check's error fails the
/// lookup.
#[test]
fn lookups_follow_the_depth_limit_exactly() {
    let mut tuples = vec!["page:p0#reader@user:u".to_string()];
    for i in 1..=10 {
        tuples.push(format!("page:p{i}#parent@page:p{}", i - 1));
    }
    let refs: Vec<&str> = tuples.iter().map(String::as_str).collect();
    let mut w = world(CHAIN, &refs, &[]);
    let ctx = Context::default();
    for (subject, permission) in [
        ("user:u", "read"),
        ("user:u", "safe"),
        ("page:p0#read", "read"),
        ("page:p1#safe", "safe"),
    ] {
        let subject = parse_subject(subject).unwrap();
        let (mut passes, mut fails) = (0, 0);
        for depth in 6..=13 {
            let opts = CheckOptions::with_max_depth(depth);
            let mut expected: Result<Vec<String>, ErrorKind> = Ok(Vec::new());
            for i in 0..=10 {
                let page = ObjectRef {
                    ty: "page".into(),
                    id: format!("p{i}"),
                };
                match engine::check(
                    &w.schema,
                    &mut w.source,
                    &page,
                    permission,
                    &subject,
                    &ctx,
                    opts,
                ) {
                    Ok(true) => {
                        if let Ok(allowed) = &mut expected {
                            allowed.push(page.id);
                        }
                    }
                    Ok(false) => {}
                    Err(e) => expected = Err(e.kind),
                }
            }
            if let Ok(allowed) = &mut expected {
                allowed.sort();
            }
            let got = engine::lookup_resources(
                &w.schema,
                &mut w.source,
                &subject,
                permission,
                "page",
                &ctx,
                opts,
            )
            .map_err(|e| e.kind);
            assert_eq!(got, expected, "{subject} {permission} at depth {depth}");
            match got {
                Ok(_) => passes += 1,
                Err(_) => fails += 1,
            }

            // Subjects, from the deepest page.
            let page = parse_object("page:p10").unwrap();
            let expected = engine::check(
                &w.schema,
                &mut w.source,
                &page,
                permission,
                &parse_subject("user:u").unwrap(),
                &ctx,
                opts,
            )
            .map(|allowed| if allowed { ids(&["u"]) } else { Vec::new() })
            .map_err(|e| e.kind);
            let got = engine::lookup_subjects(
                &w.schema,
                &mut w.source,
                &page,
                permission,
                "user",
                &ctx,
                opts,
            )
            .map_err(|e| e.kind);
            assert_eq!(
                got, expected,
                "subjects of page:p10 {permission} at depth {depth}"
            );
        }
        // Both sides of the limit were seen.
        assert!(
            passes > 0 && fails > 0,
            "{subject} {permission}: {passes} / {fails}"
        );
    }
}

/// `x`'s subtracted side depends on `x`: the check's answer for a node
/// depends on what it assumed on the way, so candidates are checked each on
/// its own (a memo shared across candidates answered `y` wrongly here).
#[test]
fn unstratified_schemas_agree_with_single_checks() {
    let mut w = world(
        RECURSIVE,
        &["node:n1#next@node:n1", "node:n3#next@node:n1"],
        &[],
    );
    // x(n1) = a_rel(n1) not x(n1): a node that excludes itself has no
    // value; y(n1) and y(n3) walk to it. Checks and the lookup fail alike.
    for node in ["node:n1", "node:n3"] {
        let e = w.check(node, "y", "node:n1#a_rel").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Undetermined, "{e}");
    }
    let e = w.resources("node:n1#a_rel", "y", "node").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Undetermined, "{e}");
    // Without the self-loop everything is decided, and agrees.
    let mut w = world(RECURSIVE, &["node:n3#next@node:n1"], &[]);
    w.expect("node:n1", "x", "node:n1#a_rel", true);
    w.expect("node:n3", "y", "node:n1#a_rel", true);
    w.expect("node:n1", "y", "node:n1#a_rel", false);
    assert_eq!(w.resources("node:n1#a_rel", "y", "node").unwrap(), ids(&["n3"]));
}

// ---- Property test: lookups equal brute force.

/// A schema with everything random data can be drawn from.
struct Universe {
    schema: Schema,
    /// Every schema-valid tuple over small id pools.
    tuples: Vec<String>,
    attributes: Vec<String>,
    /// Subjects to look resources up for.
    subjects: Vec<String>,
    /// Subject references to look subjects up for.
    references: Vec<&'static str>,
    data: serde_json::Value,
    /// `(entity type, name)` pairs whose resource lookups the expansion
    /// must answer alone (no full check): every answer proved.
    fast_resources: fn(&str, &str) -> bool,
    /// The same for subject lookups.
    fast_subjects: fn(&str, &str) -> bool,
    /// At most this many stored tuples per case.
    max_tuples: usize,
}

fn never(_: &str, _: &str) -> bool {
    false
}

fn always(_: &str, _: &str) -> bool {
    true
}

fn universe(
    text: &str,
    subjects: &[&str],
    references: &[&'static str],
    data: serde_json::Value,
    fast_resources: fn(&str, &str) -> bool,
    fast_subjects: fn(&str, &str) -> bool,
) -> Universe {
    let schema = lang::compile(text).expect("schema compiles");
    let tuples: Vec<String> = every_tuple(&schema)
        .into_iter()
        .filter(|text| schema.validate_tuple(&parse_tuple(text).expect("tuple")).is_ok())
        .collect();
    let attributes = every_attribute(&schema, |ty| match ty {
        "boolean" => vec!["boolean:true", "boolean:false"],
        "integer" => vec!["integer:50", "integer:150"],
        "string[]" => vec!["string[]:gold", "string[]:silver"],
        other => panic!("no sample values for {other}"),
    });
    Universe {
        schema,
        tuples,
        attributes,
        subjects: subjects.iter().map(|s| s.to_string()).collect(),
        references: references.to_vec(),
        data,
        fast_resources,
        fast_subjects,
        max_tuples: 14,
    }
}

fn universes() -> Vec<Universe> {
    vec![
        universe(
            GROUPS,
            &[
                "user:u1",
                "user:u2",
                "group:g1#member",
                "folder:f1#viewer",
                "folder:f2#view",
            ],
            &[
                "user",
                "group#member",
                "folder#viewer",
                "folder#view",
                "doc#owner",
            ],
            json!({}),
            // `not banned` is an acyclic gate; `strict`, `both` and
            // `edit_not_view` gate on the recursive `folder.view`.
            |ty, name| {
                !matches!(
                    (ty, name),
                    ("folder", "strict") | ("doc", "both" | "edit_not_view")
                )
            },
            // Only union paths are sure forwards.
            |ty, name| {
                !matches!(
                    (ty, name),
                    ("folder", "view" | "strict") | ("doc", "view" | "both" | "edit_not_view")
                )
            },
        ),
        universe(
            RULES,
            &["user:u1", "user:u2", "org:o1#admin"],
            &["user"],
            json!({ "min": 100, "tag": "gold" }),
            // Attribute and rule nodes are decided on the spot, and every
            // gate here (a rule call, `owner`, `org.tagged`) is acyclic.
            always,
            never,
        ),
        universe(
            RECURSIVE,
            &[
                "user:u1",
                "user:u2",
                "node:n1#a_rel",
                "node:n2#a",
                "node:n3#b",
            ],
            &["user", "node#a_rel", "node#a", "node#b"],
            json!({}),
            // `c` and `d` gate on the recursive `b`; `x` is not even
            // stratified (its subtracted side `y` depends on `x`), and `y`
            // walks to `x`.
            |_, name| !matches!(name, "c" | "d" | "x" | "y"),
            |_, name| !matches!(name, "c" | "d" | "x" | "y"),
        ),
        Universe {
            max_tuples: 20,
            ..universe(
                MONOTONE,
                &[
                    "user:u1",
                    "user:u2",
                    "group:g1#member",
                    "workspace:w1#member",
                    "workspace:w2#manage",
                    "page:p1#read",
                    "page:p2#write",
                ],
                &[
                    "user",
                    "group#member",
                    "workspace#member",
                    "workspace#manage",
                    "page#read",
                ],
                json!({}),
                always,
                always,
            )
        },
        Universe {
            max_tuples: 20,
            ..universe(
                MIXED,
                &[
                    "user:u1",
                    "user:u2",
                    "team:t1#member",
                    "space:s1#member",
                    "page:p1#read",
                    "page:p2#plain",
                ],
                &["user", "team#member", "page#read", "space#member"],
                json!({}),
                |ty, name| !matches!((ty, name), ("page", "closed" | "unbanned")),
                |ty, name| {
                    ty != "page"
                        || !matches!(name, "read" | "review" | "gated" | "closed" | "unbanned")
                },
            )
        },
    ]
}

/// Every id of `ty` that the data mentions anywhere.
fn known_ids(ty: &str, tuples: &[Tuple], attributes: &[Attribute]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for t in tuples {
        if t.entity.ty == ty {
            out.insert(t.entity.id.clone());
        }
        if t.subject.ty == ty {
            out.insert(t.subject.id.clone());
        }
    }
    for a in attributes {
        if a.entity.ty == ty {
            out.insert(a.entity.id.clone());
        }
    }
    out
}

fn run_case(
    u: &Universe,
    stored: &[String],
    attrs: &[String],
    ctx_tuples: &[String],
) -> Result<(), TestCaseError> {
    let tuples: Vec<Tuple> = stored
        .iter()
        .map(|t| parse_tuple(t).expect("tuple"))
        .collect();
    let attributes: Vec<Attribute> = attrs
        .iter()
        .map(|a| parse_attribute(a).expect("attribute"))
        .collect();
    let ctx = Context {
        tuples: ctx_tuples
            .iter()
            .map(|t| parse_tuple(t).expect("tuple"))
            .collect(),
        attributes: Vec::new(),
        data: u.data.as_object().cloned().unwrap_or_default(),
    };
    let all_tuples: Vec<Tuple> = tuples.iter().chain(ctx.tuples.iter()).cloned().collect();
    let mut source = MemorySource::from_data(tuples, attributes.clone());
    let opts = CheckOptions::default();
    let single =
        |source: &mut MemorySource, entity: &ObjectRef, name: &str, subject: &SubjectRef| {
            engine::check(&u.schema, source, entity, name, subject, &ctx, opts)
        };

    for entity in &u.schema.entities {
        let names = entity
            .relations
            .iter()
            .map(|r| &r.name)
            .chain(entity.permissions.iter().map(|p| &p.name));
        for name in names {
            let candidates = known_ids(&entity.name, &all_tuples, &attributes);
            // lookup_resources vs brute force.
            for subject_text in &u.subjects {
                let subject =
                    notion_rbac_core::tuple::parse_subject(subject_text).expect("subject");
                let mut expected = Vec::new();
                let mut undetermined = false;
                // The self shortcut needs no data: the subject's own id counts.
                let mut candidates = candidates.clone();
                if subject.ty == entity.name {
                    candidates.insert(subject.id.clone());
                }
                for id in &candidates {
                    let object = ObjectRef {
                        ty: entity.name.clone(),
                        id: id.clone(),
                    };
                    match single(&mut source, &object, name, &subject) {
                        Ok(true) => expected.push(id.clone()),
                        Ok(false) => {}
                        Err(e) => {
                            prop_assert_eq!(e.kind, ErrorKind::Undetermined, "{}", e);
                            undetermined = true;
                        }
                    }
                }
                let found = lookup::lookup_resources_with_stats(
                    &u.schema,
                    &mut source,
                    &subject,
                    name,
                    &entity.name,
                    &ctx,
                    opts,
                );
                // A node the check cannot decide fails the lookup that meets
                // it, as the check does: it is never silently left out.
                if undetermined {
                    let e = found.expect_err("lookup_resources over an undetermined node");
                    prop_assert_eq!(e.kind, ErrorKind::Undetermined, "{}", e);
                    continue;
                }
                let (got, stats) = found.expect("lookup_resources");
                prop_assert_eq!(
                    &got,
                    &expected,
                    "lookup_resources {}#{}@{}",
                    entity.name,
                    name,
                    subject_text
                );
                if (u.fast_resources)(&entity.name, name) {
                    prop_assert!(
                        stats.checked == 0 && stats.proven == got.len(),
                        "lookup_resources {}#{}@{} should need no check: {:?}",
                        entity.name,
                        name,
                        subject_text,
                        stats
                    );
                }
            }
            // lookup_subjects vs brute force, for every entity id known.
            for id in &candidates {
                let object = ObjectRef {
                    ty: entity.name.clone(),
                    id: id.clone(),
                };
                for reference in &u.references {
                    let (sty, srel) = reference.split_once('#').unwrap_or((reference, ""));
                    let mut expected = Vec::new();
                    let mut undetermined = false;
                    for sid in known_ids(sty, &all_tuples, &attributes) {
                        let subject = SubjectRef {
                            ty: sty.to_string(),
                            id: sid.clone(),
                            relation: srel.to_string(),
                        };
                        match single(&mut source, &object, name, &subject) {
                            Ok(true) => expected.push(sid),
                            Ok(false) => {}
                            Err(e) => {
                                prop_assert_eq!(e.kind, ErrorKind::Undetermined, "{}", e);
                                undetermined = true;
                            }
                        }
                    }
                    if undetermined {
                        let e = lookup::lookup_subjects(
                            &u.schema,
                            &mut source,
                            &object,
                            name,
                            reference,
                            &ctx,
                            opts,
                        )
                        .expect_err("lookup_subjects over an undetermined node");
                        prop_assert_eq!(e.kind, ErrorKind::Undetermined, "{}", e);
                        continue;
                    }
                    let (got, stats) = lookup::lookup_subjects_with_stats(
                        &u.schema,
                        &mut source,
                        &object,
                        name,
                        reference,
                        &ctx,
                        opts,
                    )
                    .expect("lookup_subjects");
                    prop_assert_eq!(
                        &got,
                        &expected,
                        "lookup_subjects {}#{}@{}",
                        object,
                        name,
                        reference
                    );
                    if (u.fast_subjects)(&entity.name, name) {
                        prop_assert!(
                            stats.checked == 0 && stats.proven == got.len(),
                            "lookup_subjects {}#{}@{} should need no check: {:?}",
                            object,
                            name,
                            reference,
                            stats
                        );
                    }
                }
            }
        }
    }
    Ok(())
}

fn case_strategy(u: &Universe) -> impl Strategy<Value = (Vec<String>, Vec<String>, Vec<String>)> {
    (
        proptest::sample::subsequence(u.tuples.clone(), 0..=u.max_tuples.min(u.tuples.len())),
        proptest::sample::subsequence(u.attributes.clone(), 0..=4.min(u.attributes.len())),
        proptest::sample::subsequence(u.tuples.clone(), 0..=3.min(u.tuples.len())),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn lookups_equal_brute_force_groups(case in case_strategy(&universes()[0])) {
        run_case(&universes()[0], &case.0, &case.1, &case.2)?;
    }

    #[test]
    fn lookups_equal_brute_force_rules(case in case_strategy(&universes()[1])) {
        run_case(&universes()[1], &case.0, &case.1, &case.2)?;
    }

    #[test]
    fn lookups_equal_brute_force_recursive(case in case_strategy(&universes()[2])) {
        run_case(&universes()[2], &case.0, &case.1, &case.2)?;
    }

    #[test]
    fn lookups_equal_brute_force_monotone(case in case_strategy(&universes()[3])) {
        run_case(&universes()[3], &case.0, &case.1, &case.2)?;
    }

    #[test]
    fn lookups_equal_brute_force_mixed(case in case_strategy(&universes()[4])) {
        run_case(&universes()[4], &case.0, &case.1, &case.2)?;
    }
}
