"""A PyGObject (python3-gst-1.0) application as a real client: gi_write.py
pushes RGB frames of seeded noise through appsrc ! zbsink in one process;
gi_read.py pulls them from zbsrc ! appsink in another, or from the source
Gst.Element.make_from_uri("zerobuffer://NAME") gives. docs/clients.md,
"Python (PyGObject)", shows both programs.

Asserts (in gi_read.py, reported by its exit status and summary): exactly
FRAMES frames, each byte for byte the frame written, with the writer's
caps, then EOS, no error; both processes exit 0; no object of the buffer
is left."""

import os

import zbclients
from zbclients import ClientTest, PYTHON, HERE


def gst_from_python():
    import gi
    gi.require_version("Gst", "1.0")
    from gi.repository import Gst
    Gst.init(None)
    if Gst.ElementFactory.find("appsrc") is None:
        raise RuntimeError("no appsrc")


zbclients.require("PyGObject with Gst", gst_from_python,
                  "python3-gi, python3-gst-1.0, gir1.2-gstreamer-1.0, "
                  "gir1.2-gst-plugins-base-1.0")

W, H, FRAMES = 64, 48, 24


class PyGObject(ClientTest):

    def run_pair(self, mode, name):
        reader = self.spawn("gi_read", [
            PYTHON, os.path.join(HERE, "gi_read.py"), mode, name,
            str(FRAMES), str(W), str(H)])
        self.wait_for(reader, "ready")
        self.wait_for_buffer(name)
        writer = self.spawn("gi_write", [
            PYTHON, os.path.join(HERE, "gi_write.py"), name, str(FRAMES),
            str(W), str(H)])
        self.assertIn("wrote %d frames" % FRAMES, self.finish(writer, 60))
        out = self.finish(reader, 60)
        self.assertIn("frames %d wrong [] caps [] eos True error None" %
                      FRAMES, out)
        self.assertNoLeftovers(name)
        return out

    def test_appsrc_to_appsink(self):
        """appsrc ! zbsink buffer-name=X to zbsrc buffer-name=X ! appsink"""
        self.run_pair("pipeline", self.name("gipipe"))

    def test_uri_source(self):
        """Gst.Element.make_from_uri(SRC, "zerobuffer://X") ! appsink"""
        out = self.run_pair("uri", self.name("giuri"))
        self.assertIn("source zbsrc", out)


if __name__ == "__main__":
    zbclients.main()
