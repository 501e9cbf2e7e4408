# mqtt_connect.py: the MQTT 3.1.1 packets of connecting (CONNECT, CONNACK, SUBSCRIBE, SUBACK) and
# the CONNECT size. Pure. Loaded while connecting and unloaded after (the loop never needs them).
from mqtt_packets import mqtt_parse_packet_id, mqtt_put_remaining_length


def mqtt_remaining_length_size(length):
    n = 1
    while length > 127:
        length >>= 7
        n += 1
    return n


def _put_string(buf, offset, data):
    n = len(data)
    buf[offset] = n >> 8
    buf[offset + 1] = n & 0xFF
    buf[offset + 2 : offset + 2 + n] = data
    return offset + 2 + n


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
    buf[i + 2] = keepalive_s >> 8
    buf[i + 3] = keepalive_s & 0xFF
    i = _put_string(buf, i + 4, client_id)
    if user is not None:
        i = _put_string(buf, i, user)
    if password is not None:
        i = _put_string(buf, i, password)
    return i


def mqtt_build_subscribe(buf, packet_id, topics, qos=1):
    body = 2
    for topic in topics:
        body += 2 + len(topic) + 1
    buf[0] = 0x82
    i = mqtt_put_remaining_length(buf, 1, body)
    buf[i] = packet_id >> 8
    buf[i + 1] = packet_id & 0xFF
    i += 2
    for topic in topics:
        i = _put_string(buf, i, topic)
        buf[i] = qos
        i += 1
    return i


def mqtt_parse_connack(body):
    # -> (session_present, return_code)
    if len(body) != 2:
        raise ValueError("bad CONNACK")
    return bool(body[0] & 1), body[1]


def mqtt_parse_suback(body):
    # -> (packet_id, [granted qos or 0x80 per topic])
    return mqtt_parse_packet_id(body), [body[i] for i in range(2, len(body))]
