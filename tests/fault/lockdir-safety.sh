#!/usr/bin/env bash
# /tmp/zerobuffer safety (docs/security.md): the lock directory and the lock
# files are never followed through a planted symlink, and a directory that
# someone else could tamper with is refused with -EACCES ("permission
# denied"). Every case runs in its own private mount namespace with its own
# tmpfs at /dev/shm and at /tmp/zerobuffer (or at /tmp, for the case where
# /tmp/zerobuffer itself is a symlink), so the host's directory is never
# touched and parallel tests are not disturbed.
#
#   lockdir-safety.sh ZEROBUFFER_CLI
#
# TAP output. Needs root (unshare -m, mount, chown); skips otherwise.
set -uo pipefail

cli=${1:?usage: lockdir-safety.sh ZEROBUFFER_CLI}
# A private mount namespace needs root and / a mount point (a chroot's
# root often is not: then mount --make-rprivate / fails, EINVAL).
if ! why=$(unshare -m --propagation private true 2>&1); then
  echo "1..0 # SKIP needs unshare -m --propagation private (root, / a mount"\
    "point): ${why:-failed}"
  exit 0
fi
mkdir -p /tmp/zerobuffer
n=0
failed=0
name=zbt-$$-lock

# run_case DESCRIPTION EXPECT SETUP: in a fresh namespace, run SETUP (sh),
# then "zerobuffer reader NAME" once; EXPECT "refused" wants exit status 1
# with "permission denied" and nothing created in /dev/shm, "accepted"
# wants the buffer created (the reader then times out waiting for a writer:
# exit status 2) and removed again. Extra checks may follow in CHECK (sh,
# run in the same namespace afterwards; non-zero fails).
run_case() {
  local desc=$1 expect=$2 setup=$3 check=${4:-true} out status
  out=$(unshare -m --propagation private sh -c '
    mount -t tmpfs -o size=16m zbt-shm /dev/shm || exit 99
    mount -t tmpfs -o mode=1777 zbt-lock /tmp/zerobuffer || exit 99
    '"$setup"' || exit 98
    "$0" reader "$1" -n 1 --wait-writer-ms 100 --payload-size 64K 2>&1
    s=$?
    echo "status=$s"
    echo "shm=$(ls /dev/shm | tr "\n" " ")"
    '"$check"' || echo "check failed"
  ' "$cli" "$name" 2>&1)
  status=$(sed -n 's/^status=//p' <<<"$out")
  n=$((n + 1))
  if grep -q "check failed" <<<"$out"; then
    :
  elif [ "$expect" = refused ] && [ "$status" = 1 ] &&
      grep -q "permission denied" <<<"$out" && grep -q '^shm= *$' <<<"$out"
  then
    echo "ok $n - $desc: refused"
    return
  elif [ "$expect" = accepted ] && [ "$status" = 2 ] &&
      grep -q '^shm= *$' <<<"$out"; then
    echo "ok $n - $desc: accepted"
    return
  fi
  failed=$((failed + 1))
  echo "not ok $n - $desc: expected $expect"
  sed 's/^/# /' <<<"$out"
}

run_case "/tmp/zerobuffer 01777 owned by root (the normal case)" accepted \
  'chmod 1777 /tmp/zerobuffer'
run_case "/tmp/zerobuffer 0700 owned by us" accepted \
  'chmod 0700 /tmp/zerobuffer'
run_case "/tmp/zerobuffer 0777 without the sticky bit" refused \
  'chmod 0777 /tmp/zerobuffer'
run_case "/tmp/zerobuffer 0775 (group-writable) without the sticky bit" \
  refused 'chmod 0775 /tmp/zerobuffer'
run_case "/tmp/zerobuffer owned by another user, 0755" refused \
  'chown 12345:12345 /tmp/zerobuffer && chmod 0755 /tmp/zerobuffer'
# Sticky or not, another owner could delete our lock files (and, with
# symlink swaps, make us delete files elsewhere): only root or we will do.
run_case "/tmp/zerobuffer owned by another user, 01777 (shared like /tmp)" \
  refused 'chown 12345:12345 /tmp/zerobuffer && chmod 1777 /tmp/zerobuffer'
if id nobody > /dev/null 2>&1; then
  run_case "/tmp/zerobuffer owned by nobody, 01777" refused \
    'chown nobody /tmp/zerobuffer && chmod 1777 /tmp/zerobuffer'
else
  n=$((n + 1))
  echo "ok $n - # SKIP /tmp/zerobuffer owned by nobody: no user nobody"
fi
run_case "a planted symlink as the lock file" refused \
  'ln -s /tmp/zerobuffer/target /tmp/zerobuffer/'"$name"'.lock' \
  '[ ! -e /tmp/zerobuffer/target ]'
run_case "a planted symlink to an existing file as the lock file" refused \
  'echo precious > /tmp/zerobuffer/victim &&
   ln -s /tmp/zerobuffer/victim /tmp/zerobuffer/'"$name"'.lock' \
  '[ "$(cat /tmp/zerobuffer/victim)" = precious ]'
# /tmp/zerobuffer itself a symlink: needs our own /tmp; skipped when the
# CLI lives under /tmp (it would be hidden by the new tmpfs)
case $(readlink -f "$cli") in
  /tmp/*)
    n=$((n + 1))
    echo "ok $n - # SKIP /tmp/zerobuffer as a symlink: the CLI lives in /tmp"
    ;;
  *)
    run_case "/tmp/zerobuffer a planted symlink to a directory" refused \
      'umount /tmp/zerobuffer && mount -t tmpfs -o mode=1777 zbt-tmp /tmp &&
       mkdir -m 1777 /tmp/elsewhere && ln -s /tmp/elsewhere /tmp/zerobuffer' \
      '[ -z "$(ls -A /tmp/elsewhere)" ]'
    ;;
esac
# /tmp/zerobuffer swapped for a symlink while a reader lives: the reader
# removes its lock file relative to the directory it checked at creation,
# so the swap cannot redirect the unlink to /tmp/target/NAME.lock.
case $(readlink -f "$cli") in
  /tmp/*)
    n=$((n + 1))
    echo "ok $n - # SKIP symlink swap of /tmp/zerobuffer: the CLI lives in /tmp"
    ;;
  *)
    n=$((n + 1))
    out=$(unshare -m --propagation private sh -c '
      mount -t tmpfs -o size=16m zbt-shm /dev/shm || exit 99
      umount /tmp/zerobuffer 2>/dev/null
      mount -t tmpfs -o mode=1777 zbt-tmp /tmp || exit 99
      mkdir -m 1777 /tmp/zerobuffer /tmp/target || exit 98
      "$0" reader "$1" -n 1 --wait-writer-ms 1500 --payload-size 64K         > /dev/null 2>&1 &
      pid=$!
      i=0
      while [ ! -e "/tmp/zerobuffer/$1.lock" ] && [ $i -lt 200 ]; do
        sleep 0.01; i=$((i + 1))
      done
      [ -e "/tmp/zerobuffer/$1.lock" ] || { echo "no lock file"; kill $pid; }
      mv /tmp/zerobuffer /tmp/zb-old && ln -s /tmp/target /tmp/zerobuffer &&
        echo precious > "/tmp/target/$1.lock"
      wait $pid
      echo "status=$?"
      echo "target=$(cat "/tmp/target/$1.lock" 2>&1)"
      echo "old=$(ls -A /tmp/zb-old | tr "\n" " ")"
    ' "$cli" "$name" 2>&1)
    if grep -q '^status=2$' <<<"$out" && grep -q '^target=precious$' <<<"$out" &&
        grep -q '^old= *$' <<<"$out"; then
      echo "ok $n - /tmp/zerobuffer swapped for a symlink under a live reader:" \
        "its unlink stays in the real directory"
    else
      failed=$((failed + 1))
      echo "not ok $n - /tmp/zerobuffer swapped for a symlink under a live reader"
      sed 's/^/# /' <<<"$out"
    fi
    ;;
esac
echo "1..$n"
[ $failed -eq 0 ]
