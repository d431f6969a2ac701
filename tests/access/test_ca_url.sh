# The user CA delivered by a step-ca style `GET /ssh/roots` ([ssh] user_ca_keys_url), served by
# tests/access/ca_roots_server.py from $UPSTREAM_CA_KEYS (re-read at every request): logins work,
# the CA rotates upstream with no sshd restart, URL and file combine, and a failing endpoint (HTTP
# error, malformed JSON, no userKey, server down) never changes the trusted keys.
python3 "$ACCESS_DIR/ca_roots_server.py" "$UPSTREAM_CA_KEYS" "$NS/ca_port" 2>>"$NS/ca_server.log" &
CA_SERVER_PID=$!
for _ in $(seq 100); do [ -s "$NS/ca_port" ] && break; sleep 0.05; done
[ -s "$NS/ca_port" ] || fail "the /ssh/roots server did not start"
CA_URL="http://127.0.0.1:$(cat "$NS/ca_port")/ssh/roots"
URL_TOML=$'[ssh]\nuser_ca_keys_url = "'"$CA_URL"$'"\n'
access_setup_host "$URL_TOML"
fp() { ssh-keygen -lf "$KEYS/$1.pub" | cut -d' ' -f2; }
trusted_is() { # KEY...: the trusted keys file holds exactly these CA keys, in this order
    local want="# Written by usherd: trusted SSH user CA keys. Do not edit." k
    for k in "$@"; do want+=$'\n'"$(cut -d' ' -f1-2 "$KEYS/$k.pub") usher-user-ca"; done
    assert_output "$want" cat "$TRUSTED_CA_KEYS"
}

context "CA from the URL"
assert_output "{\"userKey\": [\"$(cut -d' ' -f2 "$KEYS/ca.pub")\"], \"hostKey\": []}" \
    python3 -c "import urllib.request,sys; print(urllib.request.urlopen(sys.argv[1]).read().decode())" "$CA_URL"
trusted_is ca
cert alice alice ca alice
ssh_cert alice alice alice 'id -un'
login_ok "certificate from the CA served at /ssh/roots"

context "rotation through the URL"
ssh-keygen -q -t ed25519 -N '' -C usher-test-ca-2 -f "$KEYS/ca2"
cert alice alice-ca2 ca2 alice
cp "$KEYS/ca2.pub" "$UPSTREAM_CA_KEYS"
usher_sync
assert_contains "$ERR" "trusted user CA keys updated: 1 key(s)"
trusted_is ca2
mark
ssh_cert alice alice alice true
login_refused "old CA after the rotation"
wait_log sshd "CA ED25519 $(fp ca)" "sshd: the old CA's certificate failed"
ssh_cert alice alice alice-ca2 'id -un'
login_ok "new CA after the rotation"
kill -0 "$SSHD_PID" || fail "sshd died"
assert_eq "$SSHD_PID" "$(cat "$SSHD_DIR/sshd.pid")" "same sshd, no restart"

context "URL and file together"
ssh-keygen -q -t ed25519 -N '' -C usher-test-ca-3 -f "$KEYS/ca3"
cp "$KEYS/ca3.pub" "$NS/local_ca_keys"
access_config "$URL_TOML"'user_ca_keys_file = "'"$NS/local_ca_keys"$'"\n'
usher_sync
trusted_is ca2 ca3
cert alice alice-ca3 ca3 alice
ssh_cert alice alice alice-ca3 true
login_ok "CA from the file"
ssh_cert alice alice alice-ca2 true
login_ok "CA from the URL"
# The same key from both sources is written once.
cp "$KEYS/ca2.pub" "$NS/local_ca_keys"
usher_sync
trusted_is ca2
access_config "$URL_TOML"
usher_sync
trusted_is ca2

context "a failing endpoint keeps the trusted keys"
cp "$TRUSTED_CA_KEYS" "$NS/trusted.before"
inode=$(stat -c %i "$TRUSTED_CA_KEYS")
keep_after() { # WHAT ERR_SUBSTRING
    usherd_once
    assert_contains "$ERR" "$2" "$1: usherd reports it"
    cmp -s "$TRUSTED_CA_KEYS" "$NS/trusted.before" || fail "$1: the trusted keys changed"
    assert_eq "$inode" "$(stat -c %i "$TRUSTED_CA_KEYS")" "$1: the trusted keys file was not replaced"
    ssh_cert alice alice alice-ca2 true
    login_ok "$1: logins keep working"
}
printf '#status 500\n' >"$UPSTREAM_CA_KEYS"
keep_after "HTTP 500" "HTTP 500"
printf '#raw\n<html>not json</html>\n' >"$UPSTREAM_CA_KEYS"
keep_after "not JSON" "not JSON"
printf '#raw\n{"hostKey": []}\n' >"$UPSTREAM_CA_KEYS"
keep_after "no userKey" 'no "userKey" list'
printf '#raw\n{"userKey": []}\n' >"$UPSTREAM_CA_KEYS"
keep_after "an empty userKey list" "no valid user CA key"
ssh-keygen -q -t rsa -b 1024 -N '' -C weak -f "$KEYS/weak-ca"
cp "$KEYS/weak-ca.pub" "$UPSTREAM_CA_KEYS"
keep_after "only an RSA-1024 key" "no valid user CA key"
rm -f "$UPSTREAM_CA_KEYS"
keep_after "HTTP 404" "HTTP 404"
kill "$CA_SERVER_PID"
wait "$CA_SERVER_PID" 2>/dev/null || true
keep_after "the server down" "user CA keys from $CA_URL"

context "http:// only for loopback"
access_config $'[ssh]\nuser_ca_keys_url = "http://ca.example.com/ssh/roots"\n'
usherd_once
[ "$RC" != 0 ] || fail "usherd accepted a non-loopback http:// CA URL"
assert_contains "$ERR" "must be https://"
cmp -s "$TRUSTED_CA_KEYS" "$NS/trusted.before" || fail "a refused config changed the trusted keys"
