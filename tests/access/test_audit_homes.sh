# Issue 11 item 2: a directory user's home is never planted in someone else's home.
#
# Part 1, the real chain (usherd's mapping, then sshd + pam_usher's session): directory users whose
# homeDirectory is inside a local home (/home/localadmin/bin, the audit's case: Debian's .profile
# puts ~/bin on localadmin's PATH), equal to a local home, equal to another directory user's home,
# below a symlink into a local home, below a directory a local user owns. After a real ssh login
# (and `pamtester sshd USER open_session`) nothing exists at those paths and nobody's home changed
# owner; each user has a home of their own (the default one) or is not served, as the mapping
# decides (hostd, branch wt-mapping: it keeps the user with the default home /home/<name> for a
# home equal to or inside a local or an older directory user's home; it does not look at the file
# system, so the symlink and the user-owned parent reach pam_usher, which refuses them).
#
# Part 2, pam_usher alone (defence in depth): an old or forged cache that still carries those homes
# (published with pam-module's mkcache example). The session creates nothing, logs one error line
# and returns SESSION_ERR; with the shipped `session optional` line the ssh login goes on without a
# home ("Could not chdir"). Covers also a group-writable and a sticky world-writable parent, and an
# existing home owned by another user (never chowned).
#
# On the old code: part 1 fails at once (usherd serves mallory /home/localadmin/bin, lars
# /home/svc, trudy /home/bob; trudy's login creates /home/bob owned by trudy, mallory's
# /home/localadmin/bin owned by mallory, owned's /home/team/owned). Part 2 with the old pam_usher:
# the session succeeds and creates /home/localadmin/bin, /home/team/owned, /home/gw/gw and
# /home/tmpish/sticky, owned by the directory users; lars and trudy get SUCCESS (a warning only).
# Part 1 needs the mapping's home rules (branch wt-mapping); part 2 needs only this pam_usher.
access_setup_host
MKCACHE=$USHER_TARGET/release/examples/mkcache

pam() { # SERVICE USER OPS...: pamtester, stdout and stderr merged in OUT
    local svc=$1 user=$2
    shift 2
    run pamtester -v "$svc" "$user" "$@"
    OUT="$OUT$ERR"
}
home_of() { getent passwd "$1" | cut -d: -f6; }
# owner PATH: "uid:gid mode" of PATH, or "absent".
owner() { stat -c '%u:%g %a' "$1" 2>/dev/null || echo absent; }
# snapshot_tree: every path under /home with its owner, mode and type.
snapshot_tree() { find /home -xdev -printf '%p %U:%G %m %y\n' | sort; }

local_user localadmin 2002
echo '# Debian: if [ -d "$HOME/bin" ]; then PATH="$HOME/bin:$PATH"; fi' >/home/localadmin/.profile
chown 2002:2002 /home/localadmin/.profile
local_user localsvc 2003 /home/svc
# A root-made symlink into localadmin's home, and a directory localadmin owns, both in /home.
ln -s /home/localadmin /home/linked
mkdir -m 0755 /home/team && chown 2002:2002 /home/team

dir_add_user mallory 5020 "u[POSIX_U]['homeDirectory'] = '/home/localadmin/bin'"
dir_add_user lars 5021 "u[POSIX_U]['homeDirectory'] = '/home/svc'"
dir_add_user trudy 5022 "u[POSIX_U]['homeDirectory'] = '/home/bob'"
dir_add_user sym 5023 "u[POSIX_U]['homeDirectory'] = '/home/linked/sym'"
dir_add_user owned 5024 "u[POSIX_U]['homeDirectory'] = '/home/team/owned'"
dir_join ops mallory lars trudy sym owned
usher_sync
for u in mallory lars trudy sym owned bob; do user_cert "$u"; done

context "part 1: what the mapping publishes"
for u in mallory lars trudy sym owned bob; do echo "  $u: $(getent passwd "$u" || echo '(not served)')"; done
# Never a home equal to or inside a local home; bob and trudy never share one.
for u in mallory lars trudy sym owned; do
    h=$(home_of "$u")
    case $h in
    /home/localadmin | /home/localadmin/* | /home/svc | /home/svc/*)
        fail "$u is served with home $h, a local account's" ;;
    esac
done
assert_eq /home/bob "$(home_of bob)" "bob keeps his home"
[ "$(home_of trudy)" != /home/bob ] || fail "trudy is served with bob's home"
# The mapping keeps these users with the default home ([mapping] home_root/<name>).
for u in mallory lars trudy; do
    assert_eq "/home/$u" "$(home_of "$u")" "$u: refused home replaced by the default one"
done
# Which directories exist is no input to the mapping: these two are served as given, and
# pam_usher refuses them at login.
assert_eq "/home/linked/sym" "$(home_of sym)" "sym's home as the directory gives it"
assert_eq "/home/team/owned" "$(home_of owned)" "owned's home as the directory gives it"

context "part 1: logins (trudy first, before bob ever logged in)"
before=$(snapshot_tree)
for u in trudy mallory lars; do
    ssh_cert "$u" "$u" "$u" 'id -un; pwd'
    login_ok "$u logs in"
    assert_eq "$(printf '%s\n/home/%s' "$u" "$u")" "$OUT" "$u in a home of their own"
    assert_eq "$(id -u "$u"):$(id -g "$u") 700" "$(owner "/home/$u")" "/home/$u is $u's"
done
for spec in "sym|/home/linked is a symlink" "owned|/home/team is owned by uid 2002, not root"; do
    u=${spec%%|*} why=${spec#*|}
    mark
    ssh_cert "$u" "$u" "$u" 'id -un; pwd'
    login_ok "$u logs in (session optional)"
    assert_eq "$(printf '%s\n/' "$u")" "$OUT" "$u without a home"
    assert_contains "$ERR" "Could not chdir to home directory" "sshd tells $u"
    wait_log syslog "pam_usher(sshd:session): user $u: home directory creation refused: $why" "pam_usher refused $u's home"
    pam sshd "$u" open_session close_session
done
assert_eq "absent" "$(owner /home/localadmin/bin)" "nothing at /home/localadmin/bin"
assert_eq "absent" "$(owner /home/localadmin/sym)" "nothing at /home/localadmin/sym (via the symlink)"
assert_eq "absent" "$(owner /home/team/owned)" "nothing in the directory localadmin owns"
assert_eq "absent" "$(owner /home/bob)" "trudy's login made no /home/bob"
assert_eq "2002:2002 755" "$(owner /home/localadmin)" "localadmin's home unchanged"
assert_eq "2003:2003 755" "$(owner /home/svc)" "localsvc's home unchanged"
assert_eq "2002:2002 755" "$(owner /home/team)" "/home/team unchanged"
ssh_cert bob bob bob 'id -un; pwd'
login_ok "bob logs in"
assert_eq "$(printf 'bob\n/home/bob')" "$OUT" "bob in his own home"
assert_eq "5002:5002 700" "$(owner /home/bob)" "bob's home is bob's"
# Every other path that changed is the own home of the user who logged in.
changed=$(comm -13 <(echo "$before") <(snapshot_tree) | awk '{print $1}' | grep -v '^/home/bob' || true)
for p in $changed; do
    case $p in
    /home/mallory* | /home/lars* | /home/trudy* | /home/sym* | /home/owned*) ;;
    *) fail "a login changed $p" ;;
    esac
done
echo "ok: only the users' own homes were created"

context "part 2: an old or forged cache with those homes (pam_usher alone)"
rm -rf /home/bob /home/mallory /home/lars /home/trudy /home/sym /home/owned
mkdir -m 0700 /home/bob && chown 5002:5002 /home/bob
mkdir -m 0775 /home/gw && mkdir -m 1777 /home/tmpish
"$MKCACHE" /var/lib/usher/cache.db \
    alice:5001:/home/alice:1:1:1 bob:5002:/home/bob:1:1:0 \
    mallory:5020:/home/localadmin/bin:1:1:0 lars:5021:/home/svc:1:1:0 \
    trudy:5022:/home/bob:1:1:0 sym:5023:/home/linked/sym:1:1:0 owned:5024:/home/team/owned:1:1:0 \
    gw:5025:/home/gw/gw:1:1:0 sticky:5026:/home/tmpish/sticky:1:1:0 \
    sysdir:5027:/etc/cron.d:1:1:0 >/dev/null
chmod 0644 /var/lib/usher/cache.db
assert_eq "/home/localadmin/bin" "$(home_of mallory)" "the forged cache serves mallory's planted home"
# A service where the session line is required, to see the module's own return code.
printf 'account required pam_permit.so\nsession required %s home_root=/home\n' "$PAM_SO" >/etc/pam.d/usher-home-test
before=$(snapshot_tree)
for spec in \
    "mallory|inside the home of local account localadmin (/home/localadmin)" \
    "lars|equal to the home of local account localsvc (/home/svc)" \
    "trudy|home directory exists but is owned by uid 5002" \
    "sym|/home/linked is a symlink" \
    "owned|/home/team is owned by uid 2002, not root" \
    "gw|/home/gw is writable by group or others (mode 775)" \
    "sticky|/home/tmpish is writable by group or others (mode 1777)" \
    "sysdir|/etc/cron.d is not below the home root /home"; do
    u=${spec%%|*} why=${spec#*|}
    mark
    # sshd's stack (session optional): the session opens, the user is told, nothing is made.
    pam sshd "$u" open_session
    assert_eq 0 "$RC" "$u: sshd's session stack goes on"
    assert_match "$OUT" "Your home directory (could not be created|belongs to another account)" "$u is told"
    # The module's own code, through a service where it is required: SESSION_ERR.
    pam usher-home-test "$u" open_session
    assert_contains "$OUT" "Cannot make/remove an entry for the specified session" "$u: pam_usher returns SESSION_ERR"
    wait_log syslog "pam_usher(sshd:session): user $u: home directory " "$u: one line"
    assert_contains "$LOG_LINE" "<83>" "$u: at LOG_ERR (authpriv.err)"
    assert_contains "$LOG_LINE" "$why"
    assert_eq 1 "$(syslog_new | grep -c "pam_usher(sshd:session): user $u:")" "$u: exactly one line"
    assert_eq 1 "$(syslog_new | grep -c "pam_usher(usher-home-test:session): user $u:")" "$u: one line for the second call"
done
assert_eq "$before" "$(snapshot_tree)" "nothing under /home created or changed"

context "part 2: a real ssh login with the forged cache goes on without a home"
echo mallory >"$PRINCIPALS_DIR/5020" && chmod 0644 "$PRINCIPALS_DIR/5020"
mark
ssh_cert mallory mallory mallory 'id -un; pwd'
login_ok "mallory logs in (session optional)"
assert_eq "$(printf 'mallory\n/')" "$OUT" "mallory without a home"
assert_contains "$ERR" "Could not chdir to home directory /home/localadmin/bin" "sshd tells mallory"
wait_log syslog "pam_usher(sshd:session): user mallory: home directory creation refused: /home/localadmin/bin is inside the home of local account localadmin" "pam_usher's line"
assert_eq "absent" "$(owner /home/localadmin/bin)" "still nothing at /home/localadmin/bin"
assert_eq "$before" "$(snapshot_tree)" "nothing under /home created or changed"
