#!/usr/bin/env python3
"""zb-numpy-consumer - the processing side of a capture -> processing
hand-off: creates buffer NAME, and turns every video frame a GStreamer
pipeline ending in zbsink writes into it into a numpy array without copying
it, shaped from the caps the writer put in the metadata.

    python3 examples/zb-numpy-consumer.py cam &
    gst-launch-1.0 videotestsrc num-buffers=100 \\
        ! video/x-raw,format=RGB,width=640,height=480 ! zbsink buffer-name=cam

Works with zbsink frame-format=gst (the default: the 80-byte record header
is parsed by the binding, caps changes mid-stream are followed, EOS ends the
run) and frame-format=raw (the run ends when the writer disconnects).

Prints one line per caps seen and a summary. --expect-rgb R,G,B checks that
every pixel of every frame has that value (for a solid-color test source)
and fails otherwise. The library is found through $ZEROBUFFER_LIBRARY (e.g.
build/lib/libzerobuffer.so) or the system's library path.
"""

import argparse
import os
import sys
import time

try:
    import zerobuffer
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(
        __file__)), "..", "python"))
    import zerobuffer

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("name", help="buffer name (zbsink buffer-name)")
    ap.add_argument("--payload-size", type=int, default=64 << 20,
                    help="ring size in bytes (default 64 MiB)")
    ap.add_argument("--timeout-ms", type=int, default=10000,
                    help="give up after this long without a frame")
    ap.add_argument("--expect-rgb", metavar="R,G,B",
                    help="fail unless every pixel has this value")
    ap.add_argument("--max-frames", type=int, default=0,
                    help="stop after this many frames (0: until the end)")
    args = ap.parse_args()
    expect = None
    if args.expect_rgb:
        expect = np.array([int(v) for v in args.expect_rgb.split(",")],
                          dtype=np.uint8)

    frames = copies = 0
    shape = None
    start = None
    with zerobuffer.Reader(args.name, payload_size=args.payload_size) as r:
        print("ready: buffer %s" % args.name, flush=True)
        while True:
            try:
                frame = r.read(timeout_ms=args.timeout_ms)
            except zerobuffer.PeerGone:
                break                   # raw format: the writer left
            with frame:
                if frame.new_writer or frame.kind == "caps":
                    print("writer %s, frame format %s, caps: %s" % (
                        "new" if frame.new_writer else "same",
                        frame.format, r.caps()), flush=True)
                if frame.kind == "eos":
                    break
                if frame.kind != "buffer":
                    continue
                if start is None:
                    start = time.monotonic()
                img = frame.ndarray()
                # A view of the ring, not a copy.
                if img.__array_interface__["data"][0] != \
                        frame.payload_address:
                    copies += 1
                if img.shape != shape:
                    shape = img.shape
                    print("frame %d: array %s %s, pts %s" % (
                        frames, img.shape, img.dtype, frame.pts), flush=True)
                if expect is not None:
                    if img.ndim != 3 or not (img[:, :, :3] == expect).all():
                        print("FAIL: frame %d is not %s (pixel 0,0: %s)" % (
                            frames, args.expect_rgb, img[0, 0]))
                        return 1
                frames += 1
                del img                 # no view may outlive the frame
            if args.max_frames and frames >= args.max_frames:
                break
    elapsed = time.monotonic() - start if start else 0.0
    print("received %d frames%s, %d copied" % (
        frames, " in %.2f s" % elapsed if elapsed else "", copies))
    return 0 if frames and not copies else 1


if __name__ == "__main__":
    sys.exit(main())
