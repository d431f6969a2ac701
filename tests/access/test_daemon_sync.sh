# The same revocation through the running daemon: usherd in the foreground (as under systemd),
# `usherctl sync` asks it to sync now; a deactivated user is refused at the next login and, with
# end_sessions_on_revoke, her running session is ended by the daemon; a CA rotation reaches sshd.
access_setup_host $'[access]\nlogin_groups = ["name:ops"]\nsudo_groups = ["name:admins"]\nend_sessions_on_revoke = true\n[sync]\ninterval = 3600\njitter = 0\n'
cert alice alice ca alice
cert bob bob ca bob
"$USHERD" --config "$USHER_CONFIG" </dev/null >"$NS/usherd.out" 2>&1 &
USHERD_PID=$!
for _ in $(seq 100); do
    run "$USHERCTL" --config "$USHER_CONFIG" status
    grep -q "daemon:      running (pid $USHERD_PID), healthy" <<<"$OUT" && break
    sleep 0.1
done
assert_contains "$OUT" "daemon:      running (pid $USHERD_PID), healthy"
assert_contains "$OUT" "access:      3 users may log in here, 1 may use sudo"

context "bob's session, then bob deactivated and usherctl sync"
timeout 60 ssh -p "$SSHD_PORT" -i "$KEYS/bob" -o CertificateFile="$KEYS/bob-cert.pub" \
    -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o LogLevel=ERROR bob@127.0.0.1 'sleep 1000' </dev/null >/dev/null 2>&1 &
BOB_SSH=$!
for _ in $(seq 100); do ps -o args= -u 5002 | grep -q '^sleep 1000' && break; sleep 0.05; done
ps -o args= -u 5002 | grep -q '^sleep 1000' || fail "bob's session did not start"
set_active bob False
mark
assert_ok "$USHERCTL" sync --timeout 30
assert_contains "$OUT" "synced: generation 2"
wait_log syslog "ended 2 process(es) of bob (uid 5002) after losing login permission" "the daemon ended bob's session"
for _ in $(seq 100); do kill -0 "$BOB_SSH" 2>/dev/null || break; sleep 0.05; done
kill -0 "$BOB_SSH" 2>/dev/null && fail "bob's ssh client is still connected"
assert_eq "" "$(ps -o pid= -u 5002 || true)" "no process of bob left"
ssh_cert bob bob bob true
login_refused "bob after the daemon's sync"
ssh_cert alice alice alice 'id -un'
login_ok "alice still logs in"

context "CA rotated, daemon sync"
ssh-keygen -q -t ed25519 -N '' -C usher-test-ca-2 -f "$KEYS/ca2"
cert alice alice-ca2 ca2 alice
cp "$KEYS/ca2.pub" "$UPSTREAM_CA_KEYS"
assert_ok "$USHERCTL" sync --timeout 30
ssh_cert alice alice alice true
login_refused "old CA after the daemon's sync"
ssh_cert alice alice alice-ca2 true
login_ok "new CA after the daemon's sync"

kill -TERM "$USHERD_PID"
rc=0
wait "$USHERD_PID" || rc=$?
assert_eq 0 "$rc" "usherd exits 0 on SIGTERM"
