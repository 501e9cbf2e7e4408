# methods.py: direct methods: the subscribe filter, the request topic's parser, the response topic,
# method_call (the handler is an argument) and methods_handle. Pure but for methods_handle.
# Loaded per request (and for its filter while connecting), unloaded after.
import json

from micropython import const
from props import props_decode_query, url_decode

_METHODS_POST = const(b"$iothub/methods/POST/")
_STATUS_OK = const(200)
_STATUS_NOT_FOUND = const(404)
_STATUS_ERROR = const(500)


def methods_get_subscribe_filter():
    return b"$iothub/methods/POST/#"


def method_parse_payload(body):
    if not len(body):
        return None
    return json.loads(bytes(body))


def method_call(handlers, name, body):
    # -> (status, JSON body bytes). Unknown method: 404; handler exception: 500 with its message.
    handler = handlers.get(name)
    if handler is None:
        return _STATUS_NOT_FOUND, json.dumps({"error": "unknown method: " + name}).encode()
    try:
        payload = method_parse_payload(body)
    except (ValueError, RuntimeError):  # RuntimeError: nested deeper than CPython's json recurses
        return 400, json.dumps({"error": "payload is not JSON"}).encode()
    try:
        result = handler(payload)
    except Exception as exc:
        return _STATUS_ERROR, json.dumps({"error": "%s: %s" % (type(exc).__name__, exc)}).encode()
    status = _STATUS_OK
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], int):
        status, result = result
    try:
        return status, json.dumps(result).encode()
    except (TypeError, ValueError, RuntimeError) as exc:
        return _STATUS_ERROR, json.dumps({"error": "result is not JSON: %s" % exc}).encode()


def method_parse_request_topic(topic):
    # b"$iothub/methods/POST/reboot/?$rid=5" -> ("reboot", "5"), or None.
    topic = bytes(topic)
    if not topic.startswith(_METHODS_POST):
        return None
    rest = topic[len(_METHODS_POST) :]
    slash = rest.find(b"/")
    if slash <= 0:
        return None
    rid = props_decode_query(rest[slash:]).get("$rid")
    if rid is None:
        return None
    return url_decode(rest[:slash]), rid


def method_get_response_topic(status, request_id):
    return ("$iothub/methods/res/" + str(status) + "/?$rid=" + str(request_id)).encode()


def methods_handle(session, handlers, topic, payload):
    # -> True when `topic` was a method request (answered), False when it is not one.
    request = method_parse_request_topic(topic)
    if request is None:
        return False
    name, rid = request
    status, answer = method_call(handlers, name, payload)
    session.publish(method_get_response_topic(status, rid), answer, False, 0)
    print("agent: method %s -> %d" % (name, status))
    return True
