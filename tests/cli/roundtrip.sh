#!/bin/bash
# reader <-> writer round trips: every pattern verified, metadata, the
# reference tools' default sizes, compatibility flags, a verification
# failure, and no frame lost when the writer leaves before the reader has
# read everything.
. "$(dirname "$0")/common.sh"

# round trip with each pattern; the reader verifies every byte
for pattern in sequential zero ones random; do
  newname B
  bg RP "$Z" reader "$B" -n 300 --verify "$pattern" --payload-size 256K \
      --json-output > "$TMP/r.json"
  "$Z" writer "$B" -n 300 -s 3000 --pattern "$pattern" --connect-timeout-ms 5000 \
      --json-output > "$TMP/w.json"
  expect_rc 0 $? "writer --pattern $pattern"
  wait_pid "$RP" 10
  expect_rc 0 "$RC" "reader --verify $pattern"
  jcheck "$TMP/w.json" 'd["operation"] == "write" and d["frames_written"] == 300 and d["frame_size"] == 3000 and d["errors"] == []' "writer JSON ($pattern)"
  jcheck "$TMP/r.json" 'd["operation"] == "read" and d["frames_read"] == 300 and d["frame_size"] == 3000 and d["verification_errors"] == 0 and d["bytes_read"] == 900000 and d["errors"] == [] and d["buffer_name"] == "'"$B"'"' "reader JSON ($pattern)"
  no_objects "$B"
  note "pattern $pattern: 300 frames verified"
done

# sequential means byte i of frame k is (k + i) % 256: check it from outside
# with the reader's checksums (h = h * 31 + byte, 64-bit, hex)
newname B
bg RP "$Z" reader "$B" -n 5 --checksum --payload-size 64K --json-output > "$TMP/r.json"
"$Z" writer "$B" -n 5 -s 300 --connect-timeout-ms 5000 > /dev/null || fail "writer"
wait_pid "$RP" 10
expect_rc 0 "$RC" "reader --checksum"
jcheck "$TMP/r.json" '[c["checksum"] for c in d["checksums"]] == [format(__import__("functools").reduce(lambda h, b: (h * 31 + b) % 2**64, [(k + i) % 256 for i in range(300)], 0), "x") for k in range(5)]' "sequential pattern definition"

# defaults of the reference tools: 4096-byte metadata block and a 256 MiB
# ring; reader -n 0 reads until the writer leaves; writer -n 1000 -s 1024;
# metadata from a file arrives in full
newname B
printf '{"type":"test","caps":"video/x-raw, width=(int)640"}' > "$TMP/meta.json"
bg RP "$Z" reader "$B" --verify sequential --json-output > "$TMP/r.json"
wait_for_buffer "$B"
"$Z" inspect "$B" --json > "$TMP/i.json" || fail "inspect of a default reader"
jcheck "$TMP/i.json" 'd["metadata_size"] == 4096 and d["payload_size"] == 256 * 1024 * 1024' "default sizes"
"$Z" writer "$B" --metadata-file "$TMP/meta.json" --json-output > "$TMP/w.json"
expect_rc 0 $? "writer with defaults"
wait_pid "$RP" 10
expect_rc 0 "$RC" "reader with defaults"
jcheck "$TMP/w.json" 'd["frames_written"] == 1000 and d["frame_size"] == 1024 and d["metadata_size"] == 52' "writer defaults"
jcheck "$TMP/r.json" 'd["frames_read"] == 1000 and d["metadata_size"] == 52 and d["end_reason"] == "writer-closed" and d["verification_errors"] == 0' "reader until the writer leaves"
no_objects "$B"
note "defaults: 1000 x 1024 bytes through a 256 MiB ring, metadata relayed"

# the reference specification's script flags: --create --frames --validate
# --check-pattern (sequential)
newname B
bg RP "$Z" reader "$B" --create --frames 100 --validate --check-pattern --buffer-size 1M --metadata-size 1K --json-output > "$TMP/r.json"
"$Z" writer "$B" --frames 100 --size 512 -m hello --batch-size 10 --delay-ms 1 --connect-timeout-ms 5000 --json-output > "$TMP/w.json"
expect_rc 0 $? "writer --batch-size --delay-ms"
wait_pid "$RP" 10
expect_rc 0 "$RC" "reader --create --validate --check-pattern"
jcheck "$TMP/r.json" 'd["frames_read"] == 100 and d["verify"] == "sequential" and d["metadata_size"] == 5' "compat flags"

# wrong pattern: every frame fails verification, exit status 4
newname B
bg RP "$Z" reader "$B" -n 20 --verify ones --payload-size 64K --json-output > "$TMP/r.json" 2> "$TMP/r.err"
"$Z" writer "$B" -n 20 -s 100 --pattern zero --connect-timeout-ms 5000 > /dev/null || fail "writer zero"
wait_pid "$RP" 10
expect_rc 4 "$RC" "reader verifying the wrong pattern"
jcheck "$TMP/r.json" 'd["verification_errors"] == 20 and d["frames_read"] == 20' "verification errors counted"
one_line "$TMP/r.err" "verification failure message"

# frame size check with -s: 10 frames of the wrong size
newname B
bg RP "$Z" reader "$B" -n 10 -s 100 --payload-size 64K --json-output > "$TMP/r.json" 2>/dev/null
"$Z" writer "$B" -n 10 -s 101 --connect-timeout-ms 5000 > /dev/null || fail "writer"
wait_pid "$RP" 10
expect_rc 4 "$RC" "reader expecting another frame size"
jcheck "$TMP/r.json" 'd["size_errors"] == 10 and len(d["errors"]) == 10' "size errors"

# fewer frames than asked for: exit status 2 once the writer has left
newname B
bg RP "$Z" reader "$B" -n 50 --payload-size 64K --json-output > "$TMP/r.json" 2> "$TMP/r.err"
"$Z" writer "$B" -n 30 -s 100 --connect-timeout-ms 5000 > /dev/null || fail "writer"
wait_pid "$RP" 10
expect_rc 2 "$RC" "reader short of frames"
jcheck "$TMP/r.json" 'd["frames_read"] == 30 and d["end_reason"] == "writer-closed"' "short count"
one_line "$TMP/r.err" "short count message"

# no writer at all: the reader gives up after --wait-writer-ms, exit 2,
# and removes its buffer
newname B
"$Z" reader "$B" --wait-writer-ms 300 --payload-size 64K > "$TMP/r.out" 2> "$TMP/r.err"
expect_rc 2 $? "reader without a writer"
one_line "$TMP/r.err" "no-writer message"
no_objects "$B"

# frames still in the ring when the writer leaves are all read: the reader
# is stopped while the writer writes 2000 frames and disconnects
newname B
bg RP "$Z" reader "$B" --verify sequential --payload-size 8M --json-output > "$TMP/r.json"
wait_for_buffer "$B"
kill -STOP "$RP"
"$Z" writer "$B" -n 2000 -s 2000 --json-output > "$TMP/w.json"
expect_rc 0 $? "writer into a stopped reader"
kill -CONT "$RP"
wait_pid "$RP" 10
expect_rc 0 "$RC" "reader draining after the writer left"
jcheck "$TMP/r.json" 'd["frames_read"] == 2000 and d["verification_errors"] == 0 and d["end_reason"] == "writer-closed"' "no frame lost after the writer left"
no_objects "$B"
note "2000 frames written while the reader was stopped: all 2000 read"

# writer killed: the reader reads what was written, then reports the death
newname B
bg RP "$Z" reader "$B" --verify sequential --payload-size 1M --json-output > "$TMP/r.json"
bg WP "$Z" writer "$B" -n 100000 -s 100 --delay-ms 1 --connect-timeout-ms 5000
sleep 0.5
kill -9 "$WP"
{ wait "$WP"; } 2>/dev/null
wait_pid "$RP" 10
expect_rc 0 "$RC" "reader after the writer was killed"
jcheck "$TMP/r.json" 'd["frames_read"] > 10 and d["verification_errors"] == 0 and d["end_reason"] == "writer-died"' "writer death reported"
no_objects "$B"

# --mode sets the permissions of every object (default 0600)
newname B
bg RP "$Z" reader "$B" --payload-size 64K --mode 640 > /dev/null
wait_for_buffer "$B"
for f in "/dev/shm/$B" "/dev/shm/sem.sem-w-$B" "/dev/shm/sem.sem-r-$B"; do
  [ "$(stat -c %a "$f")" = 640 ] || fail "$f has mode $(stat -c %a "$f"), expected 640"
done
kill -TERM "$RP"
wait_pid "$RP" 5
newname B
bg RP "$Z" reader "$B" --payload-size 64K > /dev/null
wait_for_buffer "$B"
[ "$(stat -c %a "/dev/shm/$B")" = 600 ] || fail "default mode $(stat -c %a "/dev/shm/$B")"
kill -TERM "$RP"
wait_pid "$RP" 5
no_objects "$B"

# SIGTERM ends an idle reader cleanly: summary printed, objects removed
newname B
bg RP "$Z" reader "$B" --payload-size 64K --json-output > "$TMP/r.json"
wait_for_buffer "$B"
kill -TERM "$RP"
wait_pid "$RP" 5
jcheck "$TMP/r.json" 'd["end_reason"] == "interrupted"' "reader interrupted"
no_objects "$B"

echo "PASS"
