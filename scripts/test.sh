#!/usr/bin/env bash
# The whole test job (./run test, .ci/run):
#   1. build/       all meson test suites
#   2. build-asan/  ASan + UBSan build: suite 'lib' with leak detection,
#      then every other suite but 'packages' (runtimes preloaded for
#      gst-launch-1.0 and python3; 'packages' builds its own binaries and
#      runs in build/ only)
#   3. build-tsan/  ThreadSanitizer build, suite 'threads'
#   4. build/       suite 'gst' again under valgrind memcheck: any memory
#      error or definite leak fails (tests/fault/valgrind.supp holds the
#      few system-library entries)
#   5. every fuzz target for FUZZ_SECONDS (default 30) each, libFuzzer with
#      clang (one test per target)
#   6. format check (one test)
#   7. leak check: nothing of ours left in /dev/shm or /tmp/zerobuffer
#      (one test)
#   8. scripts/chroot-test.sh: build and the plain suites of step 1 in
#      Debian 11 (GStreamer 1.18) and Debian 13 (GStreamer 1.26) chroots,
#      each test counted; the summary has a line per distribution.
#      ZB_CHROOT_TEST=0 leaves this step out (the summary then says so)
# Ends with exactly one line "N passed, N failed"; exits non-zero if
# anything failed.
set -uo pipefail

cd "$(dirname "$0")/.."

logs=()
extras=()
snap=$(mktemp)
trap 'rm -f "$snap"' EXIT
scripts/leak-check.sh snapshot "$snap"

# run_suite DIR TEST-ARGS -- SETUP-ARGS
run_suite() {
  local dir=$1
  shift
  local test_args=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    test_args+=("$1")
    shift
  done
  shift
  if ! scripts/build.sh "$dir" "$@"; then
    echo "== $dir: build FAILED"
    extras+=("meson build of $dir/=FAIL")
    return
  fi
  rm -f "$dir/meson-logs/testlog.json"
  echo "== meson test -C $dir ${test_args[*]}"
  meson test -C "$dir" --no-rebuild --print-errorlogs "${test_args[@]}" \
      < /dev/null
  echo "== meson test -C $dir: exit $?"
  logs+=("$dir/meson-logs/testlog.json")
}

run_suite build --
# Sanitizers slow everything down: give each test three times its timeout.
# The library suite runs with leak detection.
run_suite build-asan --suite lib --timeout-multiplier 3 -- \
    -Db_sanitize=address,undefined -Db_lundef=false
# Then every other suite in the same build. Programs we do not build
# (gst-launch-1.0, python3) load our instrumented libraries, so the
# runtimes are preloaded; leaks are left to the lib suite above and to
# valgrind below, since GLib and GStreamer keep memory until exit on
# purpose.
if [ -f build-asan/meson-info/intro-tests.json ]; then
  rm -f build-asan/meson-logs/others.json
  echo "== meson test -C build-asan (every suite but lib and packages)"
  LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)" \
    ASAN_OPTIONS=detect_leaks=0 ZBFAULT_TIME_SCALE=3 \
    meson test -C build-asan --no-rebuild --print-errorlogs --no-suite lib \
      --no-suite packages --logbase others --timeout-multiplier 3 < /dev/null
  echo "== meson test -C build-asan (others): exit $?"
  logs+=("build-asan/meson-logs/others.json")
fi

# Concurrency tests under ThreadSanitizer (any report fails the test).
run_suite build-tsan --suite threads --timeout-multiplier 3 -- \
    -Db_sanitize=thread -Db_lundef=false -Dgst=disabled -Dexamples=false

# Element tests under valgrind memcheck, in-process (CK_FORK=no), in the
# plain build: memory errors and definite leaks make a test fail.
if [ -f build/meson-info/intro-tests.json ] && command -v valgrind >/dev/null
then
  rm -f build/meson-logs/memcheck-valgrind.json
  # zbzerocopy is left out here: it hung once under valgrind (no output
  # within 360 s, 2026-11-22) and passed 58 runs in a row when looped to
  # find out why; it still runs in the plain and ASan passes above. (Until
  # 2026-12-01 any failed in-process test hung at exit, see ZBT_MAIN: that
  # hang was probably a failure whose message was lost.)
  mapfile -t vg_tests < <(meson test -C build --list --suite gst 2>/dev/null |
      sed -n 's/^zerobuffer:gst \/ //p' | grep -v '^zbzerocopy$')
  # ZBT_VALGRIND: test_zbraw checks two of its format/size cases, not all
  # sixteen (those took over 10 minutes under valgrind).
  echo "== meson test -C build --suite gst under valgrind (${vg_tests[*]})"
  # In-process, a test that hangs stalls its whole program until meson
  # kills it: every result is printed as it comes, so the log shows which.
  ZBT_VALGRIND=1 CK_FORK=no CK_VERBOSITY=verbose meson test -C build --no-rebuild \
      --print-errorlogs "${vg_tests[@]}" \
      --logbase memcheck --timeout-multiplier 2 \
      --wrapper "valgrind --quiet --leak-check=full --show-leak-kinds=definite \
--errors-for-leak-kinds=definite --num-callers=40 --error-exitcode=99 \
--suppressions=$PWD/tests/fault/valgrind.supp" < /dev/null
  echo "== valgrind: exit $?"
  logs+=("build/meson-logs/memcheck-valgrind.json")
else
  extras+=("valgrind memcheck of the gst suite (no build or no valgrind)=FAIL")
fi

# Fuzzers, a bounded time each; a crash fails (its input is kept in
# fuzz/crashes/ for a regression test).
for src in fuzz/fuzz-*.c; do
  target=$(basename "$src" .c)
  echo "== $target for ${FUZZ_SECONDS:-30} s"
  if FUZZ_SECONDS=${FUZZ_SECONDS:-30} fuzz/run-fuzzers.sh "$src"; then
    extras+=("libFuzzer $target=OK")
  else
    extras+=("libFuzzer $target=FAIL")
  fi
done

echo "== format check"
if scripts/check-format.sh; then
  extras+=("format check=OK")
else
  extras+=("format check=FAIL")
fi

echo "== leak check"
if scripts/leak-check.sh check "$snap"; then
  extras+=("leak check=OK")
else
  extras+=("leak check=FAIL")
fi

# The oldest and the newest GStreamer we support, in Debian chroots (made
# once, kept outside the clone). A chroot that cannot be made is a failure.
notes=()
if [ "${ZB_CHROOT_TEST:-1}" = 0 ]; then
  notes+=("chroot suites: left out (ZB_CHROOT_TEST=0)")
else
  echo "== chroot suites (scripts/chroot-test.sh)"
  chroot_start=$SECONDS
  scripts/chroot-test.sh < /dev/null
  echo "== chroot suites: exit $? after $((SECONDS - chroot_start)) s"
  for dist in bullseye trixie; do
    logs+=("build-chroot/$dist/testlog.json")
    if [ -s "build-chroot/$dist/result" ]; then
      notes+=("chroot $(cat "build-chroot/$dist/result")")
    else
      notes+=("chroot $dist: no result")
    fi
  done
fi

echo "== summary (${SECONDS} s)"
args=()
for x in "${extras[@]}"; do
  args+=(--extra "$x")
done
for x in "${notes[@]}"; do
  args+=(--note "$x")
done
exec python3 scripts/test-summary.py "${args[@]}" "${logs[@]}"
