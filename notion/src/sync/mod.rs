//! Notion access → relationship tuples, minus the I/O.
//!
//! What the API can tell (docs/notion-api.md §4): the workspace's users
//! (people and bots; not guests), every page and data source shared with
//! the integration (search), and each object's parent. It cannot tell who
//! a page is shared with. So a sync of workspace W mirrors exactly that:
//!
//! - `workspace:W#member@user:U` for every person, `workspace:W#bot@user:B`
//!   for every bot;
//! - `page:P#workspace@workspace:W` for every visible page, and
//!   `page:P#parent@page:Q` or `page:P#parent@database:D` for its parent;
//! - `database:D#workspace@workspace:W` for every database seen through
//!   one of its data sources, and `database:D#parent@page:Q` for its parent.
//!
//! [`collect`] lists users and search results page by page (100 at a time:
//! ⌈N/100⌉ + ⌈M/100⌉ requests) and asks `GET /v1/blocks/{id}` only for
//! objects nested in a block, once per block. [`plan`] turns the listing
//! into tuples. A part the integration may not read (403
//! `restricted_resource`) is reported as a missing capability, and the
//! tuples of that part are left as they were. A listing Notion cut short
//! (search stops at 10,000 results with `request_status` `incomplete`)
//! still adds what it saw, but removes nothing: what it did not reach may
//! well still be shared ([`Listing::incomplete`]). Search is not
//! exhaustive either (docs/notion-api.md §3.1: only directly shared roots
//! are guaranteed; their descendants appear once indexed, and the index
//! changes): an object an earlier sync saw ([`Known`]) that search leaves
//! out is looked up by id, and stays if Notion still shows it.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use crate::http::Method;

/// Objects an earlier sync left out of search may be looked up one by one
/// at most this many times a sync; beyond, the rest count as gone (many
/// missing at once is an un-share, not the index).
pub const MAX_LOOKUPS: usize = 200;

/// Most pages a listing may span (100 objects each): a bound on a sync
/// whose cursors never end.
pub const MAX_PAGES: usize = 10_000;
/// Most block levels walked up to find an object's page or database.
pub const MAX_BLOCK_DEPTH: usize = 16;

/// How a fetch ended, for the listing logic.
#[derive(Debug)]
pub enum Fetched<E> {
    /// 403 `restricted_resource`: the integration lacks the capability.
    Restricted,
    /// 404 `object_not_found`: not shared with the integration (or gone).
    NotFound,
    /// 400 about `start_cursor`: the cursor expired; restart the listing.
    InvalidCursor,
    /// Anything else ends the sync with the caller's error.
    Fail(E),
}

/// An object's parent, as the API describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parent {
    Workspace,
    Page(String),
    Database(String),
    /// A data source, with its database when the API names it.
    DataSource { data_source: String, database: Option<String> },
    Block(String),
    /// Absent, of a kind without meaning here (`agent_id`), or unreachable.
    None,
}

impl Parent {
    fn from_json(v: Option<&Value>) -> Parent {
        let Some(v) = v else { return Parent::None };
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        match v.get("type").and_then(Value::as_str) {
            Some("workspace") => Parent::Workspace,
            Some("page_id") => s("page_id").map_or(Parent::None, Parent::Page),
            Some("database_id") => s("database_id").map_or(Parent::None, Parent::Database),
            Some("data_source_id") => match s("data_source_id") {
                Some(data_source) => Parent::DataSource { data_source, database: s("database_id") },
                None => Parent::None,
            },
            Some("block_id") => s("block_id").map_or(Parent::None, Parent::Block),
            _ => Parent::None,
        }
    }
}

/// A user of the workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub bot: bool,
}

/// A page or data source from search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Object {
    Page { id: String, parent: Parent },
    /// A data source of database `database`, which sits under `database_parent`.
    DataSource { id: String, database: String, database_parent: Parent },
}

/// What a sync saw.
#[derive(Debug, Default)]
pub struct Listing {
    /// None when the integration may not list users.
    pub users: Option<Vec<User>>,
    /// None when the integration may not read content.
    pub objects: Option<Vec<Object>>,
    /// Each block met as a parent, resolved to the page or database above it.
    pub blocks: HashMap<String, Parent>,
    pub requests: u32,
    pub missing_capabilities: Vec<&'static str>,
    /// Parts whose listing Notion cut short (`request_status` `incomplete`):
    /// their tuples may be added to, never removed from.
    pub incomplete: Vec<Part>,
    /// Objects search left out that Notion still showed when looked up by id.
    pub looked_up: u32,
}

/// What an earlier sync saw: the pages and databases (by id) whose tuples
/// it owns.
#[derive(Debug, Default)]
pub struct Known {
    pub pages: BTreeSet<String>,
    pub databases: BTreeSet<String>,
}

impl Listing {
    /// Objects seen (pages and data sources).
    pub fn objects_seen(&self) -> usize {
        self.objects.as_ref().map_or(0, Vec::len)
    }
}

/// A tuple the sync owns (no subject relation: the sync writes none).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SyncTuple {
    pub entity_type: &'static str,
    pub entity_id: String,
    pub relation: &'static str,
    pub subject_type: &'static str,
    pub subject_id: String,
}

impl std::fmt::Display for SyncTuple {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}#{}@{}:{}", self.entity_type, self.entity_id, self.relation, self.subject_type, self.subject_id)
    }
}

/// Which part of the mirror a tuple belongs to: a part the integration
/// could not read keeps its tuples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Part {
    Users,
    Objects,
}

impl Part {
    pub fn as_str(self) -> &'static str {
        match self {
            Part::Users => "users",
            Part::Objects => "objects",
        }
    }
}

/// The relations the sync writes, as (entity, relation, subject type): the
/// active model must allow each.
pub const RELATIONS: [(&str, &str, &str); 7] = [
    ("workspace", "member", "user"),
    ("workspace", "bot", "user"),
    ("page", "workspace", "workspace"),
    ("page", "parent", "page"),
    ("page", "parent", "database"),
    ("database", "workspace", "workspace"),
    ("database", "parent", "page"),
];

fn json(body: &[u8]) -> Option<Value> {
    serde_json::from_slice(body).ok()
}

/// A cursor from a list answer: Some(cursor) when there is more.
fn next_cursor(v: &Value) -> Option<String> {
    if v.get("has_more").and_then(Value::as_bool) == Some(true) {
        v.get("next_cursor").and_then(Value::as_str).map(str::to_owned)
    } else {
        None
    }
}

/// One request: method, path (with query), JSON body; the answer's body.
pub type Fetch<'a, E> = dyn FnMut(Method, &str, Option<Vec<u8>>) -> Result<Vec<u8>, Fetched<E>> + 'a;

/// One page of a listing, from its cursor.
type Page<'a, E> = dyn FnMut(Option<&str>, &mut Listing) -> Result<Vec<u8>, Fetched<E>> + 'a;

/// Lists everything a sync needs through `fetch` (which performs one
/// request and counts nothing itself); `known` is what the last sync saw.
pub fn collect<E>(
    fetch: &mut Fetch<'_, E>,
    known: &Known,
    malformed: &dyn Fn(String) -> E,
) -> Result<Listing, E> {
    let mut listing = Listing::default();
    let mut counted = |method: Method, path: &str, body: Option<Vec<u8>>, listing: &mut Listing| {
        listing.requests += 1;
        fetch(method, path, body)
    };

    // Users: GET with the cursor in the query string.
    let users = paginate(
        &mut |cursor, listing: &mut Listing| {
            let path = match cursor {
                Some(c) => format!("/v1/users?page_size=100&start_cursor={}", encode(c)),
                None => "/v1/users?page_size=100".to_owned(),
            };
            counted(Method::Get, &path, None, listing)
        },
        &mut listing,
        malformed,
    )?;
    listing.users = match users {
        Some((results, complete)) => {
            if !complete {
                listing.incomplete.push(Part::Users);
            }
            Some(results.iter().filter_map(parse_user).collect())
        }
        None => {
            listing.missing_capabilities.push("user information");
            None
        }
    };

    // Search: POST with the cursor in the body.
    let found = paginate(
        &mut |cursor, listing: &mut Listing| {
            let mut body = serde_json::json!({ "page_size": 100 });
            if let Some(c) = cursor {
                body["start_cursor"] = Value::String(c.to_owned());
            }
            counted(Method::Post, "/v1/search", Some(body.to_string().into_bytes()), listing)
        },
        &mut listing,
        malformed,
    )?;
    listing.objects = match found {
        Some((results, complete)) => {
            if !complete {
                listing.incomplete.push(Part::Objects);
            }
            Some(results.iter().filter_map(parse_object).collect())
        }
        None => {
            listing.missing_capabilities.push("read content");
            None
        }
    };

    // What an earlier sync saw and search left out: looked up by id (a
    // listing cut short removes nothing anyway).
    if !listing.incomplete.contains(&Part::Objects) {
        let missing: Vec<String> = match &listing.objects {
            Some(objects) => {
                let mut pages = known.pages.clone();
                let mut databases = known.databases.clone();
                for object in objects {
                    match object {
                        Object::Page { id, .. } => pages.remove(id),
                        Object::DataSource { database, .. } => databases.remove(database),
                    };
                }
                let pages = pages.into_iter().map(|id| format!("/v1/pages/{}", encode(&id)));
                pages.chain(databases.into_iter().map(|id| format!("/v1/databases/{}", encode(&id)))).collect()
            }
            None => Vec::new(),
        };
        for path in missing.into_iter().take(MAX_LOOKUPS) {
            let found = match counted(Method::Get, &path, None, &mut listing) {
                Ok(body) => json(&body).as_ref().and_then(parse_object),
                // Gone, or no longer shared with the integration.
                Err(Fetched::NotFound | Fetched::Restricted | Fetched::InvalidCursor) => None,
                Err(Fetched::Fail(e)) => return Err(e),
            };
            if let (Some(object), Some(objects)) = (found, listing.objects.as_mut()) {
                objects.push(object);
                listing.looked_up += 1;
            }
        }
    }

    // Blocks that objects sit in: walk up to a page or database, once each.
    let mut pending: Vec<String> = Vec::new();
    for object in listing.objects.iter().flatten() {
        let parent = match object {
            Object::Page { parent, .. } => parent,
            Object::DataSource { database_parent, .. } => database_parent,
        };
        if let Parent::Block(b) = parent {
            pending.push(b.clone());
        }
    }
    for block in pending {
        let mut chain = Vec::new();
        let mut current = block;
        let resolved = loop {
            if let Some(known) = listing.blocks.get(&current) {
                break known.clone();
            }
            if chain.len() >= MAX_BLOCK_DEPTH || chain.contains(&current) {
                break Parent::None;
            }
            chain.push(current.clone());
            let answer = counted(Method::Get, &format!("/v1/blocks/{}", encode(&current)), None, &mut listing);
            let parent = match answer {
                Ok(body) => Parent::from_json(json(&body).as_ref().and_then(|v| v.get("parent"))),
                Err(Fetched::NotFound | Fetched::Restricted | Fetched::InvalidCursor) => Parent::None,
                Err(Fetched::Fail(e)) => return Err(e),
            };
            match parent {
                Parent::Block(up) => current = up,
                other => break other,
            }
        };
        for b in chain {
            listing.blocks.insert(b, resolved.clone());
        }
    }
    Ok(listing)
}

/// Fetches every page of a list, and whether Notion listed it whole (not
/// `request_status` `incomplete` on its last page); None when the list is
/// restricted. An expired cursor restarts the listing (once).
fn paginate<E>(
    page: &mut Page<'_, E>,
    listing: &mut Listing,
    malformed: &dyn Fn(String) -> E,
) -> Result<Option<(Vec<Value>, bool)>, E> {
    let mut restarted = false;
    'listing: loop {
        let mut results = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let body = match page(cursor.as_deref(), listing) {
                Ok(body) => body,
                Err(Fetched::Restricted) => return Ok(None),
                Err(Fetched::InvalidCursor) if !restarted && cursor.is_some() => {
                    restarted = true;
                    continue 'listing;
                }
                Err(Fetched::InvalidCursor | Fetched::NotFound) => {
                    return Err(malformed("Notion refused a listing request".into()));
                }
                Err(Fetched::Fail(e)) => return Err(e),
            };
            let Some(v) = json(&body) else { return Err(malformed("a listing answer is not JSON".into())) };
            let Some(items) = v.get("results").and_then(Value::as_array) else {
                return Err(malformed("a listing answer has no results".into()));
            };
            results.extend(items.iter().cloned());
            match next_cursor(&v) {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                Some(_) => return Err(malformed("Notion repeated a cursor".into())),
                None => {
                    let complete = v.pointer("/request_status/type").and_then(Value::as_str) != Some("incomplete");
                    return Ok(Some((results, complete)));
                }
            }
        }
        return Err(malformed(format!("a listing went on for more than {MAX_PAGES} pages")));
    }
}

fn parse_user(v: &Value) -> Option<User> {
    let id = v.get("id")?.as_str()?.to_owned();
    match v.get("type").and_then(Value::as_str) {
        Some("person") => Some(User { id, bot: false }),
        Some("bot") => Some(User { id, bot: true }),
        _ => None,
    }
}

fn parse_object(v: &Value) -> Option<Object> {
    let trashed = v.get("in_trash").and_then(Value::as_bool) == Some(true)
        || v.get("archived").and_then(Value::as_bool) == Some(true);
    if trashed {
        return None;
    }
    let id = v.get("id")?.as_str()?.to_owned();
    match v.get("object").and_then(Value::as_str) {
        Some("page") => Some(Object::Page { id, parent: Parent::from_json(v.get("parent")) }),
        Some("data_source") => {
            let database = match Parent::from_json(v.get("parent")) {
                Parent::Database(d) => d,
                _ => return None,
            };
            Some(Object::DataSource { id, database, database_parent: Parent::from_json(v.get("database_parent")) })
        }
        // Under 2022-06-28 search returns databases themselves.
        Some("database") => Some(Object::DataSource {
            id: id.clone(),
            database: id,
            database_parent: Parent::from_json(v.get("parent")),
        }),
        _ => None,
    }
}

/// Percent-encodes what is not unreserved (cursors and ids are opaque).
fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The tuples a listing stands for, by part. Parts the integration could
/// not read are absent (their tuples are to be kept as they are).
pub fn plan(listing: &Listing, workspace_id: &str) -> HashMap<Part, BTreeSet<SyncTuple>> {
    let t = |entity_type, entity_id: &str, relation, subject_type, subject_id: &str| SyncTuple {
        entity_type,
        entity_id: entity_id.to_owned(),
        relation,
        subject_type,
        subject_id: subject_id.to_owned(),
    };
    let mut out = HashMap::new();
    if let Some(users) = &listing.users {
        let set = users
            .iter()
            .map(|u| t("workspace", workspace_id, if u.bot { "bot" } else { "member" }, "user", &u.id))
            .collect();
        out.insert(Part::Users, set);
    }
    if let Some(objects) = &listing.objects {
        // Data source → database, for page parents that name only the source.
        let databases: HashMap<&str, &str> = objects
            .iter()
            .filter_map(|o| match o {
                Object::DataSource { id, database, .. } => Some((id.as_str(), database.as_str())),
                _ => None,
            })
            .collect();
        let resolve = |parent: &Parent| -> Parent {
            match parent {
                Parent::Block(b) => listing.blocks.get(b).cloned().unwrap_or(Parent::None),
                other => other.clone(),
            }
        };
        let mut set = BTreeSet::new();
        for object in objects {
            match object {
                Object::Page { id, parent } => {
                    set.insert(t("page", id, "workspace", "workspace", workspace_id));
                    match resolve(parent) {
                        Parent::Page(q) => {
                            set.insert(t("page", id, "parent", "page", &q));
                        }
                        Parent::Database(d) | Parent::DataSource { database: Some(d), .. } => {
                            set.insert(t("page", id, "parent", "database", &d));
                        }
                        Parent::DataSource { data_source, database: None } => {
                            if let Some(d) = databases.get(data_source.as_str()) {
                                set.insert(t("page", id, "parent", "database", d));
                            }
                        }
                        Parent::Workspace | Parent::Block(_) | Parent::None => {}
                    }
                }
                Object::DataSource { database, database_parent, .. } => {
                    set.insert(t("database", database, "workspace", "workspace", workspace_id));
                    if let Parent::Page(q) = resolve(database_parent) {
                        set.insert(t("database", database, "parent", "page", &q));
                    }
                }
            }
        }
        out.insert(Part::Objects, set);
    }
    out
}

/// The model the sync writes into: Permify's Notion model (the seed),
/// with pages under pages or databases and databases under pages
/// (`parent`), `read` and `write` inherited through `parent` as well as
/// from the workspace. Extend it with your own entities and relations and
/// keep syncing: the sync needs only [`RELATIONS`].
pub const NOTION_MODEL: &str = include_str!("notion_model.perm");

#[cfg(test)]
mod tests;
