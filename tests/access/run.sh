#!/bin/bash
# Usher's access tests (issue 4): the real /usr/sbin/sshd, sudo, libpam and pamtester against
# pam_usher.so, libnss_usher.so.2, usherctl and usherd. Every tests/access/test_*.sh runs as root
# in its own fresh private namespace (mount + PID + network: see tests/e2e/ns-setup.sh and
# tests/access/lib.sh); nothing reaches the machine's /etc, /usr, /home, /var/log or its ports.
#
# usage: tests/access/run.sh [FILTER]
#   FILTER  run only the tests whose name (without test_ and .sh) contains it
# Env: USHER_TARGET (cargo target dir, default ./target), USHER_ACCESS_TIMEOUT (seconds per test,
#      default 180), USHER_ACCESS_VERBOSE=1 (print every test's output, not only failures),
#      USHER_ACCESS_NO_NETNS=1 (share the machine's network namespace: sshd then needs
#      127.0.0.1:2222 free).
# Builds the release binaries when missing, and pam-module's examples (for
# pam-module/tests/pamtester.sh) always. Prints `PASS name` or `FAIL name` per test (a failure
# followed by its output), then one line `N passed, M failed`. Exits 1 if any test failed.
# Needs: root, unshare, python3, openssh-server, openssh-client, sudo, pamtester (iproute2's ip is
# used to bring up lo in the private network namespace when installed; python3 does it otherwise).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export USHER_ROOT=$ROOT
export USHER_TARGET=${USHER_TARGET:-$ROOT/target}
FILTER=${1:-}
TIMEOUT=${USHER_ACCESS_TIMEOUT:-180}

if [ "$(id -u)" != 0 ]; then
    echo "tests/access/run.sh: must run as root (it uses private namespaces)" >&2
    exit 2
fi
for tool in unshare python3 getent ssh ssh-keygen /usr/sbin/sshd sudo visudo pamtester setpriv timeout; do
    command -v "$tool" >/dev/null || { echo "tests/access/run.sh: $tool is missing" >&2; exit 2; }
done
UNSHARE_EXTRA=(--net)
[ "${USHER_ACCESS_NO_NETNS:-}" != 1 ] || UNSHARE_EXTRA=()
if [ ! -x "$USHER_TARGET/release/usherd" ] || [ ! -x "$USHER_TARGET/release/usherctl" ] \
    || [ ! -f "$USHER_TARGET/release/libnss_usher.so" ] || [ ! -f "$USHER_TARGET/release/libpam_usher.so" ]; then
    echo "building release binaries (cargo build --release)" >&2
    (cd "$ROOT" && cargo build --release) >&2 || { echo "tests/access/run.sh: build failed" >&2; exit 2; }
fi
# Always (a no-op when fresh): a stale mkcache would write a cache of an older schema version.
(cd "$ROOT" && cargo build --release -p usher-pam --examples) >&2 \
    || { echo "tests/access/run.sh: build failed" >&2; exit 2; }

SUITE_LIB=$HERE/lib.sh
VERBOSE=${USHER_ACCESS_VERBOSE:-}
. "$ROOT/tests/e2e/runner.sh"
run_namespace_tests
