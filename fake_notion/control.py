"""The test-control endpoints under /_fake/ (outside the Notion API): no
auth, no Notion-Version, JSON in and out. They steer the world (share,
trash, delete, remove a bot, expire a token), the behaviour (faults, rate
limits, settings, consent, clock) and expose what tests must check (request
log, bots and, since this is a fake, their current token values).

Every endpoint is documented with a curl example in README.md.
"""

import json
import re

import ids
import settings as settings_mod
from clock import iso_z
from state import CONTENT_CAPABILITIES, USER_INFO, Node, User


class ControlError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def _reply(status, body):
    from app import Response

    data = json.dumps(body, ensure_ascii=False, indent=1).encode("utf-8") + b"\n"
    return Response(status, {"Content-Type": "application/json; charset=utf-8"}, data)


def _body(req):
    if not req.body or not req.body.strip():
        return {}
    try:
        value = json.loads(req.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ControlError(400, "body is not JSON") from None
    if not isinstance(value, dict):
        raise ControlError(400, "body must be a JSON object")
    return value


def _need_id(body, key):
    raw = body.get(key)
    parsed = ids.parse(raw) if isinstance(raw, str) else None
    if parsed is None:
        raise ControlError(400, f"{key} must be a Notion id, got {raw!r}")
    return parsed


def _node(app, object_id):
    node = app.world.nodes.get(object_id)
    if node is None:
        raise ControlError(404, f"no object {object_id} in the fixture")
    return node


def _bot(app, bot_id, active=False):
    parsed = ids.parse(bot_id)
    bot = app.world.bots.get(parsed) if parsed else None
    if bot is None:
        raise ControlError(404, f"no bot {bot_id}")
    if active and not bot.active:
        raise ControlError(409, f"bot {bot.id} is no longer active ({bot.ended})")
    return bot


# --- descriptions -----------------------------------------------------------

def _visible_counts(world, bot):
    counts = {"pages": 0, "databases": 0, "data_sources": 0, "blocks": 0, "search_results": 0}
    if not bot.active:
        return counts
    for n in world.accessible_nodes(bot):
        counts[{"page": "pages", "database": "databases", "data_source": "data_sources", "block": "blocks"}[n.kind]] += 1
        if n.kind in ("page", "data_source") and not world.trashed(n):
            counts["search_results"] += 1
    return counts


def describe_bot(app, bot, full=True):
    world = app.world
    ws = world.workspaces[bot.workspace_id]
    out = {
        "bot_id": bot.id,
        "client_id": bot.client_id,
        "workspace_id": bot.workspace_id,
        "workspace_name": ws.name,
        "user_id": bot.user_id,
        "active": bot.active,
        "ended": bot.ended,
        "shared_roots": [
            {"id": rid, "kind": world.nodes[rid].kind if rid in world.nodes else None,
             "title": world.nodes[rid].page_title() if rid in world.nodes else None, "shared_at": iso_z(t)}
            for rid, t in bot.roots.items()
        ],
        "grants": bot.grants,
        "refreshes": bot.refreshes,
        "issued_at": iso_z(bot.issued_at),
    }
    if full:
        # A fake may hand these out: tests check what the extension stored.
        out["access_token"] = bot.access_token
        out["access_token_valid"] = bot.access_valid and bot.active
        out["refresh_token"] = bot.refresh_token if bot.active else None
        out["visible"] = _visible_counts(world, bot)
    return out


def describe_workspace(world, ws):
    kinds = {"page": 0, "database": 0, "data_source": 0, "block": 0}
    for n in world.nodes.values():
        if n.workspace_id == ws.id and world.exists(n):
            kinds[n.kind] += 1
    roles = list(ws.roles.values())
    authorized = [b.id for b in world.bots.values() if b.active and b.workspace_id == ws.id]
    return {
        "id": ws.id,
        "name": ws.name,
        "icon": ws.icon,
        "members": roles.count("member"),
        "guests": roles.count("guest"),
        "bots": roles.count("bot"),
        "authorized_bots": len(authorized),
        "listed_users": len(world.listed_users(ws.id)),
        "top_level": list(ws.top),
        "pages": kinds["page"],
        "databases": kinds["database"],
        "data_sources": kinds["data_source"],
        "blocks": kinds["block"],
    }


# --- handlers ---------------------------------------------------------------

def health(app, req, m):
    return {"ok": True, "fixture": app.world.name, "clock": iso_z(app.clock.now()),
            "clock_offset_seconds": app.clock.offset()}


def get_log(app, req, m):
    since = req.query.get("since", ["0"])[0]
    try:
        since = int(since)
    except ValueError:
        raise ControlError(400, "since must be an integer") from None
    return {"entries": app.log.since(since), "last_seq": app.log.last_seq()}


def clear_log(app, req, m):
    app.log.clear()
    return {"cleared": True, "last_seq": app.log.last_seq()}


def reset(app, req, m):
    app.reset()
    return {"reset": True, "fixture": app.world.name}


def get_faults(app, req, m):
    return {"faults": app.faults.describe()}


def add_faults(app, req, m):
    body = _body(req)
    specs = body["faults"] if "faults" in body else [body]
    added = []
    try:
        for spec in specs:
            added.append(app.faults.add(spec).describe())
    except (ValueError, TypeError) as e:
        raise ControlError(400, str(e)) from None
    return {"added": added, "faults": app.faults.describe()}


def clear_faults(app, req, m):
    app.faults.clear()
    return {"faults": []}


def get_consent(app, req, m):
    return dict(app.world.consent)


def set_consent(app, req, m):
    body = _body(req)
    world = app.world
    consent = dict(world.consent)
    if "mode" in body:
        if body["mode"] not in ("approve", "deny"):
            raise ControlError(400, "mode must be approve or deny")
        consent["mode"] = body["mode"]
    if "workspace_id" in body:
        consent["workspace_id"] = _need_id(body, "workspace_id")
        if consent["workspace_id"] not in world.workspaces:
            raise ControlError(404, f"no workspace {consent['workspace_id']}")
    if "user_id" in body:
        consent["user_id"] = _need_id(body, "user_id")
        if consent["user_id"] not in world.users:
            raise ControlError(404, f"no user {consent['user_id']}")
    if "shared_roots" in body:
        roots = []
        for raw in body["shared_roots"]:
            rid = ids.parse(raw) if isinstance(raw, str) else None
            if rid is None or rid not in world.nodes:
                raise ControlError(400, f"shared_roots: {raw!r} is not an object of the fixture")
            roots.append(rid)
        consent["shared_roots"] = roots
    world.consent = consent
    return dict(consent)


def get_rate_limits(app, req, m):
    return app.limiter.describe(app.clock.now())


def set_rate_limits(app, req, m):
    try:
        app.limiter.configure(_body(req))
    except ValueError as e:
        raise ControlError(400, str(e)) from None
    return app.limiter.describe(app.clock.now())


def reset_rate_counters(app, req, m):
    app.limiter.reset_counters()
    return app.limiter.describe(app.clock.now())


def get_settings(app, req, m):
    return dict(app.settings)


def set_settings(app, req, m):
    try:
        settings_mod.apply(app.settings, _body(req))
    except ValueError as e:
        raise ControlError(400, str(e)) from None
    return dict(app.settings)


def get_clock(app, req, m):
    return {"now": iso_z(app.clock.now()), "offset_seconds": app.clock.offset()}


def advance_clock(app, req, m):
    seconds = _body(req).get("seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
        raise ControlError(400, "seconds must be a non-negative number")
    app.clock.advance(seconds)
    return {"now": iso_z(app.clock.now()), "offset_seconds": app.clock.offset()}


def share(app, req, m):
    body = _body(req)
    bot = _bot(app, body.get("bot_id", ""), active=True)
    node = _node(app, _need_id(body, "object_id"))
    if node.workspace_id != bot.workspace_id:
        raise ControlError(400, f"object {node.id} is not in the bot's workspace")
    bot.roots[node.id] = app.clock.now()
    return describe_bot(app, bot, full=False)


def unshare(app, req, m):
    body = _body(req)
    bot = _bot(app, body.get("bot_id", ""))
    oid = _need_id(body, "object_id")
    if oid not in bot.roots:
        raise ControlError(409, f"{oid} is not a shared root of bot {bot.id} (only roots can be unshared)")
    del bot.roots[oid]
    return describe_bot(app, bot, full=False)


def _set_trash(app, req, value):
    node = _node(app, _need_id(_body(req), "object_id"))
    node.in_trash = value
    node.last_edited_time = app.clock.now()
    return {"object_id": node.id, "kind": node.kind, "in_trash": value}


def trash(app, req, m):
    return _set_trash(app, req, True)


def untrash(app, req, m):
    return _set_trash(app, req, False)


def reindex(app, req, m):
    """The object is indexed afresh (as after an edit or a move): with a
    search_index_lag_seconds setting, search leaves it out for that long,
    while GET by id still shows it."""
    node = _node(app, _need_id(_body(req), "object_id"))
    node.indexed_at = app.clock.now()
    return {"object_id": node.id, "kind": node.kind, "indexed_at": node.indexed_at}


def delete(app, req, m):
    node = _node(app, _need_id(_body(req), "object_id"))
    node.deleted = True
    return {"object_id": node.id, "kind": node.kind, "deleted": True}


def list_bots(app, req, m):
    return {"bots": [describe_bot(app, b) for b in app.world.bots.values()]}


def get_bot(app, req, m):
    return describe_bot(app, _bot(app, m.group(1)))


def remove_bot(app, req, m):
    bot = _bot(app, m.group(1))
    app.world.end_bot(bot, "removed")
    return describe_bot(app, bot)


def expire_access(app, req, m):
    bot = _bot(app, m.group(1), active=True)
    app.world.expire_access(bot)
    return describe_bot(app, bot)


def list_workspaces(app, req, m):
    return {"workspaces": [describe_workspace(app.world, ws) for ws in app.world.workspaces.values()]}


def list_clients(app, req, m):
    return {"clients": [c.describe() for c in app.world.clients.values()]}


def update_client(app, req, m):
    cid = ids.parse(m.group(1))
    client = app.world.clients.get(cid) if cid else None
    if client is None:
        raise ControlError(404, f"no client {m.group(1)}")
    body = _body(req)
    if "redirect_uris" in body:
        uris = body["redirect_uris"]
        if not isinstance(uris, list) or not uris or not all(isinstance(u, str) and u for u in uris):
            raise ControlError(400, "redirect_uris must be a non-empty list of strings")
        client.redirect_uris = list(uris)
    if "client_secret" in body:
        if not isinstance(body["client_secret"], str) or not body["client_secret"]:
            raise ControlError(400, "client_secret must be a non-empty string")
        client.client_secret = body["client_secret"]
    if "capabilities" in body:
        caps = body["capabilities"]
        if not isinstance(caps, list) or any(c not in CONTENT_CAPABILITIES for c in caps):
            raise ControlError(400, f"capabilities must be a list drawn from {CONTENT_CAPABILITIES}")
        client.capabilities = set(caps)
    if "user_info" in body:
        if body["user_info"] not in USER_INFO:
            raise ControlError(400, f"user_info must be one of {USER_INFO}")
        client.user_info = body["user_info"]
    if "name" in body:
        client.name = str(body["name"])
    return client.describe()


def create_page(app, req, m):
    """A page made by a person in the workspace (not by a bot): visible to
    bots only if it lands under one of their shared roots."""
    body = _body(req)
    world = app.world
    now = app.clock.now()
    if "parent_id" in body:
        parent = _node(app, _need_id(body, "parent_id"))
        if parent.kind not in ("page", "block"):
            raise ControlError(400, "parent_id must be a page or a block")
        ws = world.workspaces[parent.workspace_id]
        node = Node(ids.fresh(), "page", ws.id, parent.kind, parent.id)
    else:
        wid = _need_id(body, "workspace_id")
        if wid not in world.workspaces:
            raise ControlError(404, f"no workspace {wid}")
        ws = world.workspaces[wid]
        parent = None
        node = Node(ids.fresh(), "page", ws.id, "workspace", None)
    if "id" in body:
        node.id = _need_id(body, "id")
        if node.id in world.nodes:
            raise ControlError(409, f"{node.id} exists already")
    author = _need_id(body, "created_by") if "created_by" in body else ws.default_author
    node.title = str(body.get("title", "Untitled"))
    node.created_time = node.last_edited_time = now
    node.created_by = node.last_edited_by = author
    node.indexed_at = now
    world.nodes[node.id] = node
    if parent is not None:
        parent.children.append(node.id)
    else:
        ws.top.append(node.id)
    return {"id": node.id, "workspace_id": ws.id, "title": node.title}


def create_user(app, req, m):
    body = _body(req)
    world = app.world
    wid = _need_id(body, "workspace_id")
    if wid not in world.workspaces:
        raise ControlError(404, f"no workspace {wid}")
    role = body.get("role", "member")
    if role not in ("member", "guest", "bot"):
        raise ControlError(400, "role must be member, guest or bot")
    uid = _need_id(body, "id") if "id" in body else ids.fresh()
    if uid not in world.users:
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise ControlError(400, "a new user needs a name")
        world.users[uid] = User(uid, "bot" if role == "bot" else "person", name, body.get("email"),
                                body.get("avatar_url"))
    world.workspaces[wid].roles[uid] = role
    return {"id": uid, "workspace_id": wid, "role": role}


def remove_user(app, req, m):
    uid = ids.parse(m.group(1))
    wid = ids.parse(req.query.get("workspace_id", [""])[0])
    ws = app.world.workspaces.get(wid) if wid else None
    if ws is None:
        raise ControlError(400, "workspace_id query parameter required")
    if uid not in ws.roles:
        raise ControlError(404, f"user {m.group(1)} is not in workspace {wid}")
    del ws.roles[uid]
    return {"id": uid, "workspace_id": wid, "removed": True}


def invalidate_cursors(app, req, m):
    app.cursors.clear()
    return {"invalidated": True}


ROUTES = [
    ("GET", r"/_fake/health", health),
    ("GET", r"/_fake/log", get_log),
    ("DELETE", r"/_fake/log", clear_log),
    ("POST", r"/_fake/reset", reset),
    ("GET", r"/_fake/faults", get_faults),
    ("POST", r"/_fake/faults", add_faults),
    ("DELETE", r"/_fake/faults", clear_faults),
    ("GET", r"/_fake/consent", get_consent),
    ("POST", r"/_fake/consent", set_consent),
    ("GET", r"/_fake/rate_limits", get_rate_limits),
    ("POST", r"/_fake/rate_limits", set_rate_limits),
    ("POST", r"/_fake/rate_limits/reset", reset_rate_counters),
    ("GET", r"/_fake/settings", get_settings),
    ("POST", r"/_fake/settings", set_settings),
    ("GET", r"/_fake/clock", get_clock),
    ("POST", r"/_fake/clock/advance", advance_clock),
    ("POST", r"/_fake/share", share),
    ("POST", r"/_fake/unshare", unshare),
    ("POST", r"/_fake/trash", trash),
    ("POST", r"/_fake/untrash", untrash),
    ("POST", r"/_fake/delete", delete),
    ("POST", r"/_fake/reindex", reindex),
    ("GET", r"/_fake/bots", list_bots),
    ("GET", r"/_fake/bots/([^/]+)", get_bot),
    ("POST", r"/_fake/bots/([^/]+)/remove", remove_bot),
    ("POST", r"/_fake/bots/([^/]+)/expire_access", expire_access),
    ("GET", r"/_fake/workspaces", list_workspaces),
    ("GET", r"/_fake/clients", list_clients),
    ("POST", r"/_fake/clients/([^/]+)", update_client),
    ("POST", r"/_fake/pages", create_page),
    ("POST", r"/_fake/users", create_user),
    ("DELETE", r"/_fake/users/([^/]+)", remove_user),
    ("POST", r"/_fake/cursors/invalidate", invalidate_cursors),
]
_COMPILED = [(m, re.compile("^" + p + "$"), h) for m, p, h in ROUTES]


def handle(app, req):
    for method, rx, handler in _COMPILED:
        match = rx.match(req.path)
        if match and method == req.method:
            try:
                with app.lock:
                    return _reply(200, handler(app, req, match))
            except ControlError as e:
                return _reply(e.status, {"error": e.message})
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                # Malformed input the handler did not anticipate: say so
                # instead of dropping the connection.
                return _reply(400, {"error": f"bad request for {req.method} {req.path}: {e!r}"})
    known = sorted({p for _, p, _ in ROUTES})
    return _reply(404, {"error": f"no control endpoint {req.method} {req.path}", "endpoints": known})


