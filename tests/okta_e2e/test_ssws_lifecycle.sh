# An API token (SSWS), usherd --once each time (a fresh process: a full listing every run, and the
# users of the published cache carried over): assigned groups, statuses, a profile change,
# deactivation (kept, inactive, refused), reactivation, leaving every configured group (kept,
# inactive), coming back.
usher_install_module
okta_pam_setup
okta_keys
okta_sample_state
okta_start
okta_write_config "$OKTA_AUTH_SSWS"

context "first sync"
okta_mark
okta_sync
assert_contains "$ERR" "okta: full listing: 2 groups, 5 users"
assert_output "alice:*:5001:5001:Alice Example:/home/alice:/bin/bash" getent passwd alice
assert_output "bob:*:5002:5002:Bob Builder:/home/bob:/bin/bash" getent passwd bob
assert_output "linux-users:*:7001:alice,bob,carol,dave,frank" getent group linux-users
assert_output "linux-admins:*:7002:alice" getent group linux-admins
assert_ok id alice
assert_contains "$OUT" "uid=5001(alice) gid=5001(alice)"
assert_contains "$OUT" "7001(linux-users)"
assert_contains "$OUT" "7002(linux-admins)"
assert_not_found getent passwd erin  # only in linux-users-old (a prefix match) and other-team
assert_not_found getent group linux-users-old
assert_not_found getent group other-team
okta_user_says alice "active:      yes" "login here:  yes" "sudo here:   yes" \
    "emails:      alice@example.com" "directory:   id $OKTA_ALICE, userName alice@example.com"
# secondEmail (user-editable, unverified in Okta) is never read: never an email, never a principal.
okta_user_says alice "principals:  alice, alice@example.com"
[ -z "$OKTA_ALICE_SSH" ] || okta_user_says alice "ssh keys:    1"
okta_user_says bob "active:      yes" "login here:  yes" "sudo here:   no: not a member of any [access] sudo_groups group"
okta_user_says carol "active:      yes" "login here:  yes"  # LOCKED_OUT is still an account
okta_user_says dave "active:      no" "login here:  no: deactivated"  # SUSPENDED
okta_user_says frank "active:      no" "login here:  no: deactivated"  # STAGED
# The same decisions through the real PAM module, as sshd and sudo would get them.
okta_pam_allows alice
okta_pam_allows alice usher-okta-sudo
okta_pam_allows bob
okta_pam_refuses bob usher-okta-sudo
okta_pam_refuses dave
okta_pam_refuses frank
okta_pam_allows root
carol_uid=$(getent passwd carol | cut -d: -f3)
[ "$carol_uid" -ge 200000 ] || fail "carol's uid $carol_uid is not derived from her id"
# The requests: the group named in the config found by search (exact name kept), the one given by
# id fetched by id, members listed with a high limit; all with the API token.
okta_log >"$USHER_WORK/requests.txt"
assert_match "$(cat "$USHER_WORK/requests.txt")" "GET 200 SSWS /api/v1/groups\?search=profile\.name.*linux-users"
assert_match "$(cat "$USHER_WORK/requests.txt")" "GET 200 SSWS /api/v1/groups/$OKTA_ADMINS_GROUP$"
assert_match "$(cat "$USHER_WORK/requests.txt")" "GET 200 SSWS /api/v1/groups/$OKTA_USERS_GROUP/users\?limit=1000$"
assert_eq 0 "$(okta_count ' (Bearer|none) ')" "every request carries the API token"

context "profile change"
okta_admin PATCH "users/$OKTA_ALICE" '{"profile": {"displayName": "Alice Renamed", "loginShell": "/bin/sh", "uidNumber": 5011}}'
okta_sync
assert_output "alice:*:5011:5011:Alice Renamed:/home/alice:/bin/sh" getent passwd alice

context "bob deactivated in Okta"
okta_admin POST "users/$OKTA_BOB/deactivate"
okta_sync
assert_output "bob:*:5002:5002:Bob Builder:/home/bob:/bin/bash" getent passwd bob
assert_output "linux-users:*:7001:alice,bob,carol,dave,frank" getent group linux-users
okta_user_says bob "active:      no (deactivated in the directory)" "login here:  no: deactivated in the directory"
okta_pam_refuses bob

context "bob reactivated"
okta_admin POST "users/$OKTA_BOB/reactivate"
okta_sync
okta_user_says bob "active:      yes" "login here:  yes"
okta_pam_allows bob

context "bob leaves every configured group"
okta_admin DELETE "groups/$OKTA_USERS_GROUP/members/$OKTA_BOB"
okta_sync
assert_output "bob:*:5002:5002:Bob Builder:/home/bob:/bin/bash" getent passwd bob
assert_output "linux-users:*:7001:alice,carol,dave,frank" getent group linux-users
okta_user_says bob "active:      no" "login here:  no: deactivated"
okta_pam_refuses bob
context "still kept, inactive, at the next run (carried over from the cache)"
okta_sync
okta_user_says bob "active:      no"
assert_output "bob:*:5002:5002:Bob Builder:/home/bob:/bin/bash" getent passwd bob

context "bob back in linux-users"
okta_admin PUT "groups/$OKTA_USERS_GROUP/members/$OKTA_BOB"
okta_sync
okta_user_says bob "active:      yes" "login here:  yes"
okta_pam_allows bob

context "secrets"
okta_no_secrets
