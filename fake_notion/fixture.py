"""Fixture loading: a JSON file describing clients, workspaces, users, the
object tree and the default consent becomes a World. Big parts can be
generated deterministically (ids are uuid5 of the fixture position, so they
are stable across runs). The format is documented in README.md.
"""

import json

import ids
import values
from clock import parse_iso
from state import CONTENT_CAPABILITIES, USER_INFO, Client, Node, User, World, Workspace

BLOCK_TYPES = (
    "paragraph",
    "heading_1",
    "heading_2",
    "heading_3",
    "toggle",
    "bulleted_list_item",
    "numbered_list_item",
    "to_do",
    "quote",
    "callout",
    "divider",
)


class FixtureError(ValueError):
    pass


def _id(value, what):
    parsed = ids.parse(value)
    if parsed is None:
        raise FixtureError(f"{what}: {value!r} is not a valid id")
    return parsed


def _icon(icon):
    """Fixture icons: an emoji string, a URL, or a full icon object."""
    if icon is None or isinstance(icon, dict):
        return icon
    if icon.startswith("http://") or icon.startswith("https://"):
        return {"type": "external", "external": {"url": icon}}
    return {"type": "emoji", "emoji": icon}


class _Loader:
    def __init__(self, doc):
        self.doc = doc
        self.world = World()
        self.base = parse_iso(doc.get("base_time", "2026-06-01T09:00:00Z"))
        self.seq = 0

    def tick(self):
        """Each fixture object is one minute younger than the previous, so
        timestamps are distinct and sorting by them is deterministic."""
        self.seq += 1
        return self.base + self.seq * 60

    def add_node(self, node):
        if node.id in self.world.nodes or node.id in self.world.users:
            raise FixtureError(f"duplicate id {node.id}")
        self.world.nodes[node.id] = node
        return node

    def stamp(self, node, spec, ws):
        t = self.tick()
        node.created_time = parse_iso(spec["created_time"]) if "created_time" in spec else t
        node.last_edited_time = parse_iso(spec["last_edited_time"]) if "last_edited_time" in spec else node.created_time
        default_author = ws.default_author
        node.created_by = _id(spec["created_by"], "created_by") if "created_by" in spec else default_author
        node.last_edited_by = _id(spec["last_edited_by"], "last_edited_by") if "last_edited_by" in spec else node.created_by
        node.in_trash = bool(spec.get("in_trash", False))
        node.icon = _icon(spec.get("icon"))
        if spec.get("cover"):
            node.cover = {"type": "external", "external": {"url": spec["cover"]}}

    # --- users --------------------------------------------------------------

    def users(self, ws, specs, generate):
        for spec in specs:
            uid = _id(spec["id"], "user id")
            role = spec.get("role", "member")
            if role not in ("member", "guest", "bot"):
                raise FixtureError(f"user {uid}: role must be member, guest or bot")
            if uid not in self.world.users:
                if "name" not in spec:
                    raise FixtureError(f"user {uid}: first definition needs a name")
                self.world.users[uid] = User(
                    uid, "bot" if role == "bot" else "person", spec["name"], spec.get("email"), spec.get("avatar_url"))
            ws.roles[uid] = role
        for role, key in (("member", "members"), ("guest", "guests"), ("bot", "bots")):
            gen = generate.get(key)
            if not gen:
                continue
            for n in range(1, int(gen["count"]) + 1):
                uid = ids.stable(ws.id, "user", role, n)
                name = gen.get("name", role.capitalize() + " {n:03d}").format(n=n)
                email = gen["email"].format(n=n) if role != "bot" and "email" in gen else None
                self.world.users[uid] = User(uid, "bot" if role == "bot" else "person", name, email)
                ws.roles[uid] = role

    # --- tree ---------------------------------------------------------------

    def nodes(self, ws, specs, parent_kind, parent_id, path):
        out = []
        for i, spec in enumerate(specs):
            out += self.node(ws, spec, parent_kind, parent_id, f"{path}/{i}")
        return out

    def node(self, ws, spec, parent_kind, parent_id, path):
        kind = spec.get("type")
        if parent_kind == "workspace" and kind not in ("page", "database"):
            raise FixtureError(f"{path}: only pages and databases can sit at the workspace top level")
        if kind == "page":
            return [self.page(ws, spec, parent_kind, parent_id, path)]
        if kind == "database":
            return [self.database(ws, spec, parent_kind, parent_id, path)]
        if kind in BLOCK_TYPES:
            return [self.block(ws, spec, parent_kind, parent_id, path)]
        if kind == "generate_pages":
            return self.generate_pages(ws, spec, parent_kind, parent_id, path)
        if kind == "generate_paragraphs":
            made = []
            for n in range(1, int(spec["count"]) + 1):
                made.append(self.block(ws, {"type": "paragraph", "text": spec.get("text", "Line {n}").format(n=n)},
                                       parent_kind, parent_id, f"{path}/gen{n}"))
            return made
        raise FixtureError(f"{path}: unknown node type {kind!r}")

    def page(self, ws, spec, parent_kind, parent_id, path):
        pid = _id(spec["id"], f"{path} page id") if "id" in spec else ids.stable(ws.id, "page", path)
        node = self.add_node(Node(pid, "page", ws.id, parent_kind, parent_id))
        node.title = spec.get("title", "")
        self.stamp(node, spec, ws)
        node.children = self.nodes(ws, spec.get("children", []), "page", pid, f"{path}/c")
        self.comments(ws, node, spec.get("comments", []), path)
        return pid

    def database(self, ws, spec, parent_kind, parent_id, path):
        did = _id(spec["id"], f"{path} database id")
        db = self.add_node(Node(did, "database", ws.id, parent_kind, parent_id))
        db.title = spec.get("title", "")
        db.is_inline = bool(spec.get("is_inline", parent_kind != "workspace"))
        self.stamp(db, spec, ws)
        sources = spec.get("data_sources")
        if not sources:
            raise FixtureError(f"database {did}: needs at least one data source")
        for j, ds_spec in enumerate(sources):
            dsid = _id(ds_spec["id"], f"database {did} data source id")
            ds = self.add_node(Node(dsid, "data_source", ws.id, "database", did))
            ds.title = ds_spec.get("name", db.title)
            ds.is_inline = db.is_inline
            try:
                ds.schema = values.schema_from_fixture(dsid, ds_spec.get("properties", {"Name": {"type": "title"}}))
            except ValueError as e:
                raise FixtureError(str(e)) from None
            self.stamp(ds, ds_spec, ws)
            ds.icon = ds.icon or db.icon
            db.data_sources.append(dsid)
            for k, row_spec in enumerate(ds_spec.get("rows", [])):
                ds.rows.append(self.row(ws, ds, row_spec, f"{path}/ds{j}/r{k}"))
            gen = ds_spec.get("generate_rows")
            if gen:
                title_prop = next(n for n, p in ds.schema.items() if p["type"] == "title")
                for n in range(1, int(gen["count"]) + 1):
                    ds.rows.append(self.row(ws, ds, {"properties": {title_prop: gen.get("title", "Row {n}").format(n=n)}},
                                            f"{path}/ds{j}/gen{n}"))
        return did

    def row(self, ws, ds, spec, path):
        rid = _id(spec["id"], f"{path} row id") if "id" in spec else ids.stable(ws.id, "row", path)
        row = self.add_node(Node(rid, "page", ws.id, "data_source", ds.id))
        self.stamp(row, spec, ws)
        given = spec.get("properties", {})
        for name in given:
            if name not in ds.schema:
                raise FixtureError(f"row {rid}: {name!r} is not a property of data source {ds.id}")
        for name, prop in ds.schema.items():
            try:
                row.props[name] = values.value_from_fixture(prop, given.get(name))
            except ValueError as e:
                raise FixtureError(f"row {rid}: {e}") from None
        row.children = self.nodes(ws, spec.get("children", []), "page", rid, f"{path}/c")
        self.comments(ws, row, spec.get("comments", []), path)
        return rid

    def block(self, ws, spec, parent_kind, parent_id, path):
        if parent_kind not in ("page", "block"):
            raise FixtureError(f"{path}: blocks live in pages or blocks")
        bid = _id(spec["id"], f"{path} block id") if "id" in spec else ids.stable(ws.id, "block", path)
        node = self.add_node(Node(bid, "block", ws.id, parent_kind, parent_id))
        node.block_type = spec["type"]
        self.stamp(node, spec, ws)
        if node.block_type == "divider":
            node.content = {}
        else:
            node.content = {"rich_text": values.rich_text(spec.get("text", "")), "color": spec.get("color", "default")}
            if node.block_type == "to_do":
                node.content["checked"] = bool(spec.get("checked", False))
            if node.block_type.startswith("heading_"):
                node.content["is_toggleable"] = bool(spec.get("is_toggleable", False))
            if node.block_type == "callout":
                node.content["icon"] = _icon(spec.get("icon", "💡"))
        node.children = self.nodes(ws, spec.get("children", []), "block", bid, f"{path}/c")
        self.comments(ws, node, spec.get("comments", []), path)
        return bid

    def generate_pages(self, ws, spec, parent_kind, parent_id, path):
        """count pages in a tree of the given fanout below the current parent:
        the first `fanout` are direct children, each later one goes under an
        earlier generated page (breadth first), so nesting is exercised."""
        count = int(spec["count"])
        fanout = max(1, int(spec.get("fanout", count)))
        title = spec.get("title", "Generated page {n}")
        top, made = [], []
        for k in range(count):
            n = k + 1
            if k < fanout:
                pk, pid = parent_kind, parent_id
            else:
                pk, pid = "page", made[(k - fanout) // fanout].id
            gid = ids.stable(ws.id, "genpage", path, n)
            node = self.add_node(Node(gid, "page", ws.id, pk, pid))
            node.title = title.format(n=n)
            self.stamp(node, {}, ws)
            if spec.get("text"):
                node.children.append(self.block(ws, {"type": "paragraph", "text": spec["text"].format(n=n)},
                                                "page", gid, f"{path}/gen{n}/p"))
            made.append(node)
            if k < fanout:
                top.append(gid)
            else:
                self.world.nodes[pid].children.append(gid)
        return top

    def comments(self, ws, node, specs, path):
        for i, spec in enumerate(specs):
            cid = _id(spec["id"], "comment id") if "id" in spec else ids.stable(ws.id, "comment", path, i)
            t = parse_iso(spec["created_time"]) if "created_time" in spec else self.tick()
            self.world.comments.setdefault(node.id, []).append({
                "id": cid,
                "discussion_id": _id(spec["discussion_id"], "discussion id") if "discussion_id" in spec
                else ids.stable(ws.id, "discussion", path, i),
                "author": _id(spec["author"], "comment author") if "author" in spec else ws.default_author,
                "rich_text": values.rich_text(spec.get("text", "")),
                "resolved": bool(spec.get("resolved", False)),
                "created_time": t,
                "last_edited_time": t,
            })

    # --- whole document -----------------------------------------------------

    def load(self):
        doc, world = self.doc, self.world
        world.name = doc.get("name", "fixture")
        for c in doc.get("clients", []):
            caps = c.get("capabilities", list(CONTENT_CAPABILITIES[:3]))
            bad = [x for x in caps if x not in CONTENT_CAPABILITIES]
            if bad:
                raise FixtureError(f"client {c.get('client_id')}: unknown capabilities {bad}")
            ui = c.get("user_info", "email")
            if ui not in USER_INFO:
                raise FixtureError(f"client {c.get('client_id')}: user_info must be one of {USER_INFO}")
            if not c.get("redirect_uris"):
                raise FixtureError(f"client {c.get('client_id')}: needs at least one redirect URI")
            cid = _id(c["client_id"], "client_id")
            world.clients[cid] = Client(cid, c["client_secret"], c.get("name", "Fake integration"),
                                        c["redirect_uris"], caps, ui)
        for w in doc.get("workspaces", []):
            wid = _id(w["id"], "workspace id")
            ws = Workspace(wid, w.get("name", "Workspace"), w.get("icon"))
            world.workspaces[wid] = ws
            self.users(ws, w.get("users", []), w.get("generate", {}))
            members = [u for u, r in ws.roles.items() if r == "member"]
            if not members:
                raise FixtureError(f"workspace {wid}: needs at least one member")
            ws.default_author = members[0]
            ws.top = self.nodes(ws, w.get("content", []), "workspace", None, wid)
        consent = doc.get("consent", {})
        world.consent = {
            "mode": consent.get("mode", "approve"),
            "workspace_id": _id(consent["workspace_id"], "consent workspace") if consent.get("workspace_id") else None,
            "user_id": _id(consent["user_id"], "consent user") if consent.get("user_id") else None,
            "shared_roots": [_id(r, "consent root") for r in consent.get("shared_roots", [])],
        }
        for r in world.consent["shared_roots"]:
            if r not in world.nodes:
                raise FixtureError(f"consent: shared root {r} is not in the fixture")
        return world


def load(path):
    """Returns (world, settings overrides, rate-limit overrides)."""
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    world = _Loader(doc).load()
    return world, doc.get("settings", {}), doc.get("rate_limits", {})
