# c2d.py: cloud-to-device messages: the subscribe filter, the received topic's parser and the
# hand-off to the application's handler. Pure but for c2d_handle. Loaded per message (and for its
# filter while connecting), unloaded after.
from props import props_decode


def c2d_get_subscribe_filter(device_id):
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


def c2d_handle(device_id, handler, topic, payload):
    # -> True when `topic` was a C2D message (given to handler(body bytes, properties dict); its
    # failure is one line), False when it is not one.
    properties = c2d_parse_received_topic(device_id, topic)
    if properties is None:
        return False
    if handler is None:
        print("agent: c2d message received (no handler)")
        return True
    try:
        handler(bytes(payload), properties)
    except Exception as exc:
        print("agent: error: c2d handler failed: %s: %s" % (type(exc).__name__, exc))
    return True
