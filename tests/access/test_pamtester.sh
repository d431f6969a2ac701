# pamtester through the host's real sshd and sudo PAM stacks (the project's /etc/pam.d/usher
# included before common-account) with the cache usherd published: the account phase for every
# kind of user, the session phase creating homes, and a missing or corrupt cache.
access_setup_host

# pam SERVICE USER OPS... : runs pamtester; OUT/ERR/RC, with stdout and stderr merged in OUT.
pam() {
    local svc=$1 user=$2
    shift 2
    run pamtester -v "$svc" "$user" "$@"
    OUT="$OUT$ERR"
}
pam_ok() { pam "$@"; [ "$RC" = 0 ] || { echo "FAIL: pamtester $*: exit $RC"; _show output "$OUT"; exit 1; } >&2; echo "ok: pamtester $*"; }
pam_refused() { # SUBSTRING SERVICE USER OPS...
    local sub=$1
    shift
    pam "$@"
    if [ "$RC" = 0 ] || ! grep -qF -- "$sub" <<<"$OUT"; then
        { echo "FAIL: pamtester $*: expected a refusal with [$sub]"; echo "  exit $RC"; _show output "$OUT"; } >&2
        exit 1
    fi
    echo "ok: pamtester $* refused: $sub"
}

context "account phase, good cache"
mark
pam_ok sshd alice acct_mgmt
pam_ok sudo alice acct_mgmt
pam_ok sshd bob acct_mgmt
pam_refused "Permission denied" sudo bob acct_mgmt
assert_contains "$OUT" "Your directory account is not allowed to use sudo on this host"
pam_refused "Permission denied" sshd carol acct_mgmt
assert_contains "$OUT" "Your directory account is not allowed to log in to this host"
pam_refused "User account has expired" sshd erin acct_mgmt
assert_contains "$OUT" "Your directory account is deactivated"
pam_refused "User account has expired" sudo erin acct_mgmt
pam_ok sshd root acct_mgmt
pam_ok sshd localop acct_mgmt
wait_log syslog "pam_usher(sshd:account): user carol: not in a login group on this host; denied" "carol logged"
wait_log syslog "pam_usher(sshd:account): user erin: account deactivated in the directory; denied" "erin logged"
wait_log syslog "pam_usher(sudo:account): user bob: not in a sudo group on this host; denied" "bob's sudo logged"
# Not in the cache, not local: pam_usher ignores, the rest of the stack (pam_unix) refuses.
mark
pam_refused "" sshd nobody-at-all acct_mgmt
no_log syslog "pam_usher(sshd:account): user nobody-at-all" "pam_usher ignores a user it does not manage"

context "session phase"
[ ! -e /home/bob ] || fail "/home/bob exists already"
mark
pam_ok sshd bob open_session close_session
assert_eq "700 5002:5002" "$(stat -c '%a %u:%g' /home/bob)" "bob's home"
wait_log syslog "pam_usher(sshd:session): user bob: home directory created" "creation logged"
pam_ok sshd bob open_session close_session
pam_ok sshd root open_session close_session
pam_ok sshd localop open_session close_session
# A user refused in the account phase never gets a session from sshd; the session phase itself
# still ensures a directory user's home (the account phase is what decides access).
pam_ok sshd carol open_session close_session
assert_eq "700 5003" "$(stat -c '%a %u' /home/carol)" "carol's home"
# A home that is a symlink is refused and nothing is created through it (session optional: the
# stack still succeeds, the module logs the refusal).
mkdir -p "$NS/elsewhere"
ln -s "$NS/elsewhere" /home/dave
mark
pam_ok sshd dave open_session close_session
wait_log syslog "pam_usher(sshd:session): user dave:" "dave's refused home logged"
assert_contains "$LOG_LINE" "symlink"
assert_eq "" "$(ls -A "$NS/elsewhere")" "nothing created through the symlink"
assert_eq "0" "$(stat -c %u "$NS/elsewhere")" "the symlink target was not chowned"

context "account and session phases, cache missing"
mv "$USHER_CACHE" "$NS/cache.saved"
mark
pam_refused "Authentication service cannot retrieve authentication info" sshd alice acct_mgmt
assert_contains "$OUT" "Directory accounts are unavailable on this host right now"
pam_refused "Authentication service cannot retrieve authentication info" sudo alice acct_mgmt
pam_ok sshd root acct_mgmt
pam_ok sshd localop acct_mgmt
pam_ok sudo localop acct_mgmt
wait_log syslog "pam_usher(sshd:account): user alice: Usher cache unreadable and not a local account; denied (fail closed)" "fail closed logged"
mark
# With the cache gone NSS does not know erin, so pam_unix fails the session; pam_usher must only
# log and create nothing.
pam sshd erin open_session close_session
[ ! -e /home/erin ] || fail "a home was created with the cache missing"
wait_log syslog "pam_usher(sshd:session): user erin: Usher cache unreadable; home directory not checked" "session: logged, not failed"

context "account and session phases, cache corrupt"
head -c 100 /dev/urandom >"$USHER_CACHE"
pam_refused "Authentication service cannot retrieve authentication info" sshd alice acct_mgmt
pam_refused "Authentication service cannot retrieve authentication info" sshd bob acct_mgmt
pam_ok sshd root acct_mgmt
pam_ok sshd localop acct_mgmt
mark
pam sshd erin open_session close_session
[ ! -e /home/erin ] || fail "a home was created with a corrupt cache"
wait_log syslog "pam_usher(sshd:session): user erin: Usher cache unreadable; home directory not checked" "session: logged"
printf 'SQLite format 3\0 not a real database\n' >"$USHER_CACHE"
pam_refused "Authentication service cannot retrieve authentication info" sshd alice acct_mgmt
pam_ok sshd localop acct_mgmt
: >"$USHER_CACHE"
pam_refused "Authentication service cannot retrieve authentication info" sshd alice acct_mgmt
pam_ok sshd root acct_mgmt

context "cache republished by usherd"
rm -f "$USHER_CACHE"
usher_sync --force
pam_ok sshd alice acct_mgmt
pam_refused "User account has expired" sshd erin acct_mgmt
pam_ok sshd erin open_session close_session
assert_eq "700 5005" "$(stat -c '%a %u' /home/erin)" "erin's home, now that the cache is back"
