"""MQTT 3.1.1 codec, sans I/O: bytes in, packets out; packets in, bytes out.

Both the server side (the emulator) and small test clients use it. Nothing here touches a
socket or a clock; `PacketReader` bounds how much it buffers so a peer cannot make it grow.
"""

import struct
from dataclasses import dataclass, field

CONNECT = 1
CONNACK = 2
PUBLISH = 3
PUBACK = 4
PUBREC = 5
PUBREL = 6
PUBCOMP = 7
SUBSCRIBE = 8
SUBACK = 9
UNSUBSCRIBE = 10
UNSUBACK = 11
PINGREQ = 12
PINGRESP = 13
DISCONNECT = 14

CONNACK_ACCEPTED = 0
CONNACK_BAD_PROTOCOL = 1
CONNACK_IDENTIFIER_REJECTED = 2
CONNACK_SERVER_UNAVAILABLE = 3
CONNACK_BAD_USER_NAME_OR_PASSWORD = 4
CONNACK_NOT_AUTHORIZED = 5

SUBACK_FAILURE = 0x80


class ProtocolError(Exception):
    """The peer sent something MQTT 3.1.1 does not allow (the remote side's fault)."""


@dataclass
class Connect:
    client_id: str
    user_name: str | None = None
    password: bytes | None = None
    keep_alive: int = 60
    clean_session: bool = False
    protocol_name: str = "MQTT"
    protocol_level: int = 4
    flags: int = 0
    will_topic: str | None = None
    will_message: bytes | None = None


@dataclass
class Publish:
    topic: str
    payload: bytes = b""
    qos: int = 0
    retain: bool = False
    dup: bool = False
    packet_id: int | None = None


@dataclass
class Subscribe:
    packet_id: int
    filters: list = field(default_factory=list)  # [(topic filter, requested qos)]


@dataclass
class Unsubscribe:
    packet_id: int
    filters: list = field(default_factory=list)


@dataclass
class Simple:
    """A packet with at most a packet id: CONNACK, PUBACK, SUBACK, PINGREQ and the like."""

    kind: int
    packet_id: int | None = None
    return_code: int | None = None
    session_present: bool = False
    return_codes: list = field(default_factory=list)


def encode_remaining_length(length: int) -> bytes:
    """The variable-length integer after the first byte (1-4 bytes)."""
    if length < 0 or length > 268_435_455:
        raise ValueError(f"remaining length {length} out of range")
    out = bytearray()
    while True:
        byte, length = length % 128, length // 128
        out.append(byte | (0x80 if length else 0))
        if not length:
            return bytes(out)


def _string(value: str | bytes) -> bytes:
    raw = value.encode() if isinstance(value, str) else value
    return struct.pack("!H", len(raw)) + raw


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + encode_remaining_length(len(body)) + body


def encode_connect(packet: Connect) -> bytes:
    """CONNECT bytes (client side); flags are derived from the fields that are set."""
    flags = 0x02 if packet.clean_session else 0
    payload = _string(packet.client_id)
    if packet.will_topic is not None:
        flags |= 0x04
        payload += _string(packet.will_topic) + _string(packet.will_message or b"")
    if packet.user_name is not None:
        flags |= 0x80
        payload += _string(packet.user_name)
    if packet.password is not None:
        flags |= 0x40
        payload += _string(packet.password)
    header = _string(packet.protocol_name) + bytes([packet.protocol_level, flags])
    return _packet(CONNECT << 4, header + struct.pack("!H", packet.keep_alive) + payload)


def encode_connack(return_code: int, session_present: bool = False) -> bytes:
    return _packet(CONNACK << 4, bytes([1 if session_present else 0, return_code]))


def encode_publish(packet: Publish) -> bytes:
    if packet.qos not in (0, 1, 2):
        raise ValueError(f"bad QoS {packet.qos}")
    first = PUBLISH << 4 | packet.qos << 1 | (0x08 if packet.dup else 0) | int(packet.retain)
    body = _string(packet.topic)
    if packet.qos:
        body += struct.pack("!H", packet.packet_id)
    return _packet(first, body + packet.payload)


def encode_puback(packet_id: int) -> bytes:
    return _packet(PUBACK << 4, struct.pack("!H", packet_id))


def encode_subscribe(packet_id: int, filters) -> bytes:
    """SUBSCRIBE bytes (client side); `filters` is [(topic filter, qos)]."""
    body = struct.pack("!H", packet_id)
    for topic, qos in filters:
        body += _string(topic) + bytes([qos])
    return _packet(SUBSCRIBE << 4 | 0x02, body)


def encode_suback(packet_id: int, return_codes) -> bytes:
    return _packet(SUBACK << 4, struct.pack("!H", packet_id) + bytes(return_codes))


def encode_unsubscribe(packet_id: int, filters) -> bytes:
    body = struct.pack("!H", packet_id) + b"".join(_string(topic) for topic in filters)
    return _packet(UNSUBSCRIBE << 4 | 0x02, body)


def encode_unsuback(packet_id: int) -> bytes:
    return _packet(UNSUBACK << 4, struct.pack("!H", packet_id))


PINGREQ_BYTES = bytes([PINGREQ << 4, 0])
PINGRESP_BYTES = bytes([PINGRESP << 4, 0])
DISCONNECT_BYTES = bytes([DISCONNECT << 4, 0])


class _Cursor:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, count: int) -> bytes:
        if self.pos + count > len(self.data):
            raise ProtocolError("packet shorter than its fields")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def u16(self) -> int:
        return struct.unpack("!H", self.take(2))[0]

    def binary(self) -> bytes:
        return self.take(self.u16())

    def text(self) -> str:
        try:
            return self.binary().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError("string is not UTF-8") from exc

    def rest(self) -> bytes:
        chunk = self.data[self.pos :]
        self.pos = len(self.data)
        return chunk

    @property
    def done(self) -> bool:
        return self.pos >= len(self.data)


def decode_packet(first_byte: int, body: bytes):
    """One packet from its first byte and body; raises ProtocolError on malformed input."""
    kind, low = first_byte >> 4, first_byte & 0x0F
    cursor = _Cursor(body)
    if kind == CONNECT:
        return _decode_connect(cursor)
    if kind == PUBLISH:
        qos = (low >> 1) & 0x03
        if qos == 3:
            raise ProtocolError("PUBLISH with QoS 3")
        topic = cursor.text()
        packet_id = cursor.u16() if qos else None
        return Publish(topic, cursor.rest(), qos, bool(low & 1), bool(low & 0x08), packet_id)
    if kind in (SUBSCRIBE, UNSUBSCRIBE):
        if low != 0x02:
            raise ProtocolError(f"packet type {kind} with reserved flags {low:#x}")
        packet_id = cursor.u16()
        filters = []
        while not cursor.done:
            topic = cursor.text()
            filters.append((topic, cursor.take(1)[0]) if kind == SUBSCRIBE else topic)
        if not filters:
            raise ProtocolError("SUBSCRIBE/UNSUBSCRIBE without a topic filter")
        return (Subscribe if kind == SUBSCRIBE else Unsubscribe)(packet_id, filters)
    if kind == CONNACK:
        flags, code = cursor.take(2)
        return Simple(CONNACK, return_code=code, session_present=bool(flags & 1))
    if kind in (PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK):
        return Simple(kind, packet_id=cursor.u16())
    if kind == SUBACK:
        packet_id = cursor.u16()
        return Simple(SUBACK, packet_id=packet_id, return_codes=list(cursor.rest()))
    if kind in (PINGREQ, PINGRESP, DISCONNECT):
        return Simple(kind)
    raise ProtocolError(f"unknown packet type {kind}")


def _decode_connect(cursor: _Cursor) -> Connect:
    protocol_name = cursor.text()
    level = cursor.take(1)[0]
    flags = cursor.take(1)[0]
    keep_alive = cursor.u16()
    if flags & 0x01:
        raise ProtocolError("CONNECT reserved flag set")
    packet = Connect(
        client_id="",
        keep_alive=keep_alive,
        clean_session=bool(flags & 0x02),
        protocol_name=protocol_name,
        protocol_level=level,
        flags=flags,
    )
    if protocol_name != "MQTT" or level != 4:
        return packet  # the caller answers CONNACK 1 before reading further
    packet.client_id = cursor.text()
    if flags & 0x04:
        packet.will_topic = cursor.text()
        packet.will_message = cursor.binary()
    if flags & 0x80:
        packet.user_name = cursor.text()
    if flags & 0x40:
        packet.password = cursor.binary()
    return packet


class PacketTooLarge(ProtocolError):
    """A packet announced a size above the reader's limit."""

    def __init__(self, size: int, limit: int):
        super().__init__(f"packet of {size} bytes exceeds the {limit}-byte limit")
        self.size = size
        self.limit = limit


class PacketReader:
    """Incremental parser: `feed(bytes)` returns the complete packets so far.

    A packet whose announced size exceeds `max_packet_size` raises PacketTooLarge as soon as its
    header is read, before its body is buffered.
    """

    def __init__(self, max_packet_size: int = 1 << 20):
        self.max_packet_size = max_packet_size
        self._buffer = bytearray()

    def feed(self, data: bytes, max_packets: int | None = None) -> list:
        """Buffer `data`; return the complete packets, at most `max_packets` (the rest wait).

        A caller that changes `max_packet_size` after a packet (a server once CONNECT is
        accepted) reads one at a time, then calls `feed(b"")` for what was already buffered.
        """
        self._buffer += data
        packets = []
        while max_packets is None or len(packets) < max_packets:
            header = self._header()
            if header is None:
                return packets
            first_byte, header_len, length = header
            if len(self._buffer) < header_len + length:
                return packets
            body = bytes(self._buffer[header_len : header_len + length])
            del self._buffer[: header_len + length]
            packets.append(decode_packet(first_byte, body))
        return packets

    def _header(self):
        if len(self._buffer) < 2:
            return None
        multiplier, length = 1, 0
        for index in range(1, 5):
            if index >= len(self._buffer):
                return None
            byte = self._buffer[index]
            length += (byte & 0x7F) * multiplier
            if not byte & 0x80:
                if length > self.max_packet_size:
                    raise PacketTooLarge(length, self.max_packet_size)
                return self._buffer[0], index + 1, length
            multiplier *= 128
        raise ProtocolError("remaining length longer than 4 bytes")
