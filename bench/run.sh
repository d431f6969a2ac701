#!/bin/bash
# NSS benchmark: libnss_usher against glibc's `files` and Debian's libnss-cache holding the same
# entries, and against `floor` (bench/nss_floor.c: a module that answers at once, i.e. glibc's own
# cost per call, mostly the stat of nsswitch.conf it makes on every call), side by side in one
# run, each backend in its own private namespace (as root; nothing reaches the machine's /etc). A
# benchmark, not a test: it asserts no timing.
#
# usage: bench/run.sh [SIZES...]      (default: 10000 100000)
# For each size N: N users, 10,000 groups, each user in 50 of them (tests/tools/gen_directory.py),
# as usher's directory JSON (loaded with `usherd --once`, timed), /etc/passwd + /etc/group lines
# for `files`, and libnss-cache's files with their indexes for `cache`. nssbench (bench/nssbench.c)
# then times getpwnam_r, getpwuid_r, getgrnam_r, getgrgid_r and getgrouplist for a user and a group
# at the start and at the end of the data, and `getent passwd | wc -l` is timed per backend.
# Prints the raw nssbench output, then a markdown table with ratios.
#
# Env: BENCH_ITERS (max calls per function, default 200000), BENCH_BUDGET_MS (time per function,
#      default 1500), BENCH_WORK (scratch dir, default a new dir under /var/tmp, removed at the
#      end unless BENCH_KEEP=1), USHER_TARGET (cargo target dir).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export USHER_ROOT=$ROOT
export USHER_TARGET=${USHER_TARGET:-$ROOT/target}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(10000 100000)
ITERS=${BENCH_ITERS:-200000}
BUDGET_MS=${BENCH_BUDGET_MS:-1500}
GROUPS_N=10000
PER_USER=50

[ "$(id -u)" = 0 ] || { echo "bench/run.sh: must run as root (private namespaces)" >&2; exit 2; }

if [ -n "${BENCH_WORK:-}" ]; then
    WORK=$BENCH_WORK
    mkdir -p "$WORK"
else
    WORK=$(mktemp -d /var/tmp/usher-bench.XXXXXX)
fi
cleanup() { [ "${BENCH_KEEP:-}" = 1 ] || rm -rf "$WORK"; }
trap cleanup EXIT

echo "== building (cargo build --release, nssbench)" >&2
(cd "$ROOT" && cargo build --release) >&2
gcc -O2 -Wall -o "$WORK/nssbench" "$ROOT/bench/nssbench.c"
gcc -O2 -Wall -shared -fPIC -o "$WORK/libnss_floor.so.2" "$ROOT/bench/nss_floor.c"

CACHE_NOTE=
if ! grep -q 'libnss_cache\.so\.2' <(ldconfig -p); then
    echo "== libnss-cache is not installed: apt-get install -y libnss-cache" >&2
    if ! { apt-get install -y libnss-cache >&2 || { apt-get update >&2 && apt-get install -y libnss-cache >&2; }; }; then
        CACHE_NOTE="libnss-cache could not be installed; the cache backend is left out"
        echo "== $CACHE_NOTE" >&2
    fi
fi
BACKENDS=(files usher)
[ -z "$CACHE_NOTE" ] && BACKENDS+=(cache)
BACKENDS+=(floor)

RESULTS=$WORK/results.tsv
RAW=$WORK/raw.txt
: > "$RESULTS"
: > "$RAW"
for size in "${SIZES[@]}"; do
    data=$WORK/data-$size
    mkdir -p "$data"
    echo "== size $size: generating $size users, $GROUPS_N groups, $PER_USER groups per user" >&2
    python3 "$ROOT/tests/tools/gen_directory.py" --users "$size" --groups "$GROUPS_N" \
        --per-user "$PER_USER" --seed 1 --scim-json "$data/dir.json" \
        --passwd "$data/passwd" --group "$data/group" --cache-dir "$data/cache"
    for backend in "${BACKENDS[@]}"; do
        echo "== size $size: $backend" >&2
        unshare --mount --propagation private --pid --fork --kill-child --mount-proc \
            env BACKEND="$backend" SIZE="$size" DATA="$data" NSSBENCH="$WORK/nssbench" \
                FLOOR_SO="$WORK/libnss_floor.so.2" \
                ITERS="$ITERS" BUDGET_MS="$BUDGET_MS" RESULTS="$RESULTS" RAW="$RAW" ROOT="$ROOT" \
            bash -c 'set -euo pipefail; . "$ROOT/tests/e2e/ns-setup.sh"; . "$ROOT/tests/e2e/lib.sh"; . "$ROOT/bench/in-namespace.sh"' \
            || echo "== size $size: $backend: the run failed (exit $?)" | tee -a "$RAW" >&2
    done
    rm -rf "$data"
done

echo "## Raw output"
echo
echo '```'
cat "$RAW"
echo '```'
echo
python3 - "$RESULTS" "$CACHE_NOTE" <<'PY'
import collections, os, platform, subprocess, sys, datetime

rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.strip()]
cache_note = sys.argv[2]
data = {}
for size, backend, pos, fn, value, calls, fails in rows:
    data[(int(size), backend, pos, fn)] = (value, int(calls), int(fails))

def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"

def glibc():
    try:
        return subprocess.run(["ldd", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    except Exception:
        return "unknown"

def human(ns):
    ns = float(ns)
    if ns < 1000:
        return f"{ns:.0f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.3g} µs"
    if ns < 1e9:
        return f"{ns / 1e6:.3g} ms"
    return f"{ns / 1e9:.3g} s"

def cell(size, backend, pos, fn):
    v = data.get((size, backend, pos, fn))
    if v is None:
        return "–"
    value, calls, fails = v
    if value == "notfound":
        return "NOT FOUND"
    s = human(value)
    if fails:
        s += f" ({fails} failed)"
    return s

def ratio(size, a, b, pos, fn):
    va, vb = data.get((size, a, pos, fn)), data.get((size, b, pos, fn))
    try:
        x = float(va[0]) / float(vb[0])
    except (TypeError, ValueError, ZeroDivisionError):
        return "–"
    return f"{x:.2g}×" if x < 10 else f"{x:.0f}×"

fns = ["getpwnam_r", "getpwuid_r", "getgrnam_r", "getgrgid_r", "getgrouplist"]
sizes = sorted({k[0] for k in data})
backends = [b for b in ["files", "usher", "cache", "floor"] if any(k[1] == b for k in data)]
print(f"## NSS benchmark, {datetime.date.today().isoformat()}")
print()
print(f"Machine: {os.cpu_count()} CPUs ({cpu_model()}), {platform.system()} {platform.release()}, {glibc()}.")
print("Each size: N users, 10,000 groups, each user in 50 groups. ns/op warm (the first call is in the")
print("raw output), the median of 5 batches; `getent passwd | wc -l` (on one CPU) median and fastest of 9. Runs vary")
print("by about ±30%: compare within one run.")
print("Ratios are usher's time divided by the other backend's (below 1× = usher is faster).")
if cache_note:
    print(f"\nNote: {cache_note}.")
for size in sizes:
    print()
    extra = []
    if (size, "usher", "-", "usherd_once_ms") in data:
        extra.append(f"`usherd --once` {int(data[(size, 'usher', '-', 'usherd_once_ms')][0]) / 1000:.1f} s")
    if (size, "usher", "-", "cache_bytes") in data:
        extra.append(f"cache.db {int(data[(size, 'usher', '-', 'cache_bytes')][0]) / 1e6:.0f} MB")
    if (size, "usher", "-", "usherd_failed") in data:
        extra.append("`usherd --once` FAILED")
    if (size, "cache", "-", "unavailable") in data:
        extra.append("libnss-cache could not be fed the data")
    print(f"### {size:,} users" + (f" ({', '.join(extra)})" if extra else ""))
    print()
    print("| backend | pos | " + " | ".join(fns) + " | `getent passwd \\| wc -l` |")
    print("|---|---|" + "---|" * (len(fns) + 1))
    for backend in backends:
        for pos in ["start", "end"]:
            enum = "″"
            if pos == "start":
                e = data.get((size, backend, "-", "getent_passwd_wc"))
                fastest = data.get((size, backend, "-", "getent_passwd_wc_min"))
                enum = f"{human(e[0])} (fastest {human(fastest[0]) if fastest else '–'}; {e[1]:,} lines)" if e else "–"
            print(f"| {backend} | {pos} | " + " | ".join(cell(size, backend, pos, f) for f in fns) + f" | {enum} |")
    for other in [b for b in backends if b not in ("usher", "floor")]:
        if "usher" not in backends:
            break
        for pos in ["start", "end"]:
            enum = "″"
            if pos == "start":
                enum = (ratio(size, "usher", other, "-", "getent_passwd_wc") + " (fastest: "
                        + ratio(size, "usher", other, "-", "getent_passwd_wc_min") + ")")
            print(f"| usher ÷ {other} | {pos} | " + " | ".join(ratio(size, "usher", other, pos, f) for f in fns) + f" | {enum} |")
    if "usher" in backends and "floor" in backends:
        def minus(pos, fn):
            # The floor is the same at both positions: its faster one is the less disturbed.
            a = data.get((size, "usher", pos, fn))
            floors = [data.get((size, "floor", p, fn)) for p in ("start", "end")]
            try:
                return human(float(a[0]) - min(float(b[0]) for b in floors if b))
            except (TypeError, ValueError):
                return "–"
        for pos in ["start", "end"]:
            print(f"| usher − floor (usher's own time) | {pos} | " + " | ".join(minus(pos, f) for f in fns) + " | |")
PY
