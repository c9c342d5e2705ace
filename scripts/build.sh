#!/usr/bin/env bash
# Configure (first time only) and build one meson build directory.
#
#   scripts/build.sh DIR [MESON-SETUP-OPTIONS...]
#
# Options apply when DIR is configured; an already configured DIR is only
# rebuilt (meson reconfigures by itself when a meson.build changed).
set -euo pipefail

cd "$(dirname "$0")/.."
dir=$1
shift

if [ ! -f "$dir/meson-private/coredata.dat" ]; then
  rm -rf "$dir"
  echo "== meson setup $dir $*"
  meson setup "$dir" "$@"
fi
echo "== ninja -C $dir"
ninja -C "$dir"
