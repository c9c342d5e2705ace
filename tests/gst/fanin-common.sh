# shellcheck shell=bash
# Shared set-up of the duplex fan-in tests (fanin-*.sh), sourced by bash
# after they set $name (the channel NAME, unique to the test: zbt-...-$$).
#
# $tmp: a temporary directory; $pids: the processes the test started, all
# killed (also when stopped) at exit, when $tmp and every object of $name
# in /dev/shm and /tmp/zerobuffer are removed too (ZBT_KEEP=DIR: $tmp is
# copied there first).

set -u

tmp=$(mktemp -d)
pids=()
cleanup () {
  for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  [ -n "${ZBT_KEEP:-}" ] && cp -r "$tmp" "$ZBT_KEEP"
  rm -rf "$tmp"
  rm -f /dev/shm/"$name"* /dev/shm/sem.sem-?-"$name"* \
    /dev/shm/zbstats-"$name"* /dev/shm/zbpool-"$name"* \
    /tmp/zerobuffer/"$name"*.lock
}
trap cleanup EXIT
fail () { echo "FAIL: $*"; exit 1; }

# client ID PATTERN WIDTH HEIGHT FRAMES (0: endless) [LIVE [zbfilter options]]
# A gst-launch-1.0 zbfilter client of channel NAME@ID (ID "own": of NAME
# itself) sending GRAY8 frames at 50 fps (LIVE, default true: paced;
# false: as fast as it is answered); the frames it sends go to
# $tmp/ID.in, its responses to $tmp/ID.out, its output to $tmp/ID.log.
client () {
  local id=$1 pattern=$2 w=$3 h=$4 n=$5 live=${6:-true} nb=""
  shift 5
  [ $# -gt 0 ] && shift
  [ "$n" != 0 ] && nb="num-buffers=$n"
  local chan="$name@$id"
  [ "$id" = own ] && chan="$name"
  gst-launch-1.0 -q videotestsrc is-live="$live" pattern="$pattern" $nb \
    ! "video/x-raw,format=GRAY8,width=$w,height=$h,framerate=50/1" \
    ! tee name=t t. ! queue ! filesink location="$tmp/$id.in" \
    t. ! queue ! zbfilter channel-name="$chan" timeout=5000 "$@" \
    ! filesink location="$tmp/$id.out" > "$tmp/$id.log" 2>&1 &
  pids+=("$!")
}

# wait_responses ID...: each client's first responses within 10 s (a
# loaded machine starts gst-launch slowly).
wait_responses () {
  local id
  for id in "$@"; do
    for _ in $(seq 100); do [ -s "$tmp/$id.out" ] && break; sleep 0.1; done
    [ -s "$tmp/$id.out" ] || fail "$id got no response in 10 s: $(cat "$tmp/$id.log" "$tmp/server.log")"
  done
}

# wait_clients PID...: each client ends within 20 s, with status 0.
wait_clients () {
  local p rc
  for p in "$@"; do
    for _ in $(seq 200); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    wait "$p"
    rc=$?
    [ "$rc" = 0 ] || fail "client $p exit $rc: $(cat "$tmp"/*.log)"
  done
}

# stop_server PID: the server stops on SIGINT within 10 s.
stop_server () {
  kill -INT "$1"
  for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$1" 2>/dev/null; then fail "the server did not stop on SIGINT"; fi
}
