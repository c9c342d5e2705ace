#!/usr/bin/env bash
# Side objects of writers, with real gst-launch processes (docs/protocol.md
# "Side objects of dead writers", docs/elements.md; issue 16, issue 19):
#
# 1. zbsink leaky=true whose zbsrc is stopped (SIGSTOP) drops frames, and
#    `zerobuffer top --json` shows its drops rising.
# 2. A zbsink writer killed with kill -9 after its zbsrc was killed leaves
#    pool segments (zbpool-NAME-PID-N) that no reader of that buffer will
#    ever sweep. The next user of *any* buffer removes them: `zerobuffer
#    clean --stale`, a zbsink of another buffer starting, a zbsrc of
#    another buffer starting. A live writer's pool segments (another
#    pipeline pair, streaming all along) are never removed, and its frames
#    keep flowing.
#
# Runs in a private /dev/shm and /tmp/zerobuffer (a mount namespace): every
# reader on the machine sweeps dead writers' objects when it starts, so
# the leftovers this test makes on purpose must be out of their reach.
# Exit 77 (skip) when that is not possible (not root).
#
#   pool-sweep.sh ZEROBUFFER-CLI
set -u

Z=${1:?usage: pool-sweep.sh ZEROBUFFER-CLI}
if [ -z "${ZBT_POOL_NS:-}" ]; then
  unshare --mount --propagation private true 2>/dev/null ||
    { echo "SKIP: needs a private mount namespace (root)"; exit 77; }
  export ZBT_POOL_NS=1
  exec unshare --mount --propagation private bash "$0" "$@"
fi
mkdir -p /tmp/zerobuffer &&
  mount -t tmpfs -o mode=1777 tmpfs /dev/shm &&
  mount -t tmpfs -o mode=1777 tmpfs /tmp/zerobuffer ||
  { echo "FAIL: cannot mount a private /dev/shm"; exit 1; }

TMP=$(mktemp -d)
PIDS=""
cleanup () {
  local p
  for p in $PIDS; do
    kill -CONT "$p" 2>/dev/null
    kill -KILL "$p" 2>/dev/null
  done
  wait 2>/dev/null
  rm -rf "$TMP"
  # the private tmpfs mounts go with the namespace
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
fail () { echo "FAIL: $*"; exit 1; }
note () { echo "# $*"; }

# bg VAR CMD...: start CMD in the background, its pid in VAR
bg () {
  local var=$1
  shift
  "$@" > "$TMP/$var.log" 2>&1 &
  eval "$var=$!"
  PIDS="$PIDS $!"
}
# kill9 PID: kill -9 and reap
kill9 () {
  kill -KILL "$1" 2>/dev/null
  wait "$1" 2>/dev/null
}
# wait_for TEST...: until the shell test is true (10 s)
wait_for () {
  local i
  for i in $(seq 1 200); do
    "$@" && return 0
    sleep 0.05
  done
  return 1
}
segments () { ls /dev/shm | grep -c "^zbpool-$1-$2-"; }
has_segments () { [ "$(segments "$1" "$2")" -gt 0 ]; }
no_segments () { [ "$(segments "$1" "$2")" -eq 0 ]; }
written () {
  "$Z" inspect "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["payload_written_count"])'
}

CAPS="video/x-raw,format=I420,width=160,height=120,framerate=200/1"
# reader NAME VAR, writer NAME VAR: a gst-launch pair of buffer NAME
reader () {
  bg "$2" gst-launch-1.0 zbsrc buffer-name="$1" ! fakesink sync=false
}
writer () {
  bg "$2" gst-launch-1.0 videotestsrc is-live=true ! "$CAPS" ! \
    zbsink buffer-name="$1"
}

# --- 1. zbsink leaky=true, its reader stopped: drops in top ---
L="zbt-pool-$$-leaky"
bg RL gst-launch-1.0 zbsrc buffer-name="$L" payload-size=1048576 ! \
  fakesink sync=false
wait_for test -e "/dev/shm/$L" || fail "reader of $L did not start"
bg WL gst-launch-1.0 videotestsrc is-live=true ! "$CAPS" ! \
  zbsink buffer-name="$L" leaky=true zero-copy=false
wait_for test -e "/dev/shm/zbstats-$L-$WL" ||
  fail "zbsink published no statistics: $(ls /dev/shm)"
kill -STOP "$RL"
sleep 1
"$Z" top -f "$L" --json -n 2 -d 0.5 > "$TMP/top.jsonl" || fail "top"
python3 - "$TMP/top.jsonl" "$L" "$WL" <<'EOF' || fail "zbsink drops not rising in top: $(cat "$TMP/top.jsonl")"
import json, sys
path, name, wl = sys.argv[1:]
d = [b for line in open(path) for b in json.loads(line)["buffers"] if b["name"] == name]
assert len(d) == 2 and all(b["writer_pid"] == int(wl) for b in d), d
assert all(b["drops_source"] == "published" for b in d), d
assert 0 < d[0]["drops"] < d[1]["drops"], [b["drops"] for b in d]
print("# zbsink leaky=true, reader stopped: drops %d -> %d in 0.5 s" % (d[0]["drops"], d[1]["drops"]))
EOF
"$Z" top -f "$L" --once -d 0.2 > "$TMP/top.txt"
awk -v n="$L" '$1 == n && $10 ~ /^[1-9][0-9]*$/ {ok = 1} END {exit !ok}' "$TMP/top.txt" ||
  fail "text: no DROPS number for $L: $(cat "$TMP/top.txt")"
kill9 "$WL"
kill -CONT "$RL"
kill9 "$RL"
note "zbsink leaky=true: drops shown by top"

# --- 2. a live pair, streaming all along: never swept ---
Y="zbt-pool-$$-live"
reader "$Y" RY
wait_for test -e "/dev/shm/$Y" || fail "reader of $Y did not start"
writer "$Y" WY
wait_for has_segments "$Y" "$WY" || fail "no pool segments of the live writer $WY: $(ls /dev/shm)"
live_before=$(segments "$Y" "$WY")

# dead_pair NAME: a pair whose reader, then writer, was killed with -9,
# leaving pool segments nobody of that buffer will sweep; sets DW
dead_pair () {
  reader "$1" R
  wait_for test -e "/dev/shm/$1" || fail "reader of $1 did not start"
  writer "$1" DW
  wait_for has_segments "$1" "$DW" || fail "no pool segments of writer $DW"
  kill9 "$R"
  kill9 "$DW"
  has_segments "$1" "$DW" || fail "the killed writer $DW left no pool segment: nothing to show"
  note "killed pair of $1: $(segments "$1" "$DW") pool segments of writer $DW left"
}
# still_live: the live writer's segments are all there, its frames flow
still_live () {
  local a b
  kill -0 "$WY" || fail "live writer $WY died"
  [ "$(segments "$Y" "$WY")" -ge "$live_before" ] ||
    fail "$1 removed the live writer's pool segments: $(ls /dev/shm)"
  a=$(written "$Y")
  sleep 0.3
  b=$(written "$Y")
  [ "$b" -gt "$a" ] || fail "$1: the live pair stopped ($a, then $b frames)"
}

# 2a. zerobuffer clean --stale
X="zbt-pool-$$-a"
dead_pair "$X"
"$Z" clean --stale > "$TMP/clean.txt" 2>&1 || fail "clean --stale: $(cat "$TMP/clean.txt")"
no_segments "$X" "$DW" || fail "clean --stale left pool segments of dead writer $DW: $(ls /dev/shm)"
grep -qE "^removed [0-9]+ objects? of dead writers$" "$TMP/clean.txt" ||
  fail "clean --stale did not say so: $(cat "$TMP/clean.txt")"
still_live "clean --stale"
note "zerobuffer clean --stale removed them; live writer kept ($live_before segments)"

# 2b. a zbsink of another buffer, starting (no reader: it drops)
X="zbt-pool-$$-b"
dead_pair "$X"
gst-launch-1.0 -q videotestsrc num-buffers=1 ! "$CAPS" ! \
  zbsink buffer-name="zbt-pool-$$-other" on-reader-lost=drop > "$TMP/o.log" 2>&1 ||
  fail "other zbsink: $(cat "$TMP/o.log")"
no_segments "$X" "$DW" || fail "a zbsink starting left pool segments of dead writer $DW: $(ls /dev/shm)"
still_live "a zbsink starting"
note "a zbsink of another buffer removed them; live writer kept"

# 2c. a zbsrc of another buffer, starting
X="zbt-pool-$$-c"
dead_pair "$X"
bg RO gst-launch-1.0 zbsrc buffer-name="zbt-pool-$$-other2" ! fakesink
wait_for no_segments "$X" "$DW" ||
  fail "a zbsrc starting left pool segments of dead writer $DW: $(ls /dev/shm)"
kill9 "$RO"
still_live "a zbsrc starting"
note "a zbsrc of another buffer removed them; live writer kept"

kill -INT "$WY"
wait_for sh -c "! kill -0 $WY 2>/dev/null" || fail "live writer did not stop"
kill9 "$RY"
exit 0
