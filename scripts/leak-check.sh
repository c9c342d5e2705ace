#!/usr/bin/env bash
# Leak check for the test suite: shared memory, semaphores and lock files
# of buffers named by tests (zbt-*, zbt_*) or by the demo (zb-demo-*).
#
#   scripts/leak-check.sh snapshot FILE   record what exists now
#   scripts/leak-check.sh check FILE      fail if anything appeared since
#
# Tests name buffers "zbt-<pid>-<n>" (see tests/); add a prefix here if a
# suite uses another one.
set -euo pipefail

PREFIXES=(zbt zb-demo)

list_ours() {
  local p
  shopt -s nullglob
  for p in "${PREFIXES[@]}"; do
    printf '%s\n' /dev/shm/"$p"* /dev/shm/sem.sem-[rw]-"$p"* \
      /tmp/zerobuffer/"$p"*.lock
  done | sort -u
}

case "${1:-}" in
  snapshot)
    list_ours > "$2"
    ;;
  check)
    now=$(mktemp)
    trap 'rm -f "$now"' EXIT
    list_ours > "$now"
    new=$(comm -13 "$2" "$now")
    old=$(comm -12 "$2" "$now")
    if [ -n "$old" ]; then
      echo "leak-check: left over from before this run (not counted):"
      printf '  %s\n' $old
    fi
    if [ -n "$new" ]; then
      echo "leak-check: FAIL, the run left these behind:"
      printf '  %s\n' $new
      exit 1
    fi
    echo "leak-check: OK, nothing left in /dev/shm or /tmp/zerobuffer"
    ;;
  *)
    echo "usage: $0 snapshot|check FILE" >&2
    exit 2
    ;;
esac
