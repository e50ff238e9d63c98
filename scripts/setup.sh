#!/usr/bin/env bash
# Installs what building and testing notion_rbac needs, idempotently and
# quickly when everything is already there:
#   - Debian packages: PostgreSQL 15 server, headers and client, clang for
#     bindgen, a C toolchain, sudo (cargo pgrx test --runas uses it);
#   - cargo-pgrx at exactly the version of the pgrx crates in Cargo.toml;
#   - pgrx's config pointing at Debian's PostgreSQL 15 (offline: it only
#     writes ~/.pgrx/config.toml).
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

PGRX_HOME="${PGRX_HOME:-$HOME/.pgrx}"
if ! grep -qs "pg15 = \"$PG_CONFIG\"" "$PGRX_HOME/config.toml"; then
    say "configuring pgrx for PostgreSQL 15 ($PG_CONFIG)"
    cargo pgrx init --pg15 "$PG_CONFIG" >/dev/null
fi
