# Issue 11 item 3: one certificate logs in as one user at most.
# bob's directory record lists alice's address among his emails (primary, as a user-editable
# profile could make it). A certificate whose only principal is alice@example.com then logs in as
# neither alice nor bob (the principal is served for nobody: not by usherctl, not in the principals
# files), and `usherctl user` says why; certificates for their own names still work. A directory
# email equal to a local account's name (localop) is never a principal either.
# On the old code: the alice@example.com certificate logs in as alice AND as bob.
# Needs the mapping's principal uniqueness rule (branch wt-mapping).
access_setup_host
dir_edit "user('bob')['emails'] = [{'value': 'alice@example.com', 'primary': True}]"
dir_edit "user('dave')['emails'] = [{'value': 'localop', 'primary': True}]"
usher_sync
user_cert alice
user_cert bob
[ -f "$KEYS/shared" ] || ssh-keygen -q -t ed25519 -N '' -C shared-key -f "$KEYS/shared"
cert shared shared ca alice@example.com
[ -f "$KEYS/dave-op" ] || ssh-keygen -q -t ed25519 -N '' -C dave-op-key -f "$KEYS/dave-op"
cert dave-op dave-op ca localop

context "the shared principal is served for nobody"
for u in alice bob; do
    run "$USHERCTL" principals "$u"
    assert_not_contains "$OUT" "alice@example.com" "usherctl principals $u"
    uid=$(id -u "$u")
    if [ -e "$PRINCIPALS_DIR/$uid" ]; then
        assert_not_contains "$(cat "$PRINCIPALS_DIR/$uid")" "alice@example.com" "principals file of $u"
    fi
done
run "$USHERCTL" user bob
assert_contains "$OUT$ERR" "alice@example.com" "usherctl user bob mentions the refused principal"
run "$USHERCTL" status
assert_contains "$OUT" "alice@example.com" "usherctl status lists the shared principal"

context "a certificate for alice@example.com logs in as neither"
for u in alice bob; do
    mark
    ssh_cert "$u" shared shared 'id -un'
    login_refused "the alice@example.com certificate as $u"
done

context "their own names still work"
ssh_cert alice alice alice 'id -un'
login_ok "alice with an alice certificate"
assert_eq alice "$OUT"
ssh_cert bob bob bob 'id -un'
login_ok "bob with a bob certificate"
assert_eq bob "$OUT"

context "a directory email equal to a local account's name"
run "$USHERCTL" principals dave
! grep -qx localop <<<"$OUT" || fail "localop is one of dave's principals: $OUT"
echo "ok: localop is not one of dave's principals ($(echo $OUT))"
ssh_cert dave dave-op dave-op 'id -un'
login_refused "a localop certificate as dave"
