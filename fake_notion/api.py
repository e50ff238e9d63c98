"""The /v1 content endpoints (2025-09-03 shapes, a few classic variants).

Each handler gets a Ctx (see app.py) whose bot is already authenticated and
rate-limited, runs under the state lock, and returns the JSON body (the app
adds request_id). Errors are raised as errors.ApiError.
"""

import ids
import pagination
import query as dsquery
import values
from errors import UNDEFINED, bad_path_id, invalid_request_url, not_found, quote_value, restricted, \
    user_not_found, validation
from fixture import BLOCK_TYPES
from state import Node

MAX_CHILDREN = 100


# --- helpers ----------------------------------------------------------------

def _require(ctx, capability):
    if not ctx.client.can(capability):
        raise restricted()


def _require_users(ctx):
    if ctx.client.user_info == "none":
        raise restricted()


def _path_id(raw, name):
    parsed = ids.parse(raw)
    if parsed is None:
        raise bad_path_id(name, raw)
    return parsed


def _missing(ctx, word, object_id):
    return not_found(word, object_id, ctx.client.name, ctx.bot.id)


def _visible(ctx, object_id):
    node = ctx.world.nodes.get(object_id)
    if node is not None and ctx.world.visible(ctx.bot, node):
        return node
    return None


def _query_one(ctx, key):
    vals = ctx.query.get(key)
    return vals[0] if vals else UNDEFINED


def _get_paging(ctx):
    size = pagination.page_size(_query_one(ctx, "page_size"), "query")
    cursor = _query_one(ctx, "start_cursor")
    return size, (None if cursor is UNDEFINED or cursor == "" else cursor)


def _post_paging(ctx):
    pagination.reject_query_paging(ctx.query)
    size = pagination.page_size(ctx.body.get("page_size", UNDEFINED), "body")
    return size, pagination.body_cursor(ctx.body)


def _filter_properties(ctx, page_obj):
    wanted = ctx.query.get("filter_properties")
    if not wanted:
        return page_obj
    from urllib.parse import unquote
    keep = set(wanted) | {unquote(w) for w in wanted}
    page_obj["properties"] = {n: p for n, p in page_obj["properties"].items()
                              if p["id"] in keep or unquote(p["id"]) in keep}
    return page_obj


def _not_classic(ctx):
    if ctx.view.classic:
        raise invalid_request_url()


def _one_source(ctx, db):
    live = [d for d in db.data_sources if not ctx.world.nodes[d].deleted]
    if len(live) != 1:
        raise validation(f"Databases with multiple data sources are not supported in this API version "
                         f"({ctx.version}). Use a data_source_id instead of database {db.id}.")
    return ctx.world.nodes[live[0]]


# --- search -----------------------------------------------------------------

def search(ctx):
    _require(ctx, "read_content")
    size, cursor = _post_paging(ctx)
    body = ctx.body
    q = body.get("query", UNDEFINED)
    if q is not UNDEFINED and q is not None and not isinstance(q, str):
        raise validation(f"body failed validation: body.query should be a string or `undefined`, "
                         f"instead was {quote_value(q)}.")
    q = "" if q is UNDEFINED or q is None else q.strip().lower()

    container = "database" if ctx.view.classic else "data_source"
    want_kind, want_trash = None, False
    flt = body.get("filter")
    if flt is not None:
        if not isinstance(flt, dict):
            raise validation(f"body failed validation: body.filter should be an object or `undefined`, "
                             f"instead was {quote_value(flt)}.")
        if "value" in flt or "property" in flt:
            if flt.get("property") != "object":
                raise validation(f"body failed validation: body.filter.property should be `\"object\"`, "
                                 f"instead was {quote_value(flt.get('property', UNDEFINED))}.")
            if flt.get("value") not in ("page", container):
                raise validation(f"body failed validation: body.filter.value should be `\"page\"` or "
                                 f"`\"{container}\"`, instead was {quote_value(flt.get('value', UNDEFINED))}.")
            want_kind = "page" if flt["value"] == "page" else container
        if "in_trash" in flt:
            if not isinstance(flt["in_trash"], bool):
                raise validation(f"body failed validation: body.filter.in_trash should be a boolean, "
                                 f"instead was {quote_value(flt['in_trash'])}.")
            want_trash = flt["in_trash"]

    direction = "descending"
    sort = body.get("sort")
    if sort is not None:
        if not isinstance(sort, dict):
            raise validation(f"body failed validation: body.sort should be an object, instead was {quote_value(sort)}.")
        if sort.get("property") == "relevance":
            direction = "descending"
        else:
            if sort.get("timestamp") != "last_edited_time":
                raise validation(f"body failed validation: body.sort.timestamp should be `\"last_edited_time\"`, "
                                 f"instead was {quote_value(sort.get('timestamp', UNDEFINED))}.")
            direction = sort.get("direction", "descending")
            if direction not in ("ascending", "descending"):
                raise validation(f"body failed validation: body.sort.direction should be `\"ascending\"` or "
                                 f"`\"descending\"`, instead was {quote_value(direction)}.")

    world, bot = ctx.world, ctx.bot
    lag = ctx.settings["search_index_lag_seconds"]
    found = []
    for node in world.accessible_nodes(bot):
        kind = node.kind
        if ctx.view.classic and kind == "data_source":
            continue
        if not ctx.view.classic and kind == "database":
            continue
        if kind not in ("page", "data_source", "database"):
            continue
        if want_kind is not None and kind != want_kind:
            continue
        if world.trashed(node) != want_trash:
            continue
        if lag and node.id not in bot.roots:
            # Reachable only through indexing: wait for the index.
            root = world.access_root(bot, node)
            since = max(bot.roots.get(root.id, 0.0), node.indexed_at)
            if kind == "data_source":
                since = max(since, world.nodes[node.parent_id].indexed_at)
            if ctx.now < since + lag:
                continue
        title = node.page_title() if kind == "page" else node.title
        if q and q not in title.lower():
            continue
        found.append(node)
    found.sort(key=lambda n: (n.last_edited_time, n.id), reverse=(direction == "descending"))
    render = {"page": ctx.view.page, "data_source": ctx.view.data_source, "database": ctx.view.database}
    items, cut = pagination.capped([(n.id, n) for n in found], ctx.settings["query_result_limit"])
    page, next_cursor, has_more = ctx.cursors.page(items, cursor, size, bot.id, "search", ctx.now,
                                                   ctx.settings["cursor_ttl_seconds"])
    results = [render[n.kind](n) for n in page]
    return pagination.envelope(results, next_cursor, has_more,
                               "page_or_database" if ctx.view.classic else "page_or_data_source", cut)


# --- users ------------------------------------------------------------------

def users_list(ctx):
    _require_users(ctx)
    size, cursor = _get_paging(ctx)
    items = [(uid, uid) for uid in ctx.world.listed_users(ctx.bot.workspace_id)]
    page, next_id, has_more = pagination.by_id_cursor(items, cursor, size)
    return pagination.envelope([ctx.view.user(uid) for uid in page], next_id, has_more, "user")


def users_retrieve(ctx, raw):
    _require_users(ctx)
    uid = _path_id(raw, "user_id")
    if ctx.world.role(ctx.bot.workspace_id, uid) is None:
        raise user_not_found(uid, ctx.bot.id)
    return ctx.view.user(uid)


def users_me(ctx):
    # The token's own bot, always with its owner and workspace (as recorded);
    # no user-information capability is needed to know oneself.
    bot = ctx.bot
    return {"object": "user", "id": bot.id, "name": ctx.client.name, "avatar_url": None, "type": "bot",
            "bot": ctx.view.bot_info(bot)}


# --- pages ------------------------------------------------------------------

def pages_retrieve(ctx, raw):
    _require(ctx, "read_content")
    pid = _path_id(raw, "page_id")
    node = _visible(ctx, pid)
    if node is not None and node.kind == "database":
        raise validation(f"Provided ID {pid} is a database, not a page. Use the retrieve database API instead.")
    if node is None or node.kind != "page":
        raise _missing(ctx, "page", pid)
    return _filter_properties(ctx, ctx.view.page(node))


def _parent_of_new_page(ctx, parent):
    """Resolves a POST /v1/pages parent to (kind, node); kind in page,
    data_source, workspace."""
    if parent is UNDEFINED:
        raise validation("body failed validation: body.parent should be defined, instead was `undefined`.")
    if not isinstance(parent, dict):
        raise validation(f"body failed validation: body.parent should be an object, instead was {quote_value(parent)}.")
    kind = parent.get("type")
    if kind is None:
        for k in ("page_id", "data_source_id", "database_id", "workspace"):
            if k in parent:
                kind = k
                break
    if kind == "workspace":
        if parent.get("workspace") is not True:
            raise validation("body failed validation: body.parent.workspace should be `true`.")
        return "workspace", None
    if kind not in ("page_id", "data_source_id", "database_id"):
        raise validation(f"body failed validation: body.parent should have one of page_id, data_source_id, "
                         f"database_id or workspace, instead was {quote_value(parent)}.")
    if kind == "data_source_id" and ctx.view.classic:
        raise validation("body failed validation: body.parent.data_source_id is not supported before 2025-09-03.")
    raw = parent.get(kind, UNDEFINED)
    oid = ids.parse(raw)
    if oid is None:
        raise validation(f"body failed validation: body.parent.{kind} should be a valid uuid, "
                         f"instead was {quote_value(raw)}.")
    node = _visible(ctx, oid)
    word = kind[:-3]  # page, data_source, database
    if kind == "page_id":
        if node is not None and node.kind == "database":
            raise validation(f"Provided ID {oid} is a database, not a page. Use a database or data source parent.")
        if node is None or node.kind != "page":
            raise _missing(ctx, word, oid)
        return "page", node
    if kind == "data_source_id":
        if node is None or node.kind != "data_source":
            raise _missing(ctx, word, oid)
        return "data_source", node
    if node is None or node.kind != "database":
        raise _missing(ctx, word, oid)
    return "data_source", _one_source(ctx, node)


def _blocks_from_request(ctx, children, path, depth):
    if not isinstance(children, list):
        raise validation(f"body failed validation: {path} should be an array, instead was {quote_value(children)}.")
    if len(children) > MAX_CHILDREN:
        raise validation(f"body failed validation: {path}.length should be ≤ `{MAX_CHILDREN}`, "
                         f"instead was `{len(children)}`.")
    out = []
    for i, child in enumerate(children):
        cpath = f"{path}[{i}]"
        if not isinstance(child, dict):
            raise validation(f"body failed validation: {cpath} should be an object, instead was {quote_value(child)}.")
        btype = child.get("type") or next((k for k in child if k in BLOCK_TYPES), None)
        if btype not in BLOCK_TYPES:
            raise validation(f"body failed validation: {cpath} block type {btype!r} is not modelled by fake_notion "
                             f"({', '.join(BLOCK_TYPES)}).")
        payload = child.get(btype, {})
        if not isinstance(payload, dict):
            raise validation(f"body failed validation: {cpath}.{btype} should be an object, "
                             f"instead was {quote_value(payload)}.")
        content = {}
        if btype != "divider":
            content["rich_text"] = values.rich_text_from_request(payload.get("rich_text", []), f"{cpath}.{btype}.rich_text")
            content["color"] = payload.get("color", "default")
            if btype == "to_do":
                content["checked"] = bool(payload.get("checked", False))
            if btype.startswith("heading_"):
                content["is_toggleable"] = bool(payload.get("is_toggleable", False))
            if btype == "callout":
                content["icon"] = payload.get("icon")
        nested = payload.get("children", child.get("children"))
        sub = []
        if nested:
            if depth >= 2:
                raise validation(f"body failed validation: {cpath} nests children more than two levels deep.")
            sub = _blocks_from_request(ctx, nested, f"{cpath}.{btype}.children", depth + 1)
        out.append((btype, content, sub))
    return out


def _store_blocks(ctx, parent_kind, parent_id, blocks):
    made = []
    for btype, content, sub in blocks:
        node = Node(ids.fresh(), "block", ctx.bot.workspace_id, parent_kind, parent_id)
        node.block_type = btype
        node.content = content
        _stamp_new(ctx, node)
        ctx.world.nodes[node.id] = node
        node.children = _store_blocks(ctx, "block", node.id, sub)
        made.append(node.id)
    return made


def _stamp_new(ctx, node):
    node.created_time = node.last_edited_time = ctx.now
    node.created_by = node.last_edited_by = ctx.bot.id
    node.indexed_at = ctx.now


def pages_create(ctx):
    _require(ctx, "insert_content")
    body = ctx.body
    kind, parent = _parent_of_new_page(ctx, body.get("parent", UNDEFINED))
    if parent is not None and ctx.world.trashed(parent):
        raise validation("Can't edit block that is archived. You must unarchive the block before editing.")
    props = body.get("properties", {})
    if props is None:
        props = {}
    if not isinstance(props, dict):
        raise validation(f"body failed validation: body.properties should be an object, instead was {quote_value(props)}.")

    users_ok = (lambda uid: ctx.world.role(ctx.bot.workspace_id, uid) in ("member", "guest", "bot"))
    can_add = ctx.client.can("update_content")
    stored = {}
    title = ""
    if kind == "data_source":
        for key, value in props.items():
            prop = dsquery.find_property(parent.schema, key)
            if prop is None:
                raise validation(f"{key} is not a property that exists.")
            stored[prop["name"]] = values.value_from_request(prop, value, f"body.properties.{key}", users_ok, can_add)
    else:
        title_prop = {"id": "title", "name": "title", "type": "title", "config": {}}
        for key, value in props.items():
            if key != "title":
                raise validation(f"{key} is not a property that exists.")
            title = values.plain(values.value_from_request(title_prop, value, "body.properties.title", users_ok,
                                                           can_add)["title"])

    children = body.get("children")
    blocks = _blocks_from_request(ctx, children, "body.children", 1) if children is not None else []
    for key in ("icon", "cover"):
        v = body.get(key)
        if v is not None and not isinstance(v, dict):
            raise validation(f"body failed validation: body.{key} should be an object or `null`, "
                             f"instead was {quote_value(v)}.")

    world = ctx.world
    if kind == "workspace":
        node = Node(ids.fresh(), "page", ctx.bot.workspace_id, "workspace", None)
    elif kind == "page":
        node = Node(ids.fresh(), "page", ctx.bot.workspace_id, "page", parent.id)
    else:
        node = Node(ids.fresh(), "page", ctx.bot.workspace_id, "data_source", parent.id)
    _stamp_new(ctx, node)
    node.title = title
    node.icon = body.get("icon")
    node.cover = body.get("cover")
    if kind == "data_source":
        for name, prop in parent.schema.items():
            node.props[name] = stored.get(name) or {"type": prop["type"], prop["type"]: values.empty_value(prop["type"])}
    world.nodes[node.id] = node
    node.children = _store_blocks(ctx, "page", node.id, blocks)
    if kind == "workspace":
        world.workspaces[ctx.bot.workspace_id].top.append(node.id)
        # A private top-level page made by the integration is its own root.
        ctx.bot.roots[node.id] = ctx.now
    elif kind == "page":
        parent.children.append(node.id)
        parent.last_edited_time = ctx.now
    else:
        parent.rows.append(node.id)
    return ctx.view.page(node)


# --- databases and data sources --------------------------------------------

def databases_retrieve(ctx, raw):
    _require(ctx, "read_content")
    did = _path_id(raw, "database_id")
    node = _visible(ctx, did)
    if node is not None and node.kind == "page":
        raise validation(f"Provided ID {did} is a page, not a database. Use the retrieve page API instead.")
    if node is None or node.kind != "database":
        raise _missing(ctx, "database", did)
    if ctx.view.classic:
        _one_source(ctx, node)
    return ctx.view.database(node)


def data_sources_retrieve(ctx, raw):
    _not_classic(ctx)
    _require(ctx, "read_content")
    dsid = _path_id(raw, "data_source_id")
    node = _visible(ctx, dsid)
    if node is None or node.kind != "data_source":
        raise _missing(ctx, "data_source", dsid)
    return ctx.view.data_source(node)


def _query_rows(ctx, ds, scope):
    size, cursor = _post_paging(ctx)
    body = ctx.body
    in_trash = body.get("in_trash", False)
    if not isinstance(in_trash, bool):
        raise validation(f"body failed validation: body.in_trash should be a boolean, instead was {quote_value(in_trash)}.")
    result_type = body.get("result_type")
    if result_type not in (None, "page", "data_source"):
        raise validation(f"body failed validation: body.result_type should be `\"page\"` or `\"data_source\"`, "
                         f"instead was {quote_value(result_type)}.")
    pred = dsquery.compile_filter(body.get("filter"), ds.schema)
    rows = []
    if result_type != "data_source":
        for rid in ds.rows:
            row = ctx.world.nodes.get(rid)
            if row is None or row.deleted or ctx.world.trashed(row) != in_trash:
                continue
            if pred(row):
                rows.append(row)
    rows = dsquery.sort_rows(rows, body.get("sorts"), ds.schema)
    items, cut = pagination.capped([(r.id, r) for r in rows], ctx.settings["query_result_limit"])
    page, next_cursor, has_more = ctx.cursors.page(items, cursor, size, ctx.bot.id, scope, ctx.now,
                                                   ctx.settings["cursor_ttl_seconds"])
    results = [_filter_properties(ctx, ctx.view.page(r)) for r in page]
    return pagination.envelope(results, next_cursor, has_more,
                               "page_or_database" if ctx.view.classic else "page_or_data_source", cut)


def data_sources_query(ctx, raw):
    _not_classic(ctx)
    _require(ctx, "read_content")
    dsid = _path_id(raw, "data_source_id")
    node = _visible(ctx, dsid)
    if node is None or node.kind != "data_source":
        raise _missing(ctx, "data_source", dsid)
    return _query_rows(ctx, node, ("query", node.id))


def databases_query(ctx, raw):
    """Classic versions only: /v1/databases/{id}/query (gone since 2025-09-03)."""
    if not ctx.view.classic:
        raise invalid_request_url()
    _require(ctx, "read_content")
    did = _path_id(raw, "database_id")
    node = _visible(ctx, did)
    if node is None or node.kind != "database":
        raise _missing(ctx, "database", did)
    ds = _one_source(ctx, node)
    return _query_rows(ctx, ds, ("query", ds.id))


# --- blocks -----------------------------------------------------------------

def blocks_retrieve(ctx, raw):
    _require(ctx, "read_content")
    bid = _path_id(raw, "block_id")
    node = _visible(ctx, bid)
    if node is None or node.kind not in ("page", "database", "block"):
        raise _missing(ctx, "block", bid)
    return ctx.view.block(node)


def blocks_children(ctx, raw):
    _require(ctx, "read_content")
    bid = _path_id(raw, "block_id")
    size, cursor = _get_paging(ctx)
    node = _visible(ctx, bid)
    if node is None or node.kind not in ("page", "database", "block"):
        raise _missing(ctx, "block", bid)
    items = [(c.id, c) for c in ctx.world.block_children(node)]
    page, next_id, has_more = pagination.by_id_cursor(items, cursor, size)
    return pagination.envelope([ctx.view.block(c) for c in page], next_id, has_more, "block")


def blocks_delete(ctx, raw):
    """Soft delete (trash), as DELETE /v1/blocks/{id} does for blocks, pages
    and databases."""
    _require(ctx, "update_content")
    bid = _path_id(raw, "block_id")
    node = _visible(ctx, bid)
    if node is None or node.kind not in ("page", "database", "block"):
        raise _missing(ctx, "block", bid)
    node.in_trash = True
    node.last_edited_time = ctx.now
    node.last_edited_by = ctx.bot.id
    return ctx.view.block(node)


# --- comments ---------------------------------------------------------------

def comments_list(ctx):
    _require(ctx, "read_comments")
    raw = _query_one(ctx, "block_id")
    if raw is UNDEFINED:
        raise validation("query failed validation: query.block_id should be defined, instead was `undefined`.")
    bid = ids.parse(raw)
    if bid is None:
        raise validation(f"query failed validation: query.block_id should be a valid uuid, instead was {quote_value(raw)}.")
    size, cursor = _get_paging(ctx)
    node = _visible(ctx, bid)
    if node is None or node.kind not in ("page", "block"):
        raise _missing(ctx, "block", bid)
    comments = sorted((c for c in ctx.world.comments.get(node.id, []) if not c["resolved"]),
                      key=lambda c: (c["created_time"], c["id"]))
    items = [(c["id"], c) for c in comments]
    page, next_id, has_more = pagination.by_id_cursor(items, cursor, size)
    return pagination.envelope([ctx.view.comment(node, c) for c in page], next_id, has_more, "comment")


# --- routing table ----------------------------------------------------------

# (method, pattern, handler); patterns capture raw path ids. Order matters:
# /v1/users/me before /v1/users/{id}.
ROUTES = (
    ("POST", r"/v1/search", search),
    ("GET", r"/v1/users", users_list),
    ("GET", r"/v1/users/me", users_me),
    ("GET", r"/v1/users/([^/]+)", users_retrieve),
    ("POST", r"/v1/pages", pages_create),
    ("GET", r"/v1/pages/([^/]+)", pages_retrieve),
    ("GET", r"/v1/databases/([^/]+)", databases_retrieve),
    ("POST", r"/v1/databases/([^/]+)/query", databases_query),
    ("GET", r"/v1/data_sources/([^/]+)", data_sources_retrieve),
    ("POST", r"/v1/data_sources/([^/]+)/query", data_sources_query),
    ("GET", r"/v1/blocks/([^/]+)", blocks_retrieve),
    ("DELETE", r"/v1/blocks/([^/]+)", blocks_delete),
    ("GET", r"/v1/blocks/([^/]+)/children", blocks_children),
    ("GET", r"/v1/comments", comments_list),
)

