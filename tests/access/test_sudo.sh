# sudo from directory groups: usherd writes /etc/sudoers.d/usher (NOPASSWD by default, groups by
# gid) checked by visudo; a sudo-group member gets `sudo -n true`, a login-only member is refused
# (by sudoers, and by pam_usher's sudo permission even when a local rule would let them); the
# whole sudo configuration passes `visudo -c`; sudo_nopasswd = false writes rules with a password.
access_setup_host

context "the sudoers drop-in"
assert_eq "440 0:0" "$(stat -c '%a %u:%g' /etc/sudoers.d/usher)" "mode and owner"
assert_output "$(printf '# Written by usherd from [access] sudo_groups. Do not edit.\n%%#6002 ALL=(ALL:ALL) NOPASSWD: ALL\t# admins')" \
    cat /etc/sudoers.d/usher
assert_ok visudo -c
assert_contains "$OUT" "/etc/sudoers.d/usher: parsed OK"
assert_ok visudo -c -f /etc/sudoers.d/usher

context "alice (admins)"
mark
assert_output root sudo -u alice sudo -n id -un
assert_ok sudo -u alice sudo -n true
wait_log syslog "pam_usher(sudo:account): user alice: allowed (member of a sudo group)" "pam_usher allowed alice's sudo"
cert alice alice ca alice
ssh_cert alice alice alice 'sudo -n id -un'
login_ok "alice over ssh, then sudo"
assert_eq root "$OUT" "sudo over ssh"

context "bob (ops: login only)"
mark
assert_fails sudo -u bob sudo -n true
assert_match "$ERR" "a password is required|not in the sudoers|may not run sudo" "sudo refuses bob"
cert bob bob ca bob
ssh_cert bob bob bob 'sudo -n true'
[ "$RC" != 0 ] || fail "bob got sudo over ssh"
echo "ok: bob over ssh: sudo refused ($(tail -1 <<<"$ERR"))"

context "a local sudoers rule for ops does not give bob sudo past pam_usher"
printf '%%ops ALL=(ALL:ALL) NOPASSWD: ALL\n' >/etc/sudoers.d/local-ops
chmod 0440 /etc/sudoers.d/local-ops
assert_ok visudo -c
mark
assert_fails sudo -u bob sudo -n true
assert_contains "$ERR" "PAM account management error: Permission denied" "sudo reports PAM_PERM_DENIED"
wait_log syslog "pam_usher(sudo:account): user bob: not in a sudo group on this host; denied" "pam_usher refused bob's sudo"
# (sudo calls pam_acct_mgmt with PAM_SILENT, so the module's message is not shown; the log has it)
rm /etc/sudoers.d/local-ops

context "alice deactivated, then reactivated"
set_active alice False
usher_sync
mark
assert_fails sudo -u alice sudo -n true
wait_log syslog "pam_usher(sudo:account): user alice: account deactivated in the directory; denied" "pam_usher refused deactivated alice"
set_active alice True
usher_sync
assert_ok sudo -u alice sudo -n true

context "bob added to admins upstream"
dir_edit 'group("admins")["members"].append({"value": "u-bob"})'
usher_sync
assert_ok sudo -u bob sudo -n true
assert_output root sudo -u bob sudo -n id -un
dir_edit 'group("admins")["members"] = [m for m in group("admins")["members"] if m["value"] != "u-bob"]'
usher_sync
assert_fails sudo -u bob sudo -n true

context "carol (devs) and a second sudo group named by directory id"
access_config $'[access]\nlogin_groups = ["name:ops"]\nsudo_groups = ["name:admins", "id:g-devs"]\n'
usher_sync
assert_output "$(printf '# Written by usherd from [access] sudo_groups. Do not edit.\n%%#6002 ALL=(ALL:ALL) NOPASSWD: ALL\t# admins\n%%#6003 ALL=(ALL:ALL) NOPASSWD: ALL\t# devs')" \
    cat /etc/sudoers.d/usher
assert_ok sudo -u carol sudo -n true
assert_ok visudo -c
cert carol carol ca carol
ssh_cert carol carol carol 'id -un'
login_ok "a sudo-group member may log in too"

context "sudo_nopasswd = false"
access_config $'[access]\nlogin_groups = ["name:ops"]\nsudo_groups = ["name:admins"]\nsudo_nopasswd = false\n'
usher_sync
assert_output "$(printf '# Written by usherd from [access] sudo_groups. Do not edit.\n%%#6002 ALL=(ALL:ALL) ALL\t# admins')" \
    cat /etc/sudoers.d/usher
assert_fails sudo -u alice sudo -n true
assert_contains "$ERR" "a password is required"
assert_ok visudo -c

context "no sudo groups"
access_config $'[access]\nlogin_groups = ["name:ops"]\n'
usher_sync
assert_output "# Written by usherd from [access] sudo_groups. Do not edit." cat /etc/sudoers.d/usher
assert_fails sudo -u alice sudo -n true
assert_ok visudo -c

context "a sudoers file visudo refuses is never installed"
access_config $'[access]\nlogin_groups = ["name:ops"]\nsudo_groups = ["name:admins"]\n'
usher_sync
cp /etc/sudoers.d/usher "$NS/sudoers.before"
access_config $'[access]\nlogin_groups = ["name:ops"]\nsudo_groups = ["name:admins", "name:devs"]\n'
mkdir -p "$NS/fakebin"
printf '#!/bin/sh\necho "visudo: >>> $2: syntax error near line 2 <<<" >&2\nexit 1\n' >"$NS/fakebin/visudo"
chmod 0755 "$NS/fakebin/visudo"
run env PATH="$NS/fakebin:$PATH" "$USHERD" --config "$USHER_CONFIG" --once
assert_contains "$ERR" "visudo refused the generated sudoers file, the old one stays"
cmp /etc/sudoers.d/usher "$NS/sudoers.before" || fail "a refused sudoers file was installed"
assert_eq "" "$(ls -A /etc/sudoers.d | grep -v -x -e usher -e README || true)" "no temp file left in /etc/sudoers.d"
assert_ok sudo -u alice sudo -n true
assert_fails sudo -u carol sudo -n true
run env PATH="$NS/fakebin-empty" "$USHERD" --config "$USHER_CONFIG" --once
assert_contains "$ERR" "cannot run visudo"
cmp /etc/sudoers.d/usher "$NS/sudoers.before" || fail "an unchecked sudoers file was installed"
usher_sync
assert_ok sudo -u carol sudo -n true
