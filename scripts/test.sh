#!/usr/bin/env bash
# Runs every test layer of notion_rbac and ends with one line
# "N passed, M failed" summing them all. Exits non-zero if anything failed
# or if a layer ran no test at all.
#
# Layers:
#   core        plain `cargo test` of the pure-Rust crates: core (language,
#               engine, validation files, conformance, property tests) and
#               notion (token envelopes, keys, OAuth)
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
#   upgrade     every released version (tests/upgrade) updated to the
#               current one through sql/notion_rbac--A--B.sql, compared
#               with a fresh installation
#   dump        pg_dump (plain, custom, data-only) and restore into a new
#               database and a new cluster: every row, token and check back
#   differential random universes in rbac.tuples: every check, check_many
#               and lookup equal to rbac.validate()'s in-memory engine
#   stress      concurrent writers and readers (pgbench): every check equals
#               a plain-SQL evaluation in the same snapshot
#   fuzz        20,000 generated hostile inputs across every SQL function:
#               no internal error, crash, over-budget call or half-write;
#               cancel and terminate latency of long calls (tests/fuzz)
#   worker      the background worker and the fake Notion (fake_notion/)
#               end to end: OAuth flow, error shapes, retries, Retry-After,
#               refresh on 401, revocation, kill -9, SIGTERM, SIGHUP
#               (tests/worker/run.py); the fake's own tests
#   fake        the fake Notion server's own tests and the official SDKs
#               (Python notion-client, JS @notionhq/client) against it
#               (fake_notion/sdk_check/run.sh); runs once
#   conformance every validation file under ../shared/conformance through
#               rbac.validate() in SQL
#
# Usage: scripts/test.sh [layer...]   (default: all layers)
#        PG=18 scripts/test.sh ...     (one PostgreSQL version; default: 15 and 18)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# The conformance suites live beside the repository in this workspace
# (../shared/conformance; NOTION_RBAC_CONFORMANCE overrides). A clone on its
# own has none: the layers that use them say so, and why, unless
# NOTION_RBAC_REQUIRE_CONFORMANCE=1 (set by .ci/run) makes that a failure.
CONFORMANCE_DIR=${NOTION_RBAC_CONFORMANCE:-$ROOT/../shared/conformance}
export NOTION_RBAC_CONFORMANCE=$CONFORMANCE_DIR
# shellcheck source=scripts/cluster.sh
source scripts/cluster.sh

scripts/setup.sh || exit 1
# Every build is --locked: cargo-pgrx has no such flag, so verify up front
# that Cargo.lock is complete and current (cargo then never rewrites it).
cargo metadata --locked --format-version 1 >/dev/null || { echo "Cargo.lock is out of date" >&2; exit 1; }

LAYERS=("$@")
[ ${#LAYERS[@]} -eq 0 ] && LAYERS=(core fake pg_test regress nopreload isolation standby upgrade dump differential stress fuzz worker conformance)

# The PostgreSQL versions to test: PG=18 (or "15 18") picks; default all
# supported ones. The core layer does not depend on the server and runs once.
read -r -a PG_LIST <<<"${PG:-$PG_VERSIONS_SUPPORTED}"
for v in "${PG_LIST[@]}"; do pg_config_of "$v" >/dev/null || exit 2; done

WORKROOT=$(mktemp -d /tmp/notion_rbac-test.XXXXXX)
chmod 755 "$WORKROOT"
WORK=$WORKROOT
CLUSTERS=()
cleanup() {
    for d in "${CLUSTERS[@]}"; do CLUSTER_DIR=$d cluster_stop; done
    # KEEP_TEST_DIR=1 keeps outputs (e.g. pg15/regress/out/results) for inspection.
    if [ "${KEEP_TEST_DIR:-}" = 1 ]; then echo "kept $WORKROOT"; else rm -rf "$WORKROOT"; fi
}
trap cleanup EXIT

TOTAL_PASSED=0
TOTAL_FAILED=0
SUMMARY=()
record() { # layer passed failed
    local layer=$1$PG_TAG p=$2 f=$3
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
    banner "packaging the extension (debug, PostgreSQL $PG_MAJOR)"
    scripts/package.sh --pg "$PG_MAJOR" --debug --out-dir "$WORK/pkg" >"$WORK/package.log" 2>&1 \
        || { cat "$WORK/package.log"; return 1; }
    PKGDIR="$WORK/pkg"
}

layer_core() {
    banner "core: cargo test -p notion_rbac_core -p notion_rbac_notion"
    [ -d "$CONFORMANCE_DIR" ] || echo "note: the core's conformance tests skip their suites (none at $CONFORMANCE_DIR)"
    cargo test --locked -p notion_rbac_core -p notion_rbac_notion 2>&1 | tee "$WORK/core.log"
    local status=${PIPESTATUS[0]}
    read -r p f < <(cargo_counts "$WORK/core.log")
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    record core "$p" "$f"
}

layer_fake() {
    banner "fake: the fake Notion server, and the official SDKs against it"
    local out p f
    out=$(fake_notion/sdk_check/run.sh 2>&1)
    local status=$?
    echo "$out" | grep -v '^ok '
    p=$(echo "$out" | grep -c '^ok ')
    f=$(echo "$out" | grep -c '^not ok ')
    echo "$p checks passed"
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    record fake "$p" "$f"
}

layer_pg_test() {
    banner "pg_test: cargo pgrx test pg$PG_MAJOR --runas postgres"
    local pgdata="$WORK/pgtest"
    install -d -o postgres -g postgres "$pgdata"
    cargo pgrx test "pg$PG_MAJOR" --runas postgres --pgdata "$pgdata" 2>&1 | tee "$WORK/pg_test.log"
    local status=${PIPESTATUS[0]}
    read -r p f < <(cargo_counts "$WORK/pg_test.log")
    if [ "$status" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    record pg_test "$p" "$f"
}

# layer_cluster LAYER: a fresh preloaded cluster in $WORK/LAYER, started
# (CLUSTER_DIR/CLUSTER_PORT set); on failure records the layer as failed and
# returns 1.
layer_cluster() {
    package_debug || { record "$1" 0 1; return 1; }
    cluster_create "$WORK/$1" "$PKGDIR" yes socket && cluster_start || { record "$1" 0 1; return 1; }
    CLUSTERS+=("$WORK/$1")
}

# run_regress LAYER PRELOAD SCHEDULE [TESTDIR] [RUNNER]
run_regress() {
    local layer=$1 preload=$2 schedule=$3 testdir=${4:-tests/pg_regress} runner=${5:-pg_regress}
    package_debug || { record "$layer" 0 1; return; }
    local dir="$WORK/$layer"
    cluster_create "$dir" "$PKGDIR" "$preload" socket || { record "$layer" 0 1; return; }
    # No background transactions: the read-cache tests count what a
    # commit elsewhere does to the cache.
    echo "autovacuum = off" >>"$dir/data/postgresql.conf"
    cluster_start || { record "$layer" 0 1; return; }
    CLUSTERS+=("$dir")
    install -d -o postgres -g postgres "$dir/out"
    cp -r "$testdir" "$dir/in" && chown -R postgres:postgres "$dir/in"
    local bin=$PG_PGXS/src/test/regress/pg_regress
    [ "$runner" = isolation ] && bin=$PG_PGXS/src/test/isolation/pg_isolation_regress
    as_postgres env PGUSER=postgres "$bin" --bindir="$PG_BIN" \
        --host="$dir" --port="$CLUSTER_PORT" --inputdir="$dir/in" --outputdir="$dir/out" \
        --dbname=notion_rbac_regress --schedule="$dir/in/$schedule" 2>&1 | tee "$WORK/$layer.log"
    local rc=${PIPESTATUS[0]} p f
    # pg_regress prints "test name ... ok" up to 15, TAP ("ok 3 - name") from 16.
    p=$(grep -cE '^(test |     )?[a-z0-9_]+ +\.\.\. ok|^ok [0-9]+ ' "$WORK/$layer.log")
    f=$(grep -cE '\.\.\. FAILED|^not ok [0-9]+ ' "$WORK/$layer.log")
    # A run that stopped early (a missing expected file, a crash) fails even
    # if no test line says so.
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1; echo "FAILED: $(basename "$bin") exited with status $rc"
    fi
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

# Sessions fed through FIFOs, so that transactions stay open across steps.
session_open() { # NAME HOST PORT: starts psql reading $WORK/NAME.in, writing $WORK/NAME.out
    local name=$1
    rm -f "$WORK/$name.in"; mkfifo -m 666 "$WORK/$name.in"
    as_postgres psql -X -qAt -h "$2" -p "$3" -U postgres -d postgres <"$WORK/$name.in" >"$WORK/$name.out" 2>&1 &
    eval "exec {fd_$name}>\"$WORK/$name.in\""
}
session_send() { local fd="fd_$1"; echo "$2" >&"${!fd}"; }
session_close() { local fd="fd_$1"; eval "exec ${!fd}>&-"; }
session_wait() { # NAME LINES: waits (up to 30 s) until the session has printed LINES lines
    for _ in $(seq 1 300); do [ "$(wc -l <"$WORK/$1.out")" -ge "$2" ] && return 0; sleep 0.1; done
    echo "session $1: timed out waiting for output" >&2
}

# On a standby every running transaction id is in the snapshot's subxip;
# with more than 64 subtransactions in one primary transaction the standby
# marks its snapshots suboverflowed. A revocation R that commits after a
# later transaction has already moved xmax changes only that list: a cached
# check must still see it. Prints the three answers of one standby session.
standby_commit_out_of_order() { # PRIMARY PPORT STANDBY SPORT
    local primary=$1 pport=$2 standby=$3 sport=$4 lsn
    on_primary() { as_postgres psql -X -qAt -h "$primary" -p "$pport" -U postgres -d postgres "$@"; }
    on_primary -c "CREATE TABLE overflow (i int)" -c "SELECT rbac.write_tuples(ARRAY['doc:5#viewer@user:c'])" >/dev/null
    session_open wide "$primary" "$pport"
    session_send wide "BEGIN; DO \$\$ BEGIN FOR i IN 1..70 LOOP BEGIN INSERT INTO overflow VALUES (i); EXCEPTION WHEN OTHERS THEN NULL; END; END LOOP; END \$\$; SELECT 'wide';"
    session_wait wide 1
    session_open revoker "$primary" "$pport"
    session_send revoker "BEGIN; SELECT rbac.delete_tuples(ARRAY['doc:5#viewer@user:c']);"
    session_wait revoker 1
    # A later transaction commits: the standby's xmax moves past the revoker.
    on_primary -c "INSERT INTO overflow VALUES (0)" >/dev/null
    lsn=$(on_primary -c "SELECT pg_current_wal_lsn()")
    session_open reader "$standby" "$sport"
    session_send reader "DO \$\$ BEGIN WHILE pg_last_wal_replay_lsn() < '$lsn' LOOP PERFORM pg_sleep(0.05); END LOOP; END \$\$;"
    session_send reader "SELECT rbac.check('user:c', 'view', 'doc:5');"
    session_send reader "SELECT rbac.check('user:c', 'view', 'doc:5');"
    session_wait reader 2
    session_send revoker "COMMIT; SELECT 'committed';"
    session_wait revoker 2
    lsn=$(on_primary -c "SELECT pg_current_wal_lsn()")
    session_send reader "DO \$\$ BEGIN WHILE pg_last_wal_replay_lsn() < '$lsn' LOOP PERFORM pg_sleep(0.05); END LOOP; END \$\$;"
    session_send reader "SELECT rbac.check('user:c', 'view', 'doc:5');"
    session_wait reader 3
    session_send wide "ROLLBACK;"
    session_close reader; session_close wide; session_close revoker
    wait
    tr '\n' ' ' <"$WORK/reader.out"
}

# A promoted standby's registry of writers never saw the commits it
# replayed. A snapshot taken during recovery and still used after the
# promotion (REPEATABLE READ) must leave nothing in the read cache that a
# later snapshot, which sees a replayed revocation, would reuse.
standby_promotion() { # PRIMARY PPORT (the standby is CLUSTER_DIR/CLUSTER_PORT)
    local primary=$1 pport=$2
    cluster_psql -qAt -d postgres 2>&1 <<SQL | tr '\n' ' '
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT rbac.check('user:q', 'view', 'doc:10');
\\! psql -X -qAt -h $primary -p $pport -U postgres -d postgres -c "SELECT rbac.delete_tuples(ARRAY['doc:10#viewer@user:q'])"
\\! for i in \$(seq 1 200); do [ "\$(psql -X -qAt -h $CLUSTER_DIR -p $CLUSTER_PORT -U postgres -d postgres -c "SELECT count(*) FROM rbac.tuples WHERE entity_id = '10'")" = 0 ] && break; sleep 0.05; done
\\! $PG_BIN/pg_ctl -D $CLUSTER_DIR/data -w promote >/dev/null
SELECT rbac.check('user:q', 'view', 'doc:10');
COMMIT;
SELECT pg_is_in_recovery();
SELECT rbac.check('user:q', 'view', 'doc:10');
SELECT rbac.check('user:q', 'view', 'doc:10');
SQL
}

# Prepared transactions survive a restart; the registry of writers starts
# empty. A revocation prepared before the restart and committed after it
# must reach a check cached in between.
primary_prepared_restart() { # PRIMARY PPORT
    local primary=$1 pport=$2
    on_primary() { as_postgres psql -X -qAt -h "$primary" -p "$pport" -U postgres -d postgres "$@"; }
    on_primary -c "SELECT rbac.write_tuples(ARRAY['doc:20#viewer@user:r'])" >/dev/null
    on_primary -c "BEGIN" -c "SELECT rbac.delete_tuples(ARRAY['doc:20#viewer@user:r'])" -c "PREPARE TRANSACTION 'revoke_r'" >/dev/null
    CLUSTER_DIR=$primary cluster_stop
    CLUSTER_DIR=$primary cluster_start >/dev/null 2>&1 || { echo "primary did not restart"; return; }
    on_primary 2>&1 <<SQL | tr '\n' ' '
SELECT rbac.check('user:r', 'view', 'doc:20');
SELECT rbac.check('user:r', 'view', 'doc:20');
SELECT basis || ': ' || reason FROM rbac.cache_basis();
\\! psql -X -qAt -h $primary -p $pport -U postgres -d postgres -c "COMMIT PREPARED 'revoke_r'"
SELECT rbac.check('user:r', 'view', 'doc:20');
SELECT basis FROM rbac.cache_basis();
SQL
}

# Checks only read, so they must work on a hot standby, where writes fail.
# Consistency tokens on a lagging standby: replay is paused, a revocation
# commits on the primary and its token is taken; the standby still answers
# from before it without the token, refuses with it after
# notion_rbac.consistency_timeout (naming the paused recovery), and with
# replay resumed a second into the call, waits and answers from after it.
standby_consistency_tokens() { # primary pport (the standby is CLUSTER_DIR/CLUSTER_PORT)
    local primary=$1 pport=$2 token got
    as_postgres $PG_BIN/psql -X -qAt -h "$primary" -p "$pport" -U postgres -d postgres \
        -c "SELECT rbac.write_tuples(ARRAY['doc:9#viewer@user:c'])" >/dev/null
    for _ in $(seq 1 100); do [ "$(cluster_psql -At -d postgres -c "SELECT rbac.check('user:c', 'view', 'doc:9')")" = t ] && break; sleep 0.1; done
    cluster_psql -qAt -d postgres -c "SELECT pg_wal_replay_pause()" >/dev/null
    token=$(as_postgres $PG_BIN/psql -X -qAt -h "$primary" -p "$pport" -U postgres -d postgres \
        -c "SELECT rbac.delete_tuples(ARRAY['doc:9#viewer@user:c'])" -c "SELECT rbac.consistency_token()" | tail -n1)
    expect "a token after the revocation on the primary" t "SELECT '$token' ~ '^[0-9A-F]+/[0-9A-F]+;[0-9]+:[0-9]+:[0-9,]*;[0-9]+\$'"
    # The token names the primary's cluster, which its physical standby
    # shares (a token from another cluster is refused: regress consistency).
    expect "the token names the standby's cluster too" t \
        "SELECT split_part('$token', ';', 3)::numeric = (SELECT system_identifier FROM pg_control_system())"
    expect "the paused standby still answers from before the revocation without the token" t \
        "SELECT rbac.check('user:c', 'view', 'doc:9')"
    got=$(cluster_psql -At -v VERBOSITY=verbose -d postgres -c "SET notion_rbac.consistency_timeout = 300" \
        -c "SELECT rbac.check('user:c', 'view', 'doc:9', jsonb_build_object('at_least', '$token'))" 2>&1)
    if echo "$got" | grep -q "ERROR:  55000: this standby has replayed up to" && echo "$got" | grep -q "recovery is paused"; then
        p=$((p + 1)); echo "ok: with the token, the paused standby refuses after the timeout (55000, recovery paused)"
    else f=$((f + 1)); echo "FAILED: token on a paused standby: $got"; fi
    ( sleep 1; cluster_psql -qAt -d postgres -c "SELECT pg_wal_replay_resume()" >/dev/null ) &
    local resumer=$!
    got=$(cluster_psql -At -d postgres -c "SELECT rbac.check('user:c', 'view', 'doc:9', jsonb_build_object('at_least', '$token')),
                   clock_timestamp() - statement_timestamp() > interval '0.5 s'" 2>&1 | tail -n1)
    wait "$resumer"
    if [ "$got" = "f|t" ]; then p=$((p + 1)); echo "ok: with the token, the standby waited for the replay and saw the revocation"
    else f=$((f + 1)); echo "FAILED: token on a lagging standby: '$got'"; fi
    expect "a lookup with the token excludes the revoked object" "" \
        "SELECT string_agg(id, ',') FROM rbac.lookup_resources('user:c', 'view', 'doc', jsonb_build_object('at_least', '$token')) id"
    # A token taken right after a WAL segment switch (pg_switch_wal(), or
    # archive_timeout on an idle primary): the insert position then sits
    # past the next segment's header, which replay never reaches until
    # another record comes. The token names the end of the last record.
    as_postgres $PG_BIN/psql -X -qAt -h "$primary" -p "$pport" -U postgres -d postgres \
        -c "SELECT rbac.write_tuples(ARRAY['doc:12#viewer@user:e'])" >/dev/null
    for _ in $(seq 1 100); do [ "$(cluster_psql -At -d postgres -c "SELECT rbac.check('user:e', 'view', 'doc:12')")" = t ] && break; sleep 0.1; done
    cluster_psql -qAt -d postgres -c "SELECT pg_wal_replay_pause()" >/dev/null
    token=$(as_postgres $PG_BIN/psql -X -qAt -h "$primary" -p "$pport" -U postgres -d postgres \
        -c "SELECT rbac.delete_tuples(ARRAY['doc:12#viewer@user:e'])" -c "SELECT pg_switch_wal()" \
        -c "SELECT rbac.consistency_token()" | tail -n1)
    ( sleep 1; cluster_psql -qAt -d postgres -c "SELECT pg_wal_replay_resume()" >/dev/null ) &
    resumer=$!
    got=$(cluster_psql -At -d postgres -c "SET notion_rbac.consistency_timeout = 8000" \
        -c "SELECT rbac.check('user:e', 'view', 'doc:12', jsonb_build_object('at_least', '$token'))" 2>&1 | tail -n1)
    wait "$resumer"
    if [ "$got" = "f" ]; then p=$((p + 1)); echo "ok: a token taken right after a WAL segment switch is reached by replay"
    else f=$((f + 1)); echo "FAILED: token after a segment switch: '$got'"; fi
}

layer_standby() {
    banner "standby: checks on a hot standby"
    package_debug || { record standby 0 1; return; }
    local primary="$WORK/primary" standby="$WORK/standby"
    cluster_create "$primary" "$PKGDIR" yes socket || { record standby 0 1; return; }
    # (for primary_prepared_restart; the standby gets the same setting)
    echo "max_prepared_transactions = 10" >>"$primary/data/postgresql.conf"
    cluster_start || { record standby 0 1; return; }
    CLUSTERS+=("$primary")
    local pport=$CLUSTER_PORT
    cluster_psql -q -d postgres >/dev/null <<'SQL' || { record standby 0 1; return; }
CREATE EXTENSION notion_rbac;
SELECT rbac.write_schema('entity user {} entity doc { relation parent @doc relation viewer @user permission view = viewer or parent.view }');
SELECT rbac.write_tuples(ARRAY['doc:1#viewer@user:a', 'doc:2#parent@doc:1', 'doc:10#viewer@user:q']);
SQL
    install -d -o postgres -g postgres -m 700 "$standby"
    as_postgres $PG_BIN/pg_basebackup -h "$primary" -p "$pport" -U postgres -D "$standby/data" -R -X stream \
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
    expect "the standby's read cache is keyed by the whole snapshot, and says why" \
        "snapshot|a hot standby (replay records no writers)" "SELECT basis, reason FROM rbac.cache_basis()"
    expect "a denial on the standby is answered, its audit entry going to the server log only" f \
        "SELECT rbac.authorize('user:b', 'view', 'doc:2')"
    if grep -q '"action": "view_denied"' "$standby/server.log"; then p=$((p + 1)); echo "ok: the standby's audit line is in its server log"
    else f=$((f + 1)); echo "FAILED: no audit line for the denial in the standby's server log"; fi
    got=$(cluster_psql -At -v VERBOSITY=verbose -d postgres -c "SELECT rbac.write_tuples(ARRAY['doc:3#viewer@user:a'])" 2>&1)
    if echo "$got" | grep -q "ERROR:  25006"; then p=$((p + 1)); echo "ok: writes are refused on the standby (25006)"
    else f=$((f + 1)); echo "FAILED: writes on the standby: $got"; fi
    # One standby session: a repeated check comes from the read cache; a
    # revocation committed on the primary and replayed here is seen by the
    # next check (the replayed commit moves the snapshot's xmax).
    got=$(cluster_psql -qAt -d postgres 2>&1 <<SQL | tr '\n' ' '
SELECT rbac.check('user:a', 'view', 'doc:2');
SELECT rbac.check('user:a', 'view', 'doc:2');
\\! psql -X -qAt -h $primary -p $pport -U postgres -d postgres -c "SELECT rbac.delete_tuples(ARRAY['doc:1#viewer@user:a'])"
DO \$\$ BEGIN
    FOR i IN 1..200 LOOP
        EXIT WHEN NOT EXISTS (SELECT 1 FROM rbac.tuples WHERE entity_id = '1' AND subject_id = 'a');
        PERFORM pg_sleep(0.05);
    END LOOP;
END \$\$;
SELECT rbac.check('user:a', 'view', 'doc:2');
SQL
)
    if [ "$got" = "t t 1 f " ]; then p=$((p + 1)); echo "ok: a replayed revocation reaches a cached check"
    else f=$((f + 1)); echo "FAILED: replayed revocation on the standby: '$got'"; fi
    got=$(standby_commit_out_of_order "$primary" "$pport" "$standby" "$CLUSTER_PORT")
    if [ "$got" = "t t f " ]; then p=$((p + 1)); echo "ok: a revocation committed after a later transaction reaches a cached check"
    else f=$((f + 1)); echo "FAILED: out-of-order commit on the standby: '$got'"; fi
    standby_consistency_tokens "$primary" "$pport"
    got=$(standby_promotion "$primary" "$pport")
    if [ "$got" = "t 1 t f f f " ]; then p=$((p + 1)); echo "ok: a snapshot taken during recovery leaves nothing stale in the cache after promotion"
    else f=$((f + 1)); echo "FAILED: promotion: expected 't 1 t f f f ', got '$got'"; fi
    got=$(primary_prepared_restart "$primary" "$pport")
    local below="snapshot: this snapshot predates the registry's start or promotion, or a change of the recording triggers, and transactions from before it are still open to it"
    if [ "$got" = "t t $below f writes " ]; then p=$((p + 1)); echo "ok: a prepared revocation committed after a restart reaches a cached check"
    else f=$((f + 1)); echo "FAILED: prepared transaction across a restart: '$got'"; fi
    record standby "$p" "$f"
    cluster_stop
    CLUSTER_DIR=$primary cluster_stop
}

# Every released version (its install script is frozen under tests/upgrade)
# updates to the current one through the upgrade scripts in sql/, keeps its
# data, and ends up exactly like a fresh installation.
layer_upgrade() {
    banner "upgrade: released versions update to the current one"
    layer_cluster upgrade || return
    local dir="$WORK/upgrade"
    local extdir="$dir/pkg$PG_SHAREDIR/extension"
    cp tests/upgrade/notion_rbac--*.sql "$extdir/" && chown postgres:postgres "$extdir"/*.sql
    cp tests/upgrade/describe.sql tests/upgrade/legacy_tokens.sql tests/upgrade/current_tokens.sql tests/upgrade/legacy_check.sql "$dir/" \
        && chown postgres:postgres "$dir"/*.sql
    # The key the legacy token fixtures were encrypted with, beside the
    # cluster's own (the file is re-read when it changes).
    cat tests/upgrade/legacy.key >>"$dir/keys/token.keys"
    local current p=0 f=0 old db got
    current=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
    cluster_psql -q -d postgres -c "CREATE DATABASE upgrade_fresh" >/dev/null
    cluster_psql -q -d upgrade_fresh -c "CREATE EXTENSION notion_rbac" >/dev/null
    cluster_psql -At -d upgrade_fresh -f "$dir/describe.sql" >"$dir/fresh.txt" 2>&1
    # A role that is none of the extension's, given privileges on its objects
    # before each update (as default privileges would have): the update
    # takes them back, or the catalog comparison below fails.
    cluster_psql -q -d postgres -c "CREATE ROLE upgrade_stranger NOLOGIN" >/dev/null
    for script in tests/upgrade/notion_rbac--*.sql; do
        old=$(basename "$script" .sql); old=${old#notion_rbac--}
        db="upgrade_from_${old//./_}"
        # Versions before 0.3.0 stored tokens as pgrx's CBOR.
        fixture=current_tokens.sql
        case "$old" in 0.1.0|0.2.0) fixture=legacy_tokens.sql ;; esac
        # Login mappings (0.4.0 on), one for this session's role and one for
        # a role that no longer exists: after the update (0.16.0 binds
        # mappings to roles) the first still applies, the second to no one
        # (the update warns about it).
        mapped="none|0"
        grep -q "login_subjects" "$script" && mapped="user:a|1"
        cluster_psql -q -d postgres -c "CREATE DATABASE $db" >/dev/null
        got=$(cluster_psql -qAt -d "$db" 2>&1 <<SQL | grep -v -e 'WARNING:  rbac.login_subjects: no role is named upgrade_gone,' -e '^HINT:  Create the role, then write the mapping again' \
                  -e '^NOTICE:  notion_rbac: revoked the privileges of upgrade_stranger on ' -e '^HINT:  They came from default privileges'
CREATE EXTENSION notion_rbac VERSION '$old';
GRANT TRIGGER, INSERT ON rbac.tuples TO upgrade_stranger;
GRANT CREATE ON SCHEMA rbac TO upgrade_stranger;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA rbac TO upgrade_stranger;
SELECT rbac.write_schema('entity user {} entity doc { relation parent @doc relation viewer @user permission view = viewer or parent.view }') > 0;
SELECT rbac.write_tuples(ARRAY['doc:1#viewer@user:a', 'doc:2#parent@doc:1']);
DO \$\$ BEGIN IF to_regclass('rbac.login_subjects') IS NOT NULL THEN
    EXECUTE \$q\$INSERT INTO rbac.login_subjects VALUES (session_user, 'user:a'), ('upgrade_gone', 'user:b')\$q\$;
END IF; END \$\$;
\i $dir/$fixture
ALTER EXTENSION notion_rbac UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'notion_rbac';
SELECT rbac.check('user:a', 'view', 'doc:2'), rbac.check('user:b', 'view', 'doc:2');
SELECT coalesce(rbac.current_subject(), 'none'), (SELECT count(*) FROM rbac.login_subjects WHERE role_oid IS NULL);
SQL
)
        if [ "$(echo "$got" | tr '\n' ' ')" = "t 2 $current t|f $mapped " ]; then
            p=$((p + 1)); echo "ok: $old updates to $current and keeps its data"
        else
            f=$((f + 1)); echo "FAILED: updating $old to $current: $got"
        fi
        got=$(cluster_psql -qAt -d "$db" -f "$dir/legacy_check.sql" 2>&1)
        if [ "$got" = "secret_LEGACY_ACCESS_xyz|secret_LEGACY_REFRESH_xyz|1|1" ]; then
            p=$((p + 1)); echo "ok: tokens stored by $old decrypt after the update and are stored in the new format"
        else
            f=$((f + 1)); echo "FAILED: tokens stored by $old after the update: $got"
        fi
        cluster_psql -At -d "$db" -f "$dir/describe.sql" >"$dir/$db.txt" 2>&1
        if diff -u "$dir/fresh.txt" "$dir/$db.txt"; then
            p=$((p + 1)); echo "ok: $old updated to $current is identical to a fresh $current"
        else
            f=$((f + 1)); echo "FAILED: $old updated to $current differs from a fresh installation (diff above)"
        fi
    done
    record upgrade "$p" "$f"
}

# Concurrent writers change a small graph (parents with cycles, nested
# groups) while readers — READ COMMITTED and REPEATABLE READ, read cache on
# — compare every rbac.check with a plain-SQL evaluation in the same
# statement, hence the same snapshot (tests/stress). One difference fails.
layer_stress() {
    banner "stress: checks against plain SQL under concurrent writes"
    layer_cluster stress || return
    local dir="$WORK/stress"
    # Prepared transactions for the two-phase writer.
    echo "max_prepared_transactions = 10" >>"$dir/data/postgresql.conf"
    CLUSTER_DIR=$dir cluster_stop
    cluster_start || { record stress 0 1; return; }
    cp -r tests/stress "$dir/in" && chown -R postgres:postgres "$dir/in"
    cluster_psql -q -d postgres -f "$dir/in/setup.sql" >/dev/null || { record stress 0 1; return; }
    local out=$WORK/stress.log rc p=0 f=0
    as_postgres $PG_BIN/pgbench -n -h "$dir" -p "$CLUSTER_PORT" -U postgres -c 6 -j 2 \
        -T "${STRESS_SECONDS:-20}" -f "$dir/in/writer.sql@3" -f "$dir/in/writer_sub.sql@1" -f "$dir/in/writer_2pc.sql@1" \
        -f "$dir/in/unrelated.sql@4" -f "$dir/in/reader.sql@6" -f "$dir/in/reader_rr.sql@2" \
        postgres >"$out" 2>&1
    rc=$?
    grep -E "^(SQL script|number of transactions|pgbench: error)| - [0-9]+ transactions" "$out" | head -20
    local reads
    reads=$(awk '/reader/ {r=1} r && /- [0-9]+ transactions/ {s+=$2; r=0} END {print s+0}' "$out")
    if [ "$rc" -eq 0 ] && ! grep -q "stress: \|aborted" "$out" && [ "$reads" -gt 100 ]; then
        p=1; echo "ok: $reads reader transactions, every check and lookup equal to plain SQL"
    else
        f=1; echo "FAILED: stress (exit $rc, $reads reader transactions)"; grep -m5 -i "error\|abort" "$out"
    fi
    # The comparisons were about the cache across commits: readers answered
    # from it although other sessions committed all the time.
    local cache
    cache=$(cluster_psql -qAt -d postgres -c "SELECT sum(hits) || ' hits, ' || sum(misses) || ' misses, ' || sum(invalidations) || ' invalidations, '
            || sum(kept_hits) || ' lookups answered from a kept answer'
        FROM (SELECT DISTINCT ON (pid) * FROM stress.cache_seen ORDER BY pid, id DESC) s")
    local commits
    commits=$(cluster_psql -qAt -d postgres -c "SELECT count(*) FROM stress.unrelated")
    if [ "$(cluster_psql -qAt -d postgres -c "SELECT sum(hits) > 0 FROM (SELECT DISTINCT ON (pid) * FROM stress.cache_seen ORDER BY pid, id DESC) s")" = t ]; then
        p=$((p + 1)); echo "ok: read cache in use across $commits unrelated commits: $cache"
    else
        f=$((f + 1)); echo "FAILED: no cache hits in the readers ($cache)"
    fi
    # The writers' audit entries, written by concurrent transactions, form
    # one linear chain that verifies.
    local audited verified
    audited=$(cluster_psql -qAt -d postgres -c "SELECT count(*) FROM rbac.audit_log WHERE action LIKE 'tuples_%'")
    verified=$(cluster_psql -qAt -d postgres -c "SELECT string_agg(status, ',') FROM rbac.verify_audit_log()")
    if [ "${audited:-0}" -gt 100 ] && [ "$verified" = ok ]; then
        p=$((p + 1)); echo "ok: $audited audit entries of concurrent writers chain linearly and verify"
    else
        f=$((f + 1)); echo "FAILED: audit chain under concurrent writers: $audited entries, verification '$verified'"
    fi
    record stress "$p" "$f"
}

# pg_dump and restore bring back everything the extension stores — schema
# versions, tuples, attributes, workspaces with their encrypted tokens,
# OAuth state — and every check answers as before (tests/dump): plain and
# custom format into a new database, data-only into a database where the
# extension exists, and into a new cluster that has the same key file.
layer_dump() {
    banner "dump: pg_dump and restore keep everything"
    layer_cluster dump || return
    local dir="$WORK/dump" p=0 f=0 src_port=$CLUSTER_PORT
    cp -r tests/dump "$dir/in" && chown -R postgres:postgres "$dir/in"
    on_src() { CLUSTER_DIR=$dir CLUSTER_PORT=$src_port cluster_psql "$@"; }
    on_src -q -d postgres -c "CREATE DATABASE source" >/dev/null
    on_src -q -d source -f "$dir/in/populate.sql" >"$dir/populate.log" 2>&1 || { cat "$dir/populate.log"; record dump 0 1; return; }
    on_src -d source -f "$dir/in/fingerprint.sql" >"$dir/source.txt" 2>&1
    dump() { as_postgres $PG_BIN/pg_dump -h "$dir" -p "$src_port" -U postgres "$@"; }
    dump -d source -f "$dir/plain.sql" && dump -d source -Fc -f "$dir/custom.dump" \
        && dump -d source --data-only -f "$dir/data.sql" || { record dump 0 1; return; }
    # compare NAME: the restored database NAME (psql function $2) against the source
    compare() {
        local name=$1 run=$2 got
        $run -d "$name" -f "$dir/in/fingerprint.sql" >"$dir/$name.txt" 2>&1
        if diff -u "$dir/source.txt" "$dir/$name.txt"; then
            p=$((p + 1)); echo "ok: $name: every row, token and check as in the source ($(wc -l <"$dir/source.txt") lines)"
        else
            f=$((f + 1)); echo "FAILED: $name differs from the source (diff above)"
        fi
        got=$($run -qAt -d "$name" -f "$dir/in/continue.sql" 2>&1 | tr '\n' ' ')
        if [ "$got" = "4 3 " ]; then p=$((p + 1)); echo "ok: $name: schema versions and job ids continue where they were"
        else f=$((f + 1)); echo "FAILED: $name: next version and job: '$got' (expected '4 3 ')"; fi
    }
    on_src -q -d postgres -c "CREATE DATABASE restored_plain" -c "CREATE DATABASE restored_custom" \
        -c "CREATE DATABASE restored_data_only" >/dev/null
    # In one transaction, as the README says to restore (the worker chains
    # audit entries as they commit).
    if on_src -q -1 -d restored_plain -f "$dir/plain.sql" >"$dir/restore_plain.log" 2>&1; then compare restored_plain on_src
    else f=$((f + 1)); echo "FAILED: restoring the plain dump"; cat "$dir/restore_plain.log"; fi
    if as_postgres $PG_BIN/pg_restore --single-transaction -h "$dir" -p "$src_port" -U postgres \
        -d restored_custom "$dir/custom.dump" >"$dir/restore_custom.log" 2>&1; then compare restored_custom on_src
    else f=$((f + 1)); echo "FAILED: restoring the custom dump"; cat "$dir/restore_custom.log"; fi
    on_src -q -d restored_data_only -c "CREATE EXTENSION notion_rbac" >/dev/null
    if on_src -q -d restored_data_only -f "$dir/data.sql" >"$dir/restore_data.log" 2>&1; then compare restored_data_only on_src
    else f=$((f + 1)); echo "FAILED: restoring the data-only dump"; cat "$dir/restore_data.log"; fi
    # A new cluster with the same key file: tokens decrypt there too.
    local other="$WORK/dump_other"
    cluster_create "$other" "$PKGDIR" yes socket || { record dump "$p" $((f + 1)); return; }
    cp "$dir/keys/token.keys" "$other/keys/token.keys"
    cluster_start || { record dump "$p" $((f + 1)); return; }
    CLUSTERS+=("$other")
    local other_port=$CLUSTER_PORT
    on_other() { CLUSTER_DIR=$other CLUSTER_PORT=$other_port cluster_psql "$@"; }
    # Roles first, as restoring pg_dumpall --globals-only would.
    on_other -q -d postgres -c "CREATE DATABASE restored_elsewhere" -c "CREATE ROLE dump_login" >/dev/null
    if as_postgres $PG_BIN/pg_restore --exit-on-error -h "$other" -p "$other_port" -U postgres \
        -d restored_elsewhere "$dir/custom.dump" >"$dir/restore_elsewhere.log" 2>&1; then compare restored_elsewhere on_other
    else f=$((f + 1)); echo "FAILED: restoring into another cluster"; cat "$dir/restore_elsewhere.log"; fi
    if grep -qE 'secret_[A-Z_]+_xyz' "$dir/server.log" "$other/server.log"; then
        f=$((f + 1)); echo "FAILED: token plaintext in a server log"
    else p=$((p + 1)); echo "ok: no token plaintext in the server logs"; fi
    if grep -qE 'secret_[A-Z_]+_xyz' "$dir/plain.sql" "$dir/data.sql"; then
        f=$((f + 1)); echo "FAILED: token plaintext in a dump"
    else p=$((p + 1)); echo "ok: dumps hold tokens only encrypted"; fi
    record dump "$p" "$f"
    cluster_stop
    CLUSTER_DIR=$dir cluster_stop
}

# The production storage path against the reference engine: random
# universes (large entities, nested subject sets, cycles, attributes) in
# rbac.tuples; every check, check_many and lookup of the database engine
# compared with rbac.validate() over the same data (tests/differential).
layer_differential() {
    banner "differential: the database engine against the in-memory reference"
    layer_cluster differential || return
    local dir="$WORK/differential" out p f assertions
    cp tests/differential/run.sql "$dir/run.sql" && chown postgres:postgres "$dir/run.sql"
    out=$(cluster_psql -d postgres -v seeds="${DIFFERENTIAL_UNIVERSES:-40}" -f "$dir/run.sql" 2>&1)
    echo "$out" | grep -E "^universe|WARNING|ERROR" | tail -n 60
    p=$(echo "$out" | grep -cE '^universe [0-9]+: [0-9]+ assertions .*, 0 failed, 0 check_many mismatches$')
    f=$(echo "$out" | grep -E '^universe ' | grep -cvE ', 0 failed, 0 check_many mismatches$')
    echo "$out" | grep -q "ERROR" && f=$((f + 1))
    # The row-level-security comparisons must have used both strategies.
    echo "$out" | grep -E '^rls: ' || true
    echo "$out" | grep -qE '^rls: [1-9][0-9]* row checks, [1-9][0-9]* lookups' || { echo "differential: row-level security did not use both strategies"; f=$((f + 1)); }
    assertions=$(echo "$out" | awk '/^universe/ { s += $3 } END { print s + 0 }')
    echo "differential: $p universes agree, $assertions assertions compared"
    record differential "$p" "$f"
    cluster_stop
}

# Generated hostile inputs against every SQL function (tests/fuzz/run.sql):
# no internal error, no crash, no call over its budget, no failed write
# that leaves anything behind, caches coherent afterwards. Then the cancel
# latency of long calls inside the extension's own work (pg_cancel_backend
# and pg_terminate_backend), which must stay within 100 ms.
# FUZZ_ROUNDS (default 40, 500 calls each) and FUZZ_SEED; `make fuzz` runs more.
layer_fuzz() {
    banner "fuzz: hostile inputs against every SQL function"
    layer_cluster fuzz || return
    local dir="$WORK/fuzz" out p=0 f=0 started seconds rounds=${FUZZ_ROUNDS:-40} seed=${FUZZ_SEED:-0.$RANDOM}
    cp tests/fuzz/run.sql tests/fuzz/cancel.sql "$dir/" && chown postgres:postgres "$dir"/*.sql
    cluster_psql -q -d postgres -c "CREATE DATABASE fuzz" >/dev/null
    cluster_psql -q -d fuzz -c "CREATE EXTENSION notion_rbac" >/dev/null
    started=$(date +%s)
    out=$(cluster_psql -d fuzz -v iterations=500 -v rounds="$rounds" -v seed="$seed" -v budget_ms=2000 -f "$dir/run.sql" 2>&1)
    local rc=$?
    seconds=$(( $(date +%s) - started ))
    echo "$out" | grep -E "^(function|inputs|functions|slowest|sqlstate|finding|findings|psql|ERROR|server)" | head -80
    echo "(seed $seed; ${seconds}s)"
    local inputs functions findings
    inputs=$(echo "$out" | awk '/^inputs / {print $2}')
    functions=$(echo "$out" | awk '/^functions / {print $2}')
    findings=$(echo "$out" | awk '/^findings / {print $2}')
    if [ "$rc" -eq 0 ] && [ "${inputs:-0}" -ge $((rounds * 500)) ] && [ "${functions:-0}" -ge 30 ] && [ "${findings:-1}" -eq 0 ]; then
        p=$((p + 1)); echo "ok: $inputs inputs across $functions functions, no finding"
    else
        f=$((f + 1)); echo "FAILED: fuzz (psql exit $rc, ${inputs:-0} inputs, ${functions:-0} functions, ${findings:-?} findings)"
        # What the server saw waiting (a round that ran out of time).
        grep -ahE "still waiting|acquired|deadlock|autovacuum|canceling|terminating" "$dir/data/log/"* "$dir"/*.log 2>/dev/null | tail -20
    fi
    if grep -qE "terminated by signal|PANIC|was terminated|server process .* exited" "$dir/data/log/"* "$dir"/*.log 2>/dev/null; then
        f=$((f + 1)); echo "FAILED: a backend crashed:"; grep -hE "terminated by signal|PANIC" "$dir/data/log/"* "$dir"/*.log 2>/dev/null | head -5
    else
        p=$((p + 1)); echo "ok: no backend crashed"
    fi
    # Cancel latency: long calls (built by cancel.sql) cancelled and
    # terminated half a second in.
    cluster_psql -q -d postgres -c "CREATE DATABASE fuzz_cancel" >/dev/null && cluster_psql -q -d fuzz_cancel -c "CREATE EXTENSION notion_rbac" >/dev/null && cluster_psql -q -d fuzz_cancel -f "$dir/cancel.sql" >/dev/null || { record fuzz "$p" $((f + 1)); return; }
    local worst=0 label sql how ms
    while IFS='|' read -r label how sql; do
        ms=$(cancel_probe "$dir" "$label" "$how" "$sql")
        case "$ms" in
            ''|*[!0-9]*) f=$((f + 1)); echo "FAILED: $label ($how): $ms" ;;
            *) echo "$label ($how): stopped ${ms} ms after the signal"
               [ "$ms" -gt "$worst" ] && worst=$ms ;;
        esac
    done <<'CALLS'
validate|cancel|SELECT count(*) FROM rbac.validate((SELECT file FROM fuzz_heavy WHERE name = 'validation'))
lookup|cancel|SELECT count(*) FROM rbac.lookup_resources('user:u9', 'view', 'doc', (SELECT ctx FROM fuzz_heavy WHERE name = 'attributes'))
settle|cancel|SELECT rbac.check('user:nobody', 'view', 'doc:r0', (SELECT ctx FROM fuzz_heavy WHERE name = 'ring'))
check_many|cancel|SELECT count(*) FROM rbac.check_many('user:nobody', 'view', (SELECT array_agg('doc:r' || i) FROM generate_series(0, 299999, 3) i), (SELECT ctx FROM fuzz_heavy WHERE name = 'ring'))
settle|terminate|SELECT rbac.check('user:nobody', 'view', 'doc:r0', (SELECT ctx FROM fuzz_heavy WHERE name = 'ring'))
CALLS
    echo "worst cancel latency: ${worst} ms"
    if [ "$worst" -le 100 ]; then p=$((p + 1)); else f=$((f + 1)); echo "FAILED: a call took more than 100 ms to stop"; fi
    record fuzz "$p" "$f"
}

# cancel_probe DIR LABEL cancel|terminate SQL: runs SQL in its own session,
# signals it half a second in and prints how many ms the backend took to
# stop (or why the probe is void). Both ends are read from the server's
# clock: the signal's time from the statement that sends it, the end from
# the next statement of the cancelled session (for terminate, a function
# that watches the process go), so the figure holds no client start-up.
cancel_probe() {
    local dir=$1 label=$2 how=$3 sql=$4 pid="" t0 t1 i out
    local app="fuzz_probe_$label" log="$dir/probe.$label.$how.log" script="$dir/probe.$label.$how.sql"
    local now="(extract(epoch FROM pg_catalog.clock_timestamp()) * 1000)::bigint"
    cat >"$script" <<SQL
SET application_name = '$app';
SET notion_rbac.max_context_items = 10000000;
SET notion_rbac.max_fixpoint_size = 100000000;
SET notion_rbac.max_call_memory = 0;
\set ON_ERROR_STOP 0
$sql;
SELECT 'ended ' || $now;
SQL
    chown postgres:postgres "$script"
    cluster_psql -qAt -d fuzz_cancel -f "$script" >"$log" 2>&1 &
    local bg=$!
    for i in $(seq 200); do
        pid=$(cluster_psql -qAt -d fuzz_cancel -c "SELECT pid FROM pg_stat_activity WHERE application_name = '$app' AND state = 'active'" 2>/dev/null)
        [ -n "$pid" ] && break
        sleep 0.02
    done
    [ -n "$pid" ] || { wait $bg; echo "the call never ran"; return; }
    sleep 0.5
    if [ "$how" = terminate ]; then
        out=$(cluster_psql -qAt -d fuzz_cancel -c "SELECT fuzz_terminate($pid)")
        wait $bg
        grep -qi "terminat" "$log" && [ "${out:--1}" -ge 0 ] \
            || { echo "finished before the terminate arrived ($(head -c 200 "$log" | tr '\n' ' '))"; return; }
        t0=0 t1=$out
    else
        t0=$(cluster_psql -qAt -d fuzz_cancel -c "SELECT $now FROM pg_cancel_backend($pid)")
        wait $bg
        grep -q "canceling statement due to user request" "$log" \
            || { echo "finished before the cancel arrived ($(head -c 200 "$log" | tr '\n' ' '))"; return; }
        t1=$(sed -n 's/^ended //p' "$log")
    fi
    echo $(( t1 - t0 ))
}

# fake_notion_start DIR FIXTURE: starts the fake Notion server on a free
# loopback port; sets FAKE_URL and FAKE_PID.
fake_notion_start() {
    local dir=$1 fixture=$2
    rm -f "$dir/fake.url"
    python3 fake_notion --fixture "$fixture" --port 0 --url-file "$dir/fake.url" >"$dir/fake.out" 2>"$dir/fake.log" &
    FAKE_PID=$!
    for _ in $(seq 100); do [ -s "$dir/fake.url" ] && break; sleep 0.1; done
    FAKE_URL=$(cat "$dir/fake.url" 2>/dev/null)
    [ -n "$FAKE_URL" ] || { echo "the fake Notion server did not start:"; cat "$dir/fake.log"; return 1; }
}

layer_worker() {
    banner "worker: the background worker against the fake Notion"
    layer_cluster worker || return
    local dir="$WORK/worker" out p f
    fake_notion_start "$dir" fake_notion/fixtures/test.json || { record worker 0 1; return; }
    out=$(python3 tests/worker/run.py "$PG_BIN/psql" "$dir" "$CLUSTER_PORT" "$dir/server.log" "$FAKE_URL" fake_notion/fixtures/test.json 2>&1)
    echo "$out"
    kill "$FAKE_PID" 2>/dev/null; wait "$FAKE_PID" 2>/dev/null
    p=$(echo "$out" | grep -c '^ok ')
    f=$(echo "$out" | grep -c '^not ok ')
    echo "$out" | grep -q '^1\.\.[0-9]' || { f=$((f + 1)); echo "FAILED: the worker tests did not finish"; }
    record worker "$p" "$f"
    cluster_stop
}

layer_conformance() {
    banner "conformance: $CONFORMANCE_DIR through rbac.validate()"
    if [ ! -d "$CONFORMANCE_DIR" ]; then
        if [ "${NOTION_RBAC_REQUIRE_CONFORMANCE:-}" = 1 ]; then
            echo "FAILED: the conformance suites are required but $CONFORMANCE_DIR does not exist"
            record conformance 0 1
        else
            echo "SKIPPED: the conformance suites are not at $CONFORMANCE_DIR (they sit beside the repository in the"
            echo "project's workspace; set NOTION_RBAC_CONFORMANCE to their directory to run this layer)"
            SUMMARY+=("conformance: SKIPPED (no suites at $CONFORMANCE_DIR)")
        fi
        return
    fi
    layer_cluster conformance || return
    local dir="$WORK/conformance"
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
        core|fake|pg_test|regress|nopreload|isolation|standby|upgrade|dump|differential|stress|fuzz|worker|conformance) ;;
        *) echo "unknown layer: $layer" >&2; exit 2 ;;
    esac
done
PG_TAG=""
ran_once=""
for v in "${PG_LIST[@]}"; do
    use_pg "$v"
    WORK=$WORKROOT/pg$v
    install -d -m 755 "$WORK"
    PKGDIR=""
    for layer in "${LAYERS[@]}"; do
        if [ "$layer" = core ] || [ "$layer" = fake ]; then
            # Server-independent: once, whatever the versions.
            case " $ran_once " in *" $layer "*) continue ;; esac
            ran_once="$ran_once $layer"
            PG_TAG="" "layer_$layer"
            continue
        fi
        # Several versions: every server layer's name says which.
        [ "${#PG_LIST[@]}" -gt 1 ] && PG_TAG="@pg$v"
        "layer_$layer"
    done
done

banner "summary"
printf '%s\n' "${SUMMARY[@]}"
echo "$TOTAL_PASSED passed, $TOTAL_FAILED failed"
[ "$TOTAL_FAILED" -eq 0 ]
