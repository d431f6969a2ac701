#!/bin/bash
# Packaging tests: build the deb and the rpm, inspect them, test the nsswitch tool, check the
# systemd unit, then install the deb for real (and run the rpm's scriptlets) in a Debian root made
# with debootstrap, chrooted inside private mount, PID and network namespaces.
#
#   bash tests/packaging/run.sh
#
# Prints PASS/FAIL per check and ends with "N passed, M failed" (exit 1 on any failure). As root.
# Nothing touches this machine's /etc: the Debian root lives in a tmpfs of a private mount
# namespace and vanishes with it. The debootstrap result is cached as a tarball in
# $USHER_TEST_CACHE (default ${XDG_CACHE_HOME:-/var/cache}/usher-test) and reused.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
started=$(date +%s)

if [ "$(id -u)" != 0 ]; then echo "run.sh: must run as root" >&2; exit 1; fi

passed=0 failed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
check() { # check NAME COMMAND...: PASS if the command succeeds
    local name=$1; shift
    if "$@"; then pass "$name"; else fail "$name"; fi
}
finish() {
    echo "packaging tests: $(( $(date +%s) - started )) s"
    echo "$passed passed, $failed failed"
    [ "$failed" = 0 ]
    exit
}

log=$(mktemp -d /tmp/usher-packaging.XXXXXX)
trap 'rm -rf "$log"' EXIT

apt_install() { # installs the named Debian packages whose command is missing: CMD:PKG ...
    local want=() pair
    for pair in "$@"; do
        command -v "${pair%%:*}" >/dev/null || want+=("${pair#*:}")
    done
    [ ${#want[@]} -eq 0 ] && return 0
    echo "run.sh: installing ${want[*]}" >&2
    DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq --no-install-recommends "${want[@]}" >"$log/apt" 2>&1 \
        || { timeout 300 apt-get update -qq >/dev/null 2>&1 \
             && DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq --no-install-recommends "${want[@]}" >"$log/apt" 2>&1; }
}
apt_install lintian:lintian rpm:rpm debootstrap:debootstrap unshare:util-linux ip:iproute2 \
    systemd-analyze:systemd python3:python3 dpkg-deb:dpkg strip:binutils

# --- build -------------------------------------------------------------------------------------
if timeout 3600 bash packaging/build.sh >"$log/build" 2>&1; then
    pass "build: packaging/build.sh builds both packages"
else
    fail "build: packaging/build.sh"; tail -30 "$log/build"; finish
fi
version=$(sed -n '/^\[workspace\.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
deb=$root/target/packages/usher_${version}-1_amd64.deb
rpm=$root/target/packages/usher-${version}-1.x86_64.rpm
check "build: $(basename "$deb") exists" test -s "$deb"
check "build: $(basename "$rpm") exists" test -s "$rpm"
[ -s "$deb" ] && [ -s "$rpm" ] || finish

# --- the deb, inspected ------------------------------------------------------------------------
# "mode path" for every file and directory, compared with the expected list.
dpkg-deb -c "$deb" | awk '{ p = $6; sub(/^\./, "", p); sub(/\/$/, "", p); if (p != "") print $1, p }' \
    | sort -k2 > "$log/deb-files"
if diff -u "$here/expected-deb-files.txt" "$log/deb-files" > "$log/deb-files.diff"; then
    pass "deb: file list and modes (dpkg-deb -c) are as expected"
else
    fail "deb: file list and modes (dpkg-deb -c) are as expected"; sed 's/^/    /' "$log/deb-files.diff"
fi
dpkg-deb -I "$deb" > "$log/deb-info"
dpkg-deb -f "$deb" Depends > "$log/deb-depends"
for dep in libc6 libpam0g libpam-runtime init-system-helpers libgcc-s1; do
    check "deb: Depends names $dep" grep -q "\b$dep\b" "$log/deb-depends"
done
check "deb: Architecture amd64, Section admin" \
    test "$(dpkg-deb -f "$deb" Architecture Section | tr '\n' ' ')" = "Architecture: amd64 Section: admin "
rm -rf "$log/deb-control"; dpkg-deb -e "$deb" "$log/deb-control"
check "deb: conffiles are the sshd drop-in and the example config" \
    test "$(sort "$log/deb-control/conffiles" | tr '\n' ' ')" = "/etc/ssh/sshd_config.d/usher.conf /etc/usher/usher.toml.example "
check "deb: triggers ldconfig" grep -qx 'activate-noawait ldconfig' "$log/deb-control/triggers"
for script in postinst prerm postrm; do
    check "deb: $script is valid sh" sh -n "$log/deb-control/$script"
done
check "deb: postinst runs nsswitch-edit, pam-auth-update, sshd-reload and enables usherd" \
    sh -c "grep -q 'nsswitch-edit add' '$log/deb-control/postinst' && grep -q 'pam-auth-update --package' '$log/deb-control/postinst' \
        && grep -q 'sshd-reload' '$log/deb-control/postinst' && grep -q 'deb-systemd-helper enable usherd.service' '$log/deb-control/postinst'"
check "deb: prerm takes PAM and nsswitch out on remove" \
    sh -c "grep -q 'pam-auth-update --package --remove usher' '$log/deb-control/prerm' && grep -q 'nsswitch-edit remove' '$log/deb-control/prerm'"

timeout 600 lintian --pedantic -I -E "$deb" > "$log/lintian" 2>&1
sed 's/^/    lintian: /' "$log/lintian"
if grep -q '^E:' "$log/lintian"; then fail "deb: lintian reports no errors"; else pass "deb: lintian reports no errors"; fi

# --- the rpm, inspected ------------------------------------------------------------------------
rpm -qp --qf '[%{FILEMODES:perms} %{FILENAMES}\n]' "$rpm" 2>/dev/null | awk '{print $1, $2}' | sort -k2 > "$log/rpm-files"
if diff -u "$here/expected-rpm-files.txt" "$log/rpm-files" > "$log/rpm-files.diff"; then
    pass "rpm: file list and modes (rpm -qlp) are as expected"
else
    fail "rpm: file list and modes (rpm -qlp) are as expected"; sed 's/^/    /' "$log/rpm-files.diff"
fi
rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$rpm" 2>/dev/null | awk 'NF == 2 && $1 ~ /^[a-z]*c[a-z]*$/ {print $1, $2}' | sort > "$log/rpm-config"
check "rpm: the sshd drop-in and the example config are %config(noreplace)" \
    test "$(tr '\n' ' ' < "$log/rpm-config")" = "cn /etc/ssh/sshd_config.d/usher.conf cn /etc/usher/usher.toml.example "
rpm -qp --scripts "$rpm" > "$log/rpm-scripts" 2>/dev/null
for s in postinstall preuninstall postuninstall; do
    check "rpm: has a $s scriptlet run by /bin/sh" grep -q "^$s scriptlet (using /bin/sh)" "$log/rpm-scripts"
done
check "rpm: the scriptlets are valid sh" \
    sh -c "for f in '$root'/packaging/rpm/*.sh; do sh -n \"\$f\" || exit 1; done"
rpm -qpR "$rpm" > "$log/rpm-requires" 2>/dev/null
for req in 'libpam.so.0()(64bit)' 'libc.so.6()(64bit)' /bin/sh /usr/bin/awk; do
    check "rpm: Requires $req" grep -qxF "$req" "$log/rpm-requires"
done
check "rpm: version $version, release 1, arch x86_64" \
    test "$(rpm -qp --qf '%{VERSION}-%{RELEASE}.%{ARCH}' "$rpm" 2>/dev/null)" = "$version-1.x86_64"

# --- nsswitch-edit -----------------------------------------------------------------------------
timeout 600 bash "$here/test_nsswitch_edit.sh" > "$log/nsswitch" 2>&1
grep -E '^(PASS|FAIL)' "$log/nsswitch"
passed=$((passed + $(grep -c '^PASS' "$log/nsswitch")))
failed=$((failed + $(grep -c '^FAIL' "$log/nsswitch")))

# --- the systemd unit --------------------------------------------------------------------------
unitroot=$log/unitroot
mkdir -p "$unitroot"
dpkg-deb -x "$deb" "$unitroot"
# verify checks that ExecStart= is executable: in a private mount namespace, an overlay on
# /usr/sbin adds the packaged usherd there (this machine's /usr/sbin is not changed).
if timeout 120 unshare --mount --propagation private bash -c '
        set -e
        mkdir -p "$1/upper" "$1/work"
        mount -t overlay overlay -o lowerdir=/usr/sbin,upperdir="$1/upper",workdir="$1/work" /usr/sbin
        cp "$2/usr/sbin/usherd" /usr/sbin/usherd
        cd "$1" && systemd-analyze verify "$2/usr/lib/systemd/system/usherd.service"' \
        _ "$log/overlay" "$unitroot" > "$log/verify" 2>&1 \
    && ! grep -qiE 'unknown|invalid|not executable|failed|bad|ignoring|not found' "$log/verify"; then
    pass "systemd: systemd-analyze verify accepts usherd.service"
else
    fail "systemd: systemd-analyze verify accepts usherd.service"
fi
sed 's/^/    verify: /' "$log/verify"
timeout 120 systemd-analyze security --offline=yes --root="$unitroot" usherd.service > "$log/security" 2>&1
exposure=$(sed -n 's/.*Overall exposure level for usherd.service: \([0-9.]*\).*/\1/p' "$log/security")
echo "    security: overall exposure ${exposure:-?} (systemd-analyze security --offline=yes)"
grep '✗' "$log/security" | sed 's/^/    security: /; s/[[:space:]]*$//'
if [ -n "$exposure" ] && awk -v e="$exposure" 'BEGIN { exit !(e <= 3.0) }'; then
    pass "systemd: systemd-analyze security exposure $exposure <= 3.0"
else
    fail "systemd: systemd-analyze security exposure ${exposure:-unknown} <= 3.0"
fi
unit=$unitroot/usr/lib/systemd/system/usherd.service
for line in Type=notify WatchdogSec= Restart=on-failure StartLimitBurst= ConditionPathExists=/etc/usher/usher.toml \
    'Before=nss-user-lookup.target ssh.service sshd.service' 'Wants=nss-user-lookup.target network-online.target' \
    ProtectSystem=strict 'ReadWritePaths=/etc/usher -/etc/sudoers.d' StateDirectory=usher NoNewPrivileges=yes \
    CapabilityBoundingSet=CAP_KILL 'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6' \
    SystemCallFilter=@system-service MemoryDenyWriteExecute=yes; do
    check "systemd: usherd.service has $line" grep -q "^$line" "$unit"
done

# --- the Debian root ---------------------------------------------------------------------------
cache=${USHER_TEST_CACHE:-${XDG_CACHE_HOME:-/var/cache}/usher-test}
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
mirror=$(awk '/^URIs:/ && $2 ~ /debian\/?$/ {print $2; exit} /^deb / && $0 !~ /security/ {print $2; exit}' \
    /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null)
mirror=${mirror:-http://deb.debian.org/debian}
include=libpam-runtime,libpam-modules,openssh-server,sudo,pamtester,init-system-helpers
tarball=$cache/debian-$suite-$(printf '%s' "$include" | sha256sum | cut -c1-12).tar
mkdir -p "$cache"
if [ -s "$tarball" ]; then
    pass "debian root: cached $(basename "$tarball") reused"
else
    t0=$(date +%s)
    rm -rf "$cache/build-root"
    if timeout 1800 debootstrap --variant=minbase --include="$include" "$suite" "$cache/build-root" "$mirror" \
        > "$log/debootstrap" 2>&1 \
        && tar --numeric-owner -C "$cache/build-root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"; then
        pass "debian root: debootstrap $suite from $mirror in $(( $(date +%s) - t0 )) s, cached as $tarball"
    else
        fail "debian root: debootstrap $suite from $mirror"; tail -20 "$log/debootstrap"
    fi
    rm -rf "$cache/build-root" "$tarball.tmp"
fi

if [ -s "$tarball" ]; then
    timeout 1200 unshare --mount --propagation private --pid --fork --mount-proc --net \
        bash "$here/in-root.sh" "$tarball" "$deb" "$rpm" > "$log/in-root" 2>&1
    rc=$?
    cat "$log/in-root"
    passed=$((passed + $(grep -c '^PASS' "$log/in-root")))
    failed=$((failed + $(grep -c '^FAIL' "$log/in-root")))
    if [ "$rc" != 0 ] && ! grep -q '^FAIL' "$log/in-root"; then
        fail "in-root.sh ended with exit $rc"
    fi
fi
finish
