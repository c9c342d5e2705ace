"""OpenCV (Debian's python3-opencv, built with GStreamer) as a real
client: cv_write.py writes solid-colour frames with cv2.VideoWriter
through appsrc ! videoconvert ! zbsink in one process; cv_read.py reads
them with cv2.VideoCapture in another, by pipeline string and by
zerobuffer:// URI. docs/clients.md, "OpenCV", shows both programs.

Asserts: every frame arrives, in order, at the writer's size; frame k is
uniform and its colour is frames.bgr_colour(k) within TOLERANCE (BGR ->
I420 -> BGR conversion loses a little); both processes exit 0; no object
of the buffer is left."""

import os

import zbclients
from zbclients import ClientTest, PYTHON, HERE
import frames

zbclients.require("OpenCV", lambda: __import__("cv2"), "python3-opencv")


def opencv_has_gstreamer():
    import cv2
    if "GStreamer:                   YES" not in cv2.getBuildInformation():
        raise RuntimeError("cv2 is built without GStreamer")


zbclients.require("OpenCV with GStreamer", opencv_has_gstreamer,
                  "python3-opencv (Debian's is built with GStreamer)")

W, H, FRAMES = 160, 120, 24
TOLERANCE = 8       # per channel, of the frame's mean colour
SPREAD = 8          # largest distance of a pixel from its frame's mean


class OpenCV(ClientTest):

    def run_pair(self, name, source):
        reader = self.spawn("cv_read", [PYTHON, os.path.join(HERE,
                                                             "cv_read.py"),
                                        source])
        # VideoCapture() returns once the first frame is there: wait for
        # the buffer its zbsrc creates instead
        self.wait_for_buffer(name)
        writer = self.spawn("cv_write", [
            PYTHON, os.path.join(HERE, "cv_write.py"), name, str(FRAMES),
            str(W), str(H)])
        self.assertIn("wrote %d frames" % FRAMES, self.finish(writer, 60))
        out = self.finish(reader, 60)
        self.assertNoLeftovers(name)

        got = [line.split() for line in out.splitlines()
               if line.startswith("frame ")]
        self.assertEqual(len(got), FRAMES, "frames read" + self.logs())
        self.assertIn("end %d" % FRAMES, out)
        for k, (_, index, shape, b, g, r, spread) in enumerate(got):
            self.assertEqual(int(index), k)
            self.assertEqual(shape, "%dx%dx3" % (H, W))
            want = frames.bgr_colour(k)
            for have, expect in zip((int(b), int(g), int(r)), want):
                self.assertLessEqual(abs(have - expect), TOLERANCE,
                                     "frame %d: BGR %s, written %s" %
                                     (k, (b, g, r), want))
            self.assertLessEqual(int(spread), SPREAD,
                                 "frame %d is not uniform" % k)

    def test_pipeline_strings(self):
        """VideoWriter("appsrc ! videoconvert ! video/x-raw,format=I420 !
        zbsink buffer-name=X") to VideoCapture("zbsrc buffer-name=X !
        videoconvert ! video/x-raw,format=BGR ! appsink")"""
        name = self.name("cvpipe")
        self.run_pair(name, "zbsrc buffer-name=%s ! videoconvert ! "
                      "video/x-raw,format=BGR ! appsink" % name)

    def test_uri(self):
        """VideoCapture("zerobuffer://X", cv2.CAP_GSTREAMER): OpenCV takes
        any URI gst_uri_is_valid() accepts and reads it with uridecodebin"""
        name = self.name("cvuri")
        self.run_pair(name, "zerobuffer://" + name)


if __name__ == "__main__":
    zbclients.main()
