# A user removed from the export disappears after the next sync; a sync that would delete most
# users (or all of them) is refused unless forced, and leaves the cache as it was.
usher_setup_sample
assert_output "dave:*:5002:5002:Dave Example:/home/dave:/bin/sh" getent passwd dave

# Remove dave (1 of 4 users: under the default 50% limit).
usher_json_edit "$USHER_DIRECTORY" '
d["Users"] = [u for u in d["Users"] if u["userName"] != "dave@example.com"]
for g in d["Groups"]:
    g["members"] = [m for m in g["members"] if m["value"] != "u-dave-0002"]'
usher_sync
assert_contains "$ERR" "published generation 2: 3 users"
assert_not_found getent passwd dave
assert_not_found getent passwd 5002
assert_not_found getent group dave
assert_not_found getent group 5002
assert_ok getent initgroups dave   # glibc prints the name of any user, with its groups: none
assert_eq "dave" "$(echo $OUT)" "dave is in no group any more"
assert_fails id dave
assert_output "ops:*:6001:alice" getent group ops
assert_eq 0 "$(getent passwd | grep -c '^dave:' || true)" "dave is not enumerated"
assert_output "alice:*:5001:5001:Alice Example:/home/alice:/bin/bash" getent passwd alice

# A membership removed from the export disappears too (the user stays).
usher_json_edit "$USHER_DIRECTORY" 'group("admins")["members"] = []'
usher_sync
assert_output "admins:*:6002:" getent group admins
assert_output "uid=5001(alice) gid=5001(alice) groups=5001(alice),6001(ops)" id alice

# Keep only alice: 2 of 3 users would go (67% > 50%): refused, the cache untouched.
cp "$USHER_CACHE" "$NS/cache.before"
INODE=$(stat -c %i "$USHER_CACHE")
cp "$USHER_DIRECTORY" "$NS/directory.3users"
usher_json_edit "$USHER_DIRECTORY" 'd["Users"] = [user("alice")]'
usherd_once
[ "$RC" != 0 ] || fail "usherd accepted a sync deleting 2 of 3 users (stderr: $ERR)"
assert_match "$ERR" "remove 2 of 3 users" "usherd says why it refused"
assert_eq 1 "$(grep -c . <<<"$ERR")" "usherd's refusal is one line"
cmp "$USHER_CACHE" "$NS/cache.before" || fail "a refused sync changed the cache"
assert_eq "$INODE" "$(stat -c %i "$USHER_CACHE")" "a refused sync replaced the cache file"
assert_ok getent passwd erin

# An export with no users at all: refused too.
usher_json_edit "$USHER_DIRECTORY" 'd["Users"] = []'
usherd_once
[ "$RC" != 0 ] || fail "usherd accepted a directory with no users (stderr: $ERR)"
assert_contains "$ERR" "no users"
assert_eq 1 "$(grep -c . <<<"$ERR")" "usherd's refusal is one line"
cmp "$USHER_CACHE" "$NS/cache.before" || fail "a refused sync changed the cache"
assert_ok getent passwd erin

# A raised limit in the config lets the same deletion through.
cp "$NS/directory.3users" "$USHER_DIRECTORY"
usher_json_edit "$USHER_DIRECTORY" 'd["Users"] = [user("alice")]'
usher_write_config "$USHER_DIRECTORY" "$USHER_CONFIG" $'[sync]\nmax_delete_share = 0.7\n'
usher_sync
assert_not_found getent passwd erin
assert_output "alice:*:5001:5001:Alice Example:/home/alice:/bin/bash" getent passwd alice

# --force publishes an empty directory.
usher_write_config
usher_json_edit "$USHER_DIRECTORY" 'd["Users"] = []'
usherd_once
[ "$RC" != 0 ] || fail "usherd accepted a directory with no users (stderr: $ERR)"
usher_sync --force
assert_not_found getent passwd alice
assert_not_found getent group alice
assert_output "ops:*:6001:" getent group ops   # the directory still has the group, with no members
assert_output "root:x:0:0:root:/root:/bin/bash" getent passwd root
