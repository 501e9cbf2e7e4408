# mqtt_packets.py: MQTT 3.1.1 packets built into a caller's buffer (so each packet leaves in one
# write) and incoming packets parsed. Pure: no sockets; builders return the packet length.

PINGREQ = b"\xc0\x00"
DISCONNECT = b"\xe0\x00"

TYPE_CONNACK = 0x20
TYPE_PUBLISH = 0x30
TYPE_PUBACK = 0x40
TYPE_SUBACK = 0x90
TYPE_PINGRESP = 0xD0


def mqtt_remaining_length_size(length):
    n = 1
    while length > 127:
        length >>= 7
        n += 1
    return n


def mqtt_put_remaining_length(buf, offset, length):
    while True:
        b = length & 0x7F
        length >>= 7
        if length:
            buf[offset] = b | 0x80
            offset += 1
        else:
            buf[offset] = b
            return offset + 1


def _put_u16(buf, offset, value):
    buf[offset] = (value >> 8) & 0xFF
    buf[offset + 1] = value & 0xFF
    return offset + 2


def _put_bytes(buf, offset, data):
    n = len(data)
    buf[offset : offset + n] = data
    return offset + n


def _put_string(buf, offset, data):
    offset = _put_u16(buf, offset, len(data))
    return _put_bytes(buf, offset, data)


def _as_bytes(data):
    return data.encode() if isinstance(data, str) else data


def mqtt_connect_size(client_id, user=None, password=None):
    body = 10 + 2 + len(_as_bytes(client_id))
    if user is not None:
        body += 2 + len(_as_bytes(user))
    if password is not None:
        body += 2 + len(_as_bytes(password))
    return 1 + mqtt_remaining_length_size(body) + body


def mqtt_build_connect(
    buf, client_id, user=None, password=None, keepalive_s=60, clean_session=False
):
    # X.509: user name and no password -> flags 0x80 with clean session off.
    client_id = _as_bytes(client_id)
    body = 10 + 2 + len(client_id)
    flags = 0x02 if clean_session else 0
    if user is not None:
        user = _as_bytes(user)
        body += 2 + len(user)
        flags |= 0x80
    if password is not None:
        password = _as_bytes(password)
        body += 2 + len(password)
        flags |= 0x40
    buf[0] = 0x10
    i = mqtt_put_remaining_length(buf, 1, body)
    i = _put_string(buf, i, b"MQTT")
    buf[i] = 4  # protocol level 3.1.1
    buf[i + 1] = flags
    i = _put_u16(buf, i + 2, keepalive_s)
    i = _put_string(buf, i, client_id)
    if user is not None:
        i = _put_string(buf, i, user)
    if password is not None:
        i = _put_string(buf, i, password)
    return i


def mqtt_publish_size(topic, payload, qos=1):
    body = 2 + len(topic) + len(payload) + (2 if qos else 0)
    return 1 + mqtt_remaining_length_size(body) + body


def mqtt_build_publish(buf, topic, payload, qos=1, packet_id=0, retain=False, dup=False):
    body = 2 + len(topic) + len(payload) + (2 if qos else 0)
    buf[0] = 0x30 | (qos << 1) | (1 if retain else 0) | (0x08 if dup else 0)
    i = mqtt_put_remaining_length(buf, 1, body)
    i = _put_string(buf, i, topic)
    if qos:
        i = _put_u16(buf, i, packet_id)
    return _put_bytes(buf, i, payload)


def mqtt_build_subscribe(buf, packet_id, topics, qos=1):
    body = 2
    for topic in topics:
        body += 2 + len(topic) + 1
    buf[0] = 0x82
    i = mqtt_put_remaining_length(buf, 1, body)
    i = _put_u16(buf, i, packet_id)
    for topic in topics:
        i = _put_string(buf, i, topic)
        buf[i] = qos
        i += 1
    return i


def mqtt_build_puback(buf, packet_id):
    buf[0] = 0x40
    buf[1] = 2
    return _put_u16(buf, 2, packet_id)


def mqtt_parse_remaining_length(data, offset=1):
    # -> (length, offset after it), or None if more bytes are needed; ValueError if malformed.
    length = 0
    shift = 0
    while True:
        if offset >= len(data):
            return None
        b = data[offset]
        length |= (b & 0x7F) << shift
        offset += 1
        if not b & 0x80:
            return length, offset
        shift += 7
        if shift > 21:
            raise ValueError("malformed remaining length")


def mqtt_parse_connack(body):
    # -> (session_present, return_code)
    if len(body) != 2:
        raise ValueError("bad CONNACK")
    return bool(body[0] & 1), body[1]


def mqtt_parse_packet_id(body):
    if len(body) < 2:
        raise ValueError("bad packet id")
    return (body[0] << 8) | body[1]


def mqtt_parse_publish(first_byte, body):
    # -> (topic bytes, packet_id or 0, qos, payload memoryview)
    mv = memoryview(body)
    if len(mv) < 2:
        raise ValueError("bad PUBLISH")
    tlen = (mv[0] << 8) | mv[1]
    i = 2 + tlen
    if i > len(mv):
        raise ValueError("bad PUBLISH topic")
    topic = bytes(mv[2:i])
    qos = (first_byte >> 1) & 3
    pid = 0
    if qos:
        if i + 2 > len(mv):
            raise ValueError("bad PUBLISH packet id")
        pid = (mv[i] << 8) | mv[i + 1]
        i += 2
    return topic, pid, qos, mv[i:]


def mqtt_parse_suback(body):
    # -> (packet_id, [granted qos or 0x80 per topic])
    pid = mqtt_parse_packet_id(body)
    return pid, [body[i] for i in range(2, len(body))]
