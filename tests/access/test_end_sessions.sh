# [access] end_sessions_on_revoke: when a user loses login permission at a sync, usherd ends her
# processes (an ssh session running `sleep`, and a process started with setpriv) and logs it;
# other users' processes are untouched. With the option off, the processes stay and the log says so.
access_setup_host $'[access]\nlogin_groups = ["name:ops"]\nsudo_groups = ["name:admins"]\nend_sessions_on_revoke = true\n'
cert alice alice ca alice
cert bob bob ca bob

# procs UID: pids of the processes running as UID (real uid) in this namespace.
procs() { ps -o pid= -u "$1" 2>/dev/null | tr -d ' ' | tr '\n' ' ' || true; }
wait_procs() { # UID COUNT-AT-LEAST
    local _
    for _ in $(seq 100); do
        [ "$(procs "$1" | wc -w)" -ge "$2" ] && return 0
        sleep 0.05
    done
    fail "expected at least $2 process(es) of uid $1, found: $(procs "$1")"
}

context "sessions of alice and bob"
timeout 60 ssh -p "$SSHD_PORT" -i "$KEYS/alice" -o CertificateFile="$KEYS/alice-cert.pub" \
    -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o LogLevel=ERROR alice@127.0.0.1 'sleep 1000' </dev/null >"$NS/alice-ssh.out" 2>&1 &
ALICE_SSH=$!
setpriv --reuid=5001 --regid=5001 --clear-groups sleep 1001 </dev/null >/dev/null 2>&1 &
ALICE_SETPRIV=$!
timeout 60 ssh -p "$SSHD_PORT" -i "$KEYS/bob" -o CertificateFile="$KEYS/bob-cert.pub" \
    -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o LogLevel=ERROR bob@127.0.0.1 'sleep 1002' </dev/null >"$NS/bob-ssh.out" 2>&1 &
BOB_SSH=$!
wait_procs 5001 3   # sshd session process, its sleep, the setpriv sleep
wait_procs 5002 2
echo "alice's processes: $(ps -o pid=,args= -u 5001 | tr '\n' ';')"
ps -o args= -u 5001 | grep -q '^sleep 1000' || fail "alice's ssh sleep is not running"

context "alice deactivated upstream, one sync"
set_active alice False
mark
usher_sync
assert_contains "$ERR" "ended 3 process(es) of alice (uid 5001) after losing login permission"
wait_log syslog "ended 3 process(es) of alice (uid 5001) after losing login permission" "usherd's syslog line"
assert_eq "" "$(procs 5001)" "no process of alice left"
for _ in $(seq 100); do kill -0 "$ALICE_SSH" 2>/dev/null || break; sleep 0.05; done
kill -0 "$ALICE_SSH" 2>/dev/null && fail "alice's ssh client is still connected"
wait "$ALICE_SSH" || echo "ok: alice's ssh session ended (client exit status $?)"
wait "$ALICE_SETPRIV" 2>/dev/null || echo "ok: the setpriv process ended (exit status $?)"
[ "$(procs 5002 | wc -w)" -ge 2 ] || fail "bob's processes were touched: $(procs 5002)"
kill -0 "$BOB_SSH" || fail "bob's ssh session ended"
echo "ok: bob's session is untouched"

context "nothing more to end at the next sync"
usher_sync
assert_not_contains "$ERR" "ended" "an unchanged sync ends nothing"
assert_ok getent passwd alice

context "dave deleted from the directory"
setpriv --reuid=5004 --regid=5004 --clear-groups sleep 1003 </dev/null >/dev/null 2>&1 &
DAVE_SETPRIV=$!
wait_procs 5004 1
dir_edit 'd["Users"] = [u for u in d["Users"] if u["userName"] != "dave"]'
usher_sync
assert_contains "$ERR" "ended 1 process(es) of dave (uid 5004) after losing login permission"
assert_eq "" "$(procs 5004)" "no process of dave left"
wait "$DAVE_SETPRIV" 2>/dev/null || echo "ok: dave's process ended (exit status $?)"
assert_fails getent passwd dave

context "bob removed from ops with end_sessions_on_revoke = false"
access_config "$ACCESS_TOML"
dir_edit 'group("ops")["members"] = [m for m in group("ops")["members"] if m["value"] != "u-bob"]'
usher_sync
assert_contains "$ERR" "bob (uid 5002) lost login permission; running sessions are left (end_sessions_on_revoke = false)"
[ "$(procs 5002 | wc -w)" -ge 2 ] || fail "bob's processes were ended although the option is off"
kill -0 "$BOB_SSH" || fail "bob's ssh session ended although the option is off"
echo "ok: bob's session stays"
ssh_cert bob bob bob true
login_refused "bob's new logins are refused"
kill "$BOB_SSH" 2>/dev/null || true
wait "$BOB_SSH" 2>/dev/null || true
