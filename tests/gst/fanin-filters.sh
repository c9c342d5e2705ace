#!/usr/bin/env bash
# Duplex fan-in with real processes (docs/duplex.md, "Fan-in"): one server
# process (the C example zb-duplex-invert, argument 1) serves channel NAME;
# three gst-launch-1.0 clients run zbfilter channel-name=NAME@cam1,
# NAME@cam2, NAME@cam3 at once, each with its own caps. cam2 is SIGSTOPped
# mid-stream for 1.5 s and then killed with -9. cam1 and cam3 must finish
# with every frame answered, and each answer must be the inversion of that
# client's own frame (a tee writes the frames sent to a file, zbfilter's
# output to another; byte i of one is 255 - byte i of the other).
set -u

server_bin=${1:?usage: fanin-filters.sh ZB-DUPLEX-INVERT}
name="zbt-fanin-$$"
. "$(dirname "$0")/fanin-common.sh"

"$server_bin" -n "$name" > "$tmp/server.log" 2>&1 &
spid=$!
pids+=("$spid")

start=$(date +%s.%N)
client cam1 smpte 64 64 250
p1=${pids[-1]}
client cam2 ball 80 60 0
p2=${pids[-1]}
client cam3 snow 96 48 250
p3=${pids[-1]}

# Each client's first responses, then cam2 mid-stream: the others must
# still be running.
wait_responses cam1 cam2 cam3
kill -0 "$p2" 2>/dev/null || fail "cam2 ended: $(cat "$tmp/cam2.log")"
kill -0 "$p1" 2>/dev/null && kill -0 "$p3" 2>/dev/null \
  || fail "cam1 or cam3 ended before cam2 was stopped"
kill -STOP "$p2"
sleep 1.5
kill -KILL "$p2"

wait_clients "$p1" "$p3"
end=$(date +%s.%N)
kill -0 "$spid" 2>/dev/null || fail "the server died: $(cat "$tmp/server.log")"

python3 - "$tmp" <<'PY' || fail "responses"
import sys
tmp = sys.argv[1]
for cam, size in (("cam1", 64 * 64), ("cam3", 96 * 48)):
    sent = open(f"{tmp}/{cam}.in", "rb").read()
    got = open(f"{tmp}/{cam}.out", "rb").read()
    if len(sent) != 250 * size or len(got) != len(sent):
        sys.exit(f"{cam}: sent {len(sent)} bytes, got {len(got)}, want {250 * size}")
    want = bytes(255 - b for b in sent)
    if got != want:
        i = next(i for i in range(len(got)) if got[i] != want[i])
        sys.exit(f"{cam}: frame {i // size} byte {i % size} is not the answer to its own frame")
    print(f"{cam}: 250 frames of {size} bytes, each the inversion of its own")
PY
grep -c "new client of" "$tmp/server.log" | grep -qx 3 \
  || fail "the server did not see 3 clients: $(cat "$tmp/server.log")"
echo "cam1 + cam3 done in $(echo "$end - $start" | bc) s (250 frames each at 50 fps: 5 s), cam2 stopped then killed"
