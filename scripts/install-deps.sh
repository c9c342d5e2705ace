#!/usr/bin/env bash
# Install the Debian packages listed in scripts/packages.txt that are not
# installed yet. Runs apt-get (and apt-get update) only when something is
# missing. Needs root, or sudo when not root.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
list="$here/packages.txt"

missing=()
while read -r pkg; do
  pkg=${pkg%%#*}
  pkg=${pkg//[[:space:]]/}
  [ -n "$pkg" ] || continue
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  if [ "$status" != "install ok installed" ]; then
    missing+=("$pkg")
  fi
done < "$list"

if [ ${#missing[@]} -eq 0 ]; then
  echo "== packages: all $(grep -cv '^\s*\(#\|$\)' "$list") present"
  exit 0
fi

echo "== packages: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo > /dev/null; then
  sudo=(sudo)
else
  echo "error: missing packages (${missing[*]}) and not root; no sudo" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q < /dev/null
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -q "${missing[@]}" < /dev/null
