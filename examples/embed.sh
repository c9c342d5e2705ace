#!/bin/bash
# Test of the embedding examples: zb-embed-appsink (zbsrc ! appsink, creates
# the buffer) and zb-embed-writer (videotestsrc ! capsfilter ! zbsink), two
# processes started at once. Passes when both exit 0: every frame sent,
# every frame received in order, EOS on both sides, nothing left in /dev/shm.
#
#   embed.sh APPSINK-PROGRAM WRITER-PROGRAM [FRAMES]
# Environment: GST_PLUGIN_PATH_1_0 (our plugin), GST_PLUGIN_SYSTEM_PATH_1_0.
set -u

reader=$1
writer=$2
frames=${3:-50}
name="zbt-$$-embed"
tmp=$(mktemp -d)
export GST_REGISTRY="$tmp/registry.bin"
rpid=
wpid=

cleanup() {
  [ -n "$rpid" ] && kill -9 "$rpid" 2> /dev/null
  [ -n "$wpid" ] && kill -9 "$wpid" 2> /dev/null
  wait
  rm -rf "$tmp"
  rm -f "/dev/shm/$name" "/dev/shm/sem.sem-w-$name" "/dev/shm/sem.sem-r-$name" \
    "/tmp/zerobuffer/$name.lock"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

timeout 60 "$reader" -n "$frames" -t 20000 "$name" > "$tmp/reader.log" 2>&1 &
rpid=$!
# Every frame counts: start the writer once the reader is PLAYING (a live
# zbsrc drops what was presented before).
for _ in $(seq 200); do
  grep -q '^ready:' "$tmp/reader.log" 2> /dev/null && break
  sleep 0.1
done
timeout 60 "$writer" -n "$frames" -W 320 -H 240 -t 20000 "$name" \
  > "$tmp/writer.log" 2>&1 &
wpid=$!

wait "$wpid"
wrc=$?
wpid=
[ "$wrc" -ne 0 ] && kill "$rpid" 2> /dev/null
wait "$rpid"
rrc=$?
rpid=
echo "--- zb-embed-appsink (exit $rrc)"
cat "$tmp/reader.log"
echo "--- zb-embed-writer (exit $wrc)"
cat "$tmp/writer.log"
left=$(ls -d "/dev/shm/$name" "/dev/shm/sem.sem-w-$name" \
  "/dev/shm/sem.sem-r-$name" "/tmp/zerobuffer/$name.lock" 2> /dev/null)
if [ -n "$left" ]; then
  echo "FAIL: left behind: $left"
  exit 1
fi
grep -q "caps: video/x-raw, format=(string)I420, width=(int)320" \
  "$tmp/reader.log" || { echo "FAIL: the reader did not get the caps"; exit 1; }
grep -q "received $frames frames, in order" "$tmp/reader.log" ||
  { echo "FAIL: frame count"; exit 1; }
[ "$wrc" -eq 0 ] && [ "$rrc" -eq 0 ] && echo PASS
