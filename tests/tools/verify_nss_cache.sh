#!/bin/bash
# Check gen_directory.py's --cache-dir output against the real libnss-cache (apt-get install
# libnss-cache), in a private mount+PID namespace: nothing reaches the machine's /etc. Run as root.
#   1. passwd.cache/group.cache + indexes in /etc, nsswitch `passwd: cache` / `group: cache`:
#      getent by name, uid and gid must answer.
#      The --passwd/--group output read by glibc's files module answers the same.
#   2. The indexes are really used: an index that lacks a key makes that lookup fail although the
#      .cache file has the entry, and an index pointing past a decoy line (that a linear scan
#      would return first) gives the real entry.
# Env: NS_SETUP (default: ../shared/e2e/ns-setup.sh next to the repo).
set -euo pipefail
TOOLS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NS_SETUP=${NS_SETUP:-$(cd "$TOOLS/../../.." && pwd)/shared/e2e/ns-setup.sh}
[ -e /usr/lib/x86_64-linux-gnu/libnss_cache.so.2 ] || [ -n "$(ldconfig -p | grep libnss_cache.so.2)" ] \
    || { echo "libnss-cache is not installed" >&2; exit 1; }

exec unshare --mount --propagation private --pid --fork --mount-proc \
    env TOOLS="$TOOLS" NS_SETUP="$NS_SETUP" bash -c '
set -euo pipefail
. "$NS_SETUP"
fail() { echo "FAIL: $*" >&2; exit 1; }
expect() { local want=$1; shift; local got; got=$("$@") || fail "$* exited $?"; [ "$got" = "$want" ] || fail "$*: got [$got] want [$want]"; echo "ok: $*"; }

python3 "$TOOLS/gen_directory.py" --users 100 --groups 10 --per-user 5 --seed 1 --cache-dir "$NS/cache"
cp -p "$NS"/cache/* /etc/
printf "passwd: cache\ngroup: cache\nshadow: files\n" > /etc/nsswitch.conf

expect "user00050:*:100050:100050:Test User 00050:/home/user00050:/bin/bash" getent passwd user00050
expect "user00050:*:100050:100050:Test User 00050:/home/user00050:/bin/bash" getent passwd 100050
expect "$(grep "^group0003:" "$NS/cache/group.cache")" getent group group0003
expect "$(grep "^group0003:" "$NS/cache/group.cache")" getent group 500003
expect "user00001:*:100001:" getent group 100001
[ "$(getent passwd | wc -l)" = 100 ] || fail "enumeration"; echo "ok: getent passwd enumerates 100"
if getent passwd user00101 >/dev/null; then fail "unknown user found"; fi; echo "ok: unknown user not found"

# glibc files module on --passwd/--group output answers the same as libnss-cache.
python3 "$TOOLS/gen_directory.py" --users 100 --groups 10 --per-user 5 --seed 1 --passwd "$NS/passwd" --group "$NS/group"
cat "$NS/passwd" >> /etc/passwd; cat "$NS/group" >> /etc/group
for key in user00050 100050; do expect "$(getent passwd $key)" getent -s files passwd $key; done
for key in group0003 500003 user00007; do expect "$(getent group $key)" getent -s files group $key; done

# 2a: a key missing from the index is not found (no fallback to a linear scan).
python3 - "$TOOLS" <<EOF
import sys; sys.path.insert(0, sys.argv[1]); import gen_directory as g
lines = open("/etc/passwd.cache").read().splitlines()
offsets, pos = {}, 0
for line in lines:
    offsets[line.split(":")[0]] = pos; pos += len(line) + 1
del offsets["user00050"]
open("/etc/passwd.cache.ixname", "wb").write(g.index_bytes(offsets))
EOF
if getent passwd user00050 >/dev/null; then fail "index not consulted"; fi
expect "user00051:*:100051:100051:Test User 00051:/home/user00051:/bin/bash" getent passwd user00051
echo "ok: a name left out of .ixname is not found (index consulted)"

# 2b: a decoy line first in the file; the index points at the real line further on.
python3 - "$TOOLS" <<EOF
import sys; sys.path.insert(0, sys.argv[1]); import gen_directory as g
decoy = "user00050:*:4242:4242:decoy:/nonexistent:/bin/false"
lines = open("/etc/passwd.cache").read().splitlines()
by_name, by_uid, pos = {}, {}, len(decoy) + 1
for line in lines:
    f = line.split(":"); by_name[f[0]] = pos; by_uid[f[2]] = pos; pos += len(line) + 1
open("/etc/passwd.cache", "w").write("\n".join([decoy] + lines) + "\n")
open("/etc/passwd.cache.ixname", "wb").write(g.index_bytes(by_name))
open("/etc/passwd.cache.ixuid", "wb").write(g.index_bytes(by_uid))
EOF
expect "user00050:*:100050:100050:Test User 00050:/home/user00050:/bin/bash" getent passwd user00050
expect "user00050:*:100050:100050:Test User 00050:/home/user00050:/bin/bash" getent passwd 100050
echo "ok: lookups follow the index offsets past a decoy line"
touch -d "+5 seconds" /etc/passwd.cache   # a stale index (older than the .cache) is ignored
expect "user00050:*:4242:4242:decoy:/nonexistent:/bin/false" getent passwd user00050
echo "ok: with a stale index libnss-cache falls back to a linear scan"
echo "ALL OK"
'
