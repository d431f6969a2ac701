# Issue 11 item 5, PAM side: a cache that someone other than root could have written is not read.
# pam_usher then denies every non-local user in the account phase (fail closed, as for a missing
# cache) and leaves local users to the local rules, through the real sshd and sudo PAM stacks
# (pamtester) and a real ssh login. Three ways in: the file chmod 666, the file owned by nobody
# (here: rewritten by nobody with a forged snapshot that makes bob a sudoer, and owned by nobody), /var/lib/usher
# writable by others (sticky or not). Each is repaired and the user allowed again, so the denial
# comes from the trust check and nothing else.
# On the old code (no owner/mode check in the reader) every "denied" step below fails: alice and
# the forged bob are allowed from a world-writable cache.
access_setup_host
CACHE=/var/lib/usher/cache.db
MKCACHE=$USHER_TARGET/release/examples/mkcache

pam() { # SERVICE USER OPS...: pamtester, stdout and stderr merged in OUT
    local svc=$1 user=$2
    shift 2
    run pamtester -v "$svc" "$user" "$@"
    OUT="$OUT$ERR"
}
pam_ok() { pam "$@"; [ "$RC" = 0 ] || { echo "FAIL: ${USHER_CONTEXT:+[$USHER_CONTEXT] }pamtester $*: exit $RC"; _show output "$OUT"; exit 1; } >&2; echo "ok: pamtester $*"; }
pam_denied() { # SERVICE USER OPS...: refused by pam_usher (its fail-closed line in syslog)
    mark
    pam "$@"
    if [ "$RC" = 0 ]; then
        { echo "FAIL: ${USHER_CONTEXT:+[$USHER_CONTEXT] }pamtester $*: allowed from an untrusted cache"; _show output "$OUT"; } >&2
        exit 1
    fi
    wait_log syslog "pam_usher($1:account): user $2: Usher cache unreadable and not a local account; denied (fail closed): untrusted cache" "pamtester $*: denied by pam_usher"
}

allowed_with_a_trusted_cache() {
    pam_ok sshd alice acct_mgmt
    pam_ok sudo alice acct_mgmt
    pam_ok sshd bob acct_mgmt
    pam_ok sshd localop acct_mgmt
    pam_ok sshd root acct_mgmt
}

# denied_while_untrusted WHY: directory users denied for sshd and sudo, and over a real ssh
# login; local users and root untouched.
denied_while_untrusted() {
    local why=$1
    pam_denied sshd alice acct_mgmt
    assert_contains "$LOG_LINE" "$why"
    pam_denied sudo alice acct_mgmt
    pam_denied sshd bob acct_mgmt
    pam_denied sudo bob acct_mgmt
    assert_contains "$OUT" "Directory accounts are unavailable on this host right now"
    pam_ok sshd localop acct_mgmt
    pam_ok sudo localop acct_mgmt
    pam_ok sshd root acct_mgmt
    ssh_cert alice alice alice true
    login_refused "alice over ssh"
    ssh_cert localop localop localop 'id -un'
    login_ok "localop over ssh"
    assert_eq localop "$OUT" "localop's login"
    [ ! -e /home/bob ] || fail "a home was made for bob from an untrusted cache"
}

cert alice alice ca alice
cert localop localop ca localop

context "trusted cache"
assert_eq "644 0:0" "$(stat -c '%a %u:%g' "$CACHE")" "the published cache"
assert_eq "755 0:0" "$(stat -c '%a %u:%g' /var/lib/usher)" "its directory"
allowed_with_a_trusted_cache

context "cache chmod 666"
chmod 0666 "$CACHE"
denied_while_untrusted "$CACHE is writable by group or others (mode 0666)"
chmod 0644 "$CACHE"
allowed_with_a_trusted_cache

context "cache rewritten by nobody"
cp -p "$CACHE" "$NS/published.db"
# What an attacker who could write the file would publish: bob a sudoer.
"$MKCACHE" "$NS/forged.db" alice:5001:/home/alice:1:1:1 bob:5002:/home/bob:1:1:1 >/dev/null
chmod 0666 "$CACHE"
setpriv --reuid=65534 --regid=65534 --clear-groups sh -c "cat '$NS/forged.db' >'$CACHE'" \
    || fail "nobody could not write the world-writable cache"
chown 65534:65534 "$CACHE" # as if nobody had created it
chmod 0644 "$CACHE"
assert_eq "644 65534" "$(stat -c '%a %u' "$CACHE")" "the cache now owned by nobody, not writable by others"
denied_while_untrusted "$CACHE is owned by uid 65534, not root"
chown 0:0 "$CACHE"
# Owned by root again, the forged content is read (repairing it is usherd's job): bob is then a
# sudoer — proof that the denial above came from the owner alone.
pam_ok sudo bob acct_mgmt
cp -p "$NS/published.db" "$CACHE"
allowed_with_a_trusted_cache
pam sudo bob acct_mgmt
[ "$RC" != 0 ] || fail "bob is still a sudoer with the published cache back"

for mode in 0777 1777 0775; do
    context "/var/lib/usher mode $mode"
    chmod "$mode" /var/lib/usher
    denied_while_untrusted "/var/lib/usher is writable by group or others (mode $mode)"
    chmod 0755 /var/lib/usher
    allowed_with_a_trusted_cache
done
