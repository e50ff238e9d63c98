//! The listing and planning logic against an in-memory Notion.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::*;

/// A tiny Notion: users, search results, blocks; pages of `page` items;
/// optionally restricted lists and one expiring cursor.
struct World {
    users: Vec<Value>,
    objects: Vec<Value>,
    blocks: HashMap<String, Value>,
    page: usize,
    users_restricted: bool,
    expire_first_search_cursor: bool,
    /// Search stops after this many results, as Notion's 10,000-row cap
    /// does: `has_more` false and `request_status` `incomplete`.
    search_cap: Option<usize>,
    /// Objects search leaves out (not indexed yet), shown when asked for by id.
    unindexed: Vec<String>,
    log: Vec<String>,
}

impl World {
    fn list(&self, items: &[Value], cursor: Option<&str>) -> Vec<u8> {
        let start = cursor.map_or(0, |c| c.parse::<usize>().unwrap());
        let end = (start + self.page).min(items.len());
        let more = end < items.len();
        json!({
            "object": "list",
            "results": items[start..end],
            "has_more": more,
            "next_cursor": if more { Value::String(end.to_string()) } else { Value::Null },
        })
        .to_string()
        .into_bytes()
    }

    fn fetch(&mut self, method: Method, path: &str, body: Option<Vec<u8>>) -> Result<Vec<u8>, Fetched<String>> {
        self.log.push(format!("{} {path}", method.as_str()));
        if let Some(rest) = path.strip_prefix("/v1/users") {
            if self.users_restricted {
                return Err(Fetched::Restricted);
            }
            assert!(rest.contains("page_size=100"), "{path}");
            let cursor = rest.split("start_cursor=").nth(1);
            return Ok(self.list(&self.users, cursor));
        }
        if path == "/v1/search" {
            let body: Value = serde_json::from_slice(&body.unwrap()).unwrap();
            assert_eq!(body["page_size"], 100);
            let cursor = body.get("start_cursor").and_then(Value::as_str).map(str::to_owned);
            if self.expire_first_search_cursor && cursor.is_some() {
                self.expire_first_search_cursor = false;
                return Err(Fetched::InvalidCursor);
            }
            if let Some(cap) = self.search_cap.filter(|cap| *cap < self.objects.len()) {
                let mut answer: Value = serde_json::from_slice(&self.list(&self.objects[..cap], cursor.as_deref())).unwrap();
                if answer["has_more"] == false {
                    answer["request_status"] = json!({ "type": "incomplete", "incomplete_reason": "query_result_limit_reached" });
                }
                return Ok(answer.to_string().into_bytes());
            }
            let indexed: Vec<Value> =
                self.objects.iter().filter(|o| !self.unindexed.iter().any(|u| o["id"] == *u.as_str())).cloned().collect();
            return Ok(self.list(&indexed, cursor.as_deref()));
        }
        if let Some(id) = path.strip_prefix("/v1/pages/").or_else(|| path.strip_prefix("/v1/databases/")) {
            return match self.objects.iter().find(|o| o["id"] == id) {
                Some(o) => Ok(o.to_string().into_bytes()),
                None => Err(Fetched::NotFound),
            };
        }
        if let Some(id) = path.strip_prefix("/v1/blocks/") {
            return match self.blocks.get(id) {
                Some(b) => Ok(b.to_string().into_bytes()),
                None => Err(Fetched::NotFound),
            };
        }
        Err(Fetched::Fail(format!("unexpected {path}")))
    }
}

fn page(id: &str, parent: Value) -> Value {
    json!({ "object": "page", "id": id, "parent": parent, "in_trash": false })
}

fn world(n_users: usize, n_pages: usize) -> World {
    let mut users: Vec<Value> =
        (0..n_users).map(|i| json!({ "object": "user", "id": format!("u{i}"), "type": "person" })).collect();
    users.push(json!({ "object": "user", "id": "bot1", "type": "bot", "bot": {} }));
    let mut objects = vec![page("root", json!({ "type": "workspace", "workspace": true }))];
    for i in 0..n_pages {
        objects.push(page(&format!("p{i}"), json!({ "type": "page_id", "page_id": "root" })));
    }
    objects.push(json!({ "object": "data_source", "id": "ds1", "parent": { "type": "database_id", "database_id": "db1" },
                         "database_parent": { "type": "block_id", "block_id": "b2" } }));
    objects.push(page("row1", json!({ "type": "data_source_id", "data_source_id": "ds1", "database_id": "db1" })));
    objects.push(page("row2", json!({ "type": "data_source_id", "data_source_id": "ds1" })));
    objects.push(page("nested", json!({ "type": "block_id", "block_id": "b1" })));
    objects.push(page("lost", json!({ "type": "block_id", "block_id": "b9" })));
    objects.push(json!({ "object": "page", "id": "trashed", "parent": { "type": "workspace" }, "in_trash": true }));
    let mut blocks = HashMap::new();
    blocks.insert("b1".to_owned(), json!({ "object": "block", "id": "b1", "parent": { "type": "block_id", "block_id": "b2" } }));
    blocks.insert("b2".to_owned(), json!({ "object": "block", "id": "b2", "parent": { "type": "page_id", "page_id": "root" } }));
    World {
        users,
        objects,
        blocks,
        page: 100,
        users_restricted: false,
        expire_first_search_cursor: false,
        search_cap: None,
        unindexed: vec![],
        log: vec![],
    }
}

fn run(w: &mut World) -> Listing {
    run_knowing(w, &Known::default())
}

fn run_knowing(w: &mut World, known: &Known) -> Listing {
    collect(&mut |m, p, b| w.fetch(m, p, b), known, &|why| why).unwrap()
}

/// Search leaves out what it has not indexed: an object the last sync saw
/// is looked up by id and kept while Notion shows it; one Notion no longer
/// has (404), or has trashed, is gone; objects search lists are not looked
/// up; a listing cut short looks up nothing (it removes nothing anyway).
#[test]
fn objects_search_leaves_out_are_looked_up() {
    let mut w = world(3, 5);
    w.objects.push(json!({ "object": "database", "id": "db2", "parent": { "type": "page_id", "page_id": "p1" } }));
    w.unindexed = vec!["p2".into(), "p3".into(), "db2".into()];
    let known = Known {
        pages: ["p1", "p2", "p3", "gone", "trashed"].map(String::from).into(),
        databases: ["db1", "db2"].map(String::from).into(),
    };
    let listing = run_knowing(&mut w, &known);
    assert_eq!(listing.looked_up, 3, "{:?}", w.log);
    let lookups: Vec<&String> = w.log.iter().filter(|l| l.starts_with("GET /v1/pages/") || l.starts_with("GET /v1/databases/")).collect();
    assert_eq!(lookups, ["GET /v1/pages/gone", "GET /v1/pages/p2", "GET /v1/pages/p3", "GET /v1/pages/trashed", "GET /v1/databases/db2"]);
    let planned = plan(&listing, "W");
    let objects = &planned[&Part::Objects];
    assert!(has(objects, "page:p2#parent@page:root") && has(objects, "page:p3#workspace@workspace:W"));
    assert!(has(objects, "database:db2#parent@page:p1"));
    assert!(!objects.iter().any(|t| t.entity_id == "gone" || t.entity_id == "trashed"));
    // Cut short: nothing looked up.
    let mut w = world(3, 5);
    w.unindexed = vec!["p2".into()];
    w.search_cap = Some(3);
    let listing = run_knowing(&mut w, &known);
    assert_eq!(listing.looked_up, 0);
    assert!(!w.log.iter().any(|l| l.starts_with("GET /v1/pages/")), "{:?}", w.log);
}

/// Lookups are bounded: beyond [`MAX_LOOKUPS`] the rest count as gone.
#[test]
fn lookups_are_bounded() {
    let mut w = world(1, 1);
    let known = Known { pages: (0..MAX_LOOKUPS + 50).map(|i| format!("x{i:04}")).collect(), databases: Default::default() };
    let listing = run_knowing(&mut w, &known);
    assert_eq!(w.log.iter().filter(|l| l.starts_with("GET /v1/pages/")).count(), MAX_LOOKUPS);
    assert_eq!(listing.looked_up, 0);
}

fn has(set: &BTreeSet<SyncTuple>, text: &str) -> bool {
    set.iter().any(|t| t.to_string() == text)
}

#[test]
fn lists_in_pages_of_100_and_resolves_blocks_once() {
    let mut w = world(150, 230);
    let listing = run(&mut w);
    let users = listing.users.as_ref().unwrap();
    assert_eq!(users.len(), 151);
    // 237 search results (one trashed, dropped): 3 search pages; 151 users: 2
    // pages; blocks b1 and b2 (b2 reached twice, fetched once) and b9 (404).
    assert_eq!(listing.objects_seen(), 236);
    assert_eq!(w.log.iter().filter(|l| l.starts_with("GET /v1/users")).count(), 2);
    assert_eq!(w.log.iter().filter(|l| l.starts_with("POST /v1/search")).count(), 3);
    assert_eq!(w.log.iter().filter(|l| l.starts_with("GET /v1/blocks")).count(), 3, "{:?}", w.log);
    assert_eq!(listing.requests as usize, w.log.len());
    assert!(listing.missing_capabilities.is_empty());

    let plan = plan(&listing, "W");
    let users = &plan[&Part::Users];
    assert_eq!(users.len(), 151);
    assert!(has(users, "workspace:W#member@user:u0"));
    assert!(has(users, "workspace:W#bot@user:bot1"));
    let objects = &plan[&Part::Objects];
    for expected in [
        "page:root#workspace@workspace:W",
        "page:p7#parent@page:root",
        "page:row1#parent@database:db1",
        "page:row2#parent@database:db1",
        "page:nested#parent@page:root",
        "page:lost#workspace@workspace:W",
        "database:db1#workspace@workspace:W",
        "database:db1#parent@page:root",
    ] {
        assert!(has(objects, expected), "{expected}");
    }
    assert!(!objects.iter().any(|t| t.entity_id == "trashed"));
    assert!(!objects.iter().any(|t| t.entity_id == "lost" && t.relation == "parent"));
    assert!(!objects.iter().any(|t| t.entity_id == "root" && t.relation == "parent"));
    // 235 pages + 233 parents (root and lost have none) + 2 for the database.
    assert_eq!(objects.len(), 235 + 233 + 2);
}

#[test]
fn restricted_users_are_a_missing_capability() {
    let mut w = world(3, 3);
    w.users_restricted = true;
    let listing = run(&mut w);
    assert!(listing.users.is_none());
    assert_eq!(listing.missing_capabilities, vec!["user information"]);
    let plan = plan(&listing, "W");
    assert!(!plan.contains_key(&Part::Users), "users keep their tuples");
    assert!(plan.contains_key(&Part::Objects));
}

#[test]
fn an_expired_cursor_restarts_the_listing_once() {
    let mut w = world(1, 250);
    w.expire_first_search_cursor = true;
    let listing = run(&mut w);
    assert_eq!(listing.objects_seen(), 250 + 6);
    assert_eq!(w.log.iter().filter(|l| l.starts_with("POST /v1/search")).count(), 2 + 3);
}

#[test]
fn failures_end_the_listing() {
    let mut calls = 0;
    let err = collect::<String>(
        &mut |_, _, _| {
            calls += 1;
            Err(Fetched::Fail("boom".into()))
        },
        &Known::default(),
        &|why| why,
    )
    .unwrap_err();
    assert_eq!(err, "boom");
    assert_eq!(calls, 1);
    let err = collect::<String>(&mut |_, _, _| Ok(b"<html>".to_vec()), &Known::default(), &|why| why).unwrap_err();
    assert!(err.contains("not JSON"), "{err}");
}

#[test]
fn the_model_compiles_and_allows_every_synced_relation() {
    let schema = notion_rbac_core::lang::compile(NOTION_MODEL).unwrap();
    for (entity, relation, subject) in RELATIONS {
        let allowed = schema.entity(entity).and_then(|e| e.relation(relation)).is_some_and(|r| r.allows(subject, ""));
        assert!(allowed, "{entity}#{relation}@{subject}");
    }
    // Read is inherited through parent.
    let page = schema.entity("page").unwrap();
    assert!(page.permission("read").is_some());
}

#[test]
fn a_search_cut_short_is_marked_incomplete() {
    let mut w = world(3, 230);
    assert!(run(&mut w).incomplete.is_empty(), "a whole listing is complete");
    w.search_cap = Some(150);
    let listing = run(&mut w);
    // What was listed still counts (it may be added); the part is marked so
    // that nothing of it is removed for not being seen.
    assert_eq!(listing.objects_seen(), 150);
    assert_eq!(listing.incomplete, vec![Part::Objects]);
    assert!(plan(&listing, "W").contains_key(&Part::Objects));
}
