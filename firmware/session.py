# session.py: the only user of sockets and tls. An MQTT session to the hub on top of umqtt.simple:
# we own the socket and the TLS set-up, send every packet in one write, and put a deadline on
# every blocking step so a dead or half-open link is detected.
import gc
import socket
import time

import mqtt_packets as mp
from errors import (
    KIND_CONFIG,
    KIND_NETWORK,
    KIND_PROTOCOL,
    AgentError,
    error_explain,
    error_from_connack,
)
from micropython import const
from umqtt.simple import MQTTClient

_BUF_SIZE = const(512)
_EAGAIN = const(11)
_POLLIN = const(1)


def tls_load_context(tls, cert, key, trust):
    # cert/key: PEM or DER bytes (None for SAS); trust: PEM bundle. Always CERT_REQUIRED.
    ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
    if cert is not None and key is not None:
        try:
            ctx.load_cert_chain(cert, key)
        except MemoryError:
            raise
        except Exception as exc:
            err = error_explain(exc, "loading of the credentials")
            if err.kind != KIND_CONFIG:
                err = AgentError(
                    KIND_CONFIG,
                    "cannot load the device certificate and key (%s): check cert_file and "
                    "key_file (PEM or DER, matching pair)" % exc,
                )
            raise err
    try:
        ctx.load_verify_locations(trust)
    except MemoryError:
        raise
    except Exception as exc:
        raise AgentError(
            KIND_CONFIG, "cannot load the trust bundle (%s): check trust_file (PEM roots)" % exc
        )
    ctx.verify_mode = tls.CERT_REQUIRED
    return ctx


class Session(MQTTClient):
    # No ssl arguments reach the parent: old umqtt.simple would import ussl, the new one wants a
    # context; we do the TLS ourselves in open().
    def __init__(
        self,
        client_id,
        server,
        port,
        user,
        password,
        keepalive,
        ssl_context,
        io_timeout_ms=20000,
        max_incoming=16384,
        sas=False,
    ):
        MQTTClient.__init__(self, client_id, server, port, user, password, keepalive)
        self.context = ssl_context
        self.io_timeout_ms = io_timeout_ms
        self.max_incoming = max_incoming
        self.sas = sas
        self.buf = bytearray(_BUF_SIZE)
        self.byte = bytearray(1)
        self.poller = None
        self.pid = 0
        self.last_tx = 0
        self.ping_sent_at = None
        self.connected = False
        self.session_present = False

    # -- connection ------------------------------------------------------------------------
    def connect(self, clean_session=False, timeout=None):
        self.open(clean_session)
        return self.session_present

    def open(self, clean_session=False):
        self.close()
        gc.collect()  # the TLS handshake needs the largest free blocks we can give it
        timeout_s = self.io_timeout_ms / 1000
        try:
            addr = socket.getaddrinfo(self.server, self.port)[0][-1]
        except OSError as exc:
            raise AgentError(
                KIND_NETWORK,
                "cannot resolve %s: check hub_host and DNS" % self.server,
                exc.args[0] if exc.args else None,
            )
        raw = socket.socket()
        try:
            raw.settimeout(timeout_s)
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
        try:
            import select

            self.poller = select.poll()
            self.poller.register(sock, _POLLIN)
        except Exception:
            self.poller = None
        user = self.user
        size = mp.mqtt_connect_size(self.client_id, user, self.pswd)
        buf = self.buf if size <= len(self.buf) else bytearray(size)
        n = mp.mqtt_build_connect(
            buf, self.client_id, user, self.pswd, self.keepalive, clean_session
        )
        self.send_packet(buf, n)
        deadline = time.ticks_add(time.ticks_ms(), self.io_timeout_ms)
        packet = self.read_packet(self.io_timeout_ms)
        if packet is None or packet[0] & 0xF0 != mp.TYPE_CONNACK:
            self.close()
            if packet is None:
                raise AgentError(
                    KIND_NETWORK,
                    "no CONNACK from the hub within %d s" % (self.io_timeout_ms // 1000),
                )
            raise AgentError(
                KIND_PROTOCOL, "the hub answered CONNECT with packet type 0x%02X" % packet[0]
            )
        present, code = mp.mqtt_parse_connack(packet[1])
        if code:
            self.close()
            raise error_from_connack(code, self.sas)
        del deadline
        self.session_present = present
        self.connected = True
        self.ping_sent_at = None
        return present

    def close(self):
        self.connected = False
        sock = self.sock
        self.sock = None
        self.poller = None
        if sock is not None:
            try:
                sock.close()
            except Exception:
                pass

    def disconnect(self):
        if self.sock is not None:
            try:
                self.send_packet(mp.DISCONNECT, 2)
            except Exception:
                pass
        self.close()

    # -- writing: one write per packet, with a deadline -------------------------------------
    def send_packet(self, data, n):
        sock = self.sock
        if sock is None:
            raise AgentError(KIND_NETWORK, "not connected")
        view = memoryview(data)
        off = 0
        deadline = time.ticks_add(time.ticks_ms(), self.io_timeout_ms)
        while off < n:
            try:
                written = sock.write(view[off:n])
            except OSError as exc:
                if exc.args and exc.args[0] == _EAGAIN:
                    written = None
                else:
                    raise
            if written is None:
                if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                    raise AgentError(KIND_NETWORK, "the hub stopped reading: write timed out")
                time.sleep_ms(1)
                continue
            off += written
        self.last_tx = time.ticks_ms()

    def next_packet_id(self):
        pid = self.pid + 1
        if pid > 65535:
            pid = 1
        self.pid = pid
        return pid

    def publish(self, topic, msg, retain=False, qos=0):
        # Returns the packet id (0 for QoS 0); the caller tracks PUBACKs (no waiting here).
        pid = self.next_packet_id() if qos else 0
        size = mp.mqtt_publish_size(topic, msg, qos)
        buf = self.buf if size <= len(self.buf) else bytearray(size)
        n = mp.mqtt_build_publish(buf, topic, msg, qos, pid, retain)
        self.send_packet(buf, n)
        return pid

    def subscribe_many(self, topics, qos=1):
        pid = self.next_packet_id()
        n = mp.mqtt_build_subscribe(self.buf, pid, topics, qos)
        self.send_packet(self.buf, n)
        return pid

    def subscribe(self, topic, qos=0):
        return self.subscribe_many((topic,), qos)

    def puback(self, pid):
        n = mp.mqtt_build_puback(self.buf, pid)
        self.send_packet(self.buf, n)

    def ping(self):
        self.send_packet(mp.PINGREQ, 2)
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
                    KIND_NETWORK, "no PINGRESP within %d s: the link is dead" % (limit // 1000)
                )
        elif time.ticks_diff(now, self.last_tx) >= self.keepalive * 750:
            self.ping()

    # -- reading ----------------------------------------------------------------------------
    def _wait(self, ms):
        if ms <= 0:
            return
        if self.poller is not None:
            self.poller.poll(ms)
        else:
            time.sleep_ms(ms if ms < 5 else 5)

    def _read_some(self, view):
        try:
            n = self.sock.readinto(view)
        except OSError as exc:
            if exc.args and exc.args[0] == _EAGAIN:
                return None
            raise
        if n == 0:
            raise AgentError(KIND_NETWORK, "the hub closed the connection")
        return n

    def _read_exact(self, view, deadline):
        got = 0
        size = len(view)
        while got < size:
            n = self._read_some(view[got:])
            if n is None:
                left = time.ticks_diff(deadline, time.ticks_ms())
                if left <= 0:
                    raise AgentError(KIND_NETWORK, "the link stalled in the middle of a packet")
                self._wait(left)
                continue
            got += n

    def read_packet(self, wait_ms=0):
        # -> (first byte, body memoryview, total length) or None if nothing arrived in wait_ms.
        # The body lives in self.buf (or a one-off buffer) until the next call. A body over
        # max_incoming is drained and returned truncated to what fits in self.buf.
        if self.sock is None:
            raise AgentError(KIND_NETWORK, "not connected")
        one = memoryview(self.byte)
        start = time.ticks_ms()
        while True:
            n = self._read_some(one)
            if n:
                break
            left = wait_ms - time.ticks_diff(time.ticks_ms(), start)
            if left <= 0:
                return None
            self._wait(left)
        first = self.byte[0]
        deadline = time.ticks_add(time.ticks_ms(), self.io_timeout_ms)
        length = 0
        shift = 0
        while True:
            self._read_exact(one, deadline)
            b = self.byte[0]
            length |= (b & 0x7F) << shift
            if not b & 0x80:
                break
            shift += 7
            if shift > 21:
                raise AgentError(KIND_PROTOCOL, "malformed packet from the hub")
        if length <= len(self.buf):
            body = memoryview(self.buf)[:length]
            self._read_exact(body, deadline)
        elif length <= self.max_incoming:
            body = memoryview(bytearray(length))
            self._read_exact(body, deadline)
        else:
            body = memoryview(self.buf)
            self._read_exact(body, deadline)
            left = length - len(body)
            scratch = memoryview(bytearray(256))
            while left > 0:
                chunk = scratch if left >= 256 else scratch[:left]
                self._read_exact(chunk, deadline)
                left -= len(chunk)
        if first == mp.TYPE_PINGRESP:
            self.ping_sent_at = None
        return first, body, length

    # umqtt.simple compatibility: wait_msg/check_msg deliver PUBLISH to set_callback's function.
    def wait_msg(self):
        packet = self.read_packet(self.io_timeout_ms)
        return self._dispatch_compat(packet)

    def check_msg(self):
        return self._dispatch_compat(self.read_packet(0))

    def _dispatch_compat(self, packet):
        if packet is None:
            return None
        first = packet[0]
        if first & 0xF0 != mp.TYPE_PUBLISH:
            return first
        topic, pid, qos, payload = mp.mqtt_parse_publish(first, packet[1])
        if self.cb is not None:
            self.cb(topic, bytes(payload))
        if qos == 1:
            self.puback(pid)
        return None
