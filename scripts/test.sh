#!/usr/bin/env bash
# The whole test job (./run test, .ci/run):
#   1. build/       all meson test suites
#   2. build-asan/  ASan + UBSan build, suite 'lib'
#   3. format check (one test)
#   4. leak check: nothing of ours left in /dev/shm or /tmp/zerobuffer
#      (one test)
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
run_suite build-asan --suite lib --timeout-multiplier 3 -- \
    -Db_sanitize=address,undefined -Db_lundef=false -Dgst=disabled

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

echo "== summary (${SECONDS} s)"
args=()
for x in "${extras[@]}"; do
  args+=(--extra "$x")
done
exec python3 scripts/test-summary.py "${args[@]}" "${logs[@]}"
