# What Okta does when it is unhappy: a storm of 429s (usherd waits for X-Rate-Limit-Reset each
# time, never retrying in a tight loop, then succeeds), a rate-limit window running low (usherd
# pauses before hitting 429), a page failing half way (sync fails, cache byte for byte the same),
# a revoked API token (a clear error, cache kept).
usher_install_module
okta_keys
okta_sample_state
okta_start
okta_write_config "$OKTA_AUTH_SSWS"
okta_sync

context "a 429 storm"
okta_admin POST faults '{"mode": "429_storm", "count": 3, "reset_in": 2, "path_prefix": "/api/v1/groups"}'
okta_mark
okta_sync
okta_log >"$USHER_WORK/requests.txt"
assert_eq 3 "$(okta_count ' 429 ')" "three 429s"
[ "$(wc -l <"$USHER_WORK/requests.txt")" -le 12 ] || fail "too many requests: $(cat "$USHER_WORK/requests.txt")"
# After each 429 the next request waits for the reset (2 s ahead): never a tight loop.
awk '$3 == 429 { t = $1; next } t { gap = $1 - t; if (gap < 1.0) { print "gap " gap " after a 429"; bad = 1 } t = 0 }
     END { exit bad }' "$USHER_WORK/requests.txt" || fail "a retry came too soon: $(cat "$USHER_WORK/requests.txt")"
assert_contains "$ERR" "rate limited (HTTP 429"
assert_output "linux-users:*:7001:alice,bob,carol,dave,frank" getent group linux-users

context "a 429 storm longer than the retries: the sync fails, the cache stays"
cp /var/lib/usher/cache.db "$USHER_WORK/cache.before"
okta_admin POST faults '{"mode": "429_storm", "count": 8, "reset_in": 1}'
okta_mark
okta_once
[ "$RC" != 0 ] || fail "the sync succeeded through 8 429s"
assert_contains "$ERR" "directory answered HTTP 429"
assert_eq 5 "$(okta_count ' 429 ')" "one try and four retries"
cmp -s /var/lib/usher/cache.db "$USHER_WORK/cache.before" || fail "the cache changed"
okta_admin DELETE faults

context "a rate-limit window running low: a pause before the last requests, no 429"
okta_admin PATCH state '{"settings": {"rate_limits": {"window_seconds": 3, "limits": {"api_v1_groups": 4}}}}'
okta_admin POST rate_limits/reset
okta_write_config "$OKTA_AUTH_SSWS" "page_size = 1"
okta_mark
okta_sync
okta_log >"$USHER_WORK/requests.txt"
assert_eq 0 "$(okta_count ' 429 ')" "no 429"
assert_contains "$ERR" "requests left in the rate-limit window of /api/v1/groups; waiting"
[ "$(okta_count "/api/v1/groups/$OKTA_USERS_GROUP/users")" -ge 5 ] || fail "expected 5+ member pages"
okta_admin PATCH state '{"settings": {"rate_limits": {"window_seconds": 60, "limits": {"api_v1_groups": 500}}}}'
okta_admin POST rate_limits/reset

context "a member page fails half way: nothing published"
okta_write_config "$OKTA_AUTH_SSWS" "page_size = 2"
okta_admin PATCH "users/$OKTA_ALICE" '{"profile": {"displayName": "Alice Never Seen"}}'
okta_admin DELETE "groups/$OKTA_USERS_GROUP/members/$OKTA_BOB"
cp /var/lib/usher/cache.db "$USHER_WORK/cache.before"
okta_admin POST faults "{\"mode\": \"fail_page\", \"nth\": 2, \"path_prefix\": \"/api/v1/groups/$OKTA_USERS_GROUP/users\"}"
okta_mark
okta_once
[ "$RC" != 0 ] || fail "the sync succeeded with a failed page"
assert_contains "$ERR" "directory answered HTTP 500 for members of Okta group linux-users (page 2)"
assert_contains "$ERR" "cache left as it was"
cmp -s /var/lib/usher/cache.db "$USHER_WORK/cache.before" || fail "the cache changed"
assert_output "alice:*:5001:5001:Alice Example:/home/alice:/bin/bash" getent passwd alice
okta_user_says bob "active:      yes"
context "the next sync, with the page back, goes through"
okta_sync
assert_output "alice:*:5001:5001:Alice Never Seen:/home/alice:/bin/bash" getent passwd alice
okta_user_says bob "active:      no"

context "the API token is revoked: a clear error, cache kept"
cp /var/lib/usher/cache.db "$USHER_WORK/cache.before"
okta_admin POST revoke '{"api_token_name": "e2e"}'
okta_once
[ "$RC" != 0 ] || fail "the sync succeeded with a revoked token"
assert_contains "$ERR" "Okta refused the API token (HTTP 401 E0000011 Invalid token provided)"
assert_contains "$ERR" "create a new token and write it to $OKTA_TOKEN_FILE"
cmp -s /var/lib/usher/cache.db "$USHER_WORK/cache.before" || fail "the cache changed"
assert_output "alice:*:5001:5001:Alice Never Seen:/home/alice:/bin/bash" getent passwd alice
run "$USHERCTL" status
assert_contains "$OUT" "Okta refused the API token" "usherctl status shows why"

context "secrets"
okta_no_secrets
