#!/bin/bash
# Every bad argument gives one clear line on stderr, nothing on stdout and
# the documented exit status; --help works for every subcommand.
. "$(dirname "$0")/common.sh"

LONG=$(printf 'x%.0s' $(seq 1 300))
newname B

# expect_error STATUS ARGS...
expect_error () {
  local want=$1
  shift
  "$Z" "$@" > "$TMP/o" 2> "$TMP/e"
  local rc=$?
  [ "$rc" -eq "$want" ] || fail "zerobuffer $*: exit status $rc, expected $want ($(cat "$TMP/e"))"
  one_line "$TMP/e" "zerobuffer $*"
  grep -q '^zerobuffer' "$TMP/e" || fail "zerobuffer $*: message does not name the tool: $(cat "$TMP/e")"
  [ ! -s "$TMP/o" ] || fail "zerobuffer $*: printed on stdout: $(cat "$TMP/o")"
}

for sub in reader writer relay inspect list clean; do
  "$Z" "$sub" --help > "$TMP/o" 2> "$TMP/e" || fail "$sub --help failed"
  grep -q "^Usage: zerobuffer $sub" "$TMP/o" || fail "$sub --help: $(head -1 "$TMP/o")"
  grep -q "Exit status" "$TMP/o" || fail "$sub --help lists no exit status"
  [ ! -s "$TMP/e" ] || fail "$sub --help wrote to stderr"
  "$Z" "$sub" -h > /dev/null || fail "$sub -h failed"
done
"$Z" --help | grep -q "^Usage: zerobuffer COMMAND" || fail "zerobuffer --help"
"$Z" --version | grep -q "^zerobuffer 1\.0\.0" || fail "zerobuffer --version"

# the tool itself
expect_error 3
expect_error 3 bogus

# reader: invalid arguments are 3
expect_error 3 reader
expect_error 3 reader "$B" other
expect_error 3 reader "$B" -n abc
expect_error 3 reader "$B" -n
expect_error 3 reader "$B" --frames 1.5
expect_error 3 reader "$B" --verify bogus
expect_error 3 reader "$B" --timeout-ms x
expect_error 3 reader "$B" --wait-writer-ms -2
expect_error 3 reader "$B" --payload-size 0
expect_error 3 reader "$B" --payload-size 12Q
expect_error 3 reader "$B" --metadata-size -1
expect_error 3 reader "$B" --mode 999
expect_error 3 reader "$B" --batch-size 0
expect_error 3 reader "$B" --bogus
expect_error 3 reader "$B" -x
expect_error 3 reader a/b
expect_error 3 reader ""
expect_error 3 reader "$LONG"

# writer: invalid arguments are 3, no buffer is 1
expect_error 3 writer
expect_error 3 writer "$B" -s 0
expect_error 3 writer "$B" -n -1
expect_error 3 writer "$B" --pattern bogus
expect_error 3 writer "$B" -m x --metadata-file "$TMP/meta"
expect_error 3 writer "$B" --metadata-file "$TMP/does-not-exist"
: > "$TMP/empty"
expect_error 3 writer "$B" --metadata-file "$TMP/empty"
expect_error 3 writer "$B" --batch-size 0
expect_error 3 writer "$B" --delay-ms -1
expect_error 3 writer "$B" --write-timeout-ms 0
expect_error 3 writer "$B" --unknown
expect_error 1 writer "$B"
expect_error 1 writer "$B" --connect-timeout-ms 200

# relay: invalid arguments are 4
expect_error 4 relay
expect_error 4 relay "$B"
expect_error 4 relay "$B" "$B"
expect_error 4 relay "$B" out extra
expect_error 4 relay "$B" out --transform bogus
expect_error 4 relay "$B" out --xor-key 256
expect_error 4 relay "$B" out --xor-key zz
expect_error 4 relay "$B" out --log-interval 0
expect_error 4 relay "$B" out --buffer-size none
expect_error 4 relay a/b out

# inspect, list, clean: invalid arguments are 2
expect_error 2 inspect
expect_error 2 inspect "$B" other
expect_error 2 inspect "$B" --watch 0
expect_error 2 inspect "$B" --watch x
expect_error 2 inspect "$B" --watch
expect_error 2 inspect "$B" --count 5
expect_error 2 inspect "$B" --json --bogus
expect_error 2 inspect a/b
expect_error 1 inspect "$B"
expect_error 2 list extra
expect_error 2 list --bogus
expect_error 2 clean
expect_error 2 clean --stale "$B"
expect_error 2 clean a/b
expect_error 1 clean "$B"

# run-time failures: a second reader on a live name (1), a frame larger
# than the ring (writer 2), a metadata block too small (writer 2)
bg RP "$Z" reader "$B" --payload-size 4K --metadata-size 64 --wait-writer-ms -1
wait_for_buffer "$B"
expect_error 1 reader "$B" --payload-size 4K
expect_error 2 writer "$B" -n 1 -s 8000
expect_error 2 writer "$B" -n 1 -m "$(printf 'm%.0s' $(seq 1 100))"
kill -TERM "$RP"
wait_pid "$RP" 5
no_objects "$B"

echo "PASS"
