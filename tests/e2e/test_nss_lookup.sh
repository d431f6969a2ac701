# usherd --once from the sample directory, then getent / id through the real glibc NSS path
# (`passwd: files usher`, `group: files usher`, the module found through ld.so.cache).
usher_setup_sample
assert_contains "$ERR" "published generation 1: 4 users (1 inactive)" "usherd reports what it published"

# The published cache: root-owned, mode 0644.
assert_output "644 0 0" stat -c '%a %u %g' "$USHER_CACHE"

# passwd by name and by uid; the password field is `*`.
ALICE="alice:*:5001:5001:Alice Example:/home/alice:/bin/bash"
assert_output "$ALICE" getent passwd alice
assert_output "$ALICE" getent passwd 5001
# Okta-style userName: the @domain is removed; no gidNumber: the uid is the private group's gid.
assert_output "dave:*:5002:5002:Dave Example:/home/dave:/bin/sh" getent passwd dave
assert_not_found getent passwd dave@example.com
# Defaults: home /home/<name>, shell /bin/bash.
assert_output "erin:*:5003:5003:Erin Former:/home/erin:/bin/bash" getent passwd erin
assert_output "erin:*:5003:5003:Erin Former:/home/erin:/bin/bash" getent passwd 5003

# frank has no numbers: uid derived from the directory id, in the default range 200000-2000200000.
assert_ok getent passwd frank
IFS=: read -r _ fpw FRANK_UID FRANK_GID fgecos fhome fshell <<<"$OUT"
assert_eq "* Frank Derived /home/frank /bin/bash" "$fpw $fgecos $fhome $fshell" "frank's fields"
[ "$FRANK_UID" -ge 200000 ] && [ "$FRANK_UID" -le 2000200000 ] \
    || fail "frank's derived uid $FRANK_UID is outside 200000-2000200000"
assert_eq "$FRANK_UID" "$FRANK_GID" "frank's private group has his uid"
assert_output "frank:*:$FRANK_UID:$FRANK_GID:Frank Derived:/home/frank:/bin/bash" getent passwd "$FRANK_UID"

# Groups by name and gid; members listed; the password field is `*`.
assert_output "ops:*:6001:alice,dave" getent group ops
assert_output "ops:*:6001:alice,dave" getent group 6001
assert_output "admins:*:6002:alice" getent group admins
assert_ok getent group devs
IFS=: read -r _ _ DEVS_GID devs_members <<<"$OUT"
[ "$DEVS_GID" -ge 200000 ] && [ "$DEVS_GID" -le 2000200000 ] \
    || fail "devs' derived gid $DEVS_GID is outside 200000-2000200000"
assert_eq "dave,erin,frank" "$devs_members" "devs members (the deactivated erin included)"
assert_output "devs:*:$DEVS_GID:dave,erin,frank" getent group "$DEVS_GID"

# User-private groups: same name, gid = the user's gid, no members.
assert_output "alice:*:5001:" getent group alice
assert_output "alice:*:5001:" getent group 5001
assert_output "dave:*:5002:" getent group dave
assert_output "frank:*:$FRANK_UID:" getent group frank

# initgroups (getgrouplist through initgroups_dyn) and id.
assert_output "alice                 6001 6002" getent initgroups alice
assert_output "dave                  6001 $DEVS_GID" getent initgroups dave
assert_output "uid=5001(alice) gid=5001(alice) groups=5001(alice),6001(ops),6002(admins)" id alice
assert_output "uid=5002(dave) gid=5002(dave) groups=5002(dave),6001(ops),$DEVS_GID(devs)" id dave
assert_output "alice" id -un 5001
assert_output "5001 6001 6002" id -G alice

# A deactivated user keeps resolving (files keep their owner).
assert_output "uid=5003(erin) gid=5003(erin) groups=5003(erin),$DEVS_GID(devs)" id erin
assert_output "erin                  $DEVS_GID" getent initgroups erin

# Unknown names and numbers are not found; local entries still come from files.
assert_not_found getent passwd zelda-nobody
assert_not_found getent passwd 5999
assert_not_found getent group 5999
assert_output "root:x:0:0:root:/root:/bin/bash" getent passwd root
assert_output "$(grep '^root:' /etc/group)" getent group root

# Enumeration: every local entry (files) and every directory entry (usher), each once.
LOCAL_USERS=$(getent -s files passwd | wc -l)
LOCAL_GROUPS=$(getent -s files group | wc -l)
assert_ok getent passwd
ALL_PASSWD=$OUT
assert_eq $((LOCAL_USERS + 4)) "$(wc -l <<<"$ALL_PASSWD")" "getent passwd: local users + 4 directory users"
assert_contains "$ALL_PASSWD" "root:x:0:0:root:/root:/bin/bash"
assert_contains "$ALL_PASSWD" "$ALICE"
assert_contains "$ALL_PASSWD" "erin:*:5003:"
assert_contains "$ALL_PASSWD" "frank:*:$FRANK_UID:"
assert_output "$(printf '%s\n' "$ALICE" \
    "dave:*:5002:5002:Dave Example:/home/dave:/bin/sh" \
    "erin:*:5003:5003:Erin Former:/home/erin:/bin/bash" \
    "frank:*:$FRANK_UID:$FRANK_GID:Frank Derived:/home/frank:/bin/bash")" \
    getent -s usher passwd
assert_ok getent group
assert_eq $((LOCAL_GROUPS + 7)) "$(wc -l <<<"$OUT")" "getent group: local groups + 3 directory groups + 4 private groups"
assert_contains "$OUT" "ops:*:6001:alice,dave"
assert_contains "$OUT" "alice:*:5001:"
assert_ok getent -s usher group
assert_eq "admins alice dave devs erin frank ops" "$(cut -d: -f1 <<<"$OUT" | sort | tr '\n' ' ' | sed 's/ $//')" \
    "group names served by usher"

# A process without any privilege reads the cache (read-only, no write access needed).
assert_output "$ALICE" setpriv --reuid=65534 --regid=65534 --clear-groups getent passwd alice
assert_output "uid=5001(alice) gid=5001(alice) groups=5001(alice),6001(ops),6002(admins)" \
    setpriv --reuid=65534 --regid=65534 --clear-groups id alice

# The derived numbers are the same when the cache is rebuilt from scratch (every host agrees).
rm -f "$USHER_CACHE"
usher_sync
assert_output "frank:*:$FRANK_UID:$FRANK_GID:Frank Derived:/home/frank:/bin/bash" getent passwd frank
assert_output "devs:*:$DEVS_GID:dave,erin,frank" getent group devs

# A second sync of the same directory publishes nothing new.
INODE=$(stat -c %i "$USHER_CACHE")
usher_sync
assert_contains "$ERR" "unchanged" "usherd reports an unchanged directory"
assert_eq "$INODE" "$(stat -c %i "$USHER_CACHE")" "an unchanged directory leaves the published file alone"
