#!/usr/bin/env bash
# Sets up, builds and runs Glimpse.
# With arguments: runs `glimpse ARGS…`. With none (until the desktop window lands): checks
# the installation, indexes the sample photos beside the checkout (../shared/photos) into the
# default library, and searches them for "a dog running through water".
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
  "$glimpse" index ../shared/photos
  echo 'glimpse search "a dog running through water":'
  exec "$glimpse" search "a dog running through water"
fi
echo 'Next: scripts/run.sh index ~/Pictures, then scripts/run.sh search "a dog on a beach"'
