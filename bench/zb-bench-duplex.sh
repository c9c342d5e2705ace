#!/usr/bin/env bash
# Duplex round trips: the same zbfilter client against servers answering
# in place and by copy (docs/duplex.md "In place"), with max-in-flight=1
# and =4: round trips per second, CPU time per round trip (client and
# server processes, from /proc), and the ratio in place / copy.
# A benchmark, not a test: nothing is asserted.
#
#   bench/zb-bench-duplex.sh [BUILD_DIR] [-n BUFFERS] [-r REPS] [-s WxH]
#                            [--server c|gst|gst-ip] [-t TRANSFORM]
#
# BUILD_DIR (default build/) must hold gst/ and examples/zb-duplex-invert.
# Server c: examples/zb-duplex-invert (inverts every byte, single thread),
# with -i (answers in place) and without (answers copied into the response
# ring, its default). Server gst: gst-launch-1.0 zbsrc channel-name=X ! videoflip
# video-direction=180 ! zbsink channel-name=X (copies; no in-place row).
# Server gst-ip: gst-launch-1.0 zbsrc channel-name=X ! videobalance
# saturation=0 ! zbsink channel-name=X, an in-place transform: answers in
# place (docs/duplex.md, "The GStreamer server"), against the same
# pipeline with zbsrc max-held-bytes=1, which copies each request to the
# heap (as for a downstream that holds too much of the ring), so that
# videobalance changes the copy and zbsink copies it into the response
# ring: the two copies every answer took before the server answered in
# place. -t replaces videobalance saturation=0 (e.g. -t identity: an echo,
# which leaves the channel's own cost).
# The client is
#   videotestsrc num-buffers=N pattern=black ! video/x-raw,format=I420,WxH
#   ! zbfilter channel-name=X max-in-flight=K ! fakesink sync=false
# with zbfilter's default properties besides these, timed by gst-launch
# ("Execution ended after"); the median of REPS runs.
set -euo pipefail

build=build
n=2000
reps=3
size=640x480
server=c
transform="videobalance saturation=0"
while [ $# -gt 0 ]; do
  case $1 in
    -n) n=$2; shift 2 ;;
    -r) reps=$2; shift 2 ;;
    -s) size=$2; shift 2 ;;
    --server) server=$2; shift 2 ;;
    -t) transform=$2; shift 2 ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) build=$1; shift ;;
  esac
done
w=${size%x*}
h=${size#*x}

export GST_PLUGIN_PATH_1_0="$PWD/$build/gst"
export GST_REGISTRY_1_0="${TMPDIR:-/tmp}/zb-bench-duplex-registry-$$.bin"
chan="zb-bench-duplex-$$"
ring=$((w * h * 2 * 8 + 4096))
tick=$(getconf CLK_TCK)
tmp=$(mktemp -d)
pid=

stop_server() {
  if [ -n "$pid" ]; then
    kill -INT "$pid" 2> /dev/null || true
    wait "$pid" 2> /dev/null || true
    pid=
  fi
}
cleanup() {
  stop_server
  rm -rf "$tmp" "$GST_REGISTRY_1_0"
}
trap cleanup EXIT

start_server() {
  case $1 in
    c-in-place)
      "$build/examples/zb-duplex-invert" -n "$chan" -s "$ring" -i \
          2> /dev/null &
      ;;
    c-copy)
      "$build/examples/zb-duplex-invert" -n "$chan" -s "$ring" 2> /dev/null &
      ;;
    gst)
      gst-launch-1.0 -q zbsrc channel-name="$chan" payload-size="$ring" \
          ! videoflip video-direction=180 \
          ! zbsink channel-name="$chan" sync=false > /dev/null 2>&1 &
      ;;
    gst-in-place|gst-copy)
      held=0
      [ "$1" = gst-copy ] && held=1
      gst-launch-1.0 -q zbsrc channel-name="$chan" payload-size="$ring" \
          max-held-bytes="$held" ! $transform \
          ! zbsink channel-name="$chan" sync=false > /dev/null 2>&1 &
      ;;
    *) echo "unknown server $1" >&2; exit 2 ;;
  esac
  pid=$!
  for _ in $(seq 100); do
    [ -e "/dev/shm/${chan}_request" ] && break
    sleep 0.05
  done
}

# CPU ticks (user + system) the server has used so far
server_ticks() {
  awk '{ print $14 + $15 }' "/proc/$pid/stat"
}

# One client run: prints "seconds cpu-seconds" (both processes)
run() {
  local s0 s1
  s0=$(server_ticks)
  { TIMEFORMAT='%U %S'; time gst-launch-1.0 videotestsrc num-buffers="$n" \
      pattern=black \
      ! "video/x-raw,format=I420,width=$w,height=$h,framerate=1000/1" \
      ! zbfilter channel-name="$chan" max-in-flight="$1" \
        payload-size="$ring" timeout=10000 \
      ! fakesink sync=false > "$tmp/out" 2>&1 ; } 2> "$tmp/cpu"
  s1=$(server_ticks)
  sed -n 's/.*Execution ended after \([0-9]*\):\([0-9]*\):\([0-9.]*\).*/\1 \2 \3/p' \
      "$tmp/out" | awk -v c="$(cat "$tmp/cpu")" -v s=$((s1 - s0)) -v t="$tick" \
      '{ split (c, u, " "); printf "%.6f %.6f\n", $1 * 3600 + $2 * 60 + $3,
         u[1] + u[2] + s / t }'
}

median() {
  sort -g | awk '{ v[NR] = $0 } END { print v[int((NR + 1) / 2)] }'
}

case $server in
  c) modes="c-in-place c-copy" ;;
  gst) modes="gst" ;;
  gst-ip) modes="gst-in-place gst-copy" ;;
  *) echo "unknown server $server" >&2; exit 2 ;;
esac

declare -A rate
for mode in $modes; do
  start_server "$mode"
  run 1 > /dev/null             # warm-up (registry, page faults)
  for k in 1 4; do
    read -r t cpu < <(for _ in $(seq "$reps"); do run "$k"; done | median)
    rate[$mode,$k]=$(awk -v n="$n" -v t="$t" 'BEGIN { printf "%.0f", n / t }')
    printf '%s, %sx%s I420, max-in-flight=%s: %s round trips/s, %.0f us CPU per round trip (%s s for %s)\n' \
        "$mode" "$w" "$h" "$k" "${rate[$mode,$k]}" \
        "$(awk -v c="$cpu" -v n="$n" 'BEGIN { print c * 1e6 / n }')" "$t" "$n"
  done
  stop_server
done
if [ "$server" != gst ]; then
  p=${server%-ip}
  for k in 1 4; do
    awk -v a="${rate[$p-in-place,$k]}" -v b="${rate[$p-copy,$k]}" -v k="$k" \
        'BEGIN { printf "ratio in place / copy, max-in-flight=%s: %.2f\n", k, a / b }'
  done
fi
