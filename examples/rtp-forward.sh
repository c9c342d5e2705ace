#!/bin/bash
# Beyond one host: forward a zbsrc stream to another machine with RTP over
# UDP, here over the loopback interface (docs/interop.md, "Other hosts").
#
#   rtp-forward.sh [-n FRAMES] [-p PORT] [-W WIDTH] [-H HEIGHT]
#
# Three pipelines, as they would run on two hosts:
#   host B  receiver:  udpsrc port=P caps=RTP-RAW-CAPS ! rtpjitterbuffer
#                      ! rtpvrawdepay ! videoconvert ! pngenc ! multifilesink
#   host A  forwarder: zbsrc buffer-name=X ! queue ! rtpvrawpay
#                      ! udpsink host=B port=P
#   host A  producer:  videotestsrc ! CAPS ! zbsink buffer-name=X
# The producer sends FRAMES frames then EOS; zbsrc passes the EOS on and the
# forwarder ends; the receiver (which never sees an end: UDP has none) is
# stopped with SIGINT (gst-launch-1.0 -e: EOS, files flushed). Passes when at
# least 90 % of the frames arrive as PNG files of the right size. Every
# process is bounded by timeout(1).
# Environment: GST_PLUGIN_PATH_1_0 (our plugin), GST_PLUGIN_SYSTEM_PATH_1_0.
set -u

frames=60
port=
width=320
height=240
while getopts n:p:W:H: opt; do
  case $opt in
    n) frames=$OPTARG ;;
    p) port=$OPTARG ;;
    W) width=$OPTARG ;;
    H) height=$OPTARG ;;
    *) exit 2 ;;
  esac
done
name="zbt-$$-rtp"
tmp=$(mktemp -d)
export GST_REGISTRY="$tmp/registry.bin"
pids=()

cleanup() {
  local p
  for p in "${pids[@]}"; do
    kill -9 "$p" 2> /dev/null
  done
  wait
  rm -rf "$tmp"
  rm -f "/dev/shm/$name" "/dev/shm/sem.sem-w-$name" "/dev/shm/sem.sem-r-$name" \
    "/tmp/zerobuffer/$name.lock"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

if [ -z "$port" ]; then
  # A free UDP port on 127.0.0.1.
  port=$(python3 -c 'import socket; s = socket.socket(socket.AF_INET,
socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi

# RTP raw video carries no caps: the receiver states them (RFC 4175
# parameters; an SDP file would carry the same).
rtp_caps="application/x-rtp,media=video,clock-rate=90000,encoding-name=RAW"
rtp_caps="$rtp_caps,sampling=YCbCr-4:2:0,depth=(string)8"
rtp_caps="$rtp_caps,width=(string)$width,height=(string)$height"
rtp_caps="$rtp_caps,colorimetry=(string)BT601-5,payload=96"

echo "== receiver on 127.0.0.1:$port"
# --foreground: timeout(1) passes our SIGINT to gst-launch-1.0 once; without
# it, it also signals its process group, and the second SIGINT makes
# gst-launch-1.0 -e quit before its EOS is through (exit 130 under load)
timeout --foreground 60 gst-launch-1.0 -e udpsrc address=127.0.0.1 port="$port" \
  caps="$rtp_caps" buffer-size=4194304 \
  ! rtpjitterbuffer latency=200 ! rtpvrawdepay ! videoconvert \
  ! pngenc compression-level=1 \
  ! multifilesink location="$tmp/frame-%04d.png" > "$tmp/receiver.log" 2>&1 &
rpid=$!
pids+=($rpid)
for _ in $(seq 100); do
  grep -q "Setting pipeline to PLAYING" "$tmp/receiver.log" && break
  sleep 0.1
done

echo "== forwarder zbsrc buffer-name=$name -> udp://127.0.0.1:$port"
timeout 60 gst-launch-1.0 zbsrc buffer-name="$name" \
  ! queue ! rtpvrawpay ! udpsink host=127.0.0.1 port="$port" \
  > "$tmp/forwarder.log" 2>&1 &
fpid=$!
pids+=($fpid)

echo "== producer: $frames frames ${width}x$height I420 at 30 fps"
# Every frame counts here: wait for the forwarder's buffer (with a live
# source the default, on-reader-lost=auto, drops frames until a reader is
# there).
timeout 60 gst-launch-1.0 videotestsrc num-buffers="$frames" is-live=true \
  ! video/x-raw,format=I420,width="$width",height="$height",framerate=30/1 \
  ! zbsink buffer-name="$name" connect-timeout=20000 on-reader-lost=wait \
  > "$tmp/producer.log" 2>&1
prc=$?
wait "$fpid"
frc=$?
# Let the last packets land, then stop the receiver cleanly.
sleep 0.5
kill -INT "$rpid"
wait "$rpid"
rrc=$?
pids=()

got=$(find "$tmp" -name 'frame-*.png' | wc -l)
echo "producer exit $prc, forwarder exit $frc, receiver exit $rrc;" \
  "$got of $frames frames arrived"
ok=1
[ "$prc" -eq 0 ] && [ "$frc" -eq 0 ] && [ "$rrc" -eq 0 ] || ok=0
[ "$got" -ge $((frames * 9 / 10)) ] || ok=0
if [ "$got" -gt 0 ]; then
  # PNG signature and IHDR width/height of the first frame.
  f=$(find "$tmp" -name 'frame-*.png' | sort | head -1)
  dims=$(python3 -c 'import struct, sys
d = open(sys.argv[1], "rb").read(24)
assert d[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
print("%dx%d" % struct.unpack(">II", d[16:24]))' "$f") || ok=0
  echo "first frame: $dims PNG"
  [ "$dims" = "${width}x$height" ] || ok=0
fi
if [ $ok -ne 1 ]; then
  for l in producer forwarder receiver; do
    echo "--- $l"
    tail -20 "$tmp/$l.log"
  done
  echo FAIL
  exit 1
fi
echo PASS
