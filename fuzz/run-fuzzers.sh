#!/usr/bin/env bash
# Build every fuzz target with clang's libFuzzer + ASan + UBSan and run each
# for a bounded time (default 60 s; FUZZ_SECONDS overrides) over its corpus.
# A crash leaves its input in fuzz/crashes/ and fails the run; copy it into
# fuzz/corpus/TARGET/ once fixed so the replay test keeps it fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
out=${FUZZ_BUILD_DIR:-build-fuzz}
mkdir -p "$out" fuzz/crashes
status=0
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz/fuzz-*.c)
for src in "${targets[@]}"; do
  name=$(basename "$src" .c)
  target=${name#fuzz-}
  libs=()
  case $target in
    segment) deps=(lib/*.c) ;;         # the library itself
    json)                              # our checks, then json-glib
      deps=(gst/gstzbmetadata.c)
      read -ra libs < <(pkg-config --cflags --libs json-glib-1.0) ;;
    *) deps=(gst/zbframe.c lib/sidename.c) ;; # the GLib-free frame-format codec
  esac
  clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -D_GNU_SOURCE -Ilib/include -Ilib -Igst "${deps[@]}" "$src" \
    -o "$out/$name" -lpthread "${libs[@]}"
  work=$(mktemp -d)
  echo "fuzzing $target for $seconds s"
  if ! "$out/$name" -max_total_time="$seconds" -timeout=10 \
      -artifact_prefix=fuzz/crashes/"$target"- "$work" "fuzz/corpus/$target" \
      >"$out/$name.log" 2>&1; then
    echo "FAILED: $target (see $out/$name.log)"
    tail -30 "$out/$name.log"
    status=1
  else
    grep -E '^Done [0-9]+ runs' "$out/$name.log" || true
  fi
  rm -rf "$work"
done
exit $status
