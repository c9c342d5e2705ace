"""Drive the protocol authors' Python package (their reader or writer) for
run.sh. Their package is found in $ZB_UPSTREAM_DIR/python; posix_ipc (not
packaged by Debian) is the shim beside this file.

  theirs.py read NAME FRAMES PAYLOAD_SIZE   prints "ready", then the frames'
                                            count, sizes and SHA-1
  theirs.py write NAME FRAMES SIZES         writes FRAMES frames of the
                                            pattern(), sizes cycling through
                                            SIZES (comma-separated); prints
                                            the SHA-1
  theirs.py serve NAME FRAMES PAYLOAD_SIZE  their immutable duplex server on
                                            channel NAME, answering each
                                            request with its bytes inverted;
                                            prints "served=N" after FRAMES
                                            (or 30 s)
  theirs.py client NAME FRAMES SIZES        their duplex client: sends the
                                            frames of write, one at a time,
                                            and checks that each answer is
                                            the request inverted; prints
                                            "answered=N"
"""

import hashlib
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.environ["ZB_UPSTREAM_DIR"], "python"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from zerobuffer import BufferConfig, DuplexChannelFactory, Reader, Writer  # noqa: E402


def pattern(k, size):
    """Frame k: bytes that differ from frame to frame and along the frame."""
    row = bytes((k * 7 + i) % 251 for i in range(251))
    return (row * (size // 251 + 1))[:size]


def read(name, frames, payload):
    r = Reader(name, BufferConfig(metadata_size=4096, payload_size=payload))
    print("ready", flush=True)
    h = hashlib.sha1()
    sizes = set()
    got = 0
    while got < frames:
        f = r.read_frame(timeout=10.0)
        if f is None:
            break
        d = bytes(f.data)
        h.update(d)
        sizes.add(len(d))
        got += 1
        r.release_frame(f)
    meta = r.get_metadata()
    print("frames=%d" % got)
    print("sizes=%s" % ",".join(str(s) for s in sorted(sizes)))
    print("sha1=%s" % h.hexdigest())
    print("metadata=%s" % (bytes(meta).decode(errors="replace") if meta is not None else ""))
    r.close()


def write(name, frames, sizes):
    w = Writer(name)
    w.set_metadata(b'{"caps":"video/x-raw,format=GRAY8,width=64,height=48,framerate=30/1"}')
    h = hashlib.sha1()
    for k in range(frames):
        d = pattern(k, sizes[k % len(sizes)])
        w.write_frame(d)
        h.update(d)
    print("sha1=%s" % h.hexdigest(), flush=True)
    w.close()


INVERT = bytes(255 - i for i in range(256))


def serve(name, frames, payload):
    done = threading.Event()
    served = [0]

    def handler(frame, writer):
        writer.write_frame(bytes(frame.data).translate(INVERT))
        served[0] += 1
        if served[0] >= frames:
            done.set()

    server = DuplexChannelFactory.get_instance().create_immutable_server(
        name, BufferConfig(metadata_size=4096, payload_size=payload))
    server.start(handler)
    print("ready", flush=True)
    done.wait(30)
    print("served=%d" % served[0], flush=True)
    server.stop()


def client(name, frames, sizes):
    c = DuplexChannelFactory.get_instance().create_client(name)
    answered = 0
    for k in range(frames):
        d = pattern(k, sizes[k % len(sizes)])
        c.send_request(d)
        r = c.receive_response(10000)
        if not r.is_valid:
            break
        if r.to_bytes() == d.translate(INVERT):
            answered += 1
        c.release_response(r)
    print("answered=%d" % answered, flush=True)
    c.close()


if __name__ == "__main__":
    if sys.argv[1] == "client":
        client(sys.argv[2], int(sys.argv[3]),
               [int(s) for s in sys.argv[4].split(",")])
    elif sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif sys.argv[1] == "read":
        read(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        write(sys.argv[2], int(sys.argv[3]),
              [int(s) for s in sys.argv[4].split(",")])
