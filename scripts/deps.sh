#!/usr/bin/env bash
# deps.sh: installs the Debian packages kmsha needs to build, test and run, when missing.
# Idempotent; runs apt-get only when something is absent. Needs root (or sudo).
set -euo pipefail
PKGS=(build-essential cmake pkg-config clang libclang-rt-14-dev python3
      libevent-dev libzmq3-dev liblmdb-dev lmdb-utils libssl-dev libc-ares-dev libjansson-dev
      libsystemd-dev bind9 bind9-utils bind9-dnsutils iproute2 curl
      chromium prometheus   # chromium: status page test; prometheus: promtool
      dpkg-dev lintian debootstrap man-db   # the Debian package: cpack, its checks, a clean root
      gettext locales)  # kmsctl's message catalogs (msgfmt) and the ja_JP.UTF-8 locale
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q >/dev/null
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
# kmsctl speaks Japanese when the locale asks (tests/integration/test_i18n.py): the
# ja_JP.UTF-8 locale must exist to be asked for.
if ! locale -a 2>/dev/null | grep -qi '^ja_JP\.utf-\?8$'; then
  echo "deps: generating the ja_JP.UTF-8 locale" >&2
  $SUDO sed -i 's/^# *ja_JP.UTF-8 UTF-8/ja_JP.UTF-8 UTF-8/' /etc/locale.gen
  grep -q '^ja_JP.UTF-8 UTF-8' /etc/locale.gen || echo 'ja_JP.UTF-8 UTF-8' | $SUDO tee -a /etc/locale.gen >/dev/null
  $SUDO locale-gen >/dev/null
fi
