#!/usr/bin/env bash
# Renders assets/glimpse.svg into the PNG sizes desktops use (packaging/icons/NxN/glimpse.png).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-debian-packages.sh package
for size in 16 24 32 48 64 128 256 512; do
  mkdir -p "packaging/icons/${size}x${size}"
  rsvg-convert -w "$size" -h "$size" assets/glimpse.svg -o "packaging/icons/${size}x${size}/glimpse.png"
done
echo "icons in packaging/icons/"
