#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages listed in scripts/debian-packages.txt for the given
# groups (build, run, test). Does nothing, quickly, when they are all installed.
# Usage: scripts/install-debian-packages.sh GROUP...
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
missing=()
for group in "$@"; do
  while read -r g pkg; do
    [ "$g" = "$group" ] || continue
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$pkg")
    fi
  done < <(grep -v '^\s*#' "$here/debian-packages.txt" | grep -v '^\s*$')
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "Installing Debian packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
