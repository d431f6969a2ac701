# The module exports only _nss_usher_* symbols: a bundled SQLite or Rust std must not leak its
# symbols into every process that resolves a user (sshd, sudo, ...).
[ -f "$USHER_SO" ] || fail "$USHER_SO is not built"
CHECK=$USHER_ROOT/nss-module/check-exports.sh
if [ -f "$CHECK" ]; then
    assert_ok sh "$CHECK" "$USHER_SO"
    echo "$OUT"
else
    assert_ok nm -D --defined-only "$USHER_SO"
    others=$(awk 'NF >= 3 { print $3 }' <<<"$OUT" | grep -v '^_nss_usher_' || true)
    [ -z "$others" ] || fail "symbols other than _nss_usher_* are exported: $(head -20 <<<"$others" | tr '\n' ' ')"
fi
# Independently of the script: nothing but _nss_usher_* is defined, and the entry points glibc
# needs for passwd, group and initgroups are all there.
assert_ok nm -D --defined-only "$USHER_SO"
DEFINED=$(awk 'NF >= 3 { sub(/@.*/, "", $3); print $3 }' <<<"$OUT" | sort)
others=$(grep -v '^_nss_usher_' <<<"$DEFINED" || true)
[ -z "$others" ] || fail "symbols other than _nss_usher_* are exported: $(head -20 <<<"$others" | tr '\n' ' ')"
for fn in getpwnam_r getpwuid_r setpwent getpwent_r endpwent getgrnam_r getgrgid_r setgrent \
          getgrent_r endgrent initgroups_dyn; do
    grep -qx "_nss_usher_$fn" <<<"$DEFINED" || fail "_nss_usher_$fn is not exported"
done
# No sqlite3_* symbol anywhere in the dynamic table (defined or not).
assert_ok nm -D "$USHER_SO"
assert_not_contains "$OUT" "sqlite3_" "the dynamic symbol table mentions SQLite"
# The module needs nothing but libc and the loader (no libsqlite3.so, no libssl).
assert_ok readelf -d "$USHER_SO"
NEEDED=$(grep NEEDED <<<"$OUT" | sed 's/.*\[\(.*\)\]/\1/' | sort | tr '\n' ' ')
for lib in $NEEDED; do
    case "$lib" in
        libc.so.6|libm.so.6|libgcc_s.so.1|ld-linux-*.so.*|libpthread.so.0|libdl.so.2) ;;
        *) fail "the module links $lib (NEEDED: $NEEDED)" ;;
    esac
done
