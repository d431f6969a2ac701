#!/bin/bash
# Helpers for Usher's end-to-end tests. Source AFTER ns-setup.sh, inside the private namespace:
#   . tests/e2e/ns-setup.sh; . tests/e2e/lib.sh; . tests/e2e/test_x.sh
# A test fails by exiting non-zero; every assertion prints what it expected and what it got.
#
# Env: USHER_ROOT (repo root, default: two levels above this file), USHER_TARGET (cargo target
#      dir, default $USHER_ROOT/target). Set by lib.sh: USHERD, USHER_SO, USHER_WORK (scratch dir
#      for configs and directories), USHER_CONFIG, USHER_DIRECTORY, USHER_CACHE, OUT/ERR/RC (last
#      `run`).

USHER_ROOT=${USHER_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
USHER_TARGET=${USHER_TARGET:-$USHER_ROOT/target}
USHERD=$USHER_TARGET/release/usherd
USHER_SO=$USHER_TARGET/release/libnss_usher.so
USHER_CACHE=/var/lib/usher/cache.db
USHER_WORK=$NS/work
USHER_CONFIG=$USHER_WORK/usher.toml
USHER_DIRECTORY=$USHER_WORK/directory.json
USHER_GEN=$USHER_ROOT/tests/tools/gen_directory.py
mkdir -p "$USHER_WORK"

# A command that fails without an assertion around it still ends the test, with its line.
set -o errtrace
trap 'echo "FAIL: ${USHER_CONTEXT:+[$USHER_CONTEXT] }line $LINENO: command exited $?: $BASH_COMMAND" >&2' ERR

# --- assertions --------------------------------------------------------------------------------

# context TEXT: prefixes every failure message from now on with [TEXT] (context "" to clear).
USHER_CONTEXT=
context() {
    USHER_CONTEXT=$*
}

fail() {
    echo "FAIL: ${USHER_CONTEXT:+[$USHER_CONTEXT] }$*" >&2
    exit 1
}

# _show LABEL TEXT: TEXT indented under LABEL, or "(empty)".
_show() {
    if [ -z "$2" ]; then
        echo "  $1: (empty)"
    else
        echo "  $1:"
        printf '%s\n' "$2" | sed 's/^/    | /'
    fi
}

# assert_eq EXPECTED ACTUAL [WHAT]
assert_eq() {
    if [ "$1" != "$2" ]; then
        {
            echo "FAIL: ${USHER_CONTEXT:+[$USHER_CONTEXT] }${3:-values differ}"
            _show expected "$1"
            _show actual "$2"
        } >&2
        exit 1
    fi
}

# assert_contains HAYSTACK NEEDLE [WHAT]   (fixed string)
assert_contains() {
    if ! grep -qF -- "$2" <<<"$1"; then
        { echo "FAIL: ${USHER_CONTEXT:+[$USHER_CONTEXT] }${3:-text does not contain [$2]}"; _show "expected to contain" "$2"; _show actual "$1"; } >&2
        exit 1
    fi
}

# assert_not_contains HAYSTACK NEEDLE [WHAT]
assert_not_contains() {
    if grep -qF -- "$2" <<<"$1"; then
        { echo "FAIL: ${USHER_CONTEXT:+[$USHER_CONTEXT] }${3:-text contains [$2]}"; _show "expected not to contain" "$2"; _show actual "$1"; } >&2
        exit 1
    fi
}

# assert_match HAYSTACK ERE [WHAT]   (extended regex, any line)
assert_match() {
    if ! grep -qE -- "$2" <<<"$1"; then
        { echo "FAIL: ${USHER_CONTEXT:+[$USHER_CONTEXT] }${3:-no line matches /$2/}"; _show actual "$1"; } >&2
        exit 1
    fi
}

# run CMD...: runs CMD, sets OUT (stdout), ERR (stderr), RC (exit status). Never fails itself.
run() {
    local errfile
    errfile=$(mktemp "$NS/stderr.XXXXXX")
    RC=0
    OUT=$("$@" 2>"$errfile") || RC=$?
    ERR=$(cat "$errfile")
    rm -f "$errfile"
}

_show_run() {
    echo "  command: $*"
    echo "  exit status: $RC"
    _show stdout "$OUT"
    _show stderr "$ERR"
}

# assert_ok CMD...: CMD exits 0 (its output is in OUT / ERR afterwards).
assert_ok() {
    run "$@"
    if [ "$RC" != 0 ]; then
        { echo "FAIL: ${USHER_CONTEXT:+[$USHER_CONTEXT] }command failed"; _show_run "$@"; } >&2
        exit 1
    fi
}

# assert_exit STATUS CMD...: CMD exits with exactly STATUS.
assert_exit() {
    local want=$1
    shift
    run "$@"
    if [ "$RC" != "$want" ]; then
        { echo "FAIL: ${USHER_CONTEXT:+[$USHER_CONTEXT] }expected exit status $want"; _show_run "$@"; } >&2
        exit 1
    fi
}

# assert_fails CMD...: CMD exits non-zero.
assert_fails() {
    run "$@"
    if [ "$RC" = 0 ]; then
        { echo "FAIL: ${USHER_CONTEXT:+[$USHER_CONTEXT] }command succeeded, expected a failure"; _show_run "$@"; } >&2
        exit 1
    fi
}

# assert_output EXPECTED CMD...: CMD exits 0 and its stdout is exactly EXPECTED.
assert_output() {
    local want=$1
    shift
    run "$@"
    if [ "$RC" != 0 ] || [ "$OUT" != "$want" ]; then
        { echo "FAIL: ${USHER_CONTEXT:+[$USHER_CONTEXT] }unexpected output"; _show expected "$want"; _show_run "$@"; } >&2
        exit 1
    fi
}

# assert_not_found CMD...: a getent lookup answers "not found" (exit 2) and prints nothing.
assert_not_found() {
    run "$@"
    if [ "$RC" != 2 ] || [ -n "$OUT" ]; then
        { echo "FAIL: ${USHER_CONTEXT:+[$USHER_CONTEXT] }expected no entry (exit 2, no output)"; _show_run "$@"; } >&2
        exit 1
    fi
}

# --- the module ---------------------------------------------------------------------------------

# usher_install_module: libnss_usher.so.2 in $NS/lib, found through ld.so.cache (setuid programs
# ignore LD_LIBRARY_PATH), and `passwd: files usher`, `group: files usher` in nsswitch.conf.
usher_install_module() {
    [ -f "$USHER_SO" ] || fail "$USHER_SO is not built (cargo build --release)"
    mkdir -p "$NS/lib"
    cp "$USHER_SO" "$NS/lib/libnss_usher.so.2"
    chmod 0755 "$NS/lib/libnss_usher.so.2"
    echo "$NS/lib" > /etc/ld.so.conf.d/usher.conf
    ldconfig
    ldconfig -p > "$NS/ldconfig.out"
    grep -qF "$NS/lib/libnss_usher.so.2" "$NS/ldconfig.out" || fail "ldconfig did not pick up $NS/lib"
    usher_nsswitch "files usher"
}

# usher_nsswitch SOURCES: sets the passwd and group lines of nsswitch.conf, keeps every other line.
usher_nsswitch() {
    local tmp=/etc/.nsswitch.conf.usher-test
    awk -v src="$1" '
        /^[[:space:]]*passwd:/ { print "passwd:         " src; p = 1; next }
        /^[[:space:]]*group:/  { print "group:          " src; g = 1; next }
        { print }
        END { if (!p) print "passwd:         " src; if (!g) print "group:          " src }
    ' /etc/nsswitch.conf > "$tmp"
    mv "$tmp" /etc/nsswitch.conf
}

# --- usherd -------------------------------------------------------------------------------------

# usher_write_config [DIRECTORY_JSON] [CONFIG] [EXTRA_TOML]: a config using the file source.
usher_write_config() {
    local dir=${1:-$USHER_DIRECTORY} config=${2:-$USHER_CONFIG}
    printf '[directory]\nkind = "file"\npath = "%s"\n%s' "$dir" "${3:-}" > "$config"
}

# usher_write_directory [FILE] < JSON
usher_write_directory() {
    cat > "${1:-$USHER_DIRECTORY}"
}

# usher_json_edit FILE PYTHON: runs PYTHON with `d` bound to FILE's JSON, writes `d` back.
# Helpers in scope: user(name) and group(name) return the record with that userName/displayName.
usher_json_edit() {
    python3 - "$1" "$2" <<'PY'
import json, sys
path, code = sys.argv[1], sys.argv[2]
with open(path) as f:
    d = json.load(f)
def user(name):
    return next(u for u in d["Users"] if u["userName"] == name)
def group(name):
    return next(g for g in d["Groups"] if g["displayName"] == name)
exec(code)
with open(path + ".tmp", "w") as f:
    json.dump(d, f, indent=1)
import os
os.replace(path + ".tmp", path)
PY
}

# usherd_once [ARGS...]: usherd --config $USHER_CONFIG --once ARGS; sets OUT/ERR/RC, never fails.
usherd_once() {
    run "$USHERD" --config "$USHER_CONFIG" --once "$@"
}

# usher_sync [ARGS...]: usherd_once that must succeed.
usher_sync() {
    assert_ok "$USHERD" --config "$USHER_CONFIG" --once "$@"
}

# usher_sample_directory [FILE]: a small directory. Names chosen not to exist on build machines.
#   alice  uid 5001, gid 5001 (user-private group alice), in ops and admins
#   dave   uid 5002, no gidNumber (private group 5002), in ops and devs, Okta-style userName
#   erin   uid 5003, deactivated, in devs
#   frank  no numbers: uid derived from its id; in devs
#   groups ops 6001, admins 6002, devs (no gidNumber: derived)
usher_sample_directory() {
    # The sample must not collide with this machine's own accounts (the tests expect it served).
    local clash
    clash=$(getent -s files passwd alice dave erin frank gina 5001 5002 5003 5010 || true)
    clash+=$(getent -s files group ops admins devs alice dave erin frank 6001 6002 || true)
    [ -z "$clash" ] || fail "local accounts collide with the sample directory: $clash"
    usher_write_directory "${1:-$USHER_DIRECTORY}" <<'EOF'
{
 "Users": [
  {
   "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
               "urn:usher:params:scim:schemas:extension:posix:2.0:User"],
   "id": "u-alice-0001",
   "userName": "alice",
   "displayName": "Alice Example",
   "active": true,
   "emails": [{"value": "alice@example.com", "primary": true}],
   "urn:usher:params:scim:schemas:extension:posix:2.0:User": {
    "uidNumber": 5001, "gidNumber": 5001,
    "homeDirectory": "/home/alice", "loginShell": "/bin/bash"
   },
   "meta": {"resourceType": "User", "created": "2024-01-01T00:00:01Z"}
  },
  {
   "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
               "urn:usher:params:scim:schemas:extension:posix:2.0:User"],
   "id": "u-dave-0002",
   "userName": "dave@example.com",
   "displayName": "Dave Example",
   "urn:usher:params:scim:schemas:extension:posix:2.0:User": {
    "uidNumber": 5002, "loginShell": "/bin/sh"
   },
   "meta": {"resourceType": "User", "created": "2024-01-01T00:00:02Z"}
  },
  {
   "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User",
               "urn:usher:params:scim:schemas:extension:posix:2.0:User"],
   "id": "u-erin-0003",
   "userName": "erin",
   "displayName": "Erin Former",
   "active": false,
   "urn:usher:params:scim:schemas:extension:posix:2.0:User": {"uidNumber": 5003},
   "meta": {"resourceType": "User", "created": "2024-01-01T00:00:03Z"}
  },
  {
   "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
   "id": "u-frank-0004",
   "userName": "frank",
   "displayName": "Frank Derived",
   "meta": {"resourceType": "User", "created": "2024-01-01T00:00:04Z"}
  }
 ],
 "Groups": [
  {
   "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group",
               "urn:usher:params:scim:schemas:extension:posix:2.0:Group"],
   "id": "g-ops-0001",
   "displayName": "ops",
   "urn:usher:params:scim:schemas:extension:posix:2.0:Group": {"gidNumber": 6001},
   "members": [{"value": "u-dave-0002", "display": "dave"},
               {"value": "u-alice-0001", "display": "alice"}],
   "meta": {"resourceType": "Group", "created": "2024-01-01T00:00:01Z"}
  },
  {
   "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group",
               "urn:usher:params:scim:schemas:extension:posix:2.0:Group"],
   "id": "g-admins-0002",
   "displayName": "admins",
   "urn:usher:params:scim:schemas:extension:posix:2.0:Group": {"gidNumber": 6002},
   "members": [{"value": "u-alice-0001"}],
   "meta": {"resourceType": "Group", "created": "2024-01-01T00:00:02Z"}
  },
  {
   "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
   "id": "g-devs-0003",
   "displayName": "devs",
   "members": [{"value": "u-dave-0002"}, {"value": "u-erin-0003"}, {"value": "u-frank-0004"}],
   "meta": {"resourceType": "Group", "created": "2024-01-01T00:00:03Z"}
  }
 ]
}
EOF
}

# usher_setup_sample: module installed, sample directory synced. The usual start of a test.
usher_setup_sample() {
    usher_install_module
    usher_sample_directory
    usher_write_config
    usher_sync
}

# --- helpers ------------------------------------------------------------------------------------

# replace_file SRC DEST: copies SRC to a temp file beside DEST and renames it over DEST (a new
# inode, as a publisher would; readers notice the change).
replace_file() {
    local tmp
    tmp=$(dirname "$2")/.$(basename "$2").test.$$
    cp "$1" "$tmp"
    chmod 0644 "$tmp"
    mv -f "$tmp" "$2"
}

# gcc_build NAME SRC: compiles SRC (C, pthreads) to $NS/bin/NAME and prints the path.
gcc_build() {
    mkdir -p "$NS/bin"
    gcc -O2 -Wall -Wextra -Werror -pthread -o "$NS/bin/$1" "$2" >&2 || fail "gcc failed on $2"
    echo "$NS/bin/$1"
}

# log_lines: lines in the syslog sink so far.
log_lines() {
    wc -l < "$USHER_NS_LOG"
}
