#!/bin/bash
# meson install into a temporary DESTDIR, then use only what was installed:
#   - the library, header, pkg-config file, CLI (and its reference-tool
#     names) and plugin are where the prefix says;
#   - gst-inspect-1.0 finds zbsink in the installed plugin directory (with
#     no other plugin directory on the path);
#   - the example reader and writer build against the installed pkg-config
#     file and run a round trip on the installed library;
#   - the installed CLI runs.
#
#   install.sh BUILD-DIR SOURCE-DIR PREFIX LIBDIR BINDIR INCLUDEDIR
set -u

build=$1
src=$2
prefix=$3
libdir=$4
bindir=$5
includedir=$6
tmp=$(mktemp -d)
dest=$tmp/dest
name="zbt-$$-install"

cleanup() {
  rm -rf "$tmp"
  rm -f "/dev/shm/$name" "/dev/shm/sem.sem-w-$name" "/dev/shm/sem.sem-r-$name" \
    "/tmp/zerobuffer/$name.lock"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
  echo "FAIL: $*"
  exit 1
}

# Relative directory options are relative to the prefix.
abs() {
  case $1 in
    /*) echo "$1" ;;
    *) echo "$prefix/$1" ;;
  esac
}
lib=$dest$(abs "$libdir")
bin=$dest$(abs "$bindir")
inc=$dest$(abs "$includedir")

# DESTDIR in the environment: meson install --destdir is meson 0.57+
echo "== DESTDIR=$dest meson install (prefix $prefix)"
DESTDIR="$dest" meson install -C "$build" --no-rebuild \
  > "$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "meson install"; }

for f in "$lib/libzerobuffer.so" "$lib/libzerobuffer.so.0" \
    "$inc/zerobuffer/zerobuffer.h" "$lib/pkgconfig/zerobuffer.pc" \
    "$bin/zerobuffer" "$bin/zerobuffer-test-reader" \
    "$bin/zerobuffer-test-writer" "$bin/zerobuffer-test-relay"; do
  [ -e "$f" ] || fail "not installed: ${f#$dest}"
  echo "installed: ${f#$dest}"
done
[ -x "$bin/zerobuffer" ] || fail "the CLI is not executable"

export LD_LIBRARY_PATH="$lib"

if [ -e "$build/gst/libgstzerobuffer.so" ]; then
  plugin="$lib/gstreamer-1.0/libgstzerobuffer.so"
  [ -e "$plugin" ] || fail "plugin not installed in ${lib#$dest}/gstreamer-1.0"
  echo "installed: ${plugin#$dest}"
  mkdir -p "$tmp/no-system-plugins"
  GST_REGISTRY="$tmp/registry.bin" \
    GST_PLUGIN_SYSTEM_PATH_1_0="$tmp/no-system-plugins" \
    GST_PLUGIN_PATH_1_0="$lib/gstreamer-1.0" \
    timeout 30 gst-inspect-1.0 zbsink > "$tmp/inspect.log" 2>&1 ||
    { cat "$tmp/inspect.log"; fail "gst-inspect-1.0 zbsink"; }
  grep -q "ZeroBuffer sink" "$tmp/inspect.log" || fail "zbsink not described"
  grep -q "Filename *$plugin" "$tmp/inspect.log" ||
    { grep Filename "$tmp/inspect.log"; fail "zbsink not from $plugin"; }
  echo "gst-inspect-1.0 zbsink: loaded from ${plugin#$dest}"
else
  echo "no GStreamer plugin in this build: plugin checks skipped"
fi

echo "== build the example reader and writer against the installed zerobuffer.pc"
export PKG_CONFIG_PATH="$lib/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$dest"
flags=$(pkg-config --cflags --libs zerobuffer) || fail "pkg-config zerobuffer"
echo "pkg-config --cflags --libs zerobuffer: $flags"
case $flags in
  *"-I$inc"* | *"-L$lib"*) ;;
  *) fail "pkg-config flags do not point into the installed tree" ;;
esac
for p in reader writer; do
  # shellcheck disable=SC2086
  cc -std=gnu11 -Wall -Werror -o "$tmp/zb-demo-$p" \
    "$src/examples/zb-demo-$p.c" $flags || fail "cannot build zb-demo-$p"
done
ldd "$tmp/zb-demo-reader" | grep -q "libzerobuffer.so.0 => $lib/" ||
  { ldd "$tmp/zb-demo-reader"; fail "not linked to the installed library"; }

echo "== round trip on the installed library"
"$src/examples/roundtrip.sh" "$tmp/zb-demo-reader" "$tmp/zb-demo-writer" 1M \
  -n 200 -s 64k || fail "round trip"

echo "== the installed CLI"
"$bin/zerobuffer" --help > "$tmp/cli.log" 2>&1 ||
  { cat "$tmp/cli.log"; fail "zerobuffer --help"; }
head -3 "$tmp/cli.log"
echo PASS
