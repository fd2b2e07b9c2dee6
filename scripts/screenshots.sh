#!/usr/bin/env bash
# Runs the app under a virtual display (Xvfb) and saves a PNG of each view into OUTDIR:
# search with results, a result marked bad (the grid re-ranked), the preview, the library
# while indexing, training mid-run, the annotator. Uses ../shared (photos, flickr8k, glove).
# Usage: scripts/screenshots.sh OUTDIR
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:?usage: scripts/screenshots.sh OUTDIR}")
mkdir -p "$out"
scripts/install-debian-packages.sh run screenshots
scripts/setup.sh
cargo build --release --locked --quiet
glimpse=$(realpath target/release/glimpse)
shared=$(realpath ../shared)
glove=$(ls "$shared"/glove/*.txt* | head -1)
work=$(mktemp -d)
export XDG_RUNTIME_DIR="$work/run" && mkdir -m 0700 "$XDG_RUNTIME_DIR"
export DISPLAY=:87
Xvfb "$DISPLAY" -screen 0 1280x860x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
app=""
cleanup() { [ -n "$app" ] && kill "$app" 2>/dev/null; kill "$xvfb" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
sleep 1

# Starts the app with ARGS, waits SECONDS, saves NAME.png (then leaves it running).
start() { "$glimpse" app --fresh-settings "${@:3}" >"$work/app.log" 2>&1 & app=$!; sleep "$2"; shot "$1"; }
shot() { import -window root "$out/$1.png"; echo "saved $out/$1.png"; }
stop() { kill "$app" 2>/dev/null; wait "$app" 2>/dev/null || true; app=""; }
# Clicks at X Y in the window (placed at the screen's corner: there is no window manager).
click() { xdotool mousemove "$1" "$2"; sleep 0.5; xdotool click 1; sleep 2; }

"$glimpse" index --index "$work/photos.glimpse" "$shared/photos" >/dev/null
start search 6 --index "$work/photos.glimpse" --query "a dog running through water"
click 161 302   # "Bad" under the first result
shot search-marked-bad
click 287 195   # the (new) first result's photo
shot preview
stop

start library-indexing 8 --index "$work/big.glimpse" --view library --add "$shared/flickr8k/Flicker8k_Dataset"
stop

start training 100 --index "$work/photos.glimpse" --view training --flickr8k "$shared/flickr8k" --glove "$glove" --train
stop

start annotator 20 --index "$work/photos.glimpse" --view annotator --flickr8k "$shared/flickr8k"
stop
