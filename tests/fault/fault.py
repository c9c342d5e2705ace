#!/usr/bin/env python3
"""Fault injection: kill -9 or SIGSTOP one side of a connection at random
moments, restart it, and check the other side.

    fault.py KIND [--iterations N] [--duration S] [--seed X] [--json]
    fault.py soak --duration S        every kind in turn until S seconds

KIND is one of KINDS below. Library kinds run tests/fault/zbfault-peer
(ZBFAULT_PEER); element kinds run gst-launch-1.0 and zbfault-gst-reader
(ZBFAULT_GST_READER, GST_PLUGIN_PATH_1_0 naming our plugin).

After every kill or stop: the survivor is still running and its loop still
ticks (no deadlock); the restarted (or continued) side is served again
within 1 s (recovery time, measured from the restart or the SIGCONT to the
first good frame); every frame delivered was intact (the verifying side
checks sequence and content of each one and prints "bad" otherwise). At the
end both sides stop cleanly (exit status 0) and nothing of the buffer is
left in /dev/shm or /tmp/zerobuffer.

Prints one line per kind and, last, "RESULT ok|FAIL frames=N
corruptions=N recoveries=N recovery_max_ms=X recovery_p99_ms=X leaked=N";
exits 1 on any failure.
"""

import argparse
import glob
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time

RECOVERY_LIMIT = 1.0     # seconds from the peer's return to a good frame
TICK_LIMIT = 1.0         # a live survivor ticks every 100 ms

# kind: (survivor role, victim role, observer (the verifying side, which
#        prints "first"/"resume"), signal, channel type)
KINDS = {
    "writer-kill": ("reader", "writer", "survivor", "kill", "buffer"),
    "reader-kill": ("writer", "reader", "victim", "kill", "buffer"),
    "server-kill": ("client", "server", "survivor", "kill", "duplex"),
    "client-kill": ("server", "client", "victim", "kill", "duplex"),
    "writer-stop": ("reader", "writer", "survivor", "stop", "buffer"),
    "reader-stop": ("writer", "reader", "victim", "stop", "buffer"),
    "server-stop": ("client", "server", "survivor", "stop", "duplex"),
    "gst-writer-kill": ("gst-reader", "gst-writer", "survivor", "kill",
                        "buffer"),
    "gst-reader-kill": ("gst-writer", "gst-reader", "victim", "kill",
                        "buffer"),
    "gst-writer-stop": ("gst-reader", "gst-writer", "survivor", "stop",
                        "buffer"),
    "gst-reader-stop": ("gst-writer", "gst-reader", "victim", "stop",
                        "buffer"),
}

# roles that print events (the others are gst-launch-1.0)
EVENTFUL = {"reader", "writer", "server", "client", "gst-reader"}
# roles whose loop prints ticks
TICKING = {"reader", "writer", "client", "gst-reader"}

tmpdir = tempfile.mkdtemp(prefix="zbfault-")
counter = [0]


class Peer:
    """A process of one role; a thread collects its event lines."""

    def __init__(self, role, name):
        self.role = role
        counter[0] += 1
        self.log = os.path.join(tmpdir, "%s-%d.log" % (role, counter[0]))
        self.events = []
        self.summary = None
        self.cond = threading.Condition()
        with open(self.log, "w") as err:
            self.p = subprocess.Popen(argv_for(role, name),
                                      stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=err,
                                      text=True, bufsize=1)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.p.stdout:
            parts = line.split(None, 2)
            if not parts:
                continue
            with self.cond:
                if parts[0] == "summary":
                    self.summary = dict(kv.split("=") for kv in parts[1:]
                                        for kv in kv.split())
                elif len(parts) >= 2:
                    try:
                        t = float(parts[1])
                    except ValueError:
                        continue
                    self.events.append((parts[0], t,
                                        parts[2].strip() if len(parts) > 2
                                        else ""))
                self.cond.notify_all()

    def wait_event(self, kinds, after, timeout):
        """Time of the first event of @kinds later than @after, or None."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for k, t, _ in self.events:
                    if k in kinds and t > after:
                        return t
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def count(self, kind):
        with self.cond:
            return sum(1 for k, _, _ in self.events if k == kind)

    def last_ticked_frames(self):
        with self.cond:
            for k, _, d in reversed(self.events):
                if k == "tick" and d.isdigit():
                    return int(d)
        return 0

    def bad(self):
        with self.cond:
            return [d for k, _, d in self.events if k == "bad"]

    def alive(self):
        return self.p.poll() is None

    def signal(self, sig):
        if self.alive():
            self.p.send_signal(sig)

    def kill(self):
        self.signal(signal.SIGKILL)
        self.p.wait(10)

    def stop(self, timeout=10):
        """SIGTERM (SIGINT for gst-launch: -e ends with EOS) and wait."""
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGINT if self.role == "gst-writer"
                    else signal.SIGTERM)
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            rc = "hung"
        self.thread.join(5)
        return rc

    def tail(self):
        try:
            with open(self.log) as f:
                return f.read()[-2000:]
        except OSError:
            return ""


def argv_for(role, name):
    peer = os.environ.get("ZBFAULT_PEER", "zbfault-peer")
    if role in ("reader", "writer", "server", "client"):
        return [peer, role, name]
    if role == "gst-reader":
        return [os.environ.get("ZBFAULT_GST_READER", "zbfault-gst-reader"),
                name]
    if role == "gst-writer":
        # random sizes, bytes counting on across buffers (pattern-span);
        # about 2000 buffers/s; waits for every new reader
        return ["gst-launch-1.0", "-q", "-e", "fakesrc", "sizetype=random",
                "sizemin=1", "sizemax=4096", "filltype=pattern-span",
                "datarate=4096000", "sync=true", "!",
                "zbsink", "buffer-name=" + name, "on-reader-lost=wait",
                "connect-timeout=-1", "sync=false"]
    raise ValueError(role)


def objects_of(name):
    """Everything of buffer @name (or channel @name) that exists."""
    found = []
    for n in (name, name + "_request", name + "_response"):
        for path in ("/dev/shm/" + n, "/dev/shm/sem.sem-w-" + n,
                     "/dev/shm/sem.sem-r-" + n, "/tmp/zerobuffer/" + n +
                     ".lock"):
            if os.path.lexists(path):
                found.append(path)
    return found


def p99(values):
    if not values:
        return 0.0
    v = sorted(values)
    return v[min(len(v) - 1, int(0.99 * len(v)))]


class Run:
    def __init__(self, kind, name):
        self.kind = kind
        self.name = name
        self.failures = []
        self.recoveries = []
        self.frames = 0
        self.corruptions = 0
        self.iterations = 0
        self.leaked = 0

    def fail(self, msg):
        if len(self.failures) < 20:
            self.failures.append(msg)


def run_kind(kind, iterations, duration, rng):
    survivor_role, victim_role, observer_is, how, channel = KINDS[kind]
    name = "zbt-%d-f%d-%s" % (os.getpid(), counter[0] + 1, kind)
    r = Run(kind, name)
    deadline = time.monotonic() + duration if duration else None
    retired = []

    def observer(s, v):
        return s if observer_is == "survivor" else v

    survivor = Peer(survivor_role, name)
    # the creating side must be up before the other side starts waiting
    if survivor_role in EVENTFUL and survivor.wait_event(
            ("up",), 0, 10) is None:
        r.fail("%s did not start: %s" % (survivor_role, survivor.tail()))
        survivor.stop()
        return r
    victim = None

    def start_victim():
        t0 = time.monotonic()
        v = Peer(victim_role, name)
        t = observer(survivor, v).wait_event(("first",), t0, 10)
        if t is None:
            r.fail("iteration %d: no frame within 10 s of the %s's start"
                   % (r.iterations, victim_role))
        else:
            r.recoveries.append(t - t0)
            if t - t0 > RECOVERY_LIMIT:
                r.fail("iteration %d: %.0f ms from the %s's start to the "
                       "first frame" % (r.iterations, (t - t0) * 1000,
                                        victim_role))
        return v

    def check_survivor(since):
        if not survivor.alive():
            r.fail("iteration %d: the %s died (status %s): %s"
                   % (r.iterations, survivor_role, survivor.p.returncode,
                      survivor.tail()))
            return False
        if survivor_role in TICKING and survivor.wait_event(
                ("tick",), since, TICK_LIMIT) is None:
            r.fail("iteration %d: the %s stopped ticking (stuck)"
                   % (r.iterations, survivor_role))
        return True

    try:
        if how == "stop":
            victim = start_victim()
        while True:
            if deadline is not None:
                if time.monotonic() >= deadline:
                    break
            elif r.iterations >= iterations:
                break
            r.iterations += 1
            if how == "kill":
                victim = start_victim()
                time.sleep(rng.uniform(0, 0.25))
                victim.kill()
                t = time.monotonic()
                retired.append(victim)
                victim = None
                if not check_survivor(t):
                    break
            else:
                time.sleep(rng.uniform(0.05, 0.3))
                victim.signal(signal.SIGSTOP)
                # longer than every timeout of the other side (read 100 ms,
                # write 300 ms, zbsrc timeout 300 ms)
                time.sleep(rng.uniform(0.6, 0.9))
                if not check_survivor(time.monotonic() - 0.3):
                    break
                t0 = time.monotonic()
                victim.signal(signal.SIGCONT)
                t = observer(survivor, victim).wait_event(
                    ("resume", "first"), t0, 10)
                if t is None:
                    r.fail("iteration %d: nothing within 10 s of SIGCONT"
                           % r.iterations)
                else:
                    r.recoveries.append(t - t0)
                    if t - t0 > RECOVERY_LIMIT:
                        r.fail("iteration %d: %.0f ms from SIGCONT to the "
                               "next frame" % (r.iterations,
                                               (t - t0) * 1000))
                if not victim.alive():
                    r.fail("iteration %d: the stopped %s died: %s"
                           % (r.iterations, victim_role, victim.tail()))
                    break
        if how == "kill" and survivor.alive():
            victim = start_victim()
        if how == "stop":
            for p in (survivor, victim):
                if p.count("lost") and p.role in EVENTFUL:
                    r.fail("the %s saw its peer lost during a stop" % p.role)
    finally:
        # writers and clients stop first, so the reader side sees them go
        order = [victim, survivor]
        if survivor_role in ("writer", "client", "gst-writer"):
            order = [survivor, victim]
        for p in order:
            if p is None:
                continue
            rc = p.stop()
            if rc != 0:
                r.fail("the %s exited with status %s on SIGTERM: %s"
                       % (p.role, rc, p.tail()))
            retired.append(p)

    for p in retired:
        if p.role in EVENTFUL:
            bad = p.bad()
            r.corruptions += len(bad)
            for b in bad[:5]:
                r.fail("%s: bad frame: %s" % (p.role, b))
            if p.summary and p.role in ("reader", "client", "gst-reader"):
                r.frames += int(p.summary.get("frames", 0))
            elif p.role in ("reader", "client", "gst-reader"):
                # killed before its summary: its last tick's count
                r.frames += p.last_ticked_frames()
    left = objects_of(name)
    r.leaked = len(left)
    if left:
        r.fail("left behind: %s" % " ".join(left))
        subprocess.run(["rm", "-f"] + left)
    return r


def report(runs, as_json):
    rec = [x for r in runs for x in r.recoveries]
    total = {
        "frames": sum(r.frames for r in runs),
        "corruptions": sum(r.corruptions for r in runs),
        "recoveries": len(rec),
        "recovery_max_ms": round(max(rec) * 1000, 1) if rec else 0.0,
        "recovery_p99_ms": round(p99(rec) * 1000, 1),
        "leaked": sum(r.leaked for r in runs),
        "iterations": sum(r.iterations for r in runs),
    }
    ok = all(not r.failures for r in runs)
    for r in runs:
        rr = r.recoveries
        print("%-16s %s iterations=%d frames=%d corruptions=%d "
              "recovery_max_ms=%.1f recovery_p99_ms=%.1f leaked=%d"
              % (r.kind, "ok" if not r.failures else "FAIL", r.iterations,
                 r.frames, r.corruptions, max(rr) * 1000 if rr else 0,
                 p99(rr) * 1000, r.leaked))
        for f in r.failures:
            print("    " + f)
    if as_json:
        print(json.dumps(dict(total, ok=ok)))
    print("RESULT %s frames=%d corruptions=%d recoveries=%d "
          "recovery_max_ms=%.1f recovery_p99_ms=%.1f leaked=%d"
          % ("ok" if ok else "FAIL", total["frames"], total["corruptions"],
             total["recoveries"], total["recovery_max_ms"],
             total["recovery_p99_ms"], total["leaked"]))
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=sorted(KINDS) + ["soak"])
    ap.add_argument("--iterations", type=int, default=50)
    ap.add_argument("--duration", type=float, default=0,
                    help="seconds (instead of --iterations)")
    ap.add_argument("--kinds", default="",
                    help="soak: comma-separated kinds (default: all "
                    "available)")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else int(time.time())
    rng = random.Random(seed)
    print("seed %d" % seed)
    sys.stdout.flush()

    runs = []
    if a.kind == "soak":
        kinds = [k for k in (a.kinds.split(",") if a.kinds else KINDS)
                 if k]
        if not a.kinds and not gst_available():
            kinds = [k for k in kinds if not k.startswith("gst-")]
        end = time.monotonic() + a.duration
        i = 0
        while time.monotonic() < end:
            left = end - time.monotonic()
            runs.append(run_kind(kinds[i % len(kinds)], 0, min(30, left),
                                 rng))
            i += 1
    else:
        if a.kind.startswith("gst-") and not gst_available():
            print("SKIP: no gst-launch-1.0 or zbfault-gst-reader")
            return 77
        runs.append(run_kind(a.kind, a.iterations, a.duration, rng))
    return 0 if report(runs, a.json) else 1


def gst_available():
    r = os.environ.get("ZBFAULT_GST_READER", "")
    return bool(r) and os.path.exists(r) and subprocess.run(
        ["sh", "-c", "command -v gst-launch-1.0"],
        stdout=subprocess.DEVNULL).returncode == 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        subprocess.run(["rm", "-rf", tmpdir])
