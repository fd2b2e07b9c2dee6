#!/usr/bin/env bash
# Builds the .deb: release binary, completions and man page generated from the CLI, the ONNX
# Runtime library from the pinned wheel, icons; then cargo-deb. Prints the package's path.
# Usage: scripts/package-deb.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-debian-packages.sh build run package
scripts/fetch-onnxruntime.sh >/dev/null
command -v cargo-deb >/dev/null || cargo install cargo-deb --locked --version 3.8.0
cargo build --release --locked --quiet
stage=target/packaging
rm -rf "$stage" && mkdir -p "$stage/completions" "$stage/onnxruntime"
bin=target/release/glimpse
# The release profile keeps line tables for backtraces; the package ships a stripped copy.
strip -o "$stage/glimpse" "$bin"
"$bin" completions bash >"$stage/completions/glimpse.bash"
"$bin" completions zsh >"$stage/completions/_glimpse"
"$bin" completions fish >"$stage/completions/glimpse.fish"
"$bin" manpage | gzip -9n >"$stage/glimpse.1.gz"
ort="${XDG_CACHE_HOME:-$HOME/.cache}/glimpse/onnxruntime/1.31.1-cpu"
cp "$ort/libonnxruntime.so.1.31.1" "$ort/LICENSE" "$ort/ThirdPartyNotices.txt" "$stage/onnxruntime/"
[ -f packaging/icons/512x512/glimpse.png ] || scripts/make-icons.sh
cargo deb --no-build --locked --quiet 2>&1 | grep -v '^warning: .*is not a valid' >&2 || true
deb=$(ls -t target/debian/glimpse_*.deb | head -1)
echo "$deb"
