# usherd as a service: after the first (full) listing, a sync asks only for what changed: each
# group by id (re-listing members only when lastMembershipUpdated moved) and the users changed
# since the newest change seen. A deactivation, which leaves the group's membership date alone, is
# still seen; a user who leaves the group is kept inactive, also across a restart of usherd.
usher_install_module
okta_keys
okta_sample_state
okta_start
okta_write_config "$OKTA_AUTH_SSWS"

context "first sync: a full listing"
okta_mark
okta_daemon_start
assert_eq 1 "$(okta_count "/api/v1/groups/$OKTA_USERS_GROUP/users")" "linux-users listed once"
assert_eq 1 "$(okta_count "/api/v1/groups/$OKTA_ADMINS_GROUP/users")" "linux-admins listed once"
okta_user_says bob "active:      yes"

context "bob deactivated: seen by the users search, no member listing"
okta_admin POST "users/$OKTA_BOB/deactivate"
okta_mark
okta_daemon_sync
okta_user_says bob "active:      no (deactivated in the directory)"
assert_eq 0 "$(okta_count '/users\?limit')" "no member listing"
assert_eq 1 "$(okta_count 'GET 200 SSWS /api/v1/users\?search=lastUpdated\+gt\+')" "one users search"
assert_eq 1 "$(okta_count "GET 200 SSWS /api/v1/groups/$OKTA_USERS_GROUP$")" "linux-users by id"
assert_eq 1 "$(okta_count "GET 200 SSWS /api/v1/groups/$OKTA_ADMINS_GROUP$")" "linux-admins by id"
assert_eq 0 "$(okta_count 'search=profile')" "no group search between full listings"
grep -q "okta: 2 groups unchanged (lastMembershipUpdated), 0 re-listed; 1 known users changed" "$OKTA_USHERD_LOG" \
    || fail "no delta summary in usherd's output: $(tail -5 "$OKTA_USHERD_LOG")"

context "alice's profile changes"
okta_admin PATCH "users/$OKTA_ALICE" '{"profile": {"loginShell": "/bin/sh"}}'
okta_mark
okta_daemon_sync
assert_output "alice:*:5001:5001:Alice Example:/home/alice:/bin/sh" getent passwd alice
assert_eq 0 "$(okta_count '/users\?limit')" "no member listing"

context "bob reactivated"
okta_admin POST "users/$OKTA_BOB/reactivate"
okta_daemon_sync
okta_user_says bob "active:      yes" "login here:  yes"

context "carol leaves linux-users: only that group is listed again"
okta_admin DELETE "groups/$OKTA_USERS_GROUP/members/$OKTA_CAROL"
okta_mark
okta_daemon_sync
assert_eq 1 "$(okta_count "/api/v1/groups/$OKTA_USERS_GROUP/users")" "linux-users re-listed"
assert_eq 0 "$(okta_count "/api/v1/groups/$OKTA_ADMINS_GROUP/users")" "linux-admins not re-listed"
okta_user_says carol "active:      no" "login here:  no: deactivated"
assert_ok getent passwd carol

context "usherd restarts: carol stays, inactive"
okta_daemon_stop
okta_mark
okta_daemon_start
assert_eq 1 "$(okta_count "/api/v1/groups/$OKTA_USERS_GROUP/users")" "a full listing after the restart"
okta_user_says carol "active:      no" "login here:  no: deactivated"
okta_user_says bob "active:      yes"
okta_daemon_stop

context "secrets"
okta_no_secrets
