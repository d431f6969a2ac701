#!/bin/bash
# Table tests of packaging/scripts/nsswitch-edit, under every awk it meets on the targeted
# distributions (mawk: Debian/Ubuntu's default; gawk: RHEL/Fedora's; busybox awk if present).
# For each tests/packaging/nsswitch/NAME.before:
#   add            gives NAME.after
#   add twice      gives NAME.after (idempotent)
#   remove(after)  gives NAME.removed if it exists, else NAME.before, byte for byte
# plus: mode and owner kept, a symlink refused, a missing file left missing, check's exit codes.
# Prints PASS/FAIL lines and "N passed, M failed"; run.sh runs it too.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tool=$(cd "$here/../../packaging/scripts" && pwd)/nsswitch-edit
cases=$here/nsswitch

passed=0 failed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

awks=()
command -v mawk >/dev/null && awks+=(mawk)
if ! command -v gawk >/dev/null && command -v apt-get >/dev/null; then
    DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -qq --no-install-recommends gawk >/dev/null 2>&1 || true
fi
command -v gawk >/dev/null && awks+=(gawk)
command -v busybox >/dev/null && busybox awk 'BEGIN{}' 2>/dev/null && awks+=("busybox awk")

for awk_impl in "${awks[@]}"; do
    # The tool calls plain `awk`: put the implementation under test first in PATH.
    bin="$work/bin-${awk_impl// /-}"
    mkdir -p "$bin"
    if [ "$awk_impl" = "busybox awk" ]; then
        printf '#!/bin/sh\nexec busybox awk "$@"\n' > "$bin/awk"; chmod +x "$bin/awk"
    else
        ln -sf "$(command -v "$awk_impl")" "$bin/awk"
    fi
    run() { PATH="$bin:$PATH" sh "$tool" --file "$work/nsswitch.conf" "$@" 2>>"$work/stderr"; }
    label="[$awk_impl]"

    for before in "$cases"/*.before; do
        name=$(basename "$before" .before)
        after="$cases/$name.after"
        removed="$cases/$name.removed"
        [ -e "$removed" ] || removed=$before

        cp "$before" "$work/nsswitch.conf"
        run add
        if cmp -s "$work/nsswitch.conf" "$after"; then pass "nsswitch-edit $label $name: add"
        else fail "nsswitch-edit $label $name: add"; diff "$after" "$work/nsswitch.conf" | sed 's/^/    /'; fi

        run add
        if cmp -s "$work/nsswitch.conf" "$after"; then pass "nsswitch-edit $label $name: add twice = add once"
        else fail "nsswitch-edit $label $name: add twice = add once"; fi

        run remove
        if cmp -s "$work/nsswitch.conf" "$removed"; then pass "nsswitch-edit $label $name: remove after add, byte for byte"
        else fail "nsswitch-edit $label $name: remove after add, byte for byte"; diff "$removed" "$work/nsswitch.conf" | sed 's/^/    /'; fi

        run remove
        if cmp -s "$work/nsswitch.conf" "$removed"; then pass "nsswitch-edit $label $name: remove twice = remove once"
        else fail "nsswitch-edit $label $name: remove twice = remove once"; fi
    done

    # Warnings where usher cannot go, and none where it can.
    : > "$work/stderr"; cp "$cases/no-files.before" "$work/nsswitch.conf"; run add
    if grep -q "passwd line has neither files nor compat" "$work/stderr"; then pass "nsswitch-edit $label warns about a line without files"
    else fail "nsswitch-edit $label warns about a line without files"; fi
    : > "$work/stderr"; cp "$cases/no-group-line.before" "$work/nsswitch.conf"; run add
    if grep -q "no group line" "$work/stderr"; then pass "nsswitch-edit $label warns about a missing group line"
    else fail "nsswitch-edit $label warns about a missing group line"; fi
    : > "$work/stderr"; cp "$cases/debian-bookworm.before" "$work/nsswitch.conf"; run add
    if [ ! -s "$work/stderr" ]; then pass "nsswitch-edit $label is quiet on Debian's default file"
    else fail "nsswitch-edit $label is quiet on Debian's default file: $(cat "$work/stderr")"; fi
    printf 'passwd: files [NOTFOUND=return] systemd\ngroup: files\n' > "$work/nsswitch.conf"
    : > "$work/stderr"; run add
    if grep -q "stops after files on NOTFOUND" "$work/stderr" \
        && grep -qx 'passwd: files \[NOTFOUND=return\] usher systemd' "$work/nsswitch.conf"; then
        pass "nsswitch-edit $label puts usher after files' action items and warns about NOTFOUND=return"
    else fail "nsswitch-edit $label puts usher after files' action items and warns about NOTFOUND=return"; fi
done

# check: 0 with usher on passwd and group, 1 otherwise.
cp "$cases/debian-bookworm.after" "$work/nsswitch.conf"
if sh "$tool" --file "$work/nsswitch.conf" check; then pass "nsswitch-edit check: present"; else fail "nsswitch-edit check: present"; fi
cp "$cases/debian-bookworm.before" "$work/nsswitch.conf"
sh "$tool" --file "$work/nsswitch.conf" check; rc=$?
if [ "$rc" = 1 ]; then pass "nsswitch-edit check: absent (exit 1)"; else fail "nsswitch-edit check: absent (exit $rc, want 1)"; fi

# Mode and owner survive; the file is replaced, not rewritten in place.
cp "$cases/debian-bookworm.before" "$work/nsswitch.conf"
chmod 0640 "$work/nsswitch.conf"; chown 0:4 "$work/nsswitch.conf" 2>/dev/null || true
owner_before=$(stat -c '%a %u %g' "$work/nsswitch.conf"); inode_before=$(stat -c %i "$work/nsswitch.conf")
sh "$tool" --file "$work/nsswitch.conf" add
if [ "$(stat -c '%a %u %g' "$work/nsswitch.conf")" = "$owner_before" ]; then pass "nsswitch-edit keeps mode and owner"
else fail "nsswitch-edit keeps mode and owner: $(stat -c '%a %u %g' "$work/nsswitch.conf") vs $owner_before"; fi
if [ "$(stat -c %i "$work/nsswitch.conf")" != "$inode_before" ]; then pass "nsswitch-edit replaces the file by rename"
else fail "nsswitch-edit replaces the file by rename"; fi
if [ -z "$(find "$work" -maxdepth 1 -name '.nsswitch-edit.*')" ]; then pass "nsswitch-edit leaves no temp file"
else fail "nsswitch-edit leaves no temp file"; fi
inode_before=$(stat -c %i "$work/nsswitch.conf")
sh "$tool" --file "$work/nsswitch.conf" add
if [ "$(stat -c %i "$work/nsswitch.conf")" = "$inode_before" ]; then pass "nsswitch-edit does not touch a file that needs no change"
else fail "nsswitch-edit does not touch a file that needs no change"; fi

# A symlink (authselect) is refused and its target left alone; a missing file stays missing.
cp "$cases/debian-bookworm.before" "$work/target.conf"
ln -sf target.conf "$work/link.conf"
sh "$tool" --file "$work/link.conf" add 2>/dev/null; rc=$?
if [ "$rc" = 2 ] && [ -L "$work/link.conf" ] && cmp -s "$work/target.conf" "$cases/debian-bookworm.before"; then
    pass "nsswitch-edit refuses a symlinked nsswitch.conf (exit 2, nothing changed)"
else fail "nsswitch-edit refuses a symlinked nsswitch.conf (exit $rc)"; fi
sh "$tool" --file "$work/missing.conf" add 2>/dev/null; rc=$?
if [ "$rc" = 0 ] && [ ! -e "$work/missing.conf" ]; then pass "nsswitch-edit leaves a missing nsswitch.conf missing"
else fail "nsswitch-edit leaves a missing nsswitch.conf missing (exit $rc)"; fi
sh "$tool" --file "$work/nsswitch.conf" frobnicate 2>/dev/null; rc=$?
if [ "$rc" = 2 ]; then pass "nsswitch-edit: usage error exits 2"; else fail "nsswitch-edit: usage error exits $rc"; fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
