"""The harness of the client tests (tests/clients): unique buffer names,
applications started as real processes in their own process groups, and a
cleanup that kills and reaps them and removes the buffers' objects from
/dev/shm and /tmp/zerobuffer, also when a test fails.

Run by meson with GST_PLUGIN_PATH_1_0 pointing at this build's plugin; a
private GStreamer registry per test program (GST_REGISTRY)."""

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"     # Debian's, with cv2, gi and numpy
SKIP = 77                       # meson: skipped

_tmp = tempfile.mkdtemp(prefix="zbt-clients-")
os.environ["GST_REGISTRY"] = os.path.join(_tmp, "registry.bin")
_count = 0


def require(what, check, package):
    """Exit with 77 (skip) when @check() fails: @package is missing."""
    try:
        check()
    except Exception as e:      # ImportError, ValueError of gi, ...
        print("SKIP: %s is not available (%s): install %s "
              "(scripts/install-deps.sh does)" % (what, e, package))
        sys.exit(SKIP)


def unique_name(tag):
    """A buffer name unique to this process and call."""
    global _count
    _count += 1
    return "zbt-%d-clients-%s-%d" % (os.getpid(), tag, _count)


def leftovers(name):
    """The OS objects of buffer @name that exist."""
    return sorted(glob.glob("/dev/shm/*%s" % name) +
                  glob.glob("/tmp/zerobuffer/%s.*" % name))


class ClientTest(unittest.TestCase):
    """Processes started with spawn() and buffers named with name() are
    cleaned up after each test, whatever its outcome."""

    def setUp(self):
        self.procs = []
        self.names = []
        self.tmp = tempfile.mkdtemp(dir=_tmp)
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            p.log.close()
        for name in self.names:
            for path in leftovers(name):
                os.unlink(path)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def name(self, tag):
        n = unique_name(tag)
        self.names.append(n)
        return n

    def spawn(self, label, argv):
        """Start @argv in its own process group, output to a log file."""
        log = open(os.path.join(self.tmp, label + ".log"), "w+")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT, cwd=self.tmp,
                             start_new_session=True)
        p.log = log
        p.label = label
        self.procs.append(p)
        return p

    def output(self, p):
        with open(p.log.name) as f:
            return f.read()

    def logs(self):
        return "".join("\n--- %s (%s) ---\n%s" % (p.label, p.args,
                                                   self.output(p)[-3000:])
                       for p in self.procs)

    def finish(self, p, timeout):
        """Wait for @p to exit with status 0 within @timeout seconds."""
        try:
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.fail("%s did not finish within %d s%s" %
                      (p.label, timeout, self.logs()))
        self.assertEqual(rc, 0, "%s exited with %d%s" %
                         (p.label, rc, self.logs()))
        return self.output(p)

    def wait_for(self, p, text, timeout=20):
        """Wait until @p printed @text (and is still running)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if text in self.output(p):
                return
            if p.poll() is not None:
                self.fail("%s exited with %d before printing %r%s" %
                          (p.label, p.returncode, text, self.logs()))
            time.sleep(0.02)
        self.fail("%s did not print %r within %d s%s" %
                  (p.label, text, timeout, self.logs()))

    def wait_for_buffer(self, name, timeout=20):
        """Wait until the reader created buffer @name."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if os.path.exists("/dev/shm/" + name):
                return
            time.sleep(0.02)
        self.fail("buffer %s did not appear within %d s%s" %
                  (name, timeout, self.logs()))

    def assertNoLeftovers(self, name):
        self.assertEqual(leftovers(name), [],
                         "objects of %s left behind" % name)


def main():
    try:
        unittest.main(verbosity=2)
    finally:
        shutil.rmtree(_tmp, ignore_errors=True)
