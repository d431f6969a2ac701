#!/bin/bash
# pam_usher.so through the real libpam with pamtester: the account phase for every kind of user,
# with a good, missing, corrupt and wrong-version cache; home creation in the session phase; the
# syslog lines; a rough time per pam_acct_mgmt call.
#
# Runs INSIDE the private test host (never against the real /etc):
#   unshare --mount --propagation private --pid --fork --mount-proc \
#       bash -c '. /work/shared/e2e/ns-setup.sh; pam-module/tests/pamtester.sh'
# It refuses to run unless ns-setup.sh's environment (NS, USHER_NS_LOG) is there.
#
# Needs the built binaries (cargo build --release -p usher-pam --examples):
#   USHER_PAM_SO       libpam_usher.so      (default: $TARGET/release/libpam_usher.so)
#   USHER_MKCACHE      examples/mkcache     (default: $TARGET/release/examples/mkcache)
#   USHER_ACCT_BENCH   examples/acct_bench  (default: $TARGET/release/examples/acct_bench; optional)
# where TARGET is $CARGO_TARGET_DIR or the workspace's target/.
# Exit status: 0 when every check passed.
set -uo pipefail

if [ -z "${NS:-}" ] || [ -z "${USHER_NS_LOG:-}" ] || [ ! -S /dev/log ]; then
    echo "pamtester.sh: run me inside the test namespace (source ns-setup.sh first)" >&2
    exit 2
fi
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
target=${CARGO_TARGET_DIR:-$here/../../target}
so_built=${USHER_PAM_SO:-$target/release/libpam_usher.so}
mkcache=${USHER_MKCACHE:-$target/release/examples/mkcache}
bench=${USHER_ACCT_BENCH:-$target/release/examples/acct_bench}
for f in "$so_built" "$mkcache"; do
    [ -x "$f" ] || [ -f "$f" ] || { echo "pamtester.sh: missing $f (build it first)" >&2; exit 2; }
done
command -v pamtester >/dev/null || { echo "pamtester.sh: pamtester not installed" >&2; exit 2; }

# The module under the name service files use, in a root-owned directory.
moddir=$NS/pam-module
mkdir -p -m 0755 "$moddir"
so=$moddir/pam_usher.so
install -m 0644 "$so_built" "$so"
cache=/var/lib/usher/cache.db

# usher-test: the module then pam_permit, as in a real stack (IGNORE lets the rest decide).
# usher-only: the module alone, so IGNORE shows as a failure (PAM fails a stack nobody decided).
# usher-sudo: a service named as a sudo service through the module argument.
cat >/etc/pam.d/usher-test <<EOF
account required $so
account required pam_permit.so
session required $so home_root=/home
session required pam_permit.so
EOF
cat >/etc/pam.d/usher-only <<EOF
account required $so
session required $so home_root=/home
EOF
cat >/etc/pam.d/usher-sudo <<EOF
account required $so sudo_services=usher-sudo,sudo
account required pam_permit.so
EOF

# Local accounts (in the overlay's /etc/passwd): localbob only local, localdup also in the cache.
echo 'localbob:x:2001:2001::/home/localbob:/bin/sh' >>/etc/passwd
echo 'localdup:x:2002:2002::/home/localdup:/bin/sh' >>/etc/passwd

# name:uid:home:active:can_login:can_sudo
publish() {
    "$mkcache" "$cache" \
        alice:100001:/home/alice:1:1:1 \
        bob:100002:/home/bob:1:1:0 \
        carol:100003:/srv/carol:1:1:0 \
        dave:100004:/home/dave:0:1:1 \
        erin:100005:/home/erin:1:0:0 \
        frank:100006:/home/eng/frank:1:1:0 \
        gina:100007:/home/ops/gina:1:1:0 \
        localdup:100008:/home/localdup:0:0:0 >/dev/null
}
publish

pass=0
fail=0
ok() { pass=$((pass + 1)); echo "  ok: $*"; }
bad() { fail=$((fail + 1)); echo "  FAIL: $*"; }

# expect RC DESC -- COMMAND...: runs the command (with a transcript), checks its exit status.
expect() {
    local want=$1 desc=$2
    shift 3
    echo "\$ $*"
    local out rc
    out=$("$@" 2>&1)
    rc=$?
    [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/    /'
    if [ "$rc" -eq "$want" ]; then ok "$desc"; else bad "$desc (exit $rc, wanted $want)"; fi
    LAST_OUT=$out
}
# expect_out SUBSTRING DESC: the last command's output contains SUBSTRING.
expect_out() {
    if printf '%s\n' "$LAST_OUT" | grep -qF -- "$1"; then ok "$2"; else bad "$2 (no \"$1\" in output)"; fi
}
log_mark() { LOG_MARK=$(wc -l <"$USHER_NS_LOG" 2>/dev/null || echo 0); }
# new_log_lines: syslog lines written by pam_usher since the last log_mark.
new_log_lines() { tail -n +"$((LOG_MARK + 1))" "$USHER_NS_LOG" | grep 'pam_usher(' || true; }
# expect_log N SUBSTRING DESC: exactly N new pam_usher lines, each containing SUBSTRING.
expect_log() {
    local n=$1 sub=$2 desc=$3 lines count
    sleep 0.1 # the sink is asynchronous
    lines=$(new_log_lines)
    count=$(printf '%s' "$lines" | grep -c . || true)
    [ -n "$lines" ] && printf '%s\n' "$lines" | sed 's/^/    syslog: /'
    if [ "$count" -eq "$n" ] && { [ "$n" -eq 0 ] || [ "$(printf '%s\n' "$lines" | grep -cF -- "$sub")" -eq "$n" ]; }; then
        ok "$desc"
    else
        bad "$desc ($count line(s), wanted $n with \"$sub\")"
    fi
}

# account USER SERVICE RESULT: RESULT is success, ignore, expired, denied or unavail.
account() {
    local user=$1 svc=$2 want=$3
    log_mark
    case $want in
    success)
        expect 0 "$user/$svc: allowed" -- pamtester "$svc" "$user" acct_mgmt
        expect_log 1 "allowed" "$user/$svc: one info line"
        ;;
    ignore)
        expect 0 "$user/$svc: stack passes (module ignored)" -- pamtester usher-test "$user" acct_mgmt
        expect 1 "$user/$svc: module alone does not decide (IGNORE)" -- pamtester usher-only "$user" acct_mgmt
        ;;
    expired)
        expect 1 "$user/$svc: refused" -- pamtester "$svc" "$user" acct_mgmt
        expect_out "User account has expired" "$user/$svc: PAM_ACCT_EXPIRED"
        expect_out "deactivated" "$user/$svc: user told"
        expect_log 1 "deactivated" "$user/$svc: one syslog line"
        ;;
    denied)
        expect 1 "$user/$svc: refused" -- pamtester "$svc" "$user" acct_mgmt
        expect_out "Permission denied" "$user/$svc: PAM_PERM_DENIED"
        expect_out "not allowed" "$user/$svc: user told"
        expect_log 1 "denied" "$user/$svc: one syslog line"
        ;;
    unavail)
        expect 1 "$user/$svc: refused" -- pamtester "$svc" "$user" acct_mgmt
        expect_out "Authentication service cannot retrieve authentication info" "$user/$svc: PAM_AUTHINFO_UNAVAIL"
        expect_out "unavailable" "$user/$svc: user told"
        expect_log 1 "fail closed" "$user/$svc: one syslog line"
        ;;
    esac
}

echo "=== account phase, good cache"
account alice usher-test success
account alice usher-sudo success
account bob usher-test success
account bob usher-sudo denied
account erin usher-test denied
account dave usher-test expired
account dave usher-sudo expired
account nobody-at-all usher-test ignore
log_mark
account root usher-test ignore
account localbob usher-test ignore
expect_log 0 "" "unmanaged and local users: no syslog line"
log_mark
account localdup usher-test ignore
expect_log 2 "local account also present in the Usher cache" "local name also in the cache: local wins, logged"
log_mark
expect 1 "erin, PAM_SILENT: refused" -- pamtester usher-test erin 'acct_mgmt(PAM_SILENT)'
expect_out "Permission denied" "erin, PAM_SILENT: PAM_PERM_DENIED"
if printf '%s\n' "$LAST_OUT" | grep -q "not allowed"; then bad "erin, PAM_SILENT: user not told"; else ok "erin, PAM_SILENT: user not told"; fi
expect_log 1 "denied" "erin, PAM_SILENT: still logged"

echo "=== session phase"
log_mark
expect 0 "alice: session opens" -- pamtester usher-test alice open_session close_session
expect_log 1 "home directory created" "alice: creation logged"
expect 0 "alice: home is 0700 100001:100001" -- test "$(stat -c '%a %u:%g' /home/alice)" = "700 100001:100001"
expect 0 "alice: skel copied, owned by her" -- bash -c '
    for f in /etc/skel/.[!.]* /etc/skel/*; do
        [ -e "$f" ] || [ -L "$f" ] || continue
        n=/home/alice/$(basename "$f")
        [ -e "$n" ] || [ -L "$n" ] || { echo "missing $n"; exit 1; }
        [ "$(stat -c %u "$n")" = 100001 ] || { echo "owner of $n"; exit 1; }
    done'
echo "marker" >/home/alice/.profile
chmod 0750 /home/alice
log_mark
expect 0 "alice: second session" -- pamtester usher-test alice open_session close_session
expect 0 "alice: existing home untouched" -- bash -c 'test "$(cat /home/alice/.profile)" = marker && test "$(stat -c %a /home/alice)" = 750'
expect_log 0 "" "alice: nothing logged the second time"
log_mark
expect 0 "gina: home under a missing intermediate directory" -- pamtester usher-test gina open_session
expect 0 "gina: /home/ops root-owned, home hers" -- test "$(stat -c %u /home/ops) $(stat -c '%a %u' /home/ops/gina)" = "0 700 100007"
expect_log 1 "home directory created" "gina: creation logged"
log_mark
expect 1 "carol: home outside home_root refused" -- pamtester usher-test carol open_session
expect_out "Cannot make/remove an entry for the specified session" "carol: PAM_SESSION_ERR"
expect_out "could not be created" "carol: user told"
expect_log 1 "not below the home root" "carol: one syslog line"
expect 1 "carol: nothing created" -- test -e /srv/carol
mkdir -p "$NS/victim"
ln -s "$NS/victim" /home/eng
log_mark
expect 1 "frank: symlink component refused" -- pamtester usher-test frank open_session
expect_log 1 "is a symlink" "frank: one syslog line"
expect 1 "frank: nothing created through the symlink" -- test -e "$NS/victim/frank"
log_mark
expect 0 "root: session untouched" -- pamtester usher-test root open_session close_session
expect 0 "nobody-at-all: session untouched" -- pamtester usher-test nobody-at-all open_session close_session
expect 1 "nobody-at-all: no home" -- test -e /home/nobody-at-all
expect_log 0 "" "unmanaged sessions: no syslog line"

echo "=== broken caches"
broken() {
    local how=$1
    echo "--- cache $how"
    account alice usher-test unavail
    account bob usher-sudo unavail
    account nobody-at-all usher-test unavail
    log_mark
    expect 0 "root ($how cache): passes" -- pamtester usher-test root acct_mgmt
    expect 0 "localbob ($how cache): passes" -- pamtester usher-test localbob acct_mgmt
    expect_log 2 "cache unreadable; left to the local rules" "local users ($how cache): logged, not refused"
    log_mark
    expect 0 "bob ($how cache): session not failed by the module" -- pamtester usher-test bob open_session
    expect 1 "bob ($how cache): no home created" -- test -e /home/bob
    expect_log 1 "home directory not checked" "bob ($how cache): logged"
}
rm -f "$cache"
broken missing
printf 'SQLite format 3\0 but not really a database, just garbage bytes\n' >"$cache"
broken corrupt
publish
head -c 3000 "$cache" >"$cache.tmp" && mv "$cache.tmp" "$cache"
broken truncated
publish
python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("PRAGMA user_version=999"); c.commit(); c.close()' "$cache"
broken wrong-version
echo "--- cache republished"
publish
account alice usher-test success
account dave usher-test expired

echo "=== exports"
expect 0 "only the six pam_sm_* exported" -- sh "$here/../check-exports.sh" "$so"

echo "=== timing"
if [ -x "$bench" ]; then
    for u in alice dave root nobody-at-all; do
        echo "\$ acct_bench usher-only $u 2000"
        "$bench" usher-only "$u" 2000 | sed 's/^/    /'
    done
else
    echo "    (acct_bench not built; skipped)"
fi
start=$(date +%s%N)
for _ in $(seq 100); do pamtester usher-test alice acct_mgmt >/dev/null 2>&1; done
end=$(date +%s%N)
echo "    100 x pamtester process (fork+exec+pam_start+acct_mgmt): $(((end - start) / 100000)) us each"

echo "=== $pass passed, $fail failed"
[ "$fail" -eq 0 ]
