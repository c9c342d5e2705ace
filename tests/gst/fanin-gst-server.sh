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
. "$(dirname "$0")/fanin-common.sh"

server=""
for id in cam1 cam2 cam3; do
  server="$server zbsrc channel-name=$name@$id ! videoflip video-direction=180 ! zbsink channel-name=$name@$id sync=false"
done
# shellcheck disable=SC2086
gst-launch-1.0 -q $server > "$tmp/server.log" 2>&1 &
spid=$!
pids+=("$spid")

client cam1 smpte 64 64 200
p1=${pids[-1]}
client cam2 ball 80 60 0
p2=${pids[-1]}
client cam3 snow 96 48 200
p3=${pids[-1]}

# Each client's first responses, then cam2 mid-stream: the others must
# still be running.
wait_responses cam1 cam2 cam3
kill -0 "$p2" 2>/dev/null || fail "cam2 ended: $(cat "$tmp/cam2.log")"
kill -0 "$p1" 2>/dev/null && kill -0 "$p3" 2>/dev/null \
  || fail "cam1 or cam3 ended before cam2 was stopped"
kill -KILL "$p2"

wait_clients "$p1" "$p3"
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
stop_server "$spid"
echo "cam1 + cam3 served by one GStreamer server process, cam2 killed"
