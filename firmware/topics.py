# topics.py: IoT Hub MQTT topics and property bags, built. Pure: str in, bytes out (topics go
# straight into packets). The parsers are in topic_parse.py, loaded only with incoming messages;
# the user name and the subscribe topics in topics_connect.py, loaded only while connecting.
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


def props_encode(properties):
    # {"k": "v", "n": None} -> "k=v&n"; keys and values URL-encoded; a None value is a bare key.
    parts = []
    for key in properties or ():
        value = properties[key]
        parts.append(
            url_encode(key) if value is None else url_encode(key) + "=" + url_encode(value)
        )
    return "&".join(parts)


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
    if content_type == "application/json":
        parts.append("%24.ct=application%2Fjson")  # the default: not re-encoded per message
    elif content_type:
        parts.append("%24.ct=" + url_encode(content_type))
    if content_encoding:
        parts.append("%24.ce=" + url_encode(content_encoding))
    if properties:
        parts.append(props_encode(properties))
    return ("devices/" + device_id + "/messages/events/" + "&".join(parts)).encode()
