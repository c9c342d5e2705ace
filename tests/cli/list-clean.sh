#!/bin/bash
# list and clean on live, stale (reader killed with SIGKILL) and orphaned
# buffers; clean never touches a live buffer. Runs in a private /dev/shm and
# /tmp when possible; clean --stale only runs there, where it cannot touch
# other tests' buffers.
ZB_ISOLATE=1
. "$(dirname "$0")/common.sh"

# start_reader VAR NAME: a reader on NAME, its pid in VAR, ready on return
start_reader () {
  bg "$1" "$Z" reader "$2" --payload-size 64K --wait-writer-ms -1 > /dev/null
  wait_for_buffer "$2"
}

# kill_reader PID NAME: a reader killed with SIGKILL leaves every object
# behind. Every reader removes stale buffers when it starts, so all readers
# of a step start before the first is killed.
kill_reader () {
  kill -9 "$1"
  { wait "$1"; } 2>/dev/null
  [ -e "/dev/shm/$2" ] && [ -e "/tmp/zerobuffer/$2.lock" ] || fail "no stale objects for $2"
}

# entry FILE NAME EXPR: EXPR on the list entry of NAME (e)
entry () {
  jget "$1" '(lambda e: '"$3"')([b for b in d["buffers"] if b["name"] == "'"$2"'"][0])'
}

newname L
newname S
newname O
newname O2
newname F
newname W
start_reader LP "$L"
start_reader SP "$S"
start_reader OP "$O"
start_reader RP "$W"
bg WP "$Z" writer "$W" -n 1000000 -s 100 --delay-ms 10
for i in $(seq 1 100); do
  "$Z" inspect "$W" --json > "$TMP/i.json" && [ "$(jget "$TMP/i.json" 'd["writer_alive"]')" = True ] && break
  sleep 0.05
done
kill_reader "$SP" "$S"
kill_reader "$OP" "$O"
rm -f "/dev/shm/$O"
head -c 32 /dev/zero > "/dev/shm/sem.sem-w-$O2"
head -c 8192 /dev/urandom > "/dev/shm/$F"

"$Z" list --json > "$TMP/l.json"
expect_rc 0 $? "list --json"
[ "$(entry "$TMP/l.json" "$L" 'e["state"] == "active" and e["reader_pid"] == '"$LP"' and e["reader_alive"] and e["lock_held"] and e["payload_size"] == 65536 and e["health"] == "healthy"')" = True ] || fail "list: live buffer"
[ "$(entry "$TMP/l.json" "$S" 'e["state"] == "stale" and not e["reader_alive"] and not e["lock_held"] and len(e["objects"]) == 4')" = True ] || fail "list: stale buffer"
[ "$(entry "$TMP/l.json" "$O" 'e["state"] == "orphaned" and e["reader_pid"] is None and sorted(e["objects"]) == sorted(["/dev/shm/sem.sem-w-'"$O"'", "/dev/shm/sem.sem-r-'"$O"'", "/tmp/zerobuffer/'"$O"'.lock"])')" = True ] || fail "list: orphaned objects"
[ "$(entry "$TMP/l.json" "$O2" 'e["state"] == "orphaned" and e["objects"] == ["/dev/shm/sem.sem-w-'"$O2"'"]')" = True ] || fail "list: orphaned semaphore"
jcheck "$TMP/l.json" '"'"$F"'" not in [b["name"] for b in d["buffers"]] and d["count"] == len(d["buffers"])' "list skips files that are not buffers"

"$Z" list > "$TMP/l.txt"
expect_rc 0 $? "list"
grep -Eq "^$L +active +$LP " "$TMP/l.txt" || fail "list text: live buffer"
grep -Eq "^$S +stale +[0-9]+\+ " "$TMP/l.txt" || fail "list text: stale buffer"
grep -Eq "^$O +orphaned " "$TMP/l.txt" || fail "list text: orphaned objects"

# clean refuses a live buffer and leaves every object in place
"$Z" clean "$L" > "$TMP/c.out" 2> "$TMP/c.err"
expect_rc 1 $? "clean of a live buffer"
one_line "$TMP/c.err" "clean of a live buffer"
grep -q "in use" "$TMP/c.err" || fail "clean of a live buffer: $(cat "$TMP/c.err")"
for f in "/dev/shm/$L" "/dev/shm/sem.sem-w-$L" "/dev/shm/sem.sem-r-$L" "/tmp/zerobuffer/$L.lock"; do
  [ -e "$f" ] || fail "clean removed $f of a live buffer"
done

# ... and removes stale and orphaned ones
"$Z" clean "$S" > "$TMP/c.out"
expect_rc 0 $? "clean of a stale buffer"
grep -qx "removed $S" "$TMP/c.out" || fail "clean output: $(cat "$TMP/c.out")"
no_objects "$S"
"$Z" clean "$O" "$O2" > "$TMP/c.out"
expect_rc 0 $? "clean of orphaned objects"
no_objects "$O"
no_objects "$O2"

# nothing there, or not a ZeroBuffer segment: exit status 1, file untouched
"$Z" clean "$S" 2> "$TMP/c.err" > /dev/null
expect_rc 1 $? "clean of a missing buffer"
one_line "$TMP/c.err" "clean of a missing buffer"
"$Z" clean "$F" 2> "$TMP/c.err" > /dev/null
expect_rc 1 $? "clean of a foreign file"
one_line "$TMP/c.err" "clean of a foreign file"
[ -e "/dev/shm/$F" ] || fail "clean removed a file that is not a buffer"
rm -f "/dev/shm/$F"

# the reader died but its (stopped) writer lives: still in use
kill -STOP "$WP"
kill_reader "$RP" "$W"
"$Z" list --json > "$TMP/l.json"
[ "$(entry "$TMP/l.json" "$W" 'e["state"] == "active" and not e["reader_alive"] and e["writer_alive"]')" = True ] || fail "list: buffer with a live writer only"
"$Z" clean "$W" 2> "$TMP/c.err" > /dev/null
expect_rc 1 $? "clean of a buffer whose writer lives"
grep -q "writer pid $WP is alive" "$TMP/c.err" || fail "clean reason: $(cat "$TMP/c.err")"
[ -e "/dev/shm/$W" ] || fail "clean removed a buffer whose writer lives"
kill -9 "$WP"
{ wait "$WP"; } 2>/dev/null
"$Z" clean "$W" > /dev/null || fail "clean after the writer died"
no_objects "$W"

# the live reader ends normally and leaves nothing
kill -TERM "$LP"
wait_pid "$LP" 5
no_objects "$L"

# clean --stale removes every stale and orphaned buffer, keeps live ones
if [ "$ISOLATED" = 1 ]; then
  newname L
  newname S
  newname O
  start_reader LP "$L"
  start_reader SP "$S"
  start_reader OP "$O"
  kill_reader "$SP" "$S"
  kill_reader "$OP" "$O"
  rm -f "/dev/shm/$O"
  "$Z" list --json > "$TMP/l.json" || fail "list in the namespace"
  jcheck "$TMP/l.json" 'd["count"] == 3' "three buffers before clean --stale"
  "$Z" clean --stale > "$TMP/c.out"
  expect_rc 0 $? "clean --stale"
  grep -qx "removed $S" "$TMP/c.out" || fail "clean --stale did not remove $S"
  grep -qx "removed $O" "$TMP/c.out" || fail "clean --stale did not remove $O"
  grep -qx "2 stale buffers removed" "$TMP/c.out" || fail "clean --stale summary: $(cat "$TMP/c.out")"
  no_objects "$S"
  no_objects "$O"
  "$Z" list --json > "$TMP/l.json" || fail "list after clean --stale"
  jcheck "$TMP/l.json" 'd["count"] == 1 and d["buffers"][0]["name"] == "'"$L"'" and d["buffers"][0]["state"] == "active"' "live buffer kept by clean --stale"
  "$Z" clean --stale > "$TMP/c.out" || fail "second clean --stale"
  grep -qx "0 stale buffers removed" "$TMP/c.out" || fail "second clean --stale removed something"
  kill -TERM "$LP"
  wait_pid "$LP" 5
  no_objects "$L"
  "$Z" list > "$TMP/l.txt" || fail "empty list"
  grep -q "no ZeroBuffer objects" "$TMP/l.txt" || fail "empty list text: $(cat "$TMP/l.txt")"
  note "clean --stale: stale and orphaned removed, live kept"
else
  note "clean --stale skipped: no private mount namespace (needs root)"
fi

echo "PASS"
