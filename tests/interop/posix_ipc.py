"""The part of the posix_ipc module that the protocol authors' Python
package uses on Linux, over libc through ctypes.

posix_ipc is not packaged by Debian, so the interop test (run.sh) puts this
directory on their package's PYTHONPATH instead: shm_open/ftruncate for
SharedMemory, sem_open/sem_timedwait/sem_post for Semaphore, with
posix_ipc's names, flags and exceptions.
"""

import ctypes
import errno
import os
import time

_libc = ctypes.CDLL(None, use_errno=True)
_libc.sem_open.restype = ctypes.c_void_p
_libc.sem_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_uint,
                           ctypes.c_uint]
for _f in ("sem_wait", "sem_trywait", "sem_post", "sem_close", "sem_getvalue"):
    getattr(_libc, _f).argtypes = [ctypes.c_void_p] + (
        [ctypes.POINTER(ctypes.c_int)] if _f == "sem_getvalue" else [])
_libc.sem_unlink.argtypes = [ctypes.c_char_p]
_libc.shm_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_uint]
_libc.shm_unlink.argtypes = [ctypes.c_char_p]


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


_libc.sem_timedwait.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Timespec)]

O_CREAT = os.O_CREAT
O_EXCL = os.O_EXCL
O_CREX = os.O_CREAT | os.O_EXCL
O_RDWR = os.O_RDWR
SEM_FAILED = ctypes.c_void_p(0).value


class Error(Exception):
    pass


class ExistentialError(Error):
    pass


class BusyError(Error):
    pass


class PermissionsError(Error):
    pass


def _raise(what):
    e = ctypes.get_errno()
    if e in (errno.ENOENT, errno.EEXIST):
        raise ExistentialError("%s: %s" % (what, os.strerror(e)))
    if e == errno.EACCES:
        raise PermissionsError("%s: %s" % (what, os.strerror(e)))
    raise OSError(e, "%s: %s" % (what, os.strerror(e)))


def _name(name):
    return name.encode() if isinstance(name, str) else name


class SharedMemory:
    def __init__(self, name, flags=0, mode=0o600, size=0, read_only=False):
        self.name = name
        fd = _libc.shm_open(_name(name),
                            (flags & (O_CREAT | O_EXCL))
                            | (os.O_RDONLY if read_only else os.O_RDWR), mode)
        if fd < 0:
            _raise("shm_open " + name)
        self.fd = fd
        if size > 0 and flags & O_CREAT:
            os.ftruncate(fd, size)
        self.size = os.fstat(fd).st_size

    def close_fd(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def unlink(self):
        if _libc.shm_unlink(_name(self.name)) != 0:
            _raise("shm_unlink " + self.name)


def unlink_shared_memory(name):
    if _libc.shm_unlink(_name(name)) != 0:
        _raise("shm_unlink " + name)


class Semaphore:
    def __init__(self, name, flags=0, mode=0o600, initial_value=0):
        self.name = name
        h = _libc.sem_open(_name(name), flags, mode, initial_value)
        if not h:
            _raise("sem_open " + name)
        self._h = h

    def acquire(self, timeout=None):
        if timeout is None:
            r = _libc.sem_wait(self._h)
        elif timeout == 0:
            r = _libc.sem_trywait(self._h)
        else:
            end = time.clock_gettime(time.CLOCK_REALTIME) + timeout
            ts = _Timespec(int(end), int((end % 1) * 1e9))
            r = _libc.sem_timedwait(self._h, ctypes.byref(ts))
        if r != 0:
            e = ctypes.get_errno()
            if e in (errno.ETIMEDOUT, errno.EAGAIN):
                raise BusyError("semaphore %s: timed out" % self.name)
            _raise("sem_wait " + self.name)

    def release(self):
        if _libc.sem_post(self._h) != 0:
            _raise("sem_post " + self.name)

    @property
    def value(self):
        v = ctypes.c_int(0)
        _libc.sem_getvalue(self._h, ctypes.byref(v))
        return v.value

    def close(self):
        if self._h:
            _libc.sem_close(self._h)
            self._h = None

    def unlink(self):
        unlink_semaphore(self.name)


def unlink_semaphore(name):
    if _libc.sem_unlink(_name(name)) != 0:
        _raise("sem_unlink " + name)
