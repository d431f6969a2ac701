#!/bin/bash
# A private test host inside the current machine, for Usher's end-to-end tests and benchmark.
# Source it INSIDE a fresh namespace, as root:
#   unshare --mount --propagation private --pid --fork --mount-proc bash -c '. tests/e2e/ns-setup.sh; ...'
# When the namespace's first process exits, the kernel kills every process of the PID namespace and
# the mounts vanish with it: nothing reaches the machine's real /etc, /run, /home, /dev or /var/lib.
#
# What it sets up:
#   /run            fresh tmpfs; the scratch dir $NS lives in it (so nothing is left behind in /tmp)
#   /etc            overlay (lower = real /etc, upper in $NS): write nsswitch.conf, ld.so.conf.d
#                   (+ ldconfig), passwd, group freely; atomic renames work.
#   /home /var/lib/usher   fresh tmpfs each (the cache path /var/lib/usher/cache.db is compiled in)
#   /dev            overlay with a /dev/log syslog sink, so module and usherd log lines can be
#                   asserted on ($USHER_NS_LOG)
# Exports: NS (scratch dir, tmpfs), USHER_NS_LOG (default $NS/syslog.log).
set -euo pipefail
if [ "$(id -u)" != 0 ]; then echo "ns-setup.sh: must run as root" >&2; exit 1; fi
if [ "$$" != 1 ] && [ "${USHER_NS_ALLOW_NO_PIDNS:-}" != 1 ]; then
    echo "ns-setup.sh: not PID 1 of a new PID namespace; run under unshare --pid --fork --mount-proc" >&2
    exit 1
fi
_usher_ns_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mount -t tmpfs -o mode=0755 usherrun /run
NS=/run/usher-ns
mkdir -p "$NS"
chmod 0755 "$NS"
mkdir -p "$NS"/etc-upper "$NS"/etc-work "$NS"/dev-u "$NS"/dev-w "$NS"/pts "$NS"/shm
mount -t overlay overlay -o lowerdir=/etc,upperdir="$NS"/etc-upper,workdir="$NS"/etc-work /etc
mount -t tmpfs -o mode=0755 usherhome /home
mkdir -p /var/lib/usher && mount -t tmpfs -o mode=0755 usherlib /var/lib/usher
# /dev is shared with the machine: give it an overlay so /dev/log can be created privately.
mount --bind /dev/pts "$NS"/pts; mount --bind /dev/shm "$NS"/shm
mount -t overlay overlay -o lowerdir=/dev,upperdir="$NS"/dev-u,workdir="$NS"/dev-w /dev
mount --move "$NS"/pts /dev/pts; mount --move "$NS"/shm /dev/shm
USHER_NS_LOG=${USHER_NS_LOG:-$NS/syslog.log}
: > "$USHER_NS_LOG"
setsid python3 "$_usher_ns_here"/syslog-sink.py /dev/log "$USHER_NS_LOG" </dev/null >/dev/null 2>&1 &
for _ in $(seq 100); do [ -S /dev/log ] && break; sleep 0.05; done
[ -S /dev/log ] || { echo "ns-setup.sh: the /dev/log sink did not start" >&2; exit 1; }
mkdir -p -m 0755 /run/sshd   # sshd's privilege-separation directory
unset _usher_ns_here
export NS USHER_NS_LOG
