#!/bin/bash
# docs/cli.md, docs/security.md: as root, `zerobuffer writer` refuses a
# buffer created by another user (here nobody, via setpriv, mode 0666) with
# exit status 1 and "owned by another user"; with --allow-uid nobody it
# writes, and the relay's --allow-uid lets it reach such an OUT buffer.
# Skips (exit 77) without root, setpriv or user nobody, or when nobody
# cannot run the tool from this tree.
. "$(dirname "$0")/common.sh"

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
command -v setpriv > /dev/null || { echo "SKIP: no setpriv"; exit 77; }
id nobody > /dev/null 2>&1 || { echo "SKIP: no user nobody"; exit 77; }
as_nobody () {
  setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"
}
as_nobody "$Z" --help > /dev/null 2>&1 ||
  { echo "SKIP: nobody cannot run $Z"; exit 77; }

# A reader of nobody, mode 0666.
nobody_reader () {
  bg RPID as_nobody sh -c 'umask 0; exec "$0" reader "$1" -n 1 --mode 666 \
      --payload-size 64K --wait-writer-ms 5000 --json-output' "$Z" "$1"
  wait_for_buffer "$1"
  [ "$(stat -c %U "/dev/shm/$1")" = nobody ] || fail "segment not nobody's"
}

newname B
nobody_reader "$B" > "$TMP/r1.json"
"$Z" writer "$B" -n 1 -s 100 > "$TMP/w1" 2> "$TMP/e1"
expect_rc 1 $? "writer to a buffer of nobody"
grep -q "owned by another user" "$TMP/e1" || fail "no reason: $(cat "$TMP/e1")"
"$Z" writer "$B" -n 1 -s 100 --allow-uid nobody > "$TMP/w2" 2>&1
expect_rc 0 $? "writer --allow-uid nobody: $(cat "$TMP/w2")"
wait_pid "$RPID" 5
expect_rc 0 "$RC" "reader of nobody"
jcheck "$TMP/r1.json" 'd["frames_read"] == 1' "nobody's reader got the frame"

# The uid as a number works as well; another uid is still refused.
newname C
nobody_reader "$C" > /dev/null
"$Z" writer "$C" -n 1 -s 100 --allow-uid 12345 > /dev/null 2>&1
expect_rc 1 $? "writer --allow-uid 12345"
"$Z" writer "$C" -n 1 -s 100 --allow-uid "$(id -u nobody)" > /dev/null 2>&1
expect_rc 0 $? "writer --allow-uid <nobody's uid>"
wait_pid "$RPID" 5

# relay: OUT is nobody's buffer.
newname IN
newname OUT
nobody_reader "$OUT" > /dev/null
bg LPID "$Z" relay "$IN" "$OUT" -n 1 --allow-uid nobody --wait-writer-ms 5000
wait_for_buffer "$IN"
"$Z" writer "$IN" -n 1 -s 100 > /dev/null 2>&1
expect_rc 0 $? "writer into the relay"
wait_pid "$LPID" 5
expect_rc 0 "$RC" "relay to nobody's OUT with --allow-uid"
wait_pid "$RPID" 5
expect_rc 0 "$RC" "nobody's reader behind the relay"
echo "PASS"
