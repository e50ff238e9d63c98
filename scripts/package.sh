#!/usr/bin/env bash
# Builds the installable package: `cargo pgrx package` (the library, the
# control file and the generated install script of the current version)
# plus the hand-written upgrade scripts sql/notion_rbac--A--B.sql, which
# `ALTER EXTENSION notion_rbac UPDATE` needs next to the control file.
#
# Usage: scripts/package.sh [--debug] [--out-dir DIR]
#   default output: target/release/notion_rbac-pg15 (target/debug/... with --debug)
set -euo pipefail
cd "$(dirname "$0")/.."
PG_CONFIG=/usr/bin/pg_config
profile=release out=""
args=()
while [ $# -gt 0 ]; do
    case $1 in
        --debug) profile=debug; args+=(--debug) ;;
        --out-dir) out=$2; args+=(--out-dir "$2"); shift ;;
        *) echo "usage: $0 [--debug] [--out-dir DIR]" >&2; exit 2 ;;
    esac
    shift
done
cargo pgrx package "${args[@]}" --pg-config "$PG_CONFIG"
[ -n "$out" ] || out="target/$profile/notion_rbac-pg$("$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')"
extdir="$out$("$PG_CONFIG" --sharedir)/extension"
[ -f "$extdir/notion_rbac.control" ] || { echo "package.sh: no control file in $extdir" >&2; exit 1; }
cp sql/notion_rbac--*--*.sql "$extdir/"
