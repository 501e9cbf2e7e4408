"""azure-iot-device's ProvisioningDeviceClient against the emulator's DPS, then its hub.

The SDK dials port 8883 on each host name; `sdk_routes` (conftest.py) sends the DPS host name
to the DPS port and the hub's to the hub's, and TLS still checks the real names.
"""

import base64
import json
import threading
import time

import pytest
from azure.iot.device import X509, IoTHubDeviceClient, ProvisioningDeviceClient
from azure.iot.device.exceptions import ClientError
from cryptography.hazmat.primitives import serialization

from host_tools import certs
from host_tools.dps.topics import sas_derive_device_key
from tests.hub.chains import make_cert, to_pem

# the SDK builds its own TLS 1.2-only context with a deprecated constant; not our concern
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def x509_provisioning_client(hub, registration_id, cert_file, key_file):
    return ProvisioningDeviceClient.create_from_x509_certificate(
        provisioning_host=hub.dps.host_name,
        registration_id=registration_id,
        id_scope=hub.dps.id_scope,
        x509=X509(str(cert_file), str(key_file)),
        server_verification_cert=hub.ca_file.read_text(),
    )


def registration_failure(client) -> str:
    """register() that must fail: the SDK's error and its causes, as one text."""
    with pytest.raises(ClientError) as caught:  # ServiceError is a ClientError
        client.register()
    error, texts = caught.value, []
    while error is not None:
        texts.append(str(error))
        error = error.__cause__
    return " / ".join(texts)


def send_one_message(hub, client, device_id):
    client.connect()
    try:
        client.send_message(json.dumps({"provisioned": device_id}))
    finally:
        client.shutdown()
    record = hub.wait_for_telemetry(1, device_id)[0]
    assert json.loads(record.body) == {"provisioned": device_id}


def x509_hub_client(hub, result, cert_file, key_file):
    state = result.registration_state
    return IoTHubDeviceClient.create_from_x509_certificate(
        X509(str(cert_file), str(key_file)),
        hostname=state.assigned_hub,
        device_id=state.device_id,
        server_verification_cert=hub.ca_file.read_text(),
        connection_retry=False,
    )


@pytest.mark.timeout(60)
def test_sdk_x509_individual_enrollment_assigned_then_sends_to_hub(hub, sdk_routes, credentials):
    files = credentials["self_signed"]
    hub.dps.enroll_x509("dps-self", certificate=files.cert_pem)
    client = x509_provisioning_client(hub, "dps-self", files.cert_pem, files.key_pem)
    client.provisioning_payload = {"modelId": "dtmi:x:y;1", "firmware": "1.2.0"}
    result = client.register()
    assert result.status == "assigned"
    assert result.registration_state.assigned_hub == hub.host_name
    assert result.registration_state.device_id == "dps-self"
    assert result.registration_state.sub_status == "initialAssignment"
    record = hub.dps.registration("dps-self")
    assert record["payload"] == {"modelId": "dtmi:x:y;1", "firmware": "1.2.0"}
    device = hub.request("GET", "/devices/dps-self")[1]
    assert device["authentication"]["type"] == "selfSigned"
    assert device["authentication"]["x509Thumbprint"]["primaryThumbprint"] == files.sha256
    send_one_message(hub, x509_hub_client(hub, result, files.cert_pem, files.key_pem), "dps-self")


@pytest.mark.timeout(60)
def test_sdk_ca_signed_device_through_group_gets_initial_twin(hub, sdk_routes, credentials):
    hub.register_ca("fleet-ca", credentials["ca"].cert_pem)
    twin = {"tags": {"site": "lab"}, "properties": {"desired": {"interval_s": 30}}}
    hub.dps.group_x509("fleet", "fleet-ca", initial_twin=twin)
    files = credentials["ca_signed"]
    client = x509_provisioning_client(hub, "dps-ca-1", files.chain_pem, files.key_pem)
    result = client.register()
    assert result.status == "assigned"
    assert hub.dps.registration("dps-ca-1")["x509"] == {"enrollmentGroupId": "fleet"}
    assert hub.request("GET", "/devices/dps-ca-1")[1]["authentication"]["type"] == (
        "certificateAuthority"
    )
    assert hub.twin("dps-ca-1")["desired"]["interval_s"] == 30
    send_one_message(hub, x509_hub_client(hub, result, files.chain_pem, files.key_pem), "dps-ca-1")


@pytest.mark.timeout(60)
def test_sdk_symmetric_key_group_derived_key_assigned_then_sends(hub, sdk_routes):
    group_key = base64.b64encode(b"group-key-" * 4).decode()
    hub.dps.group_sas("sas-fleet", group_key)
    device_key = sas_derive_device_key(group_key, "sas-dev-1")
    client = ProvisioningDeviceClient.create_from_symmetric_key(
        provisioning_host=hub.dps.host_name,
        registration_id="sas-dev-1",
        id_scope=hub.dps.id_scope,
        symmetric_key=device_key,
        server_verification_cert=hub.ca_file.read_text(),
    )
    result = client.register()
    assert result.status == "assigned"
    device = hub.request("GET", "/devices/sas-dev-1")[1]
    assert device["authentication"]["symmetricKey"]["primaryKey"] == device_key
    hub_client = IoTHubDeviceClient.create_from_symmetric_key(
        device_key,
        hostname=result.registration_state.assigned_hub,
        device_id=result.registration_state.device_id,
        server_verification_cert=hub.ca_file.read_text(),
        connection_retry=False,
    )
    send_one_message(hub, hub_client, "sas-dev-1")


@pytest.mark.timeout(120)
def test_sdk_twenty_devices_through_one_group_all_assigned(hub, sdk_routes, credentials):
    hub.register_ca("fleet-ca", credentials["ca"].cert_pem)
    hub.dps.group_x509("fleet", "fleet-ca")
    root = credentials["root"] / "fleet20"
    devices = [
        certs.create_device_cert(
            f"fleet-{n:02}", root / f"fleet-{n:02}", ca_dir=credentials["ca_dir"]
        )
        for n in range(20)
    ]
    results, errors = {}, []

    def provision(files):
        try:
            client = x509_provisioning_client(hub, files.device_id, files.chain_pem, files.key_pem)
            results[files.device_id] = client.register()
            send_one_message(
                hub,
                x509_hub_client(hub, results[files.device_id], files.chain_pem, files.key_pem),
                files.device_id,
            )
        except Exception as exc:  # reported below, with the device
            errors.append((files.device_id, exc))

    started = time.monotonic()
    threads = [threading.Thread(target=provision, args=(files,)) for files in devices]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    elapsed = time.monotonic() - started
    assert not errors, errors
    assert {r.status for r in results.values()} == {"assigned"}
    assert len(hub.dps.registrations()) == 20
    assert len({r.device_id for r in hub.telemetry()}) == 20
    print(f"20 devices provisioned and sent one message each in {elapsed:.1f} s")


def test_sdk_disabled_enrollment_reports_disabled_and_creates_no_device(
    hub, sdk_routes, credentials
):
    files = credentials["self_signed"]
    hub.dps.enroll_x509("dps-self", certificate=files.cert_pem, enabled=False)
    client = x509_provisioning_client(hub, "dps-self", files.cert_pem, files.key_pem)
    # the SDK knows only assigned and failed: "invalid registration status disabled"
    assert "disabled" in registration_failure(client)
    assert hub.dps.registration("dps-self")["status"] == "disabled"
    assert hub.request("GET", "/devices")[1] == []


def test_sdk_unknown_registration_refused_not_found(hub, sdk_routes, credentials):
    files = credentials["self_signed"]
    client = x509_provisioning_client(hub, "dps-self", files.cert_pem, files.key_pem)
    assert "404" in registration_failure(client)
    assert hub.dps.registrations() == []
    assert hub.request("GET", "/devices")[1] == []


def test_sdk_forged_chain_refused_unauthorized(hub, sdk_routes, credentials, tmp_path):
    # a real fleet device signs a certificate for another registration id with its own key
    hub.register_ca("fleet-ca", credentials["ca"].cert_pem)
    hub.dps.group_x509("fleet", "fleet-ca")
    files = credentials["ca_signed"]
    leaf = certs.load_certificate(files.cert_pem)
    key = serialization.load_pem_private_key(files.key_pem.read_bytes(), None)
    forged = make_cert("victim-01", key, (leaf, key))
    chain_file = tmp_path / "forged.pem"
    chain_file.write_text(to_pem(forged) + files.chain_pem.read_text())
    client = x509_provisioning_client(hub, "victim-01", chain_file, files.key_pem)
    assert "401" in registration_failure(client)
    assert hub.request("GET", "/devices")[1] == []


def test_sdk_group_of_unverified_ca_refused_unauthorized(hub, sdk_routes, credentials):
    hub.register_ca("fleet-ca", credentials["ca"].cert_pem, verified=False)
    hub.dps.group_x509("fleet", "fleet-ca")
    files = credentials["ca_signed"]
    client = x509_provisioning_client(hub, "dps-ca-1", files.chain_pem, files.key_pem)
    assert "401" in registration_failure(client)
    operations = hub.dps.operations("dps-ca-1")
    assert operations == []  # refused before any operation
    refusal = [e for e in hub.connection_log if e.event == "refused"][-1]
    assert "is not verified" in refusal.reason


@pytest.mark.timeout(60)
def test_sdk_polls_at_the_retry_after_the_emulator_sends(hub, sdk_routes, credentials):
    hub.dps.set_timing(assignment_delay_s=4.5, retry_after_s=1)
    files = credentials["self_signed"]
    hub.dps.enroll_x509("dps-self", certificate=files.cert_pem)
    client = x509_provisioning_client(hub, "dps-self", files.cert_pem, files.key_pem)
    assert client.register().status == "assigned"
    [operation] = hub.dps.operations("dps-self")
    gaps = [b - a for a, b in zip(operation.polls, operation.polls[1:], strict=False)]
    assert len(gaps) >= 2, operation.polls  # several 202s, each answered with retry-after=1
    assert all(0.9 <= gap < 1.8 for gap in gaps), gaps  # not the SDK's default of 2 s
    assert operation.early_polls == 0
