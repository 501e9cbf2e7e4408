# methods.py: direct method requests answered by name. The handler is an argument; the rest is pure.
import json

STATUS_OK = 200
STATUS_NOT_FOUND = 404
STATUS_ERROR = 500


def method_parse_payload(body):
    if not len(body):
        return None
    return json.loads(bytes(body))


def method_call(handlers, name, body):
    # -> (status, JSON body bytes). Unknown method: 404; handler exception: 500 with its message.
    handler = handlers.get(name)
    if handler is None:
        return STATUS_NOT_FOUND, json.dumps({"error": "unknown method: " + name}).encode()
    try:
        payload = method_parse_payload(body)
    except ValueError:
        return 400, json.dumps({"error": "payload is not JSON"}).encode()
    try:
        result = handler(payload)
    except Exception as exc:
        return STATUS_ERROR, json.dumps({"error": "%s: %s" % (type(exc).__name__, exc)}).encode()
    status = STATUS_OK
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], int):
        status, result = result
    try:
        return status, json.dumps(result).encode()
    except (TypeError, ValueError) as exc:
        return STATUS_ERROR, json.dumps({"error": "result is not JSON: %s" % exc}).encode()
