#!/bin/bash
# writer --fanout and relay --fanout: one writer, readers NAME and NAME@ID
# (plain `zerobuffer reader NAME@ID`), each checked frame by frame; a late
# reader is found; a SIGSTOPped reader misses frames without stopping the
# writer or the others; bad arguments.
. "$(dirname "$0")/common.sh"

FRAMES=300
SIZE=1000
META='{"caps":"test/fanout"}'

# 1. writer --fanout to NAME, NAME@rec and NAME@live: every reader gets
# every frame, verified, and the metadata.
newname N
NAMES="$NAMES $N@rec $N@live"
for id in "" @rec @live; do
  bg P "$Z" reader "$N$id" -n "$FRAMES" --verify sequential \
      --payload-size 1M --json-output > "$TMP/r$id.json"
done
"$Z" writer "$N" --fanout --min-readers 3 --connect-timeout-ms 5000 \
    -n "$FRAMES" -s "$SIZE" -m "$META" --json-output > "$TMP/w.json"
expect_rc 0 $? "writer --fanout"
jcheck "$TMP/w.json" 'd["fanout"] and d["frames_written"] == '"$FRAMES"' and d["deliveries"] == 3 * '"$FRAMES"' and d["errors"] == []' "writer --fanout JSON"
jcheck "$TMP/w.json" 'sorted(r["name"] for r in d["readers"]) == sorted(["'"$N"'", "'"$N@rec"'", "'"$N@live"'"])' "the three readers"
jcheck "$TMP/w.json" 'all(r["frames"] == '"$FRAMES"' and r["drops"] == 0 and r["pid"] > 0 for r in d["readers"])' "per-reader counters"
wait
for id in "" @rec @live; do
  jcheck "$TMP/r$id.json" 'd["frames_read"] == '"$FRAMES"' and d["verification_errors"] == 0 and d["sequence_errors"] == 0 and d["metadata_size"] == '"${#META}"' and d["errors"] == []' "reader $N$id"
  no_objects "$N$id"
done
note "writer --fanout: 3 readers x $FRAMES frames verified"

# 2. writer -> relay IN OUT --fanout -> readers OUT@a, OUT@b
newname IN
newname OUT
NAMES="$NAMES $OUT@a $OUT@b"
bg RA "$Z" reader "$OUT@a" -n "$FRAMES" --verify sequential --checksum \
    --payload-size 1M --json-output > "$TMP/ra.json"
bg RB "$Z" reader "$OUT@b" -n "$FRAMES" --verify sequential --checksum \
    --payload-size 1M --json-output > "$TMP/rb.json"
bg LP "$Z" relay "$IN" "$OUT" --fanout --min-readers 2 --policy block \
    --buffer-size 1M --json-output > "$TMP/relay.json"
wait_for_buffer "$IN"
"$Z" writer "$IN" -n "$FRAMES" -s "$SIZE" -m "$META" --connect-timeout-ms 5000 \
    > /dev/null
expect_rc 0 $? "writer into relay --fanout"
wait_pid "$LP" 10
expect_rc 0 "$RC" "relay --fanout"
wait_pid "$RA" 10
expect_rc 0 "$RC" "reader OUT@a"
wait_pid "$RB" 10
expect_rc 0 "$RC" "reader OUT@b"
jcheck "$TMP/relay.json" 'd["fanout"] and d["frames_relayed"] == '"$FRAMES"' and d["deliveries"] == 2 * '"$FRAMES"' and d["metadata_relayed"]' "relay --fanout JSON"
for r in ra rb; do
  jcheck "$TMP/$r.json" 'd["frames_read"] == '"$FRAMES"' and d["verification_errors"] == 0 and d["metadata_size"] == '"${#META}" "relay reader $r"
done
[ "$(jget "$TMP/ra.json" 'd["checksums"]')" = "$(jget "$TMP/rb.json" 'd["checksums"]')" ] ||
  fail "the two readers of the relay got different frames"
no_objects "$IN"
no_objects "$OUT@a"
no_objects "$OUT@b"
note "relay --fanout: 2 readers x $FRAMES frames, identical"

# 3. a reader that joins a running fan-out writer gets its frames
newname L
NAMES="$NAMES $L@late"
bg R1 "$Z" reader "$L" --payload-size 1M --json-output > "$TMP/first.json"
wait_for_buffer "$L"
bg WP "$Z" writer "$L" --fanout -n 400 -s "$SIZE" --delay-ms 5 \
    --json-output > "$TMP/lw.json"
sleep 0.5
bg R2 "$Z" reader "$L@late" --payload-size 1M --json-output > "$TMP/late.json"
wait_pid "$WP" 20
expect_rc 0 "$RC" "writer --fanout with a late reader"
wait_pid "$R1" 10
wait_pid "$R2" 10
jcheck "$TMP/first.json" 'd["frames_read"] == 400 and d["end_reason"] == "writer-closed"' "first reader"
jcheck "$TMP/late.json" '0 < d["frames_read"] < 400 and d["end_reason"] == "writer-closed" and d["sequence_errors"] == 0' "late reader"
note "late reader: $(jget "$TMP/late.json" 'd["frames_read"]') of 400 frames"

# 4. a SIGSTOPped reader: the writer and the other reader go on
newname S
NAMES="$NAMES $S@stuck"
bg RS "$Z" reader "$S@stuck" --payload-size 64K --json-output > "$TMP/stuck.json"
bg RO "$Z" reader "$S" -n 2000 --verify sequential --payload-size 4M \
    --json-output > "$TMP/other.json"
wait_for_buffer "$S@stuck"
wait_for_buffer "$S"
kill -STOP "$RS"
timeout 20 "$Z" writer "$S" --fanout --min-readers 2 -n 2000 -s "$SIZE" \
    --json-output > "$TMP/sw.json"
expect_rc 0 $? "writer --fanout with a stopped reader"
kill -CONT "$RS"
wait_pid "$RO" 10
expect_rc 0 "$RC" "the reader that was not stopped"
wait_pid "$RS" 10
jcheck "$TMP/sw.json" '[r["drops"] for r in d["readers"] if r["name"] == "'"$S"'"] == [0]' "no drop for the running reader"
jcheck "$TMP/sw.json" '[r["drops"] > 0 and r["frames"] + r["drops"] == 2000 for r in d["readers"] if r["name"] == "'"$S@stuck"'"] == [True]' "drops of the stopped reader"
jcheck "$TMP/other.json" 'd["frames_read"] == 2000 and d["verification_errors"] == 0' "running reader's frames"
stuck_frames=$(jget "$TMP/sw.json" '[r["frames"] for r in d["readers"] if r["name"] == "'"$S@stuck"'"][0]')
jcheck "$TMP/stuck.json" 'd["frames_read"] == '"$stuck_frames"' and d["end_reason"] == "writer-closed"' "stopped reader read what it was given"
note "stopped reader: $stuck_frames frames, the rest dropped"

# 5. bad arguments, no readers
newname B
"$Z" writer "$B" --policy block 2> "$TMP/e"
expect_rc 3 $? "--policy without --fanout"
one_line "$TMP/e" "--policy without --fanout"
"$Z" writer "$B" --fanout --policy sometimes 2> "$TMP/e"
expect_rc 3 $? "--policy sometimes"
"$Z" writer "$B" --fanout --max-readers 0 2> "$TMP/e"
expect_rc 3 $? "--max-readers 0"
"$Z" writer "$B" --fanout --min-readers 3 --max-readers 2 2> "$TMP/e"
expect_rc 3 $? "--min-readers > --max-readers"
"$Z" writer "$B@x" --fanout 2> "$TMP/e"
expect_rc 3 $? "--fanout NAME@ID"
"$Z" relay "$B-in" "$B@x" --fanout 2> "$TMP/e"
expect_rc 4 $? "relay --fanout OUT@ID"
"$Z" writer "$B" --fanout --connect-timeout-ms 200 2> "$TMP/e"
expect_rc 1 $? "--fanout without any reader"
one_line "$TMP/e" "--fanout without any reader"
"$Z" writer "$B" --fanout --min-readers 0 -n 5 --json-output > "$TMP/none.json"
expect_rc 0 $? "--min-readers 0 without any reader"
jcheck "$TMP/none.json" 'd["frames_written"] == 5 and d["deliveries"] == 0 and d["readers"] == []' "frames to nobody"
no_objects "$B"
note "bad arguments refused"
