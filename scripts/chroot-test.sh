#!/usr/bin/env bash
# Build zerobuffer and run its plain test suites (meson test in a fresh
# build directory, as in step 1 of scripts/test.sh) inside Debian chroots
# of the oldest and the newest distribution we support:
#
#   bullseye  Debian 11, GStreamer 1.18, GLib 2.66, meson 0.56
#   trixie    Debian 13, GStreamer 1.26
#
#   scripts/chroot-test.sh [--run CMD] [DIST...]   (default: bullseye trixie)
#
# --run CMD runs the shell command CMD in the built tree instead of the
# test suites (e.g. the benchmark: docs/benchmarks.md); its output is the
# log, and the result line says only whether it succeeded.
#
# Each chroot is made once with debootstrap from this machine's own Debian
# archive: the first URI of a non-security "deb" source in
# /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list, read at run
# time. The packages of scripts/packages.txt that the distribution has are
# installed in it (the others are named in the log). Chroots are kept in
# $ZB_CHROOT_CACHE (default /var/cache/zerobuffer-chroot), outside the
# clone, and reused; a changed packages.txt installs what is missing.
#
# Every run copies this tree (tracked and untracked files, not ignored
# ones) to /srv/zerobuffer in the chroot, with /proc, /sys, /dev/pts and a
# fresh /dev/shm mounted, and the chroot's root bind-mounted on itself (a
# mount point, as unshare --propagation private needs). All of them are
# mounted in a private mount namespace and unmounted by a trap.
#
# Results, per distribution, in build-chroot/DIST/ of this tree:
# testlog.json (meson's), log (the whole output) and result (one line:
# "DIST GStreamer VERSION: N passed, N failed, N skipped in S s" or why
# there are no results). Needs root. Exits non-zero when a chroot cannot
# be made (no network: a clear message, never a silent skip), a build
# fails or a test fails.
set -uo pipefail

cd "$(dirname "$0")/.."
top=$PWD
cache=${ZB_CHROOT_CACHE:-/var/cache/zerobuffer-chroot}
out=$top/build-chroot

die() {
  echo "chroot-test: $*" >&2
  exit 1
}

# The first URI of a "deb" source whose suites are not security ones.
host_mirror() {
  local f uri=
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && suites !~ /-security/ && uris != "" &&
            found == "") { split(uris, u, " "); found = u[1] }
        types = ""; suites = ""; uris = ""
      }
      /^[ \t]*$/ { flush(); next }
      /^[ \t]*#/ { next }
      tolower($1) == "types:" { $1 = ""; types = $0 }
      tolower($1) == "uris:" { $1 = ""; uris = $0; sub(/^ +/, "", uris) }
      tolower($1) == "suites:" { $1 = ""; suites = $0 }
      tolower($1) == "enabled:" && tolower($2) == "no" { types = "" }
      END { flush(); print found }' "$f")
    [ -n "$uri" ] && break
  done
  if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(sed -n 's/^[ \t]*deb[ \t]\+\(\[[^]]*\][ \t]\+\)\{0,1\}\([^ \t]\+\)[ \t]\+\([^ \t]\+\).*/\2 \3/p' \
        /etc/apt/sources.list | awk '$2 !~ /-security/ { print $1; exit }')
  fi
  printf '%s\n' "$uri"
}

# The packages of packages.txt, one a line.
package_list() {
  sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' scripts/packages.txt
}

# Tools the tests use that Debian 12's full install has and minbase lacks.
extra_packages="procps util-linux file ca-certificates"

# --- inside the private mount namespace ----------------------------------

# in_chroot ROOT CMD...: run CMD in the chroot with a clean environment.
in_chroot() {
  local root=$1
  shift
  local pass=() v
  for v in CI ZBFAULT_TIME_SCALE FUZZ_SECONDS; do
    [ -z "${!v:-}" ] || pass+=("$v=${!v}")
  done
  chroot "$root" /usr/bin/env -i \
      PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      HOME=/root LANG=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive \
      "${pass[@]}" "$@"
}

mounted=()
unmount_all() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    umount "${mounted[i]}" 2>/dev/null || umount -l "${mounted[i]}" 2>/dev/null ||
        echo "chroot-test: could not unmount ${mounted[i]}" >&2
  done
  mounted=()
}

mount_chroot() {
  local root=$1
  mount --bind "$root" "$root" && mounted+=("$root") &&
  mount -t proc proc "$root/proc" && mounted+=("$root/proc") &&
  mount -t sysfs sysfs "$root/sys" && mounted+=("$root/sys") &&
  mkdir -p "$root/dev/pts" "$root/dev/shm" &&
  mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts \
      "$root/dev/pts" && mounted+=("$root/dev/pts") &&
  { [ -L "$root/dev/ptmx" ] || { touch "$root/dev/ptmx" &&
      mount --bind "$root/dev/pts/ptmx" "$root/dev/ptmx" &&
      mounted+=("$root/dev/ptmx"); }; } &&
  mount -t tmpfs -o mode=1777,nosuid,nodev shm "$root/dev/shm" &&
  mounted+=("$root/dev/shm")
}

# Install the listed packages the chroot lacks and its archive has. The
# ones it does not have are noted in ROOT/.zb-absent, so that a run with an
# unchanged list needs no network.
install_packages() {
  local root=$1 dist=$2 pkg missing=() absent=()
  cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
  for pkg in $(package_list) $extra_packages; do
    if grep -qx "$pkg" "$root/.zb-absent" 2>/dev/null; then
      absent+=("$pkg")
    elif [ "$(in_chroot "$root" dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" \
        != "install ok installed" ]; then
      missing+=("$pkg")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    [ ${#absent[@]} -eq 0 ] ||
      echo "== $dist: not in this distribution, left out: ${absent[*]}"
    return 0
  fi
  echo "== $dist: apt-get update"
  in_chroot "$root" apt-get update -q < /dev/null > "$out/$dist/apt.log" 2>&1 ||
    { tail -5 "$out/$dist/apt.log"; return 1; }
  local want=()
  for pkg in "${missing[@]}"; do
    if in_chroot "$root" apt-cache show --no-all-versions "$pkg" \
        > /dev/null 2>&1; then
      want+=("$pkg")
    else
      absent+=("$pkg")
    fi
  done
  [ ${#absent[@]} -eq 0 ] ||
    echo "== $dist: not in this distribution, left out: ${absent[*]}"
  printf '%s\n' "${absent[@]}" > "$root/.zb-absent"
  [ ${#want[@]} -gt 0 ] || return 0
  echo "== $dist: apt-get install ${want[*]} (output in $out/$dist/apt.log)"
  if ! in_chroot "$root" apt-get install -y -q --no-install-recommends \
      "${want[@]}" < /dev/null > "$out/$dist/apt.log" 2>&1; then
    tail -5 "$out/$dist/apt.log"
    return 1
  fi
  in_chroot "$root" apt-get clean
}

# One distribution, in the namespace: install, copy, build, test.
run_dist_ns() {
  local dist=$1 root=$cache/$1 d=$out/$1
  trap unmount_all EXIT
  trap 'unmount_all; exit 130' INT TERM
  mount_chroot "$root" || { echo "mounting in $root failed"; return 1; }
  if ! install_packages "$root" "$dist"; then
    echo "installing packages in the $dist chroot failed (no network?)"
    return 1
  fi
  local gstver
  gstver=$(in_chroot "$root" pkg-config --modversion gstreamer-1.0 2>/dev/null)
  echo "$gstver" > "$d/gst-version"
  echo "== $dist: GStreamer $gstver, GLib" \
    "$(in_chroot "$root" pkg-config --modversion glib-2.0 2>/dev/null)," \
    "meson $(in_chroot "$root" meson --version 2>/dev/null)"

  # A fresh copy of the tree every run; results come back out.
  rm -rf "$root/srv/zerobuffer"
  mkdir -p "$root/srv/zerobuffer"
  if git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
    git ls-files -co --exclude-standard -z |
      tar --null -T - -cf - 2>/dev/null | tar -C "$root/srv/zerobuffer" -xf -
  else
    tar --exclude='./build*' --exclude=./.git -cf - . |
      tar -C "$root/srv/zerobuffer" -xf -
  fi || { echo "copying the tree into $root failed"; return 1; }
  chmod 0755 "$root/srv" "$root/srv/zerobuffer"
  rm -rf "$root/tmp/zerobuffer" "$root"/dev/shm/*

  in_chroot "$root" sh -c 'cd /srv/zerobuffer &&
    meson setup build && ninja -C build' < /dev/null ||
    { echo "== $dist: build FAILED"; return 2; }
  if [ -n "${ZB_CHROOT_RUN:-}" ]; then
    echo "== $dist: $ZB_CHROOT_RUN"
    in_chroot "$root" sh -c 'cd /srv/zerobuffer && eval "$1"' sh \
        "$ZB_CHROOT_RUN" < /dev/null
    local st=$?
    echo "== $dist: exit $st"
    return $((st ? 3 : 0))
  fi
  in_chroot "$root" sh -c 'cd /srv/zerobuffer &&
    meson test -C build --no-rebuild --print-errorlogs' < /dev/null
  echo "== $dist: meson test exit $?"
  cp "$root/srv/zerobuffer/build/meson-logs/testlog.json" "$d/testlog.json"
  return 0
}

# --- in the caller's namespace --------------------------------------------

# Make the chroot once (debootstrap into DIST.new, renamed when complete).
make_chroot() {
  local dist=$1 mirror=$2 root=$cache/$1
  [ -x "$root/usr/bin/apt-get" ] && [ -f "$root/.zb-complete" ] && return 0
  command -v debootstrap > /dev/null ||
    { echo "debootstrap is not installed (scripts/packages.txt has it)"; return 1; }
  rm -rf "$root.new" "$root"
  mkdir -p "$cache"
  echo "== $dist: debootstrap --variant=minbase $dist from $mirror" >&2
  if ! debootstrap --variant=minbase "$dist" "$root.new" "$mirror" \
      > "$out/$dist/debootstrap.log" 2>&1; then
    tail -5 "$out/$dist/debootstrap.log" >&2
    echo "debootstrap of $dist from $mirror failed (no network, or the" \
      "archive has no $dist?): see $out/$dist/debootstrap.log"
    rm -rf "$root.new"
    return 1
  fi
  touch "$root.new/.zb-complete"
  mv "$root.new" "$root"
}

# Unmount whatever a killed earlier run left under the cache.
unmount_stale() {
  local m
  while read -r m; do
    umount -l "$m" 2>/dev/null
  done < <(awk -v c="$cache/" 'index($2, c) == 1 { print $2 }' /proc/self/mounts |
      sort -r)
}

summarize() {
  local dist=$1 d=$out/$1 secs=$2 why=${3:-}
  if [ -n "$why" ] || [ ! -s "$d/testlog.json" ]; then
    echo "$dist: no test results: ${why:-the suites did not run} ($secs s)" \
      > "$d/result"
  else
    python3 - "$d/testlog.json" "$dist" "$(cat "$d/gst-version" 2>/dev/null)" \
        "$secs" > "$d/result" << 'EOF'
import json, sys
p = f = s = 0
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    if not line.strip():
        continue
    r = json.loads(line).get("result")
    if r in ("OK", "EXPECTEDFAIL"):
        p += 1
    elif r == "SKIP":
        s += 1
    else:
        f += 1
print("%s GStreamer %s: %d passed, %d failed, %d skipped in %s s"
      % (sys.argv[2], sys.argv[3], p, f, s, sys.argv[4]))
EOF
  fi
  cat "$d/result"
}

main() {
  [ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mount)"
  command -v unshare > /dev/null || die "needs unshare (util-linux)"
  local dists=() mirror dist rc=0 start why status
  while [ $# -gt 0 ]; do
    case $1 in
      --run) export ZB_CHROOT_RUN=${2:?--run needs a command}; shift ;;
      -*) die "unknown option $1" ;;
      *) dists+=("$1") ;;
    esac
    shift
  done
  [ ${#dists[@]} -gt 0 ] || dists=(bullseye trixie)
  mirror=$(host_mirror)
  [ -n "$mirror" ] ||
    die "no Debian archive found in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list"
  unmount_stale
  for dist in "${dists[@]}"; do
    start=$SECONDS
    why=
    rm -rf "${out:?}/$dist"
    mkdir -p "$out/$dist"
    echo "== chroot $dist"
    if ! make_chroot "$dist" "$mirror" > "$out/$dist/why"; then
      why="cannot make the $dist chroot: $(tail -1 "$out/$dist/why")"
      echo "chroot-test: $why" >&2
      rc=1
    else
      why=
      # A private mount namespace: nothing mounted here outlives the run.
      ZB_CHROOT_NS=1 unshare -m --propagation private "$0" --in-ns "$dist" \
          2>&1 | tee "$out/$dist/log"
      status=${PIPESTATUS[0]}
      if [ "$status" -ne 0 ]; then
        why=$(grep -v '^==' "$out/$dist/log" | tail -1)
        [ "$status" -eq 2 ] && why="build failed"
        [ "$status" -eq 3 ] && why="--run failed"
        rc=1
      fi
    fi
    if [ -n "${ZB_CHROOT_RUN:-}" ] && [ -z "$why" ]; then
      echo "$dist: --run succeeded ($((SECONDS - start)) s)" > "$out/$dist/result"
      cat "$out/$dist/result"
      continue
    fi
    summarize "$dist" $((SECONDS - start)) "$why"
    grep -q ' 0 failed' "$out/$dist/result" || rc=1
  done
  return $rc
}

if [ "${1:-}" = --in-ns ] && [ "${ZB_CHROOT_NS:-}" = 1 ]; then
  run_dist_ns "$2"
  exit $?
fi
main "$@"
