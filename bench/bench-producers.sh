#!/usr/bin/env bash
# Issue 16's proof: zbsink -> zbsrc against shmsink -> shmsrc for the
# producers users have, DEFAULT properties of both sinks, 1080p and 4K
# I420, alternating runs in one invocation:
#   videotestsrc   videotestsrc pattern=black ! I420
#   videoconvert   videotestsrc pattern=black ! YUY2 ! videoconvert ! I420
#   jpegdec        multifilesrc (one JPEG made by jpegenc at start) !
#                  jpegparse ! jpegdec ! I420
#   tee            videotestsrc pattern=black ! I420 ! tee ! SINK
#   queue          videotestsrc pattern=black ! I420 ! queue ! SINK
#
#   bench/bench-producers.sh [RUNS] [SECONDS] [CASE...]
#
# CASE is NAME@RES, NAME one of the above, RES 1080p or 4k (default: all
# ten). Each case first runs 1 s worth of zb to size FRAMES so that a run
# lasts about SECONDS (default 3; at least 2 is meant); then RUNS pairs
# (default 3), zb and shm alternating, which of the two goes first
# alternating too. Prints per case the medians of frames/s (the reader's
# first buffer to its EOS, FRAMES - 1 intervals), zb/shm, the CPU time
# (user + system, from PLAYING to EOS) per delivered frame of the writer,
# of the reader and of both (each the median over the runs, so w + r need
# not add up exactly), and zbsink's copies per buffer from its stats
# ((frames-sent - zero-copy-frames) / frames-sent; pool-fallbacks shown).
# shmsink has no such counter: its copies per buffer are counted in a short
# untimed run (30 frames) from its LOG-level debug line "... will memcpy"
# (GST_DEBUG=shmsink:6), kept out of the timed runs.
#
# Properties set (all others default): zbsink buffer-name sync=false;
# zbsrc buffer-name is-live=false (shmsrc's default); shmsink socket-path
# sync=false; shmsrc socket-path num-buffers=FRAMES. Writer and reader each
# run in bench/bench-proc.py (/usr/bin/python3, PyGObject), which prints the
# figures; every process is bounded by STALL seconds (default 120): a run
# that fails is reported and left out of the medians. A reader that gets
# no buffer for 3 s after its first counts as stalled (bench-proc.py): the
# run is reported with the frames that arrived, and its rate over them
# enters the medians when at least half of FRAMES arrived.
# Needs the plugin in GST_PLUGIN_PATH_1_0 (e.g. build/gst).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/bench-lib.sh"
runs=${1:-3}
secs=${2:-3}
shift 2 2>/dev/null || shift $#
cases=("$@")
[ ${#cases[@]} -gt 0 ] || for r in 1080p 4k; do
  for p in videotestsrc videoconvert jpegdec tee queue; do cases+=("$p@$r"); done
done
stall=${STALL:-120}
py=/usr/bin/python3
proc="$here/bench-proc.py"
tmp=$(mktemp -d /tmp/zbbench-producers.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$tmp"' EXIT

# producer NAME W H FRAMES: the writer's pipeline up to the sink
producer() {
  local raw="video/x-raw,width=$2,height=$3,framerate=10000/1"
  case "$1" in
    videotestsrc)
      echo "videotestsrc num-buffers=$4 pattern=black ! $raw,format=I420" ;;
    videoconvert)
      echo "videotestsrc num-buffers=$4 pattern=black ! $raw,format=YUY2 !" \
        "videoconvert ! $raw,format=I420" ;;
    jpegdec)
      echo "multifilesrc location=$tmp/$2x$3.jpg loop=true num-buffers=$4" \
        "caps=image/jpeg,framerate=10000/1 ! jpegparse ! jpegdec !" \
        "$raw,format=I420" ;;
    tee) echo "videotestsrc num-buffers=$4 pattern=black ! $raw,format=I420 ! tee" ;;
    queue) echo "videotestsrc num-buffers=$4 pattern=black ! $raw,format=I420 ! queue" ;;
    *) echo "unknown producer $1" >&2; exit 2 ;;
  esac
}

# get KEY FILE: the value of KEY=... in FILE (empty when absent)
get() { sed -n "s/^$1=//p" "$2" 2>/dev/null | head -1; }

# zb_run TAG PRODUCER N; shm_run TAG PRODUCER N CAPS: write w.out and r.out
# (bench-proc.py's lines), return 1 when the run stalled or failed
zb_run() {
  local name="zbbench-prod-$$-$1" rpid ok=0
  : >"$tmp/w.out"; : >"$tmp/r.out"
  timeout "$stall" $py "$proc" zbsrc buffer-name="$name" is-live=false ! \
    fakesink name=out sync=false >"$tmp/r.out" 2>"$tmp/r.err" &
  rpid=$!
  wait_for -e "/dev/shm/$name" 30 || ok=1
  [ $ok = 0 ] && { timeout "$stall" $py "$proc" $2 ! zbsink name=zb \
    buffer-name="$name" sync=false >"$tmp/w.out" 2>"$tmp/w.err" || ok=1; }
  [ $ok = 0 ] || kill "$rpid" 2>/dev/null || true
  wait "$rpid" || ok=1
  [ "$(get status "$tmp/w.out")" = eos ] && [ "$(get status "$tmp/r.out")" = eos ] || ok=1
  return $ok
}

shm_run() {
  local sock="$tmp/shm-$1" wpid ok=0
  : >"$tmp/w.out"; : >"$tmp/r.out"
  timeout "$stall" $py "$proc" $2 ! shmsink socket-path="$sock" sync=false \
    >"$tmp/w.out" 2>"$tmp/w.err" &
  wpid=$!
  wait_for -S "$sock" 30 || ok=1
  # shmsrc never sees EOS from its writer: num-buffers ends it
  [ $ok = 0 ] && { timeout "$stall" $py "$proc" shmsrc socket-path="$sock" \
    num-buffers="$3" ! "$4" ! fakesink name=out sync=false \
    >"$tmp/r.out" 2>"$tmp/r.err" || ok=1; }
  # the writer ends at its own EOS; bounded in case it does not
  wait_for -s "$tmp/w.out" 5 || { kill "$wpid" 2>/dev/null || true; ok=1; }
  wait "$wpid" || true
  [ "$(get status "$tmp/r.out")" = eos ] || ok=1
  return $ok
}

# usable N: the failed run's reader stalled after at least N / 2 frames
usable() {
  local r
  r=$(get rendered "$tmp/r.out")
  [ "$(get status "$tmp/r.out")" = stalled ] && [ -n "$r" ] && [ $((r * 2)) -ge "$1" ]
}

# record PATH N: append this run's figures to $tmp/PATH.{fps,wcpu,rcpu,copies}
record() {
  local first last rendered
  first=$(get first "$tmp/r.out"); last=$(get last "$tmp/r.out")
  rendered=$(get rendered "$tmp/r.out")
  echo "($rendered - 1) / ($last - $first)" | bc -l >>"$tmp/$1.fps"
  echo "$(get cpu "$tmp/w.out") * 1000 / $rendered" | bc -l >>"$tmp/$1.wcpu"
  echo "$(get cpu "$tmp/r.out") * 1000 / $rendered" | bc -l >>"$tmp/$1.rcpu"
  echo "($(get cpu "$tmp/w.out") + $(get cpu "$tmp/r.out")) * 1000 / $rendered" |
    bc -l >>"$tmp/$1.cpu"
  if [ "$1" = zb ]; then
    local sent zc fb
    sent=$(get frames-sent "$tmp/w.out"); zc=$(get zero-copy-frames "$tmp/w.out")
    fb=$(get pool-fallbacks "$tmp/w.out")
    echo "($sent - $zc) / $sent" | bc -l >>"$tmp/zb.copies"
    echo "$fb" >>"$tmp/zb.fallbacks"
  fi
  tail -1 "$tmp/$1.fps"
}

# shm_copies PRODUCER CAPS: shmsink's copies per buffer over 30 frames of
# PRODUCER (untimed), from its debug log
shm_copies() {
  local sock="$tmp/shm-check" k=30 wpid c
  rm -f "$sock"
  GST_DEBUG=shmsink:6 GST_DEBUG_NO_COLOR=1 timeout 30 gst-launch-1.0 -q $1 ! \
    shmsink socket-path="$sock" sync=false >"$tmp/check.log" 2>&1 &
  wpid=$!
  if wait_for -S "$sock" 30; then
    timeout 30 gst-launch-1.0 -q shmsrc socket-path="$sock" num-buffers=$k ! \
      "$2" ! fakesink sync=false >/dev/null 2>&1 || true
  fi
  # SIGINT (forwarded by timeout): gst-launch stops the pipeline, and
  # shmsink removes its /dev/shm/shmpipe.* area (a SIGTERM leaks it)
  kill -INT "$wpid" 2>/dev/null || true
  wait "$wpid" 2>/dev/null || true
  c=$(grep -c "will memcpy" "$tmp/check.log" || true)
  echo "$c / $k" | bc -l
}

# the JPEG files of the jpegdec cases, made once
for res in 1920x1080 3840x2160; do
  gst-launch-1.0 -q videotestsrc num-buffers=1 pattern=smpte ! \
    "video/x-raw,format=I420,width=${res%x*},height=${res#*x}" ! jpegenc ! \
    filesink location="$tmp/$res.jpg"
done

echo "# $(date -u '+%F %T UTC'), load before: $(uptime | sed 's/.*load average: //')"
echo "# bench/bench-producers.sh $runs $secs ${cases[*]}"
printf '%-18s %6s %6s %6s %7s %21s %21s %7s %8s %s\n' case frames "zb f/s" \
  "shm" zb/shm "zb CPU ms/f w+r=all" "shm CPU ms/f w+r=all" "zb copy" \
  "shm copy" "fallbacks stalls"
for c in "${cases[@]}"; do
  p=${c%@*}
  case "${c#*@}" in
    1080p) w=1920; h=1080 ;;
    4k) w=3840; h=2160 ;;
    *) echo "unknown resolution in $c" >&2; exit 2 ;;
  esac
  caps="video/x-raw,format=I420,width=$w,height=$h,framerate=10000/1"
  rm -f "$tmp"/zb.* "$tmp"/shm.*
  # size the runs: a short zb run, FRAMES = its rate x SECONDS
  n0=$([ "$h" = 1080 ] && echo 300 || echo 60)
  if zb_run "$c-cal" "$(producer "$p" $w $h $n0)"; then
    n=$(echo "$(record zb $n0) * $secs / 1" | bc)
    [ "$n" -ge "$n0" ] || n=$n0
  else
    echo "$c: calibration run stalled or failed: $(cat "$tmp"/*.err | head -3)"
    continue
  fi
  rm -f "$tmp"/zb.*
  stalls=""
  for i in $(seq 1 "$runs"); do
    order="zb shm"; [ $((i % 2)) = 0 ] && order="shm zb"
    for path in $order; do
      if [ $path = zb ]; then
        zb_run "$c-$i" "$(producer "$p" $w $h "$n")" && ok=1 || ok=0
      else
        shm_run "$c-$i" "$(producer "$p" $w $h "$n")" "$n" "$caps" && ok=1 || ok=0
      fi
      if [ $ok = 1 ]; then
        record $path "$n" >/dev/null
      elif usable "$n"; then
        record $path "$n" >/dev/null
        stalls="$stalls $path#$i($(get rendered "$tmp/r.out")/$n)"
      else
        stalls="$stalls $path#$i(failed)"
        echo "  $c run $i $path failed: reader $(get status "$tmp/r.out")" \
          "after $(get rendered "$tmp/r.out") of $n frames, writer" \
          "$(get status "$tmp/w.out");" \
          "$(tail -q -n 2 "$tmp"/w.err "$tmp"/r.err 2>/dev/null | tr '\n' ' ')" >&2
      fi
    done
  done
  m() { [ -s "$tmp/$1" ] && median <"$tmp/$1" || echo 0; }
  zf=$(m zb.fps); sf=$(m shm.fps)
  ratio=$( [ "$sf" != 0 ] && echo "$zf / $sf" | bc -l || echo 0)
  sc=$(shm_copies "$(producer "$p" $w $h 30)" "$caps")
  printf '%-18s %6d %6.0f %6.0f %6.2fx %6.3f+%.3f=%-7.3f %6.3f+%.3f=%-7.3f %7.2f %8.2f %s%s\n' \
    "$c" "$n" "$zf" "$sf" "$ratio" "$(m zb.wcpu)" "$(m zb.rcpu)" "$(m zb.cpu)" \
    "$(m shm.wcpu)" "$(m shm.rcpu)" "$(m shm.cpu)" "$(m zb.copies)" "$sc" \
    "$(sort -g "$tmp/zb.fallbacks" 2>/dev/null | tail -1)" "${stalls:+ stalled:$stalls}"
  # every run, for the record
  echo "#   zb f/s: $(tr '\n' ' ' 2>/dev/null <"$tmp/zb.fps" | xargs printf '%.0f ')| shm f/s: $(tr '\n' ' ' 2>/dev/null <"$tmp/shm.fps" | xargs printf '%.0f ')"
done
echo "# $(date -u '+%F %T UTC'), load after: $(uptime | sed 's/.*load average: //')"
