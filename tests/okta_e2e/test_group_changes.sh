# Groups change in Okta under a running usherd: a group named in the config is renamed (usherd
# follows it by id and says to update the config), then deleted (its members lose access, kept
# inactive, and later syncs still go through); a restart then reports the unknown name; a group
# named by id that is deleted is simply empty.
usher_install_module
okta_keys
okta_sample_state
okta_start
OKTA_GROUPS='["linux-users", "linux-admins"]'
OKTA_LOGIN_GROUPS="[\"id:$OKTA_USERS_GROUP\"]"  # by id: survives the rename
okta_write_config "$OKTA_AUTH_SSWS"
okta_daemon_start
okta_user_says bob "active:      yes" "login here:  yes"

context "linux-users renamed to linux-people in Okta"
okta_admin PATCH "groups/$OKTA_USERS_GROUP" '{"profile": {"name": "linux-people"}}'
okta_daemon_sync
grep -q 'group "linux-users" (directory.groups) was renamed in Okta to "linux-people"' "$OKTA_USHERD_LOG" \
    || fail "no rename warning: $(tail -5 "$OKTA_USHERD_LOG")"
assert_output "linux-people:*:7001:alice,bob,carol,dave,frank" getent group linux-people
assert_not_found getent group linux-users
okta_user_says bob "active:      yes" "login here:  yes"
context "and again at the next sync"
okta_daemon_sync
okta_user_says bob "login here:  yes"

context "linux-people deleted in Okta"
okta_admin DELETE "groups/$OKTA_USERS_GROUP"
okta_daemon_sync
grep -q "no longer exists in Okta; its members lose access here" "$OKTA_USHERD_LOG" \
    || fail "no deletion warning: $(tail -5 "$OKTA_USHERD_LOG")"
assert_not_found getent group linux-people
okta_user_says bob "active:      no" "login here:  no: deactivated"
okta_user_says alice "active:      yes" "sudo here:   yes"  # still in linux-admins
context "later syncs still go through"
okta_daemon_sync
okta_user_says bob "active:      no"

context "after a restart the deleted name is an error, and nothing changes"
okta_daemon_stop
cp /var/lib/usher/cache.db "$USHER_WORK/cache.before"
okta_once
[ "$RC" != 0 ] || fail "usherd accepted a group name Okta does not know"
assert_contains "$ERR" 'Okta has no group named "linux-users" (directory.groups)'
cmp -s /var/lib/usher/cache.db "$USHER_WORK/cache.before" || fail "the cache changed"

context "a group named by id that is deleted is empty"
OKTA_GROUPS="[\"$OKTA_ADMINS_GROUP\"]"
okta_write_config "$OKTA_AUTH_SSWS"
okta_sync
okta_user_says alice "active:      yes" "sudo here:   yes"
okta_admin DELETE "groups/$OKTA_ADMINS_GROUP"
okta_sync
assert_contains "$ERR" "group $OKTA_ADMINS_GROUP (directory.groups) no longer exists in Okta"
okta_user_says alice "active:      no"
assert_ok getent passwd alice

context "secrets"
okta_no_secrets
