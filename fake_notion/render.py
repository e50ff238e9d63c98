"""Objects as the API returns them, for one caller (a bot, its client's
capabilities) and one Notion-Version.

Shapes follow the 2025-09-03 schema of the official SDKs and the recorded
responses (notion-api.md §3): exact parent variants, partial users in
created_by/last_edited_by, in_trash (plus the deprecated archived before
2026-03-11), child_page/child_database blocks with the page/database id.
Under versions before 2025-09-03 databases carry the schema and rows have a
database_id parent ("classic" shapes).
"""

import re

import values
from clock import iso_millis_offset, iso_minute

DATA_SOURCE_VERSION = "2025-09-03"
NO_ARCHIVED_VERSION = "2026-03-11"
URL_BASE = "https://app.notion.com/p/"


class View:
    def __init__(self, world, bot, client, version, settings):
        self.world = world
        self.bot = bot
        self.client = client
        self.version = version
        self.settings = settings

    @property
    def classic(self):
        """Before data sources existed (2022-06-28 and older)."""
        return self.version < DATA_SOURCE_VERSION

    def _trash(self, obj, node):
        trashed = self.world.trashed(node)
        obj["in_trash"] = trashed
        if self.version < NO_ARCHIVED_VERSION:
            obj["archived"] = trashed
        return obj

    # --- users ----------------------------------------------------------------

    @staticmethod
    def partial_user(user_id):
        return {"object": "user", "id": user_id}

    def user(self, user_id):
        """A user object as this client may see it: {object,id} without the
        user-information capability, no email without the email one."""
        if self.client.user_info == "none":
            return self.partial_user(user_id)
        bot = self.world.bots.get(user_id)
        if bot is not None:
            client = self.world.clients.get(bot.client_id)
            out = {"object": "user", "id": bot.id, "name": client.name if client else None, "avatar_url": None,
                   "type": "bot"}
            out["bot"] = self.bot_info(bot) if self.bot is not None and bot.id == self.bot.id else {}
            return out
        u = self.world.users[user_id]
        out = {"object": "user", "id": u.id, "name": u.name, "avatar_url": u.avatar_url, "type": u.type}
        if u.type == "person":
            out["person"] = {"email": u.email} if self.client.user_info == "email" and u.email else {}
        else:
            out["bot"] = {}
        return out

    def owner_user(self, user_id):
        """The authorizing person, as in the token response and bot.owner."""
        u = self.world.users[user_id]
        person = {"email": u.email} if self.client.user_info == "email" and u.email else {}
        return {"object": "user", "id": u.id, "name": u.name, "avatar_url": u.avatar_url, "type": "person",
                "person": person}

    def bot_info(self, bot):
        ws = self.world.workspaces[bot.workspace_id]
        return {
            "owner": {"type": "user", "user": self.owner_user(bot.user_id)},
            "workspace_name": ws.name,
            "workspace_id": ws.id,
            "workspace_limits": {"max_file_upload_size_in_bytes": self.settings["max_file_upload_size_in_bytes"]},
        }

    # --- shared bits ----------------------------------------------------------

    def parent(self, node):
        kind = node.parent_kind
        if kind == "workspace":
            return {"type": "workspace", "workspace": True}
        if kind == "page":
            return {"type": "page_id", "page_id": node.parent_id}
        if kind == "block":
            return {"type": "block_id", "block_id": node.parent_id}
        if kind == "database":
            return {"type": "database_id", "database_id": node.parent_id}
        if kind == "data_source":
            ds = self.world.nodes[node.parent_id]
            if self.classic:
                return {"type": "database_id", "database_id": ds.parent_id}
            return {"type": "data_source_id", "data_source_id": ds.id, "database_id": ds.parent_id}
        raise AssertionError(kind)

    @staticmethod
    def url(node, title):
        hexid = node.id.replace("-", "")
        slug = re.sub(r"[^A-Za-z0-9]+", "-", title or "").strip("-")
        return URL_BASE + (f"{slug}-{hexid}" if slug else hexid)

    # --- pages ----------------------------------------------------------------

    def page_properties(self, node):
        if node.parent_kind != "data_source":
            return {"title": {"id": "title", "type": "title", "title": values.rich_text(node.title)}}
        ds = self.world.nodes[node.parent_id]
        props = {}
        for name, prop in ds.schema.items():
            stored = node.props.get(name) or {"type": prop["type"], prop["type"]: values.empty_value(prop["type"])}
            kind = prop["type"]
            value = stored[kind]
            if kind == "people":
                value = [self.user(uid) for uid in value]
            props[name] = {"id": prop["id"], "type": kind, kind: value}
        return props

    def page(self, node):
        obj = {
            "object": "page",
            "id": node.id,
            "created_time": iso_minute(node.created_time),
            "last_edited_time": iso_minute(node.last_edited_time),
            "created_by": self.partial_user(node.created_by),
            "last_edited_by": self.partial_user(node.last_edited_by),
            "cover": node.cover,
            "icon": node.icon,
            "parent": self.parent(node),
        }
        self._trash(obj, node)
        obj["is_archived"] = False
        obj["is_locked"] = False
        obj["properties"] = self.page_properties(node)
        obj["url"] = self.url(node, node.page_title())
        obj["public_url"] = None
        return obj

    # --- databases and data sources ------------------------------------------

    def database(self, node):
        if self.classic:
            return self._classic_database(node)
        obj = {
            "object": "database",
            "id": node.id,
            "title": values.rich_text(node.title),
            "description": [],
            "parent": self.parent(node),
            "is_inline": node.is_inline,
        }
        self._trash(obj, node)
        obj["is_locked"] = False
        obj["created_time"] = iso_millis_offset(node.created_time)
        obj["last_edited_time"] = iso_millis_offset(node.last_edited_time)
        obj["data_sources"] = [{"id": d, "name": self.world.nodes[d].title} for d in node.data_sources
                               if not self.world.nodes[d].deleted]
        obj["icon"] = node.icon
        obj["cover"] = node.cover
        obj["url"] = self.url(node, None)
        obj["public_url"] = None
        return obj

    def _classic_database(self, node):
        ds = self.world.nodes[node.data_sources[0]]
        obj = {
            "object": "database",
            "id": node.id,
            "cover": node.cover,
            "icon": node.icon,
            "created_time": iso_minute(node.created_time),
            "created_by": self.partial_user(node.created_by),
            "last_edited_by": self.partial_user(node.last_edited_by),
            "last_edited_time": iso_minute(node.last_edited_time),
            "title": values.rich_text(node.title),
            "description": [],
            "is_inline": node.is_inline,
            "properties": {n: values.render_schema_property(p) for n, p in ds.schema.items()},
            "parent": self.parent(node),
            "url": self.url(node, None),
            "public_url": None,
        }
        return self._trash(obj, node)

    def data_source(self, node):
        db = self.world.nodes[node.parent_id]
        obj = {
            "object": "data_source",
            "id": node.id,
            "cover": node.cover,
            "icon": node.icon,
            "created_time": iso_minute(node.created_time),
            "created_by": self.partial_user(node.created_by),
            "last_edited_by": self.partial_user(node.last_edited_by),
            "last_edited_time": iso_minute(node.last_edited_time),
            "title": values.rich_text(node.title),
            "description": [],
            "is_inline": node.is_inline,
            "properties": {n: values.render_schema_property(p) for n, p in node.schema.items()},
            "parent": {"type": "database_id", "database_id": db.id},
            "database_parent": self.parent(db),
            "url": self.url(db, None),
            "public_url": None,
        }
        return self._trash(obj, node)

    # --- blocks ---------------------------------------------------------------

    def block(self, node):
        if node.kind == "page":
            btype, payload = "child_page", {"title": node.page_title()}
        elif node.kind == "database":
            btype, payload = "child_database", {"title": node.title}
        else:
            btype, payload = node.block_type, dict(node.content)
        # A child_database block reports no children (as recorded); pages and
        # blocks report whether they have listed children.
        has_children = node.kind != "database" and bool(self.world.block_children(node))
        obj = {
            "object": "block",
            "id": node.id,
            "parent": self.parent(node),
            "created_time": iso_minute(node.created_time),
            "last_edited_time": iso_minute(node.last_edited_time),
            "created_by": self.partial_user(node.created_by),
            "last_edited_by": self.partial_user(node.last_edited_by),
            "has_children": has_children,
        }
        self._trash(obj, node)
        obj["type"] = btype
        obj[btype] = payload
        return obj

    # --- comments -------------------------------------------------------------

    def comment(self, node, c):
        parent = ({"type": "page_id", "page_id": node.id} if node.kind == "page"
                  else {"type": "block_id", "block_id": node.id})
        author = self.world.users.get(c["author"])
        if author is not None:
            display = {"type": "user", "resolved_name": author.name}
        else:
            client = self.world.clients.get(self.world.bots[c["author"]].client_id) if c["author"] in self.world.bots else None
            display = {"type": "integration", "resolved_name": client.name if client else None}
        return {
            "object": "comment",
            "id": c["id"],
            "parent": parent,
            "discussion_id": c["discussion_id"],
            "created_time": iso_minute(c["created_time"]),
            "last_edited_time": iso_minute(c["last_edited_time"]),
            "created_by": self.partial_user(c["author"]),
            "rich_text": c["rich_text"],
            "display_name": display,
        }
