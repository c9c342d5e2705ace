#!/usr/bin/python3
"""Fan-out benchmark (not a timed test): one writer, N readers in N
processes, zbsink -> zbsrc reader-id=rK next to shmsink -> shmsrc, 1080p
I420 by default.

The writer runs here (PyGObject): videotestsrc ! valve ! SINK. The valve
opens once every reader is connected (zbsink's readers property, shmsink's
client-connected signal), so that each reader gets every frame; each
reader is gst-launch-1.0 ... num-buffers=FRAMES ! fakesink and exits after
its last frame. Reported per path and N: aggregate frames/s delivered (N x
FRAMES / time from the valve opening to the last reader's exit) and CPU
time per delivered frame (writer and readers, user + system).

  /usr/bin/python3 bench/bench-fanout.py [--frames 6000] [--readers 1,2,4]
      [--reps 3] [--caps CAPS]

Run with GST_PLUGIN_PATH_1_0=build/gst. zbsink runs with its default
properties (non-live upstream: reader-policy=auto is block, every reader
gets every frame; every reader of NAME@ID gets a pool record of the one
block videotestsrc filled, as the reader of NAME would).
"""

import argparse
import os
import resource
import statistics
import subprocess
import time

import gi

gi.require_version("Gst", "1.0")
from gi.repository import GLib, Gst  # noqa: E402

CAPS = "video/x-raw,format=I420,width=1920,height=1080,framerate=0/1"


def cpu_self():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cpu_children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def wait_until(cond, timeout, what):
    end = time.monotonic() + timeout
    ctx = GLib.MainContext.default()
    while not cond():
        if time.monotonic() > end:
            raise RuntimeError("timed out waiting for " + what)
        ctx.iteration(False)
        time.sleep(0.002)


def run(path, n, frames, caps, tag):
    name = "zbbench-fanout-%d-%s" % (os.getpid(), tag)
    sock = "/tmp/%s.sock" % name
    size = 1920 * 1080 * 3 // 2
    if path == "zb":
        sink = "zbsink name=sink buffer-name=%s sync=false" % name
    else:
        sink = ("shmsink name=sink socket-path=%s shm-size=%d "
                "wait-for-connection=false sync=false" % (sock, size * 8))
    writer = Gst.parse_launch(
        "videotestsrc pattern=black ! %s ! valve name=valve drop=true ! %s"
        % (caps, sink))
    valve = writer.get_by_name("valve")
    sinkel = writer.get_by_name("sink")
    connected = [0]
    if path == "shm":
        sinkel.connect("client-connected",
                       lambda *a: connected.__setitem__(0, connected[0] + 1))
    readers = []
    try:
        if path == "shm":
            writer.set_state(Gst.State.PLAYING)
            wait_until(lambda: os.path.exists(sock), 10, "the socket")
        for k in range(n):
            if path == "zb":
                src = ("zbsrc buffer-name=%s reader-id=r%d is-live=false "
                       "num-buffers=%d" % (name, k, frames))
            else:
                src = ("shmsrc socket-path=%s is-live=false num-buffers=%d ! "
                       "%s" % (sock, frames, caps))
            readers.append(subprocess.Popen(
                ["gst-launch-1.0", "-q"] + src.split() +
                ["!", "fakesink", "sync=false"]))
        if path == "zb":
            writer.set_state(Gst.State.PLAYING)
            wait_until(lambda: sinkel.get_property("readers") >= n, 10,
                       "the readers")
        else:
            wait_until(lambda: connected[0] >= n, 10, "the readers")
        c0 = cpu_self() + cpu_children()
        t0 = time.monotonic()
        valve.set_property("drop", False)
        for r in readers:
            if r.wait(timeout=60) != 0:
                raise RuntimeError("a %s reader failed" % path)
        t = time.monotonic() - t0
        cpu = cpu_self() + cpu_children() - c0
    finally:
        for r in readers:
            if r.poll() is None:
                r.kill()
                r.wait()
        writer.set_state(Gst.State.NULL)
        if os.path.exists(sock):
            os.unlink(sock)
    delivered = n * frames
    return delivered / t, cpu / delivered * 1000.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=6000)
    ap.add_argument("--readers", default="1,2,4")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--caps", default=CAPS)
    args = ap.parse_args()
    Gst.init(None)
    print("%-4s %2s  %12s  %14s  (median of %d)" %
          ("path", "N", "frames/s", "CPU ms/frame", args.reps))
    for n in [int(x) for x in args.readers.split(",")]:
        res = {"zb": [], "shm": []}
        failed = {"zb": 0, "shm": 0}
        for rep in range(args.reps):
            order = ["zb", "shm"] if rep % 2 == 0 else ["shm", "zb"]
            for p in order:
                try:
                    res[p].append(run(p, n, args.frames, args.caps,
                                      "%d-%d-%s" % (n, rep, p)))
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    failed[p] += 1
                    print("     %s N=%d: run failed (%s)" % (p, n, e))
        med = {}
        for p in ("zb", "shm"):
            if not res[p]:
                print("%-4s %2d  all %d runs failed" % (p, n, args.reps))
                continue
            fps = statistics.median(r[0] for r in res[p])
            cpu = statistics.median(r[1] for r in res[p])
            med[p] = fps
            print("%-4s %2d  %12.0f  %14.2f  %s" % (
                p, n, fps, cpu,
                "(%d failed)" % failed[p] if failed[p] else ""))
        if len(med) == 2:
            print("     %2d  zb/shm %.2fx" % (n, med["zb"] / med["shm"]))


if __name__ == "__main__":
    main()
