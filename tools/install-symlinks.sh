#!/bin/sh
# meson install script: the reference implementations' test application
# names as symlinks to the CLI (install_symlink() needs meson 0.61; we
# support Debian 11's 0.56).
#
#   install-symlinks.sh BINDIR NAME...
set -eu

bindir=$1
shift
case $bindir in
  /*) dir=${DESTDIR:-}$bindir ;;
  *) dir=$MESON_INSTALL_DESTDIR_PREFIX/$bindir ;;
esac
mkdir -p "$dir"
for name in "$@"; do
  ln -sfn zerobuffer "$dir/$name"
done
