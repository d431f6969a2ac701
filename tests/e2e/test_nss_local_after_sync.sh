# A local account created after a sync with a directory user's name gets no directory group, in
# any form (issue 11, class 4): `id`, a fresh getgrouplist, and a long-running process whose
# cache handle is already open (it looked directory users up before the account existed); sudo
# grants it nothing through the directory's sudo group; and the directory groups' member lists
# stop naming it (within the module's one-second recheck in a running process), so
# pam_succeed_if's `user ingroup` (which reads member lists) does not count it either. The local account is added both the
# way useradd does (a new passwd file renamed into place) and by an edit in place. (Before the
# fix, a process with an open handle gave the new local user00010 the directory user's groups,
# sudo group included: the passwd file was only read while no handle was open.)
usher_install_module
U="urn:usher:params:scim:schemas:extension:posix:2.0:User"
python3 - "$USHER_DIRECTORY" <<'PY'
import json, sys
U = "urn:usher:params:scim:schemas:extension:posix:2.0:User"
G = "urn:usher:params:scim:schemas:extension:posix:2.0:Group"
def user(i):
    name = f"user{i:05d}"
    return {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", U], "id": f"u-{i}",
            "userName": name, "active": True,
            U: {"uidNumber": 100000 + i, "gidNumber": 100000 + i, "homeDirectory": f"/home/{name}",
                "loginShell": "/bin/sh"}}
def group(gid, name, members):
    return {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", G], "id": f"g-{gid}",
            "displayName": name, G: {"gidNumber": gid}, "members": [{"value": f"u-{i}"} for i in members]}
json.dump({"Users": [user(i) for i in (9, 10, 11)],
           "Groups": [group(7100, "dirsudo", [10, 11]), group(7101, "dirstaff", [9, 10, 11])]},
          open(sys.argv[1], "w"))
PY
# The policy names the sudo group by name (`name:`, the form issue 11 introduces); a usherd that
# predates that form reads the entry literally and matches nothing, so the bare name is used then.
usher_write_config "$USHER_DIRECTORY" "$USHER_CONFIG" $'[access]\nsudo_groups = ["name:dirsudo"]\n'
usherd_once
if [ "$RC" != 0 ] || ! grep -q '^%#7100 ' /etc/sudoers.d/usher 2>/dev/null; then
    usher_write_config "$USHER_DIRECTORY" "$USHER_CONFIG" $'[access]\nsudo_groups = ["dirsudo"]\n'
fi
usher_sync
assert_match "$(cat /etc/sudoers.d/usher)" '^%#7100 ' "usherd wrote the sudo rule for dirsudo"

context "directory users, before"
assert_output "uid=100010(user00010) gid=100010(user00010) groups=100010(user00010),7100(dirsudo),7101(dirstaff)" id user00010
assert_ok sudo -n -l -U user00010
assert_contains "$OUT" "NOPASSWD: ALL" "the directory user user00010 has the directory's sudo rule"
assert_output "dirsudo:*:7100:user00010,user00011" getent group dirsudo
printf 'auth required pam_permit.so\naccount required pam_succeed_if.so quiet user ingroup dirsudo\n' \
    >/etc/pam.d/usher-ingroup
assert_ok pamtester usher-ingroup user00010 acct_mgmt   # a directory member, before
assert_fails pamtester usher-ingroup user00009 acct_mgmt   # not a member
. "$USHER_ROOT/tests/e2e/nss_longrun.sh"
# Looks up a directory user first, so its handle is open before the local accounts exist.
longrun_start held "getgrouplist:user00009:100009;getgrouplist:user00010:3010;getgrouplist:user00011:3011;initgroups:user00010:3010;getpwnam:user00009;getgrnam:dirsudo;getgrgid:7101"
longrun_expect held '{"getgrnam:dirsudo": ["user00010", "user00011"],
                      "getgrgid:7101": ["user00009", "user00010", "user00011"],
                      "getgrouplist:user00009:100009": [7101, 100009],
                      "getgrouplist:user00010:3010": [3010, 7100, 7101],
                      "initgroups:user00010:3010": [3010, 7100, 7101]}'

context "user00010 made local by a renamed passwd file (useradd's way)"
cp /etc/passwd "$NS/passwd.new"
echo "user00010:x:3010:3010:local:/home/user00010:/bin/sh" >>"$NS/passwd.new"
replace_file "$NS/passwd.new" /etc/passwd
cp /etc/group "$NS/group.new"
printf 'user00010:x:3010:\nuser00011:x:3011:\n' >>"$NS/group.new"
replace_file "$NS/group.new" /etc/group
assert_output "uid=3010(user00010) gid=3010(user00010) groups=3010(user00010)" id user00010
assert_output "user00010 : user00010" groups user00010
longrun_expect held '{"getgrouplist:user00009:100009": [7101, 100009],
                      "getgrouplist:user00010:3010": [3010],
                      "initgroups:user00010:3010": [3010],
                      "getgrouplist:user00011:3011": [3011, 7100, 7101],
                      "getpwnam:user00009": [100009, 100009]}'
echo "ok: the long-running process with its handle open gives the local user00010 nothing"
# A fresh process: the member lists leave the local account out at once.
assert_output "dirsudo:*:7100:user00011" getent group dirsudo
assert_output "dirstaff:*:7101:user00009,user00011" getent group 7101
assert_fails pamtester usher-ingroup user00010 acct_mgmt
assert_ok pamtester usher-ingroup user00011 acct_mgmt   # still a directory member
# The running process: within the recheck interval.
sleep 1.1
longrun_expect held '{"getgrnam:dirsudo": ["user00011"], "getgrgid:7101": ["user00009", "user00011"]}'

context "user00011 made local by an edit in place"
INODE=$(stat -c %i /etc/passwd)
echo "user00011:x:3011:3011:local:/home/user00011:/bin/sh" >>/etc/passwd
assert_eq "$INODE" "$(stat -c %i /etc/passwd)" "the passwd file was edited in place"
assert_output "uid=3011(user00011) gid=3011(user00011) groups=3011(user00011)" id user00011
longrun_expect held '{"getgrouplist:user00010:3010": [3010], "getgrouplist:user00011:3011": [3011],
                      "getgrouplist:user00009:100009": [7101, 100009]}'
assert_output "dirsudo:*:7100:" getent group dirsudo
assert_fails pamtester usher-ingroup user00011 acct_mgmt
sleep 1.1
longrun_expect held '{"getgrnam:dirsudo": [], "getgrgid:7101": ["user00009"]}'

context "sudo"
# sudo matches %#7100 by the user's group list (getgrouplist, i.e. initgroups_dyn), so the local
# accounts get no rule; the directory's member lists still name them (getent group dirsudo shows
# user00010, until the next sync drops the clashing directory users), which sudo does not use.
for name in user00010 user00011; do
    run sudo -n -l -U "$name"
    assert_not_contains "$OUT" "NOPASSWD" "sudo grants the local $name the directory's rule"
    assert_contains "$OUT$ERR" "not allowed to run sudo" "sudo says $name may not run it"
done
# A local rule naming a directory group by name: the same.
printf '%%dirstaff ALL=(ALL) NOPASSWD: /bin/true\n' >/etc/sudoers.d/local-dirstaff
chmod 0440 /etc/sudoers.d/local-dirstaff
assert_ok sudo -n -l -U user00009
assert_contains "$OUT" "NOPASSWD: /bin/true" "the directory user user00009 matches %dirstaff"
run sudo -n -l -U user00010
assert_not_contains "$OUT" "/bin/true" "sudo's %dirstaff matched the local user00010"
longrun_stop held
