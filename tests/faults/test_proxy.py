"""The fault proxy on its own, against a plain TCP server: each fault does what it says."""

import socket
import threading
import time

import pytest

from ..listening import stop_listening
from .proxy import FaultProxy


class _Server:
    """An upstream that records what each connection sent and echoes it back (if `echo`)."""

    def __init__(self, echo=True):
        self.echo = echo
        self.received: list[bytearray] = []
        self.conns: list[socket.socket] = []
        self.eof: list[bool] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._accept_thread = threading.Thread(target=self._accept, daemon=True)
        self._accept_thread.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            index = len(self.received)
            self.received.append(bytearray())
            self.eof.append(False)
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn, index), daemon=True).start()

    def _serve(self, conn, index):
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                data = b""
            if not data:
                self.eof[index] = True
                conn.close()
                return
            self.received[index] += data
            if self.echo:
                try:
                    conn.sendall(data)
                except OSError:
                    return

    def close(self):
        stop_listening(self.listener, self._accept_thread)
        for conn in self.conns:
            conn.close()


def _wait(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not _holds(predicate):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def _holds(predicate):
    try:
        return predicate()
    except IndexError:  # the server has not accepted yet
        return False


def _connect_and_see_it_closed(proxy):
    # The RST may even beat connect() back: either way the device gets no data.
    try:
        with _client(proxy) as client:
            client.settimeout(5)
            assert client.recv(1) == b""
    except ConnectionResetError:
        pass


def _recv_exactly(sock, n, timeout=5.0):
    sock.settimeout(timeout)
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            break
        out += chunk
    return out


@pytest.fixture
def server():
    upstream = _Server()
    yield upstream
    upstream.close()


@pytest.fixture
def proxy(server):
    with FaultProxy(server.port) as fault_proxy:
        yield fault_proxy


def _client(proxy):
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=5)


def test_proxy_forwards_both_ways_and_counts_attempts(proxy, server):
    before = time.time()
    with _client(proxy) as client:
        client.sendall(b"hello")
        assert _recv_exactly(client, 5) == b"hello"
    _wait(lambda: len(proxy.attempts) == 1)
    assert proxy.attempts[0].outcome == "proxied"
    assert before <= proxy.attempts[0].time <= time.time()
    _wait(lambda: not proxy.open_links())
    link = proxy.links[0]
    assert (link.up.forwarded, link.down.forwarded) == (5, 5)


def test_proxy_cut_all_resets_the_device_side(proxy, server):
    with _client(proxy) as client:
        client.sendall(b"x")
        assert _recv_exactly(client, 1) == b"x"
        assert proxy.cut_all() == 1
        with pytest.raises(ConnectionResetError):
            client.recv(1)
    _wait(lambda: server.eof[0])


def test_proxy_cut_after_n_bytes_forwards_exactly_n(proxy, server):
    server.echo = False
    with _client(proxy) as client:
        client.sendall(b"0123")
        _wait(lambda: bytes(server.received[0]) == b"0123")
        proxy.cut_after(6)
        client.sendall(b"456789abcdef")
        _wait(lambda: server.eof[0])
        assert bytes(server.received[0]) == b"0123456789"
        with pytest.raises(ConnectionResetError):
            client.recv(1)
    # armed once: the next connection is not cut
    with _client(proxy) as client:
        client.sendall(b"more than six bytes")
        _wait(lambda: len(server.received) == 2 and len(server.received[1]) == 19)


def test_proxy_half_open_keeps_sockets_open_and_silent(proxy, server):
    server.echo = False
    with _client(proxy) as client:
        client.sendall(b"a")
        _wait(lambda: bytes(server.received[0]) == b"a")
        assert proxy.half_open() == 1
        client.sendall(b"lost")  # the write succeeds: nothing tells the device
        server.conns[0].sendall(b"lost too")
        client.settimeout(0.5)
        with pytest.raises(TimeoutError):  # no data and no EOF: silent, not closed
            client.recv(1)
        assert bytes(server.received[0]) == b"a" and not server.eof[0]
        _wait(lambda: proxy.links[0].up.dropped + proxy.links[0].down.dropped == 12)
        # a new connection is not affected
        with _client(proxy) as second:
            second.sendall(b"b")
            _wait(lambda: len(server.received) == 2 and bytes(server.received[1]) == b"b")


def test_proxy_half_open_new_links_accepts_then_stays_silent(proxy, server):
    proxy.half_open(new_links=True)
    with _client(proxy) as client:
        client.sendall(b"z")
        client.settimeout(0.5)
        with pytest.raises(TimeoutError):
            client.recv(1)
    proxy.heal()
    with _client(proxy) as client:
        client.sendall(b"y")
        assert _recv_exactly(client, 1) == b"y"


def test_proxy_latency_delays_each_hop_and_keeps_order(proxy, server):
    proxy.set_latency(up_s=0.3, down_s=0.2)
    with _client(proxy) as client:
        started = time.monotonic()
        for i in range(50):
            client.sendall(b"%03d" % i)
        echoed = _recv_exactly(client, 150)
        elapsed = time.monotonic() - started
    assert echoed == b"".join(b"%03d" % i for i in range(50))
    assert 0.5 <= elapsed < 2.0, elapsed


def test_proxy_latency_on_one_direction_only(proxy, server):
    proxy.set_latency(down_s=0.4)
    with _client(proxy) as client:
        started = time.monotonic()
        client.sendall(b"q")
        _wait(lambda: bytes(server.received[0]) == b"q")
        up = time.monotonic() - started
        assert _recv_exactly(client, 1) == b"q"
        total = time.monotonic() - started
    assert up < 0.3 and total >= 0.4, (up, total)


def test_proxy_refuse_close_then_serve_again_on_the_same_port(proxy, server):
    port = proxy.port
    proxy.refuse("close")
    with pytest.raises(ConnectionRefusedError):
        _client(proxy)
    assert proxy.attempts == []  # the kernel refused: the proxy never saw it
    proxy.refuse(None)
    assert proxy.port == port
    with _client(proxy) as client:
        client.sendall(b"ok")
        assert _recv_exactly(client, 2) == b"ok"


def test_proxy_refuse_accept_close_counts_each_attempt(proxy, server):
    proxy.refuse("accept-close")
    for _ in range(3):
        _connect_and_see_it_closed(proxy)
    _wait(lambda: len(proxy.attempts) == 3)
    assert [a.outcome for a in proxy.attempts] == ["refused"] * 3
    times = proxy.attempt_times()
    assert times == sorted(times)
    assert server.received == []


def test_proxy_upstream_down_closes_the_device_side(server):
    server.close()
    with FaultProxy(server.port) as proxy:
        _connect_and_see_it_closed(proxy)
        _wait(lambda: [a.outcome for a in proxy.attempts] == ["no-upstream"])


def test_proxy_fin_from_the_server_reaches_the_device(proxy, server):
    with _client(proxy) as client:
        client.sendall(b"x")
        assert _recv_exactly(client, 1) == b"x"
        _wait(lambda: len(server.conns) == 1)
        server.conns[0].shutdown(socket.SHUT_WR)
        client.settimeout(5)
        assert client.recv(1) == b""
