#!/usr/bin/env bash
# `make bench`: builds the release package, starts a throwaway cluster as
# postgres, and for each dataset size (default: 100k and 1M tuples) loads a
# Notion-shaped dataset with COPY and times checks and lookup_resources
# through notion_rbac and through a plain-SQL implementation of the same
# model (bench/baseline.sql), printing figures and ratios.
#
# BENCH_SCALES="0.1 1.0" picks the sizes (1.0 is about 1M tuples); PG=15 or
# 18 the server (default 18, the newest).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/cluster.sh
source scripts/cluster.sh
SCALES=${BENCH_SCALES:-"0.1 1.0"}
# BENCH_PARTS="checks rls handwritten" picks the parts: checks and lookups
# over the Notion-shaped graph, row-level security over an application
# table, and the hand-written baseline the project was given on its own
# dataset (../shared/bench; NOTION_RBAC_SHARED_BENCH=DIR points elsewhere).
PARTS=${BENCH_PARTS:-"checks rls handwritten"}
SHARED_BENCH=${NOTION_RBAC_SHARED_BENCH:-$(pwd)/../shared/bench}
VERSION=${PG:-18}

scripts/setup.sh
cargo metadata --locked --format-version 1 >/dev/null
echo "==> building the release package"
scripts/package.sh --pg "$VERSION" >/tmp/notion_rbac-bench-build.log 2>&1 \
    || { cat /tmp/notion_rbac-bench-build.log; exit 1; }

WORK=$(mktemp -d /tmp/notion_rbac-bench.XXXXXX)
chmod 755 "$WORK"
trap 'CLUSTER_DIR=$WORK/cluster cluster_stop; rm -rf "$WORK"' EXIT
use_pg "$VERSION"
cluster_create "$WORK/cluster" "target/release/notion_rbac-pg$VERSION" yes socket
cat >>"$WORK/cluster/data/postgresql.conf" <<CONF
shared_buffers = '1GB'
work_mem = '64MB'
maintenance_work_mem = '512MB'
max_wal_size = '4GB'
# 50 sessions idle in transaction (in_progress) beside the timing session.
max_connections = 80
CONF
cluster_start

echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "postgres: $(cluster_psql -At -d postgres -c 'SELECT version()')"
echo "notion_rbac: release build, shared_preload_libraries, one connection, times measured in the server"

# Checks per second with 1 and 2 client connections (pgbench, prepared
# statements, 10 s each, read cache off and on), next to the same
# transaction without the check: the check path takes no lock that would
# serialise backends, so 2 clients on 2 cores do about twice the work
# (pgbench itself shares those cores).
throughput() { # db label
    local db=$1 label=$2 n c cache tps base
    n=$(cluster_psql -At -d "$db" -c "SELECT max(qid) FROM bench.queries")
    cp bench/throughput.pgbench bench/throughput_baseline.pgbench "$WORK/cluster/" && chown postgres "$WORK/cluster/"*.pgbench
    echo
    echo "throughput ($label): transactions per second, one check each (pgbench -M prepared, 10 s)"
    printf '%-12s %-8s %12s %14s %10s\n' clients cache "checks/s" "no check, tps" "check share"
    for cache in 0 50000; do
        for c in 1 2; do
            tps=$(PGOPTIONS="-c notion_rbac.cache_rows=$cache" as_postgres "$PG_BIN/pgbench" -n -M prepared -T 10 -c "$c" -j "$c" \
                -D queries="$n" -f "$WORK/cluster/throughput.pgbench" -h "$CLUSTER_DIR" -p "$CLUSTER_PORT" -U postgres "$db" 2>/dev/null \
                | awk '/^tps/ { print int($3) }')
            base=$(as_postgres "$PG_BIN/pgbench" -n -M prepared -T 10 -c "$c" -j "$c" \
                -D queries="$n" -f "$WORK/cluster/throughput_baseline.pgbench" -h "$CLUSTER_DIR" -p "$CLUSTER_PORT" -U postgres "$db" 2>/dev/null \
                | awk '/^tps/ { print int($3) }')
            printf '%-12s %-8s %12s %14s %10s\n' "$c" "$([ "$cache" = 0 ] && echo off || echo on)" "$tps" "$base" \
                "$(awk -v a="$tps" -v b="$base" 'BEGIN { if (a > 0 && b > 0) printf "%.0f%%", 100 * (1 - a / b) }')"
        done
    done
}

# Distinct checks in transactions of their own while other connections
# commit ~200 times a second to an unrelated table and write a tuple ~once
# a second (bench/steady.sql): the read cache keyed by the whole snapshot
# against the cache keyed by the writes to rbac's tables.
steady_state() { # db label
    local db=$1 label=$2 pids=()
    cluster_psql -q -d "$db" -c "CREATE TABLE bench.noise (id bigserial PRIMARY KEY, x int)"
    cp bench/noise.pgbench bench/tuple_writer.pgbench "$WORK/cluster/" && chown postgres "$WORK/cluster/"*.pgbench
    echo
    echo "steady state ($label): distinct checks, one per transaction, while others commit (~200/s unrelated, ~1/s a tuple)"
    as_postgres "$PG_BIN/pgbench" -n -R 200 -T 600 -f "$WORK/cluster/noise.pgbench" -h "$CLUSTER_DIR" -p "$CLUSTER_PORT" -U postgres "$db" \
        >/dev/null 2>&1 & pids+=($!)
    as_postgres "$PG_BIN/pgbench" -n -R 1 -T 600 -f "$WORK/cluster/tuple_writer.pgbench" -h "$CLUSTER_DIR" -p "$CLUSTER_PORT" -U postgres "$db" \
        >/dev/null 2>&1 & pids+=($!)
    sleep 2
    cluster_psql -q -d "$db" -v label="$label" -f bench/steady.sql
    kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null || true
    pkill -f "$WORK/cluster/(noise|tuple_writer).pgbench" 2>/dev/null || true
    cluster_psql -qAt -d postgres -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '$db'" >/dev/null
}

# The mix's checks (read cache off, and on asked again) with no other
# transaction in progress, then with 50 sessions idle in transaction, each
# holding a transaction id (pgbench sleeping inside its transaction): a
# check's cost must not grow with the transactions in progress in the
# cluster (the read cache's key once copied and sorted every running id).
in_progress() { # db label
    local db=$1 label=$2 pid open=0 i
    cp bench/hold_transaction.pgbench "$WORK/cluster/" && chown postgres "$WORK/cluster/"*.pgbench
    echo
    echo "in-progress transactions ($label): the same checks with none and with 50 sessions idle in transaction"
    cluster_psql -q -d "$db" -v label="$label" -v open=0 -v last=false -f bench/in_progress.sql
    as_postgres "$PG_BIN/pgbench" -n -c 50 -j 1 -T 600 -f "$WORK/cluster/hold_transaction.pgbench" \
        -h "$CLUSTER_DIR" -p "$CLUSTER_PORT" -U postgres "$db" >/dev/null 2>&1 & pid=$!
    for i in $(seq 300); do
        open=$(cluster_psql -At -d postgres -c "SELECT count(*) FROM pg_stat_activity
            WHERE datname = '$db' AND state = 'idle in transaction' AND backend_xid IS NOT NULL")
        [ "$open" -ge 50 ] && break
        sleep 0.1
    done
    if [ "$open" -lt 50 ]; then
        echo "in-progress transactions: only $open of 50 sessions became idle in transaction" >&2
        kill "$pid" 2>/dev/null; exit 1
    fi
    cluster_psql -q -d "$db" -v label="$label" -v open="$open" -v last=true -f bench/in_progress.sql
    kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
    cluster_psql -qAt -d postgres -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '$db'" >/dev/null
}

for scale in $SCALES; do
    label="scale $scale"
    case " $PARTS " in *" checks "*) ;; *) continue ;; esac
    db="bench_$(echo "$scale" | tr . _)"
    cluster_psql -q -d postgres -c "CREATE DATABASE $db" >/dev/null
    cluster_psql -q -d "$db" -c "CREATE EXTENSION notion_rbac" >/dev/null
    cluster_psql -q -d "$db" -v schema="$(cat bench/model.perm)" <<<"SELECT rbac.write_schema(:'schema');" >/dev/null
    echo
    echo "==> dataset $label"
    cluster_psql -q -d "$db" -v scale="$scale" -f bench/generate.sql
    cluster_psql -q -d "$db" -f bench/baseline.sql
    cluster_psql -q -d "$db" -v tsv="$WORK/cluster/tuples.tsv" -v label="$label" -f bench/run.sql
    rm -f "$WORK/cluster/tuples.tsv"
    throughput "$db" "$label"
    steady_state "$db" "$label"
    in_progress "$db" "$label"
    cluster_psql -q -d postgres -c "DROP DATABASE $db" >/dev/null
done

# Row-level security: an application table of 1M × scale rows under
# rbac.protect, a plain-SQL policy and no policy (bench/rls.sql).
case " $PARTS " in *" rls "*)
    for scale in $SCALES; do
        db="bench_rls_$(echo "$scale" | tr . _)"
        cluster_psql -q -d postgres -c "CREATE DATABASE $db" >/dev/null
        cluster_psql -q -d "$db" -c "CREATE EXTENSION notion_rbac" >/dev/null
        cluster_psql -q -d "$db" -v schema="$(cat bench/model.perm)" <<<"SELECT rbac.write_schema(:'schema');" >/dev/null
        echo
        echo "==> row-level security, scale $scale"
        cluster_psql -q -d "$db" -v scale="$scale" -v label="scale $scale" -v tsv="$WORK/cluster/rls.tsv" -f bench/rls.sql
        rm -f "$WORK/cluster/rls.tsv"
        cluster_psql -q -d postgres -c "DROP DATABASE $db" >/dev/null
    done ;;
esac

# The hand-written baseline of ../shared/bench on its own dataset (about
# 200k tuples: its page trees stop at depth 6), as its README asks: the
# same pairs through rbac.check and bench.page_read in the same session
# (bench/handwritten.sql). A workspace without it says so and goes on.
case " $PARTS " in *" handwritten "*)
    echo
    if [ ! -f "$SHARED_BENCH/dataset.sql" ] || [ ! -f "$SHARED_BENCH/notion_bench.perm" ]; then
        echo "==> hand-written baseline: not run, $SHARED_BENCH/dataset.sql or notion_bench.perm not found (NOTION_RBAC_SHARED_BENCH=DIR)"
    else
        echo "==> hand-written baseline ($SHARED_BENCH, pages=100000, checks=3000)"
        db=bench_handwritten
        install -m 644 -o postgres "$SHARED_BENCH/dataset.sql" "$WORK/cluster/handwritten_dataset.sql"
        cluster_psql -q -d postgres -c "CREATE DATABASE $db" >/dev/null
        cluster_psql -q -d "$db" -v pages=100000 -v checks=3000 -f "$WORK/cluster/handwritten_dataset.sql" \
            >"$WORK/handwritten_dataset.log" 2>&1 || { cat "$WORK/handwritten_dataset.log"; exit 1; }
        cluster_psql -q -d "$db" -c "CREATE EXTENSION notion_rbac" >/dev/null
        cluster_psql -q -d "$db" -v schema="$(cat "$SHARED_BENCH/notion_bench.perm")" <<<"SELECT rbac.write_schema(:'schema');" >/dev/null
        cluster_psql -q -d "$db" -v label="hand-written" -f bench/handwritten.sql
        cluster_psql -q -d postgres -c "DROP DATABASE $db" >/dev/null
    fi ;;
esac
