# twin.py: the device twin. Pure part: topics, documents, desired patches, stale versions.
# Agent part (twin_request_get, twin_send_report, twin_handle): the agent loads this module when a
# twin message comes or goes and unloads it after, to keep its RAM free.
import json

from micropython import const
from topic_parse import topic_query

_TWIN_RES = const(b"$iothub/twin/res/")
_TWIN_DESIRED = const(b"$iothub/twin/PATCH/properties/desired/")


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
    query = topic_query(rest)
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
    version = topic_query(topic[len(_TWIN_DESIRED) :]).get("$version")
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


def _next_rid(agent, kind):
    agent._rid += 1
    rid = str(agent._rid)
    agent._requests[rid] = kind
    return rid


def twin_request_get(agent):
    rid = _next_rid(agent, "get")
    agent._session.publish(twin_get_request_topic(rid), b"", False, 0)


def twin_connected(agent):
    # Just connected: GET the full twin, send the reported properties kept while offline.
    agent._requests = {}
    twin_request_get(agent)
    if agent._report:
        twin_send_report(agent)


def twin_send_report(agent):
    patch = agent._report
    agent._report = None
    body = json.dumps(patch).encode()
    rid = _next_rid(agent, ("report", patch))
    try:
        agent._session.publish(twin_get_patch_reported_topic(rid), body, False, 0)
    except Exception:
        agent._requests.pop(rid, None)
        _merge_report(agent, patch)
        raise


def _merge_report(agent, patch):
    # A failed update is retried later; newer values set meanwhile win.
    if agent._report is None:
        agent._report = patch
    else:
        for key in patch:
            if key not in agent._report:
                agent._report[key] = patch[key]


def twin_handle(agent, topic, payload):
    response = twin_parse_response_topic(topic)
    if response is not None:
        _response(agent, response, payload)
        return True
    version = twin_parse_desired_topic(topic)
    if version is not None:
        patch, version = twin_parse_desired_patch(payload, version)
        _apply_desired(agent, patch, version)
        return True
    return False


def _response(agent, response, payload):
    status, rid, version = response
    kind = agent._requests.pop(rid, None)
    if kind == "get":
        if status != 200:
            print("agent: error: twin GET answered %d" % status)
            return
        desired, dversion, reported = twin_parse_document(payload)
        agent.twin = {"desired": desired, "reported": reported}
        if isinstance(reported, dict) and "$version" in reported:
            agent.reported_version = reported["$version"]
        print("agent: twin received (desired version %d)" % dversion)
        _apply_desired(agent, desired, dversion, True)
    elif isinstance(kind, tuple):
        if 200 <= status < 300:
            agent.reported_version = version
            print("agent: reported properties (version %s)" % version)
        else:
            print("agent: error: reported properties refused (status %d)" % status)
            if status == 429 or status >= 500:
                _merge_report(agent, kind[1])


def _apply_desired(agent, patch, version, document=False):
    # The full document at each connect is applied at the version already held too (the
    # handler gets the whole desired state again, as docs/firmware.md promises); a patch is not.
    have = agent.desired_version
    if twin_is_stale(version, have) and not (document and version == have):
        print("agent: ignored stale desired version %d (have %d)" % (version, have))
        return
    agent.desired_version = version
    agent.stats["desired"] += 1
    if agent.twin is not None:
        desired = agent.twin.get("desired", {})
        for key in patch:
            desired[key] = patch[key]
    if agent._desired is not None:
        try:
            agent._desired(patch, version)
        except Exception as exc:
            print("agent: error: desired handler failed: %s: %s" % (type(exc).__name__, exc))
