"""DPS's MQTT dialect as pure functions: user name, request topics, response topics, keys.

Parsers return a value or None ("not this"), as host_tools/hub/topics.py does, so the server can
try one after another. No sockets, no clocks: the device side can be checked against the same
vectors.
"""

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from urllib.parse import quote

from host_tools.hub.topics import property_bag_decode

API_VERSION = "2019-03-31"
RESPONSE_FILTER = "$dps/registrations/res/#"
REGISTER_PREFIX = "$dps/registrations/PUT/iotdps-register/?"
OPERATION_STATUS_PREFIX = "$dps/registrations/GET/iotdps-get-operationstatus/?"
SAS_KEY_NAME = "registration"  # skn; the Python SDK leaves it out, the C SDK sends it
# DPS: up to 128 characters, case-insensitive, alphanumeric plus - . _ : ; the last one
# alphanumeric or '-'
_REGISTRATION_ID = re.compile(r"[A-Za-z0-9\-._:]{0,127}[A-Za-z0-9\-]")


def registration_id_problem(registration_id: str) -> str | None:
    """Why `registration_id` is not one DPS accepts, or None."""
    if not registration_id:
        return "it is empty"
    if not _REGISTRATION_ID.fullmatch(registration_id):
        return (
            "use up to 128 letters, digits, '-', '.', '_' or ':', ending in a letter, digit or '-'"
        )
    return None


@dataclass
class UserName:
    id_scope: str
    registration_id: str
    query: dict


def dps_parse_user_name(user_name: str) -> UserName | None:
    """`{idScope}/registrations/{registrationId}/api-version=...&...` -> UserName, or None.

    No `?` before the query, unlike IoT Hub's user name; the SDK may add `ClientVersion=...`.
    """
    parts = user_name.split("/", 3)
    if len(parts) != 4 or parts[1] != "registrations" or not parts[0] or not parts[2]:
        return None
    query = property_bag_decode(parts[3].removeprefix("?"))
    if not query.get("api-version"):
        return None
    return UserName(parts[0], parts[2], query)


@dataclass
class DpsRequest:
    kind: str  # "register" or "operation-status"
    request_id: str
    operation_id: str | None = None


def dps_parse_request_topic(topic: str) -> DpsRequest | None:
    """A register or operation-status publish topic -> DpsRequest, or None for another topic."""
    if topic.startswith(REGISTER_PREFIX):
        query = property_bag_decode(topic[len(REGISTER_PREFIX) :])
        return DpsRequest("register", query.get("$rid") or "")
    if topic.startswith(OPERATION_STATUS_PREFIX):
        query = property_bag_decode(topic[len(OPERATION_STATUS_PREFIX) :])
        return DpsRequest("operation-status", query.get("$rid") or "", query.get("operationId"))
    return None


def dps_response_topic(status: int, request_id: str, retry_after: int | None = None) -> str:
    """`$dps/registrations/res/{status}/?$rid={rid}[&retry-after={s}]`."""
    topic = f"$dps/registrations/res/{status}/?$rid={quote(request_id, safe='')}"
    return topic if retry_after is None else f"{topic}&retry-after={retry_after}"


def dps_sas_resource(id_scope: str, registration_id: str) -> str:
    """The `sr` of a DPS SAS token, before URL encoding."""
    return f"{id_scope}/registrations/{registration_id}"


def sas_derive_device_key(group_key_b64: str, registration_id: str) -> str:
    """A group enrollment's device key: base64(HMAC-SHA256(base64decode(group key), id))."""
    digest = hmac.new(
        base64.b64decode(group_key_b64), registration_id.encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()
