# A lookup after fork works: a process looks up (opening its handle), the cache is republished,
# the process forks, and the child resolves both the old user and one only in the new snapshot
# (it opened its own handle rather than use the parent's); a grandchild does so from a thread.
usher_setup_sample
PROG=$(gcc_build nss_fork "$USHER_ROOT/tests/e2e/c/nss_fork.c")
mkfifo "$NS/fork.in"
"$PROG" alice gina ops < "$NS/fork.in" > "$NS/fork.out" 2>&1 &
PID=$!
exec 3> "$NS/fork.in"
for _ in $(seq 200); do grep -q ready "$NS/fork.out" && break; sleep 0.05; done
grep -q ready "$NS/fork.out" || fail "nss_fork did not start: $(cat "$NS/fork.out")"
# The module started no thread and opened no socket in the process.
assert_eq 1 "$(ls /proc/"$PID"/task | wc -l)" "threads in the process after its lookups"
SOCKETS=$(ls -l /proc/"$PID"/fd | grep -c 'socket:' || true)
assert_eq 0 "$SOCKETS" "sockets opened by the lookups"

# Republish with a new user gina.
usher_json_edit "$USHER_DIRECTORY" '
u = dict(user("alice")); u["id"] = "u-gina-0010"; u["userName"] = "gina"
u["urn:usher:params:scim:schemas:extension:posix:2.0:User"] = {"uidNumber": 5010}
d["Users"].append(u)'
usher_sync
assert_output "gina:*:5010:5010:Alice Example:/home/gina:/bin/bash" getent passwd gina

echo go >&3
exec 3>&-
RC=0; wait "$PID" || RC=$?
OUTPUT=$(cat "$NS/fork.out")
echo "$OUTPUT"
[ "$RC" = 0 ] || fail "nss_fork failed (exit $RC): $OUTPUT"
assert_contains "$OUTPUT" "child: gina uid=5010" "the child sees the new snapshot"
assert_contains "$OUTPUT" "grandchild-thread: gina uid=5010"
assert_contains "$OUTPUT" "parent-after: alice uid=5001"

# The same without a republish in between: the child looks up on the snapshot the parent opened.
mkfifo "$NS/fork2.in"
"$PROG" alice gina ops < "$NS/fork2.in" > "$NS/fork2.out" 2>&1 &
PID=$!
exec 3> "$NS/fork2.in"
for _ in $(seq 200); do grep -q ready "$NS/fork2.out" && break; sleep 0.05; done
echo go >&3
exec 3>&-
RC=0; wait "$PID" || RC=$?
[ "$RC" = 0 ] || fail "nss_fork without republish failed (exit $RC): $(cat "$NS/fork2.out")"
