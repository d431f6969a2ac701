# A real cache (usherd --once from a file directory of 300 users and 100 groups) mutated a few
# hundred ways: bit flips anywhere and inside one table's pages, zeroed, swapped and copied pages,
# overwritten ranges, truncation at page boundaries and mid-page. Each copy is installed as
# /var/lib/usher/cache.db (root-owned, 0644) and getent passwd|group (with and without files),
# getent passwd root, getent passwd|initgroups USER, id USER and pamtester sshd USER acct_mgmt run
# on it, each with a time limit (tests/e2e/cache_corruption.py). Must hold: no death by signal, no
# timeout, no uid 0 / gid 0 / empty or invalid name from Usher, root always answered, no access
# granted that the good cache refuses. The RNG seed is fixed and printed (USHER_CORRUPTION_SEED,
# USHER_CORRUPTION_COUNT to change them).
command -v pamtester >/dev/null || fail "pamtester is missing (scripts/setup.sh installs it)"
[ -f "$USHER_TARGET/release/libpam_usher.so" ] || fail "libpam_usher.so is not built (cargo build --release)"
. "$USHER_ROOT/tests/access/lib.sh"

usher_install_module
access_install_pam
python3 "$USHER_GEN" --users 300 --groups 100 --per-user 4 --seed 11 --scim-json "$USHER_DIRECTORY"
# Members of two groups may log in (once policy entries are typed: `name:`), the rest are refused.
usher_write_config "$USHER_DIRECTORY" "$USHER_CONFIG" \
    $'[access]\nlogin_groups = ["name:group0001", "name:group0002"]\n'
usher_sync
cp "$USHER_CACHE" "$NS/cache.good"
getent -s usher passwd | cut -d: -f1 > "$NS/users"
assert_eq 300 "$(wc -l < "$NS/users")" "usherd published the 300 users"

context "corruption loop"
python3 "$USHER_ROOT/tests/e2e/cache_corruption.py" "$NS/cache.good" --users "$NS/users" \
    --seed "${USHER_CORRUPTION_SEED:-11}" --count "${USHER_CORRUPTION_COUNT:-200}" \
    || fail "corrupt caches gave the answers above"

# The good cache answers again once it is back.
context "after the loop"
assert_ok getent passwd "$(head -n 1 "$NS/users")"
