#!/bin/bash
# Installs what Usher's build, tests and demo need on a fresh Debian machine (as root).
# Idempotent: installs only what is missing.
set -euo pipefail
apt_packages=(openssh-server openssh-client sudo pamtester libpam0g-dev gcc libc6-dev binutils util-linux procps
              iproute2 systemd lintian rpm debootstrap gawk)
missing=()
for p in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The real SCIM 2.0 server the tests and the demo run against, and the Python test tools' needs.
python3 -m pip install -q --disable-pip-version-check scim2-server==0.8.3 pytest cryptography 2>&1 \
    | grep -v "Running pip as the 'root' user" >&2 || true
command -v scim2-server >/dev/null || { echo "setup: scim2-server is not on PATH" >&2; exit 1; }
# The interop suite (tests/interop): django-scim2 from PyPI, SCIMMY and its Express routers from npm
# (versions pinned by tests/interop/scimmy/package-lock.json, installed beside its server script).
python3 -m pip install -q --disable-pip-version-check django-scim2==0.23.0 2>&1 \
    | grep -v "Running pip as the 'root' user" >&2 || true
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "setup: installing nodejs npm" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
interop_npm="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/interop/scimmy"
if [ ! -d "$interop_npm/node_modules/scimmy" ] || [ "$interop_npm/package-lock.json" -nt "$interop_npm/node_modules" ]; then
    (cd "$interop_npm" && npm ci --no-audit --no-fund --omit=dev --loglevel=error) >&2 \
        || { echo "setup: npm ci in tests/interop/scimmy failed" >&2; exit 1; }
fi
command -v cargo >/dev/null || { echo "setup: cargo (Rust) is required" >&2; exit 1; }
# The fuzz targets (fuzz/run.sh): libFuzzer needs a nightly toolchain and cargo-fuzz.
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    echo "setup: installing the nightly Rust toolchain (for cargo fuzz)" >&2
    rustup toolchain install nightly --profile minimal >&2
fi
if ! command -v cargo-fuzz >/dev/null; then
    echo "setup: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked --version 0.13.2 >&2
fi
