"""OAuth for public connections (notion-api.md §1): the browser authorize
step, and the token, introspect and revoke endpoints with Basic client auth.

Decisions where Notion is silent ([UNV]) are settings (see settings.py):
error-body style, code lifetime, bot_id stability on re-authorization, and
whether a refresh kills the previous access token.
"""

import base64
import binascii
from html import escape
from urllib.parse import urlencode

import ids
from errors import OAuthError
from state import Bot, Code


# --- authorize (browser) ----------------------------------------------------

def _html(status, title, text):
    body = (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{escape(title)}</title></head>"
            f"<body><h1>{escape(title)}</h1><p>{escape(text)}</p></body></html>\n")
    return status, {"Content-Type": "text/html; charset=utf-8"}, body.encode()


def _redirect(uri, params):
    sep = "&" if "?" in uri else "?"
    location = uri + sep + urlencode(params)
    status, headers, body = _html(302, "Redirecting", "Redirecting back to the integration.")
    headers["Location"] = location
    return status, headers, body


def authorize(ctx):
    """GET /v1/oauth/authorize. Returns (status, headers, body bytes).

    Notion never redirects to an unverified URI: an unknown client, a
    redirect_uri that is not registered, or a missing one when several are
    registered shows an error page instead (HTTP 400, HTML)."""
    q = {k: v[0] for k, v in ctx.query.items()}
    world = ctx.world
    client = world.clients.get(ids.parse(q.get("client_id", "")) or "")
    bad = _html(400, "Missing or invalid redirect_uri",
                "Missing or invalid redirect_uri. Ask the integration's developer to check its OAuth settings.")
    if client is None:
        return bad
    redirect = q.get("redirect_uri")
    if redirect is None:
        if len(client.redirect_uris) != 1:
            return bad
        redirect, in_authorize = client.redirect_uris[0], False
    elif redirect in client.redirect_uris:
        in_authorize = True
    else:
        return bad

    state = q.get("state")
    extra = {"state": state} if state is not None else {}
    if q.get("response_type") != "code":
        return _redirect(redirect, {"error": "unsupported_response_type", **extra})
    if q.get("owner", "user") != "user":
        return _redirect(redirect, {"error": "invalid_request", **extra})

    consent = world.consent
    ws_id, user_id = consent["workspace_id"], consent["user_id"]
    role = world.role(ws_id, user_id) if ws_id and user_id else None
    # Deny mode, or a consenting user who cannot install (guests cannot
    # connect integrations): the user "cancels" and comes back with an error.
    if consent["mode"] == "deny" or role != "member":
        return _redirect(redirect, {"error": "access_denied", **extra})

    roots = [r for r in consent["shared_roots"] if r in world.nodes and world.nodes[r].workspace_id == ws_id]
    code = ids.fresh()
    world.codes[code] = Code(client.client_id, ws_id, user_id, roots, redirect, in_authorize, ctx.now)
    ctx.info["client_id"] = client.client_id
    return _redirect(redirect, {"code": code, **extra})


# --- client authentication --------------------------------------------------

def client_from_basic(ctx):
    header = ctx.headers.get("Authorization") or ""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        raise OAuthError("invalid_client", "Client authentication failed: use HTTP Basic auth with the client ID "
                                           "and client secret.")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthError("invalid_client", "Client authentication failed: malformed Basic credentials.") from None
    client_id, sep, secret = decoded.partition(":")
    client = ctx.world.clients.get(ids.parse(client_id) or "")
    if not sep or client is None or secret != client.client_secret:
        raise OAuthError("invalid_client", "Client authentication failed: invalid client ID or client secret.")
    ctx.info["client_id"] = client.client_id
    return client


def _string_param(body, name):
    value = body.get(name)
    if value is None:
        raise OAuthError("invalid_request", f"body failed validation: body.{name} should be defined, "
                                            "instead was `undefined`.")
    if not isinstance(value, str) or not value:
        raise OAuthError("invalid_request", f"body failed validation: body.{name} should be a non-empty string.")
    return value


# --- token ------------------------------------------------------------------

def _token_response(ctx, client, bot):
    from render import View

    ws = ctx.world.workspaces[bot.workspace_id]
    view = View(ctx.world, bot, client, ctx.version, ctx.settings)
    return {
        "access_token": bot.access_token,
        "token_type": "bearer",
        "refresh_token": bot.refresh_token,
        "bot_id": bot.id,
        "workspace_name": ws.name,
        "workspace_icon": ws.icon,
        "workspace_id": ws.id,
        "owner": {"type": "user", "user": view.owner_user(bot.user_id)},
        "duplicated_template_id": None,
    }


def token(ctx):
    client = client_from_basic(ctx)
    body = ctx.body
    grant = body.get("grant_type")
    ctx.info["grant_type"] = grant if grant in ("authorization_code", "refresh_token") else "other"
    if grant is None:
        raise OAuthError("invalid_request", "body failed validation: body.grant_type should be defined, "
                                            "instead was `undefined`.")
    if grant == "authorization_code":
        return _authorization_code(ctx, client, body)
    if grant == "refresh_token":
        return _refresh(ctx, client, body)
    raise OAuthError("unsupported_grant_type", f"Unsupported grant_type: {grant!r}.")


def _authorization_code(ctx, client, body):
    world, now = ctx.world, ctx.now
    code_value = _string_param(body, "code")
    code = world.codes.get(code_value)
    if code is None or code.client_id != client.client_id:
        raise OAuthError("invalid_grant", "Invalid code.")
    if code.used:
        raise OAuthError("invalid_grant", "Invalid code: this code has already been used.")
    if now - code.issued_at > ctx.settings["code_ttl_seconds"]:
        raise OAuthError("invalid_grant", "Invalid code: this code has expired.")
    given = body.get("redirect_uri")
    if given is not None and not isinstance(given, str):
        raise OAuthError("invalid_request", "body failed validation: body.redirect_uri should be a string.")
    if code.redirect_in_authorize:
        if given is None:
            raise OAuthError("invalid_request", "redirect_uri is required: it was in the authorization URL.")
        if given != code.redirect_uri:
            raise OAuthError("invalid_grant", "Invalid redirect_uri: it does not match the authorization request.")
    elif given is not None:
        # One URI registered and the authorize URL omitted it: not allowed.
        raise OAuthError("invalid_request", "redirect_uri is not allowed: it was not in the authorization URL.")

    code.used = True
    bot = None
    if ctx.settings["reauth_same_bot"]:
        for candidate in world.bots.values():
            if (candidate.active and candidate.client_id == client.client_id
                    and candidate.workspace_id == code.workspace_id and candidate.user_id == code.user_id):
                bot = candidate  # re-authorization: page picker skipped, roots kept
                break
    if bot is None:
        bot = Bot(world.new_bot_id(client.client_id, code.workspace_id, code.user_id), client.client_id,
                  code.workspace_id, code.user_id, now)
        bot.roots = {r: now for r in code.roots}
        world.bots[bot.id] = bot
    world.issue_pair(bot, now, revoke_old_access=ctx.settings["refresh_revokes_old_access"])
    bot.grants += 1
    ctx.info["bot_id"] = bot.id
    return _token_response(ctx, client, bot)


def _refresh(ctx, client, body):
    world = ctx.world
    value = _string_param(body, "refresh_token")
    entry = world.tokens.get(value)
    bot = world.bots.get(entry[0]) if entry and entry[1] == "refresh" else None
    if bot is None or not bot.active or bot.client_id != client.client_id:
        # Rotated, revoked, removed, another client's, or never issued. Under
        # the state lock, the loser of two concurrent refreshes lands here.
        raise OAuthError("invalid_grant", "Invalid refresh token: it was revoked, rotated or never issued.")
    ctx.info["bot_id"] = bot.id
    world.issue_pair(bot, ctx.now, revoke_old_access=ctx.settings["refresh_revokes_old_access"])
    bot.refreshes += 1
    return _token_response(ctx, client, bot)


# --- introspect and revoke --------------------------------------------------

def _bot_of(ctx, client, value):
    entry = ctx.world.tokens.get(value)
    if entry is None:
        return None
    bot = ctx.world.bots.get(entry[0])
    if bot is None or not bot.active or bot.client_id != client.client_id:
        return None
    return bot


def introspect(ctx):
    client = client_from_basic(ctx)
    value = _string_param(ctx.body, "token")
    bot = _bot_of(ctx, client, value)
    if bot is None:
        return {"active": False}
    ctx.info["bot_id"] = bot.id
    # iat in milliseconds, as recorded from the real endpoint (1742002165921).
    return {"active": True, "scope": client.scope(), "iat": int(bot.issued_at * 1000)}


def revoke(ctx):
    """Revoking either token ends the whole authorization (RFC 7009 lets a
    server do that; it is what clients observe: 401 everywhere)."""
    client = client_from_basic(ctx)
    value = _string_param(ctx.body, "token")
    bot = _bot_of(ctx, client, value)
    if bot is not None:
        ctx.info["bot_id"] = bot.id
        ctx.world.end_bot(bot, "revoked")
    return {}


ROUTES = (
    ("POST", r"/v1/oauth/token", token),
    ("POST", r"/v1/oauth/introspect", introspect),
    ("POST", r"/v1/oauth/revoke", revoke),
)
