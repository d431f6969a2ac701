#!/bin/bash
# Helpers for Usher's access tests (issue 4): a private test host with the real /usr/sbin/sshd,
# sudo and libpam, the project's sshd drop-in and PAM snippet, a user CA, and usherd publishing
# the cache from a `file` directory.
#
# Source INSIDE the private namespace, after tests/e2e/ns-setup.sh and tests/e2e/lib.sh (whose
# assertions, run/OUT/ERR/RC, usher_install_module, usher_json_edit ... are used here):
#   . tests/e2e/ns-setup.sh; . tests/e2e/lib.sh; . tests/access/lib.sh; access_setup_host
#
# What access_setup_host builds (everything in the namespace: /etc and /usr/sbin are overlays,
# /home, /var/lib/usher, /var/log, /var/lib/sudo are tmpfs; the network namespace is private when
# run.sh started it with --net):
#   NSS      libnss_usher.so.2 through ld.so.conf.d + ldconfig, `passwd/group: files usher`
#   PAM      $NS/security/pam_usher.so (named by absolute path); /etc/pam.d/usher is the project's
#            config/pam.d/usher with that path; /etc/pam.d/sshd and /etc/pam.d/sudo get
#            `@include usher` right before their `@include common-account`, as the file says
#   usherctl /usr/sbin/usherctl (overlay on /usr/sbin: root-owned chain, as sshd requires), so the
#            project's config/sshd_config.d/usher.conf is used VERBATIM as
#            /etc/ssh/sshd_config.d/usher.conf
#   sshd     /usr/sbin/sshd -D -e -f $SSHD_CONFIG on 127.0.0.1:$SSHD_PORT, generated host key,
#            AuthorizedKeysFile none, and for the local users a `Match User localop,root` block with
#            AuthorizedPrincipalsFile /etc/ssh/usher-test-principals/%u (a Match block wins over
#            the drop-in's usherd-written files, as docs/install.md tells hosts to do)
#   CA       $KEYS/ca (ed25519), its public key in $UPSTREAM_CA_KEYS, which usher.toml names as
#            [ssh] user_ca_keys_file; usherd writes /etc/usher/trusted_user_ca_keys
#   directory $USHER_DIRECTORY (file source):
#       alice  5001  ops, admins      emails alice@example.com    (login + sudo)
#       bob    5002  ops                                          (login only)
#       carol  5003  devs                                         (no login here)
#       dave   5004  ops, sshPublicKey = $KEYS/dave.pub           (keys, no certificate)
#       erin   5005  ops, deactivated
#     groups ops 6001, admins 6002, devs 6003; [access] login_groups = ["name:ops"],
#     sudo_groups = ["name:admins"]
#   local    localop (uid 2001, /etc/passwd + /etc/shadow of the overlay, home /home/localop),
#            principals files for localop and root

ACCESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
USHERCTL_BUILT=$USHER_TARGET/release/usherctl
PAM_SO_BUILT=$USHER_TARGET/release/libpam_usher.so
PAM_SO=$NS/security/pam_usher.so
USHERCTL=/usr/sbin/usherctl
KEYS=$NS/keys
SSHD_DIR=$NS/sshd
SSHD_CONFIG=$SSHD_DIR/sshd_config
SSHD_LOG=$NS/sshd.log
SSHD_PORT=${SSHD_PORT:-2222}
SSHD_PID=
UPSTREAM_CA_KEYS=$USHER_WORK/upstream_user_ca_keys
TRUSTED_CA_KEYS=/etc/usher/trusted_user_ca_keys
LOCAL_PRINCIPALS_DIR=/etc/ssh/usher-test-principals
PRINCIPALS_DIR=/var/lib/usher/principals
ACCESS_TOML=$'[access]\nlogin_groups = ["name:ops"]\nsudo_groups = ["name:admins"]\n'

# --- the host -----------------------------------------------------------------------------------

# access_private_mounts: what the real programs would write outside the namespace's overlays:
# sshd's wtmp/lastlog/btmp (/var/log), sudo's lecture files (/var/lib/sudo), and /usr/sbin for
# usherctl. /run is ns-setup.sh's tmpfs already (utmp, sudo timestamps, /run/sshd).
access_private_mounts() {
    mount -t tmpfs -o mode=0755 usherlog /var/log
    mkdir -p /var/lib/sudo && mount -t tmpfs -o mode=0711 ushersudo /var/lib/sudo
    mkdir -p "$NS/usr-sbin-upper" "$NS/usr-sbin-work"
    chmod 0755 "$NS/usr-sbin-upper"
    mount -t overlay overlay \
        -o lowerdir=/usr/sbin,upperdir="$NS/usr-sbin-upper",workdir="$NS/usr-sbin-work" /usr/sbin
    mkdir -p -m 0755 /run/sshd
    # A private network namespace (run.sh's --net) starts with lo down.
    if ! bash -c 'exec 3<>/dev/udp/127.0.0.1/9' 2>/dev/null; then
        if command -v ip >/dev/null; then
            ip link set lo up
        else # SIOCSIFFLAGS by hand when iproute2 is not installed
            python3 -c '
import fcntl, socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
flags = struct.unpack("16sH", fcntl.ioctl(s, 0x8913, struct.pack("16sH", b"lo", 0)))[1]
fcntl.ioctl(s, 0x8914, struct.pack("16sH", b"lo", flags | 1))'
        fi
    fi
}

# access_install_pam: the module by absolute path, the project's snippet as /etc/pam.d/usher,
# included from sshd and sudo before common-account.
access_install_pam() {
    [ -f "$PAM_SO_BUILT" ] || fail "$PAM_SO_BUILT is not built (cargo build --release)"
    mkdir -p -m 0755 "$NS/security"
    install -m 0644 "$PAM_SO_BUILT" "$PAM_SO"
    sed "s|pam_usher\.so|$PAM_SO|" "$USHER_ROOT/config/pam.d/usher" >/etc/pam.d/usher
    grep -q "^account  *requisite  *$PAM_SO\$" /etc/pam.d/usher \
        || fail "config/pam.d/usher has no 'account requisite pam_usher.so' line"
    local svc
    for svc in sshd sudo; do
        grep -q '^@include common-account' "/etc/pam.d/$svc" \
            || fail "/etc/pam.d/$svc has no '@include common-account' line to put usher before"
        awk '/^@include common-account/ && !done { print "@include usher"; done = 1 } { print }' \
            "/etc/pam.d/$svc" >"/etc/pam.d/.$svc.usher-test"
        mv "/etc/pam.d/.$svc.usher-test" "/etc/pam.d/$svc"
    done
}

# access_install_usherctl: the build's usherctl at the path the shipped drop-in names.
access_install_usherctl() {
    [ -x "$USHERCTL_BUILT" ] || fail "$USHERCTL_BUILT is not built (cargo build --release)"
    install -m 0755 -o root -g root "$USHERCTL_BUILT" "$USHERCTL"
    local d=$USHERCTL
    while [ "$d" != / ]; do
        d=$(dirname "$d")
        [ "$(stat -c '%u' "$d")" = 0 ] || fail "$d is not root-owned (sshd would refuse usherctl)"
        case $(stat -c '%A' "$d") in
        ?????w???? | ????????w?) [ -k "$d" ] || fail "$d is group/world-writable" ;;
        esac
    done
}

# access_local_users: localop (uid 2001) in the overlay's passwd/shadow/group, and principals
# files so that localop and root can log in with certificates from the same CA.
access_local_users() {
    echo 'localop:x:2001:2001:Local Operator:/home/localop:/bin/bash' >>/etc/passwd
    echo 'localop:*:19000:0:99999:7:::' >>/etc/shadow
    echo 'localop:x:2001:' >>/etc/group
    mkdir -p -m 0700 /home/localop && chown 2001:2001 /home/localop
    mkdir -p -m 0755 "$LOCAL_PRINCIPALS_DIR"
    echo 'localop' >"$LOCAL_PRINCIPALS_DIR/localop"
    echo 'root-breakglass' >"$LOCAL_PRINCIPALS_DIR/root"
    chmod 0644 "$LOCAL_PRINCIPALS_DIR"/*
}

# access_keys: the CA and every user's key pair in $KEYS (root-only, as ssh requires).
access_keys() {
    mkdir -p -m 0700 "$KEYS"
    ssh-keygen -q -t ed25519 -N '' -C usher-test-ca -f "$KEYS/ca"
    local u
    for u in alice bob carol dave erin localop root; do
        ssh-keygen -q -t ed25519 -N '' -C "$u-key" -f "$KEYS/$u"
    done
    cp "$KEYS/ca.pub" "$UPSTREAM_CA_KEYS"
}

# access_directory: the sample directory above (needs $KEYS/dave.pub).
access_directory() {
    python3 - "$USHER_DIRECTORY" "$(cat "$KEYS/dave.pub")" <<'PY'
import json, sys
path, dave_key = sys.argv[1], sys.argv[2]
POSIX_U = "urn:usher:params:scim:schemas:extension:posix:2.0:User"
POSIX_G = "urn:usher:params:scim:schemas:extension:posix:2.0:Group"
def user(n, uid, active=True, **extra):
    u = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", POSIX_U],
         "id": f"u-{n}", "userName": n, "displayName": n.capitalize() + " Example",
         "active": active,
         POSIX_U: {"uidNumber": uid, "gidNumber": uid, "homeDirectory": f"/home/{n}",
                   "loginShell": "/bin/bash"},
         "meta": {"resourceType": "User", "created": "2024-01-01T00:00:00Z"}}
    for k, v in extra.items():
        if k == "sshPublicKey":
            u[POSIX_U][k] = v
        else:
            u[k] = v
    return u
def group(n, gid, members):
    return {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", POSIX_G],
            "id": f"g-{n}", "displayName": n, POSIX_G: {"gidNumber": gid},
            "members": [{"value": f"u-{m}", "display": m} for m in members],
            "meta": {"resourceType": "Group", "created": "2024-01-01T00:00:00Z"}}
d = {"Users": [
        user("alice", 5001, emails=[{"value": "alice@example.com", "primary": True}]),
        user("bob", 5002),
        user("carol", 5003),
        user("dave", 5004, sshPublicKey=[{"value": dave_key}]),
        user("erin", 5005, active=False),
     ],
     "Groups": [
        group("ops", 6001, ["alice", "bob", "dave", "erin"]),
        group("admins", 6002, ["alice"]),
        group("devs", 6003, ["carol"]),
     ]}
with open(path, "w") as f:
    json.dump(d, f, indent=1)
PY
}

# access_config [EXTRA_TOML]: usher.toml with the file source, the [access] policy and the CA
# keys file; EXTRA_TOML replaces the [access] section when it has one, and is appended.
access_config() {
    local extra=${1:-}
    local access=$ACCESS_TOML
    case $extra in *'[access]'*) access= ;; esac
    case $extra in
    *'[ssh]'*) usher_write_config "$USHER_DIRECTORY" "$USHER_CONFIG" "$access$extra" ;;
    *) usher_write_config "$USHER_DIRECTORY" "$USHER_CONFIG" \
        "$access$extra"$'[ssh]\nuser_ca_keys_file = "'"$UPSTREAM_CA_KEYS"$'"\n' ;;
    esac
}

# access_sshd_config: the test sshd's own settings around the project's drop-in (included first,
# so its values win).
access_sshd_config() {
    mkdir -p -m 0755 "$SSHD_DIR" /etc/ssh/sshd_config.d
    install -m 0644 "$USHER_ROOT/config/sshd_config.d/usher.conf" /etc/ssh/sshd_config.d/usher.conf
    [ -f "$SSHD_DIR/host_key" ] || ssh-keygen -q -t ed25519 -N '' -C usher-test-host -f "$SSHD_DIR/host_key"
    chmod 0600 "$SSHD_DIR/host_key"
    cat >"$SSHD_CONFIG" <<EOF
Include /etc/ssh/sshd_config.d/usher.conf
Port $SSHD_PORT
ListenAddress 127.0.0.1
HostKey $SSHD_DIR/host_key
PidFile $SSHD_DIR/sshd.pid
AuthorizedKeysFile none
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM yes
LogLevel VERBOSE
PrintMotd no
MaxStartups 100:30:200
${SSHD_EXTRA:-}
Match User localop,root
    AuthorizedPrincipalsFile $LOCAL_PRINCIPALS_DIR/%u
EOF
}

# sshd_start: starts sshd, waits for its port. sshd_stop: stops it by pid.
sshd_start() {
    /usr/sbin/sshd -t -f "$SSHD_CONFIG" || fail "sshd -t refused $SSHD_CONFIG"
    /usr/sbin/sshd -D -e -f "$SSHD_CONFIG" </dev/null >>"$SSHD_LOG" 2>&1 &
    SSHD_PID=$!
    local _
    for _ in $(seq 100); do
        if bash -c "</dev/tcp/127.0.0.1/$SSHD_PORT" 2>/dev/null; then return 0; fi
        kill -0 "$SSHD_PID" 2>/dev/null || break
        sleep 0.05
    done
    cat "$SSHD_LOG" >&2
    fail "sshd did not start on 127.0.0.1:$SSHD_PORT"
}
sshd_stop() {
    [ -n "$SSHD_PID" ] || return 0
    kill "$SSHD_PID" 2>/dev/null || true
    wait "$SSHD_PID" 2>/dev/null || true
    SSHD_PID=
}

# access_setup_host [EXTRA_TOML]: the whole host, synced once, sshd running.
access_setup_host() {
    access_private_mounts
    usher_install_module
    access_install_pam
    access_install_usherctl
    access_local_users
    access_keys
    access_directory
    access_config "${1:-}"
    usher_sync
    access_sshd_config
    sshd_start
}

# --- certificates and logins --------------------------------------------------------------------

# cert KEY NAME CA PRINCIPALS [VALIDITY]: a certificate for $KEYS/KEY.pub signed by $KEYS/CA, as
# $KEYS/NAME-cert.pub (the private key stays $KEYS/KEY). PRINCIPALS "-": none at all.
cert() {
    local key=$1 name=$2 ca=$3 principals=$4 validity=${5:-+1h}
    mkdir -p -m 0700 "$KEYS/sign"
    cp "$KEYS/$key.pub" "$KEYS/sign/$name.pub"
    local n=(-n "$principals")
    [ "$principals" != - ] || n=()
    ssh-keygen -q -s "$KEYS/$ca" -I "$name-id" "${n[@]}" -V "$validity" "$KEYS/sign/$name.pub" \
        || fail "ssh-keygen could not sign $name"
    mv "$KEYS/sign/$name-cert.pub" "$KEYS/$name-cert.pub"
    rm -f "$KEYS/sign/$name.pub"
}

# ssh_cert USER KEY CERT CMD...: ssh with exactly that key and certificate; OUT/ERR/RC.
ssh_cert() {
    local user=$1 key=$2 certname=$3
    shift 3
    run timeout 20 ssh -p "$SSHD_PORT" -i "$KEYS/$key" -o CertificateFile="$KEYS/$certname-cert.pub" \
        -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o LogLevel=INFO -o ConnectTimeout=5 \
        "$user@127.0.0.1" "$@"
}

# ssh_key USER KEY CMD...: ssh with a plain key (no certificate); OUT/ERR/RC.
ssh_key() {
    local user=$1 key=$2
    shift 2
    run timeout 20 ssh -p "$SSHD_PORT" -i "$KEYS/$key" -o CertificateFile=none \
        -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o LogLevel=INFO -o ConnectTimeout=5 \
        "$user@127.0.0.1" "$@"
}

_show_login() {
    echo "  exit status: $RC"
    _show stdout "$OUT"
    _show stderr "$ERR"
    _show "sshd log (new lines)" "$(sshd_log_new)"
    _show "syslog (new lines)" "$(syslog_new)"
}

# login_ok WHAT: the last ssh succeeded.
login_ok() {
    if [ "$RC" != 0 ]; then
        { echo "FAIL: ${USHER_CONTEXT:+[$USHER_CONTEXT] }$1: login failed"; _show_login; } >&2
        exit 1
    fi
    echo "ok: $1"
}

# login_refused WHAT: the last ssh was refused (ssh exits 255) and ran nothing.
login_refused() {
    if [ "$RC" != 255 ] || [ -n "$OUT" ]; then
        { echo "FAIL: ${USHER_CONTEXT:+[$USHER_CONTEXT] }$1: expected a refused login (exit 255, no output)"; _show_login; } >&2
        exit 1
    fi
    echo "ok: $1 (refused: $(printf '%s' "$ERR" | tail -1))"
}

# --- logs ---------------------------------------------------------------------------------------

SSHD_MARK=0
SYSLOG_MARK=0
# mark: remember where both logs are; *_new print what came after.
mark() {
    SSHD_MARK=$(wc -l <"$SSHD_LOG" 2>/dev/null || echo 0)
    SYSLOG_MARK=$(wc -l <"$USHER_NS_LOG")
}
sshd_log_new() { tail -n +"$((SSHD_MARK + 1))" "$SSHD_LOG" 2>/dev/null || true; }
syslog_new() { tail -n +"$((SYSLOG_MARK + 1))" "$USHER_NS_LOG" || true; }

# wait_log sshd|syslog SUBSTRING WHAT: SUBSTRING appears in that log after the mark (within 3 s;
# sshd's children and the syslog sink write asynchronously). Sets LOG_LINE to the first match.
wait_log() {
    local which=$1 sub=$2 what=$3 _ lines
    for _ in $(seq 60); do
        lines=$("${which}_log_new_" 2>/dev/null)
        if LOG_LINE=$(grep -F -m1 -- "$sub" <<<"$lines"); then
            echo "ok: $what: $LOG_LINE"
            return 0
        fi
        sleep 0.05
    done
    {
        echo "FAIL: ${USHER_CONTEXT:+[$USHER_CONTEXT] }$what: no [$sub] in the $which log"
        _show "$which log (new lines)" "$lines"
    } >&2
    exit 1
}
sshd_log_new_() { sshd_log_new; }
syslog_log_new_() { syslog_new; }

# no_log sshd|syslog SUBSTRING WHAT: SUBSTRING did not appear after the mark (checked after a
# short settle time).
no_log() {
    local which=$1 sub=$2 what=$3 lines
    sleep 0.3
    lines=$("${which}_log_new_")
    if grep -qF -- "$sub" <<<"$lines"; then
        { echo "FAIL: ${USHER_CONTEXT:+[$USHER_CONTEXT] }$what: [$sub] in the $which log"; _show "$which log (new lines)" "$lines"; } >&2
        exit 1
    fi
    echo "ok: $what"
}

# --- directory edits ----------------------------------------------------------------------------

# dir_edit PYTHON: edits the directory JSON (usher_json_edit helpers: user(name), group(name)).
dir_edit() {
    usher_json_edit "$USHER_DIRECTORY" "$1"
}
set_active() { dir_edit "user('$1')['active'] = $2"; }

# --- issue 11 (audit) helpers -------------------------------------------------------------------

# local_user NAME UID [HOME]: a local account (passwd, shadow, group) with its home made the way
# useradd makes it (owned by the user, mode 0755), unless HOME is "-" (then /nonexistent).
local_user() {
    local name=$1 uid=$2 home=${3:-/home/$1}
    [ "$home" != - ] || home=/nonexistent
    echo "$name:x:$uid:$uid:Local $name:$home:/bin/bash" >>/etc/passwd
    echo "$name:*:19000:0:99999:7:::" >>/etc/shadow
    echo "$name:x:$uid:" >>/etc/group
    if [ "$home" != /nonexistent ]; then
        mkdir -p -m 0755 "$home" && chown "$uid:$uid" "$home"
    fi
}

# dir_add_user NAME UID [PYTHON]: a directory user shaped like access_directory's (home
# /home/NAME), in no group; PYTHON then runs with the record as `u` and POSIX_U the extension's key,
# e.g. "u[POSIX_U]['homeDirectory'] = '/home/x/y'" or "u['emails'] = [...]".
dir_add_user() {
    dir_edit "
POSIX_U = 'urn:usher:params:scim:schemas:extension:posix:2.0:User'
u = {'schemas': ['urn:ietf:params:scim:schemas:core:2.0:User', POSIX_U],
     'id': 'u-$1', 'userName': '$1', 'displayName': '$1', 'active': True,
     POSIX_U: {'uidNumber': $2, 'gidNumber': $2, 'homeDirectory': '/home/$1',
               'loginShell': '/bin/bash'},
     'meta': {'resourceType': 'User', 'created': '2024-01-01T00:00:00Z'}}
${3:-}
d['Users'].append(u)
"
}

# dir_add_group ID DISPLAYNAME GID MEMBER...: a directory group with that id and displayName.
dir_add_group() {
    local id=$1 name=$2 gid=$3
    shift 3
    local members
    members=$(printf "{'value': 'u-%s'}," "$@")
    dir_edit "
POSIX_G = 'urn:usher:params:scim:schemas:extension:posix:2.0:Group'
d['Groups'].append({'schemas': ['urn:ietf:params:scim:schemas:core:2.0:Group', POSIX_G],
    'id': '$id', 'displayName': '$name', POSIX_G: {'gidNumber': $gid},
    'members': [$members], 'meta': {'resourceType': 'Group', 'created': '2024-01-01T00:00:00Z'}})
"
}

# dir_join GROUP_DISPLAYNAME USER...: adds directory users to a directory group.
dir_join() {
    local g=$1
    shift
    local u
    for u in "$@"; do
        dir_edit "group('$g')['members'].append({'value': 'u-$u'})"
    done
}

# user_cert NAME [PRINCIPALS]: a key pair $KEYS/NAME (made if missing) and its certificate from the
# test CA with PRINCIPALS (default NAME), as $KEYS/NAME-cert.pub: `ssh_cert NAME NAME NAME ...`.
user_cert() {
    [ -f "$KEYS/$1" ] || ssh-keygen -q -t ed25519 -N '' -C "$1-key" -f "$KEYS/$1"
    cert "$1" "$1" ca "${2:-$1}"
}
