# OAuth 2.0 for Okta: a service app with private_key_jwt, signed here with RS256 (PKCS#8 and
# PKCS#1 keys) and ES256; the access token is reused, replaced when it expires in the middle of a
# sync, and a key Okta does not know gives a clear error and leaves the cache alone.
usher_install_module
okta_keys
okta_sample_state
okta_start

for variant in "RS256 PKCS#8:$OKTA_RS_CLIENT:$OKTA_KEYS/rsa.pem:rsa-kid-1" \
    "RS256 PKCS#1:$OKTA_RS_CLIENT:$OKTA_KEYS/rsa-pkcs1.pem:" \
    "ES256 PKCS#8:$OKTA_ES_CLIENT:$OKTA_KEYS/ec.pem:ec-kid-1"; do
    IFS=: read -r label client key kid <<<"$variant"
    context "$label"
    okta_write_config "$(okta_auth_oauth "$client" "$key" "$kid")"
    okta_mark
    okta_sync
    assert_output "alice:*:5001:5001:Alice Example:/home/alice:/bin/bash" getent passwd alice
    okta_user_says alice "login here:  yes" "sudo here:   yes"
    assert_eq 1 "$(okta_count 'POST 200 none /oauth2/v1/token')" "one token for the whole sync"
    assert_eq 0 "$(okta_count ' SSWS ')" "no API token"
    assert_eq 0 "$(okta_count ' 40[0-9] ')" "no refused request"
    [ "$(okta_count 'GET 200 Bearer /api/v1/')" -ge 3 ] || fail "API requests with the access token: $(okta_log)"
done

context "the access token expires in the middle of a sync"
okta_write_config "$(okta_auth_oauth "$OKTA_RS_CLIENT" "$OKTA_KEYS/rsa.pem")" "page_size = 2"
okta_admin POST faults '{"mode": "expire_tokens", "after": 3}'
okta_mark
okta_sync
okta_log >"$USHER_WORK/requests.txt"
assert_eq 2 "$(okta_count 'POST 200 none /oauth2/v1/token')" "a second token after the 401"
assert_eq 1 "$(okta_count 'GET 401 Bearer ')" "one refused request"
# The refused request is asked again right after the new token.
awk '{print $2, $3, $5}' "$USHER_WORK/requests.txt" | grep -A2 '^GET 401' >"$USHER_WORK/around.txt"
assert_eq "POST /oauth2/v1/token" "$(sed -n 2p "$USHER_WORK/around.txt" | cut -d' ' -f1,3)" "token after the 401"
assert_eq "$(sed -n 1p "$USHER_WORK/around.txt" | cut -d' ' -f1,3)" "$(sed -n 3p "$USHER_WORK/around.txt" | cut -d' ' -f1,3)" "the same request again"
assert_contains "$ERR" "the access token was refused (HTTP 401 E0000011"
assert_output "linux-users:*:7001:alice,bob,carol,dave,frank" getent group linux-users

context "a key Okta does not know: clear error, cache kept"
cp /var/lib/usher/cache.db "$USHER_WORK/cache.before"
okta_admin PATCH "users/$OKTA_BOB" '{"profile": {"displayName": "Changed Meanwhile"}}'
okta_write_config "$(okta_auth_oauth "$OKTA_RS_CLIENT" "$OKTA_KEYS/unregistered.pem")"
okta_once
[ "$RC" != 0 ] || fail "usherd --once succeeded with an unregistered key"
assert_contains "$ERR" "Okta's token endpoint refused the request (HTTP 401 invalid_client: The client_assertion signature is invalid.)"
assert_contains "$ERR" "cache left as it was"
cmp -s /var/lib/usher/cache.db "$USHER_WORK/cache.before" || fail "the cache changed"
assert_output "bob:*:5002:5002:Bob Builder:/home/bob:/bin/bash" getent passwd bob

context "a key file others can read is refused before any request"
chmod 0644 "$OKTA_KEYS/rsa.pem"
okta_write_config "$(okta_auth_oauth "$OKTA_RS_CLIENT" "$OKTA_KEYS/rsa.pem")"
okta_mark
okta_once
[ "$RC" != 0 ] || fail "usherd used a world-readable key"
assert_contains "$ERR" "mode 0644"
assert_eq "" "$(okta_log)" "no request"
chmod 0600 "$OKTA_KEYS/rsa.pem"

context "secrets"
okta_no_secrets
