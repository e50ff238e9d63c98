#!/usr/bin/env bash
# The notion_rbac demo: builds and packages the extension, starts a
# throwaway PostgreSQL cluster (PG=15 or 18; default 18, the newest) as the
# `postgres` OS user (data under
# /tmp/notion_rbac-demo, listening on 127.0.0.1 only, on a free port, library
# preloaded), creates the extension, loads the seed scenario and prints its
# checks; then starts the fake Notion server (fake_notion/, fixture
# fake_notion/fixtures/demo.json) and runs the OAuth flow end to end through
# the background worker, printing the workspace it installed. The cluster
# and the fake keep running for you to explore with psql;
# `make demo-stop` (scripts/demo.sh stop) stops both and removes the data.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/cluster.sh
source scripts/cluster.sh

DEMO_DIR=/tmp/notion_rbac-demo
DB=notion_demo
VERSION=${PG:-18}
say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

stop() {
    if [ -f "$DEMO_DIR/fake.pid" ]; then
        kill "$(cat "$DEMO_DIR/fake.pid")" 2>/dev/null || true
    fi
    if [ -d "$DEMO_DIR/data" ]; then
        use_pg "$(cat "$DEMO_DIR/data/PG_VERSION")"
        CLUSTER_DIR=$DEMO_DIR cluster_stop
        say "demo cluster stopped"
    fi
    rm -rf "$DEMO_DIR"
}

start() {
    scripts/setup.sh
    cargo metadata --locked --format-version 1 >/dev/null
    say "building and packaging notion_rbac (release, PostgreSQL $VERSION)"
    scripts/package.sh --pg "$VERSION" >/tmp/notion_rbac-demo-build.log 2>&1 \
        || { cat /tmp/notion_rbac-demo-build.log; exit 1; }
    stop >/dev/null
    use_pg "$VERSION"
    say "creating a throwaway PostgreSQL $VERSION cluster in $DEMO_DIR (runs as the postgres OS user)"
    cluster_create "$DEMO_DIR" "target/release/notion_rbac-pg$VERSION" yes tcp
    # The background worker serves the demo database.
    echo "notion_rbac.database_name = '$DB'" >>"$DEMO_DIR/data/postgresql.conf"
    cluster_start
    cluster_psql -q -d postgres -c "CREATE DATABASE $DB"
    say "CREATE EXTENSION notion_rbac"
    cluster_psql -q -d "$DB" -c "CREATE EXTENSION notion_rbac" -c "SELECT rbac.version() AS notion_rbac_version"
    say "loading the seed scenario: Notion model + sample relationships (tests/pg_regress/sql/seed.sql)"
    cluster_psql -q -d "$DB" -f tests/pg_regress/sql/seed.sql
    say "checks (demo/checks.sql)"
    cluster_psql -q -d "$DB" -f demo/checks.sql
    oauth_flow
    cat <<MSG

The demo cluster is running (PostgreSQL $VERSION, library preloaded, data in $DEMO_DIR).
Connect with:

    $PG_BIN/psql -h 127.0.0.1 -p $CLUSTER_PORT -U postgres -d $DB

and try for example:

    SELECT rbac.check('user:alice', 'write', 'database:task_list');
    SELECT * FROM rbac.lookup_resources('user:bob', 'read', 'block');
    SELECT * FROM rbac.read_tuples(entity_type => 'page');
    SELECT * FROM rbac.worker_status();
    SELECT rbac.verify_workspace(bot_id) FROM rbac.workspaces;   -- a call with the stored token
    SELECT * FROM rbac.worker_jobs;
    SELECT * FROM rbac.sync_status;                              -- the Notion sync of each installation

The fake Notion server runs at $FAKE_URL (its control API: fake_notion/README.md).

Stop both (and delete the data) with:  make demo-stop
MSG
}

# settled QUERY: waits (up to 10 s) until QUERY no longer answers queued or running.
settled() {
    local status
    for _ in $(seq 100); do
        status=$(cluster_psql -qAt -d "$DB" -c "$1")
        [ "$status" = queued ] || [ "$status" = running ] || return 0
        sleep 0.1
    done
}

# The OAuth flow against the fake Notion: configure the client, start an
# authorization, let the "browser" follow Notion's consent redirect, hand the
# callback to rbac.oauth_callback and watch the worker exchange the code.
oauth_flow() {
    local fixture=fake_notion/fixtures/demo.json url state location code job
    say "starting the fake Notion server (fake_notion/, fixture $fixture)"
    python3 fake_notion --fixture "$fixture" --port 0 --url-file "$DEMO_DIR/fake.url" \
        >"$DEMO_DIR/fake.out" 2>"$DEMO_DIR/fake.log" &
    echo $! >"$DEMO_DIR/fake.pid"
    for _ in $(seq 100); do [ -s "$DEMO_DIR/fake.url" ] && break; sleep 0.1; done
    FAKE_URL=$(cat "$DEMO_DIR/fake.url")
    say "the model the sync writes into: rbac.notion_model() (the seed's model, with parent for pages and databases)"
    cluster_psql -qAt -d "$DB" -c "SELECT rbac.write_schema(rbac.notion_model())" >/dev/null
    say "fake Notion at $FAKE_URL; configuring the OAuth client (rbac.oauth_configure)"
    read -r client_id client_secret redirect < <(python3 -c 'import json, sys
c = json.load(open(sys.argv[1]))["clients"][0]
print(c["client_id"], c["client_secret"], c["redirect_uris"][0])' "$fixture")
    cluster_psql -qAt -d "$DB" -v id="$client_id" -v secret="$client_secret" -v redirect="$redirect" -v base="$FAKE_URL" >/dev/null <<'SQL'
SELECT rbac.oauth_configure(:'id', :'secret', ARRAY[:'redirect'], :'base');
SQL
    read -r url state < <(cluster_psql -qAt -F ' ' -d "$DB" -c "SELECT url, state FROM rbac.oauth_start()")
    say "rbac.oauth_start() → the user's browser goes to: $url"
    location=$(python3 -c 'import sys, urllib.request as r, urllib.error as e
class Stay(r.HTTPRedirectHandler):
    def redirect_request(self, *a, **k): return None
try:
    r.build_opener(Stay).open(sys.argv[1])
except e.HTTPError as x:
    print(x.headers["Location"])' "$url")
    say "Notion's consent redirects back to: ${location%%\?*}?code=…&state=…"
    code=$(python3 -c 'import sys, urllib.parse as u; print(dict(u.parse_qsl(u.urlparse(sys.argv[1]).query))["code"])' "$location")
    job=$(cluster_psql -qAt -d "$DB" -v state="$state" -v code="$code" <<'SQL'
SELECT rbac.oauth_callback(:'state', :'code');
SQL
)
    say "rbac.oauth_callback queued job $job; the background worker exchanges the code"
    settled "SELECT status FROM rbac.oauth_status($job)"
    cluster_psql -q -d "$DB" -c "SELECT job, status, error, bot_id, workspace_name FROM rbac.oauth_status($job)"
    say "the installed workspace (tokens stored encrypted; plaintext never leaves the worker)"
    cluster_psql -q -d "$DB" -c "SELECT bot_id, workspace_id, workspace_name, status, left(access_token::text, 16) || '…' AS access_token FROM rbac.workspaces"
    say "its first sync (queued with the installation): Notion's users, shared pages and hierarchy into tuples"
    settled "SELECT state FROM rbac.sync_status"
    cluster_psql -q -d "$DB" -c "SELECT bot_id, state, objects_seen, requests, last_summary->>'added' AS tuples_added, next_run_at FROM rbac.sync_status"
    cluster_psql -q -d "$DB" -c "SELECT kind, id, status, attempts FROM rbac.worker_jobs ORDER BY kind, id"
    say "checks on synced data: can each workspace member read each page the integration sees?"
    cluster_psql -q -d "$DB" <<'SQL'
SELECT s.subject_id AS member, count(*) FILTER (WHERE c.allowed) AS pages_readable, count(*) AS pages_synced
  FROM rbac.notion_synced s
 CROSS JOIN LATERAL rbac.check_many('user:' || s.subject_id, 'read',
        ARRAY(SELECT 'page:' || entity_id FROM rbac.notion_synced WHERE entity_type = 'page' AND relation = 'workspace')) c
 WHERE s.entity_type = 'workspace' AND s.relation = 'member'
 GROUP BY s.subject_id ORDER BY 1;
SQL
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 [start|stop]" >&2; exit 2 ;;
esac
