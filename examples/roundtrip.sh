#!/bin/sh
# Round trip between two processes: zb-demo-reader creates a buffer,
# zb-demo-writer (started at the same time; it waits for the buffer)
# writes frames into it, the reader checks every byte. Passes when both exit 0.
#
#   roundtrip.sh READER WRITER PAYLOAD_SIZE [WRITER-ARGS...]
set -u

reader=$1
writer=$2
payload=$3
shift 3
name="zbt-$$-examples"
rpid=
wpid=
log=

cleanup() {
  [ -n "$rpid" ] && kill "$rpid" 2> /dev/null
  [ -n "$wpid" ] && kill "$wpid" 2> /dev/null
  wait
  rm -f "$log"
  # Objects are left behind only when the reader was killed (or leaked them,
  # which is checked below before this runs).
  rm -f "/dev/shm/$name" "/dev/shm/sem.sem-w-$name" "/dev/shm/sem.sem-r-$name" \
    "/tmp/zerobuffer/$name.lock"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

log=$(mktemp)
# Both start at once: the writer waits for the buffer to appear (connect
# timeout), including one the reader is still creating.
"$reader" -p "$payload" -t 20000 "$name" > "$log" &
rpid=$!
"$writer" -t 10000 "$@" "$name" &
wpid=$!

wait "$wpid"
wrc=$?
wpid=
# A writer that failed will send nothing more: do not wait for the reader's
# idle timeout.
[ "$wrc" -ne 0 ] && kill "$rpid" 2> /dev/null
wait "$rpid"
rrc=$?
rpid=
cat "$log"
echo "writer exit $wrc, reader exit $rrc"
# The reader exited by itself, so it must have removed every object.
left=$(ls -d "/dev/shm/$name" "/dev/shm/sem.sem-w-$name" \
  "/dev/shm/sem.sem-r-$name" "/tmp/zerobuffer/$name.lock" 2> /dev/null)
if [ -n "$left" ]; then
  echo "leaked: $left"
  exit 1
fi
[ "$wrc" -eq 0 ] && [ "$rrc" -eq 0 ]
