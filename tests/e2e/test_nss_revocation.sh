# A revocation reaches long-running processes (issue 11, class 8): processes that keep their
# handles open (Python, like nscd or cron) call getgrouplist, initgroups, getgrnam, getgrgid,
# getpwnam and getpwuid, each process in another order; usherd republishes with memberships
# removed and a user removed, and 1.5 s later (the module rechecks the path once a second) every
# call in every process, whichever call comes first, answers from the new snapshot. Then a grant,
# the same way. (Before the fix, a process whose round began with getgrouplist or initgroups kept
# the old snapshot: the local-name test used up the check that notices a new one.)
usher_setup_sample
. "$USHER_ROOT/tests/e2e/nss_longrun.sh"
FUNCS=("getgrouplist:alice:5001" "initgroups:alice:5001" "getgrnam:ops" "getgrgid:6002"
       "getpwnam:dave" "getpwuid:5002")
N=${#FUNCS[@]}
NAMES=()
for ((i = 0; i < N; i++)); do
    forward= backward=
    for ((j = 0; j < N; j++)); do
        forward+="${FUNCS[(i + j) % N]};"
        backward+="${FUNCS[(i - j + N) % N]};"
    done
    longrun_start "fwd$i" "${forward%;}"
    longrun_start "bwd$i" "${backward%;}"
    NAMES+=("fwd$i" "bwd$i")
done

BEFORE='{"getgrouplist:alice:5001": [5001, 6001, 6002], "initgroups:alice:5001": [5001, 6001, 6002],
         "getgrnam:ops": ["alice", "dave"], "getgrgid:6002": ["alice"],
         "getpwnam:dave": [5002, 5002], "getpwuid:5002": "dave"}'
REVOKED='{"getgrouplist:alice:5001": [5001], "initgroups:alice:5001": [5001],
          "getgrnam:ops": [], "getgrgid:6002": [],
          "getpwnam:dave": None, "getpwuid:5002": None}'
GRANTED='{"getgrouplist:alice:5001": [5001, 6002], "initgroups:alice:5001": [5001, 6002],
          "getgrnam:ops": [], "getgrgid:6002": ["alice"],
          "getpwnam:dave": None, "getpwuid:5002": None}'

context "before"
for name in "${NAMES[@]}"; do longrun_expect "$name" "$BEFORE"; done
# Twice, so every handle has looked at the path recently (a warm handle, not a fresh open).
sleep 1.2
for name in "${NAMES[@]}"; do longrun_expect "$name" "$BEFORE"; done

context "alice leaves ops and admins, dave is removed"
usher_json_edit "$USHER_DIRECTORY" '
d["Users"] = [u for u in d["Users"] if u["userName"] != "dave@example.com"]
for g in d["Groups"]:
    g["members"] = [m for m in g["members"] if m["value"] not in ("u-dave-0002", "u-alice-0001")]'
usher_sync
assert_output "alice" id -Gn alice   # a fresh process sees it at once
sleep 1.5
for name in "${NAMES[@]}"; do longrun_expect "$name" "$REVOKED"; done
echo "ok: $((2 * N)) long-running processes, every order: revocation seen within 1.5 s"

context "alice joins admins again"
usher_json_edit "$USHER_DIRECTORY" 'group("admins")["members"] = [{"value": "u-alice-0001"}]'
usher_sync
sleep 1.5
for name in "${NAMES[@]}"; do longrun_expect "$name" "$GRANTED"; done
echo "ok: the grant is seen the same way"

for name in "${NAMES[@]}"; do longrun_stop "$name"; done
