#!/usr/bin/env bash
# House-style check (docs: ../shared/style.md item 9): every tracked .c file
# must be a fixed point of GNU indent 2.2.12 run twice with gst-indent's
# options. Prints the files that differ and exits 1 if there are any.
#
#   scripts/check-format.sh           check every tracked .c file
#   scripts/check-format.sh FILE...   check only these files
set -euo pipefail

cd "$(dirname "$0")/.."

INDENT_ARGS=(-npro --braces-on-if-line --case-brace-indentation0
  --case-indentation2 --braces-after-struct-decl-line --line-length80
  --no-tabs --cuddle-else --dont-line-up-parentheses
  --continuation-indentation4 --honour-newlines --tab-size8
  --indent-level2 --leave-preprocessor-space)

if ! command -v indent > /dev/null; then
  echo "check-format: GNU indent is not installed (apt-get install indent)" >&2
  exit 2
fi

if [ $# -gt 0 ]; then
  files=("$@")
elif git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
  mapfile -t files < <(git ls-files -- '*.c')
else
  mapfile -t files < <(find . -name '*.c' -not -path './build*' | sort)
fi

bad=()
for f in "${files[@]}"; do
  [ -f "$f" ] || continue       # tracked but deleted in the work tree
  if ! indent "${INDENT_ARGS[@]}" -st "$f" | indent "${INDENT_ARGS[@]}" -st \
      | cmp -s - "$f"; then
    bad+=("$f")
  fi
done

if [ ${#bad[@]} -gt 0 ]; then
  echo "check-format: ${#bad[@]} of ${#files[@]} files are not in house style:"
  printf '  %s\n' "${bad[@]}"
  echo "fix with: indent ${INDENT_ARGS[*]} FILE.c (twice), then rm FILE.c~"
  exit 1
fi
echo "check-format: ${#files[@]} files OK"
