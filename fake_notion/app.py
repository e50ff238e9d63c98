"""The request pipeline, shared by every HTTP connection.

For a request outside /_fake:
  1. fault queue: a matching rule may delay the request (before anything is
     processed; a client gone by then means the request is dropped, unseen)
     and/or answer it with an injected error;
  2. route lookup (unknown -> 400 invalid_request_url);
  3. Notion-Version (missing -> missing_version, unknown -> validation_error),
     except on the browser authorize page;
  4. authentication: Basic client credentials on /v1/oauth/*, a live Bearer
     access token everywhere else (-> 401 unauthorized);
  5. rate limits (per bot, per workspace) on Bearer routes;
  6. JSON body (-> invalid_json), then the handler, under the state lock.
Every JSON answer carries request_id in the body and x-notion-request-id.
"""

import json
import re
import secrets
import sys
import threading
import time

import api
import control
import errors
import fixture
import ids
import oauth
import settings as settings_mod
from clock import Clock
from faults import Faults, RateLimiter
from pagination import Cursors
from render import View
from reqlog import RequestLog


DEFAULT_VERSION = "2025-09-03"


class Request:
    def __init__(self, method, path, query, headers, body, client_gone=lambda: False):
        self.method = method
        self.path = path
        self.query = query  # name -> [values]
        self.headers = headers  # case-insensitive .get()
        self.body = body  # bytes
        self.client_gone = client_gone


class Response:
    def __init__(self, status, headers, body, note=""):
        self.status = status
        self.headers = headers
        self.body = body
        self.note = note  # extra words for the stderr log line (never secrets)


class Ctx:
    """What a handler sees."""

    def __init__(self, app, req, info, version=None):
        self.app = app
        self.world = app.world
        self.settings = app.settings
        self.cursors = app.cursors
        self.now = app.clock.now()
        self.query = req.query
        self.headers = req.headers
        self.body = {}
        self.info = info
        # The browser authorize page has no Notion-Version; render as the
        # SDKs' default version there.
        self.version = version or DEFAULT_VERSION
        self.bot = None
        self.client = None
        self.view = None


def _cf_ray():
    return secrets.token_hex(8) + "-FAK"


def json_response(status, body, request_id, extra_headers=None, note=""):
    body = dict(body)
    body["request_id"] = request_id
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "x-notion-request-id": request_id,
        "cf-ray": _cf_ray(),
    }
    headers.update(extra_headers or {})
    return Response(status, headers, data, note)


def error_response(err, request_id):
    body = errors.envelope(err.status, err.code, err.message, request_id, err.additional_data)
    del body["request_id"]  # json_response puts it back, last, as the API does
    return json_response(err.status, body, request_id, err.headers)


def parse_json_body(raw):
    if not raw or not raw.strip():
        return {}
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise errors.invalid_json() from None
    if not isinstance(value, dict):
        raise errors.validation(f"body failed validation: body should be an object, instead was "
                                f"{errors.quote_value(value)}.")
    return value


class App:
    def __init__(self, fixture_path):
        self.fixture_path = fixture_path
        self.lock = threading.RLock()
        self.clock = Clock()
        self.log = RequestLog()
        self.faults = Faults()
        self.cursors = Cursors()
        self.routes = []
        for method, pattern, handler in oauth.ROUTES:
            self.routes.append((method, re.compile("^" + pattern + "$"), handler, "oauth"))
        self.routes.append(("GET", re.compile(r"^/v1/oauth/authorize$"), oauth.authorize, "authorize"))
        for method, pattern, handler in api.ROUTES:
            self.routes.append((method, re.compile("^" + pattern + "$"), handler, "api"))
        self.reset()

    def reset(self):
        """Back to the fixture: state, settings, budgets, faults, cursors,
        clock; the request log is emptied (its seq numbers keep growing)."""
        world, setting_overrides, rate_overrides = fixture.load(self.fixture_path)
        with self.lock:
            self.world = world
            self.settings = settings_mod.merged(setting_overrides)
            self.limiter = RateLimiter(rate_overrides)
            self.faults.clear()
            self.cursors.clear()
            self.clock.reset()
            self.log.clear()

    # --- the pipeline ---------------------------------------------------------

    def handle(self, req):
        if req.path == "/_fake" or req.path.startswith("/_fake/"):
            return control.handle(self, req)
        request_id = ids.fresh()
        info = {}
        with self.lock:
            fault = self.faults.take(req.method, req.path)
        if fault is not None and fault.delay_ms:
            if not self._wait(fault.delay_ms, req.client_gone):
                self.log.add(self.clock.now(), req.method, req.path, None, request_id, info, fault.label(), dropped=True)
                return None
        if fault is not None and fault.status is not None:
            resp = self._fault_response(fault, request_id)
        else:
            resp = self._dispatch(req, request_id, info)
        self.log.add(self.clock.now(), req.method, req.path, resp.status, request_id, info,
                     fault.label() if fault is not None else None)
        notes = [f"bot={info['bot_id']}" if info.get("bot_id") else "",
                 f"grant={info['grant_type']}" if info.get("grant_type") else "",
                 f"fault=({fault.label()})" if fault is not None else ""]
        resp.note = " ".join(n for n in notes if n)
        if fault is not None and fault.answer_delay_ms:
            # Processed and logged: only the answer waits (real time),
            # whether or not the client is still there to read it.
            time.sleep(fault.answer_delay_ms / 1000.0)
        return resp

    @staticmethod
    def _wait(delay_ms, client_gone):
        """Sleeps delay_ms (real time); False as soon as the client is gone."""
        end = time.monotonic() + delay_ms / 1000.0
        while True:
            if client_gone():
                return False
            left = end - time.monotonic()
            if left <= 0:
                return not client_gone()
            time.sleep(min(0.02, left))

    @staticmethod
    def _fault_response(fault, request_id):
        if fault.html:
            # What an edge proxy sends: HTML, no x-notion-request-id.
            headers = {"Content-Type": "text/html", "cf-ray": _cf_ray()}
            if fault.retry_after is not None:
                headers["Retry-After"] = str(fault.retry_after)
            return Response(fault.status, headers, fault.html_body().encode())
        return error_response(fault.error(), request_id)

    def _route(self, method, path):
        # A known path with the wrong method is as unknown as any other URL
        # (the API answers invalid_request_url for both).
        for m, rx, handler, family in self.routes:
            match = rx.match(path)
            if match and m == method:
                return handler, family, match.groups()
        return None, None, ()

    def _dispatch(self, req, request_id, info):
        handler, family, params = self._route(req.method, req.path)
        if handler is None:
            return error_response(errors.invalid_request_url(), request_id)
        try:
            if family == "authorize":
                with self.lock:
                    ctx = Ctx(self, req, info)
                    status, headers, body = oauth.authorize(ctx)
                headers = dict(headers)
                headers["x-notion-request-id"] = request_id
                return Response(status, headers, body)

            version = req.headers.get("Notion-Version")
            if version is None:
                raise errors.missing_version()
            if version not in errors.SUPPORTED_VERSIONS:
                raise errors.bad_version()

            if family == "oauth":
                with self.lock:
                    ctx = Ctx(self, req, info, version)
                    ctx.body = parse_json_body(req.body)
                    try:
                        return json_response(200, handler(ctx), request_id)
                    except errors.OAuthError as e:
                        body = errors.oauth_body(e, self.settings["oauth_error_style"], request_id)
                        body.pop("request_id", None)
                        return json_response(e.status, body, request_id)

            with self.lock:
                ctx = Ctx(self, req, info, version)
                auth = req.headers.get("Authorization") or ""
                scheme, _, token = auth.partition(" ")
                bot = self.world.bot_for_token(token.strip(), "access") if scheme.lower() == "bearer" else None
                if bot is None:
                    raise errors.unauthorized()
                info["bot_id"] = bot.id
                limited = self.limiter.check(bot.id, bot.workspace_id, ctx.now)
                if limited is not None:
                    raise limited
                ctx.bot = bot
                ctx.client = self.world.clients[bot.client_id]
                ctx.view = View(self.world, bot, ctx.client, version, self.settings)
                if req.method in ("POST", "PATCH"):
                    ctx.body = parse_json_body(req.body)
                return json_response(200, handler(ctx, *params), request_id)
        except errors.ApiError as e:
            return error_response(e, request_id)
        except Exception as e:  # a bug in the fake: answer like Notion would, and say so on stderr
            import traceback
            traceback.print_exc(file=sys.stderr)
            return error_response(errors.ApiError(500, "internal_server_error", f"fake_notion bug: {e!r}"), request_id)
