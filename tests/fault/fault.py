#!/usr/bin/env python3
"""Fault injection: kill -9 or SIGSTOP one side of a connection at random
moments, restart it, and check the other side.

    fault.py KIND [--iterations N] [--duration S] [--seed X] [--json]
                  [--deadline S]
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

Every wait is bounded. The seed is printed first. A recovery that misses
its limit (or a peer that does not start, a survivor that stops ticking)
fails the run at once with a line "FAIL KIND iteration N seed X: ..."
naming what was waited for, followed by the state of the buffers (OIEB
counters and pids) and the peers' last output. The whole run has a
deadline (--deadline, default 100 s, or --duration + 60 s; below the meson
timeout): when it passes, the run fails the same way, and a watchdog kills
every peer and exits if even the cleanup does not end in time.

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

# ZBFAULT_TIME_SCALE stretches the two bounds below for slow builds
# (scripts/test.sh sets 3 for the sanitizer pass, as it does meson's
# timeouts): a restarted gst-launch-1.0 under ASan takes most of a second
# just to start.
TIME_SCALE = float(os.environ.get("ZBFAULT_TIME_SCALE", "1"))
RECOVERY_LIMIT = 1.0 * TIME_SCALE  # s from the peer's return to a good frame
TICK_LIMIT = 1.0 * TIME_SCALE      # a live survivor ticks every 100 ms
START_LIMIT = 10.0       # a creating peer is up (exec, first connect)
STOP_LIMIT = 5.0         # SIGTERM to exit; then SIGKILL
WATCHDOG_GRACE = 15.0    # after the deadline: cleanup, then os._exit

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
all_peers = []           # every process started, for the watchdog
run_seed = [None]
run_deadline = [None]    # time.monotonic() when the whole run must end


class Abort(Exception):
    """A bounded wait ran out: the run fails at once."""


def time_left():
    """Seconds until the run's deadline (None: no deadline)."""
    if run_deadline[0] is None:
        return None
    return run_deadline[0] - time.monotonic()


def bounded(limit):
    """@limit, cut to what is left of the run's deadline."""
    rest = time_left()
    return limit if rest is None else max(0.0, min(limit, rest))


def say(line):
    print(line)
    sys.stdout.flush()


class Peer:
    """A process of one role; a thread collects its event lines."""

    def __init__(self, role, name):
        self.role = role
        self.name = name
        counter[0] += 1
        self.log = os.path.join(tmpdir, "%s-%d.log" % (role, counter[0]))
        self.events = []
        self.summary = None
        self.cond = threading.Condition()
        all_peers.append(self)
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
        try:
            self.p.wait(STOP_LIMIT)
        except subprocess.TimeoutExpired:
            raise Abort("the %s (pid %d) did not end within %.0f s of "
                        "SIGKILL" % (self.role, self.p.pid, STOP_LIMIT))

    def stop(self, timeout=STOP_LIMIT):
        """SIGTERM (SIGINT for gst-launch: -e ends with EOS) and wait."""
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGINT if self.role == "gst-writer"
                    else signal.SIGTERM)
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            try:
                self.p.wait(STOP_LIMIT)
            except subprocess.TimeoutExpired:
                pass
            rc = "hung"
        self.thread.join(2)
        return rc

    def last_events(self, n=5):
        with self.cond:
            return ["%s %.3f %s" % e for e in self.events[-n:]]

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


def buffer_state(name):
    """OIEB counters and pids of buffer @name (or of both buffers of
    channel @name), read from /dev/shm, for failure messages."""
    import struct
    out = []
    for n in (name, name + "_request", name + "_response"):
        try:
            with open("/dev/shm/" + n, "rb") as f:
                head = f.read(128)
        except OSError:
            continue
        if len(head) < 128:
            out.append("%s: %d bytes" % (n, len(head)))
            continue
        (psize, pfree, wpos, rpos, wcount, rcount, wpid,
         rpid) = struct.unpack_from("<8Q", head, 0x20)
        out.append("%s: written_count=%d read_count=%d write_pos=%d "
                   "read_pos=%d free=%d/%d writer_pid=%d reader_pid=%d"
                   % (n, wcount, rcount, wpos, rpos, pfree, psize, wpid,
                      rpid))
    return out


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

    peers = []

    def abort(what):
        """Fail the run now: what was waited for, and the state."""
        msg = ("FAIL %s iteration %d seed %s: %s"
               % (kind, r.iterations, run_seed[0], what))
        say(msg)
        for line in buffer_state(name):
            say("    " + line)
        # the survivor and the last three victims
        for p in peers[:1] + peers[1:][-3:]:
            say("    %s pid %d (%s): last events: %s"
                % (p.role, p.p.pid, "running" if p.alive() else
                   "exit %s" % p.p.returncode,
                   " | ".join(p.last_events()) or "none"))
            err = p.tail().strip()
            if err:
                say("    %s stderr: %s" % (p.role, err[-300:]))
        raise Abort(msg)

    def wait_for(peer, kinds, after, limit, what):
        """Time of @peer's first event of @kinds after @after, waiting up
        to @limit (and the run's deadline); aborts the run otherwise."""
        t = peer.wait_event(kinds, after, bounded(limit))
        if t is not None:
            return t
        if time_left() is not None and time_left() <= 0:
            abort("run deadline passed while waiting for %s" % what)
        abort("no %s within %.0f ms" % (what, limit * 1000))

    def new_peer(role):
        p = Peer(role, name)
        peers.append(p)
        return p

    survivor = None
    victim = None

    def start_victim():
        t0 = time.monotonic()
        v = new_peer(victim_role)
        obs = observer(survivor, v)
        t = wait_for(obs, ("first",), t0, RECOVERY_LIMIT,
                     "'first' good frame from the %s (pid %d) after the "
                     "%s's start" % (obs.role, obs.p.pid, victim_role))
        r.recoveries.append(t - t0)
        return v

    def check_survivor(since):
        if not survivor.alive():
            abort("the %s died (status %s)" % (survivor_role,
                                               survivor.p.returncode))
        if survivor_role in TICKING:
            wait_for(survivor, ("tick",), since, TICK_LIMIT,
                     "tick from the %s (stuck?)" % survivor_role)
        return True

    try:
        survivor = new_peer(survivor_role)
        # the creating side must be up before the other side starts
        if survivor_role in EVENTFUL:
            wait_for(survivor, ("up",), 0, START_LIMIT,
                     "'up' from the %s" % survivor_role)
        if how == "stop":
            victim = start_victim()
        while True:
            if deadline is not None:
                if time.monotonic() >= deadline:
                    break
            elif r.iterations >= iterations:
                break
            if time_left() is not None and time_left() <= 0:
                abort("run deadline passed before the iteration")
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
                obs = observer(survivor, victim)
                t = wait_for(obs, ("resume", "first"), t0, RECOVERY_LIMIT,
                             "'resume' or 'first' frame from the %s "
                             "(pid %d) after SIGCONT to the %s"
                             % (obs.role, obs.p.pid, victim_role))
                r.recoveries.append(t - t0)
                if not victim.alive():
                    abort("the stopped %s died (status %s)"
                          % (victim_role, victim.p.returncode))
        if how == "kill" and survivor.alive():
            victim = start_victim()
        if how == "stop":
            for p in (survivor, victim):
                if p.count("lost") and p.role in EVENTFUL:
                    r.fail("the %s saw its peer lost during a stop" % p.role)
    except Abort as e:
        r.fail(str(e))
    finally:
        # writers and clients stop first, so the reader side sees them go
        order = [victim, survivor]
        if survivor_role in ("writer", "client", "gst-writer"):
            order = [survivor, victim]
        # a victim whose first wait failed is not `victim` yet
        order += [p for p in peers if p not in order and p not in retired]
        for p in order:
            if p is None:
                continue
            # after a failure, what is left of the deadline (at least 1 s)
            rc = p.stop(max(1.0, bounded(STOP_LIMIT)) if r.failures
                        else STOP_LIMIT)
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
    ap.add_argument("--deadline", type=float, default=None,
                    help="seconds for the whole run (default: 100, or "
                    "--duration + 60)")
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else int(time.time())
    rng = random.Random(seed)
    say("seed %d" % seed)
    run_seed[0] = seed
    budget = a.deadline
    if budget is None:
        budget = a.duration + 60 if a.duration else 100.0
    run_deadline[0] = time.monotonic() + budget
    start_watchdog(budget + WATCHDOG_GRACE, a.kind, seed)

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


def start_watchdog(seconds, kind, seed):
    """Last resort: if the run (cleanup included) is still going
    @seconds from now, kill every peer, remove their buffers and exit 1."""
    def watch():
        time.sleep(seconds)
        say("FAIL %s seed %d: still running %.0f s after the start "
            "(deadline and cleanup exceeded); killing every peer"
            % (kind, seed, seconds))
        names = set()
        for p in list(all_peers):
            try:
                p.p.kill()
            except OSError:
                pass
            names.add(p.name)
        for p in list(all_peers):
            try:
                p.p.wait(2)
            except subprocess.TimeoutExpired:
                pass
        for n in names:
            for path in objects_of(n):
                try:
                    os.unlink(path)
                except OSError:
                    pass
        say("RESULT FAIL (watchdog)")
        subprocess.run(["rm", "-rf", tmpdir])
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


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
