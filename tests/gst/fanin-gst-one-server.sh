#!/usr/bin/env bash
# ONE GStreamer fan-in server (docs/duplex.md, "The GStreamer server"):
# one gst-launch-1.0 process with ONE zbsrc channel-name=NAME ! videoflip
# ! zbsink channel-name=NAME pair serves three gst-launch zbfilter clients
# NAME@cam1..3 at once, each with its own caps (GRAY8 64x64, 80x60,
# 96x48), and a client of NAME itself (48x32): zbsrc interleaves their
# requests in one stream, with a caps event where the client's caps
# change; zbsink answers each client over its own connection. cam2 (as
# fast as it can, 4 requests in flight, a response ring for one response)
# is stopped with SIGSTOP for 2 s while the others run (checked: cam1 and
# cam3 get responses meanwhile, and zbsink dropped cam2 after
# reader-timeout: its zbsink-reader-lost message, reason timeout), goes on
# (SIGCONT: it finds its connection gone, connects again and is
# answered), then is killed with -9. cam1, cam3 and NAME's client must get every frame back,
# each the 180-degree turn of their own frame (GRAY8 of a width that is a
# multiple of 4: the byte string reversed), the server must keep running,
# the request buffers of cam1..3 must be gone once their clients are, and
# NAME's once the server stops. Meanwhile a hostile client NAME@evil
# (Python binding) sends frames that are no gst records: zbsrc refuses that
# client with a warning and serves the others on.
#
#   fanin-gst-one-server.sh LIBZEROBUFFER PYTHON_DIR
set -u
lib=$1
pydir=$2

name="zbt-fg1-$$"
. "$(dirname "$0")/fanin-common.sh"

# reader-timeout: how long a client that reads no responses (cam2
# stopped) may hold up the others' responses
gst-launch-1.0 -m zbsrc channel-name="$name" \
  ! videoflip video-direction=180 \
  ! zbsink channel-name="$name" sync=false reader-timeout=500 \
  > "$tmp/server.log" 2>&1 &
spid=$!
pids+=("$spid")

frames=250
client cam1 smpte 64 64 $frames true
p1=${pids[-1]}
# as fast as it can, 4 requests in flight, a response ring for one
# response: stopped, it fills, and zbsink waits for it reader-timeout
client cam2 ball 80 60 0 false max-in-flight=4 payload-size=8192
p2=${pids[-1]}
client cam3 snow 96 48 $frames true
p3=${pids[-1]}
client own gradient 48 32 $frames true
p4=${pids[-1]}

wait_responses cam1 cam2 cam3 own
kill -0 "$p2" 2>/dev/null || fail "cam2 ended: $(cat "$tmp/cam2.log")"
kill -0 "$p1" 2>/dev/null && kill -0 "$p3" 2>/dev/null \
  || fail "cam1 or cam3 ended before cam2 was stopped"

# a hostile client: gst frame format announced, garbage sent
ZEROBUFFER_LIBRARY="$lib" PYTHONPATH="$pydir" python3 - "$name@evil" \
    > "$tmp/evil.log" 2>&1 <<'PY' || fail "hostile client: $(cat "$tmp/evil.log")"
import sys, time, zerobuffer as zb
c = zb.DuplexClient(sys.argv[1], payload_size=1 << 16, timeout_ms=3000)
meta = (b'{"type":"gstreamer-filter","caps":"video/x-raw,format=GRAY8,'
        b'width=8,height=8,framerate=50/1","frame_format":"gst",'
        b'"frame_format_version":1}')
assert zb._lib.zb_duplex_client_set_metadata(c._h, meta, len(meta)) == 0
for i in range(5):
    c.send(b"\x01 not a gst record " * 4)
time.sleep(0.5)
PY
grep -q "Refusing the client of duplex channel \"$name@evil\": it sent an invalid frame" \
    "$tmp/server.log" || fail "the hostile client was not refused: $(cat "$tmp/server.log")"

kill -STOP "$p2"
sleep 0.3
s1=$(stat -c %s "$tmp/cam1.out"); s3=$(stat -c %s "$tmp/cam3.out")
sleep 1.7
n1=$(stat -c %s "$tmp/cam1.out"); n3=$(stat -c %s "$tmp/cam3.out")
[ "$n1" -gt "$s1" ] || fail "cam1 got no response while cam2 was stopped"
[ "$n3" -gt "$s3" ] || fail "cam3 got no response while cam2 was stopped"
grep -q "zbsink-reader-lost.*reason=(string)timeout" "$tmp/server.log" \
  || fail "zbsink did not drop the stopped cam2: $(cat "$tmp/server.log")"
echo "while cam2 was stopped: cam1 +$(( (n1 - s1) / 4096 )) frames, cam3 +$(( (n3 - s3) / 4608 )) frames in 1.7 s"
# cam2 goes on: zbsink left its response buffer, so its zbfilter finds
# the server gone (-EPIPE), drops its requests in flight and connects
# again as a new client, which is answered
c1=$(stat -c %s "$tmp/cam2.out")
t0=$(date +%s%N)
kill -CONT "$p2"
for _ in $(seq 150); do
  [ "$(stat -c %s "$tmp/cam2.out")" -gt $(( c1 + 20 * 4800 )) ] && break
  sleep 0.1
done
[ "$(stat -c %s "$tmp/cam2.out")" -gt $(( c1 + 20 * 4800 )) ] \
  || fail "cam2 was not answered again after it was dropped"
echo "cam2 answered again (20 frames more) $(( ($(date +%s%N) - t0) / 1000000 )) ms after SIGCONT"
kill -KILL "$p2"

wait_clients "$p1" "$p3" "$p4"
kill -0 "$spid" 2>/dev/null || fail "the server died: $(cat "$tmp/server.log")"

python3 - "$tmp" "$frames" <<'PY' || fail "responses"
import sys
tmp, n = sys.argv[1], int(sys.argv[2])
for cam, size in (("cam1", 64 * 64), ("cam3", 96 * 48), ("own", 48 * 32)):
    sent = open(f"{tmp}/{cam}.in", "rb").read()
    got = open(f"{tmp}/{cam}.out", "rb").read()
    if len(sent) != n * size or len(got) != len(sent):
        sys.exit(f"{cam}: sent {len(sent)} bytes, got {len(got)}, want {n * size}")
    for k in range(n):
        if got[k * size:(k + 1) * size] != sent[k * size:(k + 1) * size][::-1]:
            sys.exit(f"{cam}: frame {k} is not the answer to its own frame")
    print(f"{cam}: {n} frames of {size} bytes, each its own frame turned")
PY

# the client channels close once their clients are gone (cam2's too)
for id in cam1 cam2 cam3; do
  for _ in $(seq 50); do [ -e "/dev/shm/$name@${id}_request" ] || break; sleep 0.1; done
  [ -e "/dev/shm/$name@${id}_request" ] && fail "$name@${id}_request still there 5 s after its client"
done

# The server stops on SIGINT and removes its request buffers.
stop_server "$spid"
[ -e "/dev/shm/${name}_request" ] && fail "${name}_request left behind"
# nothing of the server's is left (cam2, killed, leaves its own response
# buffer, which the next client of cam2 takes over)
left=$(ls /dev/shm | grep -F "$name" | grep -v -e "@cam2_response\$" -e "^sem.sem-.-$name@cam2_response\$")
[ -z "$left" ] || fail "left in /dev/shm: $left"
echo "cam1, cam3 and NAME's own client served by one zbsrc/zbsink pair, cam2 stopped then killed"
