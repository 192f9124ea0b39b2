#!/usr/bin/env bash
# debroot.sh [DIR]: makes (once) a clean Debian 12 root with what the kmsha package needs
# at run time, for tests/integration/test_package.py, which installs the package there
# with dpkg and no network. The root is cached as a tar file in DIR (default
# /var/cache/kmsha-tests); delete it to make a fresh one. Needs root, debootstrap and the
# Debian mirror (like apt-get); without them it says why and exits 0, and the package
# test is skipped with that reason.
set -euo pipefail
dir=${1:-/var/cache/kmsha-tests}
tarball=$dir/bookworm-root.tar
# The run-time libraries kmsd and kmsctl link (the package's Depends), systemd for the
# sysusers/tmpfiles entries, man-db to read the manual pages.
include=libc-ares2,libevent-2.1-7,libevent-pthreads-2.1-7,libjansson4,liblmdb0,libssl3,libsystemd0,libzmq5,systemd,man-db
stamp=$dir/bookworm-root.include
if [ -f "$tarball" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$include" ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then echo "debroot: not root; the package install test will be skipped" >&2; exit 0; fi
if ! command -v debootstrap >/dev/null; then echo "debroot: no debootstrap; the package install test will be skipped" >&2; exit 0; fi
mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
mirror=${mirror:-http://deb.debian.org/debian}
mkdir -p "$dir"
tmp=$(mktemp -d "$dir/root.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
echo "debroot: debootstrap bookworm (minbase + $include) from $mirror" >&2
if ! debootstrap --variant=minbase --include="$include" bookworm "$tmp/root" "$mirror" >"$tmp/log" 2>&1; then
    tail -n 5 "$tmp/log" >&2
    echo "debroot: debootstrap failed; the package install test will be skipped" >&2
    exit 0
fi
tar -C "$tmp/root" -cf "$tarball.new" .
mv "$tarball.new" "$tarball"
echo "$include" > "$stamp"
