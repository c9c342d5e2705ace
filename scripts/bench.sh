#!/usr/bin/env bash
# The benchmark command: zbsink -> zbsrc next to shmsink -> shmsrc, and the
# library next to memcpy, in one invocation on this machine.
#
#   scripts/bench.sh [--quick] [--reps N] [--cases 1,2,3,4,5,6] [--no-lib]
#                    [--no-gst] [--json FILE] [--png FILE] [--paths A,B]
#
# Builds build/ (as ./run build does), runs bench/zb-bench-lib and
# bench/bench-gst.py, prints the table, writes the JSON (default
# build/benchmarks.json) and the chart (default docs/benchmarks.png; needs
# gnuplot). --quick runs fewer buffers and 3 repetitions (about a minute);
# the full run takes a few minutes. Not part of ./run test. ZB_BUILD_DIR
# picks another build directory than build/. --paths compares two other
# sides than zb,shm (bench/bench-gst.py): e.g. --paths zb-ct0,zb-ct1 is
# zbsink with copy-threads=0 next to copy-threads=1, their ratio printed;
# the chart is only drawn for zb,shm.
set -euo pipefail

cd "$(dirname "$0")/.."
quick=()
reps=()
cases=()
paths=()
lib=1
gst=1
b=${ZB_BUILD_DIR:-build}
json=$b/benchmarks.json
png=docs/benchmarks.png
cmdline="scripts/bench.sh $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=(--quick) ;;
    --reps) reps=(--reps "$2"); shift ;;
    --cases) cases=(--cases "$2"); shift ;;
    --paths) paths=(--paths "$2"); shift ;;
    --no-lib) lib=0 ;;
    --no-gst) gst=0 ;;
    --json) json=$2; shift ;;
    --png) png=$2; shift ;;
    *) sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2; exit 2 ;;
  esac
  shift
done

scripts/install-deps.sh
scripts/build.sh "$b" >/dev/null

tmp=$(mktemp -d /tmp/zbbench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

if [ $lib = 1 ]; then
  echo "== library benchmark" >&2
  "$b"/bench/zb-bench-lib "${quick[@]}" "${reps[@]}" --json "$tmp/lib.json" >&2
fi
if [ $gst = 1 ]; then
  if [ ! -x "$b"/bench/zb-bench-gst ] || [ ! -f "$b"/gst/libgstzerobuffer.so ]; then
    echo "the GStreamer plugin is not built: skipping the GStreamer cases" >&2
  else
    echo "== GStreamer benchmark" >&2
    GST_PLUGIN_PATH="$PWD/$b/gst${GST_PLUGIN_PATH:+:$GST_PLUGIN_PATH}" \
      python3 bench/bench-gst.py --helper "$b"/bench/zb-bench-gst \
      --json "$tmp/gst.json" "${quick[@]}" "${reps[@]}" "${cases[@]}" \
      "${paths[@]}"
  fi
fi
echo >&2
python3 bench/report.py --lib "$tmp/lib.json" --gst "$tmp/gst.json" \
  --json "$json" --png "$png" --command "$cmdline"
