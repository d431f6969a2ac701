# Usher serves exactly what glibc's `files` module serves from the same data: a generated
# directory of 2000 users in 40 groups (each user in 5; groups of ~250 members, longer than
# getent's first buffer, so ERANGE + TRYAGAIN and glibc's retry are exercised).
[ -f "$USHER_GEN" ] || fail "$USHER_GEN is missing"
usher_install_module
python3 "$USHER_GEN" --users 2000 --groups 40 --per-user 5 --seed 3 \
    --scim-json "$USHER_DIRECTORY" --passwd "$NS/gen.passwd" --group "$NS/gen.group"
usher_write_config
usher_sync
assert_contains "$ERR" "published generation 1: 2000 users (0 inactive), 2040 groups"

# Whole tables, through the module alone, against the generated files (sorted: order may differ).
assert_ok getent -s usher passwd
assert_eq "$(sort "$NS/gen.passwd")" "$(sort <<<"$OUT")" "getent -s usher passwd = the generated passwd file"
assert_ok getent -s usher group
assert_eq "$(sort "$NS/gen.group")" "$(sort <<<"$OUT")" "getent -s usher group = the generated group file"

# The largest group, by name and by gid, through `files usher`.
BIG=$(awk -F: '{ print length($4), $1 }' "$NS/gen.group" | sort -n | tail -1 | cut -d' ' -f2)
BIG_LINE=$(grep "^$BIG:" "$NS/gen.group")
[ "${#BIG_LINE}" -gt 1024 ] || fail "the largest group line is only ${#BIG_LINE} bytes"
assert_output "$BIG_LINE" getent group "$BIG"
assert_output "$BIG_LINE" getent group "$(cut -d: -f3 <<<"$BIG_LINE")"

# initgroups for a few users: the groups that list them in the generated file.
for u in user00001 user01000 user02000; do
    want=$(awk -F: -v u="$u" '{ n = split($4, m, ","); for (i = 1; i <= n; i++) if (m[i] == u) print $3 }' \
        "$NS/gen.group" | sort -n | tr '\n' ' ')
    assert_ok getent initgroups "$u"
    got=$(tr -s ' ' '\n' <<<"$OUT" | tail -n +2 | grep . | sort -n | tr '\n' ' ')
    assert_eq "$want" "$got" "getent initgroups $u"
    uid=$(grep "^$u:" "$NS/gen.passwd" | cut -d: -f3)
    assert_ok id -G "$u"
    assert_eq "$uid $want" "$(tr ' ' '\n' <<<"$OUT" | head -1) $(tr ' ' '\n' <<<"$OUT" | tail -n +2 | sort -n | tr '\n' ' ')" "id -G $u"
done

# The same data in /etc/passwd + /etc/group answers byte for byte the same through `files`.
# (Usher's answers are taken first: once the users are local accounts too, Usher's member lists
# leave them out, as a local account must get nothing from the directory.)
declare -A USHER_ANSWER
for key in user00001 user01234 102000; do
    assert_ok getent -s usher passwd "$key"; USHER_ANSWER[passwd $key]=$OUT
done
for key in group0001 group0040 500007 user00042; do
    assert_ok getent -s usher group "$key"; USHER_ANSWER[group $key]=$OUT
done
cat "$NS/gen.passwd" >> /etc/passwd
cat "$NS/gen.group" >> /etc/group
for key in user00001 user01234 102000; do
    assert_output "${USHER_ANSWER[passwd $key]}" getent -s files passwd "$key"
done
for key in group0001 group0040 500007 user00042; do
    assert_output "${USHER_ANSWER[group $key]}" getent -s files group "$key"
done
assert_output "group0001:*:500001:" getent -s usher group group0001
