#!/bin/bash
# Runs every ```sh block of docs/cli.md as a script (set -e): each command
# shown in the documentation works as shown. Buffer names of the examples
# (cam, cam-in, cam-out, old) are made unique by a wrapper; the reference
# tool names (zerobuffer-test-*) are links to the tool.
ZB_ISOLATE=1
. "$(dirname "$0")/common.sh"

DOC=${ZB_CLI_DOC:-$(dirname "$0")/../../docs/cli.md}
[ -r "$DOC" ] || fail "cannot read $DOC"
PREFIX=zbt-$$-doc

mkdir -p "$TMP/bin" "$TMP/blocks"
cat > "$TMP/bin/zerobuffer" <<WRAP
#!/bin/bash
args=()
for a in "\$@"; do
  case \$a in
    cam|cam-in|cam-out|old|cam@*) args+=("$PREFIX-\$a") ;;
    *) args+=("\$a") ;;
  esac
done
exec "$Z" "\${args[@]}"
WRAP
chmod +x "$TMP/bin/zerobuffer"
for role in reader writer relay; do
  ln -s "$Z" "$TMP/bin/zerobuffer-test-$role"
done
for n in cam cam-in cam-out old cam@rec cam@preview; do
  NAMES="$NAMES $PREFIX-$n"
done

# split the ```sh blocks into files
python3 - "$DOC" "$TMP/blocks" <<'PY' || fail "cannot extract the examples"
import sys
blocks, cur = [], None
for line in open(sys.argv[1]):
    if cur is None and line.strip() == "```sh":
        cur = []
    elif cur is not None and line.strip() == "```":
        blocks.append("".join(cur))
        cur = None
    elif cur is not None:
        cur.append(line)
for i, b in enumerate(blocks):
    open("%s/%02d.sh" % (sys.argv[2], i), "w").write(b)
print(len(blocks))
PY

ran=""
for block in "$TMP"/blocks/*.sh; do
  if [ "$ISOLATED" != 1 ] && grep -q -- "--stale" "$block"; then
    note "$(basename "$block"): clean --stale needs a private /dev/shm, skipped"
    continue
  fi
  mkdir -p "$TMP/run" && cd "$TMP/run" || fail "cd"
  PATH="$TMP/bin:$PATH" timeout 40 bash -e -o pipefail "$block" > "$TMP/out" 2>&1
  rc=$?
  cd / || fail "cd"
  rm -rf "$TMP/run"
  [ $rc -eq 0 ] || fail "example $(basename "$block") failed with status $rc:
$(cat "$block")
--- output:
$(tail -20 "$TMP/out")"
  for n in cam cam-in cam-out old cam@rec cam@preview; do
    no_objects "$PREFIX-$n"
  done
  ran="$ran $(cat "$block")"
  note "example $(basename "$block") ok"
done

for cmd in "zerobuffer reader" "zerobuffer writer" "zerobuffer relay" \
    "zerobuffer inspect" "zerobuffer list" "zerobuffer clean" \
    "zerobuffer-test-reader" "zerobuffer-test-writer"; do
  case $ran in
    *"$cmd"*) ;;
    *) [ "$ISOLATED" != 1 ] && [ "$cmd" = "zerobuffer clean" ] ||
         fail "no example runs '$cmd'" ;;
  esac
done

echo "PASS"
