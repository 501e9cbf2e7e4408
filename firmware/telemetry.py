# telemetry.py: device-to-cloud messages: the publish topic with its system and application
# properties. Pure. Resident: every send() builds one. (The agent's loop calls the telemetry
# callback; docs/firmware.md.)
from props import props_encode, url_encode


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
