#!/bin/bash
# Helpers for the Okta end-to-end tests. Source AFTER tests/e2e/ns-setup.sh and tests/e2e/lib.sh,
# inside the private namespace (tests/okta_e2e/run.sh does).
#
# The sample org (okta_sample_state):
#   alice  00ualice000000000001  ACTIVE      uidNumber 5001, shell /bin/bash, an SSH key
#                                            in linux-users and linux-admins
#   bob    00ubob00000000000002  ACTIVE      uidNumber 5002, displayName "Bob Builder"; linux-users
#   carol  00ucarol000000000003  LOCKED_OUT  no numbers (derived); linux-users
#   dave   00udave0000000000004  SUSPENDED   uidNumber 5004; linux-users
#   erin   00uerin0000000000005  ACTIVE      uidNumber 5005; only in linux-users-old and other-team
#   frank  00ufrank000000000006  STAGED      uidNumber 5006; linux-users
#   groups linux-users (00glinuxusers0000001, gidNumber 7001), linux-admins (…admins000002,
#          gidNumber 7002), linux-users-old (…old0003), other-team (…00000004)
#   The fake's `search_eq_startswith` is on: `profile.name eq "linux-users"` also finds
#   linux-users-old, as Okta's documented startsWith implementation detail may.
# Config (okta_write_config): groups = ["linux-users", "00glinuxadmins000002"] (a name and an id),
# [access] login_groups = ["linux-users"], sudo_groups = ["name:linux-admins"].

OKTA_FAKE=$USHER_ROOT/tests/okta/okta_fake.py
OKTA_CTL=$USHER_ROOT/tests/okta_e2e/okta_ctl.py
USHERCTL=$USHER_TARGET/release/usherctl
OKTA_STATE=$USHER_WORK/okta-state.json
OKTA_KEYS=$USHER_WORK/keys
OKTA_TOKEN_FILE=$USHER_WORK/okta-token
# Everything usherd printed in this test, to look for secrets in.
OKTA_USHERD_LOG=$USHER_WORK/usherd-output.log
OKTA_RS_CLIENT=0oarsclient000000001
OKTA_ES_CLIENT=0oaesclient000000002
OKTA_ALICE=00ualice000000000001
OKTA_BOB=00ubob00000000000002
OKTA_CAROL=00ucarol000000000003
OKTA_USERS_GROUP=00glinuxusers0000001
OKTA_ADMINS_GROUP=00glinuxadmins000002
: >"$OKTA_USHERD_LOG"

# The API token: random, and recognisable in a log.
OKTA_SSWS=00e2eSSWS$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
(umask 077 && printf '%s\n' "$OKTA_SSWS" >"$OKTA_TOKEN_FILE")

# okta_keys: RSA (PKCS#8 and the same key as PKCS#1) and EC P-256 (PKCS#8) private keys, 0600, with
# their public halves; an SSH key for alice.
okta_keys() {
    mkdir -p "$OKTA_KEYS"
    (
        umask 077
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$OKTA_KEYS/rsa.pem" 2>/dev/null
        openssl rsa -in "$OKTA_KEYS/rsa.pem" -traditional -out "$OKTA_KEYS/rsa-pkcs1.pem" 2>/dev/null
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$OKTA_KEYS/ec.pem" 2>/dev/null
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$OKTA_KEYS/unregistered.pem" 2>/dev/null
    ) || fail "openssl could not make the test keys"
    openssl pkey -in "$OKTA_KEYS/rsa.pem" -pubout -out "$OKTA_KEYS/rsa.pub.pem" 2>/dev/null
    openssl pkey -in "$OKTA_KEYS/ec.pem" -pubout -out "$OKTA_KEYS/ec.pub.pem" 2>/dev/null
    grep -q "BEGIN RSA PRIVATE KEY" "$OKTA_KEYS/rsa-pkcs1.pem" || fail "no PKCS#1 key"
    if command -v ssh-keygen >/dev/null; then
        ssh-keygen -q -t ed25519 -N '' -C alice@test -f "$OKTA_KEYS/alice_ssh" >/dev/null
        OKTA_ALICE_SSH=$(cat "$OKTA_KEYS/alice_ssh.pub")
    else
        OKTA_ALICE_SSH=""
    fi
}

# okta_sample_state [FILE]: the sample org described above.
okta_sample_state() {
    [ -f "$OKTA_KEYS/rsa.pub.pem" ] || okta_keys
    OKTA_SSWS=$OKTA_SSWS KEYS=$OKTA_KEYS ALICE_SSH=${OKTA_ALICE_SSH:-} \
        RS=$OKTA_RS_CLIENT ES=$OKTA_ES_CLIENT python3 - "${1:-$OKTA_STATE}" <<'PY'
import json, os, sys
keys = os.environ["KEYS"]
def pem(name):
    with open(os.path.join(keys, name)) as f:
        return f.read()
def user(uid, login, status, first, last, **extra):
    profile = {"login": login, "email": login, "firstName": first, "lastName": last}
    profile.update(extra)
    return {"id": uid, "status": status, "created": "2024-01-01T00:00:00.000Z", "profile": profile}
alice = {"uidNumber": 5001, "loginShell": "/bin/bash", "secondEmail": "alice@home.example"}
if os.environ["ALICE_SSH"]:
    alice["sshPublicKey"] = [os.environ["ALICE_SSH"]]
users = [
    user("00ualice000000000001", "alice@example.com", "ACTIVE", "Alice", "Example", **alice),
    user("00ubob00000000000002", "bob@example.com", "ACTIVE", "Bob", "B",
         uidNumber=5002, displayName="Bob Builder"),
    user("00ucarol000000000003", "carol@example.com", "LOCKED_OUT", "Carol", "C"),
    user("00udave0000000000004", "dave@example.com", "SUSPENDED", "Dave", "D", uidNumber=5004),
    user("00uerin0000000000005", "erin@example.com", "ACTIVE", "Erin", "E", uidNumber=5005),
    user("00ufrank000000000006", "frank@example.com", "STAGED", "Frank", "F", uidNumber=5006),
]
state = {
    "api_tokens": [{"name": "e2e", "token": os.environ["OKTA_SSWS"]}],
    "clients": [
        {"client_id": os.environ["RS"], "public_key_pem": pem("rsa.pub.pem"),
         "scopes": ["okta.users.read", "okta.groups.read"]},
        {"client_id": os.environ["ES"], "public_key_pem": pem("ec.pub.pem"),
         "scopes": ["okta.users.read", "okta.groups.read"]},
    ],
    "users": users,
    "groups": [
        {"id": "00glinuxusers0000001", "profile": {"name": "linux-users", "gidNumber": 7001},
         "created": "2024-01-01T00:00:00.000Z",
         "members": ["00ualice000000000001", "00ubob00000000000002", "00ucarol000000000003",
                     "00udave0000000000004", "00ufrank000000000006"]},
        {"id": "00glinuxadmins000002", "profile": {"name": "linux-admins", "gidNumber": 7002},
         "created": "2024-01-01T00:00:01.000Z",
         "members": ["00ualice000000000001"]},
        {"id": "00glinuxusersold0003", "profile": {"name": "linux-users-old"},
         "members": ["00uerin0000000000005"]},
        {"id": "00gotherteam00000004", "profile": {"name": "other-team"},
         "members": ["00uerin0000000000005"]},
    ],
    "settings": {"search_eq_startswith": True},
}
with open(sys.argv[1], "w") as f:
    json.dump(state, f, indent=1)
PY
}

# okta_start [FAKE_ARGS...]: starts the fake on a free port with $OKTA_STATE; sets OKTA_PORT,
# OKTA_ORG, OKTA_FAKE_PID. It dies with the namespace.
okta_start() {
    [ -f "$OKTA_STATE" ] || okta_sample_state
    local out=$USHER_WORK/fake.out
    python3 "$OKTA_FAKE" --port 0 --state "$OKTA_STATE" "$@" >"$out" 2>"$USHER_WORK/fake.err" &
    OKTA_FAKE_PID=$!
    local line=""
    for _ in $(seq 100); do
        line=$(head -n1 "$out" 2>/dev/null || true)
        [ -n "$line" ] && break
        sleep 0.05
    done
    [[ "$line" =~ ^LISTENING\ 127\.0\.0\.1:([0-9]+)$ ]] \
        || fail "the Okta fake did not start: [$line] $(cat "$USHER_WORK/fake.err")"
    OKTA_PORT=${BASH_REMATCH[1]}
    OKTA_ORG=http://127.0.0.1:$OKTA_PORT
}

# okta_admin METHOD PATH [JSON]: the fake's control API; fails the test on an error answer.
okta_admin() {
    python3 "$OKTA_CTL" "$OKTA_PORT" admin "$@" >/dev/null || fail "okta admin $* failed"
}

# okta_mark: remembers where the fake's request log is; okta_log prints what came since.
okta_mark() {
    OKTA_MARK=$(python3 "$OKTA_CTL" "$OKTA_PORT" count)
}
okta_log() {
    python3 "$OKTA_CTL" "$OKTA_PORT" log "${OKTA_MARK:-0}"
}

# okta_count PATTERN: requests since the mark whose log line matches the ERE.
okta_count() {
    okta_log | grep -cE -- "$1" || true
}

OKTA_AUTH_SSWS="token_file = \"$OKTA_TOKEN_FILE\""
# okta_auth_oauth CLIENT_ID KEY_FILE [KEY_ID]: the [directory] lines for a service app.
okta_auth_oauth() {
    printf 'client_id = "%s"\nprivate_key_file = "%s"\n' "$1" "$2"
    if [ -n "${3:-}" ]; then printf 'key_id = "%s"\n' "$3"; fi
}

# okta_write_config AUTH [DIRECTORY_EXTRA] [TAIL]: the test host's usher.toml. OKTA_GROUPS and
# OKTA_LOGIN_GROUPS (TOML lists) replace the defaults when set.
okta_write_config() {
    local groups="[\"linux-users\", \"$OKTA_ADMINS_GROUP\"]" login='["name:linux-users"]'
    groups=${OKTA_GROUPS:-$groups}
    login=${OKTA_LOGIN_GROUPS:-$login}
    cat >"$USHER_CONFIG" <<EOF
[directory]
kind = "okta"
org_url = "$OKTA_ORG"
groups = $groups
$1
${2:-}

[access]
login_groups = $login
sudo_groups = ["name:linux-admins"]

[sync]
interval = 3600
jitter = 0
backoff_initial = 1
backoff_max = 2
${3:-}
EOF
}

# okta_once [ARGS...]: usherd --once; OUT/ERR/RC set, output kept for the secret check.
okta_once() {
    run "$USHERD" --config "$USHER_CONFIG" --once "$@"
    printf '%s\n%s\n' "$OUT" "$ERR" >>"$OKTA_USHERD_LOG"
}

# okta_sync: okta_once that must succeed.
okta_sync() {
    okta_once "$@"
    if [ "$RC" != 0 ]; then
        { echo "FAIL: ${USHER_CONTEXT:+[$USHER_CONTEXT] }usherd --once failed"; _show_run usherd --once; } >&2
        exit 1
    fi
}

# okta_user_says NAME TEXT...: `usherctl user NAME` prints each TEXT.
okta_user_says() {
    local name=$1
    shift
    assert_ok "$USHERCTL" user "$name"
    local want
    for want in "$@"; do
        assert_contains "$OUT" "$want" "usherctl user $name"
    done
}

# okta_no_secrets: no token, key or JWT in anything usherd wrote (its output and syslog).
okta_no_secrets() {
    local where
    for where in "$OKTA_USHERD_LOG" "$USHER_NS_LOG"; do
        if grep -qF -- "$OKTA_SSWS" "$where"; then fail "the API token is in $where"; fi
        # Client assertions and the fake's access tokens are JWTs: base64url of '{"' starts eyJ.
        if grep -q 'eyJ' "$where"; then fail "a JWT (assertion or access token) is in $where"; fi
        local f line
        for f in "$OKTA_KEYS"/*.pem; do
            [ -e "$f" ] || continue
            # The second line of a PEM is key material.
            line=$(sed -n 2p "$f")
            if grep -qF -- "$line" "$where"; then fail "key material of $(basename "$f") is in $where"; fi
        done
    done
}

# okta_daemon_start: usherd as a service, in the background; waits for its first sync.
okta_daemon_start() {
    local before
    before=$(okta_state_attempts)
    "$USHERD" --config "$USHER_CONFIG" >>"$OKTA_USHERD_LOG" 2>&1 &
    OKTA_DAEMON_PID=$!
    for _ in $(seq 300); do
        if [ "$(okta_state_pid)" = "$OKTA_DAEMON_PID" ] && [ "$(okta_state_attempts)" -ge 1 ]; then
            return 0
        fi
        kill -0 "$OKTA_DAEMON_PID" 2>/dev/null || fail "usherd exited: $(tail -5 "$OKTA_USHERD_LOG")"
        sleep 0.1
    done
    fail "usherd did not finish a first sync (attempts before: $before)"
}

okta_daemon_stop() {
    kill "$OKTA_DAEMON_PID" 2>/dev/null || true
    wait "$OKTA_DAEMON_PID" 2>/dev/null || true
}

_okta_state_field() {
    python3 -c 'import json,sys
try:
    print(json.load(open("/var/lib/usher/private/state.json")).get(sys.argv[1], 0))
except Exception:
    print(0)' "$1"
}
okta_state_attempts() { _okta_state_field attempts; }
okta_state_pid() { _okta_state_field pid; }

# okta_daemon_sync: `usherctl sync` against the running daemon; it must succeed.
okta_daemon_sync() {
    assert_ok "$USHERCTL" sync --timeout 60
    assert_contains "$OUT" "synced:" "usherctl sync"
}

# okta_pam_setup: a PAM service `usher-okta` (account phase) and `sudo` whose account phase asks
# the real pam_usher first, as the shipped profile does (`requisite`: a denial is final).
okta_pam_setup() {
    local so=${USHER_SO%/*}/libpam_usher.so
    [ -f "$so" ] || fail "$so is not built (cargo build --release)"
    cp "$so" "$NS/lib/pam_usher.so"
    for service in usher-okta usher-okta-sudo; do
        printf 'account requisite %s sudo_services=usher-okta-sudo\naccount required pam_permit.so\n' \
            "$NS/lib/pam_usher.so" > "/etc/pam.d/$service"
    done
}

# okta_pam_allows USER [SERVICE] / okta_pam_refuses USER [SERVICE]: pamtester's account verdict.
okta_pam_allows() {
    assert_ok pamtester "${2:-usher-okta}" "$1" acct_mgmt
}
okta_pam_refuses() {
    assert_fails pamtester "${2:-usher-okta}" "$1" acct_mgmt
}
