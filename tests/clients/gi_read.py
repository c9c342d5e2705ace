"""A PyGObject application that reads frames from a zbsink in another
process and checks them:

    gi_read.py pipeline|uri NAME FRAMES WIDTH HEIGHT

pipeline: zbsrc buffer-name=NAME ! appsink; uri: the source is made with
Gst.Element.make_from_uri() from zerobuffer://NAME, as an application
that takes a URI would (docs/clients.md, "Python (PyGObject)"). Prints
"ready" once PLAYING (its buffer exists), then a summary; exits 0 when
exactly FRAMES frames came, each RGB WIDTHxHEIGHT and byte for byte
frames.rgb_bytes(i), then EOS, with no error."""

import sys

import gi
gi.require_version("Gst", "1.0")
from gi.repository import Gst  # noqa: E402

import frames  # noqa: E402

mode, name = sys.argv[1:3]
count, width, height = map(int, sys.argv[3:6])
Gst.init(None)
if mode == "pipeline":
    pipeline = Gst.parse_launch(
        "zbsrc buffer-name=%s ! appsink name=sink sync=false" % name)
    sink = pipeline.get_by_name("sink")
else:
    pipeline = Gst.Pipeline.new("reader")
    src = Gst.Element.make_from_uri(Gst.URIType.SRC, "zerobuffer://" + name)
    sink = Gst.ElementFactory.make("appsink", "sink")
    sink.set_property("sync", False)
    pipeline.add(src)
    pipeline.add(sink)
    src.link(sink)
    print("source %s" % src.get_factory().get_name())

if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
    sys.exit("cannot start the reader")
print("ready", flush=True)

n, wrong, bad_caps = 0, [], set()
while True:
    sample = sink.emit("try-pull-sample", 30 * Gst.SECOND)
    if sample is None:
        break
    s = sample.get_caps().get_structure(0)
    if not hasattr(s, "get_name"):
        # gst-python 1.26: a StructureWrapper, used as a context manager
        with s as st:
            caps = (st.get_name(), st.get_string("format"),
                    st.get_int("width")[1], st.get_int("height")[1])
    else:
        caps = (s.get_name(), s.get_string("format"), s.get_int("width")[1],
                s.get_int("height")[1])
    if caps != ("video/x-raw", "RGB", width, height):
        bad_caps.add(caps)
    buf = sample.get_buffer()
    if buf.extract_dup(0, buf.get_size()) != frames.rgb_bytes(n, width,
                                                               height):
        wrong.append(n)
    n += 1
eos = sink.get_property("eos")
err = pipeline.get_bus().pop_filtered(Gst.MessageType.ERROR)
pipeline.set_state(Gst.State.NULL)
print("frames %d wrong %s caps %s eos %s error %s" %
      (n, wrong, sorted(bad_caps), eos, err.parse_error() if err else None))
sys.exit(0 if n == count and not wrong and not bad_caps and eos and not err
         else 1)
