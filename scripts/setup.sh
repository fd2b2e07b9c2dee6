#!/usr/bin/env bash
# Sets up what Glimpse needs on Debian/Ubuntu (packages, ONNX Runtime); quick when done.
# Usage: scripts/setup.sh [--test]   (--test also installs what the test suite needs)
set -euo pipefail
cd "$(dirname "$0")/.."
groups=(build run)
[ "${1:-}" = "--test" ] && groups+=(test)
scripts/install-debian-packages.sh "${groups[@]}"
if [ -n "${GLIMPSE_CUDA:-}" ]; then
  scripts/fetch-onnxruntime.sh --gpu
else
  scripts/fetch-onnxruntime.sh
fi
