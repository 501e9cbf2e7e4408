# dps.py: the Device Provisioning Service's MQTT dialect (../shared/IOTHUB_FACTS.md): the register
# and operation-status topics, and what a response means (the user name is provision.py's).
# Pure: strings and bytes in, values or an AgentError out. Loaded only while provisioning, after
# the TLS handshake (provision.py).
import json

from errors import AgentError
from micropython import const
from props import props_decode_query, url_encode

_RESPONSE_PREFIX = const(b"$dps/registrations/res/")
_RETRY_AFTER_DEFAULT_S = const(3)  # DPS sends retry-after with 202; without one, what it sends
_RETRY_AFTER_MAX_S = const(600)  # a throttled device waits at most this before asking again


def dps_get_subscribe_filter():
    return b"$dps/registrations/res/#"


def dps_register_topic(rid):
    return ("$dps/registrations/PUT/iotdps-register/?$rid=%d" % rid).encode()


def dps_status_topic(rid, operation_id):
    return (
        "$dps/registrations/GET/iotdps-get-operationstatus/?$rid=%d&operationId=%s"
        % (rid, url_encode(operation_id))
    ).encode()


def dps_register_body(registration_id, payload=None):
    body = {"registrationId": registration_id}
    if payload is not None:
        body["payload"] = payload
    return json.dumps(body).encode()


def dps_parse_response(topic, body):
    # `$dps/registrations/res/{status}/?$rid={rid}&retry-after={s}` -> (status, rid, retry-after
    # in seconds or None, the JSON document or None), or None for a topic that is not DPS's.
    if not topic.startswith(_RESPONSE_PREFIX):
        return None
    rest = topic[len(_RESPONSE_PREFIX) :]
    slash = rest.find(b"/")
    if slash <= 0:
        raise ValueError("DPS response topic without a status")
    status = int(rest[:slash])
    query = props_decode_query(rest)
    rid = int(query.get("$rid") or -1)
    retry = query.get("retry-after")
    retry = None if retry is None else int(retry)
    document = None
    if len(body):
        try:
            document = json.loads(bytes(body))
        except (ValueError, RuntimeError):  # RuntimeError: nested deeper than json recurses
            document = None
    return status, rid, retry, document


def dps_retry_after_s(retry_after):
    # The wait before the next operation-status request: DPS's retry-after, in a sane range.
    if retry_after is None:
        return _RETRY_AFTER_DEFAULT_S
    return min(max(retry_after, 1), _RETRY_AFTER_MAX_S)


def dps_outcome(status, document, registration_id):
    # -> ("wait", operation id) while DPS is still assigning, ("assigned", hub, device id), or
    # raises the AgentError that ends this attempt (its kind sets the backoff: "auth" waits
    # retry_auth_s, long, so a refused or disabled device does not hammer DPS).
    doc = document if isinstance(document, dict) else {}
    if status == 202 or status == 429 or status >= 500:
        return "wait", doc.get("operationId")
    if status == 200:
        state = doc.get("status")
        if state == "assigning" or state == "unassigned":
            return "wait", doc.get("operationId")
        record = doc.get("registrationState")
        if not isinstance(record, dict):
            record = {}
        if state == "assigned":
            hub = record.get("assignedHub")
            device_id = record.get("deviceId")
            if _is_name(hub, ":/?#@") and _is_name(device_id, "/?#"):
                return "assigned", hub, device_id
            raise AgentError(
                "protocol",
                "DPS said assigned but named no valid hub or device id: " + _said(repr(record)),
            )
        if state == "disabled":
            raise AgentError(
                "auth",
                "DPS: the enrollment of %r is disabled: enable it in DPS to let this board in"
                % registration_id,
            )
        raise AgentError(
            "auth",
            "DPS: registration of %r %s: %s"
            % (registration_id, state or "failed", _said(record.get("errorMessage"))),
        )
    said = _said(doc.get("message"))
    if status == 401:
        raise AgentError(
            "auth",
            "DPS refused registration %r (401: %s): is it enrolled with this certificate (or "
            "key), its CA verified, cert_file the chain?" % (registration_id, said),
            status,
        )
    if status == 404:
        raise AgentError(
            "auth",
            "DPS has no enrollment for %r (404: %s): enroll it, or its CA as a group"
            % (registration_id, said),
            status,
        )
    raise AgentError("protocol", "DPS answered %d: %s" % (status, said), status)


def _is_name(value, forbidden):
    # A host name or device id the agent can put in topics and its user name as it is.
    if not isinstance(value, str) or not 0 < len(value) <= 128:
        return False
    for c in value:
        if c in forbidden or c <= " ":
            return False
    return True


def _said(message):
    # What DPS said, on one line and short: it reaches the board's console.
    if not isinstance(message, str) or not message:
        return "no reason given"
    message = message.replace("\n", " ")
    return message if len(message) <= 160 else message[:157] + "..."
