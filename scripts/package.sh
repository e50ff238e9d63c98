#!/usr/bin/env bash
# Builds the installable package: `cargo pgrx package` (the library, the
# control file and the generated install script of the current version)
# plus the hand-written upgrade scripts sql/notion_rbac--A--B.sql, which
# `ALTER EXTENSION notion_rbac UPDATE` needs next to the control file.
#
# Usage: scripts/package.sh [--pg VERSION] [--debug] [--out-dir DIR]
#   VERSION: 15 or 18 (default 15)
#   default output: target/release/notion_rbac-pgVERSION (target/debug/... with --debug)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/cluster.sh
source scripts/cluster.sh
version=15 profile=release out=""
args=()
while [ $# -gt 0 ]; do
    case $1 in
        --pg) version=$2; shift ;;
        --debug) profile=debug; args+=(--debug) ;;
        --out-dir) out=$2; args+=(--out-dir "$2"); shift ;;
        *) echo "usage: $0 [--pg VERSION] [--debug] [--out-dir DIR]" >&2; exit 2 ;;
    esac
    shift
done
use_pg "$version"
cargo pgrx package "${args[@]}" --pg-config "$PG_CONFIG" --no-default-features --features "pg$version"
[ -n "$out" ] || out="target/$profile/notion_rbac-pg$version"
extdir="$out$PG_SHAREDIR/extension"
[ -f "$extdir/notion_rbac.control" ] || { echo "package.sh: no control file in $extdir" >&2; exit 1; }
cp sql/notion_rbac--*--*.sql "$extdir/"
