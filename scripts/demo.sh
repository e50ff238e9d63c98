#!/usr/bin/env bash
# The notion_rbac demo: builds and packages the extension, starts a
# throwaway PostgreSQL cluster (PG=15 or 18; default 18, the newest) as the
# `postgres` OS user (data under
# /tmp/notion_rbac-demo, listening on 127.0.0.1 only, on a free port, library
# preloaded), creates the extension, loads the seed scenario and prints its
# checks. The cluster keeps running for you to explore with psql;
# `make demo-stop` (scripts/demo.sh stop) stops it and removes its data.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/cluster.sh
source scripts/cluster.sh

DEMO_DIR=/tmp/notion_rbac-demo
DB=notion_demo
VERSION=${PG:-18}
say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

stop() {
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
    cluster_start
    cluster_psql -q -d postgres -c "CREATE DATABASE $DB"
    say "CREATE EXTENSION notion_rbac"
    cluster_psql -q -d "$DB" -c "CREATE EXTENSION notion_rbac" -c "SELECT rbac.version() AS notion_rbac_version"
    say "loading the seed scenario: Notion model + sample relationships (tests/pg_regress/sql/seed.sql)"
    cluster_psql -q -d "$DB" -f tests/pg_regress/sql/seed.sql
    say "checks (demo/checks.sql)"
    cluster_psql -q -d "$DB" -f demo/checks.sql
    cat <<MSG

The demo cluster is running (PostgreSQL $VERSION, library preloaded, data in $DEMO_DIR).
Connect with:

    $PG_BIN/psql -h 127.0.0.1 -p $CLUSTER_PORT -U postgres -d $DB

and try for example:

    SELECT rbac.check('user:alice', 'write', 'database:task_list');
    SELECT * FROM rbac.lookup_resources('user:bob', 'read', 'block');
    SELECT * FROM rbac.read_tuples(entity_type => 'page');

Stop it (and delete its data) with:  make demo-stop
MSG
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 [start|stop]" >&2; exit 2 ;;
esac
