"""A fan-out reader through the Python binding, for test_zbfanout.

    fanout_reader.py BUFFER OUT

Creates BUFFER (e.g. cam@py), reads frames of zbsink's gst frame format
until EOS or until the writer leaves, and writes the 64-bit counter at
the start of each buffer's payload to OUT as JSON (a list). A reader by
name only, as the protocol authors' readers would be."""

import json
import os
import struct
import sys

import zerobuffer


def main():
    name, out = sys.argv[1], sys.argv[2]
    counters = []
    end = "eos"
    with zerobuffer.Reader(name, payload_size=16 << 20) as reader:
        while True:
            try:
                frame = reader.read(timeout_ms=20000)
            except zerobuffer.PeerGone:
                end = "writer-gone"
                break
            with frame:
                if frame.kind == "eos":
                    break
                if frame.kind == "buffer":
                    counters.append(struct.unpack_from("<Q", frame.payload,
                                                       0)[0])
    with open(out + ".tmp", "w") as f:
        json.dump({"end": end, "counters": counters}, f)
    # complete files only
    os.rename(out + ".tmp", out)


if __name__ == "__main__":
    main()
