#!/usr/bin/env bash
# A GStreamer server of several fan-in clients (docs/duplex.md, "Fan-in",
# "The GStreamer server"): one gst-launch-1.0 process holds one zbsrc ! ...
# ! zbsink pair per client channel NAME@cam1, NAME@cam2, NAME@cam3
# (videoflip 180); three gst-launch zbfilter clients, each with its own
# caps, run at once; cam2 is killed with -9 mid-stream. cam1 and cam3 must
# get every frame back, each the 180-degree turn of their own frame (GRAY8
# frames of a width that is a multiple of 4: the turned frame is the byte
# string reversed), and the server must keep running.
set -u

name="zbt-fgs-$$"
tmp=$(mktemp -d)
pids=()
cleanup () {
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$tmp"
  rm -f /dev/shm/"$name"* /dev/shm/sem.sem-?-"$name"* \
    /tmp/zerobuffer/"$name"*.lock
}
trap cleanup EXIT
fail () { echo "FAIL: $*"; exit 1; }

server=""
for id in cam1 cam2 cam3; do
  server="$server zbsrc channel-name=$name@$id ! videoflip video-direction=180 ! zbsink channel-name=$name@$id sync=false"
done
# shellcheck disable=SC2086
gst-launch-1.0 -q $server > "$tmp/server.log" 2>&1 &
spid=$!
pids+=("$spid")

# client ID PATTERN WIDTH HEIGHT FRAMES (0: endless)
client () {
  local id=$1 pattern=$2 w=$3 h=$4 n=$5 nb=""
  [ "$n" != 0 ] && nb="num-buffers=$n"
  gst-launch-1.0 -q videotestsrc is-live=true pattern="$pattern" $nb \
    ! "video/x-raw,format=GRAY8,width=$w,height=$h,framerate=50/1" \
    ! tee name=t t. ! queue ! filesink location="$tmp/$id.in" \
    t. ! queue ! zbfilter channel-name="$name@$id" timeout=5000 \
    ! filesink location="$tmp/$id.out" > "$tmp/$id.log" 2>&1 &
  pids+=("$!")
}

client cam1 smpte 64 64 200
p1=${pids[-1]}
client cam2 ball 80 60 0
p2=${pids[-1]}
client cam3 snow 96 48 200
p3=${pids[-1]}

# Each client's first responses (a loaded machine starts gst-launch
# slowly), then cam2 mid-stream: the others must still be running.
for id in cam1 cam2 cam3; do
  for _ in $(seq 100); do [ -s "$tmp/$id.out" ] && break; sleep 0.1; done
  [ -s "$tmp/$id.out" ] || fail "$id got no response in 10 s: $(cat "$tmp/$id.log")"
done
kill -0 "$p2" 2>/dev/null || fail "cam2 ended: $(cat "$tmp/cam2.log")"
kill -0 "$p1" 2>/dev/null && kill -0 "$p3" 2>/dev/null \
  || fail "cam1 or cam3 ended before cam2 was stopped"
kill -KILL "$p2"

for p in "$p1" "$p3"; do
  for _ in $(seq 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  wait "$p"
  rc=$?
  [ "$rc" = 0 ] || fail "client $p exit $rc: $(cat "$tmp"/*.log)"
done
kill -0 "$spid" 2>/dev/null || fail "the server died: $(cat "$tmp/server.log")"

python3 - "$tmp" <<'PY' || fail "responses"
import sys
tmp = sys.argv[1]
for cam, size in (("cam1", 64 * 64), ("cam3", 96 * 48)):
    sent = open(f"{tmp}/{cam}.in", "rb").read()
    got = open(f"{tmp}/{cam}.out", "rb").read()
    if len(sent) != 200 * size or len(got) != len(sent):
        sys.exit(f"{cam}: sent {len(sent)} bytes, got {len(got)}, want {200 * size}")
    for k in range(200):
        if got[k * size:(k + 1) * size] != sent[k * size:(k + 1) * size][::-1]:
            sys.exit(f"{cam}: frame {k} is not the answer to its own frame")
    print(f"{cam}: 200 frames of {size} bytes, each its own frame turned")
PY

# The server stops on SIGINT and removes its request buffers.
kill -INT "$spid"
for _ in $(seq 100); do kill -0 "$spid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$spid" 2>/dev/null && fail "the server did not stop on SIGINT"
echo "cam1 + cam3 served by one GStreamer server process, cam2 killed"
