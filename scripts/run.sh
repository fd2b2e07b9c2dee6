#!/usr/bin/env bash
# Sets up, builds and runs Glimpse: with no arguments, checks the installation and opens the
# window; with arguments, runs `glimpse ARGS…` (e.g. `scripts/run.sh search "a dog"`).
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
exec "$glimpse" app
