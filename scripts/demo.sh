#!/usr/bin/env bash
# The main job (./run demo): two processes, one shared-memory buffer.
#
# With the GStreamer plugin built (build/gst/libgstzerobuffer.so):
#   process 1: gst-launch-1.0 zbsrc buffer-name=X ! ... (creates the buffer,
#              counts frames, writes one received frame as a PNG)
#   process 2: gst-launch-1.0 videotestsrc ! CAPS ! zbsink buffer-name=X
#   The reader pipeline names no caps: they come from the writer.
# Without it, the library demo:
#   process 1: zb-demo-reader X  (creates the buffer, checks every byte)
#   process 2: zb-demo-writer X  (writes numbered frames)
#
# Environment: ZB_DEMO_FRAMES (frames to send), ZB_DEMO_SIZE (library demo
# frame size, default 1M), ZB_DEMO_CAPS (GStreamer demo caps),
# ZB_DEMO_MODE=lib|gst (force one), ZB_DEMO_BUILD (build dir, default build).
set -euo pipefail

cd "$(dirname "$0")/.."
build=${ZB_DEMO_BUILD:-build}
name="zb-demo-$$"
pids=()
tmp=$(mktemp -d)

cleanup() {
  local p
  for p in "${pids[@]}"; do
    kill "$p" 2> /dev/null || true
  done
  wait 2> /dev/null || true
  rm -rf "$tmp"
  # Only there if a process had to be killed.
  rm -f "/dev/shm/$name" "/dev/shm/sem.sem-w-$name" \
    "/dev/shm/sem.sem-r-$name" "/tmp/zerobuffer/$name.lock"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_for CMD... : poll up to 10 s until CMD succeeds.
wait_for() {
  local i
  for i in $(seq 100); do
    if "$@"; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

lib_demo() {
  local frames=${ZB_DEMO_FRAMES:-2000} size=${ZB_DEMO_SIZE:-1M}
  local rc=0 wrc=0

  echo "== library demo: $frames frames of $size bytes through buffer $name"
  "$build/examples/zb-demo-reader" "$name" > "$tmp/reader.log" 2>&1 &
  pids+=($!)
  if ! wait_for grep -q ready "$tmp/reader.log"; then
    cat "$tmp/reader.log"
    echo "demo: FAILED, the reader did not start"
    return 1
  fi
  head -1 "$tmp/reader.log"
  "$build/examples/zb-demo-writer" -n "$frames" -s "$size" "$name" || wrc=$?
  [ $wrc -eq 0 ] || kill "${pids[0]}" 2> /dev/null || true
  wait "${pids[0]}" || rc=$?
  pids=()
  tail -n +2 "$tmp/reader.log"
  if [ $rc -eq 0 ] && [ $wrc -eq 0 ]; then
    echo "demo: OK"
  else
    echo "demo: FAILED (writer exit $wrc, reader exit $rc)"
    return 1
  fi
}

# Seconds from gst-launch's "Execution ended after H:MM:SS.NNN" line.
gst_seconds() {
  sed -n 's/^Execution ended after \([0-9]*\):\([0-9]*\):\([0-9.]*\)$/\1 \2 \3/p' \
    "$1" | awk '{ printf "%.3f", $1 * 3600 + $2 * 60 + $3 }'
}

gst_demo() {
  local frames=${ZB_DEMO_FRAMES:-300}
  local caps=${ZB_DEMO_CAPS:-video/x-raw,format=I420,width=1280,height=720,framerate=30/1}
  local png="$build/zb-demo-frame.png"
  local rc=0 wrc=0 got secs caps_seen verdict

  export GST_PLUGIN_PATH_1_0="$PWD/$build/gst"
  export GST_REGISTRY_1_0="$tmp/registry.bin"
  if ! gst-inspect-1.0 zbsrc > /dev/null 2>&1; then
    echo "demo: the zbsrc element does not load from $build/gst"
    return 1
  fi
  rm -f "$png"

  echo "== GStreamer demo: $frames frames of $caps through buffer $name"
  echo "reader: gst-launch-1.0 zbsrc buffer-name=$name ! tee ! fakesink" \
    "(+ one frame to $png)"
  gst-launch-1.0 -v zbsrc buffer-name="$name" on-writer-lost=eos ! tee name=t \
    t. ! queue ! fakesink silent=false sync=false \
    t. ! queue leaky=downstream max-size-buffers=1 ! videoconvert \
    ! pngenc compression-level=1 ! multifilesink location="$png" \
    > "$tmp/reader.log" 2>&1 &
  pids+=($!)
  # The reader is live: it drops frames presented before it is PLAYING
  # (docs/elements.md), so the writer starts once the reader has its clock.
  if ! wait_for grep -q "New clock" "$tmp/reader.log"; then
    cat "$tmp/reader.log"
    echo "demo: FAILED, the reader did not start"
    return 1
  fi
  echo "writer: gst-launch-1.0 videotestsrc num-buffers=$frames ! $caps" \
    "! zbsink buffer-name=$name"
  timeout 120 gst-launch-1.0 videotestsrc num-buffers="$frames" ! "$caps" \
    ! zbsink buffer-name="$name" sync=false > "$tmp/writer.log" 2>&1 || wrc=$?
  # EOS crosses the buffer: the reader should stop by itself.
  if ! wait_for sh -c "! kill -0 ${pids[0]} 2> /dev/null"; then
    echo "reader: still running 10 s after the writer finished; stopping it"
  fi
  kill "${pids[0]}" 2> /dev/null || true
  wait "${pids[0]}" || rc=$?
  pids=()

  got=$(grep -c 'fakesink0: last-message = chain' "$tmp/reader.log" || true)
  secs=$(gst_seconds "$tmp/writer.log")
  caps_seen=$(sed -n 's/.*zbsrc0.GstPad:src: caps = //p' "$tmp/reader.log" \
    | head -1)
  echo "reader: caps from the writer: ${caps_seen:-(none seen)}"
  if [ -n "$secs" ]; then
    awk -v n="$got" -v s="$secs" 'BEGIN { printf "reader: %d frames in %.3f s: %.1f frames/s\n", n, s, (s > 0 ? n / s : 0) }'
  else
    echo "reader: $got frames"
  fi
  if [ -s "$png" ] && head -c 8 "$png" | grep -q PNG; then
    echo "reader: wrote a received frame to $png"
  fi

  verdict=
  [ $wrc -eq 0 ] || verdict="writer exit $wrc"
  [ $rc -eq 0 ] || verdict="${verdict:+$verdict, }reader exit $rc"
  [ "$got" -eq "$frames" ] || verdict="${verdict:+$verdict, }$got of $frames frames"
  [ -s "$png" ] || verdict="${verdict:+$verdict, }no PNG"
  if [ -z "$verdict" ]; then
    echo "demo: OK"
  else
    echo "--- reader log (tail)"
    grep -v 'last-message = chain' "$tmp/reader.log" | tail -20
    echo "--- writer log (tail)"
    tail -20 "$tmp/writer.log"
    echo "demo: FAILED ($verdict)"
    return 1
  fi
}

mode=${ZB_DEMO_MODE:-}
if [ -z "$mode" ]; then
  if [ -f "$build/gst/libgstzerobuffer.so" ]; then
    mode=gst
  else
    mode=lib
  fi
fi
case "$mode" in
  gst) gst_demo ;;
  lib) lib_demo ;;
  *) echo "ZB_DEMO_MODE must be lib or gst" >&2; exit 2 ;;
esac
