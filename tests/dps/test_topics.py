"""DPS's MQTT dialect: user names, request topics, response topics, derived keys (tables)."""

import base64
import hashlib
import hmac

import pytest

from host_tools.dps.topics import (
    DpsRequest,
    dps_parse_request_topic,
    dps_parse_user_name,
    dps_response_topic,
    registration_id_problem,
    sas_derive_device_key,
)


@pytest.mark.parametrize(
    ("user_name", "expected"),
    [
        ("0ne00000001/registrations/dev-1/api-version=2019-03-31", ("0ne00000001", "dev-1")),
        (
            "0ne00000001/registrations/dev-1/api-version=2019-03-31&ClientVersion=azure-iot%2F2",
            ("0ne00000001", "dev-1"),
        ),
        ("0ne00000001/registrations/dev-1/?api-version=2019-03-31", ("0ne00000001", "dev-1")),
        ("0ne00000001/registrations/dev-1/", None),  # no api-version
        ("0ne00000001/devices/dev-1/api-version=2019-03-31", None),
        ("/registrations/dev-1/api-version=2019-03-31", None),
        ("localhost/dev-1/?api-version=2021-04-12", None),  # IoT Hub's, not DPS's
    ],
)
def test_dps_parse_user_name_table(user_name, expected):
    parsed = dps_parse_user_name(user_name)
    assert (parsed and (parsed.id_scope, parsed.registration_id)) == expected or (
        parsed is None and expected is None
    )


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("$dps/registrations/PUT/iotdps-register/?$rid=1", DpsRequest("register", "1")),
        (
            "$dps/registrations/GET/iotdps-get-operationstatus/?$rid=2&operationId=4.a.b",
            DpsRequest("operation-status", "2", "4.a.b"),
        ),
        (
            "$dps/registrations/GET/iotdps-get-operationstatus/?$rid=a%20b&operationId=4%2Ex",
            DpsRequest("operation-status", "a b", "4.x"),
        ),
        ("$dps/registrations/res/202/?$rid=1", None),
        ("devices/dev-1/messages/events/", None),
    ],
)
def test_dps_parse_request_topic_table(topic, expected):
    assert dps_parse_request_topic(topic) == expected


@pytest.mark.parametrize(
    ("status", "rid", "retry_after", "expected"),
    [
        (202, "1", 3, "$dps/registrations/res/202/?$rid=1&retry-after=3"),
        (200, "1", None, "$dps/registrations/res/200/?$rid=1"),
        (401, "a/b", None, "$dps/registrations/res/401/?$rid=a%2Fb"),
    ],
)
def test_dps_response_topic_table(status, rid, retry_after, expected):
    assert dps_response_topic(status, rid, retry_after) == expected


def test_sas_derive_device_key_is_hmac_of_registration_id():
    group_key = base64.b64encode(b"g" * 32).decode()
    expected = base64.b64encode(
        hmac.new(b"g" * 32, b"sensor-001", hashlib.sha256).digest()
    ).decode()
    assert sas_derive_device_key(group_key, "sensor-001") == expected


@pytest.mark.parametrize(
    ("registration_id", "valid"),
    [
        ("dev-1", True),
        ("a.b_c:d-", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("", False),
        ("dev.", False),
        ("dev 1", False),
        ("dév", False),
    ],
)
def test_registration_id_problem_table(registration_id, valid):
    assert (registration_id_problem(registration_id) is None) == valid
