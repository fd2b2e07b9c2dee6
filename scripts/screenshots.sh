#!/usr/bin/env bash
# Runs the app under a virtual display (Xvfb) and saves a PNG of each view into OUTDIR, the
# window at 1600x1000: search with results, a result marked bad (the grid re-ranked), the
# preview, search at 640x480, the library while indexing, training mid-run, the annotator.
# Uses ../shared (photos, flickr8k, glove).
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
Xvfb "$DISPLAY" -screen 0 1600x1000x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
app=""
cleanup() { [ -n "$app" ] && kill "$app" 2>/dev/null; kill "$xvfb" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
sleep 1

# Starts the app with ARGS, sizes its window to 1600x1000, waits SECONDS, saves NAME.png
# (then leaves it running).
start() {
  "$glimpse" app --fresh-settings "${@:3}" >"$work/app.log" 2>&1 & app=$!
  sleep 3; size 1600 1000; sleep "$2"; shot "$1"
}
# Sizes the window (there is no window manager: it sits at the screen's corner).
size() { xdotool search --sync --pid "$app" | head -1 | xargs -I{} xdotool windowsize {} "$1" "$2"; sleep 1; }
shot() { import -window root -crop "${2:-1600x1000}+0+0" +repage "$out/$1.png"; echo "saved $out/$1.png"; }
stop() { kill "$app" 2>/dev/null; wait "$app" 2>/dev/null || true; app=""; }
# Clicks at X Y in the window (placed at the screen's corner: there is no window manager).
click() { xdotool mousemove "$1" "$2"; sleep 0.5; xdotool click 1; sleep 2; }

"$glimpse" index --index "$work/photos.glimpse" "$shared/photos" >/dev/null
start search 3 --index "$work/photos.glimpse" --query "a dog running through water"
xdotool mousemove 100 180; sleep 1   # the marks show on the tile under the pointer
click 181 123   # the first result's "bad" mark
xdotool mousemove 800 60; sleep 1
shot search-marked-bad
click 100 200   # the (new) first result's photo
shot preview
click 69 117   # "Back to the results"
size 640 480
xdotool mousemove 600 300; sleep 1
shot search-640x480 640x480
stop

start library-indexing 8 --index "$work/big.glimpse" --view library --add "$shared/flickr8k/Flicker8k_Dataset"
stop

start training 100 --index "$work/photos.glimpse" --view training --flickr8k "$shared/flickr8k" --glove "$glove" --train
stop

start annotator 20 --index "$work/photos.glimpse" --view annotator --flickr8k "$shared/flickr8k"
stop
