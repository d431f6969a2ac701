#!/bin/bash
# Usher's end-to-end tests: every tests/e2e/test_*.sh, each as root in its own fresh private
# namespace (mount + PID; see ns-setup.sh), nothing reaching the machine's real /etc.
#
# usage: tests/e2e/run.sh [FILTER]
#   FILTER  run only the tests whose name (without test_ and .sh) contains it
# Env: USHER_TARGET (cargo target dir, default ./target), USHER_E2E_TIMEOUT (seconds per test,
#      default 120), USHER_E2E_VERBOSE=1 (print every test's output, not only failures).
# Release binaries are built with `cargo build --release` if missing. Prints `PASS name` or
# `FAIL name` per test (a failure followed by its output), then one line `N passed, M failed`.
# Exits 1 if any test failed.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export USHER_ROOT=$ROOT
export USHER_TARGET=${USHER_TARGET:-$ROOT/target}
FILTER=${1:-}
TIMEOUT=${USHER_E2E_TIMEOUT:-120}

if [ "$(id -u)" != 0 ]; then
    echo "tests/e2e/run.sh: must run as root (it uses private mount namespaces)" >&2
    exit 2
fi
for tool in unshare gcc python3 nm getent; do
    command -v "$tool" >/dev/null || { echo "tests/e2e/run.sh: $tool is missing" >&2; exit 2; }
done
if [ ! -x "$USHER_TARGET/release/usherd" ] || [ ! -f "$USHER_TARGET/release/libnss_usher.so" ]; then
    echo "building release binaries (cargo build --release)" >&2
    (cd "$ROOT" && cargo build --release) >&2 || { echo "tests/e2e/run.sh: build failed" >&2; exit 2; }
fi

VERBOSE=${USHER_E2E_VERBOSE:-}
. "$HERE/runner.sh"
run_namespace_tests
