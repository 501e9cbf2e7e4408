# topics.py: IoT Hub MQTT topics and property bags, built and parsed. Pure: str/bytes in and out.
# Built topics are bytes (they go straight into packets); parsers take bytes or str.

API_VERSION = "2021-04-12"
_HEX = "0123456789ABCDEF"


def url_encode(text):
    # Percent-encode everything but RFC 3986 unreserved characters (as the Python SDK does: "$"
    # becomes %24, "/" becomes %2F, space becomes %20).
    if not isinstance(text, str):
        text = str(text)
    data = text.encode()
    plain = True
    for b in data:
        if not _is_unreserved(b):
            plain = False
            break
    if plain:
        return text
    out = []
    for b in data:
        if _is_unreserved(b):
            out.append(chr(b))
        else:
            out.append("%" + _HEX[b >> 4] + _HEX[b & 15])
    return "".join(out)


def _is_unreserved(b):
    return (
        (48 <= b <= 57)
        or (65 <= b <= 90)
        or (97 <= b <= 122)
        or b == 45  # -
        or b == 46  # .
        or b == 95  # _
        or b == 126  # ~
    )


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


def props_encode(properties):
    # {"k": "v", "n": None} -> "k=v&n"; keys and values URL-encoded; a None value is a bare key.
    if not properties:
        return ""
    parts = []
    for key in properties:
        value = properties[key]
        if value is None:
            parts.append(url_encode(key))
        else:
            parts.append(url_encode(key) + "=" + url_encode(value))
    return "&".join(parts)


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


def iothub_user_name(hub_host, device_id, model_id=None):
    user = hub_host + "/" + device_id + "/?api-version=" + API_VERSION
    if model_id:
        user += "&model-id=" + url_encode(model_id)
    return user


def telemetry_get_publish_topic(
    device_id,
    properties=None,
    message_id=None,
    content_type="application/json",
    content_encoding="utf-8",
):
    # System properties first ($.mid, $.ct, $.ce), then application properties.
    parts = []
    if message_id is not None:
        parts.append("%24.mid=" + url_encode(message_id))
    if content_type:
        parts.append("%24.ct=" + url_encode(content_type))
    if content_encoding:
        parts.append("%24.ce=" + url_encode(content_encoding))
    bag = props_encode(properties)
    if bag:
        parts.append(bag)
    return ("devices/" + device_id + "/messages/events/" + "&".join(parts)).encode()


def c2d_get_subscribe_topic(device_id):
    return ("devices/" + device_id + "/messages/devicebound/#").encode()


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


TWIN_RESPONSE_SUBSCRIBE = b"$iothub/twin/res/#"
TWIN_DESIRED_SUBSCRIBE = b"$iothub/twin/PATCH/properties/desired/#"
METHODS_SUBSCRIBE = b"$iothub/methods/POST/#"


def subscribe_topics(device_id):
    return (
        c2d_get_subscribe_topic(device_id),
        TWIN_RESPONSE_SUBSCRIBE,
        TWIN_DESIRED_SUBSCRIBE,
        METHODS_SUBSCRIBE,
    )


def topic_query(rest):
    # b"...?a=1&b=2" -> {"a": "1", "b": "2"}
    q = rest.find(b"?")
    if q < 0:
        return {}
    return props_decode(rest[q + 1 :])
