# 16 threads look users and groups up in a loop while usherd republishes the cache 100 times
# (alternating between two exports): no lookup fails, and no file descriptor or mapping of an old
# snapshot is kept (each thread holds at most one handle, on the current file).
usher_install_module
usher_sample_directory "$USHER_WORK/a.json"
cp "$USHER_WORK/a.json" "$USHER_WORK/b.json"
usher_json_edit "$USHER_WORK/b.json" '
u = dict(user("alice")); u["id"] = "u-gina-0010"; u["userName"] = "gina"
u["urn:usher:params:scim:schemas:extension:posix:2.0:User"] = {"uidNumber": 5010}
d["Users"].append(u)
user("alice")["displayName"] = "Alice B"'
usher_write_config "$USHER_WORK/a.json" "$USHER_WORK/a.toml"
usher_write_config "$USHER_WORK/b.json" "$USHER_WORK/b.toml"
assert_ok "$USHERD" --config "$USHER_WORK/a.toml" --once

PROG=$(gcc_build nss_threads "$USHER_ROOT/tests/e2e/c/nss_threads.c")
THREADS=16
"$PROG" "$THREADS" alice 5001 ops "$NS/stop" > "$NS/threads.out" 2> "$NS/threads.err" &
PID=$!
for _ in $(seq 200); do grep -q ready "$NS/threads.out" && break; sleep 0.05; done
grep -q ready "$NS/threads.out" || fail "nss_threads did not start: $(cat "$NS/threads.out" "$NS/threads.err")"

cache_fds() { # all, then deleted: fds of PID open on a cache.db
    local all=0 deleted=0 fd target
    for fd in /proc/"$PID"/fd/*; do
        target=$(readlink "$fd" 2>/dev/null) || continue
        case "$target" in
            */cache.db*" (deleted)") all=$((all + 1)); deleted=$((deleted + 1)) ;;
            */cache.db*) all=$((all + 1)) ;;
        esac
    done
    echo "$all $deleted"
}

MAX_FDS_SEEN=0
GEN_BEFORE=$(python3 -c 'import sqlite3; print(sqlite3.connect("file:/var/lib/usher/cache.db?mode=ro&immutable=1", uri=True).execute("select value from meta where key = \"generation\"").fetchone()[0])')
for i in $(seq 100); do
    if [ $((i % 2)) = 1 ]; then cfg=b; else cfg=a; fi
    run "$USHERD" --config "$USHER_WORK/$cfg.toml" --once
    [ "$RC" = 0 ] || fail "usherd failed at round $i: $ERR"
    kill -0 "$PID" 2>/dev/null || fail "nss_threads died at round $i: $(cat "$NS/threads.err")"
    read -r all _ <<<"$(cache_fds)"
    [ "$all" -gt "$MAX_FDS_SEEN" ] && MAX_FDS_SEEN=$all
done
GEN_AFTER=$(python3 -c 'import sqlite3; print(sqlite3.connect("file:/var/lib/usher/cache.db?mode=ro&immutable=1", uri=True).execute("select value from meta where key = \"generation\"").fetchone()[0])')
assert_eq 100 $((GEN_AFTER - GEN_BEFORE)) "100 new snapshots were published"

# Give every thread time to notice the last snapshot (the module rechecks at least every second).
sleep 2.5
read -r ALL DELETED <<<"$(cache_fds)"
MAPS_DELETED=$(grep -c 'cache.db.* (deleted)' /proc/"$PID"/maps || true)
echo "fds on cache.db: max seen during republishing $MAX_FDS_SEEN, at the end $ALL ($DELETED of old snapshots); old mappings $MAPS_DELETED"
[ "$MAX_FDS_SEEN" -le $((THREADS * 2 + 4)) ] || fail "up to $MAX_FDS_SEEN fds on cache.db during republishing ($THREADS threads)"
[ "$ALL" -le $((THREADS + 4)) ] || fail "$ALL fds on cache.db at the end for $THREADS threads: $(ls -l /proc/$PID/fd | grep cache.db)"
[ "$DELETED" = 0 ] || fail "$DELETED fds still open on replaced snapshots: $(ls -l /proc/$PID/fd | grep cache.db)"
[ "$MAPS_DELETED" = 0 ] || fail "$MAPS_DELETED mappings of replaced snapshots: $(grep cache.db /proc/$PID/maps)"

touch "$NS/stop"
RC=0; wait "$PID" || RC=$?
cat "$NS/threads.out"
[ "$RC" = 0 ] || fail "lookups failed while republishing (exit $RC): $(cat "$NS/threads.out" "$NS/threads.err")"
assert_match "$(cat "$NS/threads.out")" "lookups=[1-9][0-9]* failed=0 " "no failed lookup"
# Threads that ended closed their handles.
assert_match "$(cat "$NS/threads.out")" "fds_after_join=[0-4]$" "handles of ended threads are closed"
