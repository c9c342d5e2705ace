#!/usr/bin/python3
"""One process (writer or reader) of bench/bench-producers.sh.

  /usr/bin/python3 bench/bench-proc.py PIPELINE...

Runs the gst-launch-style PIPELINE until EOS, an error or SIGTERM (or, in
a reader, no new buffer for ZB_BENCH_IDLE seconds, default 3, after the
first), then prints key=value lines:
  status   eos, error: TEXT, stopped (SIGTERM) or stalled (no new buffer)
  cpu      user + system seconds of this process from PLAYING to the end
           (the interpreter's start-up and the teardown left out)
A reader names its fakesink "out": also
  rendered the buffers the fakesink got (its stats property)
  first    wall-clock time of the first buffer at the fakesink
  last     wall-clock time of the EOS at the fakesink (after the last
           buffer); when stalled, of the last change of rendered (polled
           every 10 ms)
A writer names its zbsink "zb": also zbsink's stats at EOS, frames-sent,
zero-copy-frames, pool-fallbacks (gst-launch cannot print them).
Runs with /usr/bin/python3 (PyGObject, python3-gi and python3-gst-1.0).
"""

import os
import resource
import signal
import sys
import time

import gi

gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main():
    Gst.init(None)
    pipe = Gst.parse_launch(" ".join(sys.argv[1:]))
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    times = {}
    out = pipe.get_by_name("out")
    if out is not None:
        pad = out.get_static_pad("sink")

        def first(pad, info):
            times["first"] = time.time()
            return Gst.PadProbeReturn.REMOVE

        def eos(pad, info):
            if info.get_event().type == Gst.EventType.EOS:
                times["last"] = time.time()
            return Gst.PadProbeReturn.OK

        pad.add_probe(Gst.PadProbeType.BUFFER, first)
        pad.add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM, eos)
    c0 = cpu()
    pipe.set_state(Gst.State.PLAYING)
    bus = pipe.get_bus()
    status = "stopped"
    idle = float(os.environ.get("ZB_BENCH_IDLE", "3"))
    seen = (0, time.time())
    while not stop:
        msg = bus.timed_pop_filtered(
            10 * Gst.MSECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
        if msg is None:
            if out is None or "first" not in times:
                continue
            n = out.get_property("stats").get_uint64("rendered")[1]
            t = time.time()
            if n != seen[0]:
                seen = (n, t)
            elif t - seen[1] > idle:
                status = "stalled"
                times["last"] = seen[1]
                break
            continue
        if msg.type == Gst.MessageType.ERROR:
            status = "error: " + msg.parse_error()[0].message
        else:
            status = "eos"
        break
    lines = ["cpu=%.6f" % (cpu() - c0)]
    if out is not None:
        lines.append("rendered=%d" % out.get_property("stats")
                     .get_uint64("rendered")[1])
        for k in ("first", "last"):
            if k in times:
                lines.append("%s=%.6f" % (k, times[k]))
    zb = pipe.get_by_name("zb")
    if zb is not None:
        st = zb.get_property("stats")
        for k in ("frames-sent", "zero-copy-frames", "pool-fallbacks"):
            lines.append("%s=%d" % (k, st.get_uint64(k)[1]))
    lines.append("status=" + status)
    print("\n".join(lines), flush=True)
    pipe.set_state(Gst.State.NULL)
    return 0 if status != "error" and not status.startswith("error") else 1


if __name__ == "__main__":
    sys.exit(main())
