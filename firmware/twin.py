# twin.py: the device twin: subscribe filters, request topics, response and desired topic parsers,
# documents, desired patches, stale versions (pure); twin_send and twin_handle take the agent's
# twin values and return the new ones (the agent assigns them). Loaded when a twin message comes
# or goes (and for its filters while connecting), unloaded after.
import json

from micropython import const
from props import props_decode_query

_TWIN_RES = const(b"$iothub/twin/res/")
_TWIN_DESIRED = const(b"$iothub/twin/PATCH/properties/desired/")
_GET = const("get")  # what a request id in `requests` stands for; else the reported patch sent


def twin_get_subscribe_filters():
    return (b"$iothub/twin/res/#", b"$iothub/twin/PATCH/properties/desired/#")


def twin_get_request_topic(request_id):
    return ("$iothub/twin/GET/?$rid=" + str(request_id)).encode()


def twin_get_patch_reported_topic(request_id):
    return ("$iothub/twin/PATCH/properties/reported/?$rid=" + str(request_id)).encode()


def twin_parse_response_topic(topic):
    # b"$iothub/twin/res/200/?$rid=1&$version=3" -> (200, "1", 3 or None), or None.
    topic = bytes(topic)
    if not topic.startswith(_TWIN_RES):
        return None
    rest = topic[len(_TWIN_RES) :]
    slash = rest.find(b"/")
    if slash <= 0:
        return None
    try:
        status = int(rest[:slash])
    except ValueError:
        return None
    query = props_decode_query(rest)
    version = query.get("$version")
    try:
        version = int(version) if version else None
    except ValueError:
        version = None
    return status, query.get("$rid"), version


def twin_parse_desired_topic(topic):
    # b"$iothub/twin/PATCH/properties/desired/?$version=7" -> 7 (or -1 if absent), or None.
    topic = bytes(topic)
    if not topic.startswith(_TWIN_DESIRED):
        return None
    version = props_decode_query(topic[len(_TWIN_DESIRED) :]).get("$version")
    try:
        return int(version) if version else -1
    except ValueError:
        return -1


def _json_object(body, what):
    # A JSON object or ValueError (CPython's json raises RecursionError, a RuntimeError, on very
    # deep nesting: the emulated board runs this under CPython).
    try:
        value = json.loads(bytes(body)) if len(body) else {}
    except RuntimeError:
        raise ValueError(what + " nests too deep")
    if not isinstance(value, dict):
        raise ValueError(what + " is not an object")
    return value


def _version(value):
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


def twin_parse_document(body):
    # Full GET answer -> (desired dict without "$version", desired version, reported dict).
    doc = _json_object(body, "twin document")
    desired = doc.get("desired") or {}
    reported = doc.get("reported") or {}
    if not isinstance(desired, dict) or not isinstance(reported, dict):
        raise ValueError("twin desired/reported is not an object")
    return _without_version(desired), _version(desired.get("$version", -1)), reported


def twin_parse_desired_patch(body, topic_version=-1):
    # Desired patch -> (patch without "$version", version); the body's $version wins.
    patch = _json_object(body, "desired patch")
    version = patch.get("$version", topic_version)
    if version is None:
        version = topic_version
    return _without_version(patch), _version(version)


def twin_is_stale(version, last_version):
    # A patch or document at or below the version already applied is ignored.
    return (
        version is not None
        and version >= 0
        and last_version is not None
        and version <= last_version
    )


def _without_version(d):
    if "$version" not in d:
        return d
    out = {}
    for key in d:
        if key != "$version":
            out[key] = d[key]
    return out


def twin_send(session, requests, report, rid, get):
    # GET the full twin (when `get`) and send the pending reported patch (when not empty).
    # -> (requests, report, rid): the agent's new values. A failed publish raises; the agent then
    # still holds its report (nothing was assigned) for the next connect.
    if get:
        rid += 1
        requests[str(rid)] = _GET
        session.publish(twin_get_request_topic(rid), b"", False, 0)
    if report:
        rid += 1
        key = str(rid)
        requests[key] = report
        try:
            session.publish(
                twin_get_patch_reported_topic(key), json.dumps(report).encode(), False, 0
            )
        except Exception:
            requests.pop(key, None)
            raise
        report = {}
    return requests, report, rid


def _merge_report(report, patch):
    # A failed update is retried later; newer values set meanwhile win.
    for key in patch:
        if key not in report:
            report[key] = patch[key]
    return report


def twin_handle(agent, session, topic, payload):
    # -> (counter, twin, desired_version, reported_version, report, requests): "" when `topic` is
    # not the twin's, else "twin" or "desired" (stats), and the agent's new twin values.
    values = [agent.twin, agent.desired_version, agent.reported_version]
    report = agent._twin_report
    requests = agent._twin_requests
    counter = ""
    response = twin_parse_response_topic(topic)
    if response is not None:
        counter = "twin"
        status, rid, version = response
        kind = requests.pop(rid, None)
        if kind == _GET:
            if status != 200:
                print("agent: error: twin GET answered %d" % status)
            else:
                desired, dversion, reported = twin_parse_document(payload)
                values[0] = {"desired": desired, "reported": reported}
                if "$version" in reported:
                    values[2] = reported["$version"]
                print("agent: twin received (desired version %d)" % dversion)
                if _apply_desired(agent, values, desired, dversion, True):
                    counter = "desired"
        elif isinstance(kind, dict):
            if 200 <= status < 300:
                values[2] = version
                print("agent: reported properties (version %s)" % version)
            else:
                print("agent: error: reported properties refused (status %d)" % status)
                if status == 429 or status >= 500:
                    report = _merge_report(report, kind)
    else:
        version = twin_parse_desired_topic(topic)
        if version is not None:
            counter = "twin"
            patch, version = twin_parse_desired_patch(payload, version)
            if _apply_desired(agent, values, patch, version, False):
                counter = "desired"
    return counter, values[0], values[1], values[2], report, requests


def _apply_desired(agent, values, patch, version, document):
    # -> True when applied. The full document at each connect is applied at the version already
    # held too (the handler gets the whole desired state again, as docs/firmware.md promises); a
    # patch is not. `values` is [twin, desired_version, reported_version], updated in place.
    have = values[1]
    if twin_is_stale(version, have) and not (document and version == have):
        print("agent: ignored stale desired version %d (have %d)" % (version, have))
        return False
    values[1] = version
    if values[0] is not None and not document:
        desired = values[0].get("desired", {})
        for key in patch:
            desired[key] = patch[key]
    handler = agent._desired
    if handler is not None:
        try:
            handler(patch, version)
        except Exception as exc:
            print("agent: error: desired handler failed: %s: %s" % (type(exc).__name__, exc))
    return True
