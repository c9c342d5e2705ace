#!/bin/bash
# pip install ./python into a new virtual environment, offline: the build
# backend (setuptools, wheel) comes from Debian's wheels in
# /usr/share/python-wheels (python3-venv, python3-wheel-whl), as README.md
# "Packages" documents. Then, outside the source tree and with no
# PYTHONPATH, the environment's python imports the installed module at
# meson.build's version and runs a write/read round trip on this build's
# library (found by soname through LD_LIBRARY_PATH).
# Skips (77) when python3-venv or the wheels are missing.
#
#   pip-install.sh SOURCE-DIR BUILD-DIR
set -u

src=$1
build=$2
tmp=$(mktemp -d)
name="zbt-$$-pip"

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

wheels=/usr/share/python-wheels
/usr/bin/python3 -c 'import ensurepip, venv' 2> /dev/null ||
  { echo "SKIP: python3-venv is not installed"; exit 77; }
for w in setuptools wheel; do
  ls "$wheels/$w"-*.whl > /dev/null 2>&1 ||
    { echo "SKIP: no $w wheel in $wheels (python3-venv, python3-wheel-whl)"; exit 77; }
done
# python/pyproject.toml's [project] table needs setuptools 61 (Debian 12
# has 66; Debian 11's wheel is 44, so there pip needs PyPI)
st=$(ls "$wheels"/setuptools-*.whl | sed -n '1s/.*setuptools-\([0-9]*\)\..*/\1/p')
[ "${st:-0}" -ge 61 ] ||
  { echo "SKIP: the setuptools wheel in $wheels is older than 61 ($(ls "$wheels" |
      grep setuptools)): pyproject.toml's [project] table needs 61"; exit 77; }
version=$(meson introspect --projectinfo "$build" |
  /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')

# A copy: setuptools writes build/ and *.egg-info next to the sources.
cp -r "$src/python" "$tmp/python" || fail "copy of $src/python"
rm -rf "$tmp/python/build" "$tmp/python"/*.egg-info

echo "== python3 -m venv; pip install --no-index --find-links $wheels ./python"
/usr/bin/python3 -m venv "$tmp/venv" || fail "python3 -m venv"
cd "$tmp" || fail "cd $tmp"
env -u PIP_FIND_LINKS -u PYTHONPATH PIP_DISABLE_PIP_VERSION_CHECK=1 \
  "$tmp/venv/bin/pip" install --no-index --find-links "$wheels" ./python \
  > "$tmp/pip.log" 2>&1 || { cat "$tmp/pip.log"; fail "pip install ./python"; }
tail -1 "$tmp/pip.log"

echo "== the installed module"
rm -rf "$tmp/python"
env -u PYTHONPATH -u ZEROBUFFER_LIBRARY LD_LIBRARY_PATH="$build/lib" \
  "$tmp/venv/bin/python" - "$tmp/venv" "$version" "$name" << 'EOF' ||
import importlib.metadata
import os
import sys

import zerobuffer

venv, version, name = sys.argv[1:]
print(zerobuffer.__file__)
assert zerobuffer.__file__.startswith(venv + "/"), "not the installed module"
got = importlib.metadata.version("zerobuffer")
assert got == version, "pyproject.toml says %s, meson.build %s" % (got,
                                                                 version)
print("version", got)
with zerobuffer.Reader(name, payload_size=1 << 16) as reader:
    with zerobuffer.Writer(name) as writer:
        for i in range(10):
            writer.write(bytes([i]) * 100)
    for i in range(10):
        with reader.read(timeout_ms=5000) as frame:
            assert bytes(frame.data) == bytes([i]) * 100, i
print("round trip: 10 frames")
EOF
  fail "the installed module"
echo PASS
