# Issue 11 item 1: a policy entry names a group in exactly one namespace (id: or name:).
# - sudo_groups = ["id:g-admins"]: a directory group whose displayName is "g-admins" (the sudo
#   group's id) gives its members nothing: no sudoers line for its gid, `sudo` refused by sudoers
#   and by pam_usher, while the real admins keep sudo.
# - sudo_groups = ["name:admins"] while two directory groups are named admins: neither matches (no
#   sudoers line, sudo refused for both groups' members), and `usherctl status` says so.
# - a bare entry ("admins") is refused when usherd loads the config, with the form to write, and
#   the sudoers file already installed stays as it was.
# On the old code: bob gets `%#6010 ... NOPASSWD: ALL` and root through the look-alike group; with
#   two "admins" groups both groups' members got sudo; a bare entry was accepted.
# Needs the mapping's policy references (branch wt-mapping, commit 6b0b5bd).
access_setup_host $'[access]\nlogin_groups = ["name:ops"]\nsudo_groups = ["id:g-admins"]\n'

sudo_refused() { # USER: sudo -n true fails, and sudo -l lists nothing from Usher
    assert_fails sudo -u "$1" sudo -n true
    run sudo -l -U "$1"
    assert_not_contains "$OUT" "NOPASSWD: ALL" "sudo -l -U $1 grants nothing"
}

context "sudo_groups = [\"id:g-admins\"] and a group whose displayName is g-admins"
dir_add_group g-evil g-admins 6010 bob
usher_sync
assert_output "$(printf '# Written by usherd from [access] sudo_groups. Do not edit.\n%%#6002 ALL=(ALL:ALL) NOPASSWD: ALL\t# admins')" \
    cat /etc/sudoers.d/usher
assert_contains "$(id bob)" "6010(g-admins)" "bob is in the look-alike group"
assert_ok sudo -u alice sudo -n true
assert_output root sudo -u alice sudo -n id -un
sudo_refused bob
run pamtester sudo bob acct_mgmt
[ "$RC" != 0 ] || fail "pam_usher lets bob use sudo"
user_cert bob
ssh_cert bob bob bob 'sudo -n id -un'
[ "$RC" != 0 ] && [ "$OUT" != root ] || fail "bob got root over ssh"
echo "ok: bob over ssh: no sudo"

context "name:admins shared by two directory groups"
access_config $'[access]\nlogin_groups = ["name:ops"]\nsudo_groups = ["name:admins"]\n'
usher_sync
assert_ok sudo -u alice sudo -n true # one group named admins: it matches
dir_add_group g-admins-2 admins 6011 bob
usherd_once
assert_eq 0 "$RC" "usherd syncs (a shared name is a warning, not an error)"
assert_contains "$ERR" "several directory groups are named admins" "usherd says why"
assert_output "# Written by usherd from [access] sudo_groups. Do not edit." cat /etc/sudoers.d/usher
sudo_refused alice
sudo_refused bob
assert_ok visudo -c
run "$USHERCTL" status
assert_contains "$OUT" "several directory groups are named admins" "usherctl status says so"
assert_contains "$OUT" "name:admins" "usherctl status names the entry"
# Naming it by id works again.
access_config $'[access]\nlogin_groups = ["name:ops"]\nsudo_groups = ["id:g-admins"]\n'
usher_sync
assert_ok sudo -u alice sudo -n true
sudo_refused bob

context "name:ops (login) shared: nobody logs in through it"
dir_add_group g-ops-2 ops 6012 carol
access_config $'[access]\nlogin_groups = ["name:ops"]\nsudo_groups = ["id:g-admins"]\n'
usher_sync
ssh_cert bob bob bob true
login_refused "bob (ops only) when two groups are named ops"
user_cert carol
ssh_cert carol carol carol true
login_refused "carol (in the second ops) too"
user_cert alice
ssh_cert alice alice alice 'id -un'
login_ok "alice logs in through the sudo group, named by id"

context "a bare entry is refused when the config is loaded"
cp /etc/sudoers.d/usher "$NS/sudoers.before"
access_config $'[access]\nlogin_groups = ["name:ops"]\nsudo_groups = ["admins"]\n'
usherd_once
[ "$RC" != 0 ] || fail "usherd accepted a bare sudo_groups entry"
assert_contains "$ERR" 'sudo_groups entry "admins": write "name:admins" or "id:admins"' "the error says which form to write"
cmp /etc/sudoers.d/usher "$NS/sudoers.before" || fail "the sudoers file changed after a refused config"
access_config $'[access]\nlogin_groups = ["ops"]\nsudo_groups = ["id:g-admins"]\n'
usherd_once
[ "$RC" != 0 ] || fail "usherd accepted a bare login_groups entry"
assert_contains "$ERR" 'login_groups entry "ops": write "name:ops" or "id:ops"'
assert_ok sudo -u alice sudo -n true
