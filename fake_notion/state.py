"""The world model: clients, workspaces, users, the object tree, and the
authorizations (bots) with their tokens, plus the access rule.

Access rule (notion-api.md §4): a bot sees the roots shared with it (picked in
the OAuth page picker or shared later) and every descendant of those roots,
within its own workspace; everything else does not exist for it (404).
Trashed objects stay readable (in_trash: true); deleted ones are gone, and so
is everything under them.

All mutation happens under App.lock (one lock around the whole state); the
classes here do no locking of their own.
"""

import secrets
import string

import ids

# Capabilities a client (a Notion connection) can have; fixed per connection.
CONTENT_CAPABILITIES = (
    "read_content",
    "update_content",
    "insert_content",
    "read_comments",
    "insert_comments",
)
USER_INFO = ("none", "no_email", "email")


class Client:
    def __init__(self, client_id, client_secret, name, redirect_uris, capabilities, user_info):
        self.client_id = client_id
        self.client_secret = client_secret
        self.name = name
        self.redirect_uris = list(redirect_uris)
        self.capabilities = set(capabilities)
        self.user_info = user_info

    def can(self, capability):
        return capability in self.capabilities

    def scope(self):
        """The space-separated scope string introspect reports (as recorded:
        "read_content insert_content update_content read_user_with_email
        read_user_without_email")."""
        parts = [c for c in ("read_content", "insert_content", "update_content", "read_comments", "insert_comments")
                 if c in self.capabilities]
        if self.user_info == "email":
            parts += ["read_user_with_email", "read_user_without_email"]
        elif self.user_info == "no_email":
            parts.append("read_user_without_email")
        return " ".join(parts)

    def describe(self):
        return {
            "client_id": self.client_id,
            "name": self.name,
            "redirect_uris": list(self.redirect_uris),
            "capabilities": sorted(self.capabilities),
            "user_info": self.user_info,
        }


class User:
    def __init__(self, user_id, kind, name, email=None, avatar_url=None):
        self.id = user_id
        self.type = kind  # "person" | "bot"
        self.name = name
        self.email = email
        self.avatar_url = avatar_url


class Workspace:
    def __init__(self, ws_id, name, icon):
        self.id = ws_id
        self.name = name
        self.icon = icon
        # user id -> "member" | "guest" | "bot", in fixture order.
        self.roles = {}
        # Top-level objects (parent = workspace), in order.
        self.top = []
        # Author of fixture objects that name none: the first member.
        self.default_author = None


class Node:
    """A page, database, data source or block. Pages and databases are also
    blocks of their parent (child_page / child_database with the same id)."""

    def __init__(self, node_id, kind, workspace_id, parent_kind, parent_id):
        self.id = node_id
        self.kind = kind  # "page" | "database" | "data_source" | "block"
        self.workspace_id = workspace_id
        self.parent_kind = parent_kind  # "workspace" | "page" | "block" | "database" | "data_source"
        self.parent_id = parent_id
        self.title = ""  # pages outside data sources, databases, data sources
        self.block_type = None  # blocks: paragraph, heading_1, toggle, ...
        self.content = {}  # blocks: the <type> payload (rich_text, color, checked, ...)
        self.children = []  # pages and blocks: child block ids (incl. child pages/dbs)
        self.data_sources = []  # databases
        self.rows = []  # data sources: page ids
        self.schema = {}  # data sources: property name -> {"id","name","type","config"}
        self.props = {}  # pages in a data source: property name -> {"type", <type>: value}
        self.created_time = 0.0
        self.last_edited_time = 0.0
        self.created_by = None
        self.last_edited_by = None
        self.in_trash = False
        self.deleted = False
        self.icon = None
        self.cover = None
        self.is_inline = False
        # Fake-clock time from which search may return it (index lag).
        self.indexed_at = 0.0

    def page_title(self):
        """Plain title of a page, database or data source."""
        if self.kind == "page" and self.parent_kind == "data_source":
            for value in self.props.values():
                if value.get("type") == "title":
                    return "".join(t.get("plain_text", "") for t in value["title"])
            return ""
        return self.title


class Bot:
    """One authorization: a user of a workspace installed a client. Its id is
    the bot_id of the token response and the bot user's id."""

    def __init__(self, bot_id, client_id, workspace_id, user_id, created_at):
        self.id = bot_id
        self.client_id = client_id
        self.workspace_id = workspace_id
        self.user_id = user_id  # the authorizing person (token response owner)
        self.roots = {}  # node id -> fake-clock time it was shared
        self.active = True
        self.ended = None  # why it stopped: "revoked" | "removed"
        self.access_token = None
        self.refresh_token = None
        self.access_valid = False
        self.issued_at = created_at  # of the current pair, fake clock
        self.grants = 0  # authorization_code exchanges
        self.refreshes = 0  # successful refresh_token grants


class Code:
    def __init__(self, client_id, workspace_id, user_id, roots, redirect_uri, redirect_in_authorize, issued_at):
        self.client_id = client_id
        self.workspace_id = workspace_id
        self.user_id = user_id
        self.roots = list(roots)
        self.redirect_uri = redirect_uri  # the one the redirect went to
        self.redirect_in_authorize = redirect_in_authorize  # was it in the authorize URL
        self.issued_at = issued_at
        self.used = False


_ALPHABET = string.ascii_letters + string.digits


def _random_token(prefix, length=46):
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


class World:
    def __init__(self):
        self.name = ""
        self.clients = {}
        self.workspaces = {}
        self.users = {}
        self.nodes = {}
        self.comments = {}  # node id -> [comment dict]
        self.bots = {}
        self.tokens = {}  # token value -> (bot id, "access" | "refresh")
        self.codes = {}
        self.consent = {"mode": "approve", "workspace_id": None, "user_id": None, "shared_roots": []}

    # --- users --------------------------------------------------------------

    def role(self, workspace_id, user_id):
        ws = self.workspaces.get(workspace_id)
        if ws is None:
            return None
        role = ws.roles.get(user_id)
        if role is not None:
            return role
        bot = self.bots.get(user_id)
        if bot is not None and bot.active and bot.workspace_id == workspace_id:
            return "bot"
        return None

    def listed_users(self, workspace_id):
        """GET /v1/users: members and bots (fixture bots, then the bots of
        active authorizations), never guests."""
        ws = self.workspaces[workspace_id]
        out = [uid for uid, role in ws.roles.items() if role in ("member", "bot")]
        out += [b.id for b in self.bots.values() if b.active and b.workspace_id == workspace_id]
        return out

    # --- tree ---------------------------------------------------------------

    def parent_of(self, node):
        if node.parent_kind == "workspace":
            return None
        return self.nodes.get(node.parent_id)

    def chain(self, node):
        """The node and its ancestors, nearest first (stops at the workspace)."""
        seen = 0
        while node is not None:
            yield node
            seen += 1
            if seen > 10000:  # a malformed fixture must not hang the server
                return
            node = self.parent_of(node)

    def exists(self, node):
        """Not deleted, and neither is any ancestor."""
        return node is not None and all(not n.deleted for n in self.chain(node))

    def trashed(self, node):
        """Effective trash state: trashing a page trashes what is under it."""
        return any(n.in_trash for n in self.chain(node))

    def access_root(self, bot, node):
        """The shared root through which bot sees node, or None."""
        if node is None or node.workspace_id != bot.workspace_id:
            return None
        found = None
        for n in self.chain(node):
            if n.deleted:
                return None
            if n.id in bot.roots and found is None:
                found = n
        return found

    def visible(self, bot, node):
        return self.access_root(bot, node) is not None

    def block_children(self, node):
        """Listed children: not deleted, not trashed."""
        out = []
        for cid in node.children:
            child = self.nodes.get(cid)
            if child is not None and not child.deleted and not child.in_trash:
                out.append(child)
        return out

    def descendants(self, node):
        """Every node under node (children, data sources, rows), depth first."""
        stack = [node]
        while stack:
            n = stack.pop()
            yield n
            nxt = []
            for cid in n.children + n.data_sources + n.rows:
                c = self.nodes.get(cid)
                if c is not None and not c.deleted:
                    nxt.append(c)
            stack.extend(reversed(nxt))

    def accessible_nodes(self, bot):
        """Every node the bot can see, each once."""
        seen = set()
        for root_id in list(bot.roots):
            root = self.nodes.get(root_id)
            if root is None or not self.visible(bot, root):
                continue
            for n in self.descendants(root):
                if n.id not in seen:
                    seen.add(n.id)
                    yield n

    # --- tokens -------------------------------------------------------------

    def bot_for_token(self, token, kind):
        entry = self.tokens.get(token)
        if entry is None or entry[1] != kind:
            return None
        bot = self.bots.get(entry[0])
        if bot is None or not bot.active:
            return None
        return bot

    def issue_pair(self, bot, now, revoke_old_access=True):
        """Mints a new access/refresh pair; the old refresh token always dies
        (rotation), the old access token too unless configured otherwise."""
        if bot.refresh_token is not None:
            self.tokens.pop(bot.refresh_token, None)
        if revoke_old_access and bot.access_token is not None:
            self.tokens.pop(bot.access_token, None)
        bot.access_token = _random_token("ntn_")
        bot.refresh_token = _random_token("nrt_")
        self.tokens[bot.access_token] = (bot.id, "access")
        self.tokens[bot.refresh_token] = (bot.id, "refresh")
        bot.access_valid = True
        bot.issued_at = now

    def end_bot(self, bot, why):
        """Revocation or removal of the integration: every token of this
        authorization stops working, the bot leaves the user list."""
        bot.active = False
        bot.ended = why
        bot.access_valid = False
        for token in [t for t, (bid, _) in self.tokens.items() if bid == bot.id]:
            del self.tokens[token]

    def expire_access(self, bot):
        """The current access token stops working; the refresh token still
        works (to exercise refresh-on-401)."""
        if bot.access_token is not None:
            self.tokens.pop(bot.access_token, None)
        bot.access_valid = False

    def new_bot_id(self, client_id, workspace_id, user_id):
        # Stable per (client, workspace, user) for the first authorization so
        # repeated test runs see the same bot ids; later ones are fresh.
        candidate = ids.stable("bot", client_id, workspace_id, user_id)
        if candidate in self.bots or candidate in self.users:
            candidate = ids.fresh()
        return candidate
