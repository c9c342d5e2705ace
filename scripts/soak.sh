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
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=${1:-}
if ! [[ $minutes =~ ^[0-9]+([.][0-9]+)?$ ]]; then
  sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2
  exit 2
fi
shift

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
