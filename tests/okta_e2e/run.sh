#!/bin/bash
# Usher's Okta end-to-end tests (issue 5): usherd with `[directory] kind = "okta"` against the Okta
# stand-in (tests/okta/okta_fake.py), the NSS module through getent and id, and usherctl's access
# verdicts. Every tests/okta_e2e/test_*.sh runs as root in its own fresh private namespace (mount +
# PID: tests/e2e/ns-setup.sh), with its own fake on a free loopback port; nothing reaches the
# machine's /etc, /home or /var/lib.
#
# usage: tests/okta_e2e/run.sh [FILTER]
#   FILTER  run only the tests whose name (without test_ and .sh) contains it
# Env: USHER_TARGET (cargo target dir, default ./target), USHER_OKTA_E2E_TIMEOUT (seconds per
#      test, default 240), USHER_OKTA_E2E_VERBOSE=1 (print every test's output, not only
#      failures), USHER_OKTA_E2E_NO_BUILD=1 (use the release binaries as they are).
# Runs `cargo build --release --workspace` first (a no-op when up to date). Prints
# `PASS name` or `FAIL name` per test (a failure followed by its output), then one line
# `N passed, M failed`. Exits 1 if any test failed, 2 if it could not run.
# Needs: root, unshare, python3 with `cryptography` (the fake's token endpoint), openssl, getent.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export USHER_ROOT=$ROOT
export USHER_TARGET=${USHER_TARGET:-$ROOT/target}
FILTER=${1:-}
TIMEOUT=${USHER_OKTA_E2E_TIMEOUT:-240}

if [ "$(id -u)" != 0 ]; then
    echo "tests/okta_e2e/run.sh: must run as root (it uses private mount namespaces)" >&2
    exit 2
fi
for tool in unshare python3 openssl getent id timeout; do
    command -v "$tool" >/dev/null || { echo "tests/okta_e2e/run.sh: $tool is missing" >&2; exit 2; }
done
python3 -c 'import cryptography' 2>/dev/null \
    || { echo "tests/okta_e2e/run.sh: python3 needs the cryptography package" >&2; exit 2; }
if [ "${USHER_OKTA_E2E_NO_BUILD:-}" != 1 ]; then
    (cd "$ROOT" && cargo build --release --workspace) >&2 \
        || { echo "tests/okta_e2e/run.sh: build failed" >&2; exit 2; }
fi
for f in usherd usherctl libnss_usher.so; do
    [ -e "$USHER_TARGET/release/$f" ] || { echo "tests/okta_e2e/run.sh: $USHER_TARGET/release/$f is missing" >&2; exit 2; }
done

SUITE_LIB=$HERE/lib.sh
VERBOSE=${USHER_OKTA_E2E_VERBOSE:-}
. "$ROOT/tests/e2e/runner.sh"
run_namespace_tests
