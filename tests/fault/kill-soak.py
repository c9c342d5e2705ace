#!/usr/bin/env python3
"""Kill soak (issue 14, G): random kill -9 of either side of a gst-launch
pair and of a duplex pair, with orphaned processes. Not run in CI; run it
through scripts/soak.sh --kills N (docs/security.md, "Kill soak").

    kill-soak.py [--kills N] [--seed X] [--duration S] [--zombies S]
                 [--resume-timeout S]

Two pairs stream side by side the whole time:
  gst pair:    gst-launch-1.0 fakesrc filltype=pattern-span ! zbsink (the
               writer) and tests/fault/zbfault-gst-reader (zbsrc ! appsink,
               checks every byte and that each buffer starts where the
               previous one of the same writer ended);
  duplex pair: tests/fault/zbfault-peer server and client (the client checks
               that every response is its own request's, XOR 0xa5; the
               server checks every request).
Each round picks one of the four processes at random, lets it run 0..0.5 s,
kill -9s it, and starts a replacement (retried every 0.2 s while it exits at
once, e.g. "already in use by a live reader"), until the pair resumes: the
verifying side's first good frame from the replacement.

Every process is started as an orphan, like a background job of a shell
script that has exited: double fork and setsid, so that its parent is PID 1
(which reaps it), or with --zombies S the driver itself (a child subreaper,
prctl(PR_SET_CHILD_SUBREAPER)), which reaps a dead process only S seconds
after it died ("inf": at the end), so that a killed peer stays a zombie
meanwhile.

Printed at the end (and one line per round with -v):
  kills, restarts        rounds; replacement processes started (failed
                         starts counted apart)
  resumed / not resumed  rounds whose pair delivered a good frame from the
                         replacement within --resume-timeout; a pair that
                         did not is stopped and started afresh under a new
                         name (counted, and a FAIL)
  zombie at restart      rounds in which the killed process was still a
                         zombie when its replacement started
  frames delivered       frames (gst buffers, duplex responses) verified
  frames lost            committed frames that a living reader never got:
                         after each kill of the gst writer, once the reader
                         has been idle for 0.3 s, the frames (not wrap
                         markers) between read_pos and the written_count
                         in the buffer's OIEB; plus every gap the reader
                         saw inside one writer's stream. A frame whose
                         written_count was not yet published was not
                         committed and is not counted. (Duplex: a request
                         that a living server never answers stalls the
                         client and shows as "not resumed".)
  gone with a killed peer  entries left in the ring of a killed reader (or
                         of a killed duplex client, its requests) when its
                         replacement starts: not lost by the transport, its
                         consumer died
  corruptions            "bad" lines of the verifying processes (content,
                         offsets, a response to another request, element
                         errors); must be 0
  leftovers              objects of our buffers in /dev/shm and
                         /tmp/zerobuffer once every process has stopped
                         (SIGTERM/SIGINT, reaped), and processes of ours
                         still running; must be 0
  resume time            from the replacement's (first) start to the
                         verifying side's first good frame from it: worst,
                         p99, median, and how many took longer than
                         --resume-limit (default 1 s, a FAIL)

Exit status 0 when everything was ok, 1 otherwise.
"""

import argparse
import ctypes
import os
import random
import signal
import struct
import sys
import tempfile
import time

PR_SET_CHILD_SUBREAPER = 36
ROLES = ("gst-writer", "gst-reader", "server", "client")
PAIR_OF = {"gst-writer": "gst", "gst-reader": "gst", "server": "duplex",
           "client": "duplex"}
# the process that prints "first" for a new peer, per victim role
VERIFIER = {"gst-writer": "gst-reader", "gst-reader": "gst-reader",
            "server": "client", "client": "client"}
CREATOR = {"gst": "gst-reader", "duplex": "server"}
OTHER = {"gst-writer": "gst-reader", "gst-reader": "gst-writer",
         "server": "client", "client": "server"}

me = os.getpid()
tmpdir = tempfile.mkdtemp(prefix="zbsoak-")
verbose = False


def now():
    return time.monotonic()


def log(msg):
    print(msg, flush=True)


def proc_stat(pid):
    """(state, ppid, starttime) of @pid, or None when there is none."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return rest[0], int(rest[1]), int(rest[19])
    except (OSError, IndexError, ValueError):
        return None


def spawn_orphan(argv, logpath):
    """Start @argv as an orphan (double fork, setsid), stdout and stderr to
    @logpath. Returns its pid."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.setsid()
            pid2 = os.fork()
            if pid2 == 0:
                fd = os.open(logpath, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                             0o644)
                nul = os.open("/dev/null", os.O_RDONLY)
                os.dup2(nul, 0)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                os.execvp(argv[0], argv)
            os.write(w, b"%d" % pid2)
        finally:
            os._exit(0)
    os.close(w)
    data = b""
    while True:
        chunk = os.read(r, 64)
        if not chunk:
            break
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    if not data:
        raise RuntimeError("could not start %s" % argv[0])
    return int(data)


class Proc:
    """One orphaned process of a role; its event lines come from its log."""
    count = 0

    def __init__(self, role, name, argv):
        Proc.count += 1
        self.role = role
        self.name = name
        self.log = os.path.join(tmpdir, "%s-%d.log" % (role, Proc.count))
        self.t_start = now()
        self.pid = spawn_orphan(argv, self.log)
        st = proc_stat(self.pid)
        self.starttime = st[2] if st else None
        self.events = []        # (kind, t, detail)
        self.frames = 0         # last tick's or summary's count
        self.pos = 0
        self.partial = ""
        self.died_at = None     # when first seen dead (or killed)
        self.reaped = False
        self.stopped = False    # asked to stop cleanly
        self.failed_start = False   # exited before its pair resumed

    def poll(self):
        try:
            with open(self.log) as f:
                f.seek(self.pos)
                data = f.read()
                self.pos = f.tell()
        except OSError:
            return
        data = self.partial + data
        lines = data.split("\n")
        self.partial = lines.pop()
        for line in lines:
            parts = line.split(None, 2)
            if not parts:
                continue
            if parts[0] == "summary":
                kv = dict(x.split("=", 1) for x in parts[1:] for x in
                          x.split() if "=" in x)
                self.frames = int(kv.get("frames", self.frames))
                continue
            if len(parts) < 2:
                continue
            try:
                t = float(parts[1])
            except ValueError:
                continue
            detail = parts[2].strip() if len(parts) > 2 else ""
            self.events.append((parts[0], t, detail))
            if parts[0] == "tick" and detail.isdigit():
                self.frames = int(detail)

    def state(self):
        """'gone', 'Z' (zombie or dead) or a live state letter."""
        st = proc_stat(self.pid)
        if st is None or st[2] != self.starttime:
            return "gone"
        return "Z" if st[0] in "ZX" else st[0]

    def alive(self):
        return self.state() not in ("gone", "Z")

    def signal(self, sig):
        if self.state() not in ("gone", "Z"):
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def first_after(self, t):
        for k, te, _ in self.events:
            if k == "first" and te >= t:
                return te
        return None

    def saw(self, kind):
        return any(k == kind for k, _, _ in self.events)

    def bad(self):
        return [d for k, _, d in self.events if k == "bad"]

    def tail(self):
        try:
            with open(self.log) as f:
                return f.read()[-600:].strip()
        except OSError:
            return ""


def oieb(path):
    """(written_count, read_count, read_pos, payload_size, ring bytes) of
    the buffer whose segment is @path, or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(128)
            if len(head) < 128:
                return None
            meta, = struct.unpack_from("<Q", head, 0x08)
            psize, = struct.unpack_from("<Q", head, 0x20)
            rpos, written, read = struct.unpack_from("<QQQ", head, 0x38)
            f.seek(128 + meta)
            ring = f.read(psize)
        return written, read, rpos, psize, ring
    except (OSError, struct.error):
        return None


def pending_frames(path):
    """Frames (not wrap markers) written to @path's ring and not yet read:
    the entries from read_pos, as many as written_count - read_count."""
    o = oieb(path)
    if o is None:
        return 0
    written, read, pos, psize, ring = o
    n = 0
    for _ in range(max(0, min(written - read, 1 << 20))):
        if psize - pos < 16:
            pos = 0                             # implicit wrap
            continue
        size, seq = struct.unpack_from("<QQ", ring, pos)
        if size == 0 and seq == 0:
            pos = 0                             # wrap marker
            continue
        if pos + 16 + size > psize:
            break                               # not a frame: stop counting
        n += 1
        pos += 16 + size
        if pos == psize:
            pos = 0
    return n


def wait_idle(path, pump, cap=3.0, quiet=0.3):
    """Wait until @path's reader has read everything or read nothing for
    @quiet s (at most @cap s)."""
    end = now() + cap
    last, since = None, now()
    while now() < end:
        o = oieb(path)
        if o is None or o[0] == o[1]:
            return
        if o[1] != last:
            last, since = o[1], now()
        elif now() - since >= quiet:
            return
        pump(0.05)


class Soak:
    def __init__(self, a):
        self.a = a
        self.rng = random.Random(a.seed)
        self.peer = os.environ.get("ZBFAULT_PEER", "zbfault-peer")
        self.gst_reader = os.environ.get("ZBFAULT_GST_READER",
                                         "zbfault-gst-reader")
        self.procs = []         # every process ever started
        self.cur = {}           # role -> current Proc
        self.names = []         # every buffer / channel name used
        self.pair_n = 0
        self.subreaper = a.zombies is not None
        self.reap_delay = (float("inf") if a.zombies == "inf" else
                           float(a.zombies or 0))
        # figures
        self.kills = {r: 0 for r in ROLES}
        self.restarts = 0
        self.failed_starts = 0
        self.resumed = 0
        self.not_resumed = []
        self.zombie_at_restart = 0
        self.lost_unread = 0
        self.gone_with_peer = 0
        self.resume_times = []
        self.survivor_deaths = []
        self.resets = 0
        self.start_errors = {}  # last output line of a failed start: count

    # -- processes --------------------------------------------------------

    def argv(self, role, name):
        if role == "gst-writer":
            # random sizes, bytes counting on across buffers (pattern-span)
            return ["gst-launch-1.0", "-q", "-e", "fakesrc",
                    "sizetype=random", "sizemin=1", "sizemax=4096",
                    "filltype=pattern-span", "datarate=2048000",
                    "sync=true", "!", "zbsink", "buffer-name=" + name,
                    "on-reader-lost=wait", "connect-timeout=-1",
                    "sync=false"]
        if role == "gst-reader":
            return [self.gst_reader, name]
        return [self.peer, role, name]

    def start(self, role, name):
        p = Proc(role, name, self.argv(role, name))
        self.procs.append(p)
        self.cur[role] = p
        return p

    def pump(self, dt):
        """Read every log, reap by the zombie policy, sleep @dt."""
        for p in self.procs:
            if not p.reaped:
                p.poll()
        if self.subreaper:
            t = now()
            for p in self.procs:
                if p.reaped:
                    continue
                st = p.state()
                if st == "gone":
                    p.reaped = True
                    continue
                if st != "Z":
                    continue
                if p.died_at is None:
                    p.died_at = t
                if t - p.died_at >= self.reap_delay:
                    try:
                        os.waitpid(p.pid, os.WNOHANG)
                    except ChildProcessError:
                        pass
            self.reap_strays()
        if dt:
            time.sleep(dt)

    def reap_strays(self):
        """Reap at once zombies reparented to us that we did not start
        (e.g. a gst-plugin-scanner whose gst-launch was killed)."""
        ours = {p.pid for p in self.procs if not p.reaped}
        try:
            pids = [int(d) for d in os.listdir("/proc") if d.isdigit()]
        except OSError:
            return
        for pid in pids:
            if pid in ours:
                continue
            st = proc_stat(pid)
            if st and st[1] == me and st[0] in "ZX":
                try:
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass

    def wait_for(self, pred, timeout):
        end = now() + timeout
        while True:
            self.pump(0)
            if pred():
                return True
            if now() >= end:
                return False
            time.sleep(0.01)

    def stop_proc(self, p, timeout=10):
        """SIGINT (gst-launch -e: EOS) or SIGTERM, then SIGKILL after
        @timeout s. Returns True when it stopped by itself."""
        if p.state() in ("gone", "Z"):
            return True
        p.stopped = True
        p.signal(signal.SIGCONT)
        p.signal(signal.SIGINT if p.role == "gst-writer" else signal.SIGTERM)
        if self.wait_for(lambda: p.state() in ("gone", "Z"), timeout):
            return True
        p.signal(signal.SIGKILL)
        self.wait_for(lambda: p.state() in ("gone", "Z"), 5)
        return False

    def new_pair(self, pair):
        self.pair_n += 1
        name = "zbt-soak-%d-%s%d" % (me, pair, self.pair_n)
        self.names.append(name)
        creator = CREATOR[pair]
        other = OTHER[creator]
        c = self.start(creator, name)
        if not self.wait_for(lambda: c.saw("up") or not c.alive(), 15) \
                or not c.saw("up"):
            raise RuntimeError("%s of %s did not start: %s"
                               % (creator, name, c.tail()))
        t0 = now()
        self.start(other, name)
        v = self.cur[VERIFIER[creator]]
        if not self.wait_for(lambda: v.first_after(t0) is not None, 15):
            raise RuntimeError("pair %s delivered nothing within 15 s: %s"
                               % (name, v.tail()))
        return name

    def reset_pair(self, pair, why):
        """Stop a pair that did not resume and start it afresh."""
        self.resets += 1
        log("  %s pair reset: %s" % (pair, why))
        for role in ROLES:
            if PAIR_OF[role] == pair and role in self.cur:
                self.stop_proc(self.cur[role], 3)
        self.new_pair(pair)

    # -- rounds -----------------------------------------------------------

    def segment_of(self, role, name):
        """The segment whose ring a kill of @role concerns."""
        if role in ("gst-writer", "gst-reader"):
            return "/dev/shm/" + name
        return "/dev/shm/" + name + "_request"

    def round(self, i):
        role = self.rng.choice(ROLES)
        pair = PAIR_OF[role]
        victim = self.cur[role]
        name = victim.name
        survivor = self.cur[OTHER[role]]
        self.pump(self.rng.uniform(0, 0.5))
        self.kills[role] += 1
        victim.died_at = now()
        victim.signal(signal.SIGKILL)
        t_kill = now()
        seg = self.segment_of(role, name)
        if role == "gst-writer":
            # committed frames that the living reader does not read
            wait_idle(seg, self.pump)
            self.lost_unread += pending_frames(seg)
        else:
            self.pump(self.rng.uniform(0, 0.3))
            # what was in a killed reader's ring, or a killed client's
            # requests
            self.gone_with_peer += pending_frames(seg)
        if not survivor.alive():
            self.survivor_deaths.append("round %d: the %s died: %s"
                                        % (i, survivor.role,
                                           survivor.tail()))
        zombie = victim.state() == "Z"
        if zombie:
            self.zombie_at_restart += 1
        t0 = now()
        end = t0 + self.a.resume_timeout
        p = self.start(role, name)
        self.restarts += 1
        verifier = self.cur[VERIFIER[role]]
        resumed = None
        while now() < end:
            self.pump(0.01)
            resumed = verifier.first_after(p.t_start)
            if resumed is not None:
                break
            if not p.alive():
                # replacement gave up at once (e.g. buffer still "live")
                self.failed_starts += 1
                p.failed_start = True
                p.poll()
                lines = p.tail().replace(name, "NAME").splitlines()
                errs = [x.split(None, 2)[-1] if x.startswith("bad ") else x
                        for x in lines if "ERROR" in x]
                why = (errs or lines or ["(no output)"])[0]
                self.start_errors[why[:160]] = \
                    self.start_errors.get(why[:160], 0) + 1
                self.pump(0.2)
                p = self.start(role, name)
                self.restarts += 1
                if role in ("gst-reader", "client"):
                    verifier = p
        if resumed is not None:
            self.resumed += 1
            self.resume_times.append(resumed - t0)
        if verbose or resumed is None:
            log("round %d: kill -9 %s (%s)%s, %s" % (
                i, role, name, ", a zombie at restart" if zombie else "",
                "resumed in %.0f ms" % ((resumed - t0) * 1000)
                if resumed is not None else
                "NOT resumed within %.0f s (%d ms after the kill)"
                % (self.a.resume_timeout, (now() - t_kill) * 1000)))
        if resumed is None:
            said = [x for x in p.tail().splitlines()
                    if x.strip() and not x.startswith("tick ")]
            self.not_resumed.append("round %d: %s of %s%s; its replacement "
                                    "said: %s" % (
                                        i, role, name,
                                        " (a zombie at restart)" if zombie
                                        else "",
                                        " | ".join(said[-2:])[-200:] or
                                        "nothing"))
            self.reset_pair(pair, "no frame within %.0f s of the %s's "
                            "restart" % (self.a.resume_timeout, role))
        # a survivor that died meanwhile is replaced too
        for r in ROLES:
            if PAIR_OF[r] != pair:
                continue
            q = self.cur[r]
            if not q.alive():
                self.survivor_deaths.append("round %d: the %s died: %s"
                                            % (i, r, q.tail()[-200:]))
                self.reset_pair(pair, "the %s died" % r)
                break

    def run(self):
        if self.subreaper:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "PR_SET_CHILD_SUBREAPER")
        log("seed %d; orphans reaped by %s" % (
            self.a.seed, "PID 1" if not self.subreaper else
            "this driver (child subreaper) %s after their death"
            % ("only at the end" if self.reap_delay == float("inf")
               else "%.1f s" % self.reap_delay)))
        t_end = now() + self.a.duration if self.a.duration else None
        self.new_pair("gst")
        self.new_pair("duplex")
        i = 0
        while i < self.a.kills:
            if t_end is not None and now() >= t_end:
                log("duration cap reached after %d kills" % i)
                break
            i += 1
            self.round(i)
            if i % 50 == 0:
                log("%d kills, %d resumed, worst resume %.0f ms" % (
                    i, self.resumed, max(self.resume_times or [0]) * 1000))
        return i

    def finish(self, done):
        # writers and clients first, so that their readers see them go
        order = ["gst-writer", "client", "gst-reader", "server"]
        unclean = []
        for role in order:
            p = self.cur.get(role)
            if p is not None and not self.stop_proc(p):
                unclean.append(role)
        for p in self.procs:
            if p.state() not in ("gone", "Z"):
                p.signal(signal.SIGKILL)
        # reap everything (subreaper) and let PID 1 reap the rest
        self.reap_delay = 0
        self.wait_for(lambda: all(p.state() == "gone" for p in self.procs),
                      10)
        for p in self.procs:
            p.poll()
        left_procs = [p for p in self.procs if p.state() != "gone"]
        left = []
        for n in self.names:
            for b in (n, n + "_request", n + "_response"):
                for path in ("/dev/shm/" + b, "/dev/shm/sem.sem-w-" + b,
                             "/dev/shm/sem.sem-r-" + b,
                             "/tmp/zerobuffer/" + b + ".lock"):
                    if os.path.lexists(path):
                        left.append(path)
        bad = []
        gaps = 0
        for p in self.procs:
            if p.failed_start:
                continue        # its errors are in start_errors
            for b in p.bad():
                if b.startswith("offset "):
                    gaps += 1
                bad.append("%s %s: %s" % (p.role, p.name, b))
        frames = sum(p.frames for p in self.procs
                     if p.role in ("gst-reader", "client"))
        rt = sorted(self.resume_times)

        def pct(q):
            return rt[min(len(rt) - 1, int(q * len(rt)))] * 1000 if rt \
                else 0.0

        lost = self.lost_unread + gaps
        slow = sum(1 for x in rt if x > self.a.resume_limit)
        ok = (not slow and not bad and lost == 0 and not left and not left_procs and
              not self.not_resumed and not self.survivor_deaths and
              not unclean)
        log("")
        log("kill soak summary (seed %d)" % self.a.seed)
        log("  kills:                %d (%s)" % (done, ", ".join(
            "%s %d" % (r, self.kills[r]) for r in ROLES)))
        log("  restarts:             %d replacements started, %d of them "
            "exited at once and were retried; %d pair resets"
            % (self.restarts, self.failed_starts, self.resets))
        for why, n in sorted(self.start_errors.items(),
                             key=lambda x: -x[1])[:4]:
            log("    %d failed starts: %s" % (n, why))
        log("  resumed:              %d of %d; not resumed within %.0f s: "
            "%d" % (self.resumed, done, self.a.resume_timeout,
                    len(self.not_resumed)))
        log("  zombie at restart:    %d (killed peer not yet reaped when "
            "its replacement started)" % self.zombie_at_restart)
        log("  frames delivered:     %d (verified)" % frames)
        log("  frames lost:          %d (%d committed but never read by a "
            "living reader, %d gaps in a writer's stream)"
            % (lost, self.lost_unread, gaps))
        log("  gone with a killed peer: %d (in a killed reader's ring or "
            "a killed client's requests; not counted as lost)"
            % self.gone_with_peer)
        log("  corruptions:          %d" % len(bad))
        log("  leftovers:            %d objects in /dev/shm and "
            "/tmp/zerobuffer, %d processes" % (len(left), len(left_procs)))
        log("  resume time:          worst %.0f ms, p99 %.0f ms, median "
            "%.0f ms; %d slower than %.1f s"
            % (rt[-1] * 1000 if rt else 0.0, pct(0.99), pct(0.5), slow,
               self.a.resume_limit))
        for what, items in (("not resumed", self.not_resumed),
                            ("survivor died", self.survivor_deaths),
                            ("corruption", bad),
                            ("left", left),
                            ("still running", ["%s pid %d" % (p.role, p.pid)
                                               for p in left_procs]),
                            ("did not stop on SIGTERM/SIGINT", unclean)):
            for x in items[:8]:
                log("    %s: %s" % (what, x))
            if len(items) > 8:
                log("    %s: ... %d more" % (what, len(items) - 8))
        log("  verdict:              %s" % ("ok" if ok else "FAIL"))
        for path in left:
            try:
                os.unlink(path)
            except OSError:
                pass
        return ok


def main():
    global verbose
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--duration", type=float, default=0,
                    help="stop after this many seconds (0: no cap)")
    ap.add_argument("--zombies", default=None, metavar="S",
                    help="be a child subreaper and reap a dead process only "
                    "S seconds after its death ('inf': at the end)")
    ap.add_argument("--resume-timeout", type=float, default=10.0,
                    help="seconds for a pair to resume before it is reset")
    ap.add_argument("--resume-limit", type=float, default=1.0,
                    help="a resume slower than this many seconds is a FAIL")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    if a.seed is None:
        a.seed = int(time.time())
    if a.zombies is not None and a.zombies != "inf":
        float(a.zombies)
    verbose = a.verbose
    s = Soak(a)
    aborted = True
    done = 0
    try:
        done = s.run()
        aborted = False
    except (RuntimeError, OSError) as e:
        log("soak aborted: %s" % e)
    finally:
        ok = s.finish(done) and not aborted
    return 0 if ok else 1


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        sys.exit(main())
    finally:
        for f in os.listdir(tmpdir):
            os.unlink(os.path.join(tmpdir, f))
        os.rmdir(tmpdir)
