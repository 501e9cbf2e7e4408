# session.py: the only user of sockets. An MQTT 3.1.1 session to the hub, spoken by the firmware
# itself (docs/firmware.md says why not umqtt.simple): the socket and the TLS set-up, every packet
# in one write, a deadline on every blocking step so a dead or half-open link is detected, QoS 1
# publishes that do not wait (the agent keeps a window). The TLS context is built by link.py.
import gc
import socket
import time

from errors import AgentError, error_explain
from micropython import const
from mqtt_packets import mqtt_build_puback, mqtt_build_publish

_BUF_SIZE = const(512)
_AHEAD_SIZE = const(64)
_EAGAIN = const(11)
_POLLIN = const(1)
_CONNACK = const(0x20)
_PINGRESP = const(0xD0)


class Session:
    def __init__(
        self,
        client_id,
        server,
        port,
        user,
        password,
        keepalive,
        ssl_context,
        io_timeout_ms,  # io_timeout_s and max_incoming: config.json's, defaults in config.py
        max_incoming,
    ):
        self.client_id = client_id
        self.server = server
        self.port = port
        self.user = user
        self.password = password  # None for X.509 (CONNECT flags 0x80); a SAS token otherwise
        self.keepalive = keepalive
        self.context = ssl_context
        self.sock = None
        self.pid = 0
        self.io_timeout_ms = io_timeout_ms
        self.max_incoming = max_incoming
        self.buf = bytearray(_BUF_SIZE)  # long-lived: allocated before the TLS handshake
        self.ahead = bytearray(_AHEAD_SIZE)  # the read-ahead (reading, below)
        self.ahead_view = memoryview(self.ahead)
        self.head = self.tail = 0
        self.poller = None
        self.last_tx = 0
        self.ping_sent_at = None
        self.connected = self.session_present = False

    # -- connection ------------------------------------------------------------------------
    def open(self, clean_session=False):
        self.close()
        try:
            addr = socket.getaddrinfo(self.server, self.port)[0][-1]
        except OSError as exc:
            raise AgentError(
                "network",
                "cannot resolve %s: check hub_host and DNS" % self.server,
                exc.args[0] if exc.args else None,
            )
        raw = socket.socket()
        gc.collect()  # the TLS handshake needs the largest free blocks we can give it
        try:
            raw.settimeout(self.io_timeout_ms / 1000)
            try:
                # TCP_NODELAY (IPPROTO_TCP 6, option 1 on Linux and lwIP; the Unix port has no
                # names for them): with Nagle on, a PUBLISH written while the previous one is
                # unacknowledged waits for the peer's delayed ACK, and a window of 8 stalls.
                raw.setsockopt(6, 1, 1)
            except (OSError, TypeError, ValueError):
                pass
            raw.connect(addr)
            self.sock = self.context.wrap_socket(raw, server_hostname=self.server)
        except Exception as exc:
            try:
                raw.close()
            except Exception:
                pass
            raise error_explain(exc, "TLS handshake")
        sock = self.sock
        sock.setblocking(False)
        self.poller = None
        for target in (raw, sock):
            # Wait on the TCP socket where it can be polled: the Unix port polls a TLS socket by
            # waking every millisecond, a TCP one with poll(2). _read polls only when TLS has no
            # decrypted byte left, so both wake for the same data. (CPython detaches the TCP
            # socket: the TLS one there.)
            try:
                import select

                poller = select.poll()
                poller.register(target, _POLLIN)
                self.poller = poller
                break
            except Exception:
                pass
        import mqtt_connect as mc  # only now: not in the heap at the handshake's peak

        size = mc.mqtt_connect_size(self.client_id, self.user, self.password)
        buf = self.buf if size <= _BUF_SIZE else bytearray(size)
        n = mc.mqtt_build_connect(
            buf, self.client_id, self.user, self.password, self.keepalive, clean_session
        )
        self.send_packet(buf, n)
        packet = self.read_packet(self.io_timeout_ms)
        if packet is None or packet[0] & 0xF0 != _CONNACK:
            self.close()
            if packet is None:
                raise AgentError(
                    "network", "no CONNACK from the hub within %d s" % (self.io_timeout_ms // 1000)
                )
            raise AgentError(
                "protocol", "the hub answered CONNECT with packet type 0x%02X" % packet[0]
            )
        present, code = mc.mqtt_parse_connack(packet[1])
        if code:
            self.close()
            from errors import error_from_connack

            raise error_from_connack(code, self.password is not None)
        self.session_present = present
        self.connected = True
        self.ping_sent_at = None
        return present

    def close(self):
        self.connected = False
        self.head = self.tail = 0  # what was read ahead belonged to this connection
        sock = self.sock
        self.sock = self.poller = None
        if sock is not None:
            try:
                sock.close()
            except Exception:
                pass

    def disconnect(self):
        if self.sock is not None:
            try:
                self.send_packet(b"\xe0\x00", 2)
            except Exception:
                pass
        self.close()

    # -- writing: one write per packet, with a deadline -------------------------------------
    def send_packet(self, data, n):
        sock = self.sock
        if sock is None:
            raise AgentError("network", "not connected")
        view = memoryview(data)
        off = 0
        deadline = time.ticks_add(time.ticks_ms(), self.io_timeout_ms)
        while off < n:
            try:
                written = sock.write(view[off:n])
            except OSError as exc:
                if exc.args[0] != _EAGAIN:
                    raise
                written = None
            if written is None:
                if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                    raise AgentError("network", "the hub stopped reading: write timed out")
                time.sleep_ms(1)
                continue
            off += written
        self.last_tx = time.ticks_ms()

    def publish(self, topic, msg, retain=False, qos=0, dup=False):
        # Returns the packet id (0 for QoS 0); the caller tracks PUBACKs (no waiting here).
        pid = 0
        if qos:
            self.pid = pid = self.pid % 65535 + 1
        size = len(topic) + len(msg) + 9  # at most: header, 4-byte length, topic length, id
        buf = self.buf if size <= _BUF_SIZE else bytearray(size)
        self.send_packet(buf, mqtt_build_publish(buf, topic, msg, qos, pid, retain, dup))
        return pid

    def subscribe(self, filters, qos=0):
        # One SUBSCRIBE for the tuple of `filters`; returns the packet id (the caller waits).
        from mqtt_connect import mqtt_build_subscribe

        self.pid = pid = self.pid % 65535 + 1
        self.send_packet(self.buf, mqtt_build_subscribe(self.buf, pid, filters, qos))
        return pid

    def puback(self, pid):
        self.send_packet(self.buf, mqtt_build_puback(self.buf, pid))

    def ping(self):
        self.send_packet(b"\xc0\x00", 2)
        self.ping_sent_at = time.ticks_ms()

    def keepalive_service(self, now):
        # Ping when we have been quiet for 3/4 of the keep-alive; a PINGRESP that does not come
        # within io_timeout (or the keep-alive) means the link is dead even if TCP says nothing.
        if not self.keepalive:
            return
        if self.ping_sent_at is not None:
            limit = min(self.io_timeout_ms, self.keepalive * 1000)
            if time.ticks_diff(now, self.ping_sent_at) > limit:
                raise AgentError(
                    "network", "no PINGRESP within %d s: the link is dead" % (limit // 1000)
                )
        elif time.ticks_diff(now, self.last_tx) >= self.keepalive * 750:
            self.ping()

    # -- reading ----------------------------------------------------------------------------
    # A small read-ahead: one readinto takes up to 64 bytes of what TLS has (a burst of 4-byte
    # PUBACKs), not a byte at a time. ahead[head:tail] is what no packet has used yet. It is
    # refilled only when empty; the part of a body it does not hold is read straight into the
    # body's buffer.
    def _read(self, view, deadline, idle=False, some=False):
        # Fill `view` (with `some`: at least one byte of it) before `deadline` -> bytes got.
        # Nothing at all by then with `idle` -> 0; a packet that stops half-way -> the link is dead.
        got = 0
        while got < len(view):
            try:
                n = self.sock.readinto(view[got:])
            except OSError as exc:
                if exc.args[0] != _EAGAIN:
                    raise
                n = None
            if n == 0:
                raise AgentError("network", "the hub closed the connection")
            if n is None:
                left = time.ticks_diff(deadline, time.ticks_ms())
                if left <= 0:
                    if idle:
                        return 0
                    raise AgentError("network", "the link stalled in the middle of a packet")
                if self.poller is not None:
                    self.poller.poll(left)
                else:
                    time.sleep_ms(min(left, 5))
                continue
            got += n
            if some:
                break
        return got

    def _fill(self, deadline, idle=False):
        # The read-ahead is empty: refill it with what the socket has (one byte at least).
        self.head = self.tail = 0  # also when the read raises: nothing stale is left
        self.tail = n = self._read(self.ahead_view, deadline, idle, True)
        return n

    def _take(self, view, deadline):
        # Fill `view`: first from the read-ahead, the rest straight from the socket.
        n = min(self.tail - self.head, len(view))
        if n:
            view[:n] = self.ahead_view[self.head : self.head + n]
            self.head += n
        if n < len(view):
            self._read(view[n:], deadline)

    def read_packet(self, wait_ms=0):
        # -> (first byte, body memoryview, total length) or None if nothing arrived in wait_ms.
        # The body lives in the session's buffers (or a one-off buffer) until the next call. A
        # body over max_incoming is drained and returned truncated to what fits in self.buf.
        # A packet already read ahead is returned without waiting.
        if self.sock is None:
            raise AgentError("network", "not connected")
        if self.head == self.tail and not self._fill(
            time.ticks_add(time.ticks_ms(), wait_ms), True
        ):
            return None
        deadline = time.ticks_add(time.ticks_ms(), self.io_timeout_ms)
        ahead = self.ahead
        first = ahead[self.head]
        self.head += 1
        length = shift = 0
        while True:
            if self.head == self.tail:
                self._fill(deadline)
            b = ahead[self.head]
            self.head += 1
            length |= (b & 0x7F) << shift
            if not b & 0x80:
                break
            shift += 7
            if shift > 21:
                raise AgentError("protocol", "malformed packet from the hub")
        head = self.head
        if length <= self.tail - head:  # read ahead whole (a burst of PUBACKs): no copy
            self.head = head + length
            body = self.ahead_view[head : head + length]
        else:
            if length <= _BUF_SIZE:
                body = memoryview(self.buf)[:length]
            elif length <= self.max_incoming:
                body = memoryview(bytearray(length))
            else:
                body = memoryview(self.buf)
            self._take(body, deadline)
            left = length - len(body)
            if left > 0:
                scratch = memoryview(bytearray(256))
                while left > 0:
                    chunk = scratch[: min(left, 256)]
                    self._take(chunk, deadline)
                    left -= len(chunk)
        if first == _PINGRESP:
            self.ping_sent_at = None
        return first, body, length
