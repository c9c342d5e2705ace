"""A fan-out reader through the Python binding, for test_zbfanout.

    fanout_reader.py BUFFER OUT

Creates BUFFER (e.g. cam@py), reads frames of zbsink's gst frame format
until EOS or until the writer leaves, and writes the 64-bit counter at
the start of each buffer's payload to OUT as JSON (a list), with the
largest latency from the push (CLOCK_MONOTONIC in µs, the payload's second
64-bit word) to the read. A reader by name only, as the protocol authors'
readers would be."""

import json
import os
import struct
import sys
import time

import zerobuffer


def main():
    name, out = sys.argv[1], sys.argv[2]
    counters = []
    end = "eos"
    max_latency_us = 0
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
                    now_us = time.monotonic_ns() // 1000
                    count, pushed_us = struct.unpack_from("<QQ",
                                                          frame.payload, 0)
                    counters.append(count)
                    max_latency_us = max(max_latency_us, now_us - pushed_us)
    with open(out + ".tmp", "w") as f:
        json.dump({"end": end, "max_latency_us": max_latency_us,
                   "counters": counters}, f)
    # complete files only
    os.rename(out + ".tmp", out)


if __name__ == "__main__":
    main()
