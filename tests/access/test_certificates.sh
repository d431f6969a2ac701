# Certificates sshd must refuse (wrong principal, another CA, expired, not yet valid, a plain key
# whose certificate is missing), and the CA rotated upstream through [ssh] user_ca_keys_file: old
# certificates refused and new ones accepted after one sync, with the same sshd process. A CA
# source that fails or holds only bad keys never empties /etc/usher/trusted_user_ca_keys.
access_setup_host
ssh-keygen -q -t ed25519 -N '' -C other-ca -f "$KEYS/other-ca"
fp() { ssh-keygen -lf "$KEYS/$1.pub" | cut -d' ' -f2; }

context "certificates from the trusted CA"
cert alice alice ca alice
ssh_cert alice alice alice 'id -un'
login_ok "a good certificate"

context "certificates sshd must refuse"
cert alice wrong-principal ca bob
mark
ssh_cert alice alice wrong-principal true
login_refused "principal bob in alice's certificate"
wait_log sshd "Certificate does not contain an authorized principal" "sshd: wrong principal"
cert alice no-principal ca -
mark
ssh_cert alice alice no-principal true
login_refused "a certificate with no principal (valid for anyone, as ssh-keygen warns)"
wait_log sshd "Certificate does not contain an authorized principal" "sshd: no principal"
cert alice other-ca other-ca alice
mark
ssh_cert alice alice other-ca true
login_refused "a certificate from another CA"
wait_log sshd "Failed publickey for alice" "sshd: untrusted CA"
assert_contains "$LOG_LINE" "CA ED25519 $(fp other-ca)"
cert alice expired ca alice 20200101:20200102
mark
ssh_cert alice alice expired true
login_refused "an expired certificate (2020-01-01 to 2020-01-02)"
wait_log sshd "expired" "sshd: certificate expired"
cert alice not-yet ca alice +1d:+2d
mark
ssh_cert alice alice not-yet true
login_refused "a certificate not valid yet"
wait_log sshd "not yet valid" "sshd: certificate not yet valid"
ssh_key alice alice true
login_refused "alice's bare key, without her certificate (no directory key, AuthorizedKeysFile none)"
cert alice alice-for-root ca root
ssh_cert root alice alice-for-root true
login_refused "alice's certificate for root"

context "CA rotated upstream (user_ca_keys_file)"
sshd_pid_before=$(cat "$SSHD_DIR/sshd.pid")
[ "$sshd_pid_before" = "$SSHD_PID" ] || fail "sshd pid file $sshd_pid_before, started $SSHD_PID"
ssh-keygen -q -t ed25519 -N '' -C usher-test-ca-2 -f "$KEYS/ca2"
cert alice alice-ca2 ca2 alice
ssh_cert alice alice alice-ca2 true
login_refused "a certificate from the new CA before the rotation reaches the host"
cp "$KEYS/ca2.pub" "$UPSTREAM_CA_KEYS"
ssh_cert alice alice alice 'id -un'
login_ok "before the sync the old CA is still trusted"
usher_sync
assert_contains "$ERR" "trusted user CA keys updated: 1 key(s)"
assert_output "$(printf '# Written by usherd: trusted SSH user CA keys. Do not edit.\n%s usher-user-ca' \
    "$(cut -d' ' -f1-2 "$KEYS/ca2.pub")")" cat "$TRUSTED_CA_KEYS"
mark
ssh_cert alice alice alice true
login_refused "an old-CA certificate after one sync"
wait_log sshd "CA ED25519 $(fp ca)" "sshd names the old CA in the failure"
ssh_cert alice alice alice-ca2 'id -un'
login_ok "a new-CA certificate after one sync"
assert_eq alice "$OUT"
assert_eq "$sshd_pid_before" "$SSHD_PID" "same sshd"
kill -0 "$SSHD_PID" || fail "sshd died"
assert_eq "$sshd_pid_before" "$(cat "$SSHD_DIR/sshd.pid")" "sshd was not restarted"

context "both CAs during an overlap, then only the new one"
cat "$KEYS/ca.pub" "$KEYS/ca2.pub" >"$UPSTREAM_CA_KEYS"
usher_sync
assert_eq 2 "$(grep -c usher-user-ca "$TRUSTED_CA_KEYS")" "two trusted keys"
ssh_cert alice alice alice true
login_ok "old CA during the overlap"
ssh_cert alice alice alice-ca2 true
login_ok "new CA during the overlap"
cp "$KEYS/ca2.pub" "$UPSTREAM_CA_KEYS"
usher_sync
ssh_cert alice alice alice true
login_refused "old CA after the overlap"

context "a failing CA source keeps the trusted keys"
cp "$TRUSTED_CA_KEYS" "$NS/trusted.before"
rm "$UPSTREAM_CA_KEYS"
usherd_once
assert_contains "$ERR" "$UPSTREAM_CA_KEYS" "usherd reports the missing CA keys file"
cmp "$TRUSTED_CA_KEYS" "$NS/trusted.before" || fail "a missing CA source changed the trusted keys"
ssh_cert alice alice alice-ca2 true
login_ok "logins keep working with the missing CA source"
# Only bad keys: an RSA key of 1024 bits, a private key, garbage.
ssh-keygen -q -t rsa -b 1024 -N '' -C weak -f "$KEYS/weak-ca"
{ cat "$KEYS/weak-ca.pub"; cat "$KEYS/ca"; echo "ssh-ed25519 AAAAnotbase64!!"; } >"$UPSTREAM_CA_KEYS"
usherd_once
assert_contains "$ERR" "no valid user CA key" "usherd refuses a source with only bad keys"
assert_not_contains "$ERR" "$(sed -n 2p "$KEYS/ca")" "the private key is never quoted"
# The reasons are logged only with a directory change (usherd logs a sync's notes only when it
# publishes; see the report), so change the directory too.
dir_edit 'user("bob")["displayName"] = "Bob Renamed"'
usherd_once
assert_contains "$ERR" "no valid user CA key" "usherd refuses a source with only bad keys"
assert_contains "$ERR" "an RSA key of 1024 bits (at least 2048 required)" "the weak RSA key is named as such"
assert_contains "$ERR" "a private key, not a public key" "the private key is named as such"
assert_contains "$ERR" "neither an OpenSSH line nor base64" "the garbage line is refused"
assert_not_contains "$ERR" "$(sed -n 2p "$KEYS/ca")" "the private key is never quoted"
cmp "$TRUSTED_CA_KEYS" "$NS/trusted.before" || fail "a CA source with only bad keys changed the trusted keys"
ssh_cert alice alice alice-ca2 true
login_ok "logins keep working after a CA source with only bad keys"
# Bad keys beside a good one: only the good one is written.
{ cat "$KEYS/weak-ca.pub"; cat "$KEYS/ca.pub"; } >"$UPSTREAM_CA_KEYS"
usherd_once
assert_eq 0 "$RC" "usherd exit status"
assert_eq 1 "$(grep -c usher-user-ca "$TRUSTED_CA_KEYS")" "one trusted key"
assert_contains "$(cat "$TRUSTED_CA_KEYS")" "$(cut -d' ' -f2 "$KEYS/ca.pub")"
ssh_cert alice alice alice true
login_ok "the good key beside a bad one is trusted"
