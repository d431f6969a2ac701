# Issue 11 item 4: local accounts win in every form.
# - A stale member: the local sudo group lists `ghost`, who has no /etc/passwd entry (left after a
#   userdel). A directory user named ghost (in ops and admins) is refused: not served by getent or
#   id, no sudo, no ssh login; usherd says which local group lists the name.
# - Case-only look-alikes: directory users ROOT and Localadmin (a local localadmin exists) are
#   refused: not served, no login.
# - A local account created after a sync: user00010 is a directory user in admins (a sudo group);
#   after the sync an administrator adds a local user00010 to /etc/passwd. Before any further sync
#   `sudo -l -U user00010` grants nothing from Usher, sudo is refused, and `id` shows no directory
#   group (the NSS side, with long-running processes, is tested by the NSS suite).
# On the old code: ghost is served with uid 5030 and gets the local sudo group (gid 27) through
#   the stale member, and sudo; ROOT and Localadmin are served and log in; user00010 (local) gets
#   6002(admins) from initgroups and `NOPASSWD: ALL` from sudo -l.
# Needs: the mapping's local-name rules (branch wt-mapping) for the first two parts; the NSS
# module's local-name check in initgroups (branch wt-nss) for the last.
access_setup_host
local_user localadmin 2002
sed -i 's/^sudo:x:27:\(.*\)$/sudo:x:27:\1,ghost/; s/^sudo:x:27:,ghost$/sudo:x:27:ghost/' /etc/group
assert_match "$(grep '^sudo:' /etc/group)" '^sudo:x:27:(.*,)?ghost$' "the stale member is in the local sudo group"
getent passwd ghost >/dev/null && fail "ghost has a local passwd entry"
dir_add_user ghost 5030
dir_add_user ROOT 5031
dir_add_user Localadmin 5032
dir_add_user user00010 5040
dir_join ops ghost ROOT Localadmin user00010
dir_join admins ghost ROOT Localadmin user00010
usherd_once
assert_eq 0 "$RC" "usherd syncs"
SYNC_LOG="$OUT$ERR"
for u in ghost ROOT Localadmin user00010; do user_cert "$u"; done

context "ghost: a stale member of the local sudo group"
ghost_line=$(grep ghost <<<"$SYNC_LOG" || true)
assert_match "$ghost_line" "sudo" "usherd names the local group that lists ghost"
echo "ok: usherd: $ghost_line"
for u in ROOT Localadmin; do
    assert_contains "$SYNC_LOG" "$u" "usherd logs why $u is refused"
done
assert_not_found getent passwd ghost
assert_fails id ghost
run sudo -l -U ghost
assert_not_contains "$OUT" "ALL" "sudo -l -U ghost grants nothing"
ssh_cert ghost ghost ghost 'id; sudo -n id -un'
login_refused "ghost over ssh"
run pamtester sudo ghost acct_mgmt
[ "$RC" != 0 ] || fail "pamtester sudo ghost acct_mgmt succeeded"
echo "ok: pamtester sudo ghost refused"

context "case-only look-alikes of local names"
for u in ROOT Localadmin; do
    assert_not_found getent passwd "$u"
    run "$USHERCTL" principals "$u"
    assert_eq "" "$OUT" "no principals for $u"
    ssh_cert "$u" "$u" "$u" 'id'
    login_refused "$u over ssh"
done
assert_output "root" id -un root
assert_output "uid=2002(localadmin) gid=2002(localadmin) groups=2002(localadmin)" id localadmin

context "user00010 before the local account: a directory sudoer"
assert_output "uid=5040(user00010) gid=5040(user00010) groups=5040(user00010),6001(ops),6002(admins)" id user00010
assert_ok sudo -u user00010 sudo -n true

context "a local user00010 created after the sync (no sync since)"
local_user user00010 2010
assert_output "uid=2010(user00010) gid=2010(user00010) groups=2010(user00010)" id user00010
run sudo -l -U user00010
assert_not_contains "$OUT" "NOPASSWD: ALL" "sudo -l -U user00010 grants nothing from Usher"
assert_contains "$OUT" "User user00010 is not allowed to run sudo" "sudo -l says so"
assert_fails sudo -u user00010 sudo -n true
mark
run pamtester sudo user00010 acct_mgmt
no_log syslog "pam_usher(sudo:account): user user00010: allowed" "pam_usher does not allow the local user00010 as a directory sudoer"
run python3 -c 'import os; print(sorted(os.getgrouplist("user00010", 2010)))'
assert_eq "[2010]" "$OUT" "getgrouplist(user00010): no directory group"
