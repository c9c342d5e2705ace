"""A PyGObject application that writes frames into a zbsink:

    gi_write.py NAME FRAMES WIDTH HEIGHT

appsrc ! zbsink buffer-name=NAME (docs/clients.md, "Python
(PyGObject)"): frame i is frames.rgb_bytes(i), RGB, 30 frames/s; then EOS,
and the program waits for it to go through (the reader has read
everything)."""

import sys

import gi
gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

import frames  # noqa: E402

name, count, width, height = sys.argv[1], *map(int, sys.argv[2:5])
Gst.init(None)
pipeline = Gst.parse_launch(
    "appsrc name=src format=time "
    "caps=video/x-raw,format=RGB,width=%d,height=%d,framerate=30/1 ! "
    "zbsink buffer-name=%s" % (width, height, name))
src = pipeline.get_by_name("src")
pipeline.set_state(Gst.State.PLAYING)
for i in range(count):
    buf = Gst.Buffer.new_wrapped(frames.rgb_bytes(i, width, height))
    buf.pts = i * Gst.SECOND // 30
    buf.duration = Gst.SECOND // 30
    if src.emit("push-buffer", buf) != Gst.FlowReturn.OK:
        sys.exit("push-buffer failed")
src.emit("end-of-stream")
msg = pipeline.get_bus().timed_pop_filtered(
    30 * Gst.SECOND, Gst.MessageType.EOS | Gst.MessageType.ERROR)
pipeline.set_state(Gst.State.NULL)
if msg is None or msg.type != Gst.MessageType.EOS:
    sys.exit("no EOS: %s" % (msg.parse_error() if msg else "timeout"))
print("wrote %d frames" % count)
