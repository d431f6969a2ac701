# Allocation failure never aborts the host process (issue 11, class 7): a directory group with a
# very long member list, looked up under an address-space limit that leaves room for an ordinary
# answer but not for the list, makes `getent group`, Python's grp.getgrgid / grp.getgrnam and `id`
# of a member exit with an error, never die by a signal (the module answers TRYAGAIN/ENOMEM).
# The limit is calibrated per program: the smallest that still answers a small group, plus a
# margin well under the list's size, so the failing allocation is the list's (before the fix:
# SIGABRT, "memory allocation of N bytes failed", inside libnss_usher).
usher_install_module
MEMBERS=60000
python3 - "$USHER_DIRECTORY" "$MEMBERS" <<'PY'
import json, sys
path, n = sys.argv[1], int(sys.argv[2])
U = "urn:usher:params:scim:schemas:extension:posix:2.0:User"
G = "urn:usher:params:scim:schemas:extension:posix:2.0:Group"
def user(i, name):
    return {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", U], "id": f"u-{i}",
            "userName": name, "active": True,
            U: {"uidNumber": 200000 + i, "gidNumber": 200000 + i, "homeDirectory": f"/home/{name}",
                "loginShell": "/bin/sh"}}
# 32-byte names (the longest allowed): a member list of about 2 MiB.
users = [user(i, f"bigmember-{i:06d}-xxxxxxxxxxxxxxx") for i in range(n)]
users.append(user(n, "smalluser"))
def group(gid, name, members):
    return {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", G], "id": f"g-{gid}",
            "displayName": name, G: {"gidNumber": gid}, "members": [{"value": m["id"]} for m in members]}
d = {"Users": users,
     "Groups": [group(7000, "biggroup", users[:n]), group(7001, "smallgroup", users[n - 2:])]}
json.dump(d, open(path, "w"))
PY
usher_write_config
usher_sync
LIMITED="python3 $USHER_ROOT/tests/e2e/nss_limited.py"
PY3=$(python3 -c 'import sys; print(sys.executable)')   # the interpreter itself, not a shim
MEMBER=bigmember-000007-xxxxxxxxxxxxxxx

context "without a limit"
assert_ok getent group biggroup
assert_eq "$MEMBERS" "$(tr ',' '\n' <<<"${OUT#biggroup:\*:7000:}" | grep -c .)" "every member listed"
LIST_BYTES=${#OUT}
[ "$LIST_BYTES" -gt $((1800 * 1024)) ] || fail "the member list is only $LIST_BYTES bytes"
assert_ok id "$MEMBER"
assert_contains "$OUT" "7000(biggroup)"

# A margin of 512 KiB: room for the ordinary allocations' jitter, a quarter of the list.
MARGIN_KIB=512
# check WHAT [--answer-lacks TEXT] SMALL_CMD -- BIG_CMD: calibrates on SMALL_CMD, runs BIG_CMD
# under that limit plus the margin: it must end by exit status, not by a signal, and not answer
# with the list (a failing exit status; or, for `id`, which prints a gid it cannot name and exits
# 0, a first line without TEXT). Every program is checked before the test fails (FAILURES).
FAILURES=
check() {
    local what=$1 lacks= small=() big=() base result status
    shift
    if [ "$1" = --answer-lacks ]; then lacks=$2; shift 2; fi
    while [ "$1" != -- ]; do small+=("$1"); shift; done
    shift
    big=("$@")
    context "$what"
    base=$($LIMITED --calibrate "${small[@]}") || fail "calibration failed: $base"
    result=$($LIMITED $((base + MARGIN_KIB)) "${big[@]}")
    status=$(sed -n 1p <<<"$result")
    echo "$what: ordinary answer needs $base KiB; under $((base + MARGIN_KIB)) KiB: $status (stderr: $(sed -n 3p <<<"$result"))"
    case "$status" in
        signal*) FAILURES+="$what: killed by a signal under the limit"$'\n' ;;
        "exit 0")
            if [ -z "$lacks" ] || grep -qF -- "$lacks" <<<"$(sed -n 4p <<<"$result")"; then
                FAILURES+="$what: answered in full under the limit (the list was allocated: the test does not reach the failure): $(sed -n 4p <<<"$result")"$'\n'
            fi ;;
    esac
}

check "getent group by name" getent group smallgroup -- getent group biggroup
check "getent group by gid" getent group 7001 -- getent group 7000
check "python grp.getgrgid" "$PY3" -c 'import grp; grp.getgrgid(7001)' -- \
    "$PY3" -c '
import grp, sys
try:
    grp.getgrgid(7000)
except (KeyError, MemoryError, OSError) as e:
    print(type(e).__name__, e, file=sys.stderr)
    sys.exit(3)'
check "python grp.getgrnam" "$PY3" -c 'import grp; grp.getgrnam("smallgroup")' -- \
    "$PY3" -c '
import grp, sys
try:
    grp.getgrnam("biggroup")
except (KeyError, MemoryError, OSError) as e:
    print(type(e).__name__, e, file=sys.stderr)
    sys.exit(3)'
check "id of a member" --answer-lacks "7000(biggroup)" id smalluser -- id "$MEMBER"
context ""
[ -z "$FAILURES" ] || fail "$FAILURES"

context "after the failures"
# The module is fine afterwards: the same lookups answer in full without the limit.
assert_ok getent group biggroup
assert_eq "$LIST_BYTES" "${#OUT}" "the whole list again"
assert_output "root:x:0:" getent group root

context "the module's own answer"
# The module's getgrnam_r/getgrgid_r called directly (ctypes), with the caller's buffer large
# enough and allocated before the limit: only the module's own allocations can fail, and it must
# answer TRYAGAIN with errno ENOMEM (not ERANGE: glibc would retry with a bigger buffer forever).
"$PY3" - "$NS/lib/libnss_usher.so.2" <<'PY' || fail "the module's answer under the limit"
import ctypes, os, resource, sys
so = ctypes.CDLL(sys.argv[1])
class Group(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("passwd", ctypes.c_char_p),
                ("gid", ctypes.c_uint), ("mem", ctypes.POINTER(ctypes.c_char_p))]
SUCCESS, TRYAGAIN = 1, -2
buf = ctypes.create_string_buffer(16 << 20)
grp, err = Group(), ctypes.c_int(0)
def by_name():
    return so._nss_usher_getgrnam_r(b"biggroup", ctypes.byref(grp), buf, len(buf), ctypes.byref(err))
def by_gid():
    return so._nss_usher_getgrgid_r(7000, ctypes.byref(grp), buf, len(buf), ctypes.byref(err))
# (Without a limit the answer is complete: getent showed it above. Not asked here, so that no
# freed 2 MiB block is left for the next allocation to reuse.)
# This thread's handle is opened on a small group; then the address space is capped just above
# what the process uses now, so the big list is the allocation that fails.
assert so._nss_usher_getgrnam_r(b"smallgroup", ctypes.byref(grp), buf, len(buf), ctypes.byref(err)) == SUCCESS
vm = int(next(l for l in open("/proc/self/status") if l.startswith("VmSize:")).split()[1])
limit = (vm + 512) * 1024
soft, hard = resource.getrlimit(resource.RLIMIT_AS)
resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
for f in (by_name, by_gid):
    err.value = 0
    status = f()
    print(f"{f.__name__} under the limit: status {status}, errno {err.value}")
    assert (status, err.value) == (TRYAGAIN, 12), f"{f.__name__}: {status}, {err.value}"
resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
assert by_gid() == SUCCESS, "the module answers again once memory is there"
print("ok: TRYAGAIN/ENOMEM under the limit, SUCCESS after")
PY
