"""The same two roles as theirs.py with our binding (python/zerobuffer.py,
over build/lib/libzerobuffer.so): run.sh pairs each with the other side's.

  ours.py read NAME FRAMES PAYLOAD_SIZE
  ours.py write NAME FRAMES SIZES
  ours.py expect FRAMES SIZES      the SHA-1 that write would print
"""

import hashlib
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "python"))

import zerobuffer  # noqa: E402


def pattern(k, size):
    row = bytes((k * 7 + i) % 251 for i in range(251))
    return (row * (size // 251 + 1))[:size]


def read(name, frames, payload):
    h = hashlib.sha1()
    sizes = set()
    got = 0
    with zerobuffer.Reader(name, payload_size=payload) as r:
        print("ready", flush=True)
        while got < frames:
            f = r.read(timeout_ms=10000)
            if f is None:
                break
            with f:
                d = bytes(f.data)
            h.update(d)
            sizes.add(len(d))
            got += 1
    print("frames=%d" % got)
    print("sizes=%s" % ",".join(str(s) for s in sorted(sizes)))
    print("sha1=%s" % h.hexdigest())


def write(name, frames, sizes):
    h = hashlib.sha1()
    with zerobuffer.Writer(name, connect_timeout_ms=10000) as w:
        w.set_metadata(b"interop")
        for k in range(frames):
            d = pattern(k, sizes[k % len(sizes)])
            w.write(d)
            h.update(d)
    print("sha1=%s" % h.hexdigest(), flush=True)


def expect(frames, sizes):
    h = hashlib.sha1()
    for k in range(frames):
        h.update(pattern(k, sizes[k % len(sizes)]))
    print("sha1=%s" % h.hexdigest())


if __name__ == "__main__":
    if sys.argv[1] == "expect":
        expect(int(sys.argv[2]), [int(s) for s in sys.argv[3].split(",")])
    elif sys.argv[1] == "read":
        read(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        write(sys.argv[2], int(sys.argv[3]),
              [int(s) for s in sys.argv[4].split(",")])
