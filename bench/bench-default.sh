#!/usr/bin/env bash
# Issue 16: what a new user sees with default properties. videotestsrc
# allocating from the sink, 1080p I420, zbsink -> zbsrc against shmsink ->
# shmsrc, alternating, in one run; prints frames/s of each run, the
# medians and the ratio zb/shm.
#
#   bench/bench-default.sh [RUNS] [FRAMES]
#
# Each time runs from the writer's launch to the reader's last buffer (zb:
# the reader waits beforehand; shm: the reader starts once the socket
# exists), so both include one gst-launch start-up: use enough frames.
# Every process is bounded (STALL seconds, default 120): a run that stalls
# is reported as stalled and left out of the median.
# Needs the plugin in GST_PLUGIN_PATH_1_0 (scripts/bench.sh sets it).
set -euo pipefail
runs=${1:-3}
n=${2:-1500}
stall=${STALL:-120}
caps="video/x-raw,format=I420,width=1920,height=1080,framerate=10000/1"
. "$(dirname "$0")/bench-lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

zb_run() {
  local name="zbbench-default-$$-$1" t0 t1
  timeout "$stall" gst-launch-1.0 -q zbsrc buffer-name="$name" is-live=false \
    payload-size=67108864 ! fakesink sync=false >"$tmp/r.log" 2>&1 &
  local rpid=$!
  sleep 0.3
  t0=$(now)
  timeout "$stall" gst-launch-1.0 -q videotestsrc num-buffers="$n" \
    pattern=black ! "$caps" ! zbsink buffer-name="$name" sync=false \
    >"$tmp/w.log" 2>&1 || { echo stalled; return; }
  wait "$rpid" || { echo stalled; return; }
  t1=$(now)
  echo "$n / ($t1 - $t0)" | bc -l
}

shm_run() {
  local sock="$tmp/shm-$1" t0 t1
  t0=$(now)
  gst-launch-1.0 -q videotestsrc num-buffers="$n" pattern=black ! "$caps" ! \
    shmsink socket-path="$sock" wait-for-connection=true sync=false \
    shm-size=67108864 >"$tmp/w.log" 2>&1 &
  local wpid=$!
  while [ ! -S "$sock" ]; do sleep 0.01; done
  # shmsrc never sees EOS: time to its last buffer (num-buffers)
  if ! timeout "$stall" gst-launch-1.0 -q shmsrc socket-path="$sock" \
    is-live=false num-buffers="$n" ! "$caps" ! fakesink sync=false \
    >"$tmp/r.log" 2>&1; then
    kill -INT "$wpid" 2>/dev/null || true
    wait "$wpid" 2>/dev/null || true
    echo stalled
    return
  fi
  t1=$(now)
  # SIGINT: gst-launch stops the pipeline and shmsink removes its
  # /dev/shm/shmpipe.* area (SIGTERM would leak it)
  kill -INT "$wpid" 2>/dev/null || true
  wait "$wpid" 2>/dev/null || true
  echo "$n / ($t1 - $t0)" | bc -l
}

: >"$tmp/zb"; : >"$tmp/shm"
fmt() { [ "$1" = stalled ] && echo stalled || printf '%.0f frames/s' "$1"; }
for i in $(seq 1 "$runs"); do
  z=$(zb_run "$i"); s=$(shm_run "$i")
  echo "run $i: zb $(fmt "$z"), shm $(fmt "$s")"
  [ "$z" = stalled ] || echo "$z" >>"$tmp/zb"
  [ "$s" = stalled ] || echo "$s" >>"$tmp/shm"
done
[ -s "$tmp/zb" ] && [ -s "$tmp/shm" ] || { echo "no complete run"; exit 1; }
zm=$(median <"$tmp/zb"); sm=$(median <"$tmp/shm")
printf 'median: zb %.0f frames/s, shm %.0f frames/s, zb/shm %.2fx\n' \
  "$zm" "$sm" "$(echo "$zm / $sm" | bc -l)"
