#!/bin/bash
# Usher against SCIM servers nobody on this project wrote: SCIMMY (npm, with scimmy-routers on
# Express) and django-scim2 (PyPI, in a minimal Django project), each run on 127.0.0.1 inside the
# private namespace of tests/daemon (mount + PID; see tests/e2e/ns-setup.sh).
#
# usage: tests/interop/run.sh [PYTEST ARGS...]     e.g. tests/interop/run.sh -k scimmy -v
# Env: USHER_TARGET (cargo target dir, default ./target), USHER_INTEROP_TIMEOUT (seconds, default 300).
# Needs: root, unshare, node, python3 with pytest and django-scim2, scripts/setup.sh's npm install
# in tests/interop/scimmy.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export USHER_TARGET=${USHER_TARGET:-$ROOT/target}

if [ "$(id -u)" != 0 ]; then
    echo "tests/interop/run.sh: must run as root (it uses a private mount namespace)" >&2
    exit 2
fi
for tool in unshare python3 getent node; do
    command -v "$tool" >/dev/null || { echo "tests/interop/run.sh: $tool is missing (scripts/setup.sh)" >&2; exit 2; }
done
python3 -c 'import pytest, django_scim' 2>/dev/null \
    || { echo "tests/interop/run.sh: pytest or django-scim2 is missing (scripts/setup.sh)" >&2; exit 2; }
[ -d "$HERE/scimmy/node_modules/scimmy" ] \
    || { echo "tests/interop/run.sh: SCIMMY is not installed (scripts/setup.sh)" >&2; exit 2; }
if [ ! -x "$USHER_TARGET/release/usherd" ] || [ ! -x "$USHER_TARGET/release/usherctl" ] \
    || [ ! -f "$USHER_TARGET/release/libnss_usher.so" ]; then
    echo "building release binaries (cargo build --release)" >&2
    (cd "$ROOT" && cargo build --release) >&2 || { echo "tests/interop/run.sh: build failed" >&2; exit 2; }
fi

cd "$HERE"
export PYTHONDONTWRITEBYTECODE=1
exec timeout --kill-after=10 "${USHER_INTEROP_TIMEOUT:-300}" \
    unshare --mount --propagation private --pid --fork --kill-child --mount-proc \
    bash -c '. "$0/tests/e2e/ns-setup.sh"; python3 -m pytest -q -p no:cacheprovider "$@"' \
    "$ROOT" "$@"
