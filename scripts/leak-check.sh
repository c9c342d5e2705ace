#!/usr/bin/env bash
# Leak check for the test suite: shared memory, semaphores and lock files
# of buffers named by tests (zbt-*, zbt_*) or by the demo (zb-demo-*), and
# the side objects our writers keep beside any buffer: zbsink's pool
# segments (zbpool-PART-PID-SERIAL) and writers' statistics
# (zbstats-PART-PID), whatever the buffer's name.
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
  {
    for p in "${PREFIXES[@]}"; do
      printf '%s\n' /dev/shm/"$p"* /dev/shm/sem.sem-[rw]-"$p"* \
        /tmp/zerobuffer/"$p"*.lock
    done
    printf '%s\n' /dev/shm/zbpool-* /dev/shm/zbstats-*
  } | sort -u
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
    # Names carry the creating process's pid (zbt-<pid>-<n>): an object
    # whose process still runs is in use, not leaked (another test run on
    # the same machine, for instance).
    leaked=()
    # A side object carries its writer's pid: zbpool-PART-PID-SERIAL,
    # zbstats-PART-PID.
    for f in $new; do
      case $(basename "$f") in
        zbpool-*) pid=$(basename "$f" | sed -n 's/^.*-\([0-9][0-9]*\)-[0-9][0-9]*$/\1/p') ;;
        zbstats-*) pid=$(basename "$f" | sed -n 's/^.*-\([0-9][0-9]*\)$/\1/p') ;;
        *) pid=$(basename "$f" | sed -n 's/^\(sem\.sem-[rw]-\)\{0,1\}[a-z-]*-\([0-9][0-9]*\).*/\2/p') ;;
      esac
      if [ -n "$pid" ] && kill -0 "$pid" 2> /dev/null; then
        echo "leak-check: in use by running process $pid (not counted): $f"
      else
        leaked+=("$f")
      fi
    done
    if [ ${#leaked[@]} -gt 0 ]; then
      echo "leak-check: FAIL, the run left these behind:"
      printf '  %s\n' "${leaked[@]}"
      exit 1
    fi
    echo "leak-check: OK, nothing left in /dev/shm or /tmp/zerobuffer"
    ;;
  *)
    echo "usage: $0 snapshot|check FILE" >&2
    exit 2
    ;;
esac
