//! The cost of lookups in storage reads: "it grows with the size of the
//! answer, not with the number of tuples". A source that counts its calls
//! (each is one index scan in the database, about a microsecond there) runs
//! lookups over a Notion-shaped page tree and the counts are bounded by the
//! answer, and do not move when unrelated data is added.

mod engine_util;

use engine_util::{Recording, world};
use notion_rbac_core::engine::{CheckOptions, Context, lookup};
use notion_rbac_core::model::Schema;
use notion_rbac_core::tuple::{parse_object, parse_subject, parse_tuple};

/// The benchmark's page model (bench/model.perm), plus an exclusion.
const MODEL: &str = r#"
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
    relation editor @user @group#member
    relation reader @user @group#member @workspace#member
    relation banned @user
    permission write = editor or parent.write or workspace.manage
    permission read = reader or editor or parent.read or workspace.manage
    permission safe_read = (reader or editor or parent.safe_read) not banned
}
"#;

/// A tree of `levels` levels with fan-out 3 under `page:{prefix}`, every
/// page in workspace `ws`. Returns the tuples and the page ids.
fn tree(prefix: &str, levels: u32, ws: &str) -> (Vec<String>, Vec<String>) {
    let mut tuples = Vec::new();
    let mut pages = vec![prefix.to_string()];
    let mut level = vec![prefix.to_string()];
    for _ in 1..levels {
        let mut next = Vec::new();
        for parent in &level {
            for i in 0..3 {
                let child = format!("{parent}-{i}");
                tuples.push(format!("page:{child}#parent@page:{parent}"));
                next.push(child);
            }
        }
        pages.extend(next.iter().cloned());
        level = next;
    }
    for p in &pages {
        tuples.push(format!("page:{p}#workspace@workspace:{ws}"));
    }
    (tuples, pages)
}

struct Store {
    schema: Schema,
    source: Recording,
    pages: Vec<String>,
}

/// Alice reads the 6-level tree `t` (364 pages) through a nested group;
/// `noise` more trees of the same size belong to other people.
fn store(noise: usize) -> Store {
    let (mut tuples, pages) = tree("t", 6, "w");
    tuples.extend([
        "page:t#reader@group:eng#member".to_string(),
        "group:eng#member@group:core#member".to_string(),
        "group:core#member@user:alice".to_string(),
        "workspace:w#member@user:alice".to_string(),
        "workspace:w#member@user:bob".to_string(),
        // A ban deep down removes one subtree from safe_read.
        "page:t-0-1#banned@user:alice".to_string(),
    ]);
    for n in 0..noise {
        let (more, _) = tree(&format!("n{n}"), 6, &format!("v{n}"));
        tuples.extend(more);
        tuples.push(format!("page:n{n}#reader@group:other{n}#member"));
        tuples.push(format!("group:other{n}#member@user:carol{n}"));
        tuples.push(format!("page:n{n}-1#reader@user:bob"));
        tuples.push(format!("workspace:v{n}#admin@user:dave"));
    }
    let refs: Vec<&str> = tuples.iter().map(String::as_str).collect();
    let w = world(MODEL, &refs, &[]);
    Store {
        schema: w.schema,
        source: Recording::new(w.source),
        pages,
    }
}

impl Store {
    /// Runs a resource lookup; returns the answer and the reads it took.
    fn resources(
        &mut self,
        subject: &str,
        permission: &str,
    ) -> (Vec<String>, usize, lookup::LookupStats) {
        let subject = parse_subject(subject).expect("subject");
        self.source.log.clear();
        let (ids, stats) = lookup::lookup_resources_with_stats(
            &self.schema,
            &mut self.source,
            &subject,
            permission,
            "page",
            &Context::default(),
            CheckOptions::default(),
        )
        .expect("lookup");
        (ids, self.source.reads(), stats)
    }

    fn subjects(
        &mut self,
        entity: &str,
        permission: &str,
    ) -> (Vec<String>, usize, lookup::LookupStats) {
        let entity = parse_object(entity).expect("entity");
        self.source.log.clear();
        let (ids, stats) = lookup::lookup_subjects_with_stats(
            &self.schema,
            &mut self.source,
            &entity,
            permission,
            "user",
            &Context::default(),
            CheckOptions::default(),
        )
        .expect("lookup");
        (ids, self.source.reads(), stats)
    }
}

/// The bound this file enforces: `per_answer` reads per answer plus a
/// constant for the subject's own grants and groups.
fn assert_grows_with_answer(what: &str, answer: usize, reads: usize, per_answer: usize) {
    eprintln!("{what}: {answer} answers, {reads} reads");
    assert!(
        reads <= per_answer * answer + 20,
        "{what}: {reads} reads for {answer} answers (bound: {per_answer} x answer + 20)"
    );
}

#[test]
fn a_union_lookup_over_a_six_level_tree_reads_about_once_per_answer() {
    let mut s = store(0);
    let (ids, reads, stats) = s.resources("user:alice", "read");
    let mut expected = s.pages.clone();
    expected.sort();
    assert_eq!(ids, expected);
    assert_eq!(ids.len(), 364);
    assert_grows_with_answer("read, whole tree", ids.len(), reads, 3);
    // The whole answer is proved by the expansion: no check at all.
    assert_eq!(stats.checked, 0, "{stats:?}");
    assert_eq!(stats.proven, ids.len());

    // A grant further down: a smaller answer, proportionally fewer reads.
    let (ids, reads, _) = s.resources("user:bob", "read");
    assert!(ids.is_empty(), "bob has no grant yet: {ids:?}");
    assert!(reads <= 20, "{reads} reads for an empty answer");
    s.source
        .inner
        .insert_tuple(parse_tuple("page:t-2-2#editor@user:bob").expect("tuple"));
    let (ids, reads, stats) = s.resources("user:bob", "write");
    // t-2-2 is on level 3: its subtree spans levels 3 to 6.
    assert_eq!(ids.len(), 1 + 3 + 9 + 27);
    assert_grows_with_answer("write, one subtree", ids.len(), reads, 3);
    assert_eq!(stats.checked, 0, "{stats:?}");
}

#[test]
fn reads_do_not_depend_on_unrelated_tuples() {
    let mut small = store(0);
    let mut large = store(4);
    assert!(large.source.inner.len() > 4 * small.source.inner.len());
    for (subject, permission) in [
        ("user:alice", "read"),
        ("user:alice", "safe_read"),
        ("group:core#member", "read"),
    ] {
        let (a, reads_small, _) = small.resources(subject, permission);
        let (b, reads_large, _) = large.resources(subject, permission);
        assert_eq!(a, b, "{subject} {permission}");
        assert_eq!(
            reads_small, reads_large,
            "{subject} {permission}: reads changed with unrelated data"
        );
    }
}

#[test]
fn an_exclusion_costs_one_more_read_per_answer() {
    let mut s = store(0);
    let (ids, reads, stats) = s.resources("user:alice", "safe_read");
    // The banned page and its subtree (1 + 3 + 9 + 27 pages) are gone.
    assert_eq!(ids.len(), 364 - 40);
    assert!(!ids.iter().any(|id| id.starts_with("t-0-1")));
    // Per page: the reverse read of its children, and `banned` evaluated
    // by the check (a point probe, plus the subject sets where the relation
    // may hold some).
    assert_grows_with_answer("safe_read", ids.len(), reads, 4);
    // `not banned` is acyclic: proved on each page by one evaluation.
    assert_eq!(stats.checked, 0, "{stats:?}");
    assert!(stats.gates > 0, "{stats:?}");
}

#[test]
fn a_subject_lookup_down_a_deep_branch_needs_no_checks() {
    let mut s = store(0);
    let (ids, reads, stats) = s.subjects("page:t-0-0-0-0-0", "read");
    assert_eq!(ids, vec!["alice".to_string()]);
    eprintln!("subjects of a leaf page: {reads} reads");
    // One read per relation of each of the 6 ancestors, plus the groups.
    assert!(reads <= 6 * 5 + 10, "{reads} reads");
    assert_eq!(stats.checked, 0, "{stats:?}");
}
