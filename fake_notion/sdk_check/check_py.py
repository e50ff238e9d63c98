#!/usr/bin/env python3
"""Drives the fake with the official Python SDK, notion-client 3.1.0, pointed
at it through base_url, unchanged. Proves the fake speaks what real clients
expect. Prints one line per check: "ok - ..." / "not ok - ..." ("# ..." for
diagnostics); exits 1 if any check failed.

Usage: check_py.py BASE_URL   (SDK from $NOTION_RBAC_SDK_DIR/py, default
/opt/notion_rbac/sdk/py; install it with install.sh)
"""

import json
import logging
import os
import sys
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

SDK_DIR = os.environ.get("NOTION_RBAC_SDK_DIR", "/opt/notion_rbac/sdk")
sys.path.insert(0, os.path.join(SDK_DIR, "py"))

from notion_client import APIErrorCode, APIResponseError, Client  # noqa: E402
from notion_client.errors import UnknownHTTPResponseError  # noqa: E402
from notion_client.helpers import collect_paginated_api, iterate_paginated_api  # noqa: E402

CLIENT_ID = "7a000000-0000-4000-8000-000000000001"
CLIENT_SECRET = "secret_main_7f3c9e2a41b84d06"
REDIRECT = "http://127.0.0.1:8765/oauth/callback"
ENGINEERING = "3c000000-0000-4000-8000-000000000001"
HR_PRIVATE = "3c000000-0000-4000-8000-000000000020"
LONG_PAGE = "3c000000-0000-4000-8000-000000000007"
TASKS_DB = "4d000000-0000-4000-8000-000000000001"
TASKS_DS = "5e000000-0000-4000-8000-000000000001"
# The fixture's workspace: 153 members + 2 bots, plus this authorization's bot.
EXPECTED_USERS = 153 + 2 + 1

URL = sys.argv[1] if len(sys.argv) > 1 else os.environ["FAKE_NOTION_URL"]
FAILED = []


def check(description):
    def run(fn):
        try:
            fn()
            print(f"ok - {description}", flush=True)
        except Exception as e:  # report and go on: one line per check
            FAILED.append(description)
            print(f"not ok - {description}", flush=True)
            for line in (f"{type(e).__name__}: {e}\n" + traceback.format_exc()).splitlines():
                print(f"# {line}", flush=True)
        return fn
    return run


def control(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{URL}/_fake/{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def authorize_code():
    """The browser step: GET the authorize URL, read the code off the redirect."""
    query = urllib.parse.urlencode({"client_id": CLIENT_ID, "response_type": "code", "owner": "user",
                                    "redirect_uri": REDIRECT, "state": "py-sdk-check"})
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        opener.open(f"{URL}/v1/oauth/authorize?{query}", timeout=30)
    except urllib.error.HTTPError as e:
        if e.code != 302:
            raise
        location = e.headers["Location"]
        return urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["code"][0]
    raise AssertionError("authorize did not redirect")


def expect(cond, message):
    if not cond:
        raise AssertionError(message)


def expect_api_error(fn, code, status):
    try:
        fn()
    except APIResponseError as e:
        expect(e.code == code, f"code {e.code!r}, wanted {code!r}")
        expect(e.status == status, f"status {e.status}, wanted {status}")
        return e
    raise AssertionError(f"no APIResponseError {code}")


S = {}
control("POST", "reset")
quiet = {"base_url": URL, "log_level": logging.CRITICAL}


@check("oauth.token exchanges an authorization code (Basic auth, full field set)")
def _():
    oauth = Client(**quiet)
    tok = oauth.oauth.token(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, grant_type="authorization_code",
                            code=authorize_code(), redirect_uri=REDIRECT)
    for key in ("access_token", "token_type", "refresh_token", "bot_id", "workspace_name", "workspace_icon",
                "workspace_id", "owner", "duplicated_template_id", "request_id"):
        expect(key in tok, f"missing {key}")
    expect(tok["token_type"] == "bearer", tok["token_type"])
    expect("expires_in" not in tok, "expires_in present")
    S["oauth"], S["tok"] = oauth, tok
    S["notion"] = Client(auth=tok["access_token"], **quiet)


@check("oauth.token with grant_type refresh_token rotates both tokens")
def _():
    new = S["oauth"].oauth.token(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, grant_type="refresh_token",
                                 refresh_token=S["tok"]["refresh_token"])
    expect(new["bot_id"] == S["tok"]["bot_id"], "bot_id changed")
    expect(new["refresh_token"] != S["tok"]["refresh_token"], "refresh token not rotated")
    old = S["tok"]
    S["tok"] = new
    S["notion"] = Client(auth=new["access_token"], **quiet)
    try:
        S["oauth"].oauth.token(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, grant_type="refresh_token",
                               refresh_token=old["refresh_token"])
    except UnknownHTTPResponseError as e:  # invalid_grant is not in the SDK's code enum
        expect(e.status == 400 and "invalid_grant" in e.body, f"{e.status} {e.body}")
    else:
        raise AssertionError("old refresh token accepted")


@check(f"users.list paginated with iterate_paginated_api: exactly the {EXPECTED_USERS} members and bots")
def _():
    users = list(iterate_paginated_api(S["notion"].users.list))
    ids = [u["id"] for u in users]
    expect(len(ids) == len(set(ids)), "duplicates")
    listed = control("GET", "workspaces")["workspaces"][0]["listed_users"]
    expect(len(ids) == listed == EXPECTED_USERS, f"{len(ids)} users, fake says {listed}")
    expect(all(u["type"] in ("person", "bot") for u in users), "bad type")


@check("search paginated with collect_paginated_api: every visible page and data source once")
def _():
    results = collect_paginated_api(S["notion"].search)
    ids = [r["id"] for r in results]
    expected = control("GET", f"bots/{S['tok']['bot_id']}")["visible"]["search_results"]
    expect(len(ids) == len(set(ids)) == expected, f"{len(ids)} results ({len(set(ids))} distinct), want {expected}")
    expect(expected > 100, "fixture too small to exercise pagination")


@check("pages.retrieve returns the page with its title")
def _():
    page = S["notion"].pages.retrieve(page_id=ENGINEERING)
    expect(page["object"] == "page" and page["id"] == ENGINEERING, page.get("id"))
    expect(page["properties"]["title"]["title"][0]["plain_text"] == "Engineering", "title")


@check("databases.retrieve lists the data source")
def _():
    db = S["notion"].databases.retrieve(database_id=TASKS_DB)
    expect(db["data_sources"][0]["id"] == TASKS_DS, db["data_sources"])


@check("data_sources.query paginated returns every row")
def _():
    rows = collect_paginated_api(S["notion"].data_sources.query, data_source_id=TASKS_DS, page_size=2)
    expect(len(rows) == 5, f"{len(rows)} rows")
    expect(all(r["parent"]["data_source_id"] == TASKS_DS for r in rows), "parent")


@check("blocks.children.list paginated returns all 120 children")
def _():
    blocks = collect_paginated_api(S["notion"].blocks.children.list, block_id=LONG_PAGE)
    expect(len(blocks) == 120, f"{len(blocks)} blocks")


@check("pages.create into a data source (title, rich_text, select, date)")
def _():
    page = S["notion"].pages.create(
        parent={"data_source_id": TASKS_DS},
        properties={
            "Name": {"title": [{"text": {"content": "py-sdk audit entry"}}]},
            "Notes": {"rich_text": [{"text": {"content": "created by check_py"}}]},
            "Status": {"select": {"name": "Doing"}},
            "Due": {"date": {"start": "2026-09-01"}},
        })
    expect(page["parent"]["type"] == "data_source_id", page["parent"])
    expect(page["properties"]["Status"]["select"]["name"] == "Doing", "select")
    rows = collect_paginated_api(S["notion"].data_sources.query, data_source_id=TASKS_DS)
    expect(page["id"] in [r["id"] for r in rows], "new row not listed")


@check("an unshared page raises APIResponseError object_not_found (404)")
def _():
    e = expect_api_error(lambda: S["notion"].pages.retrieve(page_id=HR_PRIVATE), APIErrorCode.ObjectNotFound, 404)
    expect("Make sure the relevant pages and databases are shared" in str(e), str(e))


@check("a 429 is retried by the SDK after Retry-After")
def _():
    seq = control("GET", "log")["last_seq"]
    control("POST", "faults", {"path": "/v1/users/me", "status": 429, "retry_after": 1})
    started = time.monotonic()
    me = S["notion"].users.me()
    expect(me["id"] == S["tok"]["bot_id"], "users.me")
    statuses = [e["status"] for e in control("GET", f"log?since={seq}")["entries"] if e["path"] == "/v1/users/me"]
    expect(statuses == [429, 200], statuses)
    expect(time.monotonic() - started >= 0.9, "did not wait for Retry-After")


@check("oauth.introspect reports the token active")
def _():
    info = S["oauth"].oauth.introspect(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                       token=S["tok"]["access_token"])
    expect(info["active"] is True and "read_content" in info["scope"], info)


@check("oauth.revoke, then calls raise APIResponseError unauthorized (401)")
def _():
    S["oauth"].oauth.revoke(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, token=S["tok"]["access_token"])
    expect_api_error(lambda: S["notion"].users.me(), APIErrorCode.Unauthorized, 401)
    info = S["oauth"].oauth.introspect(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                       token=S["tok"]["access_token"])
    expect(info["active"] is False, info)


sys.exit(1 if FAILED else 0)
