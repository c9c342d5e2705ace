#!/bin/bash
# Build the Debian packages (debian/) from a copy of the source tree and use
# them the way a user would, without installing them on this machine:
#   - dpkg-buildpackage -b -us -uc builds libzerobuffer0, libzerobuffer-dev,
#     gstreamer1.0-zerobuffer, zerobuffer-tools and python3-zerobuffer, at
#     the version of meson.build; lintian reports no error;
#   - dpkg -c: each file in its package, in the system's directories;
#   - the packages extracted (dpkg -x) into a temporary root, nothing else
#     pointing at the build tree:
#       gst-inspect-1.0 zbsink loads the extracted plugin, which names its
#         package;
#       the extracted CLI runs, and a reader/writer round trip passes;
#       python3 imports the extracted binding, which finds the extracted
#         libzerobuffer.so.0 by soname (no ZEROBUFFER_LIBRARY), and reads
#         what a gst-launch-1.0 zbsink with the extracted plugin writes.
# Skips (77) when the packaging tools or build dependencies are missing
# (scripts/packages.txt lists them).
#
#   deb.sh SOURCE-DIR BUILD-DIR
set -u

src=$1
build=$2
tmp=$(mktemp -d)
name="zbt-$$-deb"
pids=()

cleanup() {
  for p in "${pids[@]}"; do
    kill "$p" 2> /dev/null
  done
  rm -rf "$tmp"
  for n in "$name-cli" "$name-gst"; do
    rm -f "/dev/shm/$n" "/dev/shm/sem.sem-w-$n" "/dev/shm/sem.sem-r-$n" \
      "/tmp/zerobuffer/$n.lock"
  done
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
  echo "FAIL: $*"
  exit 1
}

skip() {
  echo "SKIP: $*"
  exit 77
}

for tool in dpkg-buildpackage dpkg-checkbuilddeps dh lintian gst-inspect-1.0 \
    gst-launch-1.0; do
  command -v "$tool" > /dev/null || skip "$tool is not installed"
done
[ -x /usr/bin/python3 ] || skip "/usr/bin/python3 is not installed"
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
version=$(meson introspect --projectinfo "$build" |
  /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')

echo "== a copy of the source tree"
work=$tmp/src/zerobuffer
mkdir -p "$work"
if git -C "$src" rev-parse --is-inside-work-tree > /dev/null 2>&1; then
  # Tracked files and new ones not ignored: what would be committed.
  git -C "$src" ls-files -z --cached --others --exclude-standard |
    (cd "$src" && tar --null -T - -cf - 2> /dev/null) | tar -xf - -C "$work" ||
    fail "copy of $src"
else
  tar -C "$src" --exclude='./build*' --exclude='./obj-*' -cf - . |
    tar -xf - -C "$work" || fail "copy of $src"
fi
cd "$work" || fail "cd $work"
dpkg-checkbuilddeps > "$tmp/deps.log" 2>&1 ||
  skip "$(sed 's/^dpkg-checkbuilddeps: error: //' "$tmp/deps.log")"

changelog=$(dpkg-parsechangelog -S Version)
[ "$changelog" = "$version" ] ||
  fail "debian/changelog says $changelog, meson.build $version"
echo "debian/changelog and meson.build: $version"

echo "== dpkg-buildpackage -b -us -uc"
start=$SECONDS
dpkg-buildpackage -b -us -uc -j"$(nproc)" > "$tmp/build.log" 2>&1 ||
  { tail -40 "$tmp/build.log"; fail "dpkg-buildpackage"; }
echo "built in $((SECONDS - start)) s"
grep -A20 '^dpkg-gensymbols: warning' "$tmp/build.log" | head -30
cd "$tmp/src" || fail "cd $tmp/src"
changes=zerobuffer_${version}_$(dpkg-architecture -qDEB_HOST_ARCH).changes
[ -f "$changes" ] || fail "no $changes"

declare -A deb
for p in libzerobuffer0 libzerobuffer-dev gstreamer1.0-zerobuffer \
    zerobuffer-tools python3-zerobuffer; do
  f=$(ls "${p}_${version}"_*.deb 2> /dev/null)
  [ -n "$f" ] || fail "package $p not built"
  deb[$p]=$f
  echo "built: $f"
done

echo "== lintian"
lintian --pedantic "$changes" > "$tmp/lintian.log" 2>&1
grep -v '^running with root privileges' "$tmp/lintian.log"
if grep -q '^E:' "$tmp/lintian.log"; then
  fail "lintian reports errors"
fi
echo "lintian: $(grep -c '^E:' "$tmp/lintian.log") errors," \
  "$(grep -c '^W:' "$tmp/lintian.log") warnings"

echo "== contents (dpkg -c)"
# has PACKAGE PATH: PATH (a file or a symbolic link) is in PACKAGE.
has() {
  dpkg-deb -c "${deb[$1]}" | awk '{print $6}' | grep -qx "\./$2" ||
    fail "$1 does not contain /$2"
  echo "$1: /$2"
}
has libzerobuffer0 "usr/lib/$ma/libzerobuffer.so.0"
has libzerobuffer0 "usr/lib/$ma/libzerobuffer.so.$version"
has libzerobuffer-dev usr/include/zerobuffer/zerobuffer.h
has libzerobuffer-dev "usr/lib/$ma/libzerobuffer.so"
has libzerobuffer-dev "usr/lib/$ma/pkgconfig/zerobuffer.pc"
has gstreamer1.0-zerobuffer "usr/lib/$ma/gstreamer-1.0/libgstzerobuffer.so"
for b in zerobuffer zerobuffer-test-reader zerobuffer-test-writer \
    zerobuffer-test-relay; do
  has zerobuffer-tools "usr/bin/$b"
done
has zerobuffer-tools usr/share/man/man1/zerobuffer.1.gz
has python3-zerobuffer usr/lib/python3/dist-packages/zerobuffer.py
# Nothing of one package in another: the runtime library has no link or
# header, the others no copy of the library.
for p in "${!deb[@]}"; do
  list=$(dpkg-deb -c "${deb[$p]}" | awk '{print $6}')
  if [ "$p" != libzerobuffer0 ] && grep -q 'libzerobuffer\.so\.0' <<< "$list"
  then
    fail "$p carries the shared library"
  fi
  if [ "$p" != libzerobuffer-dev ] &&
      grep -qE '\.pc$|\.h$|libzerobuffer\.so$' <<< "$list"; then
    fail "$p carries development files"
  fi
done
depends() {
  dpkg-deb -f "${deb[$1]}" Depends | grep -q "$2" ||
    fail "$1 does not depend on $2: $(dpkg-deb -f "${deb[$1]}" Depends)"
  echo "$1 depends on $2"
}
depends gstreamer1.0-zerobuffer 'libzerobuffer0 (>= '
depends gstreamer1.0-zerobuffer libgstreamer1.0-0
depends zerobuffer-tools 'libzerobuffer0 (>= '
depends python3-zerobuffer 'libzerobuffer0 (>= '
depends python3-zerobuffer python3
depends libzerobuffer-dev "libzerobuffer0 (= $version)"
[ "$(dpkg-deb -f "${deb[python3-zerobuffer]}" Architecture)" = all ] ||
  fail "python3-zerobuffer is not Architecture: all"

echo "== extract into a temporary root (dpkg -x)"
root=$tmp/root
for p in "${!deb[@]}"; do
  dpkg-deb -x "${deb[$p]}" "$root" || fail "dpkg -x ${deb[$p]}"
done
lib=$root/usr/lib/$ma
plugins=$lib/gstreamer-1.0
for f in "$root/usr/bin/zerobuffer" "$lib/libzerobuffer.so.0" \
    "$plugins/libgstzerobuffer.so"; do
  # Built with the build tree's run path, the files would load the build
  # tree's library instead of the packaged one.
  readelf -d "$f" | grep -qE 'RPATH|RUNPATH' && fail "${f#$root} has a run path"
done
export LD_LIBRARY_PATH=$lib
unset ZEROBUFFER_LIBRARY GST_PLUGIN_PATH GST_PLUGIN_PATH_1_0
export GST_REGISTRY=$tmp/registry.bin

echo "== gst-inspect-1.0 zbsink, the extracted plugin only"
GST_PLUGIN_SYSTEM_PATH_1_0=$plugins GST_PLUGIN_SYSTEM_PATH=$plugins \
  timeout 30 gst-inspect-1.0 zbsink > "$tmp/inspect.log" 2>&1 ||
  { cat "$tmp/inspect.log"; fail "gst-inspect-1.0 zbsink"; }
grep -q "Filename *$plugins/libgstzerobuffer.so" "$tmp/inspect.log" ||
  { grep Filename "$tmp/inspect.log"; fail "zbsink not from the package"; }
grep -q "Binary package *gstreamer1.0-zerobuffer" "$tmp/inspect.log" ||
  { grep "Binary package" "$tmp/inspect.log"; fail "plugin names another package"; }
grep -E 'Filename|Version|Binary package|Origin URL' "$tmp/inspect.log"
rm -f "$GST_REGISTRY"

echo "== the extracted CLI"
cli=$root/usr/bin/zerobuffer
"$cli" --help > "$tmp/help.log" 2>&1 || { cat "$tmp/help.log"; fail "zerobuffer --help"; }
head -1 "$tmp/help.log"
"$root/usr/bin/zerobuffer-test-reader" --payload-size 1M -n 200 -s 4096 \
  --verify sequential --wait-writer-ms 20000 "$name-cli" \
  > "$tmp/reader.log" 2>&1 &
pids+=($!)
reader=$!
"$cli" writer "$name-cli" --connect-timeout-ms 10000 -n 200 -s 4096 \
  --pattern sequential > "$tmp/writer.log" 2>&1 ||
  { cat "$tmp/writer.log"; fail "zerobuffer writer"; }
wait "$reader" || { cat "$tmp/reader.log"; fail "zerobuffer-test-reader"; }
echo "round trip: 200 frames of 4 KiB written by zerobuffer writer, verified" \
  "by zerobuffer-test-reader"

echo "== the extracted Python binding"
export PYTHONPATH=$root/usr/lib/python3/dist-packages
cd "$tmp" || fail "cd $tmp"
/usr/bin/python3 -c '
import sys, zerobuffer
print(zerobuffer.__file__)
assert zerobuffer.__file__.startswith(sys.argv[1]), "not the package"
maps = [l.split()[-1] for l in open("/proc/self/maps") if "libzerobuffer" in l]
print(sorted(set(maps)))
assert maps and all(m.startswith(sys.argv[1]) for m in maps), "library"
' "$root/" || fail "python3 -c 'import zerobuffer'"

echo "== gst-launch-1.0 zbsink (extracted plugin) to a Python reader"
cat > "$tmp/reader.py" << 'EOF'
import sys
import zerobuffer

name, want = sys.argv[1], int(sys.argv[2])
buffers = 0
caps = None
with zerobuffer.Reader(name, payload_size=1 << 20) as reader:
    print("ready", flush=True)
    while True:
        with reader.read(timeout_ms=20000) as frame:
            if frame.kind == "eos":
                break
            if frame.kind == "buffer":
                assert len(frame.payload) == 64 * 48, len(frame.payload)
                caps = reader.caps()
                buffers += 1
print("buffers", buffers, "caps", caps)
assert buffers == want, buffers
assert caps.startswith("video/x-raw,") and "GRAY8" in caps, caps
EOF
/usr/bin/python3 -u "$tmp/reader.py" "$name-gst" 20 > "$tmp/py.log" 2>&1 &
pids+=($!)
pyreader=$!
for _ in $(seq 100); do
  grep -q ready "$tmp/py.log" && break
  sleep 0.1
done
GST_PLUGIN_SYSTEM_PATH_1_0=$plugins:/usr/lib/$ma/gstreamer-1.0 \
  timeout 60 gst-launch-1.0 -q videotestsrc num-buffers=20 \
  ! video/x-raw,format=GRAY8,width=64,height=48 \
  ! zbsink buffer-name="$name-gst" > "$tmp/gst.log" 2>&1 ||
  { cat "$tmp/gst.log"; fail "gst-launch-1.0 ... zbsink"; }
wait "$pyreader" || { cat "$tmp/py.log"; fail "Python reader"; }
tail -1 "$tmp/py.log"
echo PASS
