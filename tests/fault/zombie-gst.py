#!/usr/bin/env python3
"""kill -9 of either side of a gst-launch pair whose processes stay zombies.

As a user would run it: both sides started in the background from a shell
script, so they are orphans. This program is a child subreaper (their new
parent) and does not reap them until the end, so a killed side stays a
zombie, as under a PID 1 that does not reap. Each round kills one side
and starts its replacement at once; the replacement must connect (no
"already has a live writer" / "already in use"), and the reader
(zbfault-gst-reader: zbsrc ! appsink, verifying every byte) must see the
new writer's first buffer, or the new reader its first, within
RESUME_LIMIT seconds. TAP output; needs gst-launch-1.0 and
ZBFAULT_GST_READER.
"""

import ctypes
import glob
import os
import signal
import subprocess
import sys
import tempfile
import time

PR_SET_CHILD_SUBREAPER = 36
RESUME_LIMIT = 1.5       # seconds from the replacement's start
ROUNDS = 3

tmpdir = tempfile.mkdtemp(prefix="zbzombie-")
name = "zbzombie-%d" % os.getpid()
started = []
tests = 0
failed = 0


def ok(cond, what):
    global tests, failed
    tests += 1
    if not cond:
        failed += 1
    print("%sok %d - %s" % ("" if cond else "not ", tests, what), flush=True)
    return cond


def spawn(argv, log):
    """Start @argv from a shell in the background: an orphan. Its pid."""
    cmd = " ".join("'%s'" % a for a in argv)
    out = subprocess.run(["sh", "-c", "%s > '%s' 2>&1 < /dev/null & echo $!"
                          % (cmd, log)], capture_output=True, text=True,
                         check=True)
    pid = int(out.stdout.strip())
    started.append(pid)
    return pid


def state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def events(log, kind):
    """Times of the @kind events in a reader's log."""
    times = []
    try:
        with open(log) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == kind:
                    times.append(float(parts[1]))
    except OSError:
        pass
    return times


def wait_event(log, kind, after, limit):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if any(t > after for t in events(log, kind)):
            return True
        time.sleep(0.02)
    return False


def tail(log):
    try:
        with open(log) as f:
            return f.read()[-600:].replace("\n", "\n# ")
    except OSError:
        return ""


def writer_argv():
    return ["gst-launch-1.0", "-q", "fakesrc", "sizetype=random",
            "sizemin=1", "sizemax=4096", "filltype=pattern-span",
            "datarate=4096000", "sync=true", "!", "zbsink",
            "buffer-name=" + name, "on-reader-lost=wait",
            "connect-timeout=-1", "sync=false"]


def reader_argv():
    return [os.environ.get("ZBFAULT_GST_READER", "zbfault-gst-reader"), name]


def kill_to_zombie(pid):
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 2
    while state(pid) not in ("Z", "gone") and time.monotonic() < deadline:
        time.sleep(0.005)
    return state(pid) == "Z"


def cleanup():
    for pid in started:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            if os.waitpid(-1, os.WNOHANG) == (0, 0):
                time.sleep(0.01)
        except ChildProcessError:
            break
    for path in (glob.glob("/dev/shm/*" + name) +
                 glob.glob("/tmp/zerobuffer/" + name + ".lock")):
        try:
            os.unlink(path)
        except OSError:
            pass


def main():
    if subprocess.run(["sh", "-c", "command -v gst-launch-1.0"],
                      capture_output=True).returncode != 0:
        print("1..0 # SKIP no gst-launch-1.0")
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("1..0 # SKIP PR_SET_CHILD_SUBREAPER refused")
        return 0
    print("1..%d" % (4 * ROUNDS + 2), flush=True)
    n = [0]

    def log_of(role):
        n[0] += 1
        return os.path.join(tmpdir, "%s-%d.log" % (role, n[0]))

    rlog = log_of("reader")
    reader = spawn(reader_argv(), rlog)
    writer = spawn(writer_argv(), log_of("writer"))
    if not ok(wait_event(rlog, "first", 0, 10), "the pair streams"):
        print("# " + tail(rlog))
        return 1

    for rnd in range(1, ROUNDS + 1):
        # The writer dies and stays a zombie; a new one starts at once.
        zombie = kill_to_zombie(writer)
        t0 = time.monotonic()
        wlog = log_of("writer")
        writer = spawn(writer_argv(), wlog)
        resumed = wait_event(rlog, "first", t0 + 0.0, RESUME_LIMIT)
        ok(zombie and resumed and state(writer) not in ("Z", "gone"),
           "round %d: writer killed (zombie: %s), the new writer streams "
           "within %.1f s" % (rnd, zombie, RESUME_LIMIT)) or \
            print("# writer: " + tail(wlog) + "\n# reader: " + tail(rlog))
        ok(not events(rlog, "bad"), "round %d: every byte intact" % rnd)

        # The reader dies and stays a zombie; a new one starts at once.
        zombie = kill_to_zombie(reader)
        t0 = time.monotonic()
        rlog = log_of("reader")
        reader = spawn(reader_argv(), rlog)
        resumed = wait_event(rlog, "first", 0, RESUME_LIMIT)
        ok(zombie and resumed,
           "round %d: reader killed (zombie: %s), the new reader is served "
           "within %.1f s" % (rnd, zombie, RESUME_LIMIT)) or \
            print("# reader: " + tail(rlog))
        ok(not events(rlog, "bad"), "round %d: every byte intact" % rnd)

    # A clean stop: both exit 0 once signalled; nothing left behind.
    os.kill(writer, signal.SIGINT)
    os.kill(reader, signal.SIGTERM)
    codes = {}
    deadline = time.monotonic() + 10
    while len(codes) < 2 and time.monotonic() < deadline:
        for pid in (writer, reader):
            if pid in codes:
                continue
            try:
                got, st = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                codes[pid] = "not ours"
                continue
            if got == pid:
                codes[pid] = os.waitstatus_to_exitcode(st)
        time.sleep(0.02)
    cleanup()
    left = (glob.glob("/dev/shm/*" + name) +
            glob.glob("/tmp/zerobuffer/" + name + ".lock"))
    ok(codes.get(reader) == 0 and not left,
       "clean stop: reader exit %s, left behind %s" % (codes.get(reader),
                                                       left or "nothing"))
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        rc = main()
    finally:
        cleanup()
    sys.exit(rc)
