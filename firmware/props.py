# props.py: the property-bag codec of IoT Hub topics ("k=v&n&e=", keys and values URL-encoded),
# both ways, and the query string of a topic. Pure: str or bytes in, str / dict out. Resident:
# every telemetry topic is encoded with it.
from micropython import const

_UNRESERVED = const(b"-._~")  # RFC 3986 unreserved, besides letters and digits


def url_encode(text):
    # Percent-encode everything but RFC 3986 unreserved characters (as the Python SDK does: "$"
    # becomes %24, "/" becomes %2F, space becomes %20).
    text = text if isinstance(text, str) else str(text)
    data = text.encode()
    for b in data:
        if not (48 <= b <= 57 or 65 <= b <= 90 or 97 <= b <= 122 or b in _UNRESERVED):
            break
    else:
        return text  # nothing to escape: no new string
    out = []
    for b in data:
        if 48 <= b <= 57 or 65 <= b <= 90 or 97 <= b <= 122 or b in _UNRESERVED:
            out.append(chr(b))
        else:
            out.append("%%%02X" % b)
    return "".join(out)


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
    parts = []
    for key in properties or ():
        value = properties[key]
        parts.append(
            url_encode(key) if value is None else url_encode(key) + "=" + url_encode(value)
        )
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


def props_decode_query(rest):
    # b"...?a=1&b=2" -> {"a": "1", "b": "2"}
    q = rest.find(b"?")
    if q < 0:
        return {}
    return props_decode(rest[q + 1 :])
