#!/usr/bin/env bash
# Sets up, builds and runs Glimpse. With no arguments: checks the installation, then labels
# the sample photos beside the checkout (../shared/photos) when they are there.
# Usage: scripts/run.sh [glimpse arguments…]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release --locked --quiet
glimpse=target/release/glimpse
if [ $# -gt 0 ]; then
  exec "$glimpse" "$@"
fi
"$glimpse" doctor
if [ -d ../shared/photos ]; then
  exec "$glimpse" embed --classify ../shared/photos
fi
echo "Try: scripts/run.sh embed --classify PHOTO…"
