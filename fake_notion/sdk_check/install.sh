#!/usr/bin/env bash
# Installs the two official Notion SDKs, pinned, outside the repository so the
# fake can be checked against what real clients send and expect.
#   Python: notion-client==3.1.0     -> $DIR/py      (pip install --target)
#   JS:     @notionhq/client@5.26.0  -> $DIR/js      (npm install --prefix)
# Idempotent: each SDK is skipped when the pinned version is already there.
set -euo pipefail

DIR="${NOTION_RBAC_SDK_DIR:-/opt/notion_rbac/sdk}"
PY_VERSION="3.1.0"
JS_VERSION="5.26.0"
PYTHON="${PYTHON:-python3}"

mkdir -p "$DIR"

py_have() {
    # The dist-info directory name carries the installed version.
    [ -d "$DIR/py/notion_client" ] && [ -d "$DIR/py/notion_client-${PY_VERSION}.dist-info" ]
}
js_have() {
    local pkg="$DIR/js/node_modules/@notionhq/client/package.json"
    [ -f "$pkg" ] && [ "$(node -p "require('$pkg').version" 2>/dev/null)" = "$JS_VERSION" ]
}

if py_have; then
    echo "notion-client ${PY_VERSION} already in $DIR/py"
else
    # A fresh target: pip --target does not replace an older copy cleanly.
    rm -rf "$DIR/py"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-input \
        --target "$DIR/py" "notion-client==${PY_VERSION}"
    echo "installed notion-client ${PY_VERSION} into $DIR/py"
fi

if js_have; then
    echo "@notionhq/client ${JS_VERSION} already in $DIR/js"
else
    mkdir -p "$DIR/js"
    # A package.json of our own keeps npm from walking up to some other project.
    [ -f "$DIR/js/package.json" ] || echo '{"name":"notion-rbac-sdk-check","private":true}' > "$DIR/js/package.json"
    npm install --silent --no-audit --no-fund --prefix "$DIR/js" "@notionhq/client@${JS_VERSION}"
    echo "installed @notionhq/client ${JS_VERSION} into $DIR/js"
fi
