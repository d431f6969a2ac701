#!/bin/bash
# Usher's demo, end to end on this machine, as root, without touching its real /etc: inside a
# private mount+PID namespace it starts a real SCIM 2.0 directory with a small team, runs usherd
# against it, answers getent/id through libnss_usher, then logs a directory user in over SSH with a
# certificate from the team's CA, runs sudo as a sudo-group member, and shows a deactivated user
# refused. Everything it starts ends with the namespace.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
[ "$(id -u)" = 0 ] || { echo "demo: run as root (it uses a private mount namespace)" >&2; exit 2; }
bash scripts/setup.sh
echo "demo: building (cargo build --release)"
cargo build --release --workspace 2>&1 | tail -n 1
exec unshare --mount --propagation private --pid --fork --mount-proc \
    env USHER_ROOT="$ROOT" bash "$ROOT/demo/in-namespace.sh"
