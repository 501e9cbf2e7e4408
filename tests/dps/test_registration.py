"""The DPS core without sockets: attestation, operations and allocation, time as an argument."""

import base64
import json
import os
import stat
import time
from urllib.parse import quote

import pytest

from host_tools import certs
from host_tools.dps.enrollments import EnrollmentStore
from host_tools.dps.registration import Provisioning
from host_tools.dps.topics import dps_sas_resource, sas_derive_device_key
from host_tools.hub.auth import sas_token_sign
from host_tools.hub.registry import Registry

GROUP_KEY = base64.b64encode(b"G" * 32).decode()
NOW = time.time()


@pytest.fixture
def dps(tmp_path):
    registry = Registry(tmp_path)
    return Provisioning(EnrollmentStore(tmp_path), registry, "localhost")


def sas_token(dps, registration_id, key, expiry=None, key_name=None):
    resource = quote(dps_sas_resource(dps.store.id_scope, registration_id), safe="")
    expiry = int(NOW) + 3600 if expiry is None else expiry
    signature = quote(sas_token_sign(key, resource, expiry), safe="")
    token = f"SharedAccessSignature sr={resource}&sig={signature}&se={expiry}"
    return token + (f"&skn={key_name}" if key_name else "")


def body(registration_id, payload=None):
    return json.dumps({"registrationId": registration_id, "payload": payload}).encode()


def sas_group(dps, **extra):
    attestation = {"type": "symmetricKey", "symmetricKey": {"primaryKey": GROUP_KEY}}
    dps.store.put_group("fleet", {"attestation": attestation, **extra}, {}, NOW)


def register(dps, registration_id, token, now=NOW, chain=()):
    return dps.register(registration_id, list(chain), token, body(registration_id), now)


def test_register_then_poll_202_until_assignment_delay_then_200(dps):
    sas_group(dps)
    dps.assignment_delay_s, dps.retry_after_s = 5, 2
    token = sas_token(dps, "dev-1", sas_derive_device_key(GROUP_KEY, "dev-1"))
    answer, operation = register(dps, "dev-1", token)
    assert (answer.status, answer.body["status"], answer.retry_after) == (202, "assigning", 2)
    early = dps.operation_status("dev-1", operation.operation_id, NOW + 1)
    assert (early.status, early.retry_after, operation.early_polls) == (202, 2, 1)
    assert "dev-1" not in dps.registry.devices
    done = dps.operation_status("dev-1", operation.operation_id, NOW + 5)
    assert done.status == 200 and done.retry_after is None
    state = done.body["registrationState"]
    assert (state["status"], state["assignedHub"], state["deviceId"]) == (
        "assigned",
        "localhost",
        "dev-1",
    )
    assert state["symmetricKey"] == {"enrollmentGroupId": "fleet"}
    assert dps.registry.devices["dev-1"]["authentication"]["type"] == "sas"


@pytest.mark.parametrize(
    ("case", "status", "reason"),
    [
        ("wrong key", 401, "matches no enrollment group"),
        ("other key name", 401, "skn="),
        ("expired", 401, "expired"),
        ("other registration id in body", 400, "registrationId"),
    ],
)
def test_register_sas_refusals_table(dps, case, status, reason):
    sas_group(dps)
    key = sas_derive_device_key(GROUP_KEY, "dev-1")
    token = sas_token(dps, "dev-1", key)
    payload = body("dev-1")
    if case == "wrong key":
        token = sas_token(dps, "dev-1", GROUP_KEY)  # the group key itself, not the derived one
    elif case == "other key name":
        token = sas_token(dps, "dev-1", key, key_name="owner")
    elif case == "expired":
        token = sas_token(dps, "dev-1", key, expiry=int(NOW) - 10)
    else:
        payload = body("dev-2")
    answer, operation = dps.register("dev-1", [], token, payload, NOW)
    assert answer.status == status and operation is None
    assert reason in answer.body["message"], answer.body
    assert set(answer.body) == {"errorCode", "trackingId", "message", "timestampUtc"}


def test_register_x509_cn_not_registration_id_refused(dps, tmp_path):
    files = certs.create_device_cert("dev-a", tmp_path / "a", self_signed=True)
    dps.store.put_enrollment(
        "dev-b",
        {
            "attestation": {
                "type": "x509",
                "x509": {
                    "clientCertificates": {"primary": {"info": {"sha256Thumbprint": files.sha256}}}
                },
            }
        },
        {},
        NOW,
    )
    answer, _ = register(dps, "dev-b", None, chain=[certs.load_certificate(files.cert_pem)])
    assert answer.status == 401 and "CN 'dev-a'" in answer.body["message"]


def test_operation_status_of_another_registration_not_found(dps):
    sas_group(dps)
    token = sas_token(dps, "dev-1", sas_derive_device_key(GROUP_KEY, "dev-1"))
    _, operation = register(dps, "dev-1", token)
    assert dps.operation_status("dev-2", operation.operation_id, NOW).status == 404
    assert dps.operation_status("dev-1", "4.nope", NOW).status == 404


def test_allocation_refused_by_the_hub_reports_failed(dps):
    deep = {}
    level = deep
    for _ in range(12):  # the twin's depth limit is 10
        level["x"] = {}
        level = level["x"]
    sas_group(dps, initialTwin={"properties": {"desired": deep}})
    token = sas_token(dps, "dev-1", sas_derive_device_key(GROUP_KEY, "dev-1"))
    _, operation = register(dps, "dev-1", token)
    result = dps.operation_status("dev-1", operation.operation_id, NOW).body
    assert result["status"] == "failed"
    assert result["registrationState"]["errorMessage"]
    assert dps.store.registrations["dev-1"]["status"] == "failed"
    assert "dev-1" not in dps.registry.devices


def test_state_file_is_private_and_keeps_the_id_scope(dps, tmp_path):
    sas_group(dps)
    mode = stat.S_IMODE(os.stat(tmp_path / "dps.json").st_mode)
    assert mode == 0o600
    assert EnrollmentStore(tmp_path).id_scope == dps.store.id_scope
    assert dps.store.id_scope.startswith("0ne") and len(dps.store.id_scope) == 11
