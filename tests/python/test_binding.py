"""Tests of the ctypes binding: real processes (fork), real shared memory."""

import ctypes
import errno
import json
import os
import signal
import struct
import time
import unittest

import numpy as np

import zerobuffer

_counter = 0


def unique_name():
    global _counter
    _counter += 1
    return "zbt-py-%d-%d" % (os.getpid(), _counter)


def in_child(fn):
    """Run fn() in a forked child; returns its pid. Exit code 0 on success."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            fn()
            code = 0
        except BaseException as e:  # reported through the exit code
            print("child failed:", repr(e), flush=True)
        os._exit(code)
    return pid


def wait_ok(testcase, pid, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            testcase.assertTrue(os.WIFEXITED(status))
            testcase.assertEqual(os.WEXITSTATUS(status), 0)
            return
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    testcase.fail("child did not finish")


NONE = 0xFFFFFFFFFFFFFFFF


def gst_record(rtype, payload=b"", pts=NONE, duration=NONE):
    """A record of docs/frame-format.md, built independently of the
    binding's parser."""
    head = b"ZBGS" + struct.pack("<BBHII8Q", 1, rtype, 80, 0, 0, pts, NONE,
                                 duration, NONE, NONE, NONE, NONE,
                                 len(payload))
    assert len(head) == 80
    return head + payload


def leftovers(name):
    found = [f for f in os.listdir("/dev/shm") if name in f]
    if os.path.isdir("/tmp/zerobuffer"):
        found += [f for f in os.listdir("/tmp/zerobuffer") if name in f]
    return found


class BindingTest(unittest.TestCase):

    def setUp(self):
        self.name = unique_name()

    def tearDown(self):
        self.assertEqual(leftovers(self.name), [])

    def test_frames_as_numpy_without_copy(self):
        caps = ("video/x-raw, format=(string)GRAY8, width=(int)8, "
                "height=(int)4, framerate=(fraction)30/1")

        def write():
            with zerobuffer.Writer(self.name, connect_timeout_ms=5000) as w:
                w.set_metadata('{"caps": "%s"}' % caps)
                for k in range(3):
                    w.write(bytes((k + i) % 256 for i in range(32)))

        with zerobuffer.Reader(self.name, payload_size=4096) as r:
            pid = in_child(write)
            for k in range(3):
                with r.read(timeout_ms=5000) as f:
                    self.assertEqual(f.sequence, k + 1)
                    self.assertEqual(f.new_writer, k == 0)
                    self.assertEqual(r.caps(), caps)
                    arr = f.ndarray()
                    self.assertEqual(arr.shape, (4, 8))
                    self.assertEqual(arr[1, 0], (k + 8) % 256)
                    # The array is the ring itself: no copy was made.
                    address = arr.__array_interface__["data"][0]
                    self.assertEqual(address, f._raw.data)
                    self.assertFalse(arr.flags.writeable)
            wait_ok(self, pid)
            with self.assertRaises(zerobuffer.PeerGone):
                r.read(timeout_ms=2000)

    def test_zero_copy_write_and_status(self):
        def write():
            with zerobuffer.Writer(self.name, connect_timeout_ms=5000) as w:
                view = w.acquire(1000)
                view[:] = bytes(range(250)) * 4
                w.commit()

        with zerobuffer.Reader(self.name, payload_size=4096) as r:
            pid = in_child(write)
            with r.read() as f:
                self.assertEqual(bytes(f.data), bytes(range(250)) * 4)
                st = zerobuffer.status(self.name)
                self.assertEqual(st["payload_size"], 4096)
                self.assertEqual(st["payload_free_bytes"], 4096 - 1016)
            self.assertEqual(r.status()["payload_free_bytes"], 4096)
            wait_ok(self, pid)

    def test_writer_cancel(self):
        """Writer.cancel(): the acquired frame is not published, its view
        is released, the next acquire() gets the same bytes; the reader
        reads the committed frame as sequence 1, and nothing else."""
        def write():
            with zerobuffer.Writer(self.name, connect_timeout_ms=5000) as w:
                with self.assertRaises(zerobuffer.Error) as cm:
                    w.cancel()
                self.assertEqual(cm.exception.errno, errno.EINVAL)
                view = w.acquire(1000)
                view[:] = b"\xee" * 1000
                w.cancel()
                with self.assertRaises(ValueError):
                    view[0] = 1
                with self.assertRaises(zerobuffer.Error) as cm:
                    w.cancel()
                self.assertEqual(cm.exception.errno, errno.EINVAL)
                with self.assertRaises(zerobuffer.Error) as cm:
                    w.commit()
                self.assertEqual(cm.exception.errno, errno.EINVAL)
                view = w.acquire(1000)
                # the same bytes: they still hold what was given up
                self.assertEqual(bytes(view), b"\xee" * 1000)
                view[:] = bytes(range(200)) * 5
                w.commit()

        with zerobuffer.Reader(self.name, payload_size=4096) as r:
            pid = in_child(write)
            with r.read() as f:
                self.assertEqual(f.sequence, 1)
                self.assertEqual(bytes(f.data), bytes(range(200)) * 5)
            wait_ok(self, pid)
            with self.assertRaises(zerobuffer.PeerGone):
                r.read(timeout_ms=2000)
            self.assertEqual(r.status()["written_count"], 1)

    def test_writer_drops(self):
        with zerobuffer.Reader(self.name, payload_size=4096):
            with zerobuffer.Writer(self.name) as w:
                me = os.getpid()
                stats = zerobuffer.writer_stats(self.name, me)
                self.assertEqual(stats, {"writer_pid": me, "drops": 0})
                w.add_drops(3)
                w.add_drops()
                self.assertEqual(w.drops(), 4)
                self.assertEqual(
                    zerobuffer.writer_stats(self.name, me)["drops"], 4)
            # gone with the writer
            self.assertIsNone(zerobuffer.writer_stats(self.name, me))

    def test_writer_killed(self):
        def write():
            w = zerobuffer.Writer(self.name, connect_timeout_ms=5000)
            w.write(b"x")
            os.kill(os.getpid(), signal.SIGKILL)

        with zerobuffer.Reader(self.name, payload_size=4096) as r:
            pid = in_child(write)
            with r.read() as f:
                self.assertEqual(bytes(f.data), b"x")
            os.waitpid(pid, 0)
            with self.assertRaises(zerobuffer.PeerDead):
                r.read(timeout_ms=2000)

    def test_fanout_writer(self):
        """One FanoutWriter, readers NAME and NAME@rec in two processes:
        each gets every frame (counter checked), and the metadata."""
        frames = 200
        names = [self.name, self.name + "@rec"]
        ready_r, ready_w = os.pipe()

        def read(name):
            def run():
                with zerobuffer.Reader(name, payload_size=1 << 20) as r:
                    os.write(ready_w, b"r")
                    for k in range(frames):
                        with r.read(timeout_ms=5000) as f:
                            got = bytes(f.data)
                            self.assertEqual(got, struct.pack("<Q", k) * 4)
                            if k == 0:
                                self.assertEqual(bytes(r.metadata()),
                                                 b'{"caps":"x"}')
                    with self.assertRaises(zerobuffer.PeerGone):
                        r.read(timeout_ms=5000)
            return run

        pids = [in_child(read(n)) for n in names]
        for _ in names:
            os.read(ready_r, 1)
        os.close(ready_r)
        os.close(ready_w)
        with zerobuffer.FanoutWriter(self.name) as w:
            self.assertEqual(w.wait_readers(2, timeout_ms=5000), 2)
            w.set_metadata('{"caps":"x"}')
            for k in range(frames):
                self.assertEqual(w.write(struct.pack("<Q", k) * 4), 2)
            self.assertEqual(w.frames_written, frames)
            got = sorted(w.readers(), key=lambda x: x["name"])
            self.assertEqual([x["name"] for x in got], sorted(names))
            for x in got:
                self.assertEqual((x["frames"], x["drops"]), (frames, 0))
                self.assertIn(x["pid"], pids)
        for pid in pids:
            wait_ok(self, pid)

    def test_fanout_errors(self):
        with self.assertRaises(zerobuffer.Error) as cm:
            zerobuffer.FanoutWriter(self.name + "@id")
        self.assertEqual(cm.exception.errno, errno.EINVAL)
        with self.assertRaises(ValueError):
            zerobuffer.FanoutWriter(self.name, policy="sometimes")
        with zerobuffer.FanoutWriter(self.name, policy="block") as w:
            self.assertEqual(w.write(b"nobody"), 0)
            self.assertEqual(w.readers(), [])
            with self.assertRaises(zerobuffer.Timeout):
                w.wait_readers(1, timeout_ms=10)

    def test_errors(self):
        with self.assertRaises(zerobuffer.Error) as cm:
            zerobuffer.Reader("a/b")
        self.assertEqual(cm.exception.errno, errno.EINVAL)
        with self.assertRaises(zerobuffer.Error) as cm:
            zerobuffer.Writer(self.name)
        self.assertEqual(cm.exception.errno, errno.ENOENT)
        with zerobuffer.Reader(self.name, payload_size=64) as r:
            self.assertIsNone(r.metadata())
            with zerobuffer.Writer(self.name) as w:
                with self.assertRaises(zerobuffer.Error) as cm:
                    w.write(b"x" * 49)
                self.assertEqual(cm.exception.errno, errno.EMSGSIZE)
            with self.assertRaises(zerobuffer.Timeout):
                r.read(timeout_ms=0)

    @unittest.skipUnless(os.geteuid() == 0, "needs root (a peer as nobody)")
    def test_allow_uid(self):
        import pwd
        try:
            nobody = pwd.getpwnam("nobody")
        except KeyError:
            self.skipTest("no user nobody")
        rd, wr = os.pipe()

        def read_as_nobody():
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            os.umask(0)
            with zerobuffer.Reader(self.name, payload_size=4096,
                                   mode=0o666) as r:
                os.write(wr, b"r")
                with r.read(timeout_ms=5000) as f:
                    assert bytes(f.data) == b"hello"

        pid = in_child(read_as_nobody)
        self.assertEqual(os.read(rd, 1), b"r")
        with self.assertRaises(zerobuffer.Error) as cm:
            zerobuffer.Writer(self.name)
        self.assertEqual(cm.exception.errno, errno.EPERM)
        with zerobuffer.Writer(self.name, allow_uid=nobody.pw_uid) as w:
            w.write(b"hello")
        wait_ok(self, pid)
        os.close(rd)
        os.close(wr)

    def _start_server(self, handler, **kwargs):
        """A DuplexServer of self.name with @handler in a child process."""
        def serve():
            with zerobuffer.DuplexServer(self.name, handler,
                                         payload_size=1 << 16,
                                         **kwargs) as s:
                s.run()
        return in_child(serve)

    def _kill_server(self, pid):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        # The killed server leaves its request buffer: remove it (or find
        # it removed by another reader's stale cleanup).
        lib = zerobuffer._lib
        lib.zb_cleanup.argtypes = [ctypes.c_char_p]
        self.assertIn(lib.zb_cleanup((self.name + "_request").encode()),
                      (0, -errno.ENOENT))

    def test_duplex_echo_with_numpy_handler(self):
        def invert(req):
            return 255 - np.frombuffer(req, dtype=np.uint8)

        pid = self._start_server(invert)
        try:
            with zerobuffer.DuplexClient(self.name,
                                         payload_size=1 << 16) as c:
                for k in range(5):
                    seq = c.send(bytes([k, 1, 2, 3]))
                    with c.receive() as resp:
                        self.assertEqual(resp.sequence, seq)
                        self.assertEqual(bytes(resp.data),
                                         bytes([255 - k, 254, 253, 252]))
        finally:
            self._kill_server(pid)

    def test_duplex_in_place(self):
        """in_place=True: a DuplexClient's request is changed where it lies
        in shared memory and answered with a slice of it; a client made
        as the reference implementations make one (a plain reader and
        writer) gets a private copy and a copied answer (docs/duplex.md,
        "In place")."""
        def invert(req):
            arr = np.frombuffer(req, dtype=np.uint8)
            np.subtract(255, arr, out=arr)
            # 2: the bytes in shared memory, 1: a private copy
            req[4] = 1 if isinstance(req.obj, bytearray) else 2
            return req[4:]

        pid = self._start_server(invert, in_place=True)
        try:
            with zerobuffer.DuplexClient(self.name,
                                         payload_size=1 << 16) as c:
                for k in range(50):
                    req = bytes([k, 1, 2, 3, 0]) + bytes(range(k, k + 200))
                    seq = c.send(req)
                    with c.receive() as resp:
                        self.assertEqual(resp.sequence, seq)
                        self.assertEqual(bytes(resp.data), bytes([2]) + bytes(
                            255 - b for b in req[5:]))
            with zerobuffer.Reader(self.name + "_response",
                                   payload_size=1 << 16) as r, \
                    zerobuffer.Writer(self.name + "_request",
                                      connect_timeout_ms=3000) as w:
                for k in range(5):
                    req = bytes([k, 1, 2, 3, 0, 7, 8])
                    w.write(req)
                    with r.read(timeout_ms=5000) as resp:
                        self.assertEqual(bytes(resp.data),
                                         bytes([1, 255 - 7, 255 - 8]))
        finally:
            self._kill_server(pid)

    def test_duplex_fan_in(self):
        """One Python server, three client processes of NAME@cam1..3:
        each gets the answers to its own requests only; one is killed
        mid-stream, the others finish (docs/duplex.md, "Fan-in")."""
        def serve():
            def answer(req):
                return (server.channel().encode() + b"|"
                        + bytes(255 - b for b in req))
            with zerobuffer.DuplexServer(self.name, answer,
                                         payload_size=1 << 16) as server:
                server.run()

        rd, wr = os.pipe()

        def client(cam, count):
            channel = "%s@%s" % (self.name, cam)
            with zerobuffer.DuplexClient(channel, payload_size=1 << 16) as c:
                k = 0
                while count == 0 or k < count:
                    k += 1
                    req = ("%s:%d" % (cam, k)).encode() * 3
                    seq = c.send(req)
                    with c.receive() as resp:
                        assert resp.sequence == seq == k
                        want = (channel.encode() + b"|"
                                + bytes(255 - b for b in req))
                        assert bytes(resp.data) == want, (cam, k)
                    if k == 20:
                        os.write(wr, b"N")

        server = in_child(serve)
        pids = []
        try:
            pids = [in_child(lambda: client("cam1", 300)),
                    in_child(lambda: client("cam2", 0)),
                    in_child(lambda: client("cam3", 300))]
            got = b""
            while b"N" * 3 not in got:
                got += os.read(rd, 1)
            os.kill(pids[1], signal.SIGKILL)
            os.waitpid(pids[1], 0)
            wait_ok(self, pids[0], 20)
            wait_ok(self, pids[2], 20)
            done, _ = os.waitpid(server, os.WNOHANG)
            self.assertEqual(done, 0, "the server ended")
        finally:
            for pid in [server] + pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                except (ProcessLookupError, ChildProcessError):
                    pass
            os.close(rd)
            os.close(wr)
            # The killed server's request buffers, the killed client's
            # response buffer.
            lib = zerobuffer._lib
            lib.zb_cleanup.argtypes = [ctypes.c_char_p]
            for f in os.listdir("/dev/shm"):
                if f.startswith(self.name) and f.endswith(
                        ("_request", "_response")):
                    lib.zb_cleanup(f.encode())

    def test_gst_frame_format(self):
        # RGB 5x2: rows of 15 bytes padded to 16 in GStreamer's layout.
        caps1 = ("video/x-raw, format=(string)RGB, width=(int)5, "
                 "height=(int)2, framerate=(fraction)30/1")
        caps2 = "video/x-raw, format=(string)GRAY8, width=(int)4, " \
            "height=(int)3"
        meta = json.dumps({"type": "gstreamer-sink", "caps": caps1,
                           "frame_format": "gst",
                           "frame_format_version": 1})
        rgb = bytes(range(15)) + b"\xee" + bytes(range(100, 115)) + b"\xee"

        def write():
            with zerobuffer.Writer(self.name, connect_timeout_ms=5000) as w:
                w.set_metadata(meta)
                w.write(gst_record(1, rgb, pts=1000, duration=33))
                w.write(gst_record(2, caps2.encode()))
                w.write(gst_record(1, bytes(range(12)), pts=2000))
                w.write(b"ZBGS" + bytes(10))            # corrupt
                w.write(gst_record(3))

        with zerobuffer.Reader(self.name, payload_size=4096) as r:
            pid = in_child(write)
            with r.read() as f:
                self.assertEqual(r.frame_format(), "gst")
                self.assertEqual((f.kind, f.pts, f.duration),
                                 ("buffer", 1000, 33))
                self.assertEqual(f.record.dts, None)
                self.assertEqual(bytes(f.payload), rgb)
                arr = f.ndarray()
                self.assertEqual(arr.shape, (2, 5, 3))
                self.assertEqual(arr[1, 0].tolist(), [100, 101, 102])
                self.assertEqual(arr[0, 4].tolist(), [12, 13, 14])
                self.assertEqual(arr.__array_interface__["data"][0],
                                 f.payload_address)
                self.assertEqual(f.payload_address, f._raw.data + 80)
                self.assertFalse(arr.flags.writeable)
                del arr
            with r.read() as f:
                self.assertEqual(f.kind, "caps")
                self.assertEqual(r.caps(), caps2)
            with r.read() as f:
                arr = f.ndarray()
                self.assertEqual(arr.shape, (3, 4))
                self.assertEqual(arr[2, 3], 11)
                del arr
            with self.assertRaises(zerobuffer.Error) as cm:
                r.read()
            self.assertEqual(cm.exception.errno, errno.EBADMSG)
            # The corrupt frame was released: the EOS record follows.
            with r.read() as f:
                self.assertEqual(f.kind, "eos")
                self.assertEqual(len(f.payload), 0)
            wait_ok(self, pid)
            self.assertEqual(r.status()["payload_free_bytes"], 4096)

    def test_parse_gst_record_validation(self):
        good = gst_record(1, b"abc", pts=5)
        rec = zerobuffer.parse_gst_record(good)
        self.assertEqual((rec.kind, rec.pts, bytes(rec.payload)),
                         ("buffer", 5, b"abc"))
        bad = [
            good[:79],                                  # short
            b"ZBGX" + good[4:],                         # magic
            good[:4] + b"\x02" + good[5:],              # version
            good[:5] + b"\x06" + good[6:],              # type
            good[:5] + b"\x05" + good[6:],              # pool, no reference
            good[:6] + struct.pack("<H", 79) + good[8:],  # header_size
            good + b"x",                                # trailing byte
            gst_record(3, b"x"),                        # EOS with payload
        ]
        for data in bad:
            with self.assertRaises(ValueError):
                zerobuffer.parse_gst_record(data)


if __name__ == "__main__":
    unittest.main()
