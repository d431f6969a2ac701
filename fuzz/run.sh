#!/bin/bash
# Builds Usher's fuzz targets (cargo fuzz, nightly, AddressSanitizer) and runs each for a bounded
# time from its seed corpus in fuzz/corpus/TARGET. Exits non-zero if any target found a crash: a
# panic (a broken invariant, see each target's header), an abort, a sanitizer report, an input
# slower than the per-input timeout, or one that goes over the memory limit.
#
# usage: fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default 60 s, every target)
# Env: FUZZ_MERGE=1  merge what the run found (minimised) into fuzz/corpus/TARGET, to commit.
#      CARGO_TARGET_DIR as usual. Needs cargo-fuzz and a nightly toolchain (scripts/setup.sh), and
#      root: the cache target writes its caches root-owned, as the readers require.
# New inputs of a run go to a scratch corpus, crash inputs to fuzz/artifacts/TARGET/ (reproduce
# one with `cargo +nightly fuzz run TARGET FILE`).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
SECONDS_PER_TARGET=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(cache_reader mapping_json mapping_structured config_toml)

command -v cargo-fuzz >/dev/null || { echo "fuzz/run.sh: cargo-fuzz is missing (scripts/setup.sh)" >&2; exit 2; }
rustup run nightly rustc --version >/dev/null 2>&1 || { echo "fuzz/run.sh: no nightly toolchain (scripts/setup.sh)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "fuzz/run.sh: run as root (the cache target's files must be root's)" >&2; exit 2; }

t0=$(date +%s)
echo "fuzz: building the targets (cargo +nightly fuzz build)"
cargo +nightly fuzz build 2>&1 | grep -vE '^ +(Compiling|Downloaded|Downloading|Locking|Adding|Updating) '
[ "${PIPESTATUS[0]}" = 0 ] || { echo "fuzz/run.sh: build failed" >&2; exit 2; }
t1=$(date +%s)
echo "fuzz: build took $((t1 - t0)) s"

SCRATCH=$(mktemp -d /tmp/usher-fuzz.XXXXXX)
trap 'rm -rf "$SCRATCH"' EXIT
failed=()
for target in "${TARGETS[@]}"; do
    seeds=fuzz/corpus/$target
    work=$SCRATCH/$target
    artifacts=fuzz/artifacts/$target
    mkdir -p "$seeds" "$work" "$artifacts"
    s0=$(date +%s)
    log=$SCRATCH/$target.log
    # -timeout: one input slower than 10 s is a hang; -rss_limit_mb / -malloc_limit_mb: an input
    # that makes the code allocate without bound is a crash too.
    cargo +nightly fuzz run "$target" "$work" "$seeds" -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
        -malloc_limit_mb=1024 -artifact_prefix="$artifacts/" -print_final_stats=1 \
        >"$log" 2>&1
    rc=$?
    s1=$(date +%s)
    runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -n 1)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1)
    if [ "$rc" = 0 ]; then
        echo "fuzz: PASS $target ($((s1 - s0)) s, ${runs:-?} inputs, ${cov:-cov ?})"
    else
        echo "fuzz: FAIL $target (exit $rc, $((s1 - s0)) s, ${runs:-?} inputs): what it found:"
        # The panic message or sanitizer report, and the saved input.
        grep -E -A12 'panicked at|ERROR: (libFuzzer|AddressSanitizer)|SUMMARY' "$log" | head -n 40 | sed 's/^/    /'
        grep -E 'Test unit written to|artifact_prefix' "$log" | sed 's/^/    /'
        failed+=("$target")
    fi
    if [ "${FUZZ_MERGE:-}" = 1 ]; then
        cargo +nightly fuzz run "$target" "$seeds" "$work" -- -merge=1 >/dev/null 2>&1 \
            && echo "fuzz: merged new inputs of $target into $seeds ($(ls "$seeds" | wc -l) files)"
    fi
done
echo "fuzz: total $(($(date +%s) - t0)) s"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: targets that found crashes: ${failed[*]}"
    exit 1
fi
