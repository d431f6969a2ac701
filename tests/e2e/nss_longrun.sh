# Long-running resolver processes for the NSS e2e tests (source after lib.sh). Each is a Python
# process (tests/e2e/nss_longrun.py) fed rounds through a FIFO, so its handles stay open between
# rounds, as in nscd, cron or sshd.
#
#   longrun_start NAME 'SPEC;SPEC;...'   starts one (see nss_longrun.py for the SPECs)
#   longrun_round NAME                   runs one round; sets LONGRUN_OUT to its JSON line
#   longrun_expect NAME 'PYTHON DICT'    runs a round and fails unless every SPEC of the dict
#                                        answered the given value (say what differs)
#   longrun_stop NAME                    ends it (by its pid) and closes its FIFO
declare -A LONGRUN_FD LONGRUN_PID
LONGRUN_OUT=
# The interpreter itself (a version manager's shim would add its own start-up to every check).
LONGRUN_PY=$(python3 -c 'import sys; print(sys.executable)')

longrun_start() {
    local name=$1 fifo=$NS/longrun.$1.in fd
    mkfifo "$fifo"
    "$LONGRUN_PY" "$USHER_ROOT/tests/e2e/nss_longrun.py" "$2" <"$fifo" >"$NS/longrun.$name.out" \
        2>"$NS/longrun.$name.err" &
    LONGRUN_PID[$name]=$!
    exec {fd}>"$fifo"
    LONGRUN_FD[$name]=$fd
}

longrun_round() {
    local name=$1 out=$NS/longrun.$1.out before i
    before=$(wc -l <"$out")
    echo round >&"${LONGRUN_FD[$name]}"
    for i in $(seq 1000); do
        [ "$(wc -l <"$out")" -gt "$before" ] && break
        kill -0 "${LONGRUN_PID[$name]}" 2>/dev/null || fail "longrun $name died: $(cat "$NS/longrun.$name.err")"
        sleep 0.01
    done
    [ "$(wc -l <"$out")" -gt "$before" ] || fail "longrun $name did not answer: $(cat "$NS/longrun.$name.err")"
    LONGRUN_OUT=$(tail -n 1 "$out")
}

longrun_expect() {
    local name=$1 diff
    longrun_round "$name"
    diff=$("$LONGRUN_PY" -c '
import json, sys
got, want = json.loads(sys.argv[1]), eval(sys.argv[2])
for spec, value in want.items():
    if spec in got and got[spec] != value:
        print(f"  {spec}: got {got[spec]!r}, expected {value!r}")
    elif spec not in got:
        pass
' "$LONGRUN_OUT" "$2")
    [ -z "$diff" ] || fail "long-running process $name (calls in this order: $(python3 -c 'import json,sys; print(", ".join(json.loads(sys.argv[1])))' "$LONGRUN_OUT")) gave other answers than expected:
$diff"
}

longrun_stop() {
    local name=$1 fd=${LONGRUN_FD[$1]}
    kill "${LONGRUN_PID[$name]}" 2>/dev/null || true
    wait "${LONGRUN_PID[$name]}" 2>/dev/null || true
    exec {fd}>&-
}
