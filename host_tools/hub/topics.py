"""IoT Hub's MQTT topics, property bags and user names, as pure functions.

Parsers return a value or None ("not this topic"), so the server can try one after another.
"""

from dataclasses import dataclass
from urllib.parse import quote, unquote

TWIN_RESPONSE_FILTER = "$iothub/twin/res/#"
TWIN_DESIRED_FILTER = "$iothub/twin/PATCH/properties/desired/#"
METHODS_FILTER = "$iothub/methods/POST/#"


def c2d_filter(device_id: str) -> str:
    return f"devices/{device_id}/messages/devicebound/#"


def property_bag_decode(bag: str) -> dict:
    """`k=v&k2=v2` (URL-encoded) -> dict; a key without `=` maps to None (a null property)."""
    properties = {}
    for item in bag.split("&"):
        if not item:
            continue
        key, sep, value = item.partition("=")
        properties[unquote(key)] = unquote(value) if sep else None
    return properties


def property_bag_encode(properties: dict) -> str:
    """dict -> `k=v&k2=v2`; every reserved character (`/` and `$` too) encoded, as the hub does.

    A None value becomes a bare `key` (a null property), an empty string `key=`.
    """
    items = []
    for key, value in properties.items():
        encoded_key = quote(str(key), safe="")
        items.append(
            encoded_key if value is None else f"{encoded_key}={quote(str(value), safe='')}"
        )
    return "&".join(items)


@dataclass
class UserName:
    host_name: str
    device_id: str
    query: dict


def user_name_parse(user_name: str) -> UserName | None:
    """`{host}/{deviceId}/?api-version=...&...` -> UserName, or None when malformed.

    The host name and device id are not URL-encoded; the query values are.
    """
    if "/?" not in user_name:
        return None
    path, _, query = user_name.partition("/?")
    host_name, sep, device_id = path.partition("/")
    if not sep or not host_name or not device_id or "/" in device_id:
        return None
    parsed = property_bag_decode(query)
    if not parsed.get("api-version"):
        return None
    return UserName(host_name, device_id, parsed)


def telemetry_parse_topic(topic: str, device_id: str) -> dict | None:
    """The property bag of `devices/{id}/messages/events/{bag}`, or None for another topic."""
    prefix = f"devices/{device_id}/messages/events/"
    if topic == prefix[:-1]:
        return {}
    if not topic.startswith(prefix):
        return None
    return property_bag_decode(topic[len(prefix) :])


def c2d_topic(device_id: str, properties: dict) -> str:
    return f"devices/{device_id}/messages/devicebound/{property_bag_encode(properties)}"


@dataclass
class TwinRequest:
    kind: str  # "get" or "patch-reported"
    request_id: str


def twin_parse_request(topic: str) -> TwinRequest | None:
    """`$iothub/twin/GET/?$rid=X` or `$iothub/twin/PATCH/properties/reported/?$rid=X`."""
    for prefix, kind in (
        ("$iothub/twin/GET/?", "get"),
        ("$iothub/twin/PATCH/properties/reported/?", "patch-reported"),
    ):
        if topic.startswith(prefix):
            query = property_bag_decode(topic[len(prefix) :])
            return TwinRequest(kind, query.get("$rid") or "")
    return None


def twin_response_topic(status: int, request_id: str, version: int | None = None) -> str:
    topic = f"$iothub/twin/res/{status}/?$rid={quote(request_id, safe='')}"
    return topic if version is None else f"{topic}&$version={version}"


def twin_desired_topic(version: int) -> str:
    return f"$iothub/twin/PATCH/properties/desired/?$version={version}"


def method_request_topic(name: str, request_id: str) -> str:
    return f"$iothub/methods/POST/{name}/?$rid={request_id}"


@dataclass
class MethodResponse:
    status: int
    request_id: str


def method_parse_response(topic: str) -> MethodResponse | None:
    """`$iothub/methods/res/{status}/?$rid={id}` -> MethodResponse, or None."""
    prefix = "$iothub/methods/res/"
    if not topic.startswith(prefix):
        return None
    status_text, sep, query = topic[len(prefix) :].partition("/?")
    # ASCII digits only ("²".isdigit() is True), and few enough for the service's 32-bit status
    if not sep or not (status_text.isascii() and status_text.isdigit()) or len(status_text) > 9:
        return None
    return MethodResponse(int(status_text), property_bag_decode(query).get("$rid") or "")


def subscription_allowed(topic_filter: str, device_id: str) -> bool:
    """Whether a device may subscribe to `topic_filter`: only its own C2D, twin and methods."""
    c2d_prefix = f"devices/{device_id}/messages/devicebound/"
    if topic_filter.startswith(c2d_prefix) and topic_filter.endswith("#"):
        return True
    return topic_filter in (TWIN_RESPONSE_FILTER, TWIN_DESIRED_FILTER, METHODS_FILTER)


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT wildcard matching (`+` one level, `#` the rest)."""
    filter_levels = topic_filter.split("/")
    topic_levels = topic.split("/")
    for index, level in enumerate(filter_levels):
        if level == "#":
            return True
        if index >= len(topic_levels):
            return False
        if level != "+" and level != topic_levels[index]:
            return False
    return len(filter_levels) == len(topic_levels)
