#!/usr/bin/env bash
# test_zberrors.c:test_sink_permission_denied from behind a 0700 directory,
# as for a newcomer who clones into /root/... or into a `mktemp -d`
# (issue 14, F): that test runs gst-launch-1.0 as user nobody, who cannot
# reach a build tree under such a directory, so the test must give nobody a
# copy of the plugin (it does; see the comment above the test). CI clones
# into a directory of unknown mode, so this script makes sure: it puts the
# build tree behind a fresh 0700 directory of root's (a symlink in it to the
# build root) and runs that one test (GST_CHECKS) from there, with
# GST_PLUGIN_PATH_1_0 through the same path.
#
#   nobody-0700.sh BUILD_ROOT TEST_ZBERRORS PLUGIN_DIR
#
# Exit 0 when it passes, 77 (skipped, with the reason) without root,
# setpriv or user nobody, 1 when it fails.
set -uo pipefail

root=${1:?usage: nobody-0700.sh BUILD_ROOT TEST_ZBERRORS PLUGIN_DIR}
test_bin=${2:?}
plugin_dir=${3:?}

skip() {
  echo "SKIP: $*"
  exit 77
}
[ "$(id -u)" = 0 ] || skip "needs root (runs gst-launch-1.0 as nobody)"
command -v setpriv >/dev/null || skip "needs setpriv (util-linux)"
getent passwd nobody >/dev/null || skip "needs user nobody"

case $test_bin in "$root"/*) ;; *) echo "FAIL: $test_bin not under $root"; exit 1 ;; esac
case $plugin_dir in "$root"/*) ;; *) echo "FAIL: $plugin_dir not under $root"; exit 1 ;; esac

locked=$(mktemp -d) || exit 1
trap 'rm -rf "$locked"' EXIT
chmod 0700 "$locked"
ln -s "$root" "$locked/build"
# nobody must not reach the plugin this way (else this test proves nothing)
if setpriv --reuid=nobody --regid=nogroup --clear-groups \
    test -r "$locked/build/${plugin_dir#"$root"/}"; then
  echo "FAIL: nobody can read $locked/build (not a 0700 directory?)"
  exit 1
fi

out=$(GST_CHECKS=test_sink_permission_denied \
  GST_PLUGIN_PATH_1_0="$locked/build/${plugin_dir#"$root"/}" \
  timeout -k 5 100 "$locked/build/${test_bin#"$root"/}" 2>&1)
rc=$?
echo "$out"
case $out in
  *"SKIP test_sink_permission_denied"*) skip "the test skipped itself" ;;
esac
case $out in
  *"Checks: 1, Failures: 0, Errors: 0"*) ;;
  *) echo "FAIL: test_sink_permission_denied did not run once and pass"; exit 1 ;;
esac
if [ $rc != 0 ]; then
  echo "FAIL: exit status $rc"
  exit 1
fi
echo "PASS: test_sink_permission_denied from behind a 0700 directory"
