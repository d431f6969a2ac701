# The loop the end-to-end runners share (sourced by tests/e2e/run.sh, tests/access/run.sh and
# tests/okta_e2e/run.sh).
#
# run_namespace_tests: runs every $HERE/test_*.sh whose name (without test_ and .sh) contains
# $FILTER, each as root in its own fresh private namespace (mount + PID, plus $UNSHARE_EXTRA) with
# tests/e2e/ns-setup.sh, tests/e2e/lib.sh and then $SUITE_LIB (when set) sourced first, each
# limited to $TIMEOUT seconds. Prints `PASS name (Ns)` or `FAIL name (...)` per test (a failure
# followed by its output; every test's output when $VERBOSE is 1), then the total time and one line
# `N passed, M failed`. Returns 1 if any test failed.
# In: HERE, FILTER, TIMEOUT, USHER_ROOT (exported); optional SUITE_LIB, VERBOSE, UNSHARE_EXTRA
# (an array).

USHER_TESTS_LOGDIR=
trap 'if [ -n "$USHER_TESTS_LOGDIR" ]; then rm -rf "$USHER_TESTS_LOGDIR"; fi' EXIT

run_namespace_tests() {
    local passed=0 failed=0 started test name log rc t0 t1 secs
    started=$(date +%s)
    USHER_TESTS_LOGDIR=$(mktemp -d /tmp/usher-tests.XXXXXX)
    for test in "$HERE"/test_*.sh; do
        [ -e "$test" ] || continue
        name=$(basename "$test" .sh)
        name=${name#test_}
        case "$name" in *"$FILTER"*) ;; *) continue ;; esac
        log=$USHER_TESTS_LOGDIR/$name.log
        rc=0
        t0=$(date +%s%N)
        timeout --kill-after=10 "$TIMEOUT" \
            unshare --mount --propagation private --pid --fork --kill-child --mount-proc \
            ${UNSHARE_EXTRA[@]+"${UNSHARE_EXTRA[@]}"} \
            env USHER_TEST_NAME="$name" HERE="$HERE" TEST="$test" SUITE_LIB="${SUITE_LIB:-}" \
            bash -c 'set -euo pipefail; . "$USHER_ROOT/tests/e2e/ns-setup.sh"; . "$USHER_ROOT/tests/e2e/lib.sh";
                     if [ -n "$SUITE_LIB" ]; then . "$SUITE_LIB"; fi; cd "$USHER_WORK"; . "$TEST"' \
            </dev/null >"$log" 2>&1 || rc=$?
        t1=$(date +%s%N)
        secs=$(awk -v ns=$((t1 - t0)) 'BEGIN { printf "%.1f", ns / 1e9 }')
        if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
            echo "FAIL: timed out after ${TIMEOUT}s" >>"$log"
        fi
        if [ "$rc" = 0 ]; then
            passed=$((passed + 1))
            echo "PASS $name (${secs}s)"
            if [ "${VERBOSE:-}" = 1 ]; then sed 's/^/    /' "$log"; fi
        else
            failed=$((failed + 1))
            echo "FAIL $name (exit status $rc, ${secs}s)"
            sed 's/^/    /' "$log"
        fi
    done
    echo "(total $(($(date +%s) - started)) s)"
    echo "$passed passed, $failed failed"
    [ "$failed" = 0 ]
}
