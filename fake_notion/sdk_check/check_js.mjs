#!/usr/bin/env node
// Drives the fake with the official JS SDK, @notionhq/client 5.26.0, pointed
// at it through baseUrl, unchanged. Proves the fake speaks what real clients
// expect, including the SDK's own retries of 429 and 529. Prints one line per
// check: "ok - ..." / "not ok - ..." ("# ..." for diagnostics); exits 1 if
// any check failed.
//
// Usage: node check_js.mjs BASE_URL   (SDK from $NOTION_RBAC_SDK_DIR/js,
// default /opt/notion_rbac/sdk/js; install it with install.sh)

import { createRequire } from "node:module";
import path from "node:path";

const SDK_DIR = process.env.NOTION_RBAC_SDK_DIR || "/opt/notion_rbac/sdk";
const require = createRequire(path.join(SDK_DIR, "js", "package.json"));
const {
  Client,
  APIErrorCode,
  APIResponseError,
  UnknownHTTPResponseError,
  collectPaginatedAPI,
  iteratePaginatedAPI,
} = require("@notionhq/client");

const CLIENT_ID = "7a000000-0000-4000-8000-000000000001";
const CLIENT_SECRET = "secret_main_7f3c9e2a41b84d06";
const REDIRECT = "http://127.0.0.1:8765/oauth/callback";
const ENGINEERING = "3c000000-0000-4000-8000-000000000001";
const HR_PRIVATE = "3c000000-0000-4000-8000-000000000020";
const LONG_PAGE = "3c000000-0000-4000-8000-000000000007";
const TASKS_DB = "4d000000-0000-4000-8000-000000000001";
const TASKS_DS = "5e000000-0000-4000-8000-000000000001";
// The fixture's workspace: 153 members + 2 bots, plus this authorization's bot.
const EXPECTED_USERS = 153 + 2 + 1;

const URL_BASE = process.argv[2] || process.env.FAKE_NOTION_URL;
const failed = [];
const S = {};
const quiet = { baseUrl: URL_BASE, logger: () => {} };

async function check(description, fn) {
  try {
    await fn();
    console.log(`ok - ${description}`);
  } catch (e) {
    failed.push(description);
    console.log(`not ok - ${description}`);
    for (const line of String(e && e.stack ? e.stack : e).split("\n")) console.log(`# ${line}`);
  }
}

function expect(cond, message) {
  if (!cond) throw new Error(typeof message === "string" ? message : JSON.stringify(message));
}

async function control(method, p, body) {
  const res = await fetch(`${URL_BASE}/_fake/${p}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status !== 200) throw new Error(`control ${method} ${p}: ${res.status} ${await res.text()}`);
  return res.json();
}

async function authorizeCode() {
  const q = new URLSearchParams({
    client_id: CLIENT_ID,
    response_type: "code",
    owner: "user",
    redirect_uri: REDIRECT,
    state: "js-sdk-check",
  });
  const res = await fetch(`${URL_BASE}/v1/oauth/authorize?${q}`, { redirect: "manual" });
  expect(res.status === 302, `authorize answered ${res.status}`);
  return new URL(res.headers.get("location")).searchParams.get("code");
}

async function expectAPIError(fn, code, status) {
  try {
    await fn();
  } catch (e) {
    expect(APIResponseError.isAPIResponseError(e), `not an APIResponseError: ${e}`);
    expect(e.code === code, `code ${e.code}, wanted ${code}`);
    expect(e.status === status, `status ${e.status}, wanted ${status}`);
    return e;
  }
  throw new Error(`no APIResponseError ${code}`);
}

async function logSince(seq, p) {
  const { entries } = await control("GET", `log?since=${seq}`);
  return entries.filter((e) => e.path === p).map((e) => e.status);
}

await control("POST", "reset");

await check("oauth.token exchanges an authorization code (Basic auth, full field set)", async () => {
  const oauth = new Client(quiet);
  const tok = await oauth.oauth.token({
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    grant_type: "authorization_code",
    code: await authorizeCode(),
    redirect_uri: REDIRECT,
  });
  for (const key of ["access_token", "token_type", "refresh_token", "bot_id", "workspace_name",
    "workspace_icon", "workspace_id", "owner", "duplicated_template_id", "request_id"]) {
    expect(key in tok, `missing ${key}`);
  }
  expect(tok.token_type === "bearer", tok.token_type);
  expect(!("expires_in" in tok), "expires_in present");
  expect(tok.owner.type === "user" && tok.owner.user.object === "user", tok.owner);
  S.oauth = oauth;
  S.tok = tok;
  S.notion = new Client({ ...quiet, auth: tok.access_token });
});

await check("oauth.token with grant_type refresh_token rotates both tokens", async () => {
  const fresh = await S.oauth.oauth.token({
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    grant_type: "refresh_token",
    refresh_token: S.tok.refresh_token,
  });
  expect(fresh.bot_id === S.tok.bot_id, "bot_id changed");
  expect(fresh.refresh_token !== S.tok.refresh_token, "refresh token not rotated");
  const old = S.tok;
  S.tok = fresh;
  S.notion = new Client({ ...quiet, auth: fresh.access_token });
  try {
    await S.oauth.oauth.token({
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      grant_type: "refresh_token",
      refresh_token: old.refresh_token,
    });
  } catch (e) {
    // invalid_grant is not in the SDK's code enum: an "unknown" HTTP error.
    expect(UnknownHTTPResponseError.isUnknownHTTPResponseError(e), `unexpected ${e}`);
    expect(e.status === 400 && e.body.includes("invalid_grant"), `${e.status} ${e.body}`);
    return;
  }
  throw new Error("old refresh token accepted");
});

await check(`users.list paginated with collectPaginatedAPI: exactly the ${EXPECTED_USERS} members and bots`,
  async () => {
    const users = await collectPaginatedAPI(S.notion.users.list, {});
    const ids = users.map((u) => u.id);
    const { workspaces } = await control("GET", "workspaces");
    expect(new Set(ids).size === ids.length, "duplicates");
    expect(ids.length === EXPECTED_USERS && workspaces[0].listed_users === EXPECTED_USERS,
      `${ids.length} users, fake says ${workspaces[0].listed_users}`);
  });

await check("search paginated with iteratePaginatedAPI: every visible page and data source once", async () => {
  const ids = [];
  for await (const r of iteratePaginatedAPI(S.notion.search, {})) ids.push(r.id);
  const bot = await control("GET", `bots/${S.tok.bot_id}`);
  const want = bot.visible.search_results;
  expect(ids.length === want && new Set(ids).size === want, `${ids.length} results, want ${want}`);
  expect(want > 100, "fixture too small to exercise pagination");
});

await check("pages.retrieve returns the page with its title", async () => {
  const page = await S.notion.pages.retrieve({ page_id: ENGINEERING });
  expect(page.object === "page" && page.id === ENGINEERING, page.id);
  expect(page.properties.title.title[0].plain_text === "Engineering", "title");
});

await check("databases.retrieve lists the data source", async () => {
  const db = await S.notion.databases.retrieve({ database_id: TASKS_DB });
  expect(db.data_sources[0].id === TASKS_DS, db.data_sources);
});

await check("dataSources.query paginated returns every row", async () => {
  const rows = await collectPaginatedAPI(S.notion.dataSources.query, { data_source_id: TASKS_DS, page_size: 2 });
  expect(rows.length === 5, `${rows.length} rows`);
  expect(rows.every((r) => r.parent.data_source_id === TASKS_DS), "parent");
});

await check("blocks.children.list paginated returns all 120 children", async () => {
  const blocks = await collectPaginatedAPI(S.notion.blocks.children.list, { block_id: LONG_PAGE });
  expect(blocks.length === 120, `${blocks.length} blocks`);
});

await check("pages.create into a data source (title, rich_text, select, date)", async () => {
  const page = await S.notion.pages.create({
    parent: { data_source_id: TASKS_DS },
    properties: {
      Name: { title: [{ text: { content: "js-sdk audit entry" } }] },
      Notes: { rich_text: [{ text: { content: "created by check_js" } }] },
      Status: { select: { name: "Todo" } },
      Due: { date: { start: "2026-09-02T10:00:00Z" } },
    },
  });
  expect(page.parent.type === "data_source_id", page.parent);
  expect(page.properties.Status.select.name === "Todo", "select");
  const rows = await collectPaginatedAPI(S.notion.dataSources.query, { data_source_id: TASKS_DS });
  expect(rows.some((r) => r.id === page.id), "new row not listed");
});

await check("an unshared page raises APIResponseError object_not_found (404)", async () => {
  const e = await expectAPIError(() => S.notion.pages.retrieve({ page_id: HR_PRIVATE }),
    APIErrorCode.ObjectNotFound, 404);
  expect(e.message.includes("Make sure the relevant pages and databases are shared"), e.message);
  expect(e.additional_data.integration_id === S.tok.bot_id, e.additional_data);
});

await check("rate-limit 429s (per-token budget) are retried by the SDK after Retry-After", async () => {
  const { last_seq: seq } = await control("GET", "log");
  const before = await control("GET", "rate_limits");
  await control("POST", "rate_limits", { per_token: { limit: 3, window_seconds: 1 } });
  const started = Date.now();
  for (let i = 0; i < 6; i++) {
    const me = await S.notion.users.me({});
    expect(me.id === S.tok.bot_id, "users.me");
  }
  const statuses = await logSince(seq, "/v1/users/me");
  expect(statuses.filter((s) => s === 200).length === 6, statuses);
  expect(statuses.includes(429), `no 429 seen: ${statuses}`);
  expect(Date.now() - started >= 900, "did not wait for Retry-After");
  await control("POST", "rate_limits", { per_token: before.per_token });
});

await check("a 529 service_overload with Retry-After is retried by the SDK (even on POST)", async () => {
  const { last_seq: seq } = await control("GET", "log");
  await control("POST", "faults", { method: "POST", path: "/v1/search", status: 529, retry_after: 1 });
  const res = await S.notion.search({ page_size: 1 });
  expect(res.results.length === 1, "search");
  expect(JSON.stringify(await logSince(seq, "/v1/search")) === "[529,200]", "statuses");
});

await check("an HTML 502 from the edge surfaces as UnknownHTTPResponseError", async () => {
  await control("POST", "faults", { path: "/v1/users/me", status: 502, html: true });
  try {
    await S.notion.users.me({});
  } catch (e) {
    expect(UnknownHTTPResponseError.isUnknownHTTPResponseError(e) && e.status === 502, `${e}`);
    expect(e.message.includes("edge proxy"), e.message); // cf-ray without x-notion-request-id
    return;
  }
  throw new Error("no error");
});

await check("oauth.introspect reports the token active", async () => {
  const info = await S.oauth.oauth.introspect({
    client_id: CLIENT_ID, client_secret: CLIENT_SECRET, token: S.tok.access_token,
  });
  expect(info.active === true && info.scope.includes("read_content"), info);
});

await check("oauth.revoke, then calls raise APIResponseError unauthorized (401)", async () => {
  await S.oauth.oauth.revoke({ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, token: S.tok.access_token });
  await expectAPIError(() => S.notion.users.me({}), APIErrorCode.Unauthorized, 401);
  const info = await S.oauth.oauth.introspect({
    client_id: CLIENT_ID, client_secret: CLIENT_SECRET, token: S.tok.access_token,
  });
  expect(info.active === false, info);
});

process.exit(failed.length ? 1 : 0);
