#!/usr/bin/env bash
# Issue 17: one writer, N readers, default properties on both sides.
# 1080p I420 from videotestsrc (allocating from the sink, as most producers
# do) into zbsink, read by N zbsrc (buffer-name=NAME reader-id=rK), against
# shmsink read by N shmsrc; N = 1, 2 and 4 (or the arguments after FRAMES);
# the two alternate, in one run. Prints, per N and path, the aggregate
# frames/s delivered (N x FRAMES over the time from the writer's launch to
# the last reader's last buffer) and the CPU time per delivered frame (user
# + system of every process of the run), then the ratios zb/shm.
#
#   bench/bench-readers.sh [RUNS] [FRAMES] [N...]
#
# Needs the plugin in GST_PLUGIN_PATH_1_0 (scripts/bench.sh sets it).
set -euo pipefail
runs=${1:-3}
n=${2:-1000}
shift 2 2>/dev/null || shift $#
counts=("$@")
[ ${#counts[@]} -gt 0 ] || counts=(1 2 4)
caps="video/x-raw,format=I420,width=1920,height=1080,framerate=10000/1"
. "$(dirname "$0")/bench-lib.sh"
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT

# zb_run TAG N: prints "frames_per_second"
zb_run() {
  local name="zbbench-readers-$$-$1" k t0 t1 pids=()
  for k in $(seq 1 "$2"); do
    gst-launch-1.0 -q zbsrc buffer-name="$name" reader-id="r$k" \
      is-live=false payload-size=67108864 ! fakesink sync=false \
      >"$tmp/r$k.log" 2>&1 &
    pids+=($!)
  done
  for k in $(seq 1 "$2"); do
    while [ ! -e "/dev/shm/$name@r$k" ]; do sleep 0.01; done
  done
  sleep 0.2
  t0=$(now)
  gst-launch-1.0 -q videotestsrc num-buffers="$n" pattern=black ! "$caps" ! \
    zbsink buffer-name="$name" sync=false >"$tmp/w.log" 2>&1
  wait "${pids[@]}"
  t1=$(now)
  echo "$2 * $n / ($t1 - $t0)" | bc -l >"$tmp/rate"
}

shm_run() {
  local sock="$tmp/shm-$1" k t0 t1 wpid pids=()
  t0=$(now)
  gst-launch-1.0 -q videotestsrc num-buffers="$n" pattern=black ! "$caps" ! \
    shmsink socket-path="$sock" wait-for-connection=true sync=false \
    shm-size=67108864 >"$tmp/w.log" 2>&1 &
  wpid=$!
  while [ ! -S "$sock" ]; do sleep 0.01; done
  # shmsrc never sees EOS: time to the last buffer (num-buffers)
  for k in $(seq 1 "$2"); do
    gst-launch-1.0 -q shmsrc socket-path="$sock" is-live=false \
      num-buffers="$n" ! "$caps" ! fakesink sync=false >"$tmp/r$k.log" 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}"
  t1=$(now)
  kill "$wpid" 2>/dev/null || true
  wait "$wpid" 2>/dev/null || true
  echo "$2 * $n / ($t1 - $t0)" | bc -l >"$tmp/rate"
}

for c in "${counts[@]}"; do
  : >"$tmp/zb"; : >"$tmp/shm"; : >"$tmp/zbcpu"; : >"$tmp/shmcpu"
  for i in $(seq 1 "$runs"); do
    cpu=$(cpu_of zb_run "$c-$i" "$c")
    z=$(cat "$tmp/rate")
    echo "$cpu * 1000000 / ($c * $n)" | bc -l >>"$tmp/zbcpu"
    cpu=$(cpu_of shm_run "$c-$i" "$c")
    s=$(cat "$tmp/rate")
    echo "$cpu * 1000000 / ($c * $n)" | bc -l >>"$tmp/shmcpu"
    printf '%d readers, run %d: zb %.0f frames/s, shm %.0f frames/s\n' \
      "$c" "$i" "$z" "$s"
    echo "$z" >>"$tmp/zb"; echo "$s" >>"$tmp/shm"
  done
  zm=$(median <"$tmp/zb"); sm=$(median <"$tmp/shm")
  zc=$(median <"$tmp/zbcpu"); sc=$(median <"$tmp/shmcpu")
  printf '%d readers, median: zb %.0f frames/s (%.0f us CPU/frame), shm %.0f frames/s (%.0f us CPU/frame), zb/shm %.2fx\n' \
    "$c" "$zm" "$zc" "$sm" "$sc" "$(echo "$zm / $sm" | bc -l)"
done
