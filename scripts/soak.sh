#!/usr/bin/env bash
# Soak: MINUTES of streaming with periodic kills and restarts.
#
#   scripts/soak.sh MINUTES [--seed N] [--kinds writer-kill,reader-kill,...]
#
# Builds build/ (scripts/build.sh) and runs tests/fault/fault.py in soak
# mode: every fault kind in turn (library writer/reader/duplex server/client
# killed with SIGKILL or stopped with SIGSTOP past the other side's
# timeouts, and the same for zbsink/zbsrc processes when the plugin is
# built), 30 s each, round after round, restarting the killed side every
# time. Every frame is verified by the reading side.
#
# Prints, last: frames delivered, corruptions (must be 0), recovery times
# (max and p99, from a peer's restart or SIGCONT to the next good frame),
# leaked objects (must be 0: nothing of ours in /dev/shm or /tmp/zerobuffer
# once everything exited). Exits non-zero when anything failed.
#
#   scripts/soak.sh --kills N [--seed N] [--duration S] [--zombies S] [-v]
#
# Kill soak (docs/security.md, "Kill soak"): tests/fault/kill-soak.py kills
# one side of a gst-launch pair (fakesrc ! zbsink, zbsrc reader) or of a
# duplex pair (zbfault-peer server/client) with kill -9, N times at random
# (default 1000), each process an orphan (double fork, setsid; reaped by
# PID 1, or with --zombies S by the driver as a child subreaper S seconds
# after its death, "inf" for never), and restarts it. --duration caps the
# run in seconds. Prints kills, restarts, frames delivered, frames lost,
# corruptions, leftovers and the worst resume time.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=minutes
if [ "${1:-}" = --kills ]; then
  mode=kills
else
  minutes=${1:-}
  if ! [[ $minutes =~ ^[0-9]+([.][0-9]+)?$ ]]; then
    sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2
    exit 2
  fi
  shift
fi

scripts/build.sh build > /dev/null
export ZBFAULT_PEER=$PWD/build/tests/fault/zbfault-peer
if [ -x build/tests/fault/zbfault-gst-reader ]; then
  export ZBFAULT_GST_READER=$PWD/build/tests/fault/zbfault-gst-reader
  export GST_PLUGIN_PATH_1_0=$PWD/build/gst
  GST_PLUGIN_SYSTEM_PATH_1_0=$(pkg-config --variable=pluginsdir gstreamer-1.0)
  export GST_PLUGIN_SYSTEM_PATH_1_0
  regdir=$(mktemp -d)
  trap 'rm -rf "$regdir"' EXIT
  export GST_REGISTRY=$regdir/registry.bin
fi

snap=$(mktemp)
scripts/leak-check.sh snapshot "$snap"
if [ $mode = kills ]; then
  status=0
  if [ -z "${ZBFAULT_GST_READER:-}" ]; then
    echo "soak: needs the plugin and zbfault-gst-reader (GStreamer)" >&2
    exit 2
  fi
  # kill-soak.py checks the objects of every name it used itself (a global
  # leak-check would also see the tests that other users run meanwhile)
  python3 tests/fault/kill-soak.py "$@" || status=1
  rm -f "$snap"
  exit $status
fi
seconds=$(python3 -c "print(float('$minutes') * 60)")
status=0
out=$(mktemp)
python3 tests/fault/fault.py soak --duration "$seconds" --json "$@" \
    | tee "$out" || status=1
leaked_ok=1
scripts/leak-check.sh check "$snap" || { leaked_ok=0; status=1; }
rm -f "$snap"

python3 - "$out" "$leaked_ok" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
total = next((json.loads(l) for l in reversed(lines) if l.startswith("{")),
             None)
if total is None:
    print("soak: no result")
    sys.exit(0)
print()
print("soak summary")
print("  fault cycles (kills, stops):  %d" % total["iterations"])
print("  frames delivered:             %d" % total["frames"])
print("  corruptions:                  %d" % total["corruptions"])
print("  recovery time max:            %.1f ms" % total["recovery_max_ms"])
print("  recovery time p99:            %.1f ms" % total["recovery_p99_ms"])
print("  leaked objects:               %d%s" % (
    total["leaked"], "" if sys.argv[2] == "1" else
    " (+ leftovers found by scripts/leak-check.sh)"))
print("  verdict:                      %s" % (
    "ok" if total["ok"] and sys.argv[2] == "1" else "FAIL"))
PY
rm -f "$out"
exit $status
