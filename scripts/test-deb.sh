#!/usr/bin/env bash
# Builds the .deb, installs it on this machine, and uses it as a new user would: --version
# and doctor from /usr/bin with no environment variables (models and ONNX Runtime must come
# from the package), index and search ../shared/photos; then removes the package and checks
# that none of its files is left behind while the user's data stays.
# Usage: scripts/test-deb.sh
set -euo pipefail
cd "$(dirname "$0")/.."
shared=$(realpath ../shared)
deb=$(scripts/package-deb.sh | tail -1)
echo "package: $deb ($(du -h "$deb" | cut -f1))"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
fail() { echo "FAIL: $*" >&2; exit 1; }

$sudo apt-get install -y -qq "./$deb" >/dev/null
files=$(dpkg-query -L glimpse | while read -r f; do [ -f "$f" ] && echo "$f"; done)
echo "installed $(echo "$files" | wc -l) files"

# A user with nothing of their own: empty home, caches and data; no ORT_DYLIB_PATH.
user=$(mktemp -d)
as_user() { env -i PATH=/usr/bin:/bin HOME="$user" XDG_CACHE_HOME="$user/.cache" XDG_DATA_HOME="$user/.local/share" "$@"; }
[ "$(command -v glimpse)" = /usr/bin/glimpse ] || fail "glimpse is not /usr/bin/glimpse"
as_user /usr/bin/glimpse --version | grep -q '^glimpse ' || fail "--version"
doctor=$(as_user /usr/bin/glimpse doctor --json) || fail "doctor: $doctor"
echo "$doctor" | grep -q '"source": "installed with Glimpse"' || fail "ONNX Runtime did not come from the package: $doctor"
echo "$doctor" | grep -q '"path": "/usr/bin/../share/glimpse/models/backbones/efficientnet-lite012-int8"' \
  || fail "the backbone did not come from the package: $doctor"
as_user /usr/bin/glimpse index "$shared/photos" >/dev/null || fail "index"
results=$(as_user /usr/bin/glimpse search --json "a dog running through water") || fail "search"
count=$(echo "$results" | grep -o '"rank"' | wc -l)
[ "$count" -eq 10 ] || fail "search gave $count results"
top=$(echo "$results" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["path"].rsplit("/",1)[1])')
grep -q "^$top#.*dog" "$shared/flickr8k/Flickr8k_text/Flickr8k.token.txt" || fail "the best match $top is not a dog photo"
[ -f "$user/.local/share/glimpse/library.glimpse" ] || fail "the index is not in the user's data folder"
man -w glimpse >/dev/null 2>&1 || [ -f /usr/share/man/man1/glimpse.1.gz ] || fail "no man page"
[ -f /usr/share/bash-completion/completions/glimpse ] || fail "no bash completion"
echo "installed glimpse: doctor ok, indexed 120 photos, best match for a dog in water: $top"
# An iPhone-style HEIC of that photo, read through the libheif the package depends on.
heic=$(mktemp -d)
heif-enc -q 80 -o "$heic/IMG_0001.HEIC" "$shared/photos/$top" >/dev/null
as_user /usr/bin/glimpse index "$heic" >/dev/null || fail "index a HEIC photo"
as_user /usr/bin/glimpse status --json | grep -q '"skipped": \[\]' || fail "skipped files: $(as_user /usr/bin/glimpse status)"
as_user /usr/bin/glimpse search --json "a dog running through water" | grep -q 'IMG_0001.HEIC' \
  || fail "the HEIC photo of $top is not among the best matches"
rm -rf "$heic"
echo "installed glimpse: the HEIC copy of $top is found beside it"

$sudo apt-get remove -y -qq glimpse >/dev/null
left=$(echo "$files" | while read -r f; do [ -e "$f" ] && echo "$f"; done || true)
[ -z "$left" ] || fail "left behind after removal: $left"
[ ! -e /usr/lib/glimpse ] && [ ! -e /usr/share/glimpse ] || fail "package folders left behind"
[ -f "$user/.local/share/glimpse/library.glimpse" ] || fail "removal touched the user's data"
rm -rf "$user"
echo "removed: no file of the package is left; the user's index stayed"
echo "PASS"
