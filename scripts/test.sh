#!/bin/bash
# Runs every Usher test on this machine, as root: formatting and lints, unit and integration tests,
# the Python test tools' own tests, and the end-to-end suites that load the real modules into real
# programs (getent, id, sshd, sudo, pamtester) inside private mount+PID namespaces.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
[ "$(id -u)" = 0 ] || { echo "scripts/test.sh: run as root (the end-to-end tests use namespaces)" >&2; exit 2; }
bash scripts/setup.sh || exit 1

failed=()
step() {
    local name=$1; shift
    echo "=== $name: $*"
    if "$@"; then echo "=== $name: ok"; else echo "=== $name: FAILED"; failed+=("$name"); fi
}
step fmt cargo fmt --check
step clippy cargo clippy --workspace --all-targets -- -D warnings
step build cargo build --release --workspace
step unit cargo test --workspace
step tools python3 -m pytest -q tests/tools tests/okta
step exports-nss bash nss-module/check-exports.sh target/release/libnss_usher.so
step exports-pam bash pam-module/check-exports.sh target/release/libpam_usher.so
step e2e-nss bash tests/e2e/run.sh
step e2e-daemon bash tests/daemon/run.sh
step e2e-interop bash tests/interop/run.sh
step e2e-access bash tests/access/run.sh
step e2e-okta bash tests/okta_e2e/run.sh
step packaging bash tests/packaging/run.sh
# Coverage-guided fuzzing of the cache reader, the mapping and the config parser: a bounded run of
# each target from the corpus kept in fuzz/corpus (USHER_FUZZ_SECONDS per target).
step fuzz bash fuzz/run.sh "${USHER_FUZZ_SECONDS:-60}"

if [ ${#failed[@]} -eq 0 ]; then
    echo "all test suites passed"
    exit 0
fi
echo "failed suites: ${failed[*]}"
exit 1
