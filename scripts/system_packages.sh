#!/usr/bin/env bash
# Installs the Debian packages deploy/debian-packages.txt lists, those that are missing only.
# Needs root (CI and the dev machine run as root); elsewhere it names what to install and fails.
set -euo pipefail
list="$(dirname "$0")/../deploy/debian-packages.txt"
missing=()
for package in $(sed -e 's/#.*//' "$list"); do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing Debian packages: ${missing[*]} (run: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# A package's service must not start on install: the hub starts what it needs itself.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get install -y -q --no-install-recommends "${missing[@]}" \
  || { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; }
