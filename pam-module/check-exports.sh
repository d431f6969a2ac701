#!/bin/sh
# Usage: check-exports.sh PATH_TO_SO
#
# Fails unless the defined dynamic symbols of pam_usher.so are exactly the six pam_sm_* entry
# points. pam-bindings' pam_hooks! macro defines all six (pam_sm_chauthtok included; ours returns
# PAM_IGNORE like authenticate and setcred); rustc's cdylib version script keeps everything else
# (the bundled SQLite, Rust std) local.
set -eu
EXPECTED="pam_sm_acct_mgmt
pam_sm_authenticate
pam_sm_chauthtok
pam_sm_close_session
pam_sm_open_session
pam_sm_setcred"
if [ $# -ne 1 ] || [ ! -f "$1" ]; then
    echo "usage: $0 PATH_TO_SO" >&2
    exit 2
fi
actual=$(nm -D --defined-only "$1" | awk 'NF >= 3 { sub(/@.*/, "", $3); print $3 }' | sort -u)
if [ "$actual" = "$EXPECTED" ]; then
    echo "check-exports: $1 exports exactly the six pam_sm_* entry points"
    exit 0
fi
echo "check-exports: $1: unexpected dynamic symbols:" >&2
printf 'expected:\n%s\nactual:\n%s\n' "$EXPECTED" "$actual" >&2
exit 1
