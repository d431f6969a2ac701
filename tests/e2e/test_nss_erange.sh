# Too small a buffer: ERANGE (the module answers TRYAGAIN), never a torn entry; glibc's own retry
# then gets the whole entry. A group with many members is the usual case.
usher_install_module
usher_sample_directory
usher_json_edit "$USHER_DIRECTORY" '
P = "urn:usher:params:scim:schemas:extension:posix:2.0:User"
for i in range(300):
    d["Users"].append({"id": "u-many-%03d" % i, "userName": "member%03d" % i, P: {"uidNumber": 20000 + i},
                       "meta": {"created": "2024-03-01T00:00:00Z"}})
    group("ops")["members"].append({"value": "u-many-%03d" % i})'
usher_write_config
usher_sync
PROG=$(gcc_build nss_erange "$USHER_ROOT/tests/e2e/c/nss_erange.c")
assert_ok "$PROG" alice ops
echo "$OUT"
assert_ok "$PROG" member150 ops
assert_ok getent group ops
assert_eq 302 "$(cut -d: -f4 <<<"$OUT" | tr ',' '\n' | wc -l)" "getent group ops lists all 302 members"
