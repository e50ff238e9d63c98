#!/usr/bin/env bash
# Verifies the fake end to end and prints TAP:
#   1. installs the pinned official SDKs if missing (install.sh, idempotent);
#   2. runs the unittest suite (it starts its own fake);
#   3. starts the fake on port 0 (base URL via --url-file) and drives it with
#      the Python SDK (check_py.py) and the JS SDK (check_js.mjs);
#   4. stops the fake with SIGTERM and checks it exits cleanly.
# One "ok N - ..." / "not ok N - ..." line per check, "1..N" at the end; exits
# non-zero if anything failed.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
PKG=$(dirname "$HERE")
PYTHON=${PYTHON:-python3}
export NOTION_RBAC_SDK_DIR=${NOTION_RBAC_SDK_DIR:-/opt/notion_rbac/sdk}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/fake_notion_run.XXXXXX")
FAKE_PID=""

n=0
failed=0
tap() {  # tap ok|fail description
    n=$((n + 1))
    if [ "$1" = ok ]; then
        echo "ok $n - $2"
    else
        echo "not ok $n - $2"
        failed=$((failed + 1))
    fi
}
diag() {  # diag FILE: a file's lines as TAP comments
    [ -s "$1" ] && sed 's/^/# /' "$1"
    return 0
}

cleanup() {
    if [ -n "$FAKE_PID" ] && kill -0 "$FAKE_PID" 2>/dev/null; then
        kill -TERM "$FAKE_PID" 2>/dev/null
        wait "$FAKE_PID" 2>/dev/null
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

# 1. SDKs
if "$HERE/install.sh" >"$TMP/install.log" 2>&1; then
    tap ok "official SDKs installed (notion-client 3.1.0, @notionhq/client 5.26.0)"
else
    tap fail "official SDKs installed (install.sh failed)"
    diag "$TMP/install.log"
fi

# 2. unittest: one TAP line per test, from the verbose runner's report.
(cd "$PKG/tests" && "$PYTHON" -m unittest -v test_fake) >"$TMP/unittest.log" 2>&1
ut_rc=$?
ut_lines=0
while IFS= read -r line; do
    case "$line" in
        *" ... ok")
            tap ok "unittest ${line% ... ok}"; ut_lines=$((ut_lines + 1)) ;;
        *" ... FAIL" | *" ... ERROR")
            tap fail "unittest ${line% ... *}"; ut_lines=$((ut_lines + 1)) ;;
        *" ... skipped"*)
            n=$((n + 1)); echo "ok $n - unittest ${line%% ... *} # SKIP"; ut_lines=$((ut_lines + 1)) ;;
    esac
done <"$TMP/unittest.log"
if [ "$ut_rc" -ne 0 ]; then
    [ "$ut_lines" -eq 0 ] && tap fail "unittest suite ran (exit $ut_rc)"
    diag "$TMP/unittest.log"
fi

# 3. the fake for the SDK checks
"$PYTHON" "$PKG" --fixture "$PKG/fixtures/test.json" --port 0 --url-file "$TMP/url" \
    >"$TMP/fake.stdout" 2>"$TMP/fake.stderr" &
FAKE_PID=$!
for _ in $(seq 1 100); do
    [ -s "$TMP/url" ] && break
    kill -0 "$FAKE_PID" 2>/dev/null || break
    sleep 0.1
done
URL=$(cat "$TMP/url" 2>/dev/null)
FIRST_LINE=$(head -n 1 "$TMP/fake.stdout" 2>/dev/null)
if [ -n "$URL" ] && [ "$URL" = "$FIRST_LINE" ]; then
    tap ok "fake started on $URL (first stdout line = --url-file content)"
else
    tap fail "fake started (url file '$URL', first stdout line '$FIRST_LINE')"
    diag "$TMP/fake.stderr"
fi

sdk_check() {  # sdk_check LABEL COMMAND...: renumber the check's own ok/not ok lines
    local label=$1 line rc notok=0
    shift
    "$@" >"$TMP/$label.out" 2>"$TMP/$label.err"
    rc=$?
    while IFS= read -r line; do
        case "$line" in
            "ok - "*) tap ok "$label: ${line#ok - }" ;;
            "not ok - "*) tap fail "$label: ${line#not ok - }"; notok=1 ;;
            "#"*) echo "$line" ;;
        esac
    done <"$TMP/$label.out"
    # A crash (or a non-zero exit) that no "not ok" line accounts for.
    if [ "$rc" -ne 0 ] && [ "$notok" -eq 0 ]; then
        tap fail "$label exited $rc"
        diag "$TMP/$label.err"
    fi
}

if [ -n "$URL" ]; then
    sdk_check python-sdk "$PYTHON" "$HERE/check_py.py" "$URL"
    sdk_check js-sdk node "$HERE/check_js.mjs" "$URL"
fi

# 4. clean stop
if [ -n "$FAKE_PID" ] && kill -0 "$FAKE_PID" 2>/dev/null; then
    kill -TERM "$FAKE_PID"
    wait "$FAKE_PID"
    rc=$?
    FAKE_PID=""
    if [ "$rc" -eq 0 ]; then
        tap ok "fake stops cleanly on SIGTERM"
    else
        tap fail "fake stops cleanly on SIGTERM (exit $rc)"
        diag "$TMP/fake.stderr"
    fi
else
    tap fail "fake still running at the end"
    diag "$TMP/fake.stderr"
fi

echo "1..$n"
if [ "$failed" -ne 0 ]; then
    echo "# $failed of $n failed"
    exit 1
fi
echo "# all $n passed"
exit 0
