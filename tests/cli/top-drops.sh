#!/bin/bash
# zerobuffer top: the DROPS column (docs/cli.md "top"; docs/protocol.md
# "Writer statistics"). A CLI fan-out writer with --policy drop whose
# reader is stopped (SIGSTOP) drops frames: top --json shows "drops"
# rising and the terminal (tmux) shows the number; a reference-style
# writer (a process that only put its pid in the OIEB, as the protocol
# authors' writers do) shows "-" / null; hostile statistics objects under
# its name (wrong size, garbage, another owner, writable by others) are
# refused ("refused", "-"), and top keeps running. Isolated like top.sh.
ZB_ISOLATE=1
. "$(dirname "$0")/common.sh"

F="zbt-$$-"

# --- a CLI writer that drops: fan-out, drop policy, its reader stopped ---
newname A
bg RA "$Z" reader "$A" --payload-size 64K --wait-writer-ms -1 > /dev/null
wait_for_buffer "$A"
kill -STOP "$RA"
bg WA "$Z" writer "$A" --fanout --policy drop -n 100000000 -s 1000 \
  --delay-ms 2
for i in $(seq 1 100); do
  [ -e "/dev/shm/zbstats-$A-$WA" ] && break
  sleep 0.05
done
[ -e "/dev/shm/zbstats-$A-$WA" ] || fail "no statistics object of writer $WA"
[ "$(stat -c %a "/dev/shm/zbstats-$A-$WA")" = 600 ] ||
  fail "statistics object mode $(stat -c %a "/dev/shm/zbstats-$A-$WA"), want 600 (the buffer's)"
sleep 0.5
"$Z" top -f "$F" --json -n 2 -d 0.5 > "$TMP/top.jsonl"
expect_rc 0 $? "top --json -n 2"
python3 - "$TMP/top.jsonl" "$A" "$WA" <<'EOF' || fail "top --json: drops of a writer with a stopped reader"
import json, sys
path, a, wa = sys.argv[1:]
docs = [json.loads(line) for line in open(path)]
d = [x for doc in docs for x in doc["buffers"] if x["name"] == a]
assert len(d) == 2, docs
for x in d:
    assert x["writer_pid"] == int(wa) and x["writer_alive"], x
    assert x["drops_source"] == "published", x
    assert x["utilisation_percent"] > 90, x      # the ring is full
# one frame every 2 ms at most, the ring full: they are dropped
assert 0 < d[0]["drops"] < d[1]["drops"], [x["drops"] for x in d]
print("# drops %d -> %d in 0.5 s" % (d[0]["drops"], d[1]["drops"]))
EOF
note "CLI fan-out writer: drops rising in top --json"

# --- a reference-style writer: its pid in the OIEB, nothing beside ---
newname B
bg RB "$Z" reader "$B" --payload-size 64K --wait-writer-ms -1 > /dev/null
wait_for_buffer "$B"
python3 - "$B" > "$TMP/ref.pid" <<'EOF' &
import mmap, os, struct, sys, time
fd = os.open("/dev/shm/" + sys.argv[1], os.O_RDWR)
m = mmap.mmap(fd, 128)
m[0x50:0x58] = struct.pack("<Q", os.getpid())   # writer_pid
print(os.getpid(), flush=True)
time.sleep(60)
EOF
PIDS="$PIDS $!"
for i in $(seq 1 100); do
  [ -s "$TMP/ref.pid" ] && break
  sleep 0.05
done
WB=$(cat "$TMP/ref.pid")
[ -n "$WB" ] || fail "reference-style writer did not start"
"$Z" top -f "$B" --json -d 0.2 > "$TMP/t.json"
[ "$(entry "$TMP/t.json" "$B" 'b["writer_pid"] == '"$WB"' and b["writer_alive"] and b["drops"] is None and b["drops_source"] == "none"')" = True ] ||
  fail "reference-style writer: $(cat "$TMP/t.json")"
"$Z" top -f "$B" --once -d 0.2 > "$TMP/t.txt"
grep -E "^$B +active +$RB +$WB +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9]+ +[0-9KMG]+ +- " "$TMP/t.txt" > /dev/null ||
  fail "text: DROPS of a reference-style writer not '-': $(cat "$TMP/t.txt")"
note "reference-style writer: drops null, '-'"

# --- hostile objects under its name: refused, never believed ---
S="/dev/shm/zbstats-$B-$WB"
# good (the test can pass): magic, version 1, size 320, pid, drops 7, name
good () {
  python3 - "$1" "$B" "$WB" "$2" <<'EOF'
import os, struct, sys
path, name, pid, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4], 8)
b = b"ZBWS" + struct.pack("<III", 1, 320, 0) + struct.pack("<QQ", pid, 7)
b += bytes(32) + name.encode().ljust(256, b"\0")
assert len(b) == 320
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
os.write(fd, b)
os.fchmod(fd, mode)
os.close(fd)
EOF
}
check_drops () {
  "$Z" top -f "$B" --json -d 0.2 > "$TMP/t.json"
  expect_rc 0 $? "top with $2"
  [ "$(entry "$TMP/t.json" "$B" "$1")" = True ] || fail "$2: $(cat "$TMP/t.json")"
}
good "$S" 644
check_drops 'b["drops"] == 7 and b["drops_source"] == "published"' "a well-formed object"
rm -f "$S"
head -c 100 /dev/urandom > "$S"
check_drops 'b["drops"] is None and b["drops_source"] == "refused"' "a short object"
rm -f "$S"
head -c 320 /dev/urandom > "$S"
check_drops 'b["drops"] is None and b["drops_source"] == "refused"' "320 bytes of garbage"
rm -f "$S"
head -c 100000 /dev/zero > "$S"
check_drops 'b["drops"] is None and b["drops_source"] == "refused"' "an object of 100000 bytes"
rm -f "$S"
good "$S" 666
check_drops 'b["drops"] is None and b["drops_source"] == "refused"' "an object writable by others"
rm -f "$S"
if [ "$(id -u)" = 0 ]; then
  good "$S" 644
  chown 65534:65534 "$S"
  check_drops 'b["drops"] is None and b["drops_source"] == "refused"' "an object of another user"
  "$Z" top -f "$B" --once -d 0.2 > "$TMP/t.txt"
  grep -E "^$B +active .* +- +- +-$" "$TMP/t.txt" > /dev/null ||
    fail "text: refused object not '-': $(cat "$TMP/t.txt")"
  rm -f "$S"
else
  note "SKIP other owner: needs root"
fi
ln -s "/dev/shm/zbstats-$A-$WA" "$S"
check_drops 'b["drops"] is None and b["drops_source"] == "refused"' "a symlink to another writer's object"
rm -f "$S"
note "hostile statistics objects refused"

# --- the terminal shows the number ---
use_tmux || exit 0
tmux -L "$SOCK" new-session -d -s d -x 200 -y 30 "'$Z' top -f '$F' -d 0.3; sleep 30"
screen_has d " DROPS "
screen_has d "^$A +active +$RA +$WA +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9]+ +[0-9KMG]+ +[1-9][0-9]* "
first=$(awk -v a="$A" '$1 == a {print $10}' "$TMP/screen")
screen_has d "^$B +active +$RB +$WB +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9]+ +[0-9KMG]+ +- "
sleep 1
screen_has d "^$A "
second=$(awk -v a="$A" '$1 == a {print $10}' "$TMP/screen")
[ "$second" -gt "$first" ] || fail "terminal: drops did not rise ($first, then $second)"
# d sorts by drops: A (published) before B ('-')
tmux -L "$SOCK" send-keys -t d d
screen_has d "sort drops"
grep -A1 "^NAME" "$TMP/screen" | grep -q "^$A " || fail "d: $A not first: $(cat "$TMP/screen")"
tmux -L "$SOCK" send-keys -t d q
note "terminal: DROPS $first, then $second; B shows '-'; key d sorts by drops"

# --- the writer leaves: its object goes with it ---
kill -CONT "$RA"
kill -INT "$WA"
wait_pid "$WA" 5
[ ! -e "/dev/shm/zbstats-$A-$WA" ] || fail "statistics object left after the writer stopped"
note "object removed when the writer leaves"
exit 0
