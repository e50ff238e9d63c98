//! Storage reads of single checks: in a database every read is an index
//! probe (about a microsecond), so a check must not read the same thing
//! twice when the answer it got the first time is still good.

mod engine_util;

use engine_util::{Recording, world};
use notion_rbac_core::engine::{self, CheckOptions, Context};
use notion_rbac_core::tuple::{parse_object, parse_subject};

/// The page model of the benchmark, with three ways for a workspace to
/// grant reading: a permission, a relation with subject sets, a relation
/// with plain subjects only.
const PAGES: &str = r#"
entity user {}
entity group {
    relation member @user @group#member
}
entity workspace {
    relation owner @user
    relation admin @user
    relation member @user @group#member
    permission manage = owner or admin
}
entity page {
    relation workspace @workspace
    relation parent @page
    relation reader @user @group#member
    relation editor @user @group#member
    permission read = reader or editor or parent.read or workspace.manage
    permission read_member = reader or editor or parent.read_member or workspace.member
    permission read_owner = reader or editor or parent.read_owner or workspace.owner
}
"#;

/// A denied check of `permission` on the deepest of 6 nested pages, all in
/// workspace `w`: the calls made, and how many of them read `w`.
fn denied_six_levels_deep(permission: &str) -> (usize, usize) {
    let mut tuples = vec![
        "workspace:w#owner@user:boss".to_string(),
        "workspace:w#member@group:staff#member".to_string(),
        "group:staff#member@user:employee".to_string(),
    ];
    for level in 0..6 {
        tuples.push(format!("page:p{level}#workspace@workspace:w"));
        if level > 0 {
            tuples.push(format!("page:p{level}#parent@page:p{}", level - 1));
        }
    }
    let refs: Vec<&str> = tuples.iter().map(String::as_str).collect();
    let w = world(PAGES, &refs, &[]);
    let mut source = Recording {
        inner: w.source,
        log: Vec::new(),
    };
    let allowed = engine::check(
        &w.schema,
        &mut source,
        &parse_object("page:p5").unwrap(),
        permission,
        &parse_subject("user:nobody").unwrap(),
        &Context::default(),
        CheckOptions::default(),
    );
    assert!(!allowed.unwrap());
    eprintln!("{permission}: {:#?}", source.log);
    (source.log.len(), source.reads_of("workspace:w"))
}

#[test]
fn a_denied_check_six_levels_deep_reads_the_workspace_once() {
    // Per page: the probe and the subject sets of `reader` and of
    // `editor`, `parent` and `workspace` (6 reads); the workspace's answer
    // is decided on the first page that asks and then reused.
    // `manage`: the probes of `owner` and `admin`.
    assert_eq!(denied_six_levels_deep("read"), (6 * 6 + 2, 2));
    // `member`: its probe, its subject sets, and `group:staff#member`'s
    // probe and (empty) subject sets.
    assert_eq!(denied_six_levels_deep("read_member"), (6 * 6 + 4, 2));
    // `owner`: one probe.
    assert_eq!(denied_six_levels_deep("read_owner"), (6 * 6 + 1, 1));
}
