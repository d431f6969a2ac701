#!/bin/bash
# Builds the `usher` packages: target/packages/usher_VERSION-1_amd64.deb and
# target/packages/usher-VERSION-1.x86_64.rpm.
#
#   bash packaging/build.sh            build (release), strip, package
#   bash packaging/build.sh --no-build package what target/release holds
#
# Installs what it needs when missing: cargo-deb and cargo-generate-rpm (pinned, --locked) from
# crates.io, and binutils/dpkg-dev from Debian's packages. The package metadata lives in
# packaging/Cargo.toml, not in the product's crates.
set -euo pipefail

CARGO_DEB_VERSION=3.8.0
CARGO_GENERATE_RPM_VERSION=0.21.1

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
stage=$target/packaging/stage
out=$target/packages

build=1
for arg in "$@"; do
    case "$arg" in
        --no-build) build=0 ;;
        *) echo "usage: $0 [--no-build]" >&2; exit 2 ;;
    esac
done

if [ "$(uname -m)" != x86_64 ]; then
    echo "build.sh: the package paths in packaging/Cargo.toml are x86_64 ones (x86_64-linux-gnu, lib64)" >&2
    exit 1
fi

need_apt=()
command -v strip >/dev/null || need_apt+=(binutils)
command -v dpkg-architecture >/dev/null || need_apt+=(dpkg-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "build.sh: installing ${need_apt[*]}" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

installed_version() { # crate binary -> installed version or nothing
    cargo install --list 2>/dev/null | sed -n "s/^$1 v\([^:]*\):\$/\1/p"
}
for tool in "cargo-deb $CARGO_DEB_VERSION" "cargo-generate-rpm $CARGO_GENERATE_RPM_VERSION"; do
    set -- $tool
    if [ "$(installed_version "$1")" != "$2" ]; then
        echo "build.sh: installing $1 $2" >&2
        cargo install --locked --quiet "$1" --version "$2"
    fi
done

version=$(sed -n '/^\[workspace\.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
[ -n "$version" ] || { echo "build.sh: no [workspace.package] version in Cargo.toml" >&2; exit 1; }

if [ "$build" = 1 ]; then
    cargo build --release
fi

# Stage stripped copies under their installed names; target/release keeps its debug info.
rm -rf "$stage"
mkdir -p "$stage" "$out"
install -m 0755 "$target/release/usherd" "$target/release/usherctl" "$stage/"
install -m 0644 "$target/release/libnss_usher.so" "$stage/libnss_usher.so.2"
install -m 0644 "$target/release/libpam_usher.so" "$stage/pam_usher.so"
strip --strip-unneeded --remove-section=.comment "$stage/usherd" "$stage/usherctl" "$stage/libnss_usher.so.2" "$stage/pam_usher.so"

# Reproducible dates: the last commit's, unless SOURCE_DATE_EPOCH says otherwise.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH
{
    echo "usher ($version-1) unstable; urgency=medium"
    echo
    echo "  * Built from the Usher repository."
    echo
    echo " -- Usher maintainers <usher@localhost.invalid>  $(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} > "$target/packaging/changelog"

rm -f "$out"/usher_*.deb "$out"/usher-*.rpm
# CARGO_TARGET_DIR: packaging/ is a workspace of its own; keep cargo-deb's scratch in target/.
CARGO_TARGET_DIR=$target cargo deb --manifest-path packaging/Cargo.toml --no-build --no-strip \
    --deb-version "$version-1" --output "$out/usher_${version}-1_amd64.deb"
(cd packaging && cargo generate-rpm --auto-req builtin \
    --set-metadata "version = \"$version\"" --output "$out/")
ls -l "$out"
