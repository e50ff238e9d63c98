//! Check semantics: operators, the self shortcut, subject sets, walks,
//! attributes and rules, errors, cycles (least fixpoint) and depth.

mod engine_util;

use engine_util::{context, world};
use notion_rbac_core::ErrorKind;
use notion_rbac_core::engine::{CheckOptions, Context};
use notion_rbac_core::tuple::{parse_object, parse_subject};
use serde_json::json;

const DOCS: &str = r#"
entity user {}
entity group {
    relation member @user @group#member
}
entity folder {
    relation owner @user
    relation viewer @user @group#member
    relation parent @folder
    permission view = owner or viewer or parent.view
}
entity doc {
    relation folder @folder
    relation owner @user
    relation editor @user @group#member
    relation banned @user
    permission edit = owner or editor
    permission both = owner and editor
    permission view = (edit or folder.view) not banned
    permission owner_view = owner and folder.view
}
"#;

#[test]
fn union_intersection_exclusion() {
    let mut w = world(
        DOCS,
        &[
            "doc:1#owner@user:a",
            "doc:1#editor@user:a",
            "doc:1#editor@user:b",
            "doc:1#banned@user:b",
            "doc:2#owner@user:c",
        ],
        &[],
    );
    w.expect("doc:1", "edit", "user:a", true);
    w.expect("doc:1", "edit", "user:b", true);
    w.expect("doc:1", "edit", "user:z", false);
    w.expect("doc:1", "both", "user:a", true);
    w.expect("doc:1", "both", "user:b", false);
    w.expect("doc:1", "view", "user:a", true);
    w.expect("doc:1", "view", "user:b", false); // banned
    w.expect("doc:2", "view", "user:c", true);
    w.expect("doc:2", "both", "user:c", false);
}

#[test]
fn walks_and_nested_walks() {
    let mut w = world(
        DOCS,
        &[
            "folder:root#owner@user:a",
            "folder:mid#parent@folder:root",
            "folder:leaf#parent@folder:mid",
            "doc:1#folder@folder:leaf",
            "doc:1#owner@user:b",
        ],
        &[],
    );
    w.expect("doc:1", "view", "user:a", true);
    w.expect("folder:leaf", "view", "user:a", true);
    w.expect("folder:root", "view", "user:b", false);
    w.expect("doc:1", "owner_view", "user:b", false);
    w.expect("doc:1", "owner_view", "user:a", false);
}

#[test]
fn walk_ignores_the_stored_subject_relation() {
    // `doc:1#folder@folder:f#owner`: the walk `folder.view` evaluates `view`
    // on folder:f itself, not on the owner subject set. (The schema cannot
    // declare `@folder#owner` for a walked relation — the compiler would
    // check `view` against `owner`'s types — so the tuple is contextual.)
    let mut w = world(DOCS, &["folder:f#viewer@user:v"], &[]);
    let ctx = context(&["doc:1#folder@folder:f#owner"], &[], json!({}));
    assert!(w.check_in("doc:1", "view", "user:v", &ctx).unwrap());
    assert!(!w.check_in("doc:1", "view", "user:o", &ctx).unwrap());
}

#[test]
fn userset_subjects_expand_recursively() {
    let mut w = world(
        DOCS,
        &[
            "doc:1#editor@group:eng#member",
            "group:eng#member@group:backend#member",
            "group:backend#member@user:a",
            "group:eng#member@user:b",
        ],
        &[],
    );
    w.expect("doc:1", "edit", "user:a", true);
    w.expect("doc:1", "edit", "user:b", true);
    w.expect("doc:1", "edit", "user:c", false);
    // A subject set as the check subject matches stored subject sets
    // exactly, and nested ones through expansion.
    w.expect("doc:1", "editor", "group:eng#member", true);
    w.expect("doc:1", "editor", "group:backend#member", true);
    w.expect("doc:1", "editor", "group:other#member", false);
}

#[test]
fn self_shortcut_at_every_level() {
    let mut w = world(DOCS, &["doc:1#folder@folder:f"], &[]);
    // With no data at all.
    w.expect("group:1", "member", "group:1#member", true);
    w.expect("group:1", "member", "group:2#member", false);
    // Below the root: doc:1 view -> folder:f view (self shortcut).
    w.expect("doc:1", "view", "folder:f#view", true);
    w.expect("doc:1", "view", "folder:g#view", false);
}

#[test]
fn checking_relations_attributes_and_rules_directly() {
    let mut w = world(
        r#"
        entity user {}
        entity account {
            relation owner @user
            attribute frozen boolean
            attribute balance integer
            permission withdraw = owner not frozen
        }
        rule rich(balance integer) {
            balance > 1000
        }
        "#,
        &["account:1#owner@user:a"],
        &[
            "account:1$frozen|boolean:true",
            "account:1$balance|integer:5000",
            "account:2$frozen|boolean:false",
        ],
    );
    w.expect("account:1", "owner", "user:a", true);
    w.expect("account:1", "frozen", "user:a", true);
    w.expect("account:2", "frozen", "user:a", false);
    w.expect("account:3", "frozen", "user:a", false);
    w.expect("account:1", "balance", "user:a", false); // not a boolean
    w.expect("account:1", "withdraw", "user:a", false);
    // A rule by name binds its parameters to the entity's attributes.
    w.expect("account:1", "rich", "user:z", true);
    w.expect("account:2", "rich", "user:z", false);
}

#[test]
fn undefined_names_are_errors_and_unknown_ids_are_false() {
    let mut w = world(DOCS, &[], &[]);
    let e = w.check("nope:1", "view", "user:a").unwrap_err();
    assert_eq!(e.kind, ErrorKind::UndefinedName);
    assert!(
        e.message.contains("entity type \"nope\" is not defined"),
        "{e}"
    );
    let e = w.check("doc:1", "checks", "user:a").unwrap_err();
    assert_eq!(e.kind, ErrorKind::UndefinedName);
    assert!(
        e.message.contains("\"checks\"") && e.message.contains("\"doc\""),
        "{e}"
    );
    w.expect("doc:unknown", "view", "user:a", false);
}

const ABAC: &str = r#"
entity user {}
entity account {
    relation owner @user
    attribute balance integer
    attribute public boolean
    attribute limit double
    attribute tags string[]
    permission withdraw = check_balance(balance) and owner
    permission see = public or owner
    permission tagged = has_tag(tags)
    permission within = check_limit(limit)
}
rule check_balance(balance integer) {
    (balance >= context.data.amount) && (context.data.amount <= 5000)
}
rule has_tag(tags string[]) {
    context.data.tag in tags
}
rule check_limit(limit double) {
    limit >= context.data.amount
}
"#;

#[test]
fn rules_read_attributes_and_context_data() {
    let mut w = world(
        ABAC,
        &["account:1#owner@user:a", "account:2#owner@user:a"],
        &[
            "account:1$balance|integer:4000",
            "account:1$tags|string[]:x,y",
            "account:1$limit|double:2500.5",
        ],
    );
    let ask = |amount: f64| context(&[], &[], json!({ "amount": amount }));
    assert!(
        w.check_in("account:1", "withdraw", "user:a", &ask(3000.0))
            .unwrap()
    );
    assert!(
        !w.check_in("account:1", "withdraw", "user:a", &ask(4500.0))
            .unwrap()
    );
    assert!(
        !w.check_in("account:1", "withdraw", "user:b", &ask(3000.0))
            .unwrap()
    );
    // Missing balance is 0.
    assert!(
        !w.check_in("account:2", "withdraw", "user:a", &ask(1.0))
            .unwrap()
    );
    assert!(
        w.check_in("account:2", "withdraw", "user:a", &ask(0.0))
            .unwrap()
    );
    // Integer JSON in context is a double in CEL; double attributes compare too.
    assert!(
        w.check_in(
            "account:1",
            "within",
            "user:z",
            &context(&[], &[], json!({ "amount": 2500 }))
        )
        .unwrap()
    );
    assert!(
        !w.check_in(
            "account:1",
            "within",
            "user:z",
            &context(&[], &[], json!({ "amount": 2501 }))
        )
        .unwrap()
    );
    let tag = |t: &str| context(&[], &[], json!({ "tag": t }));
    assert!(
        w.check_in("account:1", "tagged", "user:z", &tag("y"))
            .unwrap()
    );
    assert!(
        !w.check_in("account:1", "tagged", "user:z", &tag("q"))
            .unwrap()
    );
    assert!(
        !w.check_in("account:2", "tagged", "user:z", &tag("y"))
            .unwrap()
    );
}

#[test]
fn missing_context_key_is_a_rule_error_unless_short_circuited() {
    let mut w = world(
        ABAC,
        &["account:1#owner@user:a"],
        &["account:1$balance|integer:4000"],
    );
    let e = w.check("account:1", "withdraw", "user:a").unwrap_err();
    assert_eq!(e.kind, ErrorKind::RuleEvaluation);
    assert!(
        e.message.contains("check_balance") && e.message.contains("account:1"),
        "{e}"
    );
    // `balance >= amount` errs before the && can short-circuit; an
    // intersection whose other side is false is false, not an error.
    let mut w2 = world(ABAC, &[], &["account:1$balance|integer:4000"]);
    let intersect = w2.check("account:1", "withdraw", "user:a");
    assert!(matches!(intersect, Ok(false)), "{intersect:?}");
}

#[test]
fn union_with_an_erring_child_is_true_if_another_child_is() {
    let mut w = world(
        r#"
        entity user {}
        entity doc {
            relation owner @user
            attribute level integer
            permission view = needs_ctx(level) or owner
            permission strict = needs_ctx(level) and owner
        }
        rule needs_ctx(level integer) {
            level > context.data.min
        }
        "#,
        &["doc:1#owner@user:a"],
        &[],
    );
    w.expect("doc:1", "view", "user:a", true);
    assert_eq!(
        w.check("doc:1", "view", "user:b").unwrap_err().kind,
        ErrorKind::RuleEvaluation
    );
    // Intersection: the erring child comes first, the false one decides.
    w.expect("doc:1", "strict", "user:b", false);
    assert_eq!(
        w.check("doc:1", "strict", "user:a").unwrap_err().kind,
        ErrorKind::RuleEvaluation
    );
}

#[test]
fn attribute_precedence_stored_versus_contextual() {
    let mut w = world(
        r#"
        entity user {}
        entity doc {
            attribute public boolean
            permission view = public
            permission ruled = is_public(public)
        }
        rule is_public(public boolean) {
            public
        }
        "#,
        &[],
        &["doc:1$public|boolean:true"],
    );
    let hide = context(&[], &["doc:1$public|boolean:false"], json!({}));
    let show = context(&[], &["doc:2$public|boolean:true"], json!({}));
    // A direct boolean operand prefers the contextual value …
    assert!(!w.check_in("doc:1", "view", "user:a", &hide).unwrap());
    assert!(w.check_in("doc:2", "view", "user:a", &show).unwrap());
    // … a rule argument prefers the stored one (Permify's two code paths).
    assert!(w.check_in("doc:1", "ruled", "user:a", &hide).unwrap());
    assert!(w.check_in("doc:2", "ruled", "user:a", &show).unwrap());
}

#[test]
fn contextual_tuples_count_for_the_call_only_and_are_not_validated() {
    let mut w = world(DOCS, &["doc:1#owner@user:a"], &[]);
    let ctx = context(
        &[
            "doc:1#editor@user:b",
            "doc:1#editor@group:x#member",
            "group:x#member@user:c",
        ],
        &[],
        json!({}),
    );
    assert!(w.check_in("doc:1", "edit", "user:b", &ctx).unwrap());
    assert!(w.check_in("doc:1", "edit", "user:c", &ctx).unwrap());
    w.expect("doc:1", "edit", "user:b", false);
    // Not validated: a relation the schema does not allow for that type.
    let odd = context(
        &["doc:1#editor@folder:f#owner", "folder:f#owner@user:d"],
        &[],
        json!({}),
    );
    assert!(w.check_in("doc:1", "edit", "user:d", &odd).unwrap());
    // Tuples pointing at undefined types or names grant nothing.
    let junk = context(
        &["doc:1#editor@alien:1#member", "doc:1#folder@alien:2"],
        &[],
        json!({}),
    );
    assert!(!w.check_in("doc:1", "view", "user:z", &junk).unwrap());
}

#[test]
fn many_contextual_tuples_use_an_index() {
    let mut w = world(DOCS, &[], &[]);
    let texts: Vec<String> = (0..50)
        .map(|i| format!("doc:{i}#editor@user:u{i}"))
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let ctx = context(&refs, &[], json!({}));
    for i in 0..50 {
        assert!(
            w.check_in(&format!("doc:{i}"), "edit", &format!("user:u{i}"), &ctx)
                .unwrap()
        );
        assert!(
            !w.check_in(
                &format!("doc:{i}"),
                "edit",
                &format!("user:u{}", i + 1),
                &ctx
            )
            .unwrap()
        );
    }
}

// ---- Cycles

#[test]
fn group_nested_in_itself() {
    let mut w = world(
        DOCS,
        &[
            "group:a#member@group:b#member",
            "group:b#member@group:a#member",
            "group:b#member@user:x",
            "doc:1#editor@group:a#member",
        ],
        &[],
    );
    w.expect("group:a", "member", "user:x", true);
    w.expect("group:b", "member", "user:x", true);
    w.expect("group:a", "member", "user:y", false);
    w.expect("doc:1", "edit", "user:x", true);
    w.expect("doc:1", "edit", "user:y", false);
    // A direct self-loop can only come from unvalidated contextual tuples.
    let ctx = context(&["group:s#member@group:s#member"], &[], json!({}));
    assert!(!w.check_in("group:s", "member", "user:x", &ctx).unwrap());
    assert!(
        w.check_in("group:s", "member", "group:s#member", &ctx)
            .unwrap()
    );
}

#[test]
fn page_that_is_its_own_ancestor() {
    let mut w = world(
        DOCS,
        &[
            "folder:a#parent@folder:b",
            "folder:b#parent@folder:c",
            "folder:c#parent@folder:a",
            "folder:c#viewer@user:v",
            "folder:self#parent@folder:self",
        ],
        &[],
    );
    for f in ["a", "b", "c"] {
        w.expect(&format!("folder:{f}"), "view", "user:v", true);
        w.expect(&format!("folder:{f}"), "view", "user:w", false);
    }
    w.expect("folder:self", "view", "user:v", false);
}

#[test]
fn cyclic_permissions_in_the_schema() {
    let mut w = world(
        r#"
        entity user {}
        entity doc {
            relation x @user
            permission a = b
            permission b = a or x
            permission c = c
            permission d = d and x
        }
        "#,
        &["doc:1#x@user:u"],
        &[],
    );
    w.expect("doc:1", "a", "user:u", true);
    w.expect("doc:1", "b", "user:u", true);
    w.expect("doc:1", "a", "user:v", false);
    w.expect("doc:1", "c", "user:u", false);
    w.expect("doc:1", "d", "user:u", false);
}

#[test]
fn exclusion_over_a_cycle() {
    let mut w = world(
        r#"
        entity user {}
        entity folder {
            relation parent @folder
            relation viewer @user
            relation blocked @user
            permission blocked_here = blocked or parent.blocked_here
            permission view = (viewer or parent.view) not blocked_here
        }
        "#,
        &[
            "folder:a#parent@folder:b",
            "folder:b#parent@folder:a",
            "folder:a#viewer@user:u",
            "folder:b#blocked@user:bad",
            "folder:a#viewer@user:bad",
        ],
        &[],
    );
    w.expect("folder:a", "view", "user:u", true);
    w.expect("folder:b", "view", "user:u", true);
    w.expect("folder:a", "view", "user:bad", false);
    w.expect("folder:b", "blocked_here", "user:u", false);
    w.expect("folder:a", "blocked_here", "user:bad", true);
}

#[test]
fn provisional_results_are_not_memoised() {
    // Checking g1 evaluates g2 while g1 is on the path: g2 looks false there
    // (it only reaches x through g1). A memo that kept that answer would make
    // the second check of the batch wrong.
    let mut w = world(
        DOCS,
        &[
            "group:g1#member@group:g2#member",
            "group:g1#member@group:g3#member",
            "group:g2#member@group:g1#member",
            "group:g3#member@user:x",
        ],
        &[],
    );
    let ctx = Context::default();
    let subject = parse_subject("user:x").unwrap();
    let objects: Vec<_> = ["group:g1", "group:g2", "group:g3"]
        .iter()
        .map(|o| parse_object(o).unwrap())
        .collect();
    let mut checker = w.checker(&ctx);
    let results: Vec<bool> = checker
        .check_many_objects(&objects, "member", &subject)
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(results, [true, true, true]);
}

#[test]
fn batches_agree_with_single_checks() {
    let mut w = world(
        DOCS,
        &[
            "folder:a#parent@folder:b",
            "folder:b#parent@folder:a",
            "folder:c#parent@folder:a",
            "folder:b#viewer@group:g#member",
            "group:g#member@user:u",
            "doc:1#folder@folder:c",
            "doc:2#folder@folder:z",
            "doc:1#banned@user:w",
            "folder:a#viewer@user:w",
        ],
        &[],
    );
    let objects: Vec<_> = [
        "doc:1", "doc:2", "folder:a", "folder:b", "folder:c", "folder:z",
    ]
    .iter()
    .map(|o| parse_object(o).unwrap())
    .collect();
    let subjects: Vec<_> = ["user:u", "user:w", "group:g#member"]
        .iter()
        .map(|s| parse_subject(s).unwrap())
        .collect();
    for subject in &subjects {
        let name = "view";
        let single: Vec<bool> = objects
            .iter()
            .map(|o| w.check(&o.to_string(), name, &subject.to_string()).unwrap())
            .collect();
        let ctx = Context::default();
        let mut checker = w.checker(&ctx);
        let batch: Vec<bool> = checker
            .check_many_objects(&objects, name, subject)
            .into_iter()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(single, batch, "subject {subject}");
    }
    let ctx = Context::default();
    let doc = parse_object("doc:1").unwrap();
    let mut checker = w.checker(&ctx);
    let batch: Vec<bool> = checker
        .check_many_subjects(&doc, "view", &subjects)
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(batch, [true, false, true]);
}

// ---- Depth

const CHAIN: &str = r#"
entity user {}
entity top {
    relation parent @middle
    permission check = parent.check
}
entity middle {
    relation parent @bottom
    permission check = parent.check
}
entity bottom {
    relation member @user
    permission check = member
}
"#;

#[test]
fn depth_counts_dispatches_like_permify() {
    let mut w = world(
        CHAIN,
        &[
            "top:1#parent@middle:1",
            "middle:1#parent@bottom:1",
            "bottom:1#member@user:u",
        ],
        &[],
    );
    w.opts = CheckOptions::with_max_depth(3);
    w.expect("top:1", "check", "user:u", true);
    w.opts = CheckOptions::with_max_depth(2);
    let e = w.check("top:1", "check", "user:u").unwrap_err();
    assert_eq!(e.kind, ErrorKind::DepthExceeded);
    assert_eq!(
        e.message,
        "permission check exceeded the maximum depth of 2 at top:1#check: its shortest proof needs depth 3; raise notion_rbac.max_depth if the hierarchy is this deep"
    );
}

#[test]
fn long_acyclic_chain_exceeds_depth_but_a_cycle_does_not() {
    let mut tuples: Vec<String> = (0..150)
        .map(|i| format!("folder:f{i}#parent@folder:f{}", i + 1))
        .collect();
    tuples.push("folder:f150#viewer@user:u".to_string());
    let refs: Vec<&str> = tuples.iter().map(String::as_str).collect();
    let mut w = world(DOCS, &refs, &[]);
    let e = w.check("folder:f0", "view", "user:u").unwrap_err();
    assert_eq!(e.kind, ErrorKind::DepthExceeded);
    assert!(e.message.contains("maximum depth of 100 at folder:"), "{e}");
    w.opts = CheckOptions::with_max_depth(400);
    w.expect("folder:f0", "view", "user:u", true);

    // A 200-long cycle with max depth 10: cut, never an error… as long as
    // the cycle is shorter than the depth. Here the cycle is short.
    let mut cyc = world(
        DOCS,
        &["folder:a#parent@folder:b", "folder:b#parent@folder:a"],
        &[],
    );
    cyc.opts = CheckOptions::with_max_depth(3);
    cyc.expect("folder:a", "view", "user:u", false);
    cyc.opts = CheckOptions::with_max_depth(0);
    cyc.expect("group:1", "member", "group:1#member", true);

    // A cycle far longer than the depth limit: no proof at any depth, so
    // false — the answer lookups give — not a depth error.
    let ring: Vec<String> = (0..10_000)
        .map(|i| format!("folder:r{i}#parent@folder:r{}", (i + 1) % 10_000))
        .collect();
    let refs: Vec<&str> = ring.iter().map(String::as_str).collect();
    let mut ring = world(DOCS, &refs, &[]);
    ring.expect("folder:r0", "view", "user:u", false);
    ring.expect("folder:r9999", "view", "user:u", false);
    assert_eq!(ring.resources("user:u", "view", "folder").unwrap(), Vec::<String>::new());
    assert_eq!(ring.subjects("folder:r0", "view", "user").unwrap(), Vec::<String>::new());
}

#[test]
fn a_stack_budget_does_not_limit_the_answer() {
    // 300 levels do not fit in 16 KiB of stack: the depth-first search
    // gives up and the node is settled exactly, without recursion.
    let mut tuples: Vec<String> = (0..300)
        .map(|i| format!("folder:f{i}#parent@folder:f{}", i + 1))
        .collect();
    tuples.push("folder:f300#viewer@user:u".to_string());
    let refs: Vec<&str> = tuples.iter().map(String::as_str).collect();
    let mut w = world(DOCS, &refs, &[]);
    w.opts = CheckOptions {
        max_depth: 100_000,
        max_stack_bytes: 16 * 1024,
        ..CheckOptions::default()
    };
    w.expect("folder:f0", "view", "user:u", true);
    w.expect("folder:f0", "view", "user:nobody", false);
    w.expect("folder:f300", "view", "user:u", true);
    // The depth limit still holds: the shortest proof is 300 walks long.
    w.opts.max_depth = 250;
    let e = w.check("folder:f0", "view", "user:u").unwrap_err();
    assert_eq!(e.kind, ErrorKind::DepthExceeded);
    assert!(e.message.contains("shortest proof needs depth"), "{e}");
    // A refusal needs no depth at all.
    w.expect("folder:f0", "view", "user:nobody", false);
    // And the fixpoint's own size is bounded.
    w.opts = CheckOptions {
        max_depth: 100_000,
        max_stack_bytes: 16 * 1024,
        max_fixpoint_size: 100,
    };
    let e = w.check("folder:f0", "view", "user:u").unwrap_err();
    assert_eq!(e.kind, ErrorKind::LimitExceeded);
}

#[test]
fn context_from_json() {
    let ctx = Context::from_json(&json!({
        "tuples": ["page:x#reader@user:a", "page:x#parent@page:y#..."],
        "attributes": ["page:x$public|boolean:true"],
        "data": { "amount": 3 }
    }))
    .unwrap();
    assert_eq!(ctx.tuples.len(), 2);
    assert_eq!(ctx.tuples[1].subject.relation, "");
    assert_eq!(ctx.attributes.len(), 1);
    assert_eq!(ctx.data["amount"], json!(3));
    assert!(Context::from_json(&json!(null)).unwrap().is_empty());
    assert!(
        Context::from_json(&json!({ "tuples": null }))
            .unwrap()
            .is_empty()
    );

    let err = |v: serde_json::Value| Context::from_json(&v).unwrap_err();
    let e = err(json!({ "tupels": [] }));
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert!(e.message.contains("tupels"), "{e}");
    let e = err(json!({ "tuples": "page:x#reader@user:a" }));
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert!(e.message.contains("tuples"), "{e}");
    let e = err(json!({ "attributes": [1] }));
    assert!(e.message.contains("attributes"), "{e}");
    let e = err(json!({ "data": [] }));
    assert!(e.message.contains("data"), "{e}");
    assert_eq!(err(json!([])).kind, ErrorKind::InvalidArgument);
    let e = err(json!({ "tuples": ["not a tuple"] }));
    assert_eq!(e.kind, ErrorKind::InvalidText);
    assert!(e.message.contains("tuples[0]"), "{e}");
}

#[test]
fn a_rule_that_does_not_yield_a_boolean_is_an_error() {
    // The compiler rejects such rules; a hand-built schema shows the engine
    // still reports them instead of guessing.
    use notion_rbac_core::engine::{self, MemorySource};
    use notion_rbac_core::error::Pos;
    use notion_rbac_core::model::{
        AttrType, AttributeDef, EntityDef, Expr, Leaf, PermissionDef, RuleDef, Schema,
    };
    use std::sync::Arc;

    let pos = Pos { line: 1, col: 1 };
    let int = AttrType::parse("integer").unwrap();
    let doc = EntityDef::new(
        "doc".into(),
        pos,
        vec![],
        vec![AttributeDef {
            name: "level".into(),
            pos,
            ty: int,
        }],
        vec![PermissionDef {
            name: "view".into(),
            pos,
            expr: Expr::Leaf(Leaf::Call {
                rule: "bump".into(),
                args: vec!["level".into()],
            }),
        }],
    );
    let user = EntityDef::new("user".into(), pos, vec![], vec![], vec![]);
    let rule = RuleDef {
        name: "bump".into(),
        pos,
        params: vec![("level".into(), int)],
        body: "level + 1".into(),
        program: Arc::new(cel::Program::compile("level + 1").unwrap()),
    };
    let schema = Schema::new(vec![user, doc], vec![rule], vec![]);
    let mut source = MemorySource::new();
    let e = engine::check(
        &schema,
        &mut source,
        &parse_object("doc:1").unwrap(),
        "view",
        &parse_subject("user:1").unwrap(),
        &Context::default(),
        CheckOptions::default(),
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::RuleEvaluation);
    assert!(
        e.message
            .starts_with("rule expression must result in a boolean type not int"),
        "{e}"
    );
}

#[test]
fn rules_with_several_parameters_and_walks_into_them() {
    // The shape of Permify's mercury example: integer-vs-integer rules with
    // two parameters, double-vs-context comparisons, and a walk to a
    // permission that combines relations and rules.
    let mut w = world(
        r#"
        entity user {}
        entity organization {
            relation admin @user
            relation member @user
            attribute admin_approval_limit integer
            attribute member_approval_limit integer
            attribute approval_num integer
            permission approval = (member and check_member_approval(approval_num, member_approval_limit)) or (admin and check_admin_approval(approval_num, admin_approval_limit))
        }
        entity account {
            relation owner @organization
            attribute withdraw_limit double
            attribute balance double
            action withdraw = check_balance(balance) and (check_limit(withdraw_limit) or owner.approval)
        }
        rule check_balance(balance double) {
            balance >= context.data.amount
        }
        rule check_limit(withdraw_limit double) {
            withdraw_limit >= context.data.amount
        }
        rule check_admin_approval(approval_num integer, admin_approval_limit integer) {
            approval_num >= admin_approval_limit
        }
        rule check_member_approval(approval_num integer, member_approval_limit integer) {
            approval_num >= member_approval_limit
        }
        "#,
        &["account:1#owner@organization:o", "organization:o#admin@user:boss", "organization:o#member@user:m"],
        &[
            "account:1$balance|double:10000",
            "account:1$withdraw_limit|double:500",
            "organization:o$approval_num|integer:2",
            "organization:o$admin_approval_limit|integer:1",
            "organization:o$member_approval_limit|integer:3",
        ],
    );
    let amount = |a: f64| context(&[], &[], json!({ "amount": a }));
    // Within the limit: anyone.
    assert!(w.check_in("account:1", "withdraw", "user:x", &amount(400.0)).unwrap());
    // Above the limit: the admin's approval suffices (2 >= 1), a member's does not (2 < 3).
    assert!(w.check_in("account:1", "withdraw", "user:boss", &amount(800.0)).unwrap());
    assert!(!w.check_in("account:1", "withdraw", "user:m", &amount(800.0)).unwrap());
    // Above the balance: no one.
    assert!(!w.check_in("account:1", "withdraw", "user:boss", &amount(20000.0)).unwrap());
}

/// The reported denial of service: a permission that recurses through an
/// exclusion over a layered graph two nodes wide. Searched depth first it
/// doubles its work every two levels; settled, it is linear. 400 levels
/// (2^200 paths) would never finish the old way.
#[test]
fn recursion_through_exclusion_is_polynomial() {
    const LAYERED: &str = r#"
entity user {}
entity node {
    relation parent @node
    relation a @user
    relation b @user
    permission x = a not y
    permission y = parent.x or b
}
"#;
    let levels = 400;
    let mut tuples = Vec::new();
    for i in 0..levels {
        for side in ["l", "r"] {
            tuples.push(format!("node:{side}{i}#a@user:u"));
            if i + 1 < levels {
                tuples.push(format!("node:{side}{i}#parent@node:l{}", i + 1));
                tuples.push(format!("node:{side}{i}#parent@node:r{}", i + 1));
            }
        }
    }
    let refs: Vec<&str> = tuples.iter().map(String::as_str).collect();
    let mut w = world(LAYERED, &refs, &[]);
    w.opts = CheckOptions::with_max_depth(10_000);
    // The top level has no parent: x holds there. Each level below
    // alternates, since y is x of the level above.
    for i in [0, 1, 2, 199, 398, 399] {
        let expected = (levels - 1 - i) % 2 == 0;
        w.expect(&format!("node:l{i}"), "x", "user:u", expected);
        w.expect(&format!("node:r{i}"), "y", "user:u", !expected && i + 1 < levels);
    }
    let found = w.resources("user:u", "x", "node").unwrap();
    assert_eq!(found.len(), levels as usize); // half the levels, both sides
}

/// The rewrite of unions for plain subjects (engine::check::union_form)
/// never makes a proof taller: a check the written rules answer within the
/// depth limit is answered there too, not sent to settle (which a small
/// `max_fixpoint_size` refuses on a long chain). Here `parent.edit` reaches
/// the editor one level higher than `parent.view` would.
#[test]
fn rewritten_unions_keep_proof_heights() {
    let schema = "
        entity user {}
        entity page {
            relation parent @page
            relation editor @user
            permission edit = editor
            permission view = edit or parent.view or parent.edit
            permission read = editor or write or parent.read
            permission write = editor or parent.write
        }";
    let mut tuples: Vec<String> = (0..400).map(|i| format!("page:p{i}#parent@page:p{}", i + 1)).collect();
    tuples.push("page:p1#editor@user:u".to_string());
    let refs: Vec<&str> = tuples.iter().map(String::as_str).collect();
    let mut w = world(schema, &refs, &[]);
    w.opts = CheckOptions {
        max_depth: 2,
        max_fixpoint_size: 100,
        ..CheckOptions::default()
    };
    // view(p0) -> parent.edit -> edit(p1) -> editor(p1): height 2.
    w.expect("page:p0", "view", "user:u", true);
    // read(p0) -> parent.read -> read(p1) -> editor(p1): height 2, as
    // read(p0) -> write(p0) -> parent.write -> ... would be 3.
    w.expect("page:p0", "read", "user:u", true);
}
