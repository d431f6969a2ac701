# Root and a local account (localop, in the overlay's /etc/passwd + /etc/shadow) log in over the
# same sshd with certificates from the same CA through a principals file, and pass the sshd and
# sudo PAM stacks, whatever state the cache is in (good, missing, corrupt); directory users are
# refused while the cache is missing or corrupt (fail closed), and get back in once it is
# republished.
access_setup_host
cert root root ca root-breakglass
cert localop localop ca localop
cert alice alice ca alice

logins_local() { # WHAT
    ssh_cert root root root 'id -un'
    login_ok "root, $1"
    assert_eq root "$OUT"
    ssh_cert localop localop localop 'id; pwd'
    login_ok "localop, $1"
    assert_eq "$(printf 'uid=2001(localop) gid=2001(localop) groups=2001(localop)\n/home/localop')" "$OUT"
    assert_ok pamtester sshd localop acct_mgmt
    assert_ok pamtester sshd root acct_mgmt
    assert_ok pamtester sudo localop acct_mgmt
    assert_ok pamtester sshd localop open_session close_session
    assert_output localop sudo -n -u localop id -un
}

context "good cache"
mark
logins_local "good cache"
no_log syslog "pam_usher(sshd:account): user root" "pam_usher says nothing about root"
no_log syslog "pam_usher(sshd:account): user localop" "pam_usher says nothing about localop"
ssh_cert alice alice alice 'id -un'
login_ok "alice, good cache"
# A certificate for the local principal "localop" is not one for the directory user alice.
ssh_cert alice localop localop true
login_refused "localop's certificate used for alice"

context "cache missing"
mv "$USHER_CACHE" "$NS/cache.saved"
mark
logins_local "cache missing"
wait_log syslog "pam_usher(sshd:account): user localop: local account; Usher cache unreadable; left to the local rules" \
    "pam_usher leaves localop to the local rules"
assert_fails getent passwd alice
ssh_cert alice alice alice true
login_refused "alice with the cache missing (unknown to NSS)"
# With the cache gone NSS no longer knows alice, so sshd stops at "Invalid user"; pam_usher's own
# decision for her is checked directly:
run pamtester sshd alice acct_mgmt
assert_eq 1 "$RC" "pamtester sshd alice: refused"
assert_contains "$OUT$ERR" "Authentication service cannot retrieve authentication info"
assert_contains "$OUT$ERR" "Directory accounts are unavailable on this host right now"
wait_log syslog "pam_usher(sshd:account): user alice: Usher cache unreadable and not a local account; denied (fail closed)" \
    "pam_usher fails closed for alice"

context "cache corrupt"
printf 'SQLite format 3\0 this is not a database at all\n' >"$USHER_CACHE"
mark
logins_local "corrupt cache"
run pamtester sshd alice acct_mgmt
assert_eq 1 "$RC" "pamtester sshd alice with a corrupt cache: refused"
wait_log syslog "user alice: Usher cache unreadable and not a local account; denied (fail closed)" "fail closed"

context "cache truncated (NSS may still answer from what it can read, PAM must not)"
head -c 4096 "$NS/cache.saved" >"$USHER_CACHE"
logins_local "truncated cache"
run pamtester sshd alice acct_mgmt
assert_eq 1 "$RC" "pamtester sshd alice with a truncated cache: refused"

context "cache republished"
usher_sync --force
ssh_cert alice alice alice 'id -un'
login_ok "alice after usherd republished the cache"
logins_local "after republishing"
