#!/bin/bash
# usherd's end-to-end tests (pytest), all inside ONE private namespace (mount + PID; see
# tests/e2e/ns-setup.sh): nothing reaches the machine's real /etc, /run, /var/lib/usher or /dev.
#
# usage: tests/daemon/run.sh [PYTEST ARGS...]   (paths relative to tests/daemon)
#   e.g. tests/daemon/run.sh -x;  tests/daemon/run.sh test_faults.py -k 429 -v
# Env: USHER_TARGET (cargo target dir, default ./target), USHER_DAEMON_TIMEOUT (seconds for the
#      whole run, default 1200). Release binaries are built with `cargo build --release` if missing.
# Needs: root, unshare, python3 with pytest, scim2-server (pip install scim2-server).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export USHER_TARGET=${USHER_TARGET:-$ROOT/target}

if [ "$(id -u)" != 0 ]; then
    echo "tests/daemon/run.sh: must run as root (it uses a private mount namespace)" >&2
    exit 2
fi
for tool in unshare python3 getent scim2-server; do
    command -v "$tool" >/dev/null || { echo "tests/daemon/run.sh: $tool is missing" >&2; exit 2; }
done
python3 -c 'import pytest' 2>/dev/null || { echo "tests/daemon/run.sh: pytest is missing" >&2; exit 2; }
if [ ! -x "$USHER_TARGET/release/usherd" ] || [ ! -x "$USHER_TARGET/release/usherctl" ] \
    || [ ! -f "$USHER_TARGET/release/libnss_usher.so" ]; then
    echo "building release binaries (cargo build --release)" >&2
    (cd "$ROOT" && cargo build --release) >&2 || { echo "tests/daemon/run.sh: build failed" >&2; exit 2; }
fi

cd "$HERE"
# No bytecode or pytest cache written into the source tree.
export PYTHONDONTWRITEBYTECODE=1
exec timeout --kill-after=10 "${USHER_DAEMON_TIMEOUT:-1200}" \
    unshare --mount --propagation private --pid --fork --kill-child --mount-proc \
    bash -c '. "$0/tests/e2e/ns-setup.sh"; python3 -m pytest -q -p no:cacheprovider "$@"' \
    "$ROOT" "$@"
