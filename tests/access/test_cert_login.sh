# An active member of a login group logs in over the real sshd with a certificate from the CA
# usherd trusts; `id` shows the directory groups; pam_usher's session phase created the home
# (0700, owned by her, skel copied); every principal usherctl prints works, others do not.
access_setup_host

context "side files"
assert_output "$(printf '# Written by usherd: trusted SSH user CA keys. Do not edit.\n%s usher-user-ca' \
    "$(cut -d' ' -f1-2 "$KEYS/ca.pub")")" cat "$TRUSTED_CA_KEYS"
assert_eq "644 0:0" "$(stat -c '%a %u:%g' "$TRUSTED_CA_KEYS")" "trusted CA keys mode and owner"
assert_output "$(printf 'alice\nalice@example.com')" "$USHERCTL" principals alice

context "alice, certificate for principal alice"
[ ! -e /home/alice ] || fail "/home/alice exists before the first login"
cert alice alice ca alice
mark
ssh_cert alice alice alice id
login_ok "alice logs in"
assert_eq "uid=5001(alice) gid=5001(alice) groups=5001(alice),6001(ops),6002(admins)" "$OUT" "id over ssh shows the directory groups"
wait_log sshd "Accepted publickey for alice from 127.0.0.1" "sshd accepted the certificate"
assert_contains "$LOG_LINE" "ED25519-CERT" "sshd used the certificate"
wait_log syslog "pam_usher(sshd:account): user alice: allowed" "pam_usher allowed alice in the account phase"
wait_log syslog "pam_usher(sshd:session): user alice: home directory created" "pam_usher created the home"

context "home"
assert_eq "700 5001:5001" "$(stat -c '%a %u:%g' /home/alice)" "home mode and owner"
for f in /etc/skel/.[!.]* /etc/skel/*; do
    [ -e "$f" ] || continue
    n=/home/alice/$(basename "$f")
    [ -e "$n" ] || fail "skel file $n missing"
    assert_eq "5001:5001" "$(stat -c '%u:%g' "$n")" "owner of $n"
done
ssh_cert alice alice alice 'pwd; touch ~/made-by-alice; stat -c "%U %a" ~/made-by-alice'
login_ok "alice lands in her home and can write there"
assert_eq "$(printf '/home/alice\nalice 644')" "$OUT" "pwd and a file she made"
mark
ssh_cert alice alice alice true
login_ok "second login"
no_log syslog "home directory created" "the existing home is left alone"
[ -e /home/alice/made-by-alice ] || fail "second login lost alice's file"

context "other principals"
cert alice alice-email ca alice@example.com
ssh_cert alice alice alice-email 'id -un'
login_ok "a certificate for alice@example.com (one of her emails)"
assert_eq alice "$OUT"
cert alice alice-multi ca "someone-else,alice"
ssh_cert alice alice alice-multi 'id -un'
login_ok "a certificate listing several principals, one of them hers"
cert alice alice-upper ca ALICE
ssh_cert alice alice alice-upper true
login_refused "principal ALICE (case differs)"
cert bob alice-as-bob ca bob
mark
ssh_cert alice bob alice-as-bob true
login_refused "bob's certificate (principal bob) for alice"
wait_log sshd "Certificate does not contain an authorized principal" "sshd says why"

context "bob, login-only member"
cert bob bob ca bob
ssh_cert bob bob bob 'id; stat -c "%a %u" /home/bob'
login_ok "bob logs in"
assert_eq "$(printf 'uid=5002(bob) gid=5002(bob) groups=5002(bob),6001(ops)\n700 5002')" "$OUT"
