# Shared helpers of the zerobuffer CLI tests (sourced by bash scripts).
#
# Every test creates its buffers under unique names (zbt-PID-N), tracks the
# processes it starts, and removes whatever is left on exit, even on failure.

set -u

Z=${ZEROBUFFER:?ZEROBUFFER must point at the zerobuffer executable}

# ZB_ISOLATE=1 before sourcing: run the test in a private mount namespace
# with its own /dev/shm and /tmp/zerobuffer when the system allows it
# (root; not all of /tmp, which may hold the source tree), so that
# stale buffers made on purpose are not removed by readers of concurrent
# tests (every reader removes stale buffers at start-up) and nothing can be
# left behind. ISOLATED=1 tells the test it runs there.
ISOLATED=0
if [ "${ZB_ISOLATE:-0}" = 1 ] && [ -z "${ZB_CLI_IN_NS:-}" ] &&
    unshare --mount --propagation private true 2>/dev/null; then
  export ZB_CLI_IN_NS=1
  exec unshare --mount --propagation private bash "$0" "$@"
fi
if [ -n "${ZB_CLI_IN_NS:-}" ]; then
  mkdir -p /tmp/zerobuffer &&
    mount -t tmpfs -o mode=1777 tmpfs /dev/shm &&
    mount -t tmpfs -o mode=1777 tmpfs /tmp/zerobuffer ||
    { echo "FAIL: cannot mount private /dev/shm and /tmp/zerobuffer" >&2;
      exit 1; }
  ISOLATED=1
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/zbcli.XXXXXX")
PIDS=""
NAMES=""
COUNTER=0

remove_objects () {
  rm -f "/dev/shm/$1" "/dev/shm/sem.sem-w-$1" "/dev/shm/sem.sem-r-$1" \
      "/tmp/zerobuffer/$1.lock" "/dev/shm/zbstats-$1-"* "/dev/shm/zbpool-$1-"*
}

cleanup () {
  local p n
  for p in $PIDS; do
    kill -CONT "$p" 2>/dev/null
    kill -9 "$p" 2>/dev/null
  done
  wait 2>/dev/null
  for n in $NAMES; do
    remove_objects "$n"
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

fail () {
  echo "FAIL: $*" >&2
  exit 1
}

note () {
  echo "# $*"
}

# newname VAR: a fresh buffer name in VAR, removed at exit.
newname () {
  COUNTER=$((COUNTER + 1))
  eval "$1=zbt-$$-$COUNTER"
  NAMES="$NAMES zbt-$$-$COUNTER"
}

# bg VAR CMD...: run CMD in the background, its pid in VAR.
bg () {
  local var=$1
  shift
  "$@" &
  eval "$var=$!"
  PIDS="$PIDS $!"
}

# expect_rc WANT GOT WHAT
expect_rc () {
  [ "$2" -eq "$1" ] || fail "$3: exit status $2, expected $1"
}

# jget FILE EXPR: evaluate EXPR (Python) with d = the parsed JSON document.
jget () {
  python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(eval(sys.argv[2]))' "$1" "$2" || fail "cannot parse JSON in $1: $(head -c 300 "$1")"
}

# entry FILE NAME EXPR: EXPR on the buffer NAME (b) of the document d in
# FILE (one JSON document of list or top)
entry () {
  jget "$1" '(lambda b: '"$3"')([b for b in d["buffers"] if b["name"] == "'"$2"'"][0])'
}

# jcheck FILE EXPR WHAT: fail unless EXPR is true.
jcheck () {
  local v
  v=$(jget "$1" "$2")
  [ "$v" = "True" ] || fail "$3: '$2' is $v in $(head -c 800 "$1")"
}

# wait_for_buffer NAME: until buffer NAME is ready (5 s).
wait_for_buffer () {
  local i
  for i in $(seq 1 100); do
    # the reader stores its pid last: before that a writer finds no buffer
    "$Z" inspect "$1" --json 2>/dev/null | grep -q '"reader_pid": *[1-9]' &&
        [ -e "/dev/shm/sem.sem-w-$1" ] && [ -e "/dev/shm/sem.sem-r-$1" ] &&
        return 0
    sleep 0.05
  done
  fail "buffer $1 did not appear"
}

# wait_pid PID SECONDS: wait for PID to exit, its status in RC.
wait_pid () {
  local i
  for i in $(seq 1 $(($2 * 20))); do
    if ! kill -0 "$1" 2>/dev/null; then
      wait "$1"
      RC=$?
      return 0
    fi
    sleep 0.05
  done
  fail "process $1 still running after $2 s"
}

# no_objects NAME: none of NAME's objects exist.
no_objects () {
  local f
  for f in "/dev/shm/$1" "/dev/shm/sem.sem-w-$1" "/dev/shm/sem.sem-r-$1" \
      "/tmp/zerobuffer/$1.lock"; do
    [ ! -e "$f" ] || fail "$f left behind"
  done
}

# use_tmux: run tmux sessions on a server of our own (SOCK), killed at
# exit; 1 (after a SKIP note) when there is no tmux.
use_tmux () {
  if ! command -v tmux > /dev/null; then
    note "SKIP terminal part: no tmux"
    return 1
  fi
  unset TMUX
  SOCK="zbt-tmux-$$"
  trap 'tmux -L "$SOCK" kill-server 2>/dev/null; cleanup' EXIT
}

# screen_has SESSION PATTERN: wait up to 5 s until the screen of tmux
# session SESSION shows PATTERN (grep -E); the screen is left in
# $TMP/screen.
screen_has () {
  local i
  for i in $(seq 1 50); do
    tmux -L "$SOCK" capture-pane -p -t "$1" > "$TMP/screen" 2>/dev/null &&
      grep -qE -- "$2" "$TMP/screen" && return 0
    sleep 0.1
  done
  fail "screen $1 never showed '$2':
$(cat "$TMP/screen")"
}

# one_line FILE WHAT: FILE holds exactly one non-empty line.
one_line () {
  [ "$(wc -l < "$1")" -eq 1 ] && [ -s "$1" ] ||
    fail "$2: expected a one-line error, got: $(cat "$1")"
}
