#!/bin/bash
# inspect, list and clean read segments written by the reference C++
# implementation: the golden snapshots of ../shared/conformance/upstream-cpp
# (reader pid and writer pid zeroed, so each is a stale buffer).
ZB_ISOLATE=1
. "$(dirname "$0")/common.sh"

GOLDEN=${ZB_GOLDEN_DIR:-$(dirname "$0")/../lib/golden}
if [ ! -r "$GOLDEN/00-created.bin" ]; then
  echo "golden snapshots not found in $GOLDEN: skipped"
  exit 77
fi
META='{"caps":"video/x-raw, format=(string)GRAY8, width=(int)10, height=(int)10"}'

# file  metadata_free metadata_written payload_free write_pos read_pos written read
while read -r snap mfree mwritten pfree wpos rpos wcount rcount; do
  newname B
  python3 - "$GOLDEN/$snap.bin" "/dev/shm/$B" <<'PY' || fail "copy $snap"
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[0x50:0x60] = bytes(16)
open(sys.argv[2], "wb").write(b)
PY
  "$Z" inspect "$B" --json > "$TMP/i.json"
  expect_rc 0 $? "inspect $snap"
  jcheck "$TMP/i.json" 'd["oieb_size"] == 128 and d["version"] == "1.0.0" and d["metadata_size"] == 128 and d["payload_size"] == 1024 and (d["metadata_free_bytes"], d["metadata_written_bytes"], d["payload_free_bytes"], d["payload_write_pos"], d["payload_read_pos"], d["payload_written_count"], d["payload_read_count"]) == ('"$mfree, $mwritten, $pfree, $wpos, $rpos, $wcount, $rcount"')' "OIEB of $snap"
  jcheck "$TMP/i.json" 'd["state"] == "stale" and d["reader_pid"] == 0 and d["writer_pid"] == 0 and abs(d["utilisation_percent"] - (1024 - '"$pfree"') * 100 / 1024) < 0.01' "state of $snap"
  if [ "$mwritten" -gt 0 ]; then
    jcheck "$TMP/i.json" 'd["metadata_length"] == 75 and d["metadata_preview"] == '"'$META'"'' "metadata of $snap"
  else
    jcheck "$TMP/i.json" 'd["metadata_length"] == 0' "no metadata in $snap"
  fi
  "$Z" list --json > "$TMP/l.json" || fail "list with $snap"
  jcheck "$TMP/l.json" '[b["state"] for b in d["buffers"] if b["name"] == "'"$B"'"] == ["stale"]' "list of $snap"
  "$Z" clean "$B" > /dev/null || fail "clean of $snap"
  no_objects "$B"
  note "$snap: inspect, list and clean agree with the reference OIEB"
done <<'TABLE'
00-created 128 0 1024 0 0 0 0
01-metadata 45 83 1024 0 0 0 0
02-three-frames-written 45 83 376 648 0 3 0
03-two-frames-read-and-released 45 83 708 648 332 3 2
04-third-frame-read-and-released 45 83 1024 648 648 3 3
05-wrap-marker-and-frame-4 45 83 232 416 648 5 3
06-drained 45 83 1024 416 416 5 5
TABLE

echo "PASS"
