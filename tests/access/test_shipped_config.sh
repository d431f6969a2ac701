# The project's sshd drop-in and PAM snippet as installed: config/sshd_config.d/usher.conf is used
# verbatim (usherctl at the /usr/sbin path it names), sshd -t accepts it, sshd -T shows its values
# in the test sshd and, when the machine's stock sshd_config includes sshd_config.d/*.conf, there
# too; /etc/pam.d/usher is config/pam.d/usher with only the module path made absolute, included
# before common-account in sshd and sudo.
access_setup_host

context "sshd drop-in"
cmp "$USHER_ROOT/config/sshd_config.d/usher.conf" /etc/ssh/sshd_config.d/usher.conf \
    || fail "the installed drop-in differs from the project's"
assert_ok /usr/sbin/sshd -t -f "$SSHD_CONFIG"
check_effective() { # CONFIG WHAT
    assert_ok /usr/sbin/sshd -T -f "$1" -C user=alice,host=client.example,addr=127.0.0.1
    local line
    for line in "trustedusercakeys /etc/usher/trusted_user_ca_keys" \
        "authorizedprincipalscommand /usr/sbin/usherctl principals %u" \
        "authorizedprincipalscommanduser nobody" \
        "authorizedkeyscommand /usr/sbin/usherctl keys %u" \
        "authorizedkeyscommanduser nobody" \
        "usepam yes"; do
        grep -qxF -- "$line" <<<"$OUT" || fail "$2: sshd -T has no line [$line]"
    done
    echo "ok: $2: the drop-in's settings are in effect"
}
check_effective "$SSHD_CONFIG" "test sshd"
if grep -qE '^Include /etc/ssh/sshd_config.d/\*\.conf' /etc/ssh/sshd_config; then
    check_effective /etc/ssh/sshd_config "the machine's stock sshd_config"
else
    echo "skip: the stock /etc/ssh/sshd_config does not include sshd_config.d/*.conf"
fi
# Every helper the drop-in names passes sshd's path check (root-owned, not group/world-writable
# up to /), as a login proved in the other tests; here the same for the files it reads.
assert_eq "0 755" "$(stat -c '%u %a' /usr/sbin/usherctl)" "usherctl owner and mode"
assert_eq "0 644" "$(stat -c '%u %a' "$TRUSTED_CA_KEYS")" "trusted CA keys owner and mode"
assert_eq "0 644" "$(stat -c '%u %a' "$USHER_CACHE")" "the cache is readable by nobody (usherctl runs as nobody)"

context "PAM snippet"
assert_output "$(sed "s|pam_usher\.so|$PAM_SO|" "$USHER_ROOT/config/pam.d/usher")" cat /etc/pam.d/usher
for svc in sshd sudo; do
    assert_eq "@include usher" "$(grep -B1 -m1 '^@include common-account' "/etc/pam.d/$svc" | head -1)" \
        "$svc: usher right before common-account"
done
assert_match "$(cat /etc/pam.d/usher)" "^account +requisite +$PAM_SO\$"
assert_match "$(cat /etc/pam.d/usher)" "^session +optional +$PAM_SO home_root=/home\$"

context "a login through it all"
cert alice alice ca alice
ssh_cert alice alice alice 'id -un'
login_ok "alice"
