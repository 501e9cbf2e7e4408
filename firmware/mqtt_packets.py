# mqtt_packets.py: the MQTT 3.1.1 packets of a running session, built into a caller's buffer (so
# each packet leaves in one write) and parsed. Pure: no sockets; builders return the length.
# CONNECT and SUBSCRIBE (needed while connecting only) are in mqtt_connect.py.


def mqtt_put_remaining_length(buf, offset, length):
    while True:
        b = length & 0x7F
        length >>= 7
        buf[offset] = b | 0x80 if length else b
        offset += 1
        if not length:
            return offset


def mqtt_build_publish(buf, topic, payload, qos=1, packet_id=0, retain=False, dup=False):
    # buf needs len(topic) + len(payload) + 9 bytes at most.
    tlen = len(topic)
    buf[0] = 0x30 | (qos << 1) | (1 if retain else 0) | (0x08 if dup else 0)
    i = mqtt_put_remaining_length(buf, 1, 2 + tlen + len(payload) + (2 if qos else 0))
    buf[i] = tlen >> 8
    buf[i + 1] = tlen & 0xFF
    i += 2
    buf[i : i + tlen] = topic
    i += tlen
    if qos:
        buf[i] = packet_id >> 8
        buf[i + 1] = packet_id & 0xFF
        i += 2
    buf[i : i + len(payload)] = payload
    return i + len(payload)


def mqtt_build_puback(buf, packet_id):
    buf[0] = 0x40
    buf[1] = 2
    buf[2] = packet_id >> 8
    buf[3] = packet_id & 0xFF
    return 4


def mqtt_parse_packet_id(body):
    if len(body) < 2:
        raise ValueError("bad packet id")
    return (body[0] << 8) | body[1]


def mqtt_parse_publish(first_byte, body):
    # -> (topic bytes, packet_id or 0, qos, payload memoryview)
    mv = memoryview(body)
    if len(mv) < 2:
        raise ValueError("bad PUBLISH")
    i = 2 + ((mv[0] << 8) | mv[1])
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
