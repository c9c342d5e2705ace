#!/bin/bash
# list and clean never follow a symlink planted in the lock directory, nor
# a lock directory that is itself a symlink (docs/security.md): they look
# at lock files only through the descriptor zb_lock_dir_open() trusted,
# say what they skip or refuse, and remove nothing behind it.
#   1. the real /dev/shm and /tmp/zerobuffer: NAME.lock is a symlink
#      (owned by another user when we are root) beside an orphaned
#      semaphore of NAME: list skips it, clean NAME refuses, with a message;
#   2. a private mount namespace with its own /dev/shm and /tmp (root):
#      /tmp/zerobuffer is a symlink to a directory holding NAME.lock, beside
#      orphaned semaphores of NAME: list, clean NAME and clean --stale
#      refuse the directory and remove nothing; then a real directory with
#      a planted symlink: clean --stale skips it and removes a stale buffer.
. "$(dirname "$0")/common.sh"

# --- 1. the real lock directory -------------------------------------------
newname N
if [ ! -d /tmp/zerobuffer ]; then
  # made as the library makes it (01777) by a reader that gives up at once
  "$Z" reader "$N" -n 1 --wait-writer-ms 1 --payload-size 64K > /dev/null 2>&1
fi
"$Z" list > /dev/null 2> "$TMP/pre.err"
if grep -q "lock directory /tmp/zerobuffer refused" "$TMP/pre.err"; then
  note "1: skipped: this machine's /tmp/zerobuffer is refused: $(cat "$TMP/pre.err")"
else
  echo precious > "$TMP/victim"
  ln -s "$TMP/victim" "/tmp/zerobuffer/$N.lock" || fail "cannot plant the symlink"
  if [ "$(id -u)" = 0 ]; then
    chown -h 12345:12345 "/tmp/zerobuffer/$N.lock" || fail "chown -h"
  fi
  head -c 32 /dev/zero > "/dev/shm/sem.sem-w-$N"

  "$Z" list --json > "$TMP/l.json" 2> "$TMP/l.err"
  expect_rc 0 $? "list beside a planted symlink"
  grep -qx "zerobuffer list: /tmp/zerobuffer/$N.lock is a symlink, never followed: skipped" "$TMP/l.err" ||
    fail "list did not say it skips the planted symlink: $(cat "$TMP/l.err")"
  jcheck "$TMP/l.json" '[(b["state"], b["objects"]) for b in d["buffers"] if b["name"] == "'"$N"'"] == [("orphaned", ["/dev/shm/sem.sem-w-'"$N"'"])]' \
    "list: the orphaned semaphore, not the symlink"

  "$Z" clean "$N" > "$TMP/c.out" 2> "$TMP/c.err"
  expect_rc 1 $? "clean NAME with a planted symlink as NAME.lock"
  one_line "$TMP/c.err" "clean NAME with a planted symlink"
  grep -qx "zerobuffer clean: /tmp/zerobuffer/$N.lock is a symlink, never followed: not removed" "$TMP/c.err" ||
    fail "clean did not refuse the planted symlink: $(cat "$TMP/c.err")"
  [ -L "/tmp/zerobuffer/$N.lock" ] || fail "clean removed the planted symlink"
  [ "$(cat "$TMP/victim")" = precious ] || fail "the symlink's target changed"
  [ -e "/dev/shm/sem.sem-w-$N" ] || fail "clean removed a semaphore beside a planted symlink"
  remove_objects "$N"
  note "1: planted symlink in the real lock directory: list skips it, clean refuses"
fi

# --- 2. a private /dev/shm and /tmp ---------------------------------------
if ! unshare --mount --propagation private true 2>/dev/null; then
  note "2: skipped: no private mount namespace (needs root)"
  echo "PASS"
  exit 0
fi
# The CLI and its library are copied into the private /dev/shm, since the
# private /tmp may hide the build tree.
lib=$(ldd "$Z" | sed -n 's/^[[:space:]]*libzerobuffer[^ ]* => \(\/[^ ]*\) .*/\1/p')
[ -n "$lib" ] && [ -r "$lib" ] || fail "cannot find the library of $Z: $(ldd "$Z")"
newname N
newname S

inner=$(cat <<'EOF'
set -u
z=$1 lib=$2 name=$3 stale=$4 pid=
trap 'if [ -n "$pid" ]; then kill -9 "$pid" 2>/dev/null; fi' EXIT
failed=0
fail () {
  echo "FAIL: $*"
  failed=$((failed + 1))
}
# ok TEXT: "ok: TEXT" unless a check failed
ok () {
  [ $failed = 0 ] && echo "ok: $*"
}
mount -t tmpfs -o size=16m,mode=1777 zbt-shm /dev/shm || exit 90
bin=/dev/shm/.zbt-bin
mkdir "$bin" && cp "$z" "$bin/zerobuffer" &&
  cp -L "$lib" "$bin/$(basename "$lib")" || exit 91
mount -t tmpfs -o mode=1777 zbt-tmp /tmp || exit 92
cd / || exit 93                 # the working directory may have been in /tmp
export LD_LIBRARY_PATH=$bin
Z=$bin/zerobuffer
refusal="lock directory /tmp/zerobuffer refused: permission denied (it must be a directory, not a symlink"

# /tmp/zerobuffer a symlink to a directory with NAME.lock
mkdir -m 1777 /tmp/elsewhere
echo precious > "/tmp/elsewhere/$name.lock"
ln -s /tmp/elsewhere /tmp/zerobuffer
head -c 32 /dev/zero > "/dev/shm/sem.sem-w-$name"
head -c 32 /dev/zero > "/dev/shm/sem.sem-r-$name"
"$Z" list --json > /tmp/l.json 2> /tmp/l.err
rc=$?
[ $rc = 1 ] || fail "list with a symlinked lock directory: exit status $rc, expected 1"
grep -q "^zerobuffer list: $refusal.*; its lock files are not listed\$" /tmp/l.err ||
  fail "list did not refuse the symlinked lock directory: $(cat /tmp/l.err)"
python3 -c 'import json, sys
d = json.load(open("/tmp/l.json"))
e = [b for b in d["buffers"] if b["name"] == sys.argv[1]]
sys.exit(not (len(e) == 1 and e[0]["state"] == "orphaned" and sorted(e[0]["objects"]) == ["/dev/shm/sem.sem-r-" + sys.argv[1], "/dev/shm/sem.sem-w-" + sys.argv[1]]))' "$name" ||
  fail "list shows a lock file through the symlink: $(cat /tmp/l.json)"
for args in "$name" --stale; do
  "$Z" clean $args > /tmp/c.out 2> /tmp/c.err
  rc=$?
  [ $rc = 1 ] || fail "clean $args with a symlinked lock directory: exit status $rc, expected 1"
  grep -q "^zerobuffer clean: $refusal.*; nothing removed\$" /tmp/c.err ||
    fail "clean $args did not refuse the symlinked lock directory: $(cat /tmp/c.err)"
  [ "$(wc -l < /tmp/c.err)" = 1 ] || fail "clean $args: more than one line: $(cat /tmp/c.err)"
  [ -e "/dev/shm/sem.sem-w-$name" ] && [ -e "/dev/shm/sem.sem-r-$name" ] ||
    fail "clean $args removed semaphores through a symlinked lock directory"
  [ "$(cat "/tmp/elsewhere/$name.lock")" = precious ] ||
    fail "clean $args touched the lock file behind the symlink"
done
ok "symlinked lock directory refused by list, clean NAME, clean --stale"

# a real directory with a planted symlink (another user's), and a stale
# buffer: clean --stale skips the one and removes the other
rm /tmp/zerobuffer
mkdir -m 1777 /tmp/zerobuffer
echo precious > /tmp/victim
ln -s /tmp/victim "/tmp/zerobuffer/$name.lock"
chown -h 12345:12345 "/tmp/zerobuffer/$name.lock"
"$Z" reader "$stale" --payload-size 64K --wait-writer-ms 20000 > /dev/null 2>&1 &
pid=$!
i=0
while [ ! -e "/tmp/zerobuffer/$stale.lock" ] || [ ! -e "/dev/shm/sem.sem-r-$stale" ]; do
  i=$((i + 1))
  [ $i -lt 200 ] || { fail "reader $stale did not start"; break; }
  sleep 0.02
done
kill -9 "$pid"
wait "$pid" 2>/dev/null
pid=
"$Z" clean --stale > /tmp/c.out 2> /tmp/c.err
rc=$?
[ $rc = 0 ] || fail "clean --stale beside a planted symlink: exit status $rc, expected 0: $(cat /tmp/c.err)"
grep -qx "zerobuffer clean: /tmp/zerobuffer/$name.lock is a symlink, never followed: skipped" /tmp/c.err ||
  fail "clean --stale did not say it skips the planted symlink: $(cat /tmp/c.err)"
grep -qx "removed $stale" /tmp/c.out && grep -qx "1 stale buffer removed" /tmp/c.out ||
  fail "clean --stale did not remove the stale buffer: $(cat /tmp/c.out)"
[ -L "/tmp/zerobuffer/$name.lock" ] && [ "$(cat /tmp/victim)" = precious ] ||
  fail "clean --stale touched the planted symlink or its target"
[ -e "/dev/shm/sem.sem-w-$name" ] && [ -e "/dev/shm/sem.sem-r-$name" ] ||
  fail "clean --stale removed semaphores beside a planted symlink"
[ ! -e "/dev/shm/$stale" ] && [ ! -e "/tmp/zerobuffer/$stale.lock" ] ||
  fail "clean --stale left objects of $stale"
ok "planted symlink skipped by clean --stale, stale buffer removed"
echo DONE
EOF
)
out=$(unshare --mount --propagation private bash -c "$inner" zbt-ns "$Z" "$lib" "$N" "$S" 2>&1)
rc=$?
sed 's/^/# 2: /' <<<"$out"
! grep -q '^FAIL' <<<"$out" || fail "2: $(grep '^FAIL' <<<"$out" | head -1)"
[ $rc = 0 ] && grep -qx DONE <<<"$out" || fail "2: the namespace part did not finish (exit status $rc)"

echo "PASS"
