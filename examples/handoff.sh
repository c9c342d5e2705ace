#!/bin/bash
# Test of the capture -> processing hand-off: a GStreamer producer
# (gst-launch-1.0 videotestsrc ! video/x-raw,format=RGB ! zbsink) and the Python consumer
# (zb-numpy-consumer.py, numpy arrays straight on the shared ring, shaped
# from the caps in the metadata). A solid colour source lets the consumer
# check every pixel; width 322 makes GStreamer's row padding visible
# (966-byte rows padded to 968 in the gst format, tight in raw).
#
#   handoff.sh PYTHON CONSUMER FRAME-FORMAT
# Environment: ZEROBUFFER_LIBRARY, GST_PLUGIN_PATH_1_0,
# GST_PLUGIN_SYSTEM_PATH_1_0.
set -u

python=$1
consumer=$2
format=$3
frames=60
name="zbt-$$-handoff-$format"
tmp=$(mktemp -d)
export GST_REGISTRY="$tmp/registry.bin"
cpid=
ppid_=

cleanup() {
  [ -n "$cpid" ] && kill -9 "$cpid" 2> /dev/null
  [ -n "$ppid_" ] && kill -9 "$ppid_" 2> /dev/null
  wait
  rm -rf "$tmp"
  rm -f "/dev/shm/$name" "/dev/shm/sem.sem-w-$name" "/dev/shm/sem.sem-r-$name" \
    "/tmp/zerobuffer/$name.lock"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

timeout 60 "$python" "$consumer" --payload-size $((8 << 20)) \
  --expect-rgb 32,64,192 "$name" > "$tmp/consumer.log" 2>&1 &
cpid=$!
timeout 60 gst-launch-1.0 -q videotestsrc num-buffers=$frames \
  pattern=solid-color foreground-color=0xff2040c0 \
  ! video/x-raw,format=RGB,width=322,height=240,framerate=120/1 \
  ! zbsink buffer-name="$name" frame-format="$format" connect-timeout=20000 \
  > "$tmp/producer.log" 2>&1 &
ppid_=$!

wait "$ppid_"
prc=$?
ppid_=
[ "$prc" -ne 0 ] && kill "$cpid" 2> /dev/null
wait "$cpid"
crc=$?
cpid=
echo "--- consumer (exit $crc)"
cat "$tmp/consumer.log"
echo "--- producer (exit $prc)"
cat "$tmp/producer.log"
left=$(ls -d "/dev/shm/$name" "/dev/shm/sem.sem-w-$name" \
  "/dev/shm/sem.sem-r-$name" "/tmp/zerobuffer/$name.lock" 2> /dev/null)
if [ -n "$left" ]; then
  echo "FAIL: left behind: $left"
  exit 1
fi
grep -q "frame format $format, caps: video/x-raw, format=(string)RGB" \
  "$tmp/consumer.log" || { echo "FAIL: caps not seen"; exit 1; }
grep -q "array (240, 322, 3) uint8" "$tmp/consumer.log" ||
  { echo "FAIL: array shape"; exit 1; }
grep -q "received $frames frames.*, 0 copied" "$tmp/consumer.log" ||
  { echo "FAIL: frame count"; exit 1; }
[ "$prc" -eq 0 ] && [ "$crc" -eq 0 ] && echo PASS
