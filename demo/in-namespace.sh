#!/bin/bash
# The demo's body, run by demo/run.sh inside a private namespace (see tests/e2e/ns-setup.sh).
set -euo pipefail
ROOT=$USHER_ROOT
. "$ROOT/tests/e2e/ns-setup.sh"
REL=$ROOT/target/release
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@" 2>&1 | sed 's/^/  /'; }
refused() { printf '$ %s\n' "$*"; if "$@" >/dev/null 2>&1; then echo "  UNEXPECTED: allowed"; exit 1; else echo "  refused, as it should be"; fi; }

# The modules, as a package would install them (here only inside this namespace).
LIB=/run/usher-lib && mkdir -p $LIB
cp "$REL/libnss_usher.so" $LIB/libnss_usher.so.2
cp "$REL/libpam_usher.so" $LIB/pam_usher.so
echo $LIB > /etc/ld.so.conf.d/usher.conf && ldconfig
sed -i -E 's/^(passwd|group):.*/\1: files usher/' /etc/nsswitch.conf
mkdir -p "$NS/sbin" && cp "$REL/usherctl" "$REL/usherd" "$NS/sbin/" && mount --bind "$NS/sbin" /usr/local/sbin

say "A SCIM 2.0 directory (scim2-server) with a small team"
TOKEN=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
scim2-server --hostname 127.0.0.1 --port 18700 --bearer-token "$TOKEN" \
    --schema "$ROOT/tests/scim/schemas-posix.json" --resource-type "$ROOT/tests/scim/resource-types-posix.json" \
    >"$NS/scim.log" 2>&1 &
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/18700) 2>/dev/null && break; sleep 0.1; done
python3 "$ROOT/tests/tools/scim_seed.py" seed --url http://127.0.0.1:18700 --token "$TOKEN" \
    --from "$ROOT/demo/team.json" >/dev/null
echo "alice (ops, admins), bert (ops), carol (ops, deactivated), dave (no login group; no uidNumber),"
echo "and a group 'Finance Team' whose name is not a valid POSIX name"

say "The team's SSH user CA, published to hosts through usherd"
mkdir -p /etc/usher && ssh-keygen -q -t ed25519 -N '' -C team-ca -f "$NS/ca"
cp "$NS/ca.pub" /etc/usher/team-ca.pub
umask 077 && printf '%s\n' "$TOKEN" > /etc/usher/scim-token && umask 022
cat > /etc/usher/usher.toml <<EOT
[directory]
kind = "scim"
url = "http://127.0.0.1:18700"
token_file = "/etc/usher/scim-token"

[access]
login_groups = ["name:ops"]
sudo_groups = ["name:admins"]

[ssh]
user_ca_keys_file = "/etc/usher/team-ca.pub"

[sync]
interval = 5
jitter = 1
EOT
run cat /etc/usher/usher.toml

say "usherd syncs the directory into the host cache"
/usr/local/sbin/usherd --config /etc/usher/usher.toml 2>"$NS/usherd.log" &
for _ in $(seq 100); do [ -f /var/lib/usher/private/state.json ] && break; sleep 0.1; done
run /usr/local/sbin/usherctl --config /etc/usher/usher.toml status

say "Directory users through the real glibc NSS path"
run getent passwd alice bert carol dave
run getent group ops admins
run id alice
run /usr/local/sbin/usherctl user carol

say "sshd with the project's drop-in and pam_usher"
mkdir -p -m 0755 /run/sshd && ssh-keygen -q -t ed25519 -N "" -f "$NS/host_key"
sed -e 's|/usr/sbin/usherctl|/usr/local/sbin/usherctl|' "$ROOT/config/sshd_config.d/usher.conf" > "$NS/sshd_config"
cat >> "$NS/sshd_config" <<EOT
Port 2222
ListenAddress 127.0.0.1
HostKey $NS/host_key
PidFile $NS/sshd.pid
AuthorizedKeysFile none
PasswordAuthentication no
KbdInteractiveAuthentication no
EOT
for svc in sshd sudo; do
    sed -i "0,/^@include common-account/s||account requisite $LIB/pam_usher.so\n@include common-account|" /etc/pam.d/$svc
done
echo "session optional $LIB/pam_usher.so home_root=/home" >> /etc/pam.d/sshd
/usr/sbin/sshd -D -e -f "$NS/sshd_config" 2>"$NS/sshd.log" &
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/2222) 2>/dev/null && break; sleep 0.1; done

cert() { # name principal
    ssh-keygen -q -t ed25519 -N '' -f "$NS/$1"
    ssh-keygen -q -s "$NS/ca" -I "$1-demo" -n "$2" -V +1h "$NS/$1.pub"
}
ssh_as() { # key user command...
    local key=$1 user=$2; shift 2
    ssh -p 2222 -i "$NS/$key" -o CertificateFile="$NS/$key-cert.pub" -o IdentitiesOnly=yes -o BatchMode=yes \
        -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR "$user@127.0.0.1" "$@"
}
for u in alice bert carol dave; do cert $u $u; done

say "alice logs in with her certificate; her home is created on first login"
run ssh_as alice alice 'id; echo "home: $HOME"; stat -c "%A %U" "$HOME"'
say "alice is in 'admins', the sudo group"
run ssh_as alice alice 'sudo -n id -un'
say "bert may log in but not use sudo"
run ssh_as bert bert 'id -un'
refused ssh_as bert bert 'sudo -n true'
say "carol is deactivated in the directory: she still resolves, but cannot log in"
run getent passwd carol
refused ssh_as carol carol true
say "dave is in no login group"
refused ssh_as dave dave true
say "What pam_usher logged"
grep -a 'pam_usher' "$USHER_NS_LOG" | sed 's/^/  /' | tail -n 6
say "Deactivate bert upstream; after one sync his next login is refused, his account stays"
python3 "$ROOT/tests/tools/scim_seed.py" set-active --url http://127.0.0.1:18700 --token "$TOKEN" \
    bert@example.com false >/dev/null
run /usr/local/sbin/usherctl sync --timeout 30
refused ssh_as bert bert true
run id bert
echo
echo "demo: done (everything started here ends with the namespace)"
