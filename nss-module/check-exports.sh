#!/bin/sh
# Usage: check-exports.sh PATH_TO_SO
#
# Fails unless the defined dynamic symbols of the NSS module are exactly the eleven glibc entry
# points below: nothing missing, nothing extra (in particular none of the bundled SQLite's
# sqlite3_* functions, nor Rust std internals).
#
# What the linker adds: with rustc's cdylib version script (global: the #[no_mangle] items;
# local: *) and GNU ld or lld on x86_64/aarch64 glibc, nothing. `nm -D --defined-only` lists the
# eleven functions only; _init/_fini, __bss_start, _edata and _end are not exported. If a future
# toolchain adds such linker-defined symbols, list them in LINKER_SYMBOLS with a comment saying
# which toolchain does so.
set -eu

LINKER_SYMBOLS=""

EXPECTED="_nss_usher_endgrent
_nss_usher_endpwent
_nss_usher_getgrent_r
_nss_usher_getgrgid_r
_nss_usher_getgrnam_r
_nss_usher_getpwent_r
_nss_usher_getpwnam_r
_nss_usher_getpwuid_r
_nss_usher_initgroups_dyn
_nss_usher_setgrent
_nss_usher_setpwent"

if [ $# -ne 1 ]; then
    echo "usage: $0 PATH_TO_SO" >&2
    exit 2
fi
so=$1
if [ ! -f "$so" ]; then
    echo "check-exports: $so: no such file" >&2
    exit 1
fi
if ! command -v nm >/dev/null 2>&1; then
    echo "check-exports: nm not found (install binutils)" >&2
    exit 1
fi

if ! symbols=$(nm -D --defined-only "$so"); then
    echo "check-exports: nm failed on $so" >&2
    exit 1
fi
# Third column is the name; strip any @VERSION suffix.
actual=$(printf '%s\n' "$symbols" | awk 'NF >= 3 { sub(/@.*/, "", $3); print $3 }' | sort -u)

expected=$(printf '%s\n%s\n' "$EXPECTED" "$LINKER_SYMBOLS" | grep -v '^$' | sort -u)

status=0
missing=$(printf '%s\n' "$expected" | while read -r s; do
    printf '%s\n' "$actual" | grep -qxF "$s" || printf '%s\n' "$s"
done)
extra=$(printf '%s\n' "$actual" | while read -r s; do
    [ -z "$s" ] && continue
    printf '%s\n' "$expected" | grep -qxF "$s" || printf '%s\n' "$s"
done)
# Entry points every NSS module must have (the linker symbols are optional).
for s in $EXPECTED; do
    if printf '%s\n' "$missing" | grep -qxF "$s"; then
        echo "check-exports: missing export: $s" >&2
        status=1
    fi
done
if [ -n "$extra" ]; then
    count=$(printf '%s\n' "$extra" | wc -l)
    echo "check-exports: $count unexpected export(s), e.g.:" >&2
    printf '%s\n' "$extra" | head -20 | sed 's/^/  /' >&2
    status=1
fi
if [ $status -eq 0 ]; then
    echo "check-exports: $so exports exactly the $(printf '%s\n' "$EXPECTED" | wc -l) _nss_usher_* entry points"
fi
exit $status
