# Who is refused: a user in no login group; a user deactivated upstream (after one sync, while
# getent still resolves her and her files stay); reactivated → allowed again; removed from the
# group → refused; nobody at all when [access] is empty (default deny).
# Each refusal is seen twice: through the shipped setup (usherctl prints no principal, so sshd
# refuses the certificate), and with authentication forced to succeed by a principals file, so
# that pam_usher's account phase is what refuses (its syslog line, sshd's PAM message).
access_setup_host
for u in alice bob carol erin; do cert "$u" "$u" ca "$u"; done

# principals_file USER: lets USER's certificate through sshd's auth phase (a file where usherd
# writes them, named by uid), as if usherd had not removed it yet.
principals_file() {
    local uid
    uid=$(id -u "$1")
    echo "$1" >"$PRINCIPALS_DIR/$uid"
    chmod 0644 "$PRINCIPALS_DIR/$uid"
}
no_principals_file() { rm -f "$PRINCIPALS_DIR/$(id -u "$1")"; }

context "carol: active, in devs only (no login group)"
assert_output "" "$USHERCTL" principals carol
assert_ok "$USHERCTL" user carol
assert_contains "$OUT" "login here:  no: not a member of any [access] login_groups or sudo_groups group"
mark
ssh_cert carol carol carol true
login_refused "carol with a valid certificate"
wait_log sshd "Certificate does not contain an authorized principal" "sshd: no principal for carol"
no_log syslog "pam_usher(sshd:account): user carol" "pam_usher not reached (refused at authentication)"
principals_file carol
mark
ssh_cert carol carol carol true
login_refused "carol, authenticated through a principals file"
assert_contains "$ERR" "Your directory account is not allowed to log in to this host" "carol is told why"
wait_log syslog "pam_usher(sshd:account): user carol: not in a login group on this host; denied" "pam_usher's denial in syslog"
wait_log sshd "Access denied for user carol by PAM account configuration" "sshd: PAM account refused carol"
no_principals_file carol
[ ! -e /home/carol ] || fail "a home was created for carol"

context "bob: active member of ops"
ssh_cert bob bob bob 'id -un; echo keep >~/file'
login_ok "bob logs in"
assert_eq bob "$OUT"

context "bob deactivated upstream"
set_active bob False
ssh_cert bob bob bob true
login_ok "before the sync, the cache still lets bob in"
usher_sync
mark
ssh_cert bob bob bob true
login_refused "bob after one sync"
wait_log sshd "Certificate does not contain an authorized principal" "sshd: no principal for bob"
assert_output "" "$USHERCTL" principals bob
assert_output "bob:*:5002:5002:Bob Example:/home/bob:/bin/bash" getent passwd bob
assert_output "uid=5002(bob) gid=5002(bob) groups=5002(bob),6001(ops)" id bob
assert_eq "keep 5002" "$(cat /home/bob/file) $(stat -c %u /home/bob/file)" "bob's files stay"
principals_file bob
mark
ssh_cert bob bob bob true
login_refused "deactivated bob, authenticated through a principals file"
assert_contains "$ERR" "Your directory account is deactivated" "bob is told why"
wait_log syslog "pam_usher(sshd:account): user bob: account deactivated in the directory; denied" "pam_usher: deactivated (PAM_ACCT_EXPIRED)"
wait_log sshd "Access denied for user bob by PAM account configuration" "sshd: PAM account refused bob"
no_principals_file bob

context "erin: deactivated from the start"
mark
ssh_cert erin erin erin true
login_refused "erin"
assert_output "erin:*:5005:5005:Erin Example:/home/erin:/bin/bash" getent passwd erin

context "bob reactivated"
set_active bob True
usher_sync
ssh_cert bob bob bob 'cat ~/file'
login_ok "bob logs in again after one sync"
assert_eq keep "$OUT"

context "bob removed from ops"
dir_edit 'group("ops")["members"] = [m for m in group("ops")["members"] if m["value"] != "u-bob"]'
usher_sync
mark
ssh_cert bob bob bob true
login_refused "bob, no longer in a login group"
assert_output "" "$USHERCTL" principals bob
assert_output "uid=5002(bob) gid=5002(bob) groups=5002(bob)" id bob
principals_file bob
mark
ssh_cert bob bob bob true
login_refused "bob, not in a login group, through a principals file"
wait_log syslog "pam_usher(sshd:account): user bob: not in a login group on this host; denied" "pam_usher's denial in syslog"
no_principals_file bob
ssh_cert alice alice alice 'id -un'
login_ok "alice is unaffected"

context "default deny: no [access] policy"
usher_write_config "$USHER_DIRECTORY" "$USHER_CONFIG" \
    $'[ssh]\nuser_ca_keys_file = "'"$UPSTREAM_CA_KEYS"$'"\n'
usher_sync
assert_output "" "$USHERCTL" principals alice
run "$USHERCTL" --config "$USHER_CONFIG" status
assert_contains "$OUT" "nobody from the directory may log in"
mark
ssh_cert alice alice alice true
login_refused "alice when the host allows no directory group"
principals_file alice
mark
ssh_cert alice alice alice true
login_refused "alice through a principals file when the host allows no directory group"
wait_log syslog "pam_usher(sshd:account): user alice: not in a login group on this host; denied" "pam_usher's denial in syslog"
assert_ok getent passwd alice
