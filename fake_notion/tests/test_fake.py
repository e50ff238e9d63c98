"""End-to-end tests of the fake Notion server, over HTTP, stdlib only.

The server runs as a subprocess (`python3 fake_notion --fixture
fixtures/test.json --port 0 --url-file ...`), exactly as scripts start it;
every test starts from POST /_fake/reset.

Run: python3 -m unittest discover -s fake_notion/tests -v
"""

import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.dirname(HERE)
FIXTURE = os.path.join(PACKAGE, "fixtures", "test.json")

VERSION = "2025-09-03"
MAIN = ("7a000000-0000-4000-8000-000000000001", "secret_main_7f3c9e2a41b84d06")
LIMITED = ("7a000000-0000-4000-8000-000000000002", "secret_limited_0b1d2e3f4a5b6c7d")
NOEMAIL = ("7a000000-0000-4000-8000-000000000003", "secret_noemail_5e6f7a8b9c0d1e2f")
REDIRECT = "http://127.0.0.1:8765/oauth/callback"
REDIRECT2 = "http://localhost:8765/oauth/callback"
WS = "1a000000-0000-4000-8000-000000000001"
WS2 = "1a000000-0000-4000-8000-000000000002"
ADA = "2b000000-0000-4000-8000-000000000001"
DAN = "2b000000-0000-4000-8000-000000000008"
GUEST = "2b000000-0000-4000-8000-000000000004"
ENGINEERING = "3c000000-0000-4000-8000-000000000001"
RUNBOOKS = "3c000000-0000-4000-8000-000000000002"
ESCALATION = "3c000000-0000-4000-8000-000000000004"
OLD_DESIGNS = "3c000000-0000-4000-8000-000000000005"
LONG_PAGE = "3c000000-0000-4000-8000-000000000007"
MARKETING = "3c000000-0000-4000-8000-000000000008"
CAMPAIGNS = "3c000000-0000-4000-8000-000000000009"
TRASHED = "3c000000-0000-4000-8000-000000000015"
HR_PRIVATE = "3c000000-0000-4000-8000-000000000020"
SALARIES = "3c000000-0000-4000-8000-000000000021"
B_HOME = "3c000000-0000-4000-8000-000000000030"
TASK_ROW = "3c000000-0000-4000-8000-000000000011"
TASKS_DB = "4d000000-0000-4000-8000-000000000001"
PROJECTS_DB = "4d000000-0000-4000-8000-000000000002"
MULTI_DB = "4d000000-0000-4000-8000-000000000003"
TASKS_DS = "5e000000-0000-4000-8000-000000000001"
PROJECTS_DS = "5e000000-0000-4000-8000-000000000002"
ARCHIVE_TOGGLE = "6f000000-0000-4000-8000-000000000001"

# What the fixture promises (README.md documents these numbers).
MEMBERS, GUESTS, FIXTURE_BOTS = 153, 2, 2
VISIBLE_PAGES, VISIBLE_DATABASES, VISIBLE_DATA_SOURCES = 252, 4, 5
SEARCHABLE = 256  # visible pages minus the trashed one, plus data sources

SERVER = {}


def setUpModule():
    tmp = tempfile.mkdtemp(prefix="fake_notion_test_")
    url_file = os.path.join(tmp, "url")
    SERVER["stderr_path"] = os.path.join(tmp, "stderr.log")
    SERVER["stderr"] = open(SERVER["stderr_path"], "w")
    SERVER["proc"] = subprocess.Popen(
        [sys.executable, PACKAGE, "--fixture", FIXTURE, "--port", "0", "--url-file", url_file],
        stdout=subprocess.PIPE, stderr=SERVER["stderr"], text=True)
    first_line = SERVER["proc"].stdout.readline().strip()
    deadline = time.time() + 10
    while not os.path.exists(url_file) and time.time() < deadline:
        time.sleep(0.05)
    with open(url_file) as f:
        url = f.read().strip()
    if url != first_line or not url.startswith("http://127.0.0.1:"):
        raise RuntimeError(f"unexpected start output {first_line!r} / {url!r}")
    SERVER["url"] = url


def tearDownModule():
    proc = SERVER.get("proc")
    if proc is not None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        SERVER["returncode"] = proc.returncode
        proc.stdout.close()
    SERVER["stderr"].close()


# --- HTTP helpers ------------------------------------------------------------

class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


class Reply:
    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        try:
            self.json = json.loads(raw.decode("utf-8"))
        except ValueError:
            self.json = None

    def __repr__(self):
        return f"<Reply {self.status} {self.raw[:300]!r}>"


def call(method, path, body=None, token=None, version=VERSION, basic=None, raw=None, headers=None):
    url = SERVER["url"] + path
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if version is not None:
        req.add_header("Notion-Version", version)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    if basic is not None:
        cred = base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
        req.add_header("Authorization", f"Basic {cred}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with _OPENER.open(req, timeout=30) as resp:
            return Reply(resp.status, resp.headers, resp.read())
    except urllib.error.HTTPError as e:
        return Reply(e.code, e.headers, e.read())


def control(method, path, body=None):
    reply = call(method, "/_fake/" + path, body=body, version=None)
    if reply.status != 200:
        raise AssertionError(f"control {method} {path} failed: {reply}")
    return reply.json


def authorize(client=MAIN, redirect=REDIRECT, state="st-123", extra=None):
    params = {"client_id": client[0], "response_type": "code", "owner": "user", "state": state}
    if redirect is not None:
        params["redirect_uri"] = redirect
    params.update(extra or {})
    return call("GET", "/v1/oauth/authorize?" + urllib.parse.urlencode(params), version=None)


def code_from(reply):
    assert reply.status == 302, reply
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(reply.headers["Location"]).query)
    return q["code"][0]


def exchange(code, redirect=REDIRECT, client=MAIN, version=VERSION):
    body = {"grant_type": "authorization_code", "code": code}
    if redirect is not None:
        body["redirect_uri"] = redirect
    return call("POST", "/v1/oauth/token", body, basic=client, version=version)


def refresh(refresh_token, client=MAIN):
    return call("POST", "/v1/oauth/token", {"grant_type": "refresh_token", "refresh_token": refresh_token},
                basic=client)


def login(client=MAIN, redirect=REDIRECT):
    reply = exchange(code_from(authorize(client, redirect)), redirect, client)
    assert reply.status == 200, reply
    return reply.json


def collect(fetch):
    """Follows next_cursor until has_more is false; returns all results."""
    out, cursor, pages = [], None, 0
    while True:
        page = fetch(cursor)
        assert page.status == 200, page
        out += page.json["results"]
        pages += 1
        if not page.json["has_more"]:
            assert page.json["next_cursor"] is None
            return out, pages
        cursor = page.json["next_cursor"]
        assert cursor


def send_exchange_raw(code):
    """Sends a code exchange on a bare socket, without reading the answer:
    the caller closes the socket to play a client killed mid-request."""
    body = json.dumps({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}).encode()
    cred = base64.b64encode(f"{MAIN[0]}:{MAIN[1]}".encode()).decode()
    host, port = SERVER["url"][len("http://"):].split(":")
    sock = socket.create_connection((host, int(port)))
    sock.sendall(b"POST /v1/oauth/token HTTP/1.1\r\nHost: x\r\nNotion-Version: 2025-09-03\r\n"
                 b"Content-Type: application/json\r\nAuthorization: Basic " + cred.encode() +
                 b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    return sock


class FakeTest(unittest.TestCase):
    def setUp(self):
        control("POST", "reset")

    def assertError(self, reply, status, code, message=None):
        self.assertEqual(reply.status, status, reply)
        self.assertEqual(reply.json["object"], "error", reply)
        self.assertEqual(reply.json["status"], status)
        self.assertEqual(reply.json["code"], code, reply)
        self.assertIn("request_id", reply.json)
        if message is not None:
            self.assertEqual(reply.json["message"], message)

    def assertOAuthError(self, reply, status, error):
        self.assertEqual(reply.status, status, reply)
        self.assertEqual(reply.json["error"], error, reply)
        self.assertIsInstance(reply.json["error_description"], str)


# --- OAuth ---------------------------------------------------------------------

class OAuthTests(FakeTest):
    def test_approve_and_token_response_fields(self):
        auth = authorize()
        self.assertEqual(auth.status, 302)
        location = urllib.parse.urlsplit(auth.headers["Location"])
        self.assertEqual(f"{location.scheme}://{location.netloc}{location.path}", REDIRECT)
        q = urllib.parse.parse_qs(location.query)
        self.assertEqual(q["state"], ["st-123"])
        reply = exchange(q["code"][0])
        self.assertEqual(reply.status, 200, reply)
        tok = reply.json
        self.assertEqual(set(tok), {"access_token", "token_type", "refresh_token", "bot_id", "workspace_name",
                                    "workspace_icon", "workspace_id", "owner", "duplicated_template_id",
                                    "request_id"})
        self.assertEqual(tok["token_type"], "bearer")
        self.assertEqual(tok["workspace_id"], WS)
        self.assertEqual(tok["workspace_name"], "Test Workspace")
        self.assertIsNone(tok["duplicated_template_id"])
        self.assertEqual(tok["owner"], {"type": "user", "user": {
            "object": "user", "id": ADA, "name": "Ada Admin", "avatar_url": None, "type": "person",
            "person": {"email": "ada@test.example"}}})
        self.assertEqual(reply.headers["x-notion-request-id"], tok["request_id"])
        self.assertEqual(reply.headers["Content-Type"], "application/json; charset=utf-8")
        bot = control("GET", f"bots/{tok['bot_id']}")
        self.assertEqual(bot["grants"], 1)
        self.assertEqual(bot["access_token"], tok["access_token"])
        self.assertEqual(bot["refresh_token"], tok["refresh_token"])
        self.assertEqual({r["id"] for r in bot["shared_roots"]}, {ENGINEERING, MARKETING, PROJECTS_DB})
        me = call("GET", "/v1/users/me", token=tok["access_token"])
        self.assertEqual(me.json["id"], tok["bot_id"])
        self.assertEqual(me.json["bot"]["workspace_id"], WS)
        self.assertEqual(me.json["bot"]["owner"]["user"]["id"], ADA)
        self.assertIn("workspace_limits", me.json["bot"])

    def test_deny(self):
        control("POST", "consent", {"mode": "deny"})
        auth = authorize(state="abc")
        self.assertEqual(auth.status, 302)
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(auth.headers["Location"]).query)
        self.assertEqual(q, {"error": ["access_denied"], "state": ["abc"]})

    def test_guest_cannot_authorize(self):
        control("POST", "consent", {"user_id": GUEST})
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(authorize().headers["Location"]).query)
        self.assertEqual(q["error"], ["access_denied"])

    def test_bad_client_or_redirect_shows_error_page(self):
        for reply in (authorize(client=("7a000000-0000-4000-8000-0000000000ff", "x")),
                      authorize(redirect="http://127.0.0.1:9999/evil"),
                      authorize(redirect=None)):  # two URIs registered: one must be named
            self.assertEqual(reply.status, 400)
            self.assertNotIn("Location", reply.headers)
            self.assertTrue(reply.headers["Content-Type"].startswith("text/html"))
            self.assertIn(b"Missing or invalid redirect_uri", reply.raw)
        # One URI registered: it may be omitted.
        reply = authorize(client=LIMITED, redirect=None)
        self.assertEqual(reply.status, 302)
        self.assertTrue(reply.headers["Location"].startswith(REDIRECT + "?code="))

    def test_code_is_single_use(self):
        code = code_from(authorize())
        self.assertEqual(exchange(code).status, 200)
        self.assertOAuthError(exchange(code), 400, "invalid_grant")

    def test_code_expires(self):
        code = code_from(authorize())
        control("POST", "clock/advance", {"seconds": 601})
        self.assertOAuthError(exchange(code), 400, "invalid_grant")
        control("POST", "settings", {"code_ttl_seconds": 30})
        code = code_from(authorize())
        control("POST", "clock/advance", {"seconds": 29})
        self.assertEqual(exchange(code).status, 200)

    def test_redirect_uri_rules(self):
        code = code_from(authorize(redirect=REDIRECT))
        # In the authorize URL -> required at the token endpoint, and equal.
        self.assertOAuthError(exchange(code, redirect=None), 400, "invalid_request")
        self.assertOAuthError(exchange(code, redirect=REDIRECT2), 400, "invalid_grant")
        # Failed exchanges do not burn the code.
        self.assertEqual(exchange(code, redirect=REDIRECT).status, 200)
        # One URI registered and omitted from the authorize URL -> not allowed.
        code = code_from(authorize(client=LIMITED, redirect=None))
        self.assertOAuthError(exchange(code, redirect=REDIRECT, client=LIMITED), 400, "invalid_request")
        self.assertEqual(exchange(code, redirect=None, client=LIMITED).status, 200)

    def test_bad_client_credentials(self):
        code = code_from(authorize())
        self.assertOAuthError(exchange(code, client=(MAIN[0], "wrong")), 401, "invalid_client")
        no_auth = call("POST", "/v1/oauth/token", {"grant_type": "authorization_code", "code": code})
        self.assertOAuthError(no_auth, 401, "invalid_client")
        # A code issued to one client is no good to another.
        self.assertOAuthError(exchange(code, client=NOEMAIL), 400, "invalid_grant")
        self.assertEqual(exchange(code).status, 200)

    def test_error_styles(self):
        reply = exchange("no-such-code")
        self.assertEqual(set(reply.json), {"error", "error_description", "request_id"})
        self.assertEqual(reply.json["error"], "invalid_grant")
        control("POST", "settings", {"oauth_error_style": "notion"})
        reply = exchange("no-such-code")
        self.assertError(reply, 400, "invalid_grant")
        self.assertIsInstance(reply.json["message"], str)
        reply = exchange("no-such-code", client=(MAIN[0], "wrong"))
        self.assertError(reply, 401, "invalid_client")
        reply = call("POST", "/v1/oauth/token", {"grant_type": "password"}, basic=MAIN)
        self.assertError(reply, 400, "unsupported_grant_type")

    def test_notion_version_required_on_oauth_posts(self):
        code = code_from(authorize())
        self.assertError(exchange(code, version=None), 400, "missing_version")
        for path in ("/v1/oauth/introspect", "/v1/oauth/revoke"):
            self.assertError(call("POST", path, {"token": "x"}, basic=MAIN, version=None), 400, "missing_version")
        self.assertEqual(exchange(code).status, 200)

    def test_refresh_rotates_both_tokens(self):
        tok = login()
        reply = refresh(tok["refresh_token"])
        self.assertEqual(reply.status, 200, reply)
        new = reply.json
        self.assertEqual(new["bot_id"], tok["bot_id"])
        self.assertNotEqual(new["access_token"], tok["access_token"])
        self.assertNotEqual(new["refresh_token"], tok["refresh_token"])
        self.assertNotIn("expires_in", new)
        self.assertOAuthError(refresh(tok["refresh_token"]), 400, "invalid_grant")
        self.assertError(call("GET", "/v1/users/me", token=tok["access_token"]), 401, "unauthorized")
        self.assertEqual(call("GET", "/v1/users/me", token=new["access_token"]).status, 200)
        self.assertEqual(control("GET", f"bots/{tok['bot_id']}")["refreshes"], 1)
        # The undocumented alternative: old access token survives a refresh.
        control("POST", "settings", {"refresh_revokes_old_access": False})
        newer = refresh(new["refresh_token"]).json
        self.assertEqual(call("GET", "/v1/users/me", token=new["access_token"]).status, 200)
        self.assertEqual(call("GET", "/v1/users/me", token=newer["access_token"]).status, 200)

    def test_concurrent_refresh_only_one_wins(self):
        tok = login()
        results = []
        barrier = threading.Barrier(4)

        def worker():
            barrier.wait()
            results.append(refresh(tok["refresh_token"]).status)

        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(sorted(results), [200, 400, 400, 400])

    def test_reauthorization_keeps_bot_new_pair(self):
        first = login()
        second = login()
        self.assertEqual(first["bot_id"], second["bot_id"])
        self.assertNotEqual(first["access_token"], second["access_token"])
        self.assertNotEqual(first["refresh_token"], second["refresh_token"])
        self.assertError(call("GET", "/v1/users/me", token=first["access_token"]), 401, "unauthorized")
        self.assertOAuthError(refresh(first["refresh_token"]), 400, "invalid_grant")
        self.assertEqual(control("GET", f"bots/{first['bot_id']}")["grants"], 2)
        control("POST", "settings", {"reauth_same_bot": False})
        third = login()
        self.assertNotEqual(third["bot_id"], first["bot_id"])

    def test_other_workspace_gets_its_own_bot(self):
        a = login()
        control("POST", "consent", {"workspace_id": WS2, "user_id": ADA, "shared_roots": [B_HOME]})
        b = login()
        self.assertNotEqual(a["bot_id"], b["bot_id"])
        self.assertEqual(b["workspace_id"], WS2)
        self.assertEqual(call("GET", f"/v1/pages/{B_HOME}", token=b["access_token"]).status, 200)
        self.assertError(call("GET", f"/v1/pages/{B_HOME}", token=a["access_token"]), 404, "object_not_found")
        self.assertError(call("GET", f"/v1/pages/{ENGINEERING}", token=b["access_token"]), 404, "object_not_found")

    def test_introspect(self):
        tok = login()
        reply = call("POST", "/v1/oauth/introspect", {"token": tok["access_token"]}, basic=MAIN)
        self.assertEqual(reply.status, 200)
        self.assertTrue(reply.json["active"])
        self.assertIn("read_content", reply.json["scope"].split())
        self.assertIn("read_user_with_email", reply.json["scope"].split())
        self.assertIsInstance(reply.json["iat"], int)
        self.assertIn("request_id", reply.json)
        self.assertTrue(call("POST", "/v1/oauth/introspect", {"token": tok["refresh_token"]}, basic=MAIN).json["active"])
        unknown = call("POST", "/v1/oauth/introspect", {"token": "ntn_nope"}, basic=MAIN)
        self.assertEqual({k: v for k, v in unknown.json.items() if k != "request_id"}, {"active": False})
        self.assertOAuthError(call("POST", "/v1/oauth/introspect", {"token": tok["access_token"]},
                                   basic=(MAIN[0], "bad")), 401, "invalid_client")

    def test_revoke(self):
        tok = login()
        reply = call("POST", "/v1/oauth/revoke", {"token": tok["access_token"]}, basic=MAIN)
        self.assertEqual(reply.status, 200)
        self.assertEqual(set(reply.json), {"request_id"})
        self.assertError(call("GET", "/v1/users/me", token=tok["access_token"]), 401, "unauthorized",
                         "API token is invalid.")
        self.assertOAuthError(refresh(tok["refresh_token"]), 400, "invalid_grant")
        self.assertFalse(call("POST", "/v1/oauth/introspect", {"token": tok["access_token"]}, basic=MAIN).json["active"])
        bot = control("GET", f"bots/{tok['bot_id']}")
        self.assertEqual((bot["active"], bot["ended"]), (False, "revoked"))

    def test_remove_bot(self):
        tok = login()
        control("POST", f"bots/{tok['bot_id']}/remove")
        self.assertError(call("POST", "/v1/search", {}, token=tok["access_token"]), 401, "unauthorized")
        self.assertOAuthError(refresh(tok["refresh_token"]), 400, "invalid_grant")
        # A later authorization by the same user is a fresh installation.
        again = login()
        self.assertNotEqual(again["bot_id"], tok["bot_id"])

    def test_expire_access(self):
        tok = login()
        control("POST", f"bots/{tok['bot_id']}/expire_access")
        self.assertError(call("GET", "/v1/users/me", token=tok["access_token"]), 401, "unauthorized")
        reply = refresh(tok["refresh_token"])
        self.assertEqual(reply.status, 200)
        self.assertEqual(call("GET", "/v1/users/me", token=reply.json["access_token"]).status, 200)


# --- transport and errors ---------------------------------------------------------

class TransportTests(FakeTest):
    def setUp(self):
        super().setUp()
        self.tok = login()
        self.token = self.tok["access_token"]

    def test_notion_version(self):
        self.assertError(call("GET", "/v1/users/me", token=self.token, version=None), 400, "missing_version",
                         "Notion-Version header failed validation: Notion-Version header should be defined, "
                         "instead was `undefined`.")
        self.assertError(call("GET", "/v1/users/me", token=self.token, version="2024-01-01"), 400,
                         "validation_error",
                         'Notion-Version header failed validation: Notion-Version header should be "2021-05-11", '
                         '"2021-05-13", "2021-08-16", "2022-02-22", "2022-06-28", "2025-09-03", or "2026-03-11"')

    def test_bearer(self):
        self.assertError(call("GET", "/v1/users/me"), 401, "unauthorized", "API token is invalid.")
        self.assertError(call("GET", "/v1/users/me", token="secret_not_a_token"), 401, "unauthorized",
                         "API token is invalid.")
        refresh_as_bearer = call("GET", "/v1/users/me", token=self.tok["refresh_token"])
        self.assertError(refresh_as_bearer, 401, "unauthorized")

    def test_unknown_route_and_bad_json(self):
        self.assertError(call("GET", "/v1/invalid", token=self.token), 400, "invalid_request_url",
                         "Invalid request URL.")
        self.assertError(call("GET", "/v1/search", token=self.token), 400, "invalid_request_url")
        self.assertError(call("POST", "/v1/search", raw=b"{not json", token=self.token), 400, "invalid_json",
                         "Error parsing JSON body.")

    def test_ids(self):
        self.assertError(call("GET", "/v1/pages/abc", token=self.token), 400, "validation_error",
                         'path failed validation: path.page_id should be a valid uuid, instead was `"abc"`.')
        self.assertError(call("GET", "/v1/blocks/xyz/children", token=self.token), 400, "validation_error",
                         'path failed validation: path.block_id should be a valid uuid, instead was `"xyz"`.')
        for form in (ENGINEERING.replace("-", ""), ENGINEERING.upper(), ENGINEERING.replace("-", "").upper()):
            reply = call("GET", f"/v1/pages/{form}", token=self.token)
            self.assertEqual(reply.status, 200)
            self.assertEqual(reply.json["id"], ENGINEERING)

    def test_request_id_everywhere(self):
        for reply in (call("GET", "/v1/users/me", token=self.token), call("GET", "/v1/invalid", token=self.token),
                      call("GET", f"/v1/pages/{HR_PRIVATE}", token=self.token)):
            self.assertEqual(reply.headers["Content-Type"], "application/json; charset=utf-8")
            self.assertEqual(reply.headers["x-notion-request-id"], reply.json["request_id"])

    def test_not_found_message(self):
        name = "notion_rbac test"
        for path, kind, oid in ((f"/v1/pages/{HR_PRIVATE}", "page", HR_PRIVATE),
                                (f"/v1/pages/{SALARIES}", "page", SALARIES),
                                (f"/v1/blocks/{SALARIES}/children", "block", SALARIES),
                                ("/v1/databases/4d000000-0000-4000-8000-0000000000ff", "database",
                                 "4d000000-0000-4000-8000-0000000000ff"),
                                ("/v1/data_sources/4d000000000040008000000000000001", "data_source", TASKS_DB)):
            reply = call("GET", path, token=self.token)
            self.assertError(reply, 404, "object_not_found",
                             f"Could not find {kind} with ID: {oid}. Make sure the relevant pages and databases are "
                             f'shared with your integration "{name}".')
            self.assertEqual(reply.json["additional_data"], {"integration_id": self.tok["bot_id"]})

    def test_wrong_kind(self):
        self.assertError(call("GET", f"/v1/pages/{TASKS_DB}", token=self.token), 400, "validation_error")
        self.assertError(call("GET", f"/v1/databases/{ENGINEERING}", token=self.token), 400, "validation_error")

    def test_capabilities(self):
        limited = login(client=LIMITED, redirect=None)["access_token"]
        self.assertError(call("GET", "/v1/users", token=limited), 403, "restricted_resource")
        self.assertError(call("GET", f"/v1/users/{ADA}", token=limited), 403, "restricted_resource")
        self.assertError(call("GET", f"/v1/comments?block_id={ENGINEERING}", token=limited), 403,
                         "restricted_resource")
        self.assertError(call("POST", "/v1/pages", {"parent": {"page_id": ENGINEERING}}, token=limited), 403,
                         "restricted_resource")
        self.assertEqual(call("GET", f"/v1/pages/{ENGINEERING}", token=limited).status, 200)
        # Without user information, users inside objects are {object, id}.
        row = call("GET", f"/v1/pages/{TASK_ROW}", token=limited).json
        self.assertEqual(row["properties"]["Owner"]["people"], [{"object": "user", "id": ADA}])
        noemail = login(client=NOEMAIL, redirect=None)
        self.assertEqual(noemail["owner"]["user"]["person"], {})
        users, _ = collect(lambda c: call("GET", "/v1/users" + (f"?start_cursor={c}" if c else ""),
                                          token=noemail["access_token"]))
        persons = [u for u in users if u["type"] == "person"]
        self.assertTrue(persons)
        self.assertTrue(all(u["person"] == {} for u in persons))

    def test_users(self):
        guest = call("GET", f"/v1/users/{GUEST}", token=self.token)
        self.assertEqual(guest.status, 200)
        self.assertEqual(guest.json["person"]["email"], "gus@guest.example")
        self.assertError(call("GET", f"/v1/users/{DAN}", token=self.token), 404, "object_not_found")

    def test_trash(self):
        page = call("GET", f"/v1/pages/{TRASHED}", token=self.token).json
        self.assertTrue(page["in_trash"])
        self.assertTrue(page["archived"])
        found = call("POST", "/v1/search", {"query": "Trashed"}, token=self.token).json["results"]
        self.assertEqual(found, [])
        found = call("POST", "/v1/search", {"query": "Trashed", "filter": {"in_trash": True}},
                     token=self.token).json["results"]
        self.assertEqual([r["id"] for r in found], [TRASHED])
        # Trashed pages are not listed as children.
        kids = call("GET", f"/v1/blocks/{ENGINEERING}/children", token=self.token).json["results"]
        self.assertNotIn(TRASHED, [k["id"] for k in kids])

    def test_shapes(self):
        row = call("GET", f"/v1/pages/{TASK_ROW}", token=self.token).json
        self.assertEqual(row["parent"], {"type": "data_source_id", "data_source_id": TASKS_DS,
                                         "database_id": TASKS_DB})
        self.assertEqual(row["created_by"], {"object": "user", "id": ADA})
        self.assertEqual(row["properties"]["Status"]["select"]["name"], "Doing")
        old = call("GET", f"/v1/pages/{OLD_DESIGNS}", token=self.token).json
        self.assertEqual(old["parent"], {"type": "block_id", "block_id": ARCHIVE_TOGGLE})
        top = call("GET", f"/v1/databases/{PROJECTS_DB}", token=self.token).json
        self.assertEqual(top["parent"], {"type": "workspace", "workspace": True})
        self.assertEqual(top["data_sources"], [{"id": PROJECTS_DS, "name": "Projects"}])
        ds = call("GET", f"/v1/data_sources/{TASKS_DS}", token=self.token).json
        self.assertEqual(ds["parent"], {"type": "database_id", "database_id": TASKS_DB})
        self.assertEqual(ds["database_parent"], {"type": "page_id", "page_id": ENGINEERING})
        self.assertEqual(ds["properties"]["Name"]["type"], "title")
        block = call("GET", f"/v1/blocks/{RUNBOOKS}", token=self.token).json
        self.assertEqual((block["type"], block["child_page"]), ("child_page", {"title": "Runbooks"}))
        db_block = call("GET", f"/v1/blocks/{TASKS_DB}", token=self.token).json
        self.assertEqual((db_block["type"], db_block["child_database"]), ("child_database", {"title": "Tasks"}))
        comments = call("GET", f"/v1/comments?block_id={ENGINEERING}", token=self.token).json
        self.assertEqual(comments["type"], "comment")
        self.assertEqual(len(comments["results"]), 2)  # the resolved one is not listed

    def test_versions(self):
        new = call("GET", f"/v1/pages/{TASK_ROW}", token=self.token, version="2026-03-11").json
        self.assertNotIn("archived", new)
        self.assertIn("in_trash", new)
        classic = call("GET", f"/v1/pages/{TASK_ROW}", token=self.token, version="2022-06-28").json
        self.assertEqual(classic["parent"], {"type": "database_id", "database_id": TASKS_DB})
        db = call("GET", f"/v1/databases/{TASKS_DB}", token=self.token, version="2022-06-28").json
        self.assertIn("Status", db["properties"])
        found = call("POST", "/v1/search", {"filter": {"property": "object", "value": "database"}},
                     token=self.token, version="2022-06-28").json
        self.assertEqual(found["type"], "page_or_database")
        self.assertEqual({r["object"] for r in found["results"]}, {"database"})
        self.assertError(call("POST", "/v1/search", {"filter": {"property": "object", "value": "database"}},
                              token=self.token), 400, "validation_error")
        self.assertError(call("GET", f"/v1/data_sources/{TASKS_DS}", token=self.token, version="2022-06-28"),
                         400, "invalid_request_url")
        rows = call("POST", f"/v1/databases/{TASKS_DB}/query", {}, token=self.token, version="2022-06-28").json
        self.assertEqual(len(rows["results"]), 5)


# --- pagination ----------------------------------------------------------------

class PaginationTests(FakeTest):
    def setUp(self):
        super().setUp()
        self.tok = login()
        self.token = self.tok["access_token"]

    def test_users_list_all_exactly_once(self):
        users, pages = collect(lambda c: call("GET", "/v1/users" + (f"?start_cursor={c}" if c else ""),
                                              token=self.token))
        ids_ = [u["id"] for u in users]
        self.assertEqual(len(ids_), len(set(ids_)))
        expected = MEMBERS + FIXTURE_BOTS + 1  # + this authorization's bot
        self.assertEqual(len(ids_), expected)
        self.assertEqual(pages, 2)
        self.assertEqual(control("GET", "workspaces")["workspaces"][0]["listed_users"], expected)
        self.assertNotIn(GUEST, ids_)
        self.assertIn(self.tok["bot_id"], ids_)
        self.assertTrue(all("email" in u["person"] for u in users if u["type"] == "person"))
        small, pages = collect(lambda c: call("GET", "/v1/users?page_size=7" + (f"&start_cursor={c}" if c else ""),
                                              token=self.token))
        self.assertEqual([u["id"] for u in small], ids_)
        self.assertEqual(pages, (expected + 6) // 7)

    def test_search_all_exactly_once(self):
        results, pages = collect(lambda c: call("POST", "/v1/search", {"start_cursor": c} if c else {},
                                                token=self.token))
        ids_ = [r["id"] for r in results]
        self.assertEqual(len(ids_), len(set(ids_)))
        self.assertEqual(len(ids_), SEARCHABLE)
        self.assertGreater(pages, 1)
        visible = control("GET", f"bots/{self.tok['bot_id']}")["visible"]
        self.assertEqual((visible["pages"], visible["databases"], visible["data_sources"]),
                         (VISIBLE_PAGES, VISIBLE_DATABASES, VISIBLE_DATA_SOURCES))
        self.assertEqual(visible["search_results"], SEARCHABLE)
        self.assertNotIn(HR_PRIVATE, ids_)
        self.assertEqual(sum(r["object"] == "data_source" for r in results), VISIBLE_DATA_SOURCES)
        times = [r["last_edited_time"] for r in results]
        self.assertEqual(times, sorted(times, reverse=True))
        only_ds = call("POST", "/v1/search", {"filter": {"property": "object", "value": "data_source"}},
                       token=self.token).json
        self.assertEqual(only_ds["type"], "page_or_data_source")
        self.assertEqual(len(only_ds["results"]), VISIBLE_DATA_SOURCES)

    def test_query_result_limit(self):
        whole = call("POST", "/v1/search", {}, token=self.token).json
        self.assertEqual(whole["request_status"], {"type": "complete"})
        control("POST", "settings", {"query_result_limit": 150})
        results, pages = collect(lambda c: call("POST", "/v1/search", {"start_cursor": c} if c else {},
                                                token=self.token))
        self.assertEqual((len(results), pages), (150, 2))
        last = call("POST", "/v1/search", {"page_size": 100, "start_cursor": call(
            "POST", "/v1/search", {}, token=self.token).json["next_cursor"]}, token=self.token).json
        self.assertEqual((last["has_more"], last["next_cursor"]), (False, None))
        self.assertEqual(last["request_status"], {"type": "incomplete", "incomplete_reason": "query_result_limit_reached"})
        self.assertNotIn("request_status", call("GET", "/v1/users", token=self.token).json)

    def test_page_size_limits(self):
        self.assertError(call("GET", "/v1/users?page_size=101", token=self.token), 400, "validation_error",
                         "query failed validation: query.page_size should be ≤ `100`, instead was `101`.")
        self.assertError(call("POST", "/v1/search", {"page_size": 101}, token=self.token), 400, "validation_error",
                         "body failed validation: body.page_size should be ≤ `100`, instead was `101`.")
        self.assertError(call("POST", "/v1/search", {"page_size": 0}, token=self.token), 400, "validation_error")
        full = call("POST", "/v1/search", {}, token=self.token).json
        self.assertEqual(len(full["results"]), 100)

    def test_cursor_placement_and_validity(self):
        reply = call("POST", "/v1/search?start_cursor=abc", {}, token=self.token)
        self.assertError(reply, 400, "validation_error")
        self.assertTrue(reply.json["message"].startswith(
            "query failed validation: query.start_cursor should be not present"))
        self.assertError(call("POST", "/v1/search", {"start_cursor": 5}, token=self.token), 400, "validation_error")
        bogus = call("POST", "/v1/search", {"start_cursor": "7f0c1a52-0000-4000-8000-000000000000"},
                     token=self.token)
        self.assertError(bogus, 400, "validation_error",
                         "The start_cursor provided is invalid: 7f0c1a52-0000-4000-8000-000000000000")
        first = call("POST", "/v1/search", {"page_size": 10}, token=self.token).json
        control("POST", "cursors/invalidate")
        self.assertError(call("POST", "/v1/search", {"start_cursor": first["next_cursor"]}, token=self.token),
                         400, "validation_error")

    def test_block_children_pagination(self):
        blocks, pages = collect(lambda c: call(
            "GET", f"/v1/blocks/{LONG_PAGE}/children" + (f"?start_cursor={c}" if c else ""), token=self.token))
        self.assertEqual(len(blocks), 120)
        self.assertEqual(pages, 2)
        self.assertEqual(blocks[0]["paragraph"]["rich_text"][0]["plain_text"], "Line 1")
        first = call("GET", f"/v1/blocks/{LONG_PAGE}/children", token=self.token).json
        self.assertEqual(first["next_cursor"], blocks[100]["id"])  # as recorded: next item's id

    def test_data_source_query(self):
        rows, pages = collect(lambda c: call("POST", f"/v1/data_sources/{TASKS_DS}/query",
                                             dict({"page_size": 2}, **({"start_cursor": c} if c else {})),
                                             token=self.token))
        self.assertEqual(len(rows), 5)
        self.assertEqual(pages, 3)
        todo = call("POST", f"/v1/data_sources/{TASKS_DS}/query",
                    {"filter": {"property": "Status", "select": {"equals": "Todo"}},
                     "sorts": [{"property": "Name", "direction": "ascending"}]}, token=self.token).json
        names = [r["properties"]["Name"]["title"][0]["plain_text"] for r in todo["results"]]
        self.assertEqual(names, ["Design the admin page", "Load test the sync"])


# --- page creation -------------------------------------------------------------

class CreatePageTests(FakeTest):
    def setUp(self):
        super().setUp()
        self.tok = login()
        self.token = self.tok["access_token"]

    def create(self, body):
        return call("POST", "/v1/pages", body, token=self.token)

    def test_create_row(self):
        reply = self.create({
            "parent": {"data_source_id": TASKS_DS},
            "properties": {
                "Name": {"title": [{"text": {"content": "Audit entry"}}]},
                "Notes": {"rich_text": [{"text": {"content": "granted editor", "link": None}}]},
                "Status": {"select": {"name": "Todo"}},
                "Due": {"date": {"start": "2026-08-01T12:00:00Z", "end": None, "time_zone": None}},
            },
        })
        self.assertEqual(reply.status, 200, reply)
        page = reply.json
        self.assertEqual(page["parent"], {"type": "data_source_id", "data_source_id": TASKS_DS,
                                          "database_id": TASKS_DB})
        self.assertEqual(page["created_by"], {"object": "user", "id": self.tok["bot_id"]})
        self.assertEqual(page["properties"]["Status"]["select"]["name"], "Todo")
        self.assertEqual(page["properties"]["Due"]["date"]["start"], "2026-08-01T12:00:00Z")
        self.assertEqual(page["properties"]["Notes"]["rich_text"][0]["plain_text"], "granted editor")
        rows = call("POST", f"/v1/data_sources/{TASKS_DS}/query", {}, token=self.token).json["results"]
        self.assertIn(page["id"], [r["id"] for r in rows])
        self.assertEqual(call("GET", f"/v1/pages/{page['id']}", token=self.token).status, 200)

    def test_validation(self):
        base = {"parent": {"data_source_id": TASKS_DS}}
        self.assertError(self.create(dict(base, properties={"Nope": {"rich_text": []}})), 400, "validation_error",
                         "Nope is not a property that exists.")
        self.assertError(self.create(dict(base, properties={"Status": {"rich_text": []}})), 400, "validation_error",
                         "Status is expected to be select.")
        self.assertError(self.create(dict(base, properties={"Due": {"date": {"start": "tomorrow"}}})), 400,
                         "validation_error")
        long_text = {"Notes": {"rich_text": [{"text": {"content": "x" * 2001}}]}}
        self.assertError(self.create(dict(base, properties=long_text)), 400, "validation_error",
                         "body failed validation: body.properties.Notes.rich_text[0].text.content.length should be "
                         "≤ `2000`, instead was `2001`.")
        self.assertError(self.create({"parent": {"database_id": MULTI_DB}, "properties": {}}), 400,
                         "validation_error")
        self.assertError(self.create({"parent": {"page_id": HR_PRIVATE}, "properties": {}}), 404,
                         "object_not_found")
        self.assertError(self.create({"properties": {}}), 400, "validation_error")

    def test_create_under_page_and_single_source_database(self):
        reply = self.create({"parent": {"page_id": ENGINEERING},
                             "properties": {"title": [{"text": {"content": "New child"}}]},
                             "children": [{"object": "block", "type": "paragraph",
                                           "paragraph": {"rich_text": [{"text": {"content": "hello"}}]}}]})
        self.assertEqual(reply.status, 200, reply)
        kids = call("GET", f"/v1/blocks/{ENGINEERING}/children", token=self.token).json["results"]
        self.assertEqual(kids[-1]["id"], reply.json["id"])
        self.assertEqual(kids[-1]["child_page"], {"title": "New child"})
        inner = call("GET", f"/v1/blocks/{reply.json['id']}/children", token=self.token).json["results"]
        self.assertEqual(inner[0]["paragraph"]["rich_text"][0]["plain_text"], "hello")
        row = self.create({"parent": {"database_id": PROJECTS_DB},
                           "properties": {"Name": {"title": [{"text": {"content": "Row"}}]}}})
        self.assertEqual(row.status, 200, row)
        self.assertEqual(row.json["parent"]["data_source_id"], PROJECTS_DS)


# --- rate limits and faults ---------------------------------------------------------

class RateLimitTests(FakeTest):
    def setUp(self):
        super().setUp()
        self.tok = login()
        self.token = self.tok["access_token"]

    def test_per_token_budget(self):
        control("POST", "rate_limits", {"per_token": {"limit": 3, "window_seconds": 60}})
        for _ in range(3):
            self.assertEqual(call("GET", "/v1/users/me", token=self.token).status, 200)
        reply = call("GET", "/v1/users/me", token=self.token)
        self.assertError(reply, 429, "rate_limited")
        retry = int(reply.headers["Retry-After"])
        self.assertTrue(1 <= retry <= 60)
        self.assertEqual(reply.json["additional_data"],
                         {"rate_limit_reason": "public_api_request_rate_limit", "retry_after": retry})
        control("POST", "clock/advance", {"seconds": 61})
        self.assertEqual(call("GET", "/v1/users/me", token=self.token).status, 200)

    def test_per_workspace_budget(self):
        control("POST", "rate_limits", {"per_workspace": {"limit": 2, "window_seconds": 60}})
        other = login(client=NOEMAIL, redirect=None)["access_token"]  # another bot, same workspace
        self.assertEqual(call("GET", "/v1/users/me", token=self.token).status, 200)
        self.assertEqual(call("GET", "/v1/users/me", token=other).status, 200)
        reply = call("GET", "/v1/users/me", token=self.token)
        self.assertError(reply, 429, "rate_limited")
        self.assertEqual(reply.json["additional_data"]["rate_limit_reason"], "public_api_space_request_rate_limit")

    def test_next_k_calls_429(self):
        control("POST", "faults", {"path": "/v1/users", "status": 429, "count": 2, "retry_after": 3})
        for _ in range(2):
            reply = call("GET", "/v1/users/me", token=self.token)
            self.assertError(reply, 429, "rate_limited")
            self.assertEqual(reply.headers["Retry-After"], "3")
        self.assertEqual(call("GET", "/v1/users/me", token=self.token).status, 200)


class FaultTests(FakeTest):
    def setUp(self):
        super().setUp()
        self.tok = login()
        self.token = self.tok["access_token"]

    def test_html_502_without_request_id(self):
        control("POST", "faults", {"method": "POST", "path": "/v1/search", "status": 502, "html": True})
        reply = call("POST", "/v1/search", {}, token=self.token)
        self.assertEqual(reply.status, 502)
        self.assertIsNone(reply.json)
        self.assertTrue(reply.headers["Content-Type"].startswith("text/html"))
        self.assertIsNone(reply.headers.get("x-notion-request-id"))
        self.assertIsNotNone(reply.headers.get("cf-ray"))
        self.assertEqual(call("POST", "/v1/search", {}, token=self.token).status, 200)

    def test_json_faults(self):
        control("POST", "faults", {"faults": [
            {"path": "/v1/users/me", "status": 529, "retry_after": 2},
            {"path": "/v1/users/me", "status": 500},
            {"path": "/v1/users/me", "status": 409},
            {"path": "/v1/users/me", "status": 504, "html": True},
        ]})
        reply = call("GET", "/v1/users/me", token=self.token)
        self.assertError(reply, 529, "service_overload")
        self.assertEqual(reply.headers["Retry-After"], "2")
        self.assertError(call("GET", "/v1/users/me", token=self.token), 500, "internal_server_error")
        self.assertError(call("GET", "/v1/users/me", token=self.token), 409, "conflict_error")
        html = call("GET", "/v1/users/me", token=self.token)
        self.assertEqual((html.status, html.json), (504, None))
        self.assertEqual(call("GET", "/v1/users/me", token=self.token).status, 200)
        entries = control("GET", "log")["entries"]
        self.assertEqual([e.get("fault") is not None for e in entries[-5:]], [True, True, True, True, False])

    def test_method_and_prefix_matching(self):
        control("POST", "faults", {"method": "GET", "path": "/v1/users", "status": 503, "count": 5})
        self.assertEqual(call("POST", "/v1/search", {}, token=self.token).status, 200)
        self.assertError(call("GET", "/v1/users/me", token=self.token), 503, "service_unavailable")
        self.assertEqual(len(control("GET", "faults")["faults"]), 1)
        control("DELETE", "faults")
        self.assertEqual(call("GET", "/v1/users/me", token=self.token).status, 200)

    def test_delay_then_processed(self):
        control("POST", "faults", {"path": "/v1/users/me", "delay_ms": 400})
        started = time.monotonic()
        self.assertEqual(call("GET", "/v1/users/me", token=self.token).status, 200)
        self.assertGreaterEqual(time.monotonic() - started, 0.39)

    def test_delay_and_disconnect_drops_request(self):
        code = code_from(authorize())
        control("POST", "faults", {"method": "POST", "path": "/v1/oauth/token", "delay_ms": 1500})
        seq = control("GET", "log")["last_seq"]
        sock = send_exchange_raw(code)
        time.sleep(0.3)
        sock.close()  # the client is killed mid-request
        deadline = time.time() + 5
        entries = []
        while time.time() < deadline:
            entries = [e for e in control("GET", f"log?since={seq}")["entries"] if e["path"] == "/v1/oauth/token"]
            if entries:
                break
            time.sleep(0.1)
        self.assertEqual(len(entries), 1, entries)
        self.assertTrue(entries[0]["dropped"])
        self.assertIsNone(entries[0]["status"])
        # The code was never consumed: a retry succeeds.
        reply = exchange(code)
        self.assertEqual(reply.status, 200, reply)
        self.assertEqual(control("GET", f"bots/{reply.json['bot_id']}")["grants"], 2)  # login() + this one

    def test_answer_delay_processes_first(self):
        # The answer is held back, the request is not: a client that leaves
        # meanwhile has still spent its code.
        code = code_from(authorize())
        control("POST", "faults", {"method": "POST", "path": "/v1/oauth/token", "answer_delay_ms": 1500})
        seq = control("GET", "log")["last_seq"]
        sock = send_exchange_raw(code)
        time.sleep(0.3)
        entries = [e for e in control("GET", f"log?since={seq}")["entries"] if e["path"] == "/v1/oauth/token"]
        sock.close()  # the client is killed while its answer is held back
        self.assertEqual([e["status"] for e in entries], [200], entries)
        self.assertOAuthError(exchange(code), 400, "invalid_grant")
        self.assertEqual(control("GET", "faults")["faults"], [], "the fault applied once")

    def test_negative_delay_refused(self):
        for key in ("delay_ms", "answer_delay_ms"):
            reply = call("POST", "/_fake/faults", body={"path": "/v1/users/me", key: -5}, version=None)
            self.assertEqual(reply.status, 400, (key, reply))


# --- control endpoints -----------------------------------------------------------

class ControlTests(FakeTest):
    def setUp(self):
        super().setUp()
        self.tok = login()
        self.token = self.tok["access_token"]
        self.bot = self.tok["bot_id"]

    def test_share_unshare(self):
        self.assertEqual(call("GET", f"/v1/pages/{CAMPAIGNS}", token=self.token).status, 200)
        control("POST", "unshare", {"bot_id": self.bot, "object_id": MARKETING})
        self.assertError(call("GET", f"/v1/pages/{CAMPAIGNS}", token=self.token), 404, "object_not_found")
        control("POST", "share", {"bot_id": self.bot, "object_id": HR_PRIVATE})
        self.assertEqual(call("GET", f"/v1/pages/{SALARIES}", token=self.token).status, 200)

    def test_trash_untrash_delete(self):
        control("POST", "trash", {"object_id": RUNBOOKS})
        esc = call("GET", f"/v1/pages/{ESCALATION}", token=self.token).json
        self.assertTrue(esc["in_trash"])  # under a trashed page
        control("POST", "untrash", {"object_id": RUNBOOKS})
        self.assertFalse(call("GET", f"/v1/pages/{ESCALATION}", token=self.token).json["in_trash"])
        control("POST", "delete", {"object_id": RUNBOOKS})
        self.assertError(call("GET", f"/v1/pages/{ESCALATION}", token=self.token), 404, "object_not_found")

    def test_index_lag(self):
        control("POST", "settings", {"search_index_lag_seconds": 30})
        control("POST", "share", {"bot_id": self.bot, "object_id": HR_PRIVATE})
        ids_ = [r["id"] for r in call("POST", "/v1/search", {"query": "a"}, token=self.token).json["results"]]
        found = [r["id"] for r in call("POST", "/v1/search", {"query": "Salaries"}, token=self.token).json["results"]]
        self.assertEqual(found, [])
        hr = [r["id"] for r in call("POST", "/v1/search", {"query": "HR Private"}, token=self.token).json["results"]]
        self.assertEqual(hr, [HR_PRIVATE])  # directly shared roots are guaranteed
        control("POST", "clock/advance", {"seconds": 31})
        found = [r["id"] for r in call("POST", "/v1/search", {"query": "Salaries"}, token=self.token).json["results"]]
        self.assertEqual(found, [SALARIES])
        self.assertTrue(ids_)

    def test_reindex(self):
        # Indexed afresh: left out of search for the lag, shown by id.
        control("POST", "settings", {"search_index_lag_seconds": 30})
        search = lambda: [r["id"] for r in call("POST", "/v1/search", {"query": "Escalation"}, token=self.token).json["results"]]
        control("POST", "clock/advance", {"seconds": 31})  # past the share's own lag
        self.assertEqual(search(), [ESCALATION])
        control("POST", "reindex", {"object_id": ESCALATION})
        self.assertEqual(search(), [])
        self.assertEqual(call("GET", f"/v1/pages/{ESCALATION}", token=self.token).status, 200)
        control("POST", "clock/advance", {"seconds": 31})
        self.assertEqual(search(), [ESCALATION])

    def test_control_pages_and_users(self):
        made = control("POST", "pages", {"parent_id": MARKETING, "title": "Launch plan"})
        self.assertEqual(call("GET", f"/v1/pages/{made['id']}", token=self.token).status, 200)
        user = control("POST", "users", {"workspace_id": WS, "name": "New Hire", "email": "new@test.example"})
        self.assertEqual(call("GET", f"/v1/users/{user['id']}", token=self.token).status, 200)
        call("DELETE", f"/_fake/users/{user['id']}?workspace_id={WS}", version=None)
        self.assertError(call("GET", f"/v1/users/{user['id']}", token=self.token), 404, "object_not_found")

    def test_client_update(self):
        control("POST", f"clients/{MAIN[0]}", {"redirect_uris": ["http://127.0.0.1:5555/cb"]})
        reply = authorize(redirect=None)
        self.assertTrue(reply.headers["Location"].startswith("http://127.0.0.1:5555/cb?code="))
        control("POST", f"clients/{MAIN[0]}", {"client_secret": "rotated"})
        self.assertOAuthError(exchange(code_from(reply), redirect=None), 401, "invalid_client")

    def test_log_has_no_secrets(self):
        refreshed = refresh(self.tok["refresh_token"]).json
        call("POST", "/v1/oauth/introspect", {"token": refreshed["access_token"]}, basic=MAIN)
        log = control("GET", "log")
        token_calls = [e for e in log["entries"] if e["path"] == "/v1/oauth/token"]
        self.assertEqual([e["grant_type"] for e in token_calls], ["authorization_code", "refresh_token"])
        self.assertTrue(all(e["bot_id"] == self.bot for e in token_calls))
        text = json.dumps(log)
        SERVER["stderr"].flush()
        with open(SERVER["stderr_path"]) as f:
            stderr = f.read()
        secrets_ = [self.tok["access_token"], self.tok["refresh_token"], refreshed["access_token"],
                    refreshed["refresh_token"], MAIN[1]]
        for secret in secrets_:
            self.assertNotIn(secret, text)
            self.assertNotIn(secret, stderr)
        self.assertIn("POST /v1/oauth/token 200", stderr)

    def test_health_and_bots(self):
        self.assertTrue(control("GET", "health")["ok"])
        bots = control("GET", "bots")["bots"]
        self.assertEqual([b["bot_id"] for b in bots], [self.bot])


if __name__ == "__main__":
    unittest.main()
