# The cache is trusted only when only root could have written it (issue 11, item 5), checked with
# the real getent, id, pamtester and usherctl:
#   - a cache file chmod 666, one owned by nobody, one group-writable, and /var/lib/usher writable
#     by others or by its group: `getent passwd alice` answers nothing from Usher (exit 2), root
#     and local users still answer, pam_usher denies alice and leaves root to the local rules,
#     `usherctl status` exits non-zero and says why; the next `usherd --once` republishes a file
#     (its mode or owner wrong) with a log line;
#   - a tampered cache (a forged but well-formed snapshot where alice's uid is 5999, carrying the
#     good file's own content hash, installed root-owned 0644) is repaired by the next
#     `usherd --once`: getent shows alice's real uid again and a log line says why.
command -v pamtester >/dev/null || fail "pamtester is missing (scripts/setup.sh installs it)"
USHERCTL_BIN=$USHER_TARGET/release/usherctl
[ -x "$USHERCTL_BIN" ] || fail "usherctl is not built (cargo build --release)"
[ -f "$USHER_TARGET/release/libpam_usher.so" ] || fail "libpam_usher.so is not built (cargo build --release)"
. "$USHER_ROOT/tests/access/lib.sh"

usher_install_module
access_install_pam
usher_sample_directory
usher_write_config "$USHER_DIRECTORY" "$USHER_CONFIG" $'[access]\nlogin_groups = ["name:ops"]\n'
usher_sync
ROOT_LINE=$(grep '^root:' /etc/passwd)
ALICE="alice:*:5001:5001:Alice Example:/home/alice:/bin/bash"
cp "$USHER_CACHE" "$NS/cache.good"

context "good cache"
assert_output "$ALICE" getent passwd alice
assert_ok "$USHERCTL_BIN" --config "$USHER_CONFIG" status
assert_ok pamtester sshd root acct_mgmt

# refused WHAT: the state the caller just made must be refused by every reader.
refused() {
    context "$1"
    assert_not_found getent passwd alice
    assert_not_found getent passwd 5001
    assert_not_found getent group ops
    assert_fails id alice
    assert_output "$ROOT_LINE" getent passwd root
    assert_output "uid=0(root) gid=0(root) groups=0(root)" id root
    # An unprivileged process too (the module refuses for every caller, not only for root).
    assert_exit 2 setpriv --reuid=65534 --regid=65534 --clear-groups getent passwd alice
    run pamtester sshd alice acct_mgmt
    [ "$RC" != 0 ] || fail "pam_usher let alice pass with an untrusted cache"
    assert_ok pamtester sshd root acct_mgmt
    run "$USHERCTL_BIN" --config "$USHER_CONFIG" status
    [ "$RC" != 0 ] || { _show_run usherctl status; fail "usherctl status exits 0 with an untrusted cache"; }
    assert_match "$OUT$ERR" "(owned|owner|writable|untrusted|trust)" \
        "usherctl status says why the cache is refused"
    echo "ok: $1 refused; usherctl status says: $(grep -iE 'owned|owner|writable|trust' <<<"$OUT$ERR" | head -n 1)"
}

# repaired WHAT: the next sync republishes, with a log line, and alice is served again.
repaired() {
    context "$1: repaired by usherd --once"
    local before
    before=$(log_lines)
    usher_sync
    assert_output "$ALICE" getent passwd alice
    assert_eq "0 644" "$(stat -c '%u %a' "$USHER_CACHE")" "the republished cache is root's, 0644"
    local logged
    logged=$(tail -n +"$((before + 1))" "$USHER_NS_LOG"; printf '%s\n' "$ERR")
    assert_match "$logged" "(republish|owner|mode|writable|differ|repair)" \
        "usherd says why it republished"
    echo "ok: $1 repaired: $(grep -iE 'republish|owner|mode|writable|differ|repair' <<<"$logged" | head -n 1)"
}

chmod 0666 "$USHER_CACHE"
refused "cache file mode 0666"
repaired "cache file mode 0666"

chmod 0664 "$USHER_CACHE"
refused "cache file mode 0664"
repaired "cache file mode 0664"

chown 65534:65534 "$USHER_CACHE"
refused "cache file owned by nobody"
repaired "cache file owned by nobody"

chown 0:65534 "$USHER_CACHE"
chmod 0664 "$USHER_CACHE"
refused "cache file group-writable by nogroup"
repaired "cache file group-writable by nogroup"

chmod 0757 /var/lib/usher
refused "/var/lib/usher writable by others"
chmod 0775 /var/lib/usher
refused "/var/lib/usher writable by its group"
chmod 0755 /var/lib/usher
chown 65534 /var/lib/usher
refused "/var/lib/usher owned by nobody"
chown 0 /var/lib/usher
context "directory trusted again"
assert_output "$ALICE" getent passwd alice

# A forged snapshot: what usherd would publish if alice's uid were 5999, with the good file's
# content hash in its meta (so a daemon that trusts the hash inside the file sees "unchanged").
context "tampered cache"
cp "$USHER_DIRECTORY" "$NS/directory.good"
usher_json_edit "$USHER_DIRECTORY" 'user("alice")["urn:usher:params:scim:schemas:extension:posix:2.0:User"]["uidNumber"] = 5999'
usher_sync
cp "$USHER_CACHE" "$NS/cache.forged"
cp "$NS/directory.good" "$USHER_DIRECTORY"
python3 - "$NS/cache.good" "$NS/cache.forged" <<'PY'
import sqlite3, sys
good, forged = sys.argv[1], sys.argv[2]
g = sqlite3.connect(f"file:{good}?mode=ro&immutable=1", uri=True)
h = g.execute("SELECT value FROM meta WHERE key = 'content_hash'").fetchone()[0]
g.close()
f = sqlite3.connect(forged)
f.execute("UPDATE meta SET value = ? WHERE key = 'content_hash'", (h,))
f.commit()
f.execute("VACUUM")
f.close()
PY
replace_file "$NS/cache.forged" "$USHER_CACHE"
chown 0:0 "$USHER_CACHE"
assert_eq "0 644" "$(stat -c '%u %a' "$USHER_CACHE")" "the forged cache is installed root-owned 0644"
assert_output "alice:*:5999:5001:Alice Example:/home/alice:/bin/bash" getent passwd alice
repaired "a forged cache carrying the good content hash"
assert_not_found getent passwd 5999
