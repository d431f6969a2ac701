# usherctl principals/keys as sshd runs them (AuthorizedPrincipalsCommandUser and
# AuthorizedKeysCommandUser nobody, from /usr/sbin/usherctl): what they print for each kind of
# user; dave, whose directory record holds an sshPublicKey, logs in with that key and no
# certificate through AuthorizedKeysCommand while allowed, and is refused once deactivated.
access_setup_host
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }

context "usherctl principals"
assert_output "$(printf 'alice\nalice@example.com')" as_nobody "$USHERCTL" principals alice
assert_output "bob" as_nobody "$USHERCTL" principals bob
assert_output "dave" as_nobody "$USHERCTL" principals dave
assert_output "" as_nobody "$USHERCTL" principals carol        # not in a login group
assert_output "" as_nobody "$USHERCTL" principals erin         # deactivated
assert_output "" as_nobody "$USHERCTL" principals root         # local
assert_output "" as_nobody "$USHERCTL" principals localop      # local
assert_output "" as_nobody "$USHERCTL" principals nobody-at-all
assert_output "" as_nobody "$USHERCTL" principals ''
assert_output "" as_nobody "$USHERCTL" principals 'alice
bob'

context "[ssh] principals = [\"emails\"]"
access_config $'[ssh]\nuser_ca_keys_file = "'"$UPSTREAM_CA_KEYS"$'"\nprincipals = ["emails"]\n'
usher_sync
assert_output "alice@example.com" as_nobody "$USHERCTL" principals alice
assert_output "" as_nobody "$USHERCTL" principals bob
cert alice alice-name ca alice
cert alice alice-email ca alice@example.com
ssh_cert alice alice alice-name true
login_refused "principal alice when only emails are configured"
ssh_cert alice alice alice-email 'id -un'
login_ok "principal alice@example.com when only emails are configured"
access_config
usher_sync

context "usherctl keys"
assert_output "$(cat "$KEYS/dave.pub")" as_nobody "$USHERCTL" keys dave
assert_output "" as_nobody "$USHERCTL" keys alice              # no key in the directory
assert_output "" as_nobody "$USHERCTL" keys carol
assert_output "" as_nobody "$USHERCTL" keys root

context "dave logs in with his directory key (AuthorizedKeysCommand), no certificate"
mark
ssh_key dave dave 'id'
login_ok "dave with his plain key"
assert_eq "uid=5004(dave) gid=5004(dave) groups=5004(dave),6001(ops)" "$OUT"
wait_log sshd "Accepted publickey for dave from 127.0.0.1" "sshd accepted dave's key"
assert_contains "$LOG_LINE" "ED25519 $(ssh-keygen -lf "$KEYS/dave.pub" | cut -d' ' -f2)"
ssh_key dave alice true
login_refused "another key for dave"
ssh_key alice dave true
login_refused "dave's key for alice"

context "dave deactivated"
set_active dave False
usher_sync
assert_output "" as_nobody "$USHERCTL" keys dave
mark
ssh_key dave dave true
login_refused "deactivated dave with his key"
set_active dave True
usher_sync
ssh_key dave dave true
login_ok "reactivated dave"

context "dave's key replaced upstream"
dir_edit 'user("dave")["urn:usher:params:scim:schemas:extension:posix:2.0:User"]["sshPublicKey"] = [open("'"$KEYS/bob.pub"'").read().strip(), "not a key at all"]'
usher_sync
assert_output "$(cat "$KEYS/bob.pub")" as_nobody "$USHERCTL" keys dave
ssh_key dave dave true
login_refused "dave's old key"
ssh_key dave bob 'id -un'
login_ok "dave's new key"
assert_eq dave "$OUT"

context "the cache unreadable: usherctl prints nothing, exits 0"
mv "$USHER_CACHE" "$NS/cache.saved"
assert_output "" as_nobody "$USHERCTL" principals alice
assert_output "" as_nobody "$USHERCTL" keys dave
chmod 0600 "$NS/cache.saved"
mv "$NS/cache.saved" "$USHER_CACHE"
assert_output "" as_nobody "$USHERCTL" principals alice
chmod 0644 "$USHER_CACHE"
assert_output "$(printf 'alice\nalice@example.com')" as_nobody "$USHERCTL" principals alice

context "a local account of the same name appears after the sync: usherctl prints nothing for it"
assert_output bob as_nobody "$USHERCTL" principals bob
echo 'bob:x:2002:2002:Local Bob:/home/localbob:/bin/bash' >> /etc/passwd
assert_output "" as_nobody "$USHERCTL" principals bob
assert_output "" as_nobody "$USHERCTL" keys bob
