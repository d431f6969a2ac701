# usherd's principals files (the drop-in's AuthorizedPrincipalsFile /var/lib/usher/principals/%U):
# one per uid allowed to log in, with what `usherctl principals` prints; gone after the sync that
# takes the permission away, back after the one that returns it; sshd logs a directory user in
# from the file without running usherctl, and strays in the directory are removed.
access_setup_host

context "files after the first sync"
assert_eq "755 0:0" "$(stat -c '%a %u:%g' "$PRINCIPALS_DIR")" "directory mode and owner"
assert_output "$(printf 'alice\nalice@example.com')" cat "$PRINCIPALS_DIR/5001"
assert_eq "644 0:0" "$(stat -c '%a %u:%g' "$PRINCIPALS_DIR/5001")" "alice's file mode and owner"
assert_output "bob" cat "$PRINCIPALS_DIR/5002"
for uid in 5003 5005; do
    [ ! -e "$PRINCIPALS_DIR/$uid" ] || fail "a file for uid $uid (not allowed to log in here)"
done
# The files say what usherctl says.
assert_output "$(cd "$PRINCIPALS_DIR" && for f in *; do "$USHERCTL" principals "$(id -nu "$f")"; done)" \
    sh -c "cat '$PRINCIPALS_DIR'/*"

context "a login from the file runs no command"
cert alice alice ca alice
mv "$USHERCTL" "$USHERCTL.away"
mark
ssh_cert alice alice alice 'id -un'
login_ok "alice logs in while usherctl is missing"
assert_eq alice "$OUT"
cert bob bob ca bob
rm -f "$PRINCIPALS_DIR/5002"
ssh_cert bob bob bob true
login_refused "bob without his file and without usherctl"
mv "$USHERCTL.away" "$USHERCTL"
ssh_cert bob bob bob true
login_ok "bob without his file: usherctl answers"

context "deactivation and reactivation"
set_active alice False
usher_sync
[ ! -e "$PRINCIPALS_DIR/5001" ] || fail "alice's file outlived the sync that deactivated her"
ssh_cert alice alice alice true
login_refused "alice after one sync"
set_active alice True
touch "$PRINCIPALS_DIR/stray"
usher_sync
assert_output "$(printf 'alice\nalice@example.com')" cat "$PRINCIPALS_DIR/5001"
assert_output "bob" cat "$PRINCIPALS_DIR/5002" # the file removed by hand is back
[ ! -e "$PRINCIPALS_DIR/stray" ] || fail "a stray file stayed in the directory"
ssh_cert alice alice alice true
login_ok "alice reactivated"
