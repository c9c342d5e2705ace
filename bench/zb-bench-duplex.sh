#!/usr/bin/env bash
# Duplex throughput: the same zbfilter client and server with max-in-flight=1
# and with max-in-flight=4, buffers per second for both and their ratio.
# A benchmark, not a test: nothing is asserted.
#
#   bench/zb-bench-duplex.sh [BUILD_DIR] [-n BUFFERS] [-r REPS] [-s WxH]
#                            [--server c|gst]
#
# BUILD_DIR (default build/) must hold gst/ and examples/zb-duplex-invert.
# Server c: examples/zb-duplex-invert (inverts every byte, single thread).
# Server gst: gst-launch-1.0 zbsrc channel-name=X ! videoflip
# video-direction=180 ! zbsink channel-name=X. The client is
#   videotestsrc num-buffers=N pattern=black ! video/x-raw,format=I420,WxH
#   ! zbfilter channel-name=X max-in-flight=K ! fakesink sync=false
# timed by gst-launch ("Execution ended after"); the median of REPS runs.
set -euo pipefail

build=build
n=2000
reps=3
size=640x480
server=c
while [ $# -gt 0 ]; do
  case $1 in
    -n) n=$2; shift 2 ;;
    -r) reps=$2; shift 2 ;;
    -s) size=$2; shift 2 ;;
    --server) server=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) build=$1; shift ;;
  esac
done
w=${size%x*}
h=${size#*x}

export GST_PLUGIN_PATH_1_0="$PWD/$build/gst"
export GST_REGISTRY_1_0="${TMPDIR:-/tmp}/zb-bench-duplex-registry-$$.bin"
chan="zb-bench-duplex-$$"
ring=$((w * h * 2 * 8 + 4096))
pid=

cleanup() {
  if [ -n "$pid" ]; then
    kill -INT "$pid" 2> /dev/null || true
    wait "$pid" 2> /dev/null || true
  fi
  rm -f "$GST_REGISTRY_1_0"
}
trap cleanup EXIT

case $server in
  c)
    "$build/examples/zb-duplex-invert" -n "$chan" -s "$ring" \
        2> /dev/null &
    ;;
  gst)
    gst-launch-1.0 -q zbsrc channel-name="$chan" payload-size="$ring" \
        ! videoflip video-direction=180 ! zbsink channel-name="$chan" sync=false \
        > /dev/null 2>&1 &
    ;;
  *) echo "unknown server $server" >&2; exit 2 ;;
esac
pid=$!
for _ in $(seq 100); do
  [ -e "/dev/shm/${chan}_request" ] && break
  sleep 0.05
done

# seconds of one client run
run() {
  gst-launch-1.0 videotestsrc num-buffers="$n" pattern=black \
      ! "video/x-raw,format=I420,width=$w,height=$h,framerate=1000/1" \
      ! zbfilter channel-name="$chan" max-in-flight="$1" \
        payload-size="$ring" timeout=10000 \
      ! fakesink sync=false 2>&1 \
    | sed -n 's/.*Execution ended after \([0-9]*\):\([0-9]*\):\([0-9.]*\).*/\1 \2 \3/p' \
    | awk '{ printf "%.6f\n", $1 * 3600 + $2 * 60 + $3 }'
}

median() {
  sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

run 1 > /dev/null               # warm-up (registry, page faults)
declare -A rate
for k in 1 4; do
  t=$(for _ in $(seq "$reps"); do run "$k"; done | median)
  rate[$k]=$(awk -v n="$n" -v t="$t" 'BEGIN { printf "%.0f", n / t }')
  printf 'server %s, %sx%s I420, max-in-flight=%s: %s buffers/s (%s s for %s)\n' \
      "$server" "$w" "$h" "$k" "${rate[$k]}" "$t" "$n"
done
awk -v a="${rate[1]}" -v b="${rate[4]}" \
    'BEGIN { printf "ratio max-in-flight=4 / max-in-flight=1: %.2f\n", b / a }'
