#!/usr/bin/env python3
"""GStreamer-level benchmark: zbsink -> zbsrc next to shmsink -> shmsrc, and
unixfdsink -> unixfdsrc where GStreamer has them (1.24+).

Every case runs both paths in separate processes (zb-bench-gst produce /
consume), in the same invocation, alternating zb and shm repetition by
repetition. Throughput is measured by the consumer from the first buffer
after the warm-up to the last one; CPU time is read from /proc/PID/stat of
both processes at those two moments. The median of the repetitions is
reported.

  bench-gst.py --helper BUILD/bench/zb-bench-gst --json OUT [--quick]
               [--reps N] [--cases 1,2,3,4,5,6] [--paths A,B]

--paths names the sides compared, two or three (default zb,shm and, when
gst-inspect-1.0 finds unixfdsink, unixfd): "zb" is zbsink -> zbsrc with
zbsink's default properties, "shm" shmsink -> shmsrc, "unixfd" unixfdsink
-> unixfdsrc, "zb-ctN" zbsink with copy-threads=N (e.g. --paths
zb-ct0,zb-ct1 compares one copy thread per processor with the streaming
thread alone). The order of the paths rotates from one repetition to the
next, so that no side always runs first. Ratios are of the first path to
each other one.

unixfd passes file descriptors, so its buffers must be fd-backed and in a
TIME segment: the producer runs in TIME format, copies a producer-owned
frame into a buffer of a memfd pool (the one copy every path makes of
such a frame), and puts a pool around the allocator unixfdsink proposes
for the sink-allocated case.
"""

import argparse
import glob
import json
import os
import signal
import statistics
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
UNIXFD_WAIT = False  # unixfdsink has wait-for-connection (1.26)
I420_1080P = 1920 * 1080 * 3 // 2
I420_4K = 3840 * 2160 * 3 // 2
CAPS_1080P = "video/x-raw,format=I420,width=1920,height=1080,framerate=0/1"
CAPS_4K = "video/x-raw,format=I420,width=3840,height=2160,framerate=0/1"
CAPS_BYTES = "application/x-zb-bench"


def path_props(path):
    """(kind, extra zbsink properties) of a --paths name."""
    if path == "shm":
        return "shm", ""
    if path == "zb":
        return "zb", ""
    if path == "unixfd":
        return "unixfd", ""
    if path.startswith("zb-ct") and path[5:].isdigit():
        return "zb", " copy-threads=%d" % int(path[5:])
    raise ValueError("unknown path %r (zb, shm, unixfd or zb-ctN)" % path)


def have_element(name):
    """Whether the GStreamer we run on has element @name."""
    try:
        return subprocess.run(["gst-inspect-1.0", "--exists", name],
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL).returncode == 0
    except OSError:
        return False


def has_property(element, prop):
    out = subprocess.run(["gst-inspect-1.0", element], capture_output=True,
                         text=True).stdout
    return any(line.strip().startswith(prop + " ") or
               line.strip().startswith(prop + ":")
               for line in out.splitlines())


def cpu_seconds(pid):
    """utime + stime of @pid (also readable while it is a zombie)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return float("nan")


class Run:
    """One producer and one consumer process."""

    def __init__(self, helper, path, caps, size, count, mem, rate, warmup,
                 latency, tag):
        self.helper = helper
        self.path, self.sink_props = path_props(path)
        self.caps = caps
        self.size = size
        self.count = count
        self.mem = mem
        self.rate = rate
        self.warmup = warmup
        self.latency = latency
        self.name = "zbbench-%d-%s" % (os.getpid(), tag)
        self.sock = "/tmp/zbbench-%d-%s.sock" % (os.getpid(), tag)
        self.procs = []

    def _spawn(self, args):
        p = subprocess.Popen([self.helper] + args, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             env=os.environ)
        self.procs.append(p)
        return p

    def start(self):
        total = self.count if self.rate >= 0 else -self.rate
        if self.path == "zb":
            ring = max(64 << 20, 4 * (self.size + 256))
            src = ("zbsrc buffer-name=%s is-live=false payload-size=%d "
                   "on-writer-lost=eos" % (self.name, ring))
            # zbsink's defaults but for the name and sync=false (as shmsink's)
            sink = ("zbsink buffer-name=%s sync=false connect-timeout=10000%s"
                    % (self.name, self.sink_props))
            self.cons = self._spawn(["consume", src, str(self.count),
                                     str(self.warmup), str(int(self.latency))])
            self.prod = self._spawn(["produce", sink, self.caps,
                                     str(self.size), str(total), self.mem,
                                     str(self.rate)])
        elif self.path == "unixfd":
            # fd-backed memory and a TIME segment (see the module's doc)
            opts = "time,fd" if self.mem == "own" else "time,pool"
            sink = "unixfdsink socket-path=%s sync=false" % self.sock
            if UNIXFD_WAIT:
                sink += " wait-for-connection=true"
            self.prod = self._spawn(["produce", sink, self.caps,
                                     str(self.size), str(total), self.mem,
                                     str(self.rate), opts])
            # unixfdsrc fails when its writer is not there yet
            deadline = time.monotonic() + 10
            while not os.path.exists(self.sock):
                if time.monotonic() > deadline or self.prod.poll() is not None:
                    raise RuntimeError("unixfdsink did not start: %s"
                                       % self.prod.stderr.read())
                time.sleep(0.01)
            src = "unixfdsrc socket-path=%s" % self.sock
            self.cons = self._spawn(["consume", src, str(self.count),
                                     str(self.warmup), str(int(self.latency))])
        else:
            shm = max(64 << 20, 4 * (self.size + 256))
            sink = ("shmsink socket-path=%s shm-size=%d "
                    "wait-for-connection=true sync=false"
                    % (self.sock, shm))
            self.prod = self._spawn(["produce", sink, self.caps,
                                     str(self.size), str(total), self.mem,
                                     str(self.rate)])
            deadline = time.monotonic() + 10
            while not os.path.exists(self.sock):
                if time.monotonic() > deadline or self.prod.poll() is not None:
                    raise RuntimeError("shmsink did not start: %s"
                                       % self.prod.stderr.read())
                time.sleep(0.01)
            src = ("shmsrc socket-path=%s is-live=false num-buffers=%d ! %s"
                   % (self.sock, self.count, self.caps))
            self.cons = self._spawn(["consume", src, str(self.count),
                                     str(self.warmup), str(int(self.latency))])

    def cpu(self):
        return cpu_seconds(self.prod.pid) + cpu_seconds(self.cons.pid)

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                try:
                    p.wait(timeout=0.2 if self.path == "shm" else 3)
                except subprocess.TimeoutExpired:
                    p.send_signal(signal.SIGKILL)
                    p.wait()
        for p in self.procs:
            p.stdout.close()
            p.stderr.close()
        # shmsink names its segments "shmpipe.%5d.%5d" (PID and number,
        # padded with spaces); zbsrc removes its own
        for f in glob.glob("/dev/shm/shmpipe.%5d.*" % self.prod.pid):
            try:
                os.unlink(f)
            except OSError:
                pass
        for f in (self.sock,):
            try:
                os.unlink(f)
            except OSError:
                pass
        if self.path == "zb":
            subprocess.run(["sh", "-c", "rm -f /dev/shm/%s /dev/shm/sem.sem-?-%s"
                            " /tmp/zerobuffer/%s.lock" % ((self.name,) * 3)],
                           check=False)


def run_once(helper, path, caps, size, count, mem, rate, warmup, latency,
             tag, timeout=120):
    """Returns a dict: rate (buffers/s), received, cpu_per_buffer_us,
    latency percentiles when asked."""
    r = Run(helper, path, caps, size, count, mem, rate, warmup, latency, tag)
    r.start()
    res = {"received": 0}
    t_first = cpu_first = t_start = cpu_start = None
    deadline = time.monotonic() + timeout
    try:
        for line in r.cons.stdout:
            w = line.split()
            if not w:
                continue
            if w[0] == "start":
                cpu_start = r.cpu()
                t_start = int(w[1])
            elif w[0] == "first":
                cpu_first = r.cpu()
                t_first = int(w[1])
            elif w[0] in ("last", "stall"):
                cpu_last = r.cpu()
                t_last, n = int(w[1]), int(w[2])
                res["received"] = n
                res["stalled"] = w[0] == "stall"
                if t_first is None and t_start is not None:
                    # stalled inside the warm-up: rate over what arrived
                    t_first, cpu_first, warmup = t_start, cpu_start, 0
                if t_first is not None and n > warmup + 1 and t_last > t_first:
                    timed = n - warmup - 1
                    res["rate"] = timed / ((t_last - t_first) / 1e9)
                    res["cpu_per_buffer_us"] = ((cpu_last - cpu_first) /
                                                timed * 1e6)
                    res["cpu_percent"] = (100 * (cpu_last - cpu_first) /
                                          ((t_last - t_first) / 1e9))
                if not latency:
                    break
            elif w[0] == "lat":
                res["latency_us"] = {"samples": int(w[1]), "p50": float(w[2]),
                                     "p90": float(w[3]), "p99": float(w[4]),
                                     "max": float(w[5])}
                break
            if time.monotonic() > deadline:
                break
    finally:
        r.stop()
    if "rate" not in res:
        res["error"] = "no result"
    return res


def idle_pair(helper, path, seconds, tag):
    """CPU of a connected pair that is blocked with nothing to send."""
    r = Run(helper, path, CAPS_BYTES, 1024, 1000000, "own", -10, 0, False, tag)
    r.start()
    res = {}
    try:
        line = r.cons.stdout.readline()  # "first": connected and flowing
        if not line.startswith("first"):
            return {"error": "no first buffer"}
        time.sleep(0.5)
        c0, t0 = r.cpu(), time.monotonic()
        time.sleep(seconds)
        c1, t1 = r.cpu(), time.monotonic()
        res["cpu_percent_of_core"] = 100 * (c1 - c0) / (t1 - t0)
        res["seconds"] = round(t1 - t0, 2)
    finally:
        for p in r.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
        r.stop()
    return res


def med(results, key):
    v = [x[key] for x in results if key in x]
    return statistics.median(v) if v else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--helper", required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=0)
    ap.add_argument("--cases", default="1,2,3,4,5,6")
    ap.add_argument("--paths", default=None)
    a = ap.parse_args()
    cases = set(int(c) for c in a.cases.split(","))
    if a.paths is None:
        paths = ["zb", "shm"] + (["unixfd"] if have_element("unixfdsink")
                                 else [])
    else:
        paths = a.paths.split(",")
    for p in paths:
        path_props(p)
    if len(paths) not in (2, 3) or len(set(paths)) != len(paths):
        ap.error("--paths: two or three different paths")
    if "unixfd" in paths:
        if not have_element("unixfdsink"):
            ap.error("--paths: no unixfdsink here (GStreamer 1.24+)")
        global UNIXFD_WAIT
        UNIXFD_WAIT = has_property("unixfdsink", "wait-for-connection")
    reps = a.reps or (3 if a.quick else 5)
    q = 0.2 if a.quick else 1.0
    out = {"reps": reps, "quick": a.quick, "paths": paths, "cases": {}}
    n = [0]

    def tag():
        n[0] += 1
        return str(n[0])

    def order(rep):
        """the paths in the order of repetition @rep: rotating"""
        k = rep % len(paths)
        return paths[k:] + paths[:k]

    def throughput(key, title, caps, size, count, mem, warmup):
        print("case %s: %s, %d buffers x %d reps" % (key, title, count, reps),
              file=sys.stderr, flush=True)
        per = {p: [] for p in paths}
        for i in range(reps):
            for p in order(i):
                per[p].append(run_once(a.helper, p, caps, size, count, mem, 0,
                                       warmup, False, tag()))
        entry = {"title": title, "buffer_bytes": size, "buffers": count}
        for p in paths:
            entry[p] = {
                "buffers_per_s": med(per[p], "rate"),
                "cpu_per_buffer_us": med(per[p], "cpu_per_buffer_us"),
                "cpu_percent": med(per[p], "cpu_percent"),
                "received_min": min(x["received"] for x in per[p]),
                "stalled_runs": sum(1 for x in per[p] if x.get("stalled")),
                "runs": per[p],
            }
        # first path / second: of the medians, and each repetition's pair
        a_, b_ = paths[:2]
        if entry[a_]["buffers_per_s"] and entry[b_]["buffers_per_s"]:
            entry["ratio"] = entry[a_]["buffers_per_s"] / \
                entry[b_]["buffers_per_s"]
        entry["pair_ratios"] = [x["rate"] / y["rate"]
                                for x, y in zip(per[a_], per[b_])
                                if x.get("rate") and y.get("rate")]
        # the first path to each other one
        entry["ratios"] = {}
        for o in paths[1:]:
            if entry[a_]["buffers_per_s"] and entry[o]["buffers_per_s"]:
                entry["ratios"][o] = (entry[a_]["buffers_per_s"] /
                                      entry[o]["buffers_per_s"])
        out["cases"][key] = entry

    if 1 in cases or 6 in cases:
        throughput("1", "1080p I420, producer-owned memory", CAPS_1080P,
                   I420_1080P, int(4000 * q), "own", int(400 * q))
    if 2 in cases:
        throughput("2", "1080p I420, allocated from the sink's proposal",
                   CAPS_1080P, I420_1080P, int(4000 * q), "sink", int(400 * q))
    if 3 in cases:
        throughput("3", "4K I420, producer-owned memory", CAPS_4K, I420_4K,
                   int(800 * q), "own", int(80 * q))
    if 4 in cases or 6 in cases:
        throughput("4", "1 KiB buffers", CAPS_BYTES, 1024,
                   100000 if a.quick else 1000000, "own",
                   10000 if a.quick else 50000)
    if 5 in cases:
        for key, title, caps, size, mem, rate, secs in (
                ("5a", "latency 1080p I420 at 240 fps", CAPS_1080P,
                 I420_1080P, "own", 240, 5),
                ("5b", "latency 1 KiB at 1 kHz", CAPS_BYTES, 1024, "own",
                 1000, 5),
                ("5c", "latency 1080p I420 at 240 fps, allocated from the "
                 "sink's proposal", CAPS_1080P, I420_1080P, "sink", 240, 5),
                # frames under 1 ms apart: zbsink shares their copies with
                # its copy threads (gst/gstzbcopy.c), unlike at 240 fps
                ("5d", "latency 1080p I420 at 1000 fps", CAPS_1080P,
                 I420_1080P, "own", 1000, 5)):
            secs = secs * (0.4 if a.quick else 1)
            count = int(rate * secs)
            print("case %s: %s, %d buffers x %d reps" % (key, title, count,
                                                         reps),
                  file=sys.stderr, flush=True)
            entry = {"title": title, "buffer_bytes": size, "buffers": count,
                     "rate": rate}
            per = {p: [] for p in paths}
            for i in range(reps):
                for p in order(i):
                    per[p].append(run_once(a.helper, p, caps, size, count,
                                           mem, rate, count // 10, True,
                                           tag()))
            for p in paths:
                lat = [r["latency_us"] for r in per[p] if "latency_us" in r]
                # each percentile: the median over the repetitions
                entry[p] = {k: statistics.median(x[k] for x in lat)
                            for k in ("p50", "p90", "p99", "max")} \
                    if lat else {}
                entry[p]["received"] = min(r["received"] for r in per[p])
                entry[p]["runs"] = [r.get("latency_us", {}) for r in per[p]]
            a_, b_ = paths[:2]
            entry["pair_ratios"] = {
                k: [x[k] / y[k] for x, y in zip(entry[a_]["runs"],
                                                entry[b_]["runs"])
                    if x.get(k) and y.get(k)] for k in ("p50", "p99")}
            out["cases"][key] = entry
    if 6 in cases:
        secs = 2 if a.quick else 5
        print("case 6: idle blocked pair, %d s" % secs, file=sys.stderr,
              flush=True)
        entry = {"title": "idle blocked pair", "seconds": secs}
        for p in paths:
            entry[p] = idle_pair(a.helper, p, secs, tag())
        out["cases"]["6"] = entry

    with open(a.json, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
