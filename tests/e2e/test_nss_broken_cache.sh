# A cache that is missing, garbage, truncated, empty or of another schema version: the module
# answers UNAVAIL at once (getent exits 2 for directory names), `files` still answers root and
# every local entry, nothing is logged per lookup, and the next good publish is picked up.
usher_setup_sample
cp "$USHER_CACHE" "$NS/cache.good"
SIZE=$(stat -c %s "$NS/cache.good")
LOCAL_USERS=$(getent -s files passwd | wc -l)
LOCAL_GROUPS=$(getent -s files group | wc -l)
ROOT_LINE=$(grep '^root:' /etc/passwd)
ALICE="alice:*:5001:5001:Alice Example:/home/alice:/bin/bash"
# 200 directory names looked up in one process: no log line per failed lookup.
MANY_KEYS=$(for i in $(seq 50); do echo alice dave erin frank; done)

expect_unavailable() {
    local what=$1 before
    context "$what"
    assert_not_found getent passwd alice
    assert_not_found getent passwd 5001
    assert_not_found getent group ops
    assert_not_found getent group 6001
    assert_not_found getent group alice
    assert_fails id alice
    assert_output "$ROOT_LINE" getent passwd root
    assert_output "$ROOT_LINE" getent passwd 0
    assert_output "$(grep '^root:' /etc/group)" getent group root
    assert_output "uid=0(root) gid=0(root) groups=0(root)" id root
    assert_ok getent passwd
    assert_eq "$LOCAL_USERS" "$(wc -l <<<"$OUT")" "$what: getent passwd enumerates the local users only"
    assert_ok getent group
    assert_eq "$LOCAL_GROUPS" "$(wc -l <<<"$OUT")" "$what: getent group enumerates the local groups only"
    # getent -s usher: the module alone. No entry, status UNAVAIL (getent says "not found": 2).
    assert_not_found getent -s usher passwd alice
    assert_ok getent -s usher passwd
    assert_eq "" "$OUT" "$what: the module enumerates nothing"
    before=$(log_lines)
    # shellcheck disable=SC2086
    assert_exit 2 getent passwd $MANY_KEYS
    assert_eq "" "$OUT" "$what: no directory user resolves"
    # shellcheck disable=SC2086
    assert_exit 2 setpriv --reuid=65534 --regid=65534 --clear-groups getent group ops devs admins $MANY_KEYS
    local logged=$(( $(log_lines) - before ))
    [ "$logged" -le 2 ] || fail "$what: $logged log lines for 400 failed lookups (a log storm): $(tail -n "$logged" "$USHER_NS_LOG")"
}

expect_served_again() {
    context "served again after: $USHER_CONTEXT"
    assert_output "$ALICE" getent passwd alice
    assert_output "ops:*:6001:alice,dave" getent group ops
    assert_output "uid=5001(alice) gid=5001(alice) groups=5001(alice),6001(ops),6002(admins)" id alice
}

# 1. Deleted. The next sync publishes a new one.
rm -f "$USHER_CACHE"
expect_unavailable "deleted cache"
usher_sync
expect_served_again

# 2. Garbage bytes of the same size.
head -c "$SIZE" /dev/urandom > "$NS/garbage"
replace_file "$NS/garbage" "$USHER_CACHE"
expect_unavailable "garbage cache"
# 2b. A plain text file, and an empty file.
printf 'alice:*:5001:5001::/home/alice:/bin/bash\n' > "$NS/text"
replace_file "$NS/text" "$USHER_CACHE"
expect_unavailable "text file as cache"
: > "$NS/empty"
replace_file "$NS/empty" "$USHER_CACHE"
expect_unavailable "empty cache"
# usherd replaces an unreadable cache.
usher_sync
expect_served_again

# 3. Truncated copies of the real one (new inodes, as a publisher would make).
for len in 100 4096 $((SIZE / 2)) $((SIZE - 4096)) $((SIZE - 1)); do
    head -c "$len" "$NS/cache.good" > "$NS/truncated"
    replace_file "$NS/truncated" "$USHER_CACHE"
    expect_unavailable "cache truncated to $len of $SIZE bytes"
done
replace_file "$NS/cache.good" "$USHER_CACHE"
expect_served_again

# 4. Another schema version (the same data, PRAGMA user_version = 99).
cp "$NS/cache.good" "$NS/wrong-version"
python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1]); c.execute("PRAGMA user_version = 99"); c.commit(); c.close()' "$NS/wrong-version"
assert_output 99 python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("PRAGMA user_version").fetchone()[0])' "$NS/wrong-version"
replace_file "$NS/wrong-version" "$USHER_CACHE"
expect_unavailable "schema version 99"
# usherd replaces it too.
usher_sync
expect_served_again

# 5. An unreadable cache (mode 0600): an unprivileged process gets UNAVAIL, root still reads it.
chmod 0600 "$USHER_CACHE"
assert_exit 2 setpriv --reuid=65534 --regid=65534 --clear-groups getent passwd alice
assert_output "$ROOT_LINE" setpriv --reuid=65534 --regid=65534 --clear-groups getent passwd root
assert_output "$ALICE" getent passwd alice
chmod 0644 "$USHER_CACHE"
