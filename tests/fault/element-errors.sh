#!/usr/bin/env bash
# Element errors of docs/errors.md that tests/gst/test_zberrors.c does not
# reach: each case runs gst-launch-1.0 and asserts the exact text of the
# GST_ELEMENT_ERROR it must post (gst-launch prints "ERROR: from element
# ...: TEXT"). The whole script runs in a private mount namespace with its
# own tmpfs at /dev/shm and /tmp/zerobuffer (cases that need a full, read-only
# or unsafe one remount in a nested namespace), so nothing here touches the
# host's buffers or disturbs tests running in parallel.
#
#   element-errors.sh ZEROBUFFER_CLI
#
# TAP output. Needs root (unshare -m, mount); skips otherwise.
set -uo pipefail

cli=${1:?usage: element-errors.sh ZEROBUFFER_CLI}

if [ "${ZBT_ISOLATED:-}" != 1 ]; then
  # A private mount namespace needs root and / a mount point (a chroot's
  # root often is not: then mount --make-rprivate / fails, EINVAL).
  if ! why=$(unshare -m --propagation private true 2>&1); then
    echo "1..0 # SKIP needs unshare -m --propagation private (root, / a mount"\
      "point): ${why:-failed}"
    exit 0
  fi
  mkdir -p /tmp/zerobuffer
  exec env ZBT_ISOLATED=1 unshare -m --propagation private "$0" "$@"
fi
mount -t tmpfs -o size=64m,mode=1777 zbt-shm /dev/shm || exit 1
mount -t tmpfs -o mode=1777 zbt-lock /tmp/zerobuffer || exit 1

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
export GST_REGISTRY=${GST_REGISTRY:-$work/registry.bin}
n=0
failed=0

ok() {
  n=$((n + 1))
  echo "ok $n - $1"
}

not_ok() {
  n=$((n + 1))
  failed=$((failed + 1))
  echo "not ok $n - $1"
  shift
  for line in "$@"; do
    echo "# $line"
  done
}

# expect_error DESCRIPTION TEXT COMMAND...: COMMAND (a gst-launch-1.0 run)
# fails within 30 s and posts the element error TEXT.
expect_error() {
  local desc=$1 text=$2 out status
  shift 2
  out=$(timeout 30 "$@" 2>&1 < /dev/null)
  status=$?
  if [ $status -eq 124 ]; then
    not_ok "$desc" "timed out" "$out"
  elif [ $status -eq 0 ]; then
    not_ok "$desc" "exited 0" "$out"
  elif ! grep -qF "ERROR: from element" <<<"$out" ||
      ! grep -qF -- "$text" <<<"$out"; then
    not_ok "$desc" "expected: $text" "got: $(grep -A1 ERROR <<<"$out" |
      head -4)"
  else
    ok "$desc"
  fi
}

no_leftovers() {
  local left
  left=$(ls -A /dev/shm /tmp/zerobuffer 2>/dev/null | grep -v '^/' |
    grep -v '^$' || true)
  if [ -z "$left" ]; then
    ok "$1: nothing left in /dev/shm or /tmp/zerobuffer"
  else
    not_ok "$1: nothing left in /dev/shm or /tmp/zerobuffer" "$left"
    rm -rf /dev/shm/* /tmp/zerobuffer/*
  fi
}

name=zbt-$$-ee

# --- zbsrc ---------------------------------------------------------------

expect_error "zbsrc without buffer-name" \
  'No buffer name set: set the buffer-name property.' \
  gst-launch-1.0 zbsrc num-buffers=1 ! fakesink

expect_error "zbsrc: buffer name with a slash" \
  'Invalid buffer name "a/b" or size.' \
  gst-launch-1.0 zbsrc buffer-name=a/b num-buffers=1 ! fakesink

# /dev/shm too small: a clean error at creation, not a SIGBUS later
expect_error "zbsrc: /dev/shm too small (1 MiB tmpfs, 4 MiB ring)" \
  "Not enough shared memory in /dev/shm for buffer \"$name-1\" (4194304 bytes of payload)." \
  unshare -m sh -c 'mount -t tmpfs -o size=1m tmpfs /dev/shm && exec "$@"' \
  sh gst-launch-1.0 zbsrc buffer-name=$name-1 payload-size=4194304 \
  num-buffers=1 ! fakesink
no_leftovers "after the full /dev/shm"

# an unsafe lock directory: writable by others, no sticky bit
expect_error "zbsrc: /tmp/zerobuffer writable by others without sticky bit" \
  "Permission denied creating buffer \"$name-2\" in /dev/shm." \
  unshare -m sh -c 'mount -t tmpfs -o mode=0777 tmpfs /tmp/zerobuffer &&
    exec "$@"' sh gst-launch-1.0 zbsrc buffer-name=$name-2 num-buffers=1 \
  ! fakesink

# /dev/shm read-only
# (the library reports EROFS as a permission problem, -EACCES)
expect_error "zbsrc: /dev/shm read-only" \
  "Permission denied creating buffer \"$name-3\" in /dev/shm." \
  unshare -m sh -c 'mount -t tmpfs -o ro tmpfs /dev/shm && exec "$@"' \
  sh gst-launch-1.0 zbsrc buffer-name=$name-3 num-buffers=1 ! fakesink

# the writer's metadata names caps that do not parse
# (a caps record is written with the Python binding, python/zerobuffer.py)
( sleep 1
  python3 - $name-4 <<'PY'
import struct, sys, zerobuffer
w = zerobuffer.Writer(sys.argv[1], connect_timeout_ms=10000)
w.set_metadata(b'{"frame_format":"gst","frame_format_version":1}')
caps = b"this is ( not caps"
none = 0xffffffffffffffff
hdr = (b"ZBGS" + bytes([1, 2]) + struct.pack("<HII", 80, 0, 0) +
       struct.pack("<8Q", none, none, none, none, none, none, none,
                   len(caps)))
w.write(hdr + caps)
w.close()
PY
) > /dev/null 2>&1 &
expect_error "zbsrc: the writer sent caps that do not parse" \
  "The writer of buffer \"$name-4\" sent invalid caps." \
  gst-launch-1.0 zbsrc buffer-name=$name-4 payload-size=65536 ! fakesink
wait

# metadata announces the gst frame format, frames are plain bytes
( sleep 1.5
  "$cli" writer $name-5 -n 3 -s 100 --connect-timeout-ms 5000 \
    -m '{"caps":"application/octet-stream","frame_format":"gst"}' \
    > /dev/null 2>&1 ) &
expect_error "zbsrc: a frame that is not a gst record" \
  "Invalid frame in buffer \"$name-5\"." \
  gst-launch-1.0 zbsrc buffer-name=$name-5 payload-size=65536 ! fakesink
wait
no_leftovers "after the zbsrc cases"

# --- zbsink --------------------------------------------------------------

expect_error "zbsink without buffer-name" \
  'No buffer name set: set the buffer-name property.' \
  gst-launch-1.0 fakesrc num-buffers=1 ! zbsink

# a second writer while a live one is connected
"$cli" reader $name-6 --payload-size 64K --wait-writer-ms 20000 \
  --timeout-ms 20000 > /dev/null 2>&1 &
rpid=$!
sleep 0.3
"$cli" writer $name-6 -n 1000000 -s 100 --delay-ms 5 \
  --connect-timeout-ms 5000 > /dev/null 2>&1 &
wpid=$!
sleep 0.5
expect_error "zbsink: another live writer" \
  "Buffer \"$name-6\" already has a live writer." \
  gst-launch-1.0 fakesrc num-buffers=1 sizetype=fixed sizemax=10 \
  ! zbsink buffer-name=$name-6 connect-timeout=2000
kill $wpid 2> /dev/null
wait $wpid 2> /dev/null
kill $rpid 2> /dev/null
wait $rpid 2> /dev/null

# caps larger than the reader's metadata block
"$cli" reader $name-7 --payload-size 64K --metadata-size 64 \
  --wait-writer-ms 10000 > /dev/null 2>&1 &
rpid=$!
sleep 0.3
expect_error "zbsink: caps do not fit in the metadata block" \
  "The caps do not fit in the metadata block of buffer \"$name-7\"; raise metadata-size on the reader." \
  gst-launch-1.0 videotestsrc num-buffers=1 \
  ! video/x-raw,format=I420,width=64,height=48 \
  ! zbsink buffer-name=$name-7 connect-timeout=5000
kill $rpid 2> /dev/null
wait $rpid 2> /dev/null

# a reader that stops reading: the ring stays full past write-timeout
gst-launch-1.0 zbsrc buffer-name=$name-8 payload-size=65536 \
  ! fakesink > /dev/null 2>&1 &
rpid=$!
sleep 0.5
kill -STOP $rpid
expect_error "zbsink: the reader freed no space within write-timeout" \
  "The reader of buffer \"$name-8\" freed no space within 300 ms." \
  gst-launch-1.0 fakesrc num-buffers=100 sizetype=fixed sizemax=10000 \
  ! zbsink buffer-name=$name-8 write-timeout=300 connect-timeout=5000
kill -CONT $rpid
kill -INT $rpid 2> /dev/null
wait $rpid 2> /dev/null

# /dev/shm/NAME is not a ZeroBuffer segment
head -c 4096 /dev/urandom > /dev/shm/$name-9
expect_error "zbsink: /dev/shm/NAME is not a ZeroBuffer segment" \
  "Could not connect to buffer \"$name-9\"." \
  gst-launch-1.0 fakesrc num-buffers=1 ! zbsink buffer-name=$name-9 \
  connect-timeout=0
rm -f /dev/shm/$name-9
no_leftovers "after the zbsink cases"

echo "1..$n"
[ $failed -eq 0 ]
