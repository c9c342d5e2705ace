#!/usr/bin/env bash
# A recorder that joins a running writer (issue 17, "Readers that join a
# running stream"), as a user would run it: one gst-launch writer process
# with live video (VP8, a key frame only every 300 frames) and live audio
# (Opus) into two buffers; 2 s later a gst-launch recorder reads both into
# Matroska for 3 s and stops with -e and SIGINT. The file must be playable:
# both streams, about 3 s long (not the writer's 5 s, not hours), video
# starting at a key frame (zbsink asks the encoder for one; zbsrc keeps
# that key unit when it arrives just before the recorder's base time),
# audio and video starting together. Checked with gst-discoverer-1.0 and by
# reading the file back. Exit 77 (skip) when an element is missing.
set -u

for e in vp8enc opusenc matroskamux matroskademux; do
  gst-inspect-1.0 "$e" > /dev/null 2>&1 || { echo "SKIP: no $e"; exit 77; }
done
command -v gst-discoverer-1.0 > /dev/null || { echo "SKIP: no gst-discoverer-1.0"; exit 77; }

name="zbt-late-$$"
tmp=$(mktemp -d)
wpid=""
rpid=""
cleanup () {
  [ -n "$rpid" ] && kill -KILL "$rpid" 2>/dev/null
  [ -n "$wpid" ] && kill -KILL "$wpid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$tmp"
  rm -f /dev/shm/"$name"-* /dev/shm/sem.sem-?-"$name"-* /dev/shm/zbpool-"$name"-* \
    /tmp/zerobuffer/"$name"-*.lock
}
trap cleanup EXIT
fail () { echo "FAIL: $*"; exit 1; }

gst-launch-1.0 -q videotestsrc is-live=true \
  ! video/x-raw,format=I420,width=320,height=240,framerate=30/1 \
  ! vp8enc deadline=1 keyframe-max-dist=300 ! zbsink buffer-name="$name-v" \
  audiotestsrc is-live=true ! audio/x-raw,rate=48000,channels=2 ! opusenc \
  ! zbsink buffer-name="$name-a" > "$tmp/writer.log" 2>&1 &
wpid=$!
sleep 2
kill -0 "$wpid" 2>/dev/null || fail "the writer did not keep running \
without readers: $(cat "$tmp/writer.log")"

gst-launch-1.0 -e zbsrc buffer-name="$name-v" ! queue ! mux.video_0 \
  zbsrc buffer-name="$name-a" ! queue ! mux.audio_0 \
  matroskamux name=mux ! filesink location="$tmp/rec.mkv" \
  > "$tmp/recorder.log" 2>&1 &
rpid=$!
sleep 3
kill -INT "$rpid"
for _ in $(seq 100); do kill -0 "$rpid" 2>/dev/null || break; sleep 0.1; done
wait "$rpid"
rc=$?
rpid=""
[ "$rc" = 0 ] || fail "recorder exit $rc: $(tail -5 "$tmp/recorder.log")"

gst-discoverer-1.0 -v "$tmp/rec.mkv" > "$tmp/disc.txt" 2>&1 \
  || fail "not playable: $(cat "$tmp/disc.txt")"
grep -q "video/x-vp8" "$tmp/disc.txt" || fail "no video stream"
grep -q "audio/x-opus" "$tmp/disc.txt" || fail "no audio stream"
dur=$(sed -n 's/^ *Duration: \([0-9:.]*\).*/\1/p' "$tmp/disc.txt" | head -1)
secs=$(echo "$dur" | awk -F: '{ print $1 * 3600 + $2 * 60 + $3 }')
awk -v s="$secs" 'BEGIN { exit !(s >= 2.0 && s <= 4.5) }' \
  || fail "duration $dur, expected about 3 s"

# The first buffer of each stream: flags and PTS.
first () {
  timeout 20 gst-launch-1.0 -v filesrc location="$tmp/rec.mkv" \
    ! matroskademux ! "$1" ! identity silent=false ! fakesink sync=false \
    2>&1 | grep -m1 "last-message = chain"
}
v=$(first video/x-vp8)
a=$(first audio/x-opus)
[ -n "$v" ] && [ -n "$a" ] || fail "no buffers read back"
case "$v" in *delta-unit*) fail "video starts at a delta unit: $v" ;; esac
pts () { echo "$1" | sed -n 's/.*pts: \([0-9:.]*\),.*/\1/p' \
  | awk -F: '{ print $1 * 3600 + $2 * 60 + $3 }'; }
vp=$(pts "$v")
ap=$(pts "$a")
awk -v v="$vp" -v a="$ap" 'BEGIN { d = v - a; if (d < 0) d = -d; exit !(d < 0.25) }' \
  || fail "video starts at $vp s, audio at $ap s"

kill -INT "$wpid"
wait "$wpid"
wpid=""
echo "ok: $dur, video from a key frame at $vp s, audio at $ap s"
