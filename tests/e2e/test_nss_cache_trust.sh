# Cache trust (issue 11, class 5): a cache that someone other than root could have written is not
# read. Mode 0666, owned by nobody, or in a directory others can write: the module answers UNAVAIL
# (root and local users still resolve), usherctl refuses with a clear error, and the next
# `usherd --once` republishes it root-owned 0644 and logs why. A row rewritten in place, which
# keeps the content hash the file carries, is repaired the same way.
usher_setup_sample
ROOT_LINE=$(grep '^root:' /etc/passwd)
ALICE="alice:*:5001:5001:Alice Example:/home/alice:/bin/bash"
USHERCTL=$USHER_TARGET/release/usherctl

expect_refused() {
    context "$1"
    assert_not_found getent passwd alice
    assert_not_found getent passwd 5001
    assert_not_found getent group ops
    assert_fails id alice
    assert_output "$ROOT_LINE" getent passwd root
    assert_output "uid=0(root) gid=0(root) groups=0(root)" id root
    run "$USHERCTL" --config "$USHER_CONFIG" user alice
    [ "$RC" != 0 ] || fail "$1: usherctl user alice succeeded"
    assert_contains "$ERR" "untrusted cache"
}

expect_repaired() { # WHY: what usherd must say
    local before
    before=$(log_lines)
    usher_sync
    context "repaired: $USHER_CONTEXT"
    assert_contains "$ERR$(tail -n +$((before + 1)) "$USHER_NS_LOG")" "$1"
    assert_eq "0 644" "$(stat -c '%u %a' "$USHER_CACHE")" "owner and mode after the repair"
    assert_output "$ALICE" getent passwd alice
    assert_output "uid=5001(alice) gid=5001(alice) groups=5001(alice),6001(ops),6002(admins)" id alice
}

# 1. World-writable: nobody could have rewritten it.
chmod 0666 "$USHER_CACHE"
expect_refused "cache mode 0666"
# Even as nobody, who could write it, nothing is served from it.
assert_exit 2 setpriv --reuid=65534 --regid=65534 --clear-groups getent passwd alice
expect_repaired "not trusted"

# 2. Owned by nobody.
chown 65534 "$USHER_CACHE"
expect_refused "cache owned by nobody"
expect_repaired "owned by uid 65534"

# 3. Its directory writable by others (the file itself is fine).
chmod 0777 /var/lib/usher
expect_refused "directory mode 0777"
chmod 0755 /var/lib/usher
assert_output "$ALICE" getent passwd alice

# 4. Rewritten in place by root's tools: readers would accept it, but it is not what usherd
#    published, so usherd does not take it for unchanged (the hash inside still matches).
python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1]); c.execute("UPDATE users SET can_sudo = 1"); c.commit(); c.close()' "$USHER_CACHE"
expect_repaired "changed since this daemon published it"
usher_sync
assert_contains "$ERR" "unchanged"
