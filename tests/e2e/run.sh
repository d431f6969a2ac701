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

passed=0
failed=0
logdir=$(mktemp -d /tmp/usher-e2e.XXXXXX)
trap 'rm -rf "$logdir"' EXIT
for test in "$HERE"/test_*.sh; do
    [ -e "$test" ] || continue
    name=$(basename "$test" .sh)
    name=${name#test_}
    case "$name" in *"$FILTER"*) ;; *) continue ;; esac
    log=$logdir/$name.log
    rc=0
    timeout --kill-after=10 "$TIMEOUT" \
        unshare --mount --propagation private --pid --fork --kill-child --mount-proc \
        env USHER_TEST_NAME="$name" HERE="$HERE" TEST="$test" \
        bash -c 'set -euo pipefail; . "$HERE/ns-setup.sh"; . "$HERE/lib.sh"; cd "$USHER_WORK"; . "$TEST"' \
        </dev/null >"$log" 2>&1 || rc=$?
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        echo "FAIL: timed out after ${TIMEOUT}s" >>"$log"
    fi
    if [ "$rc" = 0 ]; then
        passed=$((passed + 1))
        echo "PASS $name"
        [ "${USHER_E2E_VERBOSE:-}" = 1 ] && sed 's/^/    /' "$log"
    else
        failed=$((failed + 1))
        echo "FAIL $name (exit status $rc)"
        sed 's/^/    /' "$log"
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
