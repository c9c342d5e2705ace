#!/usr/bin/env bash
# Our readers and writers against the protocol authors' own Python package
# (github.com/modelingevolution/zerobuffer, folder python/), real processes
# and real shared memory, every frame compared by SHA-1:
#   1. zbsink frame-format=raw (gst-launch-1.0) -> their Reader
#   2. our binding's Writer -> their Reader
#   3. their Writer -> our binding's Reader
#   4. their Writer -> zbsrc (caps from their metadata) -> filesink
#   5. their Reader killed -9 while zbsink writes: zbsink reports it
#   6. zbfilter frame-format=raw (gst-launch-1.0) -> their immutable duplex
#      server (Python) -> back through zbfilter -> filesink
#   6b. their duplex client (Python) -> our C example server
#       (zb-duplex-invert), frames of six sizes
#   7. zbsink frame-format=raw -> their C++ Reader (theirs.cpp)
#   8. their C++ Writer -> our binding's Reader
# Rows 7 and 8 build their C++ library (CMake, Boost from Debian) into a
# temporary directory, or use $ZB_UPSTREAM_DIR/cpp-build/libzerobuffer.a.
# Ring sizes are not multiples of the frame sizes, and the rings wrap.
#
#   ZB_UPSTREAM_DIR=DIR tests/interop/run.sh BUILD_DIR
#
# DIR holds their python/ and cpp/ folders (e.g. `git archive HEAD python | tar -x -C
# DIR`, with cpp as well, in a clone of theirs). Without ZB_UPSTREAM_DIR the test is skipped
# (exit 77): their package is not in Debian, so CI has no copy of it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../../build}" && pwd)
if [ -z "${ZB_UPSTREAM_DIR:-}" ] || [ ! -d "$ZB_UPSTREAM_DIR/python/zerobuffer" ]; then
  echo "SKIP: set ZB_UPSTREAM_DIR to a directory holding the protocol authors' python/ folder"
  exit 77
fi
export ZEROBUFFER_LIBRARY=$build/lib/libzerobuffer.so
export GST_PLUGIN_PATH_1_0=$build/gst
export GST_REGISTRY_1_0=$(mktemp -d /tmp/zbinterop.XXXXXX)/registry.bin
tmp=$(dirname "$GST_REGISTRY_1_0")
base="zbinterop-$$"
fail=0
cleanup() {
  kill $(jobs -p) 2>/dev/null || true
  wait 2>/dev/null || true
  rm -f /dev/shm/"$base"* /dev/shm/sem.sem-?-"$base"* /dev/shm/zbpool-"$base"* \
    /tmp/zerobuffer/"$base"*
  rm -rf "$tmp"
}
trap cleanup EXIT
get() { sed -n "s/^$1=//p" "$2" | head -1; }
ok() { echo "ok $1"; }
bad() { echo "FAIL $1: $2"; fail=1; }
# wait_ready FILE: their/our reader printed "ready" (10 s)
wait_ready() {
  local i
  for i in $(seq 100); do grep -q '^ready' "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}
# leftovers NAME: what the readers left in /dev/shm
leftovers() { ls /dev/shm | grep -F -- "$1" || true; }

# 1. zbsink raw -> their Reader: 120 I420 320x240 frames (115,200 bytes)
# in a ring of 1,000,003 bytes
n=$base-1
caps="video/x-raw,format=I420,width=320,height=240,framerate=30/1"
timeout 60 python3 "$here/theirs.py" read "$n" 120 1000003 >"$tmp/1.out" 2>"$tmp/1.err" &
r=$!
if wait_ready "$tmp/1.out"; then
  timeout 60 gst-launch-1.0 -q videotestsrc num-buffers=120 pattern=ball ! "$caps" ! \
    zbsink buffer-name="$n" frame-format=raw connect-timeout=10000 2>"$tmp/1.gst" || true
fi
wait $r || true
gst-launch-1.0 -q videotestsrc num-buffers=120 pattern=ball ! "$caps" ! \
  filesink location="$tmp/1.ref"
want=$(sha1sum <"$tmp/1.ref" | cut -d' ' -f1)
if [ "$(get frames "$tmp/1.out")" = 120 ] && [ "$(get sha1 "$tmp/1.out")" = "$want" ] &&
  get metadata "$tmp/1.out" | grep -q '"caps":"video/x-raw, format=(string)I420'; then
  ok "1 zbsink raw -> their Reader: 120 frames, bytes and caps metadata equal"
else
  bad 1 "$(cat "$tmp/1.out" "$tmp/1.err" "$tmp/1.gst" | tail -5)"
fi
# their Reader does not remove its semaphores on close (their
# LinuxSemaphore.close() forgets the handle that unlink() needs)
left=$(leftovers "$n")
echo "  their Reader left behind: ${left:-nothing}"
# 1b. `zerobuffer clean NAME` removes what their Reader left (one copy of
# it: row 3 reuses the name with the semaphores left in place)
n=$base-1b
timeout 60 python3 "$here/theirs.py" read "$n" 0 100003 >/dev/null 2>&1 || true
"$build/tools/zerobuffer" clean "$n" >/dev/null
left=$(leftovers "$n")
[ -z "$left" ] && ok "1b zerobuffer clean removed their Reader's leftovers" ||
  bad 1b "left: $left"

# 2. our Writer -> their Reader: 300 frames of sizes 1..70,001 in 300,007
n=$base-2
sizes=70001,1,4096,33333,65536,12345
timeout 60 python3 "$here/theirs.py" read "$n" 300 300007 >"$tmp/2.out" 2>"$tmp/2.err" &
r=$!
if wait_ready "$tmp/2.out"; then
  timeout 60 python3 "$here/ours.py" write "$n" 300 $sizes >"$tmp/2.w" 2>"$tmp/2.werr" || true
fi
wait $r || true
if [ "$(get frames "$tmp/2.out")" = 300 ] && [ -n "$(get sha1 "$tmp/2.w")" ] &&
  [ "$(get sha1 "$tmp/2.out")" = "$(get sha1 "$tmp/2.w")" ] &&
  [ "$(get metadata "$tmp/2.out")" = interop ]; then
  ok "2 our Writer -> their Reader: 300 frames of 6 sizes, bytes and metadata equal"
else
  bad 2 "$(cat "$tmp/2.out" "$tmp/2.err" "$tmp/2.w" "$tmp/2.werr" | tail -5)"
fi

# 3. their Writer -> our Reader, same frames; the name of 1 again, where
# their Reader left its semaphores: ours replaces them
n=$base-1
timeout 60 python3 "$here/ours.py" read "$n" 300 300007 >"$tmp/3.out" 2>"$tmp/3.err" &
r=$!
if wait_ready "$tmp/3.out"; then
  timeout 60 python3 "$here/theirs.py" write "$n" 300 $sizes >"$tmp/3.w" 2>"$tmp/3.werr" || true
fi
wait $r || true
if [ "$(get frames "$tmp/3.out")" = 300 ] && [ -n "$(get sha1 "$tmp/3.w")" ] &&
  [ "$(get sha1 "$tmp/3.out")" = "$(get sha1 "$tmp/3.w")" ]; then
  ok "3 their Writer -> our Reader: 300 frames of 6 sizes, bytes equal"
else
  bad 3 "$(cat "$tmp/3.out" "$tmp/3.err" "$tmp/3.w" "$tmp/3.werr" | tail -5)"
fi
left=$(leftovers "$n")
[ -z "$left" ] && ok "3 our Reader removed its objects" || bad 3 "left: $left"

# 4. their Writer -> zbsrc: 100 GRAY8 64x48 frames, caps from their metadata
n=$base-4
timeout 60 gst-launch-1.0 -q zbsrc buffer-name="$n" payload-size=100003 \
  on-writer-lost=eos ! video/x-raw,format=GRAY8,width=64,height=48 ! \
  filesink location="$tmp/4.bin" >"$tmp/4.gst" 2>&1 &
r=$!
for i in $(seq 100); do [ -e "/dev/shm/$n" ] && break; sleep 0.1; done
timeout 60 python3 "$here/theirs.py" write "$n" 100 3072 >"$tmp/4.w" 2>"$tmp/4.werr" || true
wait $r || true
if [ -n "$(get sha1 "$tmp/4.w")" ] &&
  [ "$(sha1sum <"$tmp/4.bin" | cut -d' ' -f1)" = "$(get sha1 "$tmp/4.w")" ]; then
  ok "4 their Writer -> zbsrc -> filesink: 100 frames, bytes equal, caps from their metadata"
else
  bad 4 "$(cat "$tmp/4.gst" "$tmp/4.w" "$tmp/4.werr" | tail -5)"
fi

# 5. their Reader killed -9 while zbsink writes live frames: zbsink says so
# (no timeout wrapper: the kill goes to the reader itself)
n=$base-5
python3 "$here/theirs.py" read "$n" 1000000 1000003 >"$tmp/5.out" 2>"$tmp/5.err" &
r=$!
if wait_ready "$tmp/5.out"; then
  GST_DEBUG=zbsink:4 GST_DEBUG_NO_COLOR=1 timeout 20 gst-launch-1.0 -q \
    videotestsrc is-live=true num-buffers=150 ! "$caps" ! \
    zbsink buffer-name="$n" frame-format=raw >"$tmp/5.gst" 2>&1 &
  w=$!
  sleep 2
  kill -9 $r
  wait $r 2>/dev/null || true
  t0=$(date +%s%N)
  for i in $(seq 50); do grep -q "lost" "$tmp/5.gst" && break; sleep 0.1; done
  t1=$(date +%s%N)
  if grep -q "reader .* lost" "$tmp/5.gst"; then
    ok "5 their Reader killed: zbsink reported it within $(((t1 - t0) / 1000000)) ms"
  else
    bad 5 "$(tail -5 "$tmp/5.gst")"
  fi
  kill -INT $w 2>/dev/null || true
  wait $w 2>/dev/null || true
else
  bad 5 "their reader did not start: $(tail -3 "$tmp/5.err")"
fi

# 6. zbfilter -> their duplex server, which inverts every byte: 50 GRAY8
# 64x48 frames; the file must hold the inverted frames
n=$base-6
caps6="video/x-raw,format=GRAY8,width=64,height=48,framerate=30/1"
timeout 60 python3 "$here/theirs.py" serve "$n" 50 100003 >"$tmp/6.out" 2>"$tmp/6.err" &
r=$!
if wait_ready "$tmp/6.out"; then
  timeout 60 gst-launch-1.0 -q videotestsrc num-buffers=50 pattern=ball ! "$caps6" ! \
    zbfilter channel-name="$n" frame-format=raw ! filesink location="$tmp/6.bin" \
    >"$tmp/6.gst" 2>&1 || true
fi
wait $r || true
gst-launch-1.0 -q videotestsrc num-buffers=50 pattern=ball ! "$caps6" ! \
  filesink location="$tmp/6.ref"
want=$(python3 -c 'import sys; d = open(sys.argv[1], "rb").read(); sys.stdout.buffer.write(d.translate(bytes(255 - i for i in range(256))))' "$tmp/6.ref" | sha1sum | cut -d' ' -f1)
if [ "$(get served "$tmp/6.out")" = 50 ] && [ "$(stat -c %s "$tmp/6.bin" 2>/dev/null)" = 153600 ] &&
  [ "$(sha1sum <"$tmp/6.bin" | cut -d' ' -f1)" = "$want" ]; then
  ok "6 zbfilter -> their duplex server: 50 requests answered, responses equal"
else
  bad 6 "$(cat "$tmp/6.out" "$tmp/6.err" "$tmp/6.gst" | tail -5)"
fi
left=$(leftovers "$n")
echo "  after the duplex pair: ${left:-nothing} left"

# 6b. their duplex client -> our C example server, which inverts every byte
n=$base-6b
"$build/examples/zb-duplex-invert" -n "$n" >"$tmp/6b.srv" 2>&1 &
s6=$!
for i in $(seq 100); do [ -e "/dev/shm/${n}_request" ] && break; sleep 0.1; done
timeout 60 python3 "$here/theirs.py" client "$n" 60 $sizes >"$tmp/6b.out" 2>"$tmp/6b.err" || true
kill -INT $s6 2>/dev/null || true
wait $s6 2>/dev/null || true
if [ "$(get answered "$tmp/6b.out")" = 60 ]; then
  ok "6b their duplex client -> our C server: 60 requests of 6 sizes answered, all equal"
else
  bad 6b "$(cat "$tmp/6b.out" "$tmp/6b.err" "$tmp/6b.srv" | tail -5)"
fi

# their C++ library and the driver
cpp=$ZB_UPSTREAM_DIR/cpp
lib=$ZB_UPSTREAM_DIR/cpp-build/libzerobuffer.a
if [ ! -f "$lib" ] && [ -d "$cpp" ]; then
  lib=$tmp/cpp-build/libzerobuffer.a
  cmake -S "$cpp" -B "$tmp/cpp-build" -DBUILD_SERVE=OFF -DCMAKE_BUILD_TYPE=Release \
    >"$tmp/cmake.log" 2>&1 && make -C "$tmp/cpp-build" -j2 zerobuffer >"$tmp/make.log" 2>&1 ||
    lib=
fi
if [ -n "$lib" ] && [ -f "$lib" ] &&
  g++ -std=c++17 -O2 -I "$cpp/include" "$here/theirs.cpp" "$lib" -lboost_log \
    -lboost_log_setup -lboost_thread -lboost_filesystem -lpthread -lrt \
    -o "$tmp/theirs-cpp" 2>"$tmp/gxx.log"; then
  # 7. zbsink raw -> their C++ Reader, as row 1
  n=$base-7
  timeout 60 "$tmp/theirs-cpp" read "$n" 120 1000003 "$tmp/7.bin" >"$tmp/7.out" 2>"$tmp/7.err" &
  r=$!
  if wait_ready "$tmp/7.out"; then
    timeout 60 gst-launch-1.0 -q videotestsrc num-buffers=120 pattern=ball ! "$caps" ! \
      zbsink buffer-name="$n" frame-format=raw connect-timeout=10000 2>"$tmp/7.gst" || true
  fi
  wait $r || true
  if [ "$(get frames "$tmp/7.out")" = 120 ] &&
    [ "$(sha1sum <"$tmp/7.bin" | cut -d' ' -f1)" = "$(sha1sum <"$tmp/1.ref" | cut -d' ' -f1)" ]; then
    ok "7 zbsink raw -> their C++ Reader: 120 frames, bytes equal"
  else
    bad 7 "$(cat "$tmp/7.out" "$tmp/7.err" "$tmp/7.gst" | tail -5)"
  fi
  # 8. their C++ Writer -> our Reader, the frames of rows 2 and 3
  n=$base-8
  timeout 60 python3 "$here/ours.py" read "$n" 300 300007 >"$tmp/8.out" 2>"$tmp/8.err" &
  r=$!
  if wait_ready "$tmp/8.out"; then
    timeout 60 "$tmp/theirs-cpp" write "$n" 300 $sizes >"$tmp/8.w" 2>"$tmp/8.werr" || true
  fi
  wait $r || true
  want=$(python3 "$here/ours.py" expect 300 $sizes | sed -n 's/^sha1=//p')
  if [ "$(get frames "$tmp/8.out")" = 300 ] && [ "$(get sha1 "$tmp/8.out")" = "$want" ]; then
    ok "8 their C++ Writer -> our Reader: 300 frames of 6 sizes, bytes equal"
  else
    bad 8 "$(cat "$tmp/8.out" "$tmp/8.err" "$tmp/8.w" "$tmp/8.werr" | tail -5)"
  fi
else
  echo "SKIP 7 and 8: their C++ library could not be built (cpp/ missing, or CMake, Boost or g++)"
fi

[ $fail = 0 ] && echo "interop: all passed" || echo "interop: FAILED"
exit $fail
