#!/usr/bin/env bash
# Runs every validation file under $NOTION_RBAC_CONFORMANCE (default
# ../shared/conformance)/{permify,openfga,spicedb}
# through rbac.validate() in a running cluster and prints, per suite,
# "<suite>: N passed, M failed" (one per assertion row).
#
# Expected non-passes, as documented in the suites' SOURCES.md:
#   - permify facebook-groups: the stray `checks:` key is an assertion on a
#     permission that does not exist; rbac.validate() must report an error
#     for it (as Permify does). That row counts as passed when it is an error.
#   - permify/historical/*: each file must be rejected with an error.
#
# Usage: scripts/conformance.sh SOCKET_DIR PORT
set -uo pipefail
cd "$(dirname "$0")/.."
HOST=$1 PORT=$2
CONF=${NOTION_RBAC_CONFORMANCE:-../shared/conformance}
[ -d "$CONF" ] || { echo "conformance files not found at $CONF" >&2; exit 1; }

psql_db() { runuser -u postgres -- psql -X -q -At -F '|' -v ON_ERROR_STOP=1 -h "$HOST" -p "$PORT" -U postgres -d conformance "$@"; }

runuser -u postgres -- psql -X -q -h "$HOST" -p "$PORT" -U postgres -d postgres \
    -c "DROP DATABASE IF EXISTS conformance" -c "CREATE DATABASE conformance" >/dev/null 2>&1 || exit 1
psql_db -c "CREATE EXTENSION notion_rbac" >/dev/null || exit 1

status=0
for suite in permify openfga spicedb; do
    passed=0 failed=0
    for f in "$CONF/$suite"/*.yaml; do
        name=$(basename "$f")
        # Known defect row: an error for `checks` on group:1 counts as a pass.
        result=$(psql_db -v content="$(cat "$f")" <<'SQL' 2>&1
SELECT count(*) FILTER (WHERE ok), count(*) FILTER (WHERE NOT ok),
       coalesce(string_agg(CASE WHEN NOT ok THEN format(E'\n    %s [%s] %s: expected %s, got %s', kind, scenario, query, expected, actual) END, ''), '')
FROM (SELECT v.*, (passed OR (query LIKE 'check group:1#checks@%' AND actual LIKE 'error:%')) AS ok
      FROM rbac.validate(:'content') AS v) s;
SQL
)
        if [ $? -ne 0 ]; then
            echo "  $suite/$name: ERROR ${result}"
            failed=$((failed + 1))
            continue
        fi
        IFS='|' read -r p fl rest <<<"$(echo "$result" | head -n1)"
        passed=$((passed + p))
        failed=$((failed + fl))
        if [ "$fl" -ne 0 ]; then
            echo "  $suite/$name: $fl failed$(echo "$result" | tail -n +2)"
        fi
    done
    if [ "$suite" = permify ]; then
        for f in "$CONF/permify/historical"/*.yaml; do
            if out=$(psql_db -v content="$(cat "$f")" 2>&1 <<<"SELECT count(*) FROM rbac.validate(:'content');"); then
                echo "  permify/historical/$(basename "$f"): expected an error, got: $out"
                failed=$((failed + 1))
            else
                passed=$((passed + 1))
            fi
        done
    fi
    echo "$suite: $passed passed, $failed failed"
    [ "$failed" -eq 0 ] || status=1
done
exit $status
