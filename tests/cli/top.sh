#!/bin/bash
# zerobuffer top: a live buffer (CLI reader and writer) listed with sane,
# changing rates, ring state and the writer's metadata; a dead writer and
# then a dead reader shown as dead (the buffer stale); sort, filter and
# --active; nothing in /dev/shm or the lock directory changed by watching;
# in a terminal (tmux): keys for sort and filter, q and Ctrl-C leave the
# terminal as it was. Runs in a private /dev/shm and /tmp/zerobuffer when
# possible, so that other tests' buffers do not show up and nobody removes
# the stale buffer it makes.
ZB_ISOLATE=1
. "$(dirname "$0")/common.sh"

# only this test's buffers, in case it does not run isolated
F="zbt-$$-"
META='{"type":"gstreamer-sink","version":"GStreamer 1.22.0","caps":"video/x-raw, format=(string)GRAY8, width=(int)25, height=(int)40, framerate=(fraction)500/1","element_name":"zbsink0"}'

# A: a steady stream of 1000-byte frames, one every 2 ms at most
newname A
bg RA "$Z" reader "$A" --payload-size 1M --wait-writer-ms -1 > /dev/null
wait_for_buffer "$A"
bg WA "$Z" writer "$A" -n 100000000 -s 1000 --delay-ms 2 -m "$META"

# B: a writer that will die, then a reader that will die
newname B
bg RB "$Z" reader "$B" --payload-size 64K --wait-writer-ms -1 > /dev/null
wait_for_buffer "$B"
bg WB "$Z" writer "$B" -n 100000000 -s 100 --delay-ms 10
for i in $(seq 1 100); do
  "$Z" inspect "$A" --json > "$TMP/i.json" &&
    [ "$(jget "$TMP/i.json" 'd["payload_read_count"] > 10')" = True ] &&
    "$Z" inspect "$B" --json > "$TMP/i.json" &&
    [ "$(jget "$TMP/i.json" 'd["payload_read_count"] > 0')" = True ] && break
  sleep 0.05
done

# --- JSON, three refreshes of half a second: one compact line each ---
"$Z" top -f "$F" --json -n 3 -d 0.5 > "$TMP/top.jsonl"
expect_rc 0 $? "top --json -n 3"
[ "$(wc -l < "$TMP/top.jsonl")" -eq 3 ] || fail "top --json -n 3 printed $(wc -l < "$TMP/top.jsonl") lines"
python3 - "$TMP/top.jsonl" "$A" "$RA" "$WA" "$B" "$RB" "$WB" "$META" <<'EOF' || fail "top --json: live buffers"
import json, sys
path, a, ra, wa, b, rb, wb, meta = sys.argv[1:]
docs = [json.loads(line) for line in open(path)]
counts = []
for d in docs:
    assert d["interval_seconds"] == 0.5 and d["count"] == len(d["buffers"]) == 2, d
    e = {x["name"]: x for x in d["buffers"]}
    x = e[a]
    assert x["state"] == "active" and x["lock_held"], x
    assert x["reader_pid"] == int(ra) and x["reader_alive"], x
    assert x["writer_pid"] == int(wa) and x["writer_alive"], x
    # at most one frame per 2 ms; a loaded machine is slower, never idle
    assert 10 < x["frames_per_second"] < 600, x
    # 1000 bytes + the 16-byte frame header each (a wrap marker adds a
    # little once per turn of the 1 MiB ring)
    per_frame = x["mib_per_second"] * 1048576 / x["frames_per_second"]
    assert 1000 < per_frame < 1100, (per_frame, x)
    assert x["payload_size"] == 1048576 and x["health"] == "healthy", x
    assert 0 <= x["utilisation_percent"] < 10 and x["queued_frames"] < 100, x
    assert x["metadata_type"] == "gstreamer-sink", x
    assert x["metadata_caps"].startswith("video/x-raw, format=(string)GRAY8"), x
    assert x["metadata_length"] == len(meta.encode()), x
    y = e[b]
    assert y["reader_pid"] == int(rb) and y["reader_alive"], y
    assert y["writer_pid"] == int(wb) and y["writer_alive"], y
    assert 5 < y["frames_per_second"] < 110, y
    assert y["metadata_type"] is None and y["metadata_caps"] is None, y
    counts.append(x["written_count"])
# the counters move between refreshes
assert counts[0] < counts[1] < counts[2], counts
print("# A: %.0f frames/s, %.3f MiB/s; B: %.0f frames/s" % (
    docs[-1]["buffers"][0]["frames_per_second"],
    docs[-1]["buffers"][0]["mib_per_second"],
    docs[-1]["buffers"][1]["frames_per_second"]))
EOF
note "live buffers listed with moving rates"

# --json alone: one pretty document (once)
"$Z" top -f "$F" --json -d 0.3 > "$TMP/once.json"
expect_rc 0 $? "top --json"
jcheck "$TMP/once.json" 'd["count"] == 2 and d["sort"] == "name"' "top --json once"
[ "$(wc -l < "$TMP/once.json")" -gt 3 ] || fail "top --json without -n is not pretty"

# --- the writer of B dies (its reader stopped, so alive and waiting) ---
kill -STOP "$RB"
kill -9 "$WB"
{ wait "$WB"; } 2>/dev/null
"$Z" top -f "$F" --json -d 0.3 > "$TMP/t.json"
expect_rc 0 $? "top after the writer died"
[ "$(entry "$TMP/t.json" "$B" 'b["writer_pid"] == '"$WB"' and not b["writer_alive"] and b["reader_alive"] and b["state"] == "active"')" = True ] ||
  fail "dead writer not shown as dead: $(cat "$TMP/t.json")"
[ "$(entry "$TMP/t.json" "$B" 'b["frames_per_second"] == 0')" = True ] ||
  fail "no frames/s expected from a dead writer: $(cat "$TMP/t.json")"
"$Z" top -f "$F" --once -d 0.3 > "$TMP/t.txt"
expect_rc 0 $? "top --once"
grep -E "^$B +active +$RB +$WB\(dead\) +0\.0 " "$TMP/t.txt" > /dev/null ||
  fail "text: dead writer of $B not marked: $(cat "$TMP/t.txt")"
note "dead writer shown as dead"

# --- then the reader of B dies: the buffer is stale ---
kill -9 "$RB"
{ wait "$RB"; } 2>/dev/null
"$Z" top -f "$F" --json -d 0.3 > "$TMP/t.json"
[ "$(entry "$TMP/t.json" "$B" 'b["state"] == "stale" and b["reader_pid"] == '"$RB"' and not b["reader_alive"] and not b["writer_alive"] and not b["lock_held"]')" = True ] ||
  fail "dead reader not shown as dead: $(cat "$TMP/t.json")"
"$Z" top -f "$F" --once -d 0.3 > "$TMP/t.txt"
grep -E "^$B +stale +$RB\(dead\) +$WB\(dead\) " "$TMP/t.txt" > /dev/null ||
  fail "text: dead peers of $B not marked: $(cat "$TMP/t.txt")"
note "dead reader shown as dead, buffer stale"

# --- watching changes nothing: the stale buffer's bytes, and the objects of
# this test's buffers in /dev/shm and the lock directory ---
snapshot () {
  { ls -la /dev/shm/*"$F"* /tmp/zerobuffer/"$F"* | awk '{print $1, $5, $NF}'
    md5sum "/dev/shm/$B"; } 2>&1
}
snapshot > "$TMP/before"
"$Z" top -f "$F" --json -n 2 -d 0.3 > /dev/null || fail "top -n 2"
"$Z" top -f "$F" --once -d 0.2 > /dev/null || fail "top --once"
snapshot > "$TMP/after"
diff "$TMP/before" "$TMP/after" > /dev/null ||
  fail "top changed something: $(diff "$TMP/before" "$TMP/after")"
[ -e "/dev/shm/$B" ] && [ -e "/tmp/zerobuffer/$B.lock" ] || fail "top removed the stale buffer"
note "read-only"

# --- sort, filter, --active ---
"$Z" top -f "$F" --json -d 0.3 --sort fps > "$TMP/t.json"
jcheck "$TMP/t.json" '[b["name"] for b in d["buffers"]] == ["'"$A"'", "'"$B"'"]' "--sort fps"
"$Z" top -f "$F" --json -d 0.3 --sort fps --reverse > "$TMP/t.json"
jcheck "$TMP/t.json" '[b["name"] for b in d["buffers"]] == ["'"$B"'", "'"$A"'"]' "--sort fps --reverse"
"$Z" top --json -d 0.3 --filter "$B" > "$TMP/t.json"
jcheck "$TMP/t.json" '[b["name"] for b in d["buffers"]] == ["'"$B"'"]' "--filter"
"$Z" top -f "$F" --json -d 0.3 --active > "$TMP/t.json"
jcheck "$TMP/t.json" '[b["name"] for b in d["buffers"]] == ["'"$A"'"]' "--active"

# --- arguments ---
"$Z" top --sort cpu > /dev/null 2> "$TMP/err"
expect_rc 2 $? "--sort cpu"
one_line "$TMP/err" "--sort cpu"
"$Z" top --once -n 3 > /dev/null 2> "$TMP/err"
expect_rc 2 $? "--once -n 3"
"$Z" top extra > /dev/null 2> "$TMP/err"
expect_rc 2 $? "an argument"
"$Z" top -d 0 > /dev/null 2> "$TMP/err"
expect_rc 2 $? "-d 0"

# --- no terminal: runs until a signal, exits 0 ---
bg TP "$Z" top -d 0.2
sleep 0.7
kill -INT "$TP"
wait_pid "$TP" 5
expect_rc 0 "$RC" "top stopped with SIGINT"

# --- in a terminal ---
use_tmux || exit 0

# the terminal's settings are written after top exits, before EXIT= is
# printed (so the file is complete once EXIT= shows): keys must be read
# one at a time while it runs, and line mode and echo back afterwards
tmux -L "$SOCK" new-session -d -s keys -x 200 -y 30 \
  "stty -a | grep -oE -- '-?icanon|-?echo ' | tr -d ' ' | tr '\n' ' ' > '$TMP/stty.before'; \
   '$Z' top -f '$F' -d 0.3; rc=\$?; \
   stty -a | grep -oE -- '-?icanon|-?echo ' | tr -d ' ' | tr '\n' ' ' > '$TMP/stty.after'; \
   echo \"EXIT=\$rc\"; sleep 30"
screen_has keys "^$A +active +$RA +$WA +[0-9]+\.[0-9] "
screen_has keys "^$B +stale +$RB\(dead\) +$WB\(dead\) "
screen_has keys "sort name"
tmux -L "$SOCK" send-keys -t keys f
screen_has keys "sort fps"
grep -A1 "^NAME" "$TMP/screen" | grep -q "^$A " || fail "f: $A not first: $(cat "$TMP/screen")"
tmux -L "$SOCK" send-keys -t keys r
screen_has keys "sort fps \(reversed\)"
# / starts from the current filter: erase it, type another
tmux -L "$SOCK" send-keys -t keys / BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace "$B" Enter
screen_has keys "filter '$B'"
grep -q "^$A " "$TMP/screen" && fail "filter: $A still shown: $(cat "$TMP/screen")"
tmux -L "$SOCK" send-keys -t keys / BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace Enter
screen_has keys "^$A "
tmux -L "$SOCK" send-keys -t keys a
screen_has keys "active only"
grep -q "^$B " "$TMP/screen" && fail "a: stale $B still shown: $(cat "$TMP/screen")"
tmux -L "$SOCK" send-keys -t keys q
screen_has keys "^EXIT=0"
[ "$(cat "$TMP/stty.after")" = "$(cat "$TMP/stty.before")" ] ||
  fail "terminal not restored: before '$(cat "$TMP/stty.before")' after '$(cat "$TMP/stty.after")'"
grep -q -- "-icanon" "$TMP/stty.after" && fail "terminal left without line mode"
note "terminal: keys f r / a q, terminal restored ($(cat "$TMP/stty.after"))"

tmux -L "$SOCK" new-session -d -s ctrlc -x 200 -y 30 \
  "'$Z' top -f '$F' -d 0.3; rc=\$?; \
   stty -a | grep -oE -- '-?icanon|-?echo ' | tr -d ' ' | tr '\n' ' ' > '$TMP/stty.ctrlc'; \
   echo \"EXIT=\$rc\"; sleep 30"
screen_has ctrlc "^$A "
tmux -L "$SOCK" send-keys -t ctrlc C-c
screen_has ctrlc "^EXIT=0"
[ "$(cat "$TMP/stty.ctrlc")" = "$(cat "$TMP/stty.before")" ] ||
  fail "terminal not restored after Ctrl-C: '$(cat "$TMP/stty.ctrlc")'"
note "terminal: Ctrl-C exits 0, terminal restored"
exit 0
