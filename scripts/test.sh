#!/usr/bin/env bash
# Runs every test layer of notion_rbac and ends with one line
# "N passed, M failed" summing them all. Exits non-zero if anything failed
# or if a layer ran no test at all.
#
# Layers:
#   core        plain `cargo test` of the pure-Rust core (language, engine,
#               validation files, conformance, property tests)
#   pg_test     #[pg_test] functions inside a real PostgreSQL 15
#               (cargo pgrx test --runas postgres)
#   regress     SQL regression files tests/pg_regress/sql/*.sql against
#               expected output, in a throwaway cluster with the library
#               preloaded
#   nopreload   the same smoke files in a cluster without
#               shared_preload_libraries
#   isolation   concurrent sessions (pg_isolation_regress specs in
#               tests/isolation)
#   standby     checks and lookups on a hot standby (streaming replica)
#   conformance every validation file under ../shared/conformance through
#               rbac.validate() in SQL
#
# Usage: scripts/test.sh [layer...]   (default: all layers)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# shellcheck source=scripts/cluster.sh
source scripts/cluster.sh

scripts/setup.sh || exit 1
# Every build is --locked: cargo-pgrx has no such flag, so verify up front
# that Cargo.lock is complete and current (cargo then never rewrites it).
cargo metadata --locked --format-version 1 >/dev/null || { echo "Cargo.lock is out of date" >&2; exit 1; }

LAYERS=("$@")
[ ${#LAYERS[@]} -eq 0 ] && LAYERS=(core pg_test regress nopreload isolation standby conformance)

WORK=$(mktemp -d /tmp/notion_rbac-test.XXXXXX)
chmod 755 "$WORK"
CLUSTERS=()
cleanup() {
    for d in "${CLUSTERS[@]}"; do CLUSTER_DIR=$d cluster_stop; done
    rm -rf "$WORK"
}
trap cleanup EXIT

TOTAL_PASSED=0
TOTAL_FAILED=0
SUMMARY=()
record() { # layer passed failed
    local layer=$1 p=$2 f=$3
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
        f=1
        SUMMARY+=("$layer: ran no test (counted as a failure)")
    else
        SUMMARY+=("$layer: $p passed, $f failed")
    fi
    TOTAL_PASSED=$((TOTAL_PASSED + p))
    TOTAL_FAILED=$((TOTAL_FAILED + f))
}

# Sums cargo's "test result: ... N passed; M failed" lines of a log.
cargo_counts() {
    awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
         END { printf "%d %d\n", p, f }' "$1"
}

banner() { printf '\n\033[1;34m==== %s ====\033[0m\n' "$*"; }

PKGDIR=""
package_debug() {
    [ -n "$PKGDIR" ] && return 0
    banner "packaging the extension (debug)"
    cargo pgrx package --debug --pg-config /usr/bin/pg_config --out-dir "$WORK/pkg" >"$WORK/package.log" 2>&1 \
        || { cat "$WORK/package.log"; return 1; }
    PKGDIR="$WORK/pkg"
}

layer_core() {
    banner "core: cargo test -p notion_rbac_core"
    cargo test --locked -p notion_rbac_core 2>&1 | tee "$WORK/core.log"
    local status=${PIPESTATUS[0]}
    read -r p f < <(cargo_counts "$WORK/core.log")
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    record core "$p" "$f"
}

layer_pg_test() {
    banner "pg_test: cargo pgrx test pg15 --runas postgres"
    local pgdata="$WORK/pgtest"
    install -d -o postgres -g postgres "$pgdata"
    cargo pgrx test pg15 --runas postgres --pgdata "$pgdata" 2>&1 | tee "$WORK/pg_test.log"
    local status=${PIPESTATUS[0]}
    read -r p f < <(cargo_counts "$WORK/pg_test.log")
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    record pg_test "$p" "$f"
}

# run_regress LAYER PRELOAD SCHEDULE [TESTDIR] [RUNNER]
run_regress() {
    local layer=$1 preload=$2 schedule=$3 testdir=${4:-tests/pg_regress} runner=${5:-pg_regress}
    package_debug || { record "$layer" 0 1; return; }
    local dir="$WORK/$layer"
    cluster_create "$dir" "$PKGDIR" "$preload" socket && cluster_start || { record "$layer" 0 1; return; }
    CLUSTERS+=("$dir")
    install -d -o postgres -g postgres "$dir/out"
    cp -r "$testdir" "$dir/in" && chown -R postgres:postgres "$dir/in"
    local bin=/usr/lib/postgresql/15/lib/pgxs/src/test/regress/pg_regress
    [ "$runner" = isolation ] && bin=/usr/lib/postgresql/15/lib/pgxs/src/test/isolation/pg_isolation_regress
    as_postgres env PGUSER=postgres "$bin" \
        --host="$dir" --port="$CLUSTER_PORT" --inputdir="$dir/in" --outputdir="$dir/out" \
        --dbname=notion_rbac_regress --schedule="$dir/in/$schedule" 2>&1 | tee "$WORK/$layer.log"
    local p f
    p=$(grep -cE '^(test |     )?[a-z0-9_]+ +\.\.\. ok' "$WORK/$layer.log")
    f=$(grep -cE '\.\.\. FAILED' "$WORK/$layer.log")
    if [ -f "$dir/out/regression.diffs" ]; then
        echo "---- regression.diffs ($layer) ----"
        cat "$dir/out/regression.diffs"
        mkdir -p "$testdir/results" && cp "$dir/out/regression.diffs" "$testdir/results/$layer.diffs"
        cp -r "$dir/out/results/." "$testdir/results/" 2>/dev/null || true
    fi
    # Secrets used by the tests (all spelled secret_<WORDS>_xyz) must never
    # reach the server log, whatever the tests did.
    if grep -qE 'secret_[A-Z_]+_xyz' "$dir/server.log"; then
        echo "FAILED: token plaintext found in the server log:"; grep -nE 'secret_[A-Z_]+_xyz' "$dir/server.log" | head -5
        f=$((f + 1))
    else
        echo "ok: no token plaintext in the server log"
        p=$((p + 1))
    fi
    record "$layer" "$p" "$f"
    cluster_stop
}

layer_regress() { banner "regress: pg_regress (library preloaded)"; run_regress regress yes schedule; }
layer_isolation() { banner "isolation: concurrent sessions"; run_regress isolation yes schedule tests/isolation isolation; }
layer_nopreload() { banner "nopreload: pg_regress smoke (library not preloaded)"; run_regress nopreload no schedule_nopreload; }

# Checks only read, so they must work on a hot standby, where writes fail.
layer_standby() {
    banner "standby: checks on a hot standby"
    package_debug || { record standby 0 1; return; }
    local primary="$WORK/primary" standby="$WORK/standby"
    cluster_create "$primary" "$PKGDIR" yes socket && cluster_start || { record standby 0 1; return; }
    CLUSTERS+=("$primary")
    local pport=$CLUSTER_PORT
    cluster_psql -q -d postgres >/dev/null <<'SQL' || { record standby 0 1; return; }
CREATE EXTENSION notion_rbac;
SELECT rbac.write_schema('entity user {} entity doc { relation parent @doc relation viewer @user permission view = viewer or parent.view }');
SELECT rbac.write_tuples(ARRAY['doc:1#viewer@user:a', 'doc:2#parent@doc:1']);
SQL
    install -d -o postgres -g postgres -m 700 "$standby"
    as_postgres /usr/lib/postgresql/15/bin/pg_basebackup -h "$primary" -p "$pport" -U postgres -D "$standby/data" -R -X stream \
        >"$WORK/basebackup.log" 2>&1 || { cat "$WORK/basebackup.log"; record standby 0 1; return; }
    CLUSTER_DIR=$standby CLUSTER_PORT=$(free_port)
    printf "port = %s\nunix_socket_directories = '%s'\n" "$CLUSTER_PORT" "$standby" >>"$standby/data/postgresql.conf"
    cluster_start || { record standby 0 1; return; }
    CLUSTERS+=("$standby")
    local p=0 f=0 got
    expect() { # description expected sql
        got=$(cluster_psql -At -d postgres -c "$3" 2>&1)
        if [ "$got" = "$2" ]; then p=$((p + 1)); echo "ok: $1"; else f=$((f + 1)); echo "FAILED: $1: expected '$2', got '$got'"; fi
    }
    for _ in $(seq 1 50); do [ "$(cluster_psql -At -d postgres -c 'SELECT pg_is_in_recovery()')" = t ] && break; sleep 0.2; done
    expect "standby is in recovery" t "SELECT pg_is_in_recovery()"
    expect "check on the standby (allowed)" t "SELECT rbac.check('user:a', 'view', 'doc:2')"
    expect "check on the standby (denied)" f "SELECT rbac.check('user:b', 'view', 'doc:2')"
    expect "lookup on the standby" "1,2" "SELECT string_agg(id, ',' ORDER BY id) FROM rbac.lookup_resources('user:a', 'view', 'doc') id"
    got=$(cluster_psql -At -v VERBOSITY=verbose -d postgres -c "SELECT rbac.write_tuples(ARRAY['doc:3#viewer@user:a'])" 2>&1)
    if echo "$got" | grep -q "ERROR:  25006"; then p=$((p + 1)); echo "ok: writes are refused on the standby (25006)"
    else f=$((f + 1)); echo "FAILED: writes on the standby: $got"; fi
    record standby "$p" "$f"
    cluster_stop
    CLUSTER_DIR=$primary cluster_stop
}

layer_conformance() {
    banner "conformance: ../shared/conformance through rbac.validate()"
    package_debug || { record conformance 0 1; return; }
    local dir="$WORK/conformance"
    cluster_create "$dir" "$PKGDIR" yes socket && cluster_start || { record conformance 0 1; return; }
    CLUSTERS+=("$dir")
    local out
    out=$(scripts/conformance.sh "$dir" "$CLUSTER_PORT" 2>&1)
    local status=$?
    echo "$out"
    local p f
    p=$(echo "$out" | awk '/^[a-z]+: [0-9]+ passed, [0-9]+ failed$/ { p += $2 } END { print p+0 }')
    f=$(echo "$out" | awk '/^[a-z]+: [0-9]+ passed, [0-9]+ failed$/ { f += $4 } END { print f+0 }')
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    record conformance "$p" "$f"
    cluster_stop
}

for layer in "${LAYERS[@]}"; do
    case $layer in
        core|pg_test|regress|nopreload|isolation|standby|conformance) "layer_$layer" ;;
        *) echo "unknown layer: $layer" >&2; exit 2 ;;
    esac
done

banner "summary"
printf '%s\n' "${SUMMARY[@]}"
echo "$TOTAL_PASSED passed, $TOTAL_FAILED failed"
[ "$TOTAL_FAILED" -eq 0 ]
