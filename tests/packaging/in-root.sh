#!/bin/bash
# The install test proper, run by run.sh as PID 1 of fresh mount, PID and network namespaces:
#   unshare --mount --propagation private --pid --fork --mount-proc --net bash in-root.sh TAR DEB RPM
# TAR is a Debian root made by debootstrap. It is unpacked into a tmpfs that exists only in this
# mount namespace, and every command runs chrooted into it; when this script ends, the kernel ends
# every process of the namespace and the mounts go with it. The machine's own /etc is never used.
#
# Sequence: snapshot /etc; dpkg -i; check nsswitch.conf, the PAM stack, sshd (reloaded after
# sshd -t), the files; usherd --once from a file source; getent, id, usherctl, pamtester for
# allowed and refused users, root with and without a cache; dpkg -i again (nothing added twice);
# dpkg -r (config kept, nsswitch and PAM back byte for byte; refused while a PAM file still names
# pam_usher); dpkg -P (back byte for byte); then the rpm's scriptlets, with rpm --root.
set -uo pipefail
tarball=$1 deb=$2 rpm=$3

pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; failures=$((${failures:-0} + 1)); }
check() { local name=$1; shift; if "$@" >/dev/null; then pass "$name"; else fail "$name"; fi; }

if [ "$$" != 1 ]; then echo "in-root.sh: must be PID 1 of a new PID namespace" >&2; exit 2; fi

# --- the root ----------------------------------------------------------------------------------
mount -t tmpfs -o mode=0755 usherpkg /run
scratch=/run/usher-pkg
R=$scratch/root
mkdir -p "$R"
if ! timeout 300 tar --numeric-owner -xf "$tarball" -C "$R"; then fail "unpack the Debian root"; exit 1; fi
mount -t proc proc "$R/proc"
mount -t tmpfs -o mode=0755 usherdev "$R/dev"
for node in null zero full random urandom tty; do
    touch "$R/dev/$node"; mount --bind "/dev/$node" "$R/dev/$node"
done
ln -s /proc/self/fd "$R/dev/fd"
mkdir -p "$R/dev/pts" "$R/dev/shm"
mount -t tmpfs -o mode=0755 usherrun "$R/run"
mkdir -p "$R/run/sshd" "$R/run/lock"
ip link set lo up
# Syslog from the root (PAM, sshd, usherd) lands in $syslog.
syslog=$scratch/syslog.log
: > "$syslog"
python3 -c '
import os, socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o666)
with open(sys.argv[2], "ab", buffering=0) as out:
    while True:
        out.write(sock.recv(65536).rstrip(b"\0\n") + b"\n")
' "$R/dev/log" "$syslog" </dev/null >/dev/null 2>&1 &
for _ in $(seq 100); do [ -S "$R/dev/log" ] && break; sleep 0.05; done
# As in any chroot: service actions through invoke-rc.d are refused.
printf '#!/bin/sh\nexit 101\n' > "$R/usr/sbin/policy-rc.d"; chmod 755 "$R/usr/sbin/policy-rc.d"
cp "$deb" "$R/tmp/usher.deb"

in_root() { # in_root TIMEOUT COMMAND...: run chrooted, clean environment
    local t=$1; shift
    timeout "$t" chroot "$R" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}
# A listing of everything under the given root-relative paths: type, mode, owner, and content hash
# or link target. Two equal listings mean the trees are the same byte for byte.
manifest() {
    (cd "$R" && find "$@" -xdev -printf '%y %m %u:%g %p %l\n' 2>/dev/null | sort | while read -r type mode owner path target; do
        if [ "$type" = f ]; then echo "$type $mode $owner $path $(sha256sum < "$path" | cut -c1-16)"
        else echo "$type $mode $owner $path $target"; fi
    done)
}
same_as() { # same_as SNAPSHOT PATHS...: PASS/FAIL with the differences
    local name=$1 snap=$2; shift 2
    manifest "$@" > "$scratch/now"
    if diff -u "$snap" "$scratch/now" > "$scratch/diff"; then pass "$name"
    else fail "$name"; sed -n '3,$p' "$scratch/diff" | sed 's/^/    /'; fi
}
usher_tokens() { # how many times `usher` is named on the passwd, group and initgroups lines
    grep -E '^[[:space:]]*(passwd|group|initgroups)[[:space:]]*:' "$R/etc/nsswitch.conf" | sed 's/#.*//' | grep -ow usher | wc -l
}
pamtester_as() { # pamtester_as SERVICE USER OPERATION...
    in_root 30 pamtester -v "$@" > "$scratch/pamtester" 2>&1
}
sighups() { grep -c 'Received SIGHUP' "$syslog"; }
hupped() { # hupped N: sshd logs a SIGHUP beyond the first N within 5 s
    for _ in $(seq 50); do [ "$(sighups)" -gt "$1" ] && return 0; sleep 0.1; done
    return 1
}

# A PAM service for the session test, part of the baseline.
printf '@include common-session\n' > "$R/etc/pam.d/usher-test"

# sshd, running, so that the install's reload can be seen.
in_root 30 /usr/sbin/sshd -o ListenAddress=127.0.0.1 -o Port=2222
for _ in $(seq 100); do [ -s "$R/run/sshd.pid" ] && break; sleep 0.05; done
check "sshd runs in the root" test -s "$R/run/sshd.pid"

manifest etc var/lib/pam > "$scratch/before-install"
cp "$R/etc/nsswitch.conf" "$scratch/nsswitch.before"

# --- dpkg -i -----------------------------------------------------------------------------------
hups=$(sighups)
if in_root 300 dpkg -i /tmp/usher.deb > "$scratch/dpkg-i" 2>&1; then pass "dpkg -i usher.deb"
else fail "dpkg -i usher.deb"; sed 's/^/    /' "$scratch/dpkg-i"; fi
sed 's/^/    dpkg -i: /' "$scratch/dpkg-i"
check "dpkg: usher is installed (ii)" test "$(in_root 30 dpkg-query -W -f '${db:Status-Abbrev}' usher)" = "ii "

# nsswitch.conf: exactly the passwd and group lines changed, to "files usher systemd".
sed -E 's/^(passwd|group):([[:space:]]+)files/\1:\2files usher/' "$scratch/nsswitch.before" > "$scratch/nsswitch.want"
if ! cmp -s "$scratch/nsswitch.before" "$scratch/nsswitch.want" && cmp -s "$scratch/nsswitch.want" "$R/etc/nsswitch.conf"; then
    pass "install: nsswitch.conf gains usher after files on passwd and group, nothing else"
else fail "install: nsswitch.conf gains usher after files on passwd and group, nothing else"
    diff "$scratch/nsswitch.before" "$R/etc/nsswitch.conf" | sed 's/^/    /'; fi
grep -E '^(passwd|group):' "$R/etc/nsswitch.conf" | sed 's/^/    nsswitch.conf: /'

# PAM, through pam-auth-update.
check "install: common-account ends with 'account requisite pam_usher.so' (a denial is final)" \
    sh -c "grep -v '^#' '$R/etc/pam.d/common-account' | grep -v '^\$' | tail -1 | grep -qP '^account\trequisite\t+pam_usher\.so\s*\$'"
check "install: common-account keeps pam_unix, pam_deny and pam_permit before it" \
    sh -c "grep -q 'pam_unix.so' '$R/etc/pam.d/common-account' && grep -q 'requisite.*pam_deny.so' '$R/etc/pam.d/common-account' && grep -q 'required.*pam_permit.so' '$R/etc/pam.d/common-account'"
check "install: common-session has 'session optional pam_usher.so'" \
    grep -qP '^session\toptional\t+pam_usher\.so' "$R/etc/pam.d/common-session"
check "install: common-session-noninteractive has no pam_usher (homes at interactive logins only)" \
    sh -c "! grep -q pam_usher '$R/etc/pam.d/common-session-noninteractive'"
check "install: no other PAM file changed" \
    sh -c "cd '$R/etc/pam.d' && test \"\$(grep -l pam_usher * | tr '\n' ' ')\" = 'common-account common-session '"

# Files, directories, service.
check "install: libnss_usher.so.2 is in the linker cache" sh -c "chroot '$R' /sbin/ldconfig -p | grep -q 'libnss_usher.so.2 .*x86_64-linux-gnu/libnss_usher.so.2'"
check "install: pam_usher.so in the PAM module directory" test -f "$R/usr/lib/x86_64-linux-gnu/security/pam_usher.so"
check "install: /var/lib/usher is 0755 root, private/ 0700 root" \
    test "$(stat -c '%a %U' "$R/var/lib/usher") $(stat -c '%a %U' "$R/var/lib/usher/private")" = "755 root 700 root"
check "install: usherd.service enabled (multi-user.target.wants)" test -L "$R/etc/systemd/system/multi-user.target.wants/usherd.service"
check "install: no /etc/usher/usher.toml is written, only the example" \
    sh -c "test ! -e '$R/etc/usher/usher.toml' && test -f '$R/etc/usher/usher.toml.example'"
check "install: postinst says what to do next" grep -q 'Write /etc/usher/usher.toml' "$scratch/dpkg-i"
check "install: conffiles registered" \
    sh -c "chroot '$R' dpkg-query -W -f '\${Conffiles}' usher | grep -q /etc/ssh/sshd_config.d/usher.conf"

# sshd: checked, reloaded, and the drop-in in effect.
check "install: sshd reloaded after sshd -t (SIGHUP seen)" hupped "$hups"
in_root 30 /usr/sbin/sshd -T > "$scratch/sshd-T" 2>&1
check "install: sshd uses the drop-in (TrustedUserCAKeys, AuthorizedPrincipalsFile, AuthorizedPrincipalsCommand)" \
    sh -c "grep -qx 'trustedusercakeys /etc/usher/trusted_user_ca_keys' '$scratch/sshd-T' && grep -qx 'authorizedprincipalsfile /var/lib/usher/principals/%U' '$scratch/sshd-T' && grep -qx 'authorizedprincipalscommand /usr/sbin/usherctl principals %u' '$scratch/sshd-T'"

# Unconfigured: no cache; local accounts and root unaffected.
check "unconfigured: getent passwd root answers" in_root 10 getent passwd root
check "unconfigured: getent passwd alice finds nobody" sh -c "! chroot '$R' getent passwd alice"
if pamtester_as sshd root acct_mgmt; then pass "unconfigured: pamtester sshd root acct_mgmt succeeds (no cache needed)"
else fail "unconfigured: pamtester sshd root acct_mgmt"; sed 's/^/    /' "$scratch/pamtester"; fi
in_root 30 /usr/sbin/usherd --once --config /etc/usher/usher.toml.example > "$scratch/example" 2>&1
check "unconfigured: the example config parses (usherd only misses the token file)" \
    sh -c "grep -q 'scim-token' '$scratch/example' && ! grep -qiE 'unknown field|expected|invalid type|TOML' '$scratch/example'"

# --- configured --------------------------------------------------------------------------------
in_root 30 ssh-keygen -q -t ed25519 -N '' -C test-user-ca -f /root/user-ca > /dev/null
cp "$R/root/user-ca.pub" "$R/etc/usher/user-ca.pub"
cat > "$R/etc/usher/directory.json" <<'EOF'
{
 "Users": [
  {"id": "u1", "userName": "alice@example.com", "displayName": "Alice Archer", "active": true,
   "emails": [{"value": "alice@example.com", "primary": true}],
   "urn:usher:params:scim:schemas:extension:posix:2.0:User": {"uidNumber": 70001, "loginShell": "/bin/bash"}},
  {"id": "u2", "userName": "bert@example.com", "displayName": "Bert Baker", "active": true,
   "urn:usher:params:scim:schemas:extension:posix:2.0:User": {"uidNumber": 70002, "loginShell": "/bin/bash"}},
  {"id": "u3", "userName": "carol@example.com", "displayName": "Carol Cook", "active": false,
   "urn:usher:params:scim:schemas:extension:posix:2.0:User": {"uidNumber": 70003, "loginShell": "/bin/bash"}}
 ],
 "Groups": [
  {"id": "g1", "displayName": "ops", "members": [{"value": "u1"}, {"value": "u3"}],
   "urn:usher:params:scim:schemas:extension:posix:2.0:Group": {"gidNumber": 71001}},
  {"id": "g2", "displayName": "admins", "members": [{"value": "u1"}],
   "urn:usher:params:scim:schemas:extension:posix:2.0:Group": {"gidNumber": 71002}}
 ]
}
EOF
cat > "$R/etc/usher/usher.toml" <<'EOF'
[directory]
kind = "file"
path = "/etc/usher/directory.json"

[access]
login_groups = ["name:ops"]
sudo_groups = ["name:admins"]

[ssh]
user_ca_keys_file = "/etc/usher/user-ca.pub"
EOF
if in_root 60 /usr/sbin/usherd --once > "$scratch/usherd" 2>&1; then pass "configured: usherd --once syncs from the file source"
else fail "configured: usherd --once"; sed 's/^/    /' "$scratch/usherd"; fi
check "configured: cache.db 0644, state.json 0600" \
    test "$(stat -c %a "$R/var/lib/usher/cache.db") $(stat -c %a "$R/var/lib/usher/private/state.json")" = "644 600"
check "configured: getent passwd alice (uid 70001)" \
    sh -c "chroot '$R' getent passwd alice | grep -q '^alice:\*:70001:'"
check "configured: id alice lists ops and admins" \
    sh -c "chroot '$R' id alice | grep -q ops && chroot '$R' id alice | grep -q admins"
check "configured: /etc/sudoers.d/usher written (0440) and accepted by visudo -c" \
    sh -c "test \"\$(stat -c %a '$R/etc/sudoers.d/usher')\" = 440 && chroot '$R' visudo -c >/dev/null"
check "configured: /etc/usher/trusted_user_ca_keys holds the CA key" grep -q '^ssh-ed25519 ' "$R/etc/usher/trusted_user_ca_keys"
check "configured: usherctl status exits 0" in_root 30 usherctl status
check "configured: usherctl principals alice prints alice" sh -c "chroot '$R' usherctl principals alice | grep -qx alice"
if pamtester_as sshd alice acct_mgmt; then pass "pam: sshd account for alice (in ops) succeeds"
else fail "pam: sshd account for alice (in ops) succeeds"; sed 's/^/    /' "$scratch/pamtester"; fi
if pamtester_as sshd bert acct_mgmt; then fail "pam: sshd account for bert (not in ops) is refused"
else pass "pam: sshd account for bert (not in ops) is refused: $(grep -o 'Permission denied\|[A-Z][a-z ]*denied[a-z ]*' "$scratch/pamtester" | head -1)"; fi
if pamtester_as sshd carol acct_mgmt; then fail "pam: sshd account for carol (deactivated) is refused"
else pass "pam: sshd account for carol (deactivated) is refused"; fi
if pamtester_as sudo alice acct_mgmt; then pass "pam: sudo account for alice (in admins) succeeds"
else fail "pam: sudo account for alice (in admins) succeeds"; sed 's/^/    /' "$scratch/pamtester"; fi
if pamtester_as sshd root acct_mgmt; then pass "pam: sshd account for root succeeds"
else fail "pam: sshd account for root succeeds"; fi
check "pam: the refusals are logged by pam_usher" grep -q 'pam_usher.*bert' "$syslog"
if pamtester_as usher-test alice open_session close_session && [ "$(stat -c %u "$R/home/alice" 2>/dev/null)" = 70001 ]; then
    pass "pam: an interactive session creates alice's home, owned by 70001"
else fail "pam: an interactive session creates alice's home"; sed 's/^/    /' "$scratch/pamtester"; fi

# Break glass: a broken cache changes nothing for root.
cp "$R/var/lib/usher/cache.db" "$scratch/cache.good"
echo garbage > "$R/var/lib/usher/cache.db"
if pamtester_as sshd root acct_mgmt; then pass "break glass: root's account check succeeds with a garbage cache"
else fail "break glass: root's account check succeeds with a garbage cache"; fi
check "break glass: getent passwd root answers with a garbage cache" in_root 10 getent passwd root
if pamtester_as sshd alice acct_mgmt; then fail "break glass: alice is refused while the cache is unreadable (fail closed)"
else pass "break glass: alice is refused while the cache is unreadable (fail closed)"; fi
cp "$scratch/cache.good" "$R/var/lib/usher/cache.db"

# --- dpkg -i again: the upgrade path ---------------------------------------------------------------
cp "$R/etc/nsswitch.conf" "$scratch/nsswitch.installed"
cp -a "$R/etc/pam.d" "$scratch/pam.d.installed"
toml_sum=$(sha256sum < "$R/etc/usher/usher.toml")
if in_root 300 dpkg -i /tmp/usher.deb > "$scratch/dpkg-i2" 2>&1; then pass "reinstall: dpkg -i the same deb again"
else fail "reinstall: dpkg -i the same deb again"; sed 's/^/    /' "$scratch/dpkg-i2"; fi
check "reinstall: nsswitch.conf unchanged, usher named once per line ($(usher_tokens) for passwd+group)" \
    sh -c "cmp -s '$scratch/nsswitch.installed' '$R/etc/nsswitch.conf' && test $(usher_tokens) = 2"
check "reinstall: PAM files unchanged, pam_usher once in common-account and common-session" \
    sh -c "diff -r '$scratch/pam.d.installed' '$R/etc/pam.d' >/dev/null && test \$(grep -c pam_usher '$R/etc/pam.d/common-account') = 1 && test \$(grep -c pam_usher '$R/etc/pam.d/common-session') = 1"
check "reinstall: the operator's usher.toml untouched" test "$(sha256sum < "$R/etc/usher/usher.toml")" = "$toml_sum"
check "reinstall: the cache is still there" sh -c "chroot '$R' getent passwd alice >/dev/null"

# sshd -t guards the reload.
hups=$(sighups)
echo "NoSuchKeyword yes" > "$R/etc/ssh/sshd_config.d/zz-broken.conf"
in_root 30 /usr/lib/usher/sshd-reload > "$scratch/reload" 2>&1; rc=$?
check "sshd-reload: a configuration sshd -t refuses is not reloaded (exit 1, no SIGHUP)" \
    sh -c "test $rc = 1 && test $(sighups) = $hups && grep -q 'NOT reloaded' '$scratch/reload'"
rm -f "$R/etc/ssh/sshd_config.d/zz-broken.conf"
sed -i 's|^Include /etc/ssh/sshd_config.d/\*.conf|#&|' "$R/etc/ssh/sshd_config"
in_root 30 /usr/lib/usher/sshd-reload > "$scratch/reload" 2>&1
check "sshd-reload: says how to Include the drop-in when sshd_config lacks the Include" \
    grep -q 'Include /etc/ssh/sshd_config.d/\*.conf' "$scratch/reload"
sed -i 's|^#\(Include /etc/ssh/sshd_config.d/\*.conf\)|\1|' "$R/etc/ssh/sshd_config"

# --- dpkg -r: refused while a PAM file still names pam_usher, then done ----------------------------
cp "$R/etc/pam.d/sshd" "$scratch/pam.sshd"
printf 'account requisite pam_usher.so\n' >> "$R/etc/pam.d/sshd"
if in_root 300 dpkg -r usher > "$scratch/dpkg-r0" 2>&1; then fail "remove: refused while /etc/pam.d/sshd names pam_usher.so"
else pass "remove: refused while /etc/pam.d/sshd names pam_usher.so"; fi
sed 's/^/    dpkg -r (refused): /' "$scratch/dpkg-r0"
status=$(in_root 30 dpkg-query -W -f '${db:Status-Abbrev}' usher)
# dpkg keeps the package installed and configured; it records that removal was asked for ("ri").
check "remove (refused): the package stays installed ($status)" test "${status:1:1}" = i
check "remove (refused): nsswitch.conf still names usher" cmp -s "$scratch/nsswitch.installed" "$R/etc/nsswitch.conf"
check "remove (refused): common-account still has pam_usher" grep -q pam_usher "$R/etc/pam.d/common-account"
cp "$scratch/pam.sshd" "$R/etc/pam.d/sshd"

if in_root 300 dpkg -r usher > "$scratch/dpkg-r" 2>&1; then pass "dpkg -r usher"
else fail "dpkg -r usher"; sed 's/^/    /' "$scratch/dpkg-r"; fi
check "remove: nsswitch.conf back byte for byte" cmp -s "$scratch/nsswitch.before" "$R/etc/nsswitch.conf"
manifest etc var/lib/pam | grep -E ' (etc/pam\.d|var/lib/pam)[/ ]' > "$scratch/pam-now"
grep -E ' (etc/pam\.d|var/lib/pam)[/ ]' "$scratch/before-install" > "$scratch/pam-before"
if diff -u "$scratch/pam-before" "$scratch/pam-now" > "$scratch/diff"; then pass "remove: /etc/pam.d and /var/lib/pam back byte for byte"
else fail "remove: /etc/pam.d and /var/lib/pam back byte for byte"; sed 's/^/    /' "$scratch/diff"; fi
check "remove: the configuration stays (usher.toml, example, sshd drop-in)" \
    sh -c "test -f '$R/etc/usher/usher.toml' && test -f '$R/etc/usher/usher.toml.example' && test -f '$R/etc/ssh/sshd_config.d/usher.conf'"
check "remove: the cache and state stay (for a reinstall)" test -f "$R/var/lib/usher/cache.db"
check "remove: the sudoers drop-in is gone" test ! -e "$R/etc/sudoers.d/usher"
check "remove: the programs and modules are gone" \
    sh -c "test ! -e '$R/usr/sbin/usherd' && test ! -e '$R/usr/lib/x86_64-linux-gnu/libnss_usher.so.2' && test ! -e '$R/usr/lib/x86_64-linux-gnu/security/pam_usher.so'"
check "remove: getent passwd alice finds nobody, root still answers" \
    sh -c "! chroot '$R' getent passwd alice && chroot '$R' getent passwd root >/dev/null"
if pamtester_as sshd root acct_mgmt; then pass "remove: PAM still works for root"
else fail "remove: PAM still works for root"; sed 's/^/    /' "$scratch/pamtester"; fi

# --- dpkg -P -------------------------------------------------------------------------------------
hups=$(sighups)
if in_root 300 dpkg -P usher > "$scratch/dpkg-p" 2>&1; then pass "dpkg -P usher"
else fail "dpkg -P usher"; sed 's/^/    /' "$scratch/dpkg-p"; fi
check "purge: /var/lib/usher, usher.toml and trusted_user_ca_keys are gone" \
    sh -c "test ! -e '$R/var/lib/usher' && test ! -e '$R/etc/usher/usher.toml' && test ! -e '$R/etc/usher/trusted_user_ca_keys'"
check "purge: only the operator's own files are left in /etc/usher, and named" \
    sh -c "test \"\$(ls -A '$R/etc/usher' | tr '\n' ' ')\" = 'directory.json user-ca.pub ' && grep -q 'directory.json user-ca.pub' '$scratch/dpkg-p'"
check "purge: sshd reloaded without the drop-in" hupped "$hups"
rm -rf "$R/etc/usher"
same_as "purge: /etc and /var/lib/pam back byte for byte (after removing the operator's own files)" \
    "$scratch/before-install" etc var/lib/pam
check "purge: dpkg no longer knows usher" sh -c "! chroot '$R' dpkg-query -W usher >/dev/null 2>&1"

# --- the rpm's scriptlets, on this Debian root (no authselect here: the nsswitch-edit path) -------
if command -v rpm >/dev/null; then
    rpmflags=(--root "$R" --nodeps --nosignature --nodigest)
    rpm --root "$R" --initdb
    manifest etc > "$scratch/before-rpm"
    hups=$(sighups)
    if timeout 120 rpm -i "${rpmflags[@]}" "$rpm" > "$scratch/rpm-i" 2>&1; then pass "rpm -i: %post runs"
    else fail "rpm -i"; sed 's/^/    /' "$scratch/rpm-i"; fi
    sed 's/^/    rpm -i: /' "$scratch/rpm-i"
    check "rpm %post: nsswitch.conf gains usher on passwd and group" test "$(usher_tokens)" = 2
    check "rpm %post: /var/lib/usher 0755, private/ 0700" \
        test "$(stat -c %a "$R/var/lib/usher") $(stat -c %a "$R/var/lib/usher/private")" = "755 700"
    check "rpm %post: says how to add pam_usher (no PAM file edited)" \
        sh -c "grep -q 'add pam_usher to PAM' '$scratch/rpm-i' && ! grep -rq pam_usher '$R/etc/pam.d'"
    check "rpm %post: sshd reloaded after sshd -t" hupped "$hups"
    timeout 120 rpm -i "${rpmflags[@]}" --replacepkgs "$rpm" > "$scratch/rpm-i2" 2>&1
    check "rpm reinstall: usher still named once per line" test "$(usher_tokens)" = 2
    printf 'account requisite pam_usher.so\n' >> "$R/etc/pam.d/sshd"
    if timeout 120 rpm -e "${rpmflags[@]:0:2}" --nodeps usher > "$scratch/rpm-e0" 2>&1; then
        fail "rpm -e: %preun refuses while /etc/pam.d/sshd names pam_usher.so"
    else pass "rpm -e: %preun refuses while /etc/pam.d/sshd names pam_usher.so"; fi
    check "rpm -e (refused): still installed" rpm --root "$R" -q usher
    cp "$scratch/pam.sshd" "$R/etc/pam.d/sshd"
    hups=$(sighups)
    if timeout 120 rpm -e --root "$R" --nodeps usher > "$scratch/rpm-e" 2>&1; then pass "rpm -e usher"
    else fail "rpm -e usher"; sed 's/^/    /' "$scratch/rpm-e"; fi
    check "rpm -e: sshd reloaded without the drop-in" hupped "$hups"
    check "rpm -e: nsswitch.conf back byte for byte" cmp -s "$scratch/nsswitch.before" "$R/etc/nsswitch.conf"
    check "rpm -e: /var/lib/usher and the package's directories are gone" \
        sh -c "test ! -e '$R/var/lib/usher' && test ! -e '$R/usr/lib/usher' && test ! -e '$R/usr/share/authselect/vendor/usher'"
    same_as "rpm -e: /etc back byte for byte" "$scratch/before-rpm" etc
fi

echo "in-root: $(wc -l < "$syslog") syslog lines from the root"
[ "${failures:-0}" = 0 ]
