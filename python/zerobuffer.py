"""zerobuffer - Python binding of libzerobuffer (ctypes, no compilation).

The C library does the work, so Python gets its behaviour and speed:
frames are zero-copy memoryviews into the shared-memory ring, usable with
numpy.frombuffer() without a copy.

    import zerobuffer
    with zerobuffer.Reader("cam", payload_size=64 << 20) as reader:
        frame = reader.read(timeout_ms=5000)
        with frame:                      # released on exit
            pixels = frame.ndarray()     # shaped from the caps, no copy
    with zerobuffer.Writer("cam", connect_timeout_ms=5000) as writer:
        writer.set_metadata(b'{"caps": "..."}')
        writer.write(b"bytes")

The library is found through $ZEROBUFFER_LIBRARY, then the system's
library path (libzerobuffer.so.0).
"""

import ctypes
import ctypes.util
import errno
import json
import os
import re

__all__ = [
    "Error", "Timeout", "PeerGone", "PeerDead", "Interrupted",
    "Reader", "Writer", "Frame", "DuplexServer", "DuplexClient",
    "status", "parse_caps",
]


def _load():
    path = os.environ.get("ZEROBUFFER_LIBRARY")
    if not path:
        path = ctypes.util.find_library("zerobuffer") or "libzerobuffer.so.0"
    return ctypes.CDLL(path, use_errno=False)


_lib = _load()


class _Frame(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("size", ctypes.c_size_t),
        ("sequence", ctypes.c_uint64),
        ("flags", ctypes.c_uint),
        ("id", ctypes.c_uint64),
    ]


class _ReaderConfig(ctypes.Structure):
    _fields_ = [
        ("metadata_size", ctypes.c_size_t),
        ("payload_size", ctypes.c_size_t),
        ("mode", ctypes.c_uint),
    ]


class _WriterConfig(ctypes.Structure):
    _fields_ = [
        ("connect_timeout_ms", ctypes.c_int),
        ("write_timeout_ms", ctypes.c_int),
    ]


class _DuplexConfig(ctypes.Structure):
    _fields_ = [
        ("metadata_size", ctypes.c_size_t),
        ("payload_size", ctypes.c_size_t),
        ("mode", ctypes.c_uint),
        ("timeout_ms", ctypes.c_int),
    ]


class _Status(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint64) for n in (
        "metadata_size", "metadata_written_bytes", "payload_size",
        "payload_free_bytes", "write_pos", "read_pos", "written_count",
        "read_count", "writer_pid", "reader_pid")] + [
        ("writer_alive", ctypes.c_int),
        ("reader_alive", ctypes.c_int),
        ("utilisation", ctypes.c_double),
        ("version", ctypes.c_uint8 * 4),
    ]


_HANDLER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p,
                            ctypes.POINTER(_Frame), ctypes.c_void_p)

_P = ctypes.c_void_p
_PP = ctypes.POINTER(ctypes.c_void_p)
_SIZEP = ctypes.POINTER(ctypes.c_size_t)
_U64P = ctypes.POINTER(ctypes.c_uint64)
_FRAMEP = ctypes.POINTER(_Frame)
for _name, _args, _res in [
    ("zb_strerror", [ctypes.c_int], ctypes.c_char_p),
    ("zb_reader_create", [ctypes.c_char_p, ctypes.POINTER(_ReaderConfig), _PP],
     ctypes.c_int),
    ("zb_reader_destroy", [_P], None),
    ("zb_reader_read", [_P, ctypes.c_int, _FRAMEP], ctypes.c_int),
    ("zb_reader_release", [_P, _FRAMEP], ctypes.c_int),
    ("zb_reader_held_bytes", [_P], ctypes.c_size_t),
    ("zb_reader_get_metadata", [_P, _PP, _SIZEP], ctypes.c_int),
    ("zb_reader_wakeup", [_P], None),
    ("zb_reader_get_status", [_P, ctypes.POINTER(_Status)], ctypes.c_int),
    ("zb_writer_connect", [ctypes.c_char_p, ctypes.POINTER(_WriterConfig),
                           _PP], ctypes.c_int),
    ("zb_writer_disconnect", [_P], None),
    ("zb_writer_set_metadata", [_P, ctypes.c_char_p, ctypes.c_size_t],
     ctypes.c_int),
    ("zb_writer_write", [_P, _P, ctypes.c_size_t], ctypes.c_int),
    ("zb_writer_acquire", [_P, ctypes.c_size_t, _PP], ctypes.c_int),
    ("zb_writer_commit", [_P], ctypes.c_int),
    ("zb_writer_get_status", [_P, ctypes.POINTER(_Status)], ctypes.c_int),
    ("zb_inspect", [ctypes.c_char_p, ctypes.POINTER(_Status), _P,
                    ctypes.c_size_t, _SIZEP], ctypes.c_int),
    ("zb_duplex_server_create", [ctypes.c_char_p,
                                 ctypes.POINTER(_DuplexConfig), _PP],
     ctypes.c_int),
    ("zb_duplex_server_run", [_P, _HANDLER, _P], ctypes.c_int),
    ("zb_duplex_server_stop", [_P], None),
    ("zb_duplex_server_respond", [_P, _P, ctypes.c_size_t], ctypes.c_int),
    ("zb_duplex_server_set_metadata", [_P, ctypes.c_char_p, ctypes.c_size_t],
     ctypes.c_int),
    ("zb_duplex_server_destroy", [_P], None),
    ("zb_duplex_client_connect", [ctypes.c_char_p,
                                  ctypes.POINTER(_DuplexConfig), _PP],
     ctypes.c_int),
    ("zb_duplex_client_send", [_P, _P, ctypes.c_size_t, _U64P], ctypes.c_int),
    ("zb_duplex_client_receive", [_P, ctypes.c_int, _FRAMEP], ctypes.c_int),
    ("zb_duplex_client_release", [_P, _FRAMEP], ctypes.c_int),
    ("zb_duplex_client_destroy", [_P], None),
]:
    _f = getattr(_lib, _name)
    _f.argtypes = _args
    _f.restype = _res

NEW_WRITER = 1


class Error(OSError):
    """A libzerobuffer error: .errno is the positive errno value."""


class Timeout(Error):
    """No frame (or no space) in time."""


class PeerGone(Error):
    """The other side closed its end."""


class PeerDead(Error):
    """The other side's process died."""


class Interrupted(Error):
    """Woken by wakeup()/stop()."""


_CLASSES = {
    errno.ETIMEDOUT: Timeout, errno.EAGAIN: Timeout, errno.ENOBUFS: Timeout,
    errno.EPIPE: PeerGone, errno.EOWNERDEAD: PeerDead,
    errno.EINTR: Interrupted,
}


def _check(ret, what):
    if ret < 0:
        cls = _CLASSES.get(-ret, Error)
        raise cls(-ret, "%s: %s" % (what, _lib.zb_strerror(ret).decode()))
    return ret


def _view(address, size, writable=False):
    buf = (ctypes.c_char * size).from_address(address)
    view = memoryview(buf).cast("B")
    return view if writable else view.toreadonly()


def _bytes_arg(data):
    """(pointer, size, keepalive) for any bytes-like object."""
    view = memoryview(data).cast("B")
    if view.readonly:
        keep = bytes(view)
        return ctypes.cast(ctypes.c_char_p(keep), _P), len(keep), keep
    arr = (ctypes.c_char * len(view)).from_buffer(view)
    return ctypes.addressof(arr), len(view), arr


def _status_dict(st):
    out = {name: getattr(st, name) for name, _ in _Status._fields_
           if name not in ("version",)}
    out["writer_alive"] = bool(st.writer_alive)
    out["reader_alive"] = bool(st.reader_alive)
    out["version"] = tuple(st.version)
    return out


def parse_caps(caps):
    """width, height, format and framerate of a caps string, as a dict."""
    out = {}
    for key, pattern, conv in [
        ("width", r"width=\(int\)(\d+)", int),
        ("height", r"height=\(int\)(\d+)", int),
        ("format", r"format=\(string\)([A-Za-z0-9_]+)", str),
        ("framerate", r"framerate=\(fraction\)(\d+/\d+)", str),
    ]:
        m = re.search(pattern, caps)
        if m:
            out[key] = conv(m.group(1))
    if caps:
        out["media_type"] = caps.split(",")[0].strip()
    return out


_BYTES_PER_PIXEL = {"GRAY8": 1, "RGB": 3, "BGR": 3, "RGBA": 4, "BGRA": 4,
                    "RGBx": 4, "BGRx": 4, "xRGB": 4, "ARGB": 4,
                    "GRAY16_LE": 2}


class Frame:
    """A frame in the ring. .data is a read-only, zero-copy memoryview that
    is valid until release(); use the frame as a context manager."""

    def __init__(self, owner, raw):
        self._owner = owner
        self._raw = raw
        self.size = raw.size
        self.sequence = raw.sequence
        self.new_writer = bool(raw.flags & NEW_WRITER)
        self.data = _view(raw.data, raw.size)

    def ndarray(self, caps=None, offset=0):
        """The frame as a numpy array without copying: shaped
        (height, width[, channels]) for packed video formats named in the
        caps (the writer's metadata when not given), else flat uint8."""
        import numpy as np
        if caps is None:
            caps = self._owner.caps()
        arr = np.frombuffer(self.data, dtype=np.uint8, offset=offset)
        info = parse_caps(caps or "")
        bpp = _BYTES_PER_PIXEL.get(info.get("format"))
        if bpp and "width" in info and "height" in info:
            w, h = info["width"], info["height"]
            arr = arr[:w * h * bpp]
            if info["format"] == "GRAY16_LE":
                return arr.view("<u2").reshape(h, w)
            return arr.reshape((h, w) if bpp == 1 else (h, w, bpp))
        return arr

    def release(self):
        if self._raw is not None:
            self.data.release()
            _check(self._owner._release(self._raw), "release")
            self._raw = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


class Reader:
    """Creates buffer NAME and reads frames from its writer."""

    def __init__(self, name, payload_size=64 << 20, metadata_size=4096,
                 mode=0o600):
        self._h = None
        cfg = _ReaderConfig(metadata_size, payload_size, mode)
        handle = ctypes.c_void_p()
        _check(_lib.zb_reader_create(name.encode(), ctypes.byref(cfg),
                                     ctypes.byref(handle)), "create " + name)
        self._h = handle
        self.name = name

    def read(self, timeout_ms=5000):
        raw = _Frame()
        _check(_lib.zb_reader_read(self._h, timeout_ms, ctypes.byref(raw)),
               "read " + self.name)
        return Frame(self, raw)

    def _release(self, raw):
        return _lib.zb_reader_release(self._h, ctypes.byref(raw))

    def metadata(self):
        """The writer's metadata as bytes, or None."""
        data, size = ctypes.c_void_p(), ctypes.c_size_t()
        ret = _lib.zb_reader_get_metadata(self._h, ctypes.byref(data),
                                          ctypes.byref(size))
        if ret == -errno.ENODATA:
            return None
        _check(ret, "metadata")
        return ctypes.string_at(data, size.value)

    def caps(self):
        """The "caps" member of JSON metadata (as zbsink writes it)."""
        meta = self.metadata()
        if not meta:
            return None
        try:
            return json.loads(meta.decode("utf-8")).get("caps")
        except (ValueError, AttributeError):
            return None

    def held_bytes(self):
        return _lib.zb_reader_held_bytes(self._h)

    def wakeup(self):
        _lib.zb_reader_wakeup(self._h)

    def status(self):
        st = _Status()
        _check(_lib.zb_reader_get_status(self._h, ctypes.byref(st)), "status")
        return _status_dict(st)

    def close(self):
        if self._h:
            _lib.zb_reader_destroy(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


class Writer:
    """Connects to buffer NAME and writes frames."""

    def __init__(self, name, connect_timeout_ms=0, write_timeout_ms=5000):
        self._h = None
        cfg = _WriterConfig(connect_timeout_ms, write_timeout_ms)
        handle = ctypes.c_void_p()
        _check(_lib.zb_writer_connect(name.encode(), ctypes.byref(cfg),
                                      ctypes.byref(handle)),
               "connect " + name)
        self._h = handle
        self.name = name
        self._acquired = None

    def set_metadata(self, data):
        if isinstance(data, str):
            data = data.encode()
        _check(_lib.zb_writer_set_metadata(self._h, data, len(data)),
               "metadata")

    def write(self, data):
        ptr, size, _keep = _bytes_arg(data)
        _check(_lib.zb_writer_write(self._h, ptr, size), "write " + self.name)

    def acquire(self, size):
        """A writable memoryview of SIZE bytes in the ring; commit() it."""
        ptr = ctypes.c_void_p()
        _check(_lib.zb_writer_acquire(self._h, size, ctypes.byref(ptr)),
               "acquire")
        self._acquired = _view(ptr.value, size, writable=True)
        return self._acquired

    def commit(self):
        if self._acquired is not None:
            self._acquired.release()
            self._acquired = None
        _check(_lib.zb_writer_commit(self._h), "commit")

    def status(self):
        st = _Status()
        _check(_lib.zb_writer_get_status(self._h, ctypes.byref(st)), "status")
        return _status_dict(st)

    def close(self):
        if self._h:
            _lib.zb_writer_disconnect(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


def status(name):
    """The OIEB of buffer NAME as a dict, without joining it."""
    st = _Status()
    _check(_lib.zb_inspect(name.encode(), ctypes.byref(st), None, 0, None),
           "inspect " + name)
    return _status_dict(st)


class DuplexServer:
    """Serves channel NAME: handler(request_memoryview) returns the response
    as a bytes-like object."""

    def __init__(self, name, handler, payload_size=64 << 20, timeout_ms=5000,
                 metadata=None):
        self._h = None
        cfg = _DuplexConfig(0, payload_size, 0, timeout_ms)
        handle = ctypes.c_void_p()
        _check(_lib.zb_duplex_server_create(name.encode(), ctypes.byref(cfg),
                                            ctypes.byref(handle)),
               "server " + name)
        self._h = handle
        self._handler = handler
        self._error = None
        if metadata is not None:
            if isinstance(metadata, str):
                metadata = metadata.encode()
            _check(_lib.zb_duplex_server_set_metadata(self._h, metadata,
                                                      len(metadata)),
                   "metadata")
        self._cb = _HANDLER(self._call)

    def _call(self, server, request, _user):
        req = request.contents
        view = _view(req.data, req.size)
        try:
            answer = self._handler(view)
            ptr, size, _keep = _bytes_arg(answer)
            return _lib.zb_duplex_server_respond(server, ptr, size)
        except Exception as e:  # report after run() returns
            self._error = e
            return -errno.ECANCELED
        finally:
            view.release()

    def run(self):
        """Serve until stop() (from another thread or a handler)."""
        ret = _lib.zb_duplex_server_run(self._h, self._cb, None)
        if self._error is not None:
            err, self._error = self._error, None
            raise err
        _check(ret, "run")

    def stop(self):
        _lib.zb_duplex_server_stop(self._h)

    def close(self):
        if self._h:
            _lib.zb_duplex_server_destroy(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class DuplexClient:
    """Client of channel NAME: send() a request, receive() its response."""

    def __init__(self, name, payload_size=64 << 20, timeout_ms=5000):
        self._h = None
        cfg = _DuplexConfig(0, payload_size, 0, timeout_ms)
        handle = ctypes.c_void_p()
        _check(_lib.zb_duplex_client_connect(name.encode(), ctypes.byref(cfg),
                                             ctypes.byref(handle)),
               "client " + name)
        self._h = handle

    def send(self, data):
        ptr, size, _keep = _bytes_arg(data)
        seq = ctypes.c_uint64()
        _check(_lib.zb_duplex_client_send(self._h, ptr, size,
                                          ctypes.byref(seq)), "send")
        return seq.value

    def receive(self, timeout_ms=5000):
        raw = _Frame()
        _check(_lib.zb_duplex_client_receive(self._h, timeout_ms,
                                             ctypes.byref(raw)), "receive")
        return Frame(self, raw)

    def _release(self, raw):
        return _lib.zb_duplex_client_release(self._h, ctypes.byref(raw))

    def caps(self):
        return None

    def close(self):
        if self._h:
            _lib.zb_duplex_client_destroy(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
