#!/bin/bash
# writer -> relay -> reader with each transform, checked end to end: the
# final reader's checksums must equal those of the transformed pattern.
. "$(dirname "$0")/common.sh"

FRAMES=60
SIZE=1000

# expected checksum list (reference hash h = h * 31 + byte) of the
# sequential pattern after TRANSFORM with KEY
expected () {
  python3 - "$1" "$2" "$FRAMES" "$SIZE" <<'PY'
import sys
t, key, n, size = sys.argv[1], int(sys.argv[2], 0), int(sys.argv[3]), int(sys.argv[4])
out = []
for k in range(n):
    frame = [(k + i) % 256 for i in range(size)]
    if t == "reverse":
        frame.reverse()
    elif t == "xor":
        frame = [b ^ key for b in frame]
    h = 0
    for b in frame:
        h = (h * 31 + b) % 2**64
    out.append(format(h, "x"))
print(" ".join(out))
PY
}

run_chain () {
  local transform=$1 key=$2 extra=$3
  newname IN
  newname OUT
  bg RP "$Z" reader "$OUT" -n "$FRAMES" --checksum --payload-size 256K \
      --json-output > "$TMP/r.json"
  wait_for_buffer "$OUT"
  bg LP "$Z" relay "$IN" "$OUT" --transform "$transform" $extra \
      --buffer-size 128K --metadata-size 1K --json-output > "$TMP/relay.json"
  wait_for_buffer "$IN"
  "$Z" writer "$IN" --connect-timeout-ms 5000 -n "$FRAMES" -s "$SIZE" -m '{"caps":"test/x"}' \
      --json-output > "$TMP/w.json"
  expect_rc 0 $? "writer into relay ($transform)"
  wait_pid "$LP" 10
  expect_rc 0 "$RC" "relay --transform $transform"
  wait_pid "$RP" 10
  expect_rc 0 "$RC" "final reader ($transform)"
  jcheck "$TMP/relay.json" 'd["operation"] == "relay" and d["frames_relayed"] == '"$FRAMES"' and d["bytes_relayed"] == '"$((FRAMES * SIZE))"' and d["transform"] == "'"$transform"'" and d["metadata_relayed"] and d["errors"] == [] and d["input_buffer"] == "'"$IN"'" and d["output_buffer"] == "'"$OUT"'" and d["end_reason"] in ("writer-closed", "frame-count")' "relay JSON ($transform)"
  jcheck "$TMP/r.json" 'd["frames_read"] == '"$FRAMES"' and d["metadata_size"] == 17' "final reader ($transform)"
  want=$(expected "$transform" "$key")
  got=$(jget "$TMP/r.json" '" ".join(c["checksum"] for c in d["checksums"])')
  [ "$want" = "$got" ] || fail "transform $transform: frames differ from the expected ones"
  no_objects "$IN"
  no_objects "$OUT"
  note "relay --transform $transform $extra: $FRAMES frames verified end to end"
}

run_chain none 0 ""
run_chain reverse 0 ""
run_chain xor 255 ""
run_chain xor 0x5a "--xor-key 0x5a"
run_chain xor 7 "--xor-key 7 -n $FRAMES --log-interval 10"

# xor with the default key turns zeros into ones: the final reader verifies
newname IN
newname OUT
bg RP "$Z" reader "$OUT" --verify ones --payload-size 64K --json-output > "$TMP/r.json"
wait_for_buffer "$OUT"
bg LP "$Z" relay "$IN" "$OUT" --transform xor --buffer-size 64K
wait_for_buffer "$IN"
"$Z" writer "$IN" -n 500 -s 700 --pattern zero > /dev/null || fail "writer"
wait_pid "$LP" 10
expect_rc 0 "$RC" "relay xor"
wait_pid "$RP" 10
expect_rc 0 "$RC" "reader --verify ones behind xor"
jcheck "$TMP/r.json" 'd["frames_read"] == 500 and d["verification_errors"] == 0 and d["end_reason"] == "writer-closed"' "zero ^ 0xff == ones"

# no output buffer: exit status 2 after --connect-timeout-ms, IN removed
newname IN
newname OUT
"$Z" relay "$IN" "$OUT" --connect-timeout-ms 200 --buffer-size 64K 2> "$TMP/e" > /dev/null
expect_rc 2 $? "relay without an output buffer"
one_line "$TMP/e" "relay output error"
no_objects "$IN"

# the final reader dies: the relay reports a relay error (3)
newname IN
newname OUT
bg RP "$Z" reader "$OUT" --payload-size 64K
wait_for_buffer "$OUT"
bg LP "$Z" relay "$IN" "$OUT" --buffer-size 64K --json-output > "$TMP/relay.json" 2> "$TMP/e"
wait_for_buffer "$IN"
kill -9 "$RP"
{ wait "$RP"; } 2>/dev/null
"$Z" writer "$IN" -n 50 -s 100 > /dev/null 2>&1
wait_pid "$LP" 15
expect_rc 3 "$RC" "relay after its output reader died"
jcheck "$TMP/relay.json" 'len(d["errors"]) == 1' "relay error listed"
no_objects "$IN"

echo "PASS"
