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

Frames written by zbsink's default frame-format=gst start with an 80-byte
record header (docs/frame-format.md); the Reader reads the format from the
writer's metadata and parses it: Frame.kind is "buffer", "caps" or "eos",
Frame.payload the buffer's bytes after the header, Frame.pts its timestamp,
and Frame.ndarray() shapes the payload with the current caps (caps records
mid-stream included). frame-format=raw frames are all payload.

The library is found through $ZEROBUFFER_LIBRARY, then by its soname
libzerobuffer.so.0 on the system's library path (where Debian's
libzerobuffer0 package or `meson install` puts it; LD_LIBRARY_PATH counts).
"""

import ctypes
import errno
import json
import os
import re
import struct

__all__ = [
    "Error", "Timeout", "PeerGone", "PeerDead", "Interrupted",
    "Reader", "Writer", "FanoutWriter", "Frame", "DuplexServer",
    "DuplexClient",
    "status", "parse_caps", "parse_gst_record", "GstRecord",
]


def _load():
    path = os.environ.get("ZEROBUFFER_LIBRARY")
    if path:
        return ctypes.CDLL(path, use_errno=False)
    # By soname, not ctypes.util.find_library(): the soname names the ABI
    # this module is written for (find_library would take any version),
    # and the dynamic loader finds it without ldconfig, gcc or objdump.
    try:
        return ctypes.CDLL("libzerobuffer.so.0", use_errno=False)
    except OSError as e:
        raise OSError("zerobuffer: %s (install libzerobuffer0, or set "
                      "ZEROBUFFER_LIBRARY to the library's path)" % e) from e


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
        ("allow_uid", ctypes.c_uint),
        ("reserved", ctypes.c_int * 5),
    ]


class _FanoutConfig(ctypes.Structure):
    _fields_ = [
        ("policy", ctypes.c_int),
        ("write_timeout_ms", ctypes.c_int),
        ("max_readers", ctypes.c_uint),
        ("allow_uid", ctypes.c_uint),
        ("recheck_ms", ctypes.c_int),
        ("on_event", ctypes.c_void_p),
        ("user_data", ctypes.c_void_p),
        ("reserved", ctypes.c_int * 4),
    ]


_NAME_MAX = 245


class _FanoutReaderInfo(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char * (_NAME_MAX + 1)),
        ("pid", ctypes.c_uint64),
        ("frames", ctypes.c_uint64),
        ("drops", ctypes.c_uint64),
        ("bytes", ctypes.c_uint64),
        ("stalled", ctypes.c_int),
        ("last_error", ctypes.c_int),
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


class _WriterStats(ctypes.Structure):
    _fields_ = [("writer_pid", ctypes.c_uint64), ("drops", ctypes.c_uint64),
                ("reserved", ctypes.c_uint64 * 6)]


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
    ("zb_writer_cancel", [_P], ctypes.c_int),
    ("zb_writer_get_status", [_P, ctypes.POINTER(_Status)], ctypes.c_int),
    ("zb_writer_add_drops", [_P, ctypes.c_uint64], None),
    ("zb_writer_drops", [_P], ctypes.c_uint64),
    ("zb_inspect_writer", [ctypes.c_char_p, ctypes.c_uint64,
                           ctypes.POINTER(_WriterStats)], ctypes.c_int),
    ("zb_fanout_open", [ctypes.c_char_p, ctypes.POINTER(_FanoutConfig), _PP],
     ctypes.c_int),
    ("zb_fanout_close", [_P], None),
    ("zb_fanout_set_metadata", [_P, ctypes.c_char_p, ctypes.c_size_t],
     ctypes.c_int),
    ("zb_fanout_write", [_P, _P, ctypes.c_size_t], ctypes.c_int),
    ("zb_fanout_readers", [_P, ctypes.POINTER(_FanoutReaderInfo),
                           ctypes.c_size_t], ctypes.c_int),
    ("zb_fanout_wait_readers", [_P, ctypes.c_uint, ctypes.c_int],
     ctypes.c_int),
    ("zb_fanout_frames_written", [_P], ctypes.c_uint64),
    ("zb_inspect", [ctypes.c_char_p, ctypes.POINTER(_Status), _P,
                    ctypes.c_size_t, _SIZEP], ctypes.c_int),
    ("zb_duplex_server_create", [ctypes.c_char_p,
                                 ctypes.POINTER(_DuplexConfig), _PP],
     ctypes.c_int),
    ("zb_duplex_server_run", [_P, _HANDLER, _P], ctypes.c_int),
    ("zb_duplex_server_stop", [_P], None),
    ("zb_duplex_server_respond", [_P, _P, ctypes.c_size_t], ctypes.c_int),
    ("zb_duplex_server_request_data", [_P, ctypes.POINTER(_P),
                                       ctypes.POINTER(ctypes.c_size_t)],
     ctypes.c_int),
    ("zb_duplex_server_respond_in_place", [_P, ctypes.c_size_t,
                                           ctypes.c_size_t], ctypes.c_int),
    ("zb_duplex_server_set_metadata", [_P, ctypes.c_char_p, ctypes.c_size_t],
     ctypes.c_int),
    ("zb_duplex_server_destroy", [_P], None),
    ("zb_duplex_server_channel", [_P], ctypes.c_char_p),
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

# gst frame format (docs/frame-format.md)
GST_MAGIC = b"ZBGS"
GST_HEADER_SIZE = 80
RECORD_BUFFER, RECORD_CAPS, RECORD_EOS, RECORD_PAD, RECORD_POOL = 1, 2, 3, 4, 5
CLOCK_TIME_NONE = 0xFFFFFFFFFFFFFFFF
_KINDS = {RECORD_BUFFER: "buffer", RECORD_CAPS: "caps", RECORD_EOS: "eos",
          RECORD_PAD: "pad", RECORD_POOL: "buffer"}
POOL_REF_SIZE = 5 * 8 + 128
_POOL_NAME_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyz"
                             b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int,
                       ctypes.c_int, ctypes.c_int, ctypes.c_long)


def pool_segment_name(buffer, pid, serial):
    """The name zbsink gives pool segment @serial of writer @pid for
    buffer @buffer (docs/frame-format.md, "pool")."""
    b = buffer.encode()
    if not (0 < len(b) <= 64 and all(c in _POOL_NAME_CHARS for c in b)):
        h = 0xcbf29ce484222325
        for c in b:
            h = ((h ^ c) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
        buffer = "h%016x" % h
    return "zbpool-%s-%d-%d" % (buffer, pid, serial)


def _pool_payload(owner, payload):
    """A pool record's bytes, without a copy: validated as hostile input
    (docs/frame-format.md, "Validation" 9), the segment mapped read-only
    and cached per writer on @owner."""
    if len(payload) < POOL_REF_SIZE:
        raise ValueError("pool record of %d bytes" % len(payload))
    seg_size, block, offset, size, serial = struct.unpack_from(
        "<5Q", payload, 0)
    raw_name = bytes(payload[40:40 + 128])
    name = raw_name.split(b"\0", 1)[0]
    if len(name) == 128 or raw_name[len(name):].strip(b"\0"):
        raise ValueError("bad pool segment name")
    if block == 0 or seg_size == 0:
        raise ValueError("bad pool block or segment size")
    start = offset - offset % block
    if start >= seg_size or block > seg_size - start or \
            size > block - (offset - start):
        raise ValueError("pool reference outside its block or segment")
    pid = owner.status()["writer_pid"]
    if name.decode("ascii", "replace") != pool_segment_name(owner.name, pid,
                                                            serial):
        raise ValueError("pool segment %r is not the writer's" % name)
    maps = owner.__dict__.setdefault("_pool_maps", {})
    key = (pid, name)
    m = maps.get(key)
    if m is None:
        fd = os.open("/dev/shm/" + name.decode(), os.O_RDONLY | os.O_NOFOLLOW)
        try:
            st = os.fstat(fd)
            if st.st_uid != os.geteuid() or st.st_mode & 0o022 or \
                    st.st_size != seg_size:
                raise ValueError("pool segment %r: owner, mode or size" % name)
            # mapped through libc, read-only, so that the address is known
            # (zero-copy checks); never unmapped: views may outlive a frame
            addr = _libc.mmap(None, seg_size, 1, 1, fd, 0)   # PROT_READ,
            if addr in (None, ctypes.c_void_p(-1).value):    # MAP_SHARED
                raise ValueError("pool segment %r cannot be mapped" % name)
        finally:
            os.close(fd)
        m = (addr, (ctypes.c_char * seg_size).from_address(addr))
        if len(maps) >= 64:
            maps.clear()
        maps[key] = m
    view = memoryview(m[1]).cast("B")[offset:offset + size].toreadonly()
    return view, m[0] + offset


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


class GstRecord:
    """One record of zbsink's gst frame format. Times are in ns, None when
    the writer had none; payload is a zero-copy slice of the frame."""

    __slots__ = ("type", "kind", "buffer_flags", "ts_flags", "pts", "dts",
                 "duration", "offset", "offset_end", "pts_clock",
                 "dts_clock", "header_size", "payload")

    def __repr__(self):
        return "GstRecord(%s, pts=%r, %d payload bytes)" % (
            self.kind, self.pts, len(self.payload))


def _none(value):
    return None if value == CLOCK_TIME_NONE else value


def parse_gst_record(data):
    """Parse and validate a gst-format record (a frame's bytes, any
    bytes-like object) without copying its payload. Raises ValueError for
    anything docs/frame-format.md "Validation" rejects."""
    view = memoryview(data).cast("B")
    size = len(view)
    if size < GST_HEADER_SIZE:
        raise ValueError("record of %d bytes is shorter than its header"
                         % size)
    head = view[:GST_HEADER_SIZE]
    if bytes(head[0:4]) != GST_MAGIC:
        raise ValueError("not a gst record (magic %r)" % bytes(head[0:4]))
    if head[4] != 1:
        raise ValueError("unknown gst record version %d" % head[4])
    rtype = head[5]
    if rtype not in _KINDS:
        raise ValueError("unknown gst record type %d" % rtype)
    fields = struct.unpack_from("<HII8Q", head, 6)
    header_size = fields[0]
    if header_size < GST_HEADER_SIZE or header_size > size:
        raise ValueError("bad header_size %d" % header_size)
    payload_size = fields[10]
    if payload_size != size - header_size:
        raise ValueError("payload_size %d does not fill the %d-byte frame"
                         % (payload_size, size))
    if rtype == RECORD_EOS and payload_size != 0:
        raise ValueError("EOS record with a payload")
    if rtype == RECORD_POOL and payload_size < POOL_REF_SIZE:
        raise ValueError("pool record without its reference")
    rec = GstRecord()
    rec.type = rtype
    rec.kind = _KINDS[rtype]
    rec.header_size = header_size
    (rec.buffer_flags, rec.ts_flags) = fields[1:3]
    (rec.pts, rec.dts, rec.duration, rec.offset, rec.offset_end,
     rec.pts_clock, rec.dts_clock) = (_none(v) for v in fields[3:10])
    rec.payload = view[header_size:]
    return rec


def _round_up_4(n):
    return (n + 3) & ~3


_BYTES_PER_PIXEL = {"GRAY8": 1, "RGB": 3, "BGR": 3, "RGBA": 4, "BGRA": 4,
                    "RGBx": 4, "BGRx": 4, "xRGB": 4, "ARGB": 4,
                    "GRAY16_LE": 2}


_PLANAR_420 = ("I420", "YV12", "NV12", "NV21")


def _video_shape(info, size, frame_format):
    """(shape, strides) of a raw video frame of SIZE bytes, or None."""
    w, h, fmt = info.get("width"), info.get("height"), info.get("format")
    if not (w and h) or info.get("media_type") != "video/x-raw":
        return None
    bpp = _BYTES_PER_PIXEL.get(fmt)
    if bpp:
        row = w * bpp
        # gst format: GStreamer's default layout (rows padded to 4 bytes);
        # raw format: rows packed tightly.
        stride = _round_up_4(row) if frame_format == "gst" else row
        if stride * (h - 1) + row > size:
            return None
        if fmt == "GRAY16_LE":
            return (h, w), (stride, 2)
        if bpp == 1:
            return (h, w), (stride, 1)
        return (h, w, bpp), (stride, bpp, 1)
    if fmt in _PLANAR_420 and w % 8 == 0 and h % 2 == 0 \
            and size >= w * h * 3 // 2:
        # No padding in either layout: the usual (h * 3/2, w) plane stack.
        return (h * 3 // 2, w), (w, 1)
    return None


class _Handle:
    """A library handle, released by close(), at the end of a `with` block
    or when garbage-collected."""

    _h = None
    _destroy = None

    def close(self):
        if self._h:
            self._destroy(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


class Frame:
    """A frame in the ring. .data is a read-only, zero-copy memoryview of
    the whole frame that is valid until release(); use the frame as a
    context manager.

    For a writer using zbsink's gst frame format, .record is the parsed
    GstRecord, .kind its type ("buffer", "caps" or "eos"), .payload the
    bytes after the header and .pts/.duration its times (ns or None). For
    raw frames .record is None, .kind "buffer" and .payload is .data."""

    def __init__(self, owner, raw, frame_format="raw"):
        self._owner = owner
        self._raw = raw
        self.size = raw.size
        self.sequence = raw.sequence
        self.new_writer = bool(raw.flags & NEW_WRITER)
        self.data = _view(raw.data, raw.size)
        self.format = frame_format
        self.record = None
        self.kind = "buffer"
        self.payload = self.data
        self.pts = self.duration = None
        # Address of the payload in shared memory (zero-copy checks).
        self.payload_address = raw.data
        if frame_format == "gst":
            self.record = parse_gst_record(self.data)
            self.kind = self.record.kind
            self.payload = self.record.payload
            self.payload_address += self.record.header_size
            if self.record.type == RECORD_POOL:
                # the bytes lie in a block of the writer's pool segment,
                # reused only once this frame is released
                self.payload, self.payload_address = _pool_payload(
                    owner, self.record.payload)
            self.pts = self.record.pts
            self.duration = self.record.duration

    def ndarray(self, caps=None, offset=0):
        """The payload as a numpy array without copying: shaped
        (height, width[, channels]) for packed raw video formats (GRAY8,
        GRAY16_LE, RGB, BGR, RGBA, BGRA, RGBx, BGRx, xRGB, ARGB; rows padded
        as the frame format lays them out), (height * 3 / 2, width) for
        I420/YV12/NV12/NV21 when width is a multiple of 8, else flat uint8.
        caps defaults to the current caps (the writer's metadata, or the
        last caps record). Read-only, valid until release()."""
        import numpy as np
        if caps is None:
            caps = self._owner.caps()
        data = self.payload[offset:]
        info = parse_caps(caps or "")
        layout = _video_shape(info, len(data), self.format)
        if layout is None:
            return np.frombuffer(data, dtype=np.uint8)
        shape, strides = layout
        dtype = np.dtype("<u2") if info["format"] == "GRAY16_LE" \
            else np.uint8
        arr = np.ndarray(shape, dtype=dtype, buffer=data, strides=strides)
        arr.flags.writeable = False
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


class Reader(_Handle):
    """Creates buffer NAME and reads frames from its writer."""

    _destroy = staticmethod(_lib.zb_reader_destroy)

    def __init__(self, name, payload_size=64 << 20, metadata_size=4096,
                 mode=0o600):
        self._h = None
        cfg = _ReaderConfig(metadata_size, payload_size, mode)
        handle = ctypes.c_void_p()
        _check(_lib.zb_reader_create(name.encode(), ctypes.byref(cfg),
                                     ctypes.byref(handle)), "create " + name)
        self._h = handle
        self.name = name
        self._meta = None          # (metadata bytes, parsed dict)
        self._stream_caps = None   # from a caps record on this connection

    def read(self, timeout_ms=5000):
        """The next frame. With gst-format writers, caps records update
        caps() and are returned too (kind "caps"); so is EOS (kind
        "eos"). Raises Timeout, PeerGone (writer left, all read), PeerDead,
        Interrupted (wakeup()) or Error (EBADMSG: corrupt gst record)."""
        raw = _Frame()
        _check(_lib.zb_reader_read(self._h, timeout_ms, ctypes.byref(raw)),
               "read " + self.name)
        if raw.flags & NEW_WRITER:
            self._stream_caps = None
        try:
            frame = Frame(self, raw, self.frame_format())
        except ValueError as e:
            self._release(raw)
            raise Error(errno.EBADMSG, "read %s: %s" % (self.name, e))
        if frame.kind == "caps":
            self._stream_caps = bytes(frame.payload).decode("utf-8")
        return frame

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

    def _parsed_metadata(self):
        meta = self.metadata()
        if not meta:
            return {}
        if self._meta is None or self._meta[0] != meta:
            try:
                parsed = json.loads(meta.decode("utf-8"))
                if not isinstance(parsed, dict):
                    parsed = {}
            except ValueError:
                # A bare caps string (foreign writers), as zbsrc accepts.
                text = meta.decode("utf-8", "replace").strip("\0 \n")
                parsed = {"caps": text} if "/" in text.split(",")[0] else {}
            self._meta = (meta, parsed)
        return self._meta[1]

    def caps(self):
        """The current caps: the last caps record of this writer, else the
        "caps" member of its JSON metadata (as zbsink writes it), else
        None."""
        if self._stream_caps is not None:
            return self._stream_caps
        return self._parsed_metadata().get("caps")

    def frame_format(self):
        """"gst" or "raw": the metadata's frame_format (raw without it)."""
        fmt = self._parsed_metadata().get("frame_format")
        return "gst" if fmt == "gst" else "raw"

    def held_bytes(self):
        return _lib.zb_reader_held_bytes(self._h)

    def wakeup(self):
        _lib.zb_reader_wakeup(self._h)

    def status(self):
        st = _Status()
        _check(_lib.zb_reader_get_status(self._h, ctypes.byref(st)), "status")
        return _status_dict(st)


class Writer(_Handle):
    """Connects to buffer NAME and writes frames."""

    _destroy = staticmethod(_lib.zb_writer_disconnect)

    def __init__(self, name, connect_timeout_ms=0, write_timeout_ms=5000,
                 allow_uid=None):
        """allow_uid: also write to a buffer of this user (uid); by default
        only buffers of our own user or root are accepted (Error with
        errno EPERM otherwise, ENOLCK when no reader holds its lock)."""
        self._h = None
        cfg = _WriterConfig(connect_timeout_ms, write_timeout_ms,
                            0 if allow_uid is None else allow_uid)
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

    def cancel(self):
        """Give up the acquired frame: nothing of it is published, and the
        next acquire() may return the same bytes. The memoryview acquire()
        returned is released (using it raises ValueError). Error with
        errno EINVAL when nothing is acquired."""
        if self._acquired is not None:
            self._acquired.release()
            self._acquired = None
        _check(_lib.zb_writer_cancel(self._h), "cancel")

    def status(self):
        st = _Status()
        _check(_lib.zb_writer_get_status(self._h, ctypes.byref(st)), "status")
        return _status_dict(st)

    def add_drops(self, n=1):
        """Count N frames dropped instead of written, for observers
        (writer_stats(), zerobuffer top; docs/protocol.md section 11)."""
        _lib.zb_writer_add_drops(self._h, n)

    def drops(self):
        return _lib.zb_writer_drops(self._h)


class FanoutWriter(_Handle):
    """Writes every frame to the readers of NAME: buffer NAME and every
    buffer NAME@ID (e.g. Reader("cam@rec")), found as they come and go
    (docs/fanout.md).

    policy "drop" (default): a reader whose ring is full misses the frame,
    so that a stuck reader never slows the others; "block": wait for it up
    to write_timeout_ms, then it misses frames until it has room again.
    Frames written while no reader is connected go nowhere."""

    _destroy = staticmethod(_lib.zb_fanout_close)
    _POLICIES = {"drop": 0, "block": 1}

    def __init__(self, name, policy="drop", write_timeout_ms=0,
                 max_readers=0, allow_uid=None, recheck_ms=0):
        self._h = None
        if policy not in self._POLICIES:
            raise ValueError("policy must be 'drop' or 'block'")
        cfg = _FanoutConfig(self._POLICIES[policy], write_timeout_ms,
                            max_readers,
                            0 if allow_uid is None else allow_uid,
                            recheck_ms)
        handle = ctypes.c_void_p()
        _check(_lib.zb_fanout_open(name.encode(), ctypes.byref(cfg),
                                   ctypes.byref(handle)),
               "fan-out " + name)
        self._h = handle
        self.name = name

    def set_metadata(self, data):
        """Metadata each reader gets when it connects."""
        if isinstance(data, str):
            data = data.encode()
        _check(_lib.zb_fanout_set_metadata(self._h, data, len(data)),
               "metadata")

    def write(self, data):
        """Write one frame to every connected reader; returns how many
        got it."""
        ptr, size, _keep = _bytes_arg(data)
        return _check(_lib.zb_fanout_write(self._h, ptr, size),
                      "write " + self.name)

    def readers(self):
        """The connected readers: a list of dicts with name, pid, frames,
        drops, bytes, stalled, last_error."""
        while True:
            n = _check(_lib.zb_fanout_readers(self._h, None, 0), "readers")
            arr = (_FanoutReaderInfo * max(n, 1))()
            got = _check(_lib.zb_fanout_readers(self._h, arr, n), "readers")
            if got <= n:
                break
        return [{
            "name": arr[i].name.decode(), "pid": arr[i].pid,
            "frames": arr[i].frames, "drops": arr[i].drops,
            "bytes": arr[i].bytes, "stalled": bool(arr[i].stalled),
            "last_error": arr[i].last_error,
        } for i in range(got)]

    def wait_readers(self, count, timeout_ms=5000):
        """Wait until at least COUNT readers are connected; returns how
        many are (Timeout if fewer in time)."""
        return _check(_lib.zb_fanout_wait_readers(self._h, count,
                                                  timeout_ms),
                      "wait for %d readers" % count)

    @property
    def frames_written(self):
        return _lib.zb_fanout_frames_written(self._h)


def status(name):
    """The OIEB of buffer NAME as a dict, without joining it."""
    st = _Status()
    _check(_lib.zb_inspect(name.encode(), ctypes.byref(st), None, 0, None),
           "inspect " + name)
    return _status_dict(st)


def writer_stats(name, writer_pid):
    """What writer WRITER_PID (status(NAME)["writer_pid"]) publishes beside
    buffer NAME, as a dict ({"writer_pid", "drops"}), or None when it
    publishes nothing (a reference writer); Error when the object is refused
    (EPERM, EPROTO) or the writer is gone (ESRCH)."""
    st = _WriterStats()
    ret = _lib.zb_inspect_writer(name.encode(), writer_pid, ctypes.byref(st))
    if ret == -errno.ENOENT:
        return None
    _check(ret, "writer stats of " + name)
    return {"writer_pid": st.writer_pid, "drops": st.drops}


class DuplexServer(_Handle):
    """Serves channel NAME: handler(request_memoryview) returns the response
    as a bytes-like object. A NAME without '@' also serves every channel
    NAME@ID a client opens (fan-in, docs/duplex.md): the handler is called
    for one request at a time, and channel() tells whose it is.

    With in_place=True the request is writable: a client of libzerobuffer
    (zbfilter, DuplexClient) gets the bytes where they lie in shared
    memory, and a handler that changes them and returns the request (or a
    slice of it) answers in place: nothing is copied either way
    (docs/duplex.md "In place"). Other clients' requests come as a private
    copy, and the answer goes back by copy. Returning other bytes always
    answers by copy."""

    _destroy = staticmethod(_lib.zb_duplex_server_destroy)

    def __init__(self, name, handler, payload_size=64 << 20, timeout_ms=5000,
                 metadata=None, in_place=False):
        self._h = None
        cfg = _DuplexConfig(0, payload_size, 0, timeout_ms)
        handle = ctypes.c_void_p()
        _check(_lib.zb_duplex_server_create(name.encode(), ctypes.byref(cfg),
                                            ctypes.byref(handle)),
               "server " + name)
        self._h = handle
        self._handler = handler
        self._in_place = in_place
        self._error = None
        if metadata is not None:
            if isinstance(metadata, str):
                metadata = metadata.encode()
            _check(_lib.zb_duplex_server_set_metadata(self._h, metadata,
                                                      len(metadata)),
                   "metadata")
        self._cb = _HANDLER(self._call)

    def channel(self):
        """From the handler: the channel of the request being answered
        (NAME, or NAME@ID of a fan-in client)."""
        return _lib.zb_duplex_server_channel(self._h).decode()

    def _request_view(self, server, req):
        """The view the handler gets, and the address of the request's
        bytes in shared memory when it may answer in place (else None)."""
        if not self._in_place:
            return _view(req.data, req.size), None
        data, size = _P(), ctypes.c_size_t()
        if _lib.zb_duplex_server_request_data(server, ctypes.byref(data),
                                              ctypes.byref(size)) == 0:
            return _view(data.value, size.value, writable=True), data.value
        return memoryview(bytearray(_view(req.data, req.size))), None

    def _call(self, server, request, _user):
        req = request.contents
        view, address = self._request_view(server, req)
        try:
            answer = self._handler(view)
            ptr, size, _keep = _bytes_arg(answer)
            if address is not None and size > 0 and \
                    address <= ptr and ptr + size <= address + req.size:
                return _lib.zb_duplex_server_respond_in_place(
                    server, ptr - address, size)
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


class DuplexClient(_Handle):
    """Client of channel NAME: send() a request, receive() its response."""

    _destroy = staticmethod(_lib.zb_duplex_client_destroy)

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

