#!/bin/bash
# One backend of the NSS benchmark, inside a private namespace (bench/run.sh starts it; do not run
# it by hand). Sourced after tests/e2e/ns-setup.sh and tests/e2e/lib.sh.
# Env: BACKEND (files | usher | cache | floor), SIZE, DATA (the generated files for SIZE), NSSBENCH,
#      ITERS, BUDGET_MS, RESULTS (TSV to append to), RAW (raw output file to append to).
set -euo pipefail
trap - ERR

result() { # backend-independent TSV: size backend position function value calls failures
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$SIZE" "$BACKEND" "$@" >> "$RESULTS"
}

now_ns() { date +%s%N; }

# Other work on the machine skews a run: say how busy it was.
echo "## size $SIZE, $BACKEND: load average at start $(cut -d' ' -f1-3 /proc/loadavg)" >> "$RAW"

case "$BACKEND" in
files)
    cat "$DATA/passwd" >> /etc/passwd
    cat "$DATA/group" >> /etc/group
    usher_nsswitch files
    ;;
usher)
    # usherd runs under `files usher` (root must resolve for what it checks), the lookups under
    # `usher` alone.
    usher_install_module
    usher_write_config "$DATA/dir.json"
    t0=$(now_ns)
    run "$USHERD" --config "$USHER_CONFIG" --once
    t1=$(now_ns)
    echo "usherd --once ($SIZE users): exit $RC in $(( (t1 - t0) / 1000000 )) ms" >> "$RAW"
    echo "$ERR" | tail -3 >> "$RAW"
    if [ "$RC" != 0 ]; then
        echo "usherd failed: $ERR" >&2
        result - usherd_failed 0 0 1
        exit 0
    fi
    result - usherd_once_ms $(( (t1 - t0) / 1000000 )) 1 0
    usher_nsswitch usher
    result - cache_bytes "$(stat -c %s "$USHER_CACHE")" 1 0
    # usherd has just spent seconds of CPU and freed tens of MiB; the lookups right after it ran
    # up to 30% slower in some runs (the kernel reclaiming memory). The other backends start idle.
    sleep 3
    ;;
cache)
    cp -p "$DATA"/cache/* /etc/
    usher_nsswitch cache
    if ! getent passwd user00001 >/dev/null 2>&1 || ! getent group user00001 >/dev/null 2>&1; then
        echo "libnss-cache could not be fed the generated data (getent passwd user00001 fails)" >> "$RAW"
        result - unavailable 0 0 1
        exit 0
    fi
    ;;
floor)
    # bench/nss_floor.c: answers at once without looking anything up (glibc's own cost per call).
    mkdir -p "$NS/lib"
    cp "$FLOOR_SO" "$NS/lib/libnss_floor.so.2"
    echo "$NS/lib" > /etc/ld.so.conf.d/floor.conf
    ldconfig
    usher_nsswitch floor
    ;;
*)
    echo "unknown backend $BACKEND" >&2
    exit 2
    ;;
esac

LAST_UID=$((100000 + SIZE))
LAST_USER=$(sed -n '$p' "$DATA/passwd" | cut -d: -f1)
LAST_GROUP_LINE=$(sed -n '$p' "$DATA/group")
for position in start end; do
    if [ "$position" = start ]; then
        args=(user00001 100001 user00001 100001)
    else
        args=("$LAST_USER" "$LAST_UID" "$(cut -d: -f1 <<<"$LAST_GROUP_LINE")" "$(cut -d: -f3 <<<"$LAST_GROUP_LINE")")
    fi
    extra=()
    [ "$position" = start ] && extra=(--enum)
    {
        echo "### size $SIZE, passwd/group: $BACKEND, $position: nssbench ${args[*]} $ITERS --budget-ms $BUDGET_MS ${extra[*]}"
    } >> "$RAW"
    out=$("$NSSBENCH" "${args[@]}" "$ITERS" --budget-ms "$BUDGET_MS" "${extra[@]}" 2>&1) || true
    grep -v '^RESULT ' <<<"$out" >> "$RAW"
    while read -r _ fn value calls fails _; do
        result "$position" "$fn" "$value" "$calls" "$fails"
    done < <(grep '^RESULT ' <<<"$out")
done

# `getent passwd | wc -l`: median and fastest of nine runs, both processes on one CPU (spread over
# two, a run takes one of two speeds, about 40 or 70 ms at 100k, depending on where they are
# scheduled, for every backend alike).
# The floor module does not enumerate.
[ "$BACKEND" = floor ] && exit 0
times=()
for _ in 1 2 3 4 5 6 7 8 9; do
    t0=$(now_ns)
    count=$(taskset -c 0 sh -c 'getent passwd | wc -l')
    t1=$(now_ns)
    times+=($(( t1 - t0 )))
done
median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 5p)
fastest=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 1p)
echo "getent passwd | wc -l: $count entries, $(( median / 1000 )) µs (median of 9: ${times[*]} ns)" >> "$RAW"
result - getent_passwd_wc "$median" "$count" 0
result - getent_passwd_wc_min "$fastest" "$count" 0
