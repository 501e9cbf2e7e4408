# topic_parse.py: IoT Hub topics and property bags parsed (C2D topics, query strings). Pure: bytes
# or str in. Loaded with an incoming message (incoming.py, twin.py, methods.py), unloaded after.


def url_decode(text):
    if isinstance(text, (bytes, bytearray, memoryview)):
        data = bytes(text)
    else:
        data = text.encode()
    if b"%" not in data:
        return data.decode()
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        b = data[i]
        if b == 37 and i + 2 < n:  # %XY
            hi = _hex_value(data[i + 1])
            lo = _hex_value(data[i + 2])
            if hi >= 0 and lo >= 0:
                out.append(hi * 16 + lo)
                i += 3
                continue
        out.append(b)
        i += 1
    return bytes(out).decode()


def _hex_value(b):
    if 48 <= b <= 57:
        return b - 48
    if 65 <= b <= 70:
        return b - 55
    if 97 <= b <= 102:
        return b - 87
    return -1


def props_decode(bag):
    # "k=v&n&e=" -> {"k": "v", "n": None, "e": ""}
    result = {}
    if isinstance(bag, (bytes, bytearray, memoryview)):
        bag = bytes(bag).decode()
    if not bag:
        return result
    for part in bag.split("&"):
        if not part:
            continue
        eq = part.find("=")
        if eq < 0:
            result[url_decode(part)] = None
        else:
            result[url_decode(part[:eq])] = url_decode(part[eq + 1 :])
    return result


def c2d_parse_received_topic(device_id, topic):
    # -> dict of properties, or None when the topic is not a C2D message for this device.
    if isinstance(topic, str):
        topic = topic.encode()
    prefix = b"devices/" + device_id.encode() + b"/messages/devicebound/"
    if not bytes(topic[: len(prefix)]) == prefix:
        return None
    rest = bytes(topic[len(prefix) :])
    # The SDK reads properties from the one segment after devicebound/ only.
    slash = rest.find(b"/")
    if slash >= 0:
        rest = rest[:slash]
    return props_decode(rest)


def topic_query(rest):
    # b"...?a=1&b=2" -> {"a": "1", "b": "2"}
    q = rest.find(b"?")
    if q < 0:
        return {}
    return props_decode(rest[q + 1 :])
