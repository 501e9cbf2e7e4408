"""A TCP proxy between a device and the hub emulator, with faults a test switches on and off.

    with FaultProxy(hub.port) as proxy:      # the device connects to proxy.port
        proxy.cut_all()                      # RST every open connection now
        proxy.cut_after(300)                 # forward 300 more bytes device->hub, then RST
        proxy.half_open()                    # open connections go silent both ways, stay open
        proxy.set_latency(up_s=1.2, down_s=1.2)   # per hop, order kept
        proxy.refuse("accept-close")         # or "close" (listener closed: ECONNREFUSED), None
        proxy.attempts                       # time.time() of every TCP connection accepted

Threads, one listener and four per connection (a reader and a writer each way): small and
plain. The proxy never parses the bytes (they are TLS); it only counts, delays, drops and cuts.
"""

import collections
import queue
import socket
import struct
import threading
import time

from ..listening import stop_listening

_POLL_S = 0.05  # how often blocked threads look at the stop flags
_CHUNK = 65536
_EOF = object()  # writer queue: the other side finished sending
_CUT = object()  # writer queue: cut the link once what came before is forwarded

Attempt = collections.namedtuple("Attempt", "time outcome")  # outcome: proxied/refused/no-upstream


def _rst_close(sock):
    """Close with an RST (SO_LINGER 0), waking any thread blocked in recv on it first."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.shutdown(socket.SHUT_RD)  # a blocked recv returns b"" now; nothing goes on the wire
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class _Direction:
    """One way of a link: a reader thread queues (due time, bytes); a writer forwards them."""

    def __init__(self, link, source, target, name):
        self.link = link
        self.source = source
        self.target = target
        self.name = name  # "up" (device -> hub) or "down" (hub -> device)
        self.forwarded = 0  # bytes written to the target
        self.dropped = 0  # bytes read while half-open, thrown away
        self.queue = queue.SimpleQueue()
        self._last_due = 0.0
        self.reader = threading.Thread(target=self._read, name=f"proxy-{name}-r", daemon=True)
        self.writer = threading.Thread(target=self._write, name=f"proxy-{name}-w", daemon=True)

    def start(self):
        self.reader.start()
        self.writer.start()

    def _due(self):
        # Constant latency per direction keeps order; a latency lowered mid-stream must not let
        # a later chunk overtake an earlier one.
        delay = self.link.proxy.latency[self.name]
        self._last_due = max(self._last_due, time.monotonic() + delay)
        return self._last_due

    def _read(self):
        proxy = self.link.proxy
        while not self.link.dead:
            try:
                data = self.source.recv(_CHUNK)
            except TimeoutError:
                continue
            except OSError:
                data = b""
            if self.link.dead:
                return
            if not data:
                if not self.link.frozen:  # a FIN goes nowhere on a half-open link either
                    self.queue.put((self._due(), _EOF))
                return
            if self.link.frozen:
                self.dropped += len(data)
                continue
            if self.name == "up":
                with proxy._lock:
                    budget = proxy._cut_budget
                    if budget is not None and len(data) >= budget:
                        proxy._cut_budget = None
                        data = data[:budget]
                        self.queue.put((self._due(), data))
                        self.queue.put((self._due(), _CUT))
                        return
                    if budget is not None:
                        proxy._cut_budget = budget - len(data)
            self.queue.put((self._due(), data))

    def _write(self):
        while True:
            due, item = self.queue.get()
            wait = due - time.monotonic()
            while wait > 0 and not self.link.dead:
                time.sleep(min(wait, _POLL_S))
                wait = due - time.monotonic()
            if self.link.dead:
                return
            if item is _CUT:
                self.link.cut()
                return
            if item is _EOF:
                if not self.link.frozen:
                    self.link.half_closed(self)
                return
            if self.link.frozen:
                self.dropped += len(item)
                continue
            if item:
                try:
                    self.target.sendall(item)
                except OSError:
                    self.link.cut()
                    return
                self.forwarded += len(item)


class Link:
    """One proxied connection: the device's socket, the hub's socket, counters and state."""

    def __init__(self, proxy, downstream, upstream, peer):
        self.proxy = proxy
        self.downstream = downstream
        self.upstream = upstream
        self.peer = peer  # the device's address
        self.upstream_local = upstream.getsockname()  # as the hub sees the device
        self.opened_at = time.time()
        self.closed_at = None
        self.frozen = proxy._freeze_new
        self.dead = False
        self._lock = threading.Lock()
        self._half_closed = 0
        for sock in (downstream, upstream):
            sock.settimeout(_POLL_S)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.up = _Direction(self, downstream, upstream, "up")
        self.down = _Direction(self, upstream, downstream, "down")

    @property
    def open(self):
        return not self.dead

    def start(self):
        self.up.start()
        self.down.start()

    def cut(self):
        """Both sockets closed with an RST, now (what was still queued is lost)."""
        with self._lock:
            if self.dead:
                return
            self.dead = True
            self.closed_at = time.time()
        _rst_close(self.downstream)
        _rst_close(self.upstream)
        for direction in (self.up, self.down):
            direction.queue.put((0.0, _EOF))  # wakes a writer waiting for data

    def half_closed(self, direction):
        # One side sent FIN: pass it on; the link ends once both sides did.
        try:
            direction.target.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        with self._lock:
            self._half_closed += 1
            done = self._half_closed == 2
        if done:
            self.close()

    def close(self):
        with self._lock:
            if self.dead:
                return
            self.dead = True
            self.closed_at = time.time()
        for sock in (self.downstream, self.upstream):
            try:
                sock.close()
            except OSError:
                pass
        for direction in (self.up, self.down):
            direction.queue.put((0.0, _EOF))

    def __repr__(self):
        state = "dead" if self.dead else ("frozen" if self.frozen else "open")
        return (
            f"<Link {self.peer[1]} {state} up={self.up.forwarded} down={self.down.forwarded} "
            f"dropped={self.up.dropped + self.down.dropped}>"
        )


class FaultProxy:
    """Listens on 127.0.0.1 (`port`), forwards each connection to `upstream_host:upstream_port`."""

    def __init__(self, upstream_port, upstream_host="127.0.0.1"):
        self.upstream = (upstream_host, upstream_port)
        self.latency = {"up": 0.0, "down": 0.0}
        self.attempts: list[Attempt] = []
        self.links: list[Link] = []
        self._lock = threading.Lock()
        self._cut_budget = None
        self._freeze_new = False
        self._refuse = None
        self._closed = False
        self._listener = None
        self._accept_thread = None
        self.port = 0
        self._listen()

    # -- the listener -----------------------------------------------------------------------
    def _listen(self):
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        listener.settimeout(_POLL_S)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._accept_thread = threading.Thread(
            target=self._accept, args=(listener,), name="proxy-accept", daemon=True
        )
        self._accept_thread.start()

    def _unlisten(self):
        listener, self._listener = self._listener, None
        if listener is not None:
            stop_listening(listener, self._accept_thread)

    def _accept(self, listener):
        while self._listener is listener:
            try:
                downstream, peer = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._refuse == "accept-close":
                self.attempts.append(Attempt(time.time(), "refused"))
                _rst_close(downstream)
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                self.attempts.append(Attempt(time.time(), "no-upstream"))
                _rst_close(downstream)
                continue
            self.attempts.append(Attempt(time.time(), "proxied"))
            link = Link(self, downstream, upstream, peer)
            with self._lock:
                self.links.append(link)
            link.start()

    # -- faults -----------------------------------------------------------------------------
    def open_links(self) -> list[Link]:
        with self._lock:
            return [link for link in self.links if link.open]

    def cut_all(self) -> int:
        """RST every open connection now; returns how many there were."""
        links = self.open_links()
        for link in links:
            link.cut()
        return len(links)

    def cut_after(self, n_bytes: int) -> None:
        """Forward `n_bytes` more device->hub (counted over all links), then RST that link."""
        with self._lock:
            self._cut_budget = n_bytes

    def half_open(self, new_links: bool = False) -> int:
        """Stop forwarding both ways on every open link, sockets kept open (data is dropped):
        what a NAT that forgot the connection, or a dead Wi-Fi, looks like. `new_links` too:
        connections made from now on are accepted and then stay silent. Returns the count."""
        self._freeze_new = new_links
        links = self.open_links()
        for link in links:
            link.frozen = True
        return len(links)

    def heal(self) -> None:
        """New connections forward normally again (frozen ones stay frozen: they are lost)."""
        self._freeze_new = False

    def set_latency(self, up_s: float = 0.0, down_s: float = 0.0) -> None:
        """Delay every chunk by `up_s` device->hub and `down_s` hub->device (order kept)."""
        self.latency = {"up": float(up_s), "down": float(down_s)}

    def refuse(self, mode: str | None) -> None:
        """ "close": no listener (the device gets ECONNREFUSED; attempts cannot be counted);
        "accept-close": accept and RST at once (counted in `attempts`); None: serve again."""
        if mode not in (None, "close", "accept-close"):
            raise ValueError(f"unknown refuse mode {mode!r}")
        self._refuse = mode
        if mode == "close":
            self._unlisten()
        elif self._listener is None and not self._closed:
            self._listen()

    # -- lifecycle --------------------------------------------------------------------------
    def close(self) -> None:
        self._closed = True
        self._unlisten()
        for link in list(self.links):
            link.cut()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def attempt_times(self, since: float = 0.0) -> list[float]:
        return [a.time for a in self.attempts if a.time >= since]
