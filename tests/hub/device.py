"""A small blocking MQTT-over-TLS device for the hub's tests (built on the emulator's codec).

It is deliberately simple: one socket, read with a timeout, packets queued for the test to
inspect. The official SDK covers interop; this one lets tests send exactly the bytes they want.
"""

import socket
import ssl
import time

from host_tools.hub import mqtt


class Device:
    def __init__(self, hub, device_id, cert_file=None, key_file=None, tls_version=None):
        context = ssl.create_default_context(cafile=str(hub.ca_file))
        if tls_version is not None:
            context.minimum_version = context.maximum_version = tls_version
        if cert_file:
            context.load_cert_chain(str(cert_file), str(key_file))
        raw = socket.create_connection(("127.0.0.1", hub.port), timeout=5)
        self.sock = context.wrap_socket(raw, server_hostname=hub.host_name)
        self.hub = hub
        self.device_id = device_id
        self.reader = mqtt.PacketReader(1 << 22)
        self.pending: list = []
        self.next_id = 1

    def user_name(self, extra=""):
        return f"{self.hub.host_name}/{self.device_id}/?api-version=2021-04-12{extra}"

    def connect(
        self, password=None, clean_session=False, keep_alive=60, user_name=None, client_id=None
    ):
        """Send CONNECT and return the CONNACK (mqtt.Simple) or None if the hub hung up."""
        packet = mqtt.Connect(
            client_id=self.device_id if client_id is None else client_id,
            user_name=self.user_name() if user_name is None else user_name,
            password=password,
            keep_alive=keep_alive,
            clean_session=clean_session,
        )
        self.sock.sendall(mqtt.encode_connect(packet))
        return self.expect(mqtt.CONNACK)

    def publish(self, topic, payload=b"", qos=1):
        packet_id = None
        if qos:
            packet_id, self.next_id = self.next_id, self.next_id + 1
        self.sock.sendall(
            mqtt.encode_publish(mqtt.Publish(topic, payload, qos, packet_id=packet_id))
        )
        return packet_id

    def subscribe(self, *filters, qos=1):
        packet_id, self.next_id = self.next_id, self.next_id + 1
        self.sock.sendall(mqtt.encode_subscribe(packet_id, [(f, qos) for f in filters]))
        return self.expect(mqtt.SUBACK).return_codes

    def send_raw(self, data: bytes):
        self.sock.sendall(data)

    def _read(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return True
        except (ConnectionError, ssl.SSLError, OSError):
            return False
        if not data:
            return False
        self.pending.extend(self.reader.feed(data))
        return True

    def expect(self, kind, timeout=5.0):
        """The next packet of `kind` (int) or None when the connection closes first."""
        deadline = time.monotonic() + timeout
        while True:
            for index, packet in enumerate(self.pending):
                packet_kind = mqtt.PUBLISH if isinstance(packet, mqtt.Publish) else packet.kind
                if packet_kind == kind:
                    return self.pending.pop(index)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no packet of type {kind} within {timeout} s")
            if not self._read(min(remaining, 0.5)):
                return None

    def is_closed(self, timeout=5.0) -> bool:
        """True once the hub closes the connection (within `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._read(0.2):
                return True
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
