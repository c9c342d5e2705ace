#!/bin/bash
# Runs the ```sh blocks of the given Markdown documents: each document's
# blocks, in order, as one bash script (set -e; exports and background jobs
# carry from block to block, as in a terminal), from a scratch directory
# where build/, examples/ and python/ point into the tree. ```console and
# other fences are not run.
#
# Made unique per run: the buffer name "cam" (as a word, and after
# "zerobuffer://", not after a single '/') and the UDP ports
# 5004 and 5006. Afterwards: nothing of ours left in /dev/shm or
# /tmp/zerobuffer, and every file a block wrote with location=FILE.png is a
# PNG image. Blocks using unshare(1) are skipped when it is not permitted.
#
#   docs-examples.sh SOURCE-ROOT BUILD-ROOT DOC...
set -u

src=$1
build=$2
shift 2
tmp=$(mktemp -d)
prefix="zbt-$$-docs"
pgid=

cleanup() {
  [ -n "$pgid" ] && kill -9 -- "-$pgid" 2> /dev/null
  rm -rf "$tmp"
  rm -f /dev/shm/*"$prefix"* /tmp/zerobuffer/*"$prefix"* 2> /dev/null
}
trap cleanup EXIT
trap 'exit 1' INT TERM

fail() {
  echo "FAIL: $*"
  exit 1
}

free_port() {
  python3 -c 'import socket; s = socket.socket(socket.AF_INET,
socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

mkdir -p "$tmp/bin"
ln -s "$build/tools/zerobuffer" "$tmp/bin/zerobuffer"
for role in reader writer relay; do
  ln -s "$build/tools/zerobuffer" "$tmp/bin/zerobuffer-test-$role"
done
# Debian's python3, which has numpy.
ln -s /usr/bin/python3 "$tmp/bin/python3"

can_unshare=0
unshare --mount --pid --fork true 2> /dev/null && can_unshare=1

export PATH="$tmp/bin:$PATH"
export GST_PLUGIN_PATH_1_0="$build/gst"
export GST_REGISTRY="$tmp/registry.bin"
export ZEROBUFFER_LIBRARY="$build/lib/libzerobuffer.so"
export PYTHONPATH="$src/python"
export PYTHONDONTWRITEBYTECODE=1

total=0
for doc in "$@"; do
  case $doc in
    /*) ;;
    *) doc="$src/$doc" ;;
  esac
  [ -r "$doc" ] || fail "cannot read $doc"
  work="$tmp/work-$(basename "$doc" .md)"
  mkdir -p "$work"
  ln -s "$build" "$work/build"
  ln -s "$src/examples" "$work/examples"
  ln -s "$src/python" "$work/python"
  # Extract, skip what cannot run here, make names and ports unique.
  n=$(python3 - "$doc" "$work/script.sh" "$prefix-cam" "$(free_port)" \
      "$(free_port)" "$can_unshare" <<'PY'
import re, sys
doc, out, name, port1, port2, can_unshare = sys.argv[1:]
blocks, cur = [], None
for line in open(doc):
    if cur is None and line.strip() == "```sh":
        cur = []
    elif cur is not None and line.strip() == "```":
        blocks.append("".join(cur))
        cur = None
    elif cur is not None:
        cur.append(line)
with open(out, "w") as f:
    for i, b in enumerate(blocks):
        f.write("echo '== block %d'\n" % (i + 1))
        if "unshare" in b and can_unshare != "1":
            f.write("echo 'skipped: unshare is not permitted here'\n")
            continue
        # "cam" as a word, also in zerobuffer://cam, not in a path /x/cam
        b = re.sub(r"(?<![\w.-])(?<!(?<!/)/)cam(?![\w-])", name, b)
        b = re.sub(r"\b5004\b", port1, b).replace("5006", port2)
        f.write(b)
    f.write("wait\n")
print(len(blocks))
PY
  ) || fail "cannot extract the blocks of $doc"
  total=$((total + n))
  echo "=== $doc: $n blocks"
  # Own process group, so that everything a block started can be killed.
  (cd "$work" && exec setsid bash -e "$work/script.sh") > "$work/out" 2>&1 &
  pgid=$!
  for _ in $(seq 1200); do
    kill -0 "$pgid" 2> /dev/null || break
    sleep 0.1
  done
  if kill -0 "$pgid" 2> /dev/null; then
    kill -9 -- "-$pgid" 2> /dev/null
    wait "$pgid"
    cat "$work/out"
    fail "$doc: the examples did not finish within 120 s"
  fi
  wait "$pgid"
  rc=$?
  # Anything still running in the group is a leftover of the doc.
  kill -9 -- "-$pgid" 2> /dev/null && fail "$doc: processes left running"
  pgid=
  if [ $rc -ne 0 ]; then
    tail -40 "$work/out"
    fail "$doc: the examples failed with status $rc (script: $work/script.sh)"
  fi
  grep -v "^Setting\|^Pipeline\|^Redistribute\|^New clock\|^Got EOS\|^Execution\|^Freeing\|^Got context\|^Progress\|^Missing element" \
    "$work/out" | sed 's/^/  /' | head -40
  for png in $(grep -o 'location=[A-Za-z0-9_.-]*\.png' "$work/script.sh" |
      cut -d= -f2 | sort -u); do
    head -c 8 "$work/$png" 2> /dev/null | od -An -c | grep -q 'P   N   G' ||
      fail "$doc: $png was not written"
    echo "  wrote $png"
  done
  left=$(ls /dev/shm /tmp/zerobuffer 2> /dev/null | grep -- "$prefix")
  [ -z "$left" ] || fail "$doc: left behind: $left"
done
[ "$total" -gt 0 ] || fail "no \`\`\`sh blocks found"
echo "PASS: $total blocks"
