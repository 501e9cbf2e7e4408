# What MicroPython adds to modules CPython also has, patched into CPython's real modules at boot:
# time.ticks_*, gc.mem_alloc/mem_free, sys.print_exception, os.ilistdir, stream methods on
# sockets (streams.py), select.poll returning objects, and the u-prefixed aliases.
import errno
import gc
import os
import select
import socket
import sys
import time
import traceback

_TICKS_PERIOD = 1 << 30  # MicroPython's ticks wrap at 2**30
_TICKS_MAX = _TICKS_PERIOD - 1
_TICKS_HALF = _TICKS_PERIOD // 2


def ticks_ms():
    return time.monotonic_ns() // 1_000_000 & _TICKS_MAX


def ticks_us():
    return time.monotonic_ns() // 1_000 & _TICKS_MAX


def ticks_cpu():
    return time.perf_counter_ns() & _TICKS_MAX


def ticks_add(ticks, delta):
    return (ticks + delta) & _TICKS_MAX


def ticks_diff(end, start):
    return ((end - start + _TICKS_HALF) & _TICKS_MAX) - _TICKS_HALF


def sleep_ms(ms):
    if ms > 0:
        time.sleep(ms / 1000)


def sleep_us(us):
    if us > 0:
        time.sleep(us / 1_000_000)


def _patch_time():
    for f in (ticks_ms, ticks_us, ticks_cpu, ticks_add, ticks_diff, sleep_ms, sleep_us):
        setattr(time, f.__name__, f)


# gc: an ESP32-sized heap. mem_alloc is what Python objects take (tracemalloc when enabled).
HEAP_SIZE = int(os.environ.get("EMULATED_BOARD_HEAP", str(110 * 1024)))


def mem_alloc():
    import tracemalloc

    if tracemalloc.is_tracing():
        return tracemalloc.get_traced_memory()[0]
    return 0


def mem_free():
    return max(HEAP_SIZE - mem_alloc(), 0)


def threshold(amount=None):
    return -1 if amount is None else None


def _patch_gc():
    gc.mem_alloc = mem_alloc
    gc.mem_free = mem_free
    gc.threshold = threshold


def print_exception(exc, file=None):
    traceback.print_exception(type(exc), exc, exc.__traceback__, file=file or sys.stdout)


def ilistdir(path="."):
    for entry in os.scandir(path):
        kind = 0x4000 if entry.is_dir() else 0x8000
        yield (entry.name, kind, entry.inode(), entry.stat().st_size if kind == 0x8000 else 0)


# socket objects get MicroPython's stream methods (streams.py), over these two hooks. A plain
# socket's timeout is OSError(ETIMEDOUT), as on the Unix port (TLS sockets say -ETIMEDOUT).
def _sock_recv_some(self, n):
    try:
        return self.recv(n)
    except BlockingIOError:
        return None
    except TimeoutError:
        raise OSError(errno.ETIMEDOUT) from None


def _sock_send_view(self, view):
    try:
        if self.gettimeout() != 0.0:
            self.sendall(view)
            return len(view)
        return self.send(view)
    except BlockingIOError:
        return None
    except TimeoutError:
        raise OSError(errno.ETIMEDOUT) from None


def _patch_socket():
    from streams import STREAM_METHODS, StreamMethods

    socket.socket._check = StreamMethods._check
    socket.socket._recv_some = _sock_recv_some
    socket.socket._send_view = _sock_send_view
    for name in STREAM_METHODS:
        setattr(socket.socket, name, getattr(StreamMethods, name))


class _Poll:
    """MicroPython's poll: register objects, poll(ms) returns (object, event) tuples; TLS sockets
    with decrypted bytes waiting count as readable (CPython's poll sees only the raw socket)."""

    def __init__(self):
        self._objects = {}
        self._poll = _real_poll()

    def register(self, obj, eventmask=select.POLLIN | select.POLLOUT):
        fd = obj if isinstance(obj, int) else obj.fileno()
        self._objects[fd] = (obj, eventmask)
        self._poll.register(fd, eventmask)

    def unregister(self, obj):
        fd = obj if isinstance(obj, int) else obj.fileno()
        self._objects.pop(fd, None)
        try:
            self._poll.unregister(fd)
        except KeyError:
            pass

    def modify(self, obj, eventmask):
        fd = obj if isinstance(obj, int) else obj.fileno()
        self._objects[fd] = (obj, eventmask)
        self._poll.modify(fd, eventmask)

    def poll(self, timeout=-1):
        ready = [
            (obj, select.POLLIN)
            for obj, mask in self._objects.values()
            if mask & select.POLLIN and getattr(obj, "_pending", lambda: 0)()
        ]
        if ready:
            return ready
        if timeout is not None and timeout < 0:
            timeout = None
        return [
            (self._objects[fd][0], ev) for fd, ev in self._poll.poll(timeout) if fd in self._objects
        ]

    def ipoll(self, timeout=-1, flags=0):
        return iter(self.poll(timeout))


_real_poll = select.poll


def _patch_select():
    select.poll = _Poll


ALIASES = {
    "usocket": "socket",
    "ustruct": "struct",
    "ubinascii": "binascii",
    "uhashlib": "hashlib",
    "ujson": "json",
    "uos": "os",
    "utime": "time",
    "uselect": "select",
    "uerrno": "errno",
    "uio": "io",
    "ure": "re",
    "ucollections": "collections",
    "urandom": "random",
    "uarray": "array",
    "uzlib": "zlib",
}


def apply():
    _patch_time()
    _patch_gc()
    sys.print_exception = print_exception
    os.ilistdir = ilistdir
    _patch_socket()
    _patch_select()
    import importlib

    for alias, name in ALIASES.items():
        if name:
            sys.modules[alias] = importlib.import_module(name)
