#!/bin/bash
# inspect on live and stale buffers: every OIEB field, utilisation and
# health, pids and liveness, metadata preview, --watch.
ZB_ISOLATE=1
. "$(dirname "$0")/common.sh"

CAPS='{"type":"gstreamer-filter","version":"GStreamer 1.22.0","caps":"video/x-raw, format=(string)I420, width=(int)640, height=(int)480, framerate=(fraction)30/1","element_name":"zbsink0"}'

# A reader stopped with SIGSTOP holds frames in a 64 KiB ring: the fill level
# is exact. Each 1000-byte frame takes 1016 bytes of the 65536-byte ring.
check_health () {
  local frames=$1 want=$2
  newname B
  bg RP "$Z" reader "$B" --payload-size 64K --metadata-size 1K > /dev/null
  wait_for_buffer "$B"
  kill -STOP "$RP"
  "$Z" writer "$B" -n "$frames" -s 1000 -m "$CAPS" > /dev/null || fail "writer $frames frames"
  "$Z" inspect "$B" --json > "$TMP/i.json"
  expect_rc 0 $? "inspect --json"
  jcheck "$TMP/i.json" 'd["health"] == "'"$want"'" and abs(d["utilisation_percent"] - '"$frames"' * 1016 * 100 / 65536) < 0.01 and d["payload_used_bytes"] == '"$frames"' * 1016' "health at $frames frames"
  jcheck "$TMP/i.json" 'd["payload_written_count"] == '"$frames"' and d["payload_read_count"] == 0 and d["payload_write_pos"] == '"$frames"' * 1016 and d["payload_read_pos"] == 0 and d["payload_free_bytes"] == 65536 - '"$frames"' * 1016' "ring counters at $frames frames"
  kill -CONT "$RP"
  wait_pid "$RP" 10
  expect_rc 0 "$RC" "reader after the health check"
  note "$frames frames in 64 KiB: $want"
}
check_health 10 healthy
check_health 55 degraded
check_health 62 critical

# live buffer with a writer attached: every field, pids alive, the caps
# JSON readable in the preview
newname B
bg RP "$Z" reader "$B" --payload-size 1M --metadata-size 4K
wait_for_buffer "$B"
bg WP "$Z" writer "$B" -n 100000 -s 100 --delay-ms 5 -m "$CAPS"
for i in $(seq 1 100); do
  "$Z" inspect "$B" --json > "$TMP/i.json" && [ "$(jget "$TMP/i.json" 'd["payload_read_count"] > 0')" = True ] && break
  sleep 0.05
done
jcheck "$TMP/i.json" 'sorted(d) == sorted(["name", "timestamp", "state", "health", "utilisation_percent", "oieb_size", "version", "metadata_size", "metadata_free_bytes", "metadata_written_bytes", "payload_size", "payload_free_bytes", "payload_used_bytes", "payload_write_pos", "payload_read_pos", "payload_written_count", "payload_read_count", "writer_pid", "writer_alive", "reader_pid", "reader_alive", "reserved", "lock_file", "lock_held", "metadata_length", "metadata_preview", "metadata_truncated"])' "inspect JSON keys"
jcheck "$TMP/i.json" 'd["name"] == "'"$B"'" and d["state"] == "active" and d["oieb_size"] == 128 and d["version"] == "1.0.0" and d["metadata_size"] == 4096 and d["payload_size"] == 1048576' "inspect layout"
jcheck "$TMP/i.json" 'd["reader_pid"] == '"$RP"' and d["reader_alive"] and d["writer_pid"] == '"$WP"' and d["writer_alive"] and d["lock_file"] and d["lock_held"]' "inspect pids"
jcheck "$TMP/i.json" 'd["metadata_length"] == '"${#CAPS}"' and d["metadata_written_bytes"] == 8 + '"${#CAPS}"' and d["metadata_free_bytes"] == 4096 - 8 - '"${#CAPS}"' and json.loads(d["metadata_preview"])["caps"].startswith("video/x-raw") and not d["metadata_truncated"]' "metadata preview"
jcheck "$TMP/i.json" 'd["reserved"] == [0, 0, 0, 0] and d["health"] == "healthy"' "reserved fields"

# human-readable form shows the same fields
"$Z" inspect "$B" > "$TMP/i.txt" || fail "inspect (text)"
for key in "buffer:" "state:                  active" "oieb_size:              128" \
    "payload_size:           1048576" "reader_pid:             $RP (alive)" \
    "writer_pid:             $WP (alive)" "metadata:               ${#CAPS} bytes" \
    "lock:                   held" 'width=(int)640'; do
  grep -qF -- "$key" "$TMP/i.txt" || fail "inspect text lacks '$key'"
done

# --watch: one JSON document per line and sample, counters moving
"$Z" inspect "$B" --json --watch 0.2 --count 3 > "$TMP/watch.json"
expect_rc 0 $? "inspect --watch --count"
[ "$(wc -l < "$TMP/watch.json")" -eq 3 ] || fail "--watch --count 3 printed $(wc -l < "$TMP/watch.json") lines"
python3 -c 'import json, sys
s = [json.loads(l) for l in open(sys.argv[1])]
assert s[2]["payload_written_count"] > s[0]["payload_written_count"], s
assert s[2]["timestamp"] - s[0]["timestamp"] >= 0.35, s' "$TMP/watch.json" || fail "--watch samples do not advance"
# --watch until interrupted, text form
bg IP "$Z" inspect "$B" --watch 0.1 > /dev/null
sleep 0.5
kill -INT "$IP"
wait_pid "$IP" 5
expect_rc 0 "$RC" "inspect --watch interrupted"

# the reader is killed: the buffer is stale, the writer still runs a moment
kill -9 "$WP"
{ wait "$WP"; } 2>/dev/null
kill -9 "$RP"
{ wait "$RP"; } 2>/dev/null
"$Z" inspect "$B" --json > "$TMP/i.json"
expect_rc 0 $? "inspect of a stale buffer"
jcheck "$TMP/i.json" 'd["state"] == "stale" and not d["reader_alive"] and d["reader_pid"] == '"$RP"' and not d["writer_alive"] and not d["lock_held"]' "stale buffer"
"$Z" inspect "$B" > "$TMP/i.txt"
grep -qF "reader_pid:             $RP (dead)" "$TMP/i.txt" || fail "text shows no dead reader"
# a watch ends when the buffer goes away
bg IP "$Z" inspect "$B" --watch 0.1 --json > /dev/null 2>&1
sleep 0.3
"$Z" clean "$B" > /dev/null || fail "clean of the stale buffer"
wait_pid "$IP" 5
expect_rc 0 "$RC" "inspect --watch of a removed buffer"
no_objects "$B"

# missing buffer: exit status 1, one line on stderr
newname B
"$Z" inspect "$B" > "$TMP/o" 2> "$TMP/e"
expect_rc 1 $? "inspect of a missing buffer"
one_line "$TMP/e" "inspect error"
[ ! -s "$TMP/o" ] || fail "inspect of a missing buffer printed to stdout"

# not a ZeroBuffer segment
newname B
head -c 4096 /dev/urandom > "/dev/shm/$B"
"$Z" inspect "$B" 2> "$TMP/e" > /dev/null
expect_rc 1 $? "inspect of a foreign file"
one_line "$TMP/e" "inspect of a foreign file"
rm -f "/dev/shm/$B"

echo "PASS"
