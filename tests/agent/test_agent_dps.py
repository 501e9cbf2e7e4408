"""Zero-touch provisioning on both runtimes: a board whose config.json has a `dps` section and no
hub asks the emulator's DPS where it belongs, stores the answer, and connects there.

DPS and the hub share the host name `localhost` here (a board resolves names with the OS, and
`dps.localhost` resolves nowhere); they are separate endpoints on separate ports, and the board
checks each one's certificate against that name.
"""

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives import serialization

from host_tools.certs import create_ca, create_device_cert, create_server_cert
from host_tools.dps.topics import sas_derive_device_key
from host_tools.hub.testing import running_hub
from tests.faults.proxy import FaultProxy
from tests.hub.chains import make_cert, new_key, to_pem

from .conftest import MAIN_HEADER
from .test_agent_impostor_hub import impostor

SEND_ONE = MAIN_HEADER + 'agent.send({"n": 1})\nagent.run()\n'
# a message every 0.2 s, numbered: a gap in the numbers is a lost message
COUNTING = (
    MAIN_HEADER
    + """
count = 0
def tick():
    global count
    count += 1
    return {"n": count}
agent.on_telemetry(tick)
agent.run()
"""
)
PROVISIONED = r"^agent: provisioned {0}: device {0} at hub localhost$"


@pytest.fixture
def hub(tmp_path):
    with running_hub(tmp_path / "hub", dps=True, dps_host_name="localhost") as handle:
        handle.dps.set_timing(retry_after_s=1)  # DPS's 3 s would only slow the tests down
        yield handle


@pytest.fixture(scope="module")
def fleet_ca(tmp_path_factory):
    base = tmp_path_factory.mktemp("dps-pki")
    create_ca(base / "root", common_name="Fleet Root CA")
    return base / "root"


def dps_device(make_device, hub, registration_id, identity=None, payload=None, **config):
    """A board that knows only DPS: no hub_host, no device_id, a CA-signed identity (or SAS)."""
    sas = "sas_key" in config
    device = make_device(registration_id, auth="sas" if sas else "x509", register=False)
    values = device.files["config.json"]
    del values["hub_host"], values["device_id"]
    values["dps"] = {
        "id_scope": hub.dps.id_scope,
        "registration_id": registration_id,
        "endpoint": "localhost",
        "port": hub.dps.port,
    }
    if payload is not None:
        values["dps"]["payload"] = payload
    if identity is not None:
        chain = identity.chain_pem or identity.cert_pem  # self-signed: the leaf alone
        device.files["certs/chain.pem"] = chain.read_bytes()
        device.files["certs/device.key.der"] = identity.key_der.read_bytes()
        values["cert_file"] = "certs/chain.pem"
    values.update(config)
    return device


def ca_identity(fleet_ca, tmp_path, registration_id):
    return create_device_cert(registration_id, tmp_path / f"ca-{registration_id}", ca_dir=fleet_ca)


def enroll_fleet_group(hub, fleet_ca, **options):
    hub.register_ca("fleet-root", fleet_ca / "ca.crt.pem")
    hub.dps.group_x509("fleet", "fleet-root", **options)


def assignment_on_flash(device) -> dict:
    return json.loads((device.flash / "provisioned.json").read_text())


def test_first_boot_provisions_then_sends_at_the_assigned_hub(make_device, hub, fleet_ca, tmp_path):
    enroll_fleet_group(hub, fleet_ca, initial_twin={"properties": {"desired": {"rate": 5}}})
    hub.dps.set_timing(assignment_delay_s=1.2, retry_after_s=1)  # two polls at least
    payload = {"site": "plant-7", "model": "v2"}
    identity = ca_identity(fleet_ca, tmp_path, "dps-1")
    device = dps_device(make_device, hub, "dps-1", identity, payload=payload)
    board = device.start(SEND_ONE)
    board.wait_for_line(r"^agent: provisioning dps-1 with DPS localhost \(scope ", timeout=30)
    board.wait_for_line(PROVISIONED.format("dps-1"), timeout=30)
    board.wait_for_line(r"^agent: connected to localhost:\d+ as dps-1 \(x509\)$", timeout=30)
    (message,) = hub.wait_for_telemetry(1, device_id="dps-1", timeout=30)
    assert json.loads(message.body) == {"n": 1}
    # what DPS saw: the payload passed through, retry-after honoured, one registration
    record = hub.dps.registration("dps-1")
    assert record["status"] == "assigned" and record["payload"] == payload
    (operation,) = hub.dps.operations("dps-1")
    assert len(operation.polls) >= 2 and operation.early_polls == 0, operation
    assert hub.twin("dps-1")["desired"]["rate"] == 5
    assert assignment_on_flash(device) == {
        "id_scope": hub.dps.id_scope,
        "registration_id": "dps-1",
        "assigned_hub": "localhost",
        "device_id": "dps-1",
    }


def test_assigned_hub_survives_a_reboot_without_provisioning_again(
    make_device, hub, fleet_ca, tmp_path
):
    enroll_fleet_group(hub, fleet_ca)
    device = dps_device(make_device, hub, "dps-2", ca_identity(fleet_ca, tmp_path, "dps-2"))
    board = device.start(SEND_ONE)
    board.wait_for_line(PROVISIONED.format("dps-2"), timeout=30)
    hub.wait_for_telemetry(1, device_id="dps-2", timeout=30)
    board.kill()
    board = device.start()  # same flash: provisioned.json is there
    board.wait_for_line(r"^agent: connected to localhost:\d+ as dps-2 \(x509\)$", timeout=30)
    hub.wait_for_telemetry(2, device_id="dps-2", timeout=30)
    assert "provisioning" not in board.output
    assert len(hub.dps.operations("dps-2")) == 1


def test_device_deleted_from_the_hub_provisions_again_and_loses_nothing(
    make_device, hub, fleet_ca, tmp_path
):
    enroll_fleet_group(hub, fleet_ca, initial_twin={"properties": {"desired": {"rate": 7}}})
    identity = ca_identity(fleet_ca, tmp_path, "dps-3")
    device = dps_device(make_device, hub, "dps-3", identity, telemetry_interval_s=0.2)
    desired = 'agent.on_desired(lambda p, v: print("test: desired", p.get("rate"), v))\n'
    board = device.start(COUNTING.replace("agent.run()", desired + "agent.run()"))
    board.wait_for_line(PROVISIONED.format("dps-3"), timeout=30)
    hub.wait_for_telemetry(3, device_id="dps-3", timeout=30)
    for rate in (1, 2, 3):  # the old twin's desired version is past the new twin's
        version = hub.update_desired("dps-3", {"rate": rate})
        board.wait_for_line(rf"^test: desired {rate} {version}$", timeout=30)
    hub.remove_device("dps-3")  # drops the connection, as Azure does
    line = board.wait_for_line(r"^agent: the hub refused the device", timeout=30)
    assert "asking DPS again" in line
    start = len(board.lines)
    board.wait_for_line(PROVISIONED.format("dps-3"), timeout=30, start=start)
    # the new identity's twin, from the enrollment: its version starts again, and is applied
    board.wait_for_line(r"^test: desired 7 \d+$", timeout=30, start=start)
    deadline = time.monotonic() + 30
    while True:
        numbers = sorted(json.loads(m.body)["n"] for m in hub.telemetry("dps-3"))
        if numbers and numbers[-1] >= 15 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert numbers[-1] >= 15, numbers
    assert set(range(1, numbers[-1] + 1)) <= set(numbers), numbers  # none lost
    assert len(hub.dps.operations("dps-3")) == 2


def test_disabled_enrollment_one_clear_line_and_no_hammering(make_device, hub, fleet_ca, tmp_path):
    hub.register_ca("fleet-root", fleet_ca / "ca.crt.pem")
    hub.dps.enroll_x509_ca("dps-off", "fleet-root", enabled=False)
    device = dps_device(make_device, hub, "dps-off", ca_identity(fleet_ca, tmp_path, "dps-off"))
    board = device.start(SEND_ONE)
    line = board.wait_for_line(r"^agent: error: DPS", timeout=30)
    assert line == (
        "agent: error: DPS: the enrollment of 'dps-off' is disabled: enable it in DPS to let "
        "this board in"
    )
    board.wait_for_line(r"^agent: retrying in ", timeout=10)
    time.sleep(4)
    attempts = sorted(o.ready_at for o in hub.dps.operations("dps-off"))
    # retry_auth_s 1: waits of [1, 2) s, then [2, 4) s: never a tight loop
    assert 1 <= len(attempts) <= 4, attempts
    assert all(b - a >= 0.9 for a, b in zip(attempts, attempts[1:], strict=False)), attempts
    assert hub.telemetry() == [] and hub.request("GET", "/devices/dps-off")[0] == 404


def test_forged_and_unverified_certificates_are_refused_by_dps(
    make_device, hub, fleet_ca, tmp_path
):
    enroll_fleet_group(hub, fleet_ca)
    # forged: a leaf issued by a look-alike of the fleet's root (same name, the forger's key)
    fake_root_key = new_key()
    fake_root = make_cert("Fleet Root CA", fake_root_key, ca=True)
    forged_key = new_key()
    forged_leaf = make_cert("dps-5", forged_key, issuer=(fake_root, fake_root_key))
    # unverified: a CA the hub has but nobody proved possession of
    create_ca(tmp_path / "other", common_name="Unverified CA")
    hub.register_ca("other", tmp_path / "other" / "ca.crt.pem", verified=False)
    hub.dps.group_x509("other", "other")
    stranger = create_device_cert("dps-6", tmp_path / "stranger", ca_dir=tmp_path / "other")
    for registration_id, identity in (("dps-5", None), ("dps-6", stranger)):
        device = dps_device(make_device, hub, registration_id, identity)
        if identity is None:
            device.files["certs/chain.pem"] = to_pem(forged_leaf) + to_pem(fake_root)
            device.files["certs/device.key.der"] = forged_key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            device.files["config.json"]["cert_file"] = "certs/chain.pem"
        board = device.start(SEND_ONE)
        line = board.wait_for_line(r"^agent: error: DPS", timeout=30)
        assert f"DPS refused registration '{registration_id}' (401: " in line, line
        assert "provisioned" not in board.output
        board.kill()
    assert hub.telemetry() == []
    assert hub.dps.registrations() == []


def test_sas_group_enrollment_device_key_derived_from_the_group_key(make_device, hub):
    group_key = base64.b64encode(b"group-key-of-32-bytes-exactly-..").decode()
    hub.dps.group_sas("sas-fleet", group_key, base64.b64encode(b"s" * 32).decode())
    device_key = sas_derive_device_key(group_key, "dps-sas")
    device = dps_device(make_device, hub, "dps-sas", sas_key=device_key)
    board = device.start(SEND_ONE)
    board.wait_for_line(PROVISIONED.format("dps-sas"), timeout=30)
    board.wait_for_line(r"^agent: connected to localhost:\d+ as dps-sas \(sas\)$", timeout=30)
    hub.wait_for_telemetry(1, device_id="dps-sas", timeout=30)


def test_group_enrollment_of_20_boards(make_device, hub, fleet_ca, tmp_path, runtime):
    enroll_fleet_group(hub, fleet_ca)
    ids = [f"fleet-{n:02d}" for n in range(20)]
    boards = []
    for registration_id in ids:
        identity = ca_identity(fleet_ca, tmp_path, registration_id)
        boards.append(dps_device(make_device, hub, registration_id, identity).start(SEND_ONE))
    for registration_id in ids:
        hub.wait_for_telemetry(1, device_id=registration_id, timeout=90)
    records = {r["registrationId"]: r for r in hub.dps.registrations()}
    assert sorted(records) == ids
    assert {r["status"] for r in records.values()} == {"assigned"}


def test_messages_queued_before_provisioning_go_out_under_the_assigned_device_id(
    make_device, hub, tmp_path
):
    # an individual enrollment (by thumbprint) that names another device id than the CN
    identity = create_device_cert("dps-reg", tmp_path / "self", self_signed=True)
    hub.dps.enroll_x509("dps-reg", certificate=identity.cert_pem, deviceId="pump-17")
    device = dps_device(make_device, hub, "dps-reg", identity)
    queued_first = MAIN_HEADER + 'agent.send({"n": 1})\nagent.send({"n": 2})\nagent.run()\n'
    board = device.start(queued_first)
    board.wait_for_line(r"^agent: provisioned dps-reg: device pump-17 at hub localhost$", 30)
    board.wait_for_line(r"^agent: connected to localhost:\d+ as pump-17 \(x509\)$", timeout=30)
    messages = hub.wait_for_telemetry(2, device_id="pump-17", timeout=30)
    assert [json.loads(m.body)["n"] for m in messages] == [1, 2]


def test_dps_endpoint_with_a_certificate_for_another_name_is_refused(make_device, hub, tmp_path):
    # an impostor DPS holding a real certificate of the board's trusted CA, for its own name
    server = create_server_cert(
        hub.data_dir / "ca", tmp_path / "other", hostnames=("evil.example",)
    )
    device = dps_device(make_device, hub, "dps-8")
    with impostor(server.chain_pem, server.key_pem) as (port, record):
        device.files["config.json"]["dps"]["port"] = port
        board = device.start(SEND_ONE)
        line = board.wait_for_line(r"^agent: error: ", timeout=30)
    assert line.startswith(
        "agent: error: DPS's certificate does not match dps.endpoint: check dps.endpoint"
    ), line
    assert record["mqtt_bytes"] == 0  # not even the CONNECT with the registration id


def test_provisioning_over_a_slow_link_registers_once(make_device, hub, fleet_ca, tmp_path):
    # 1 s per hop each way (a satellite link): the handshake, the register and every poll wait
    # for it; no deadline fires early, no second registration, retry-after kept
    enroll_fleet_group(hub, fleet_ca)
    hub.dps.set_timing(assignment_delay_s=1.5, retry_after_s=1)
    device = dps_device(make_device, hub, "dps-slow", ca_identity(fleet_ca, tmp_path, "dps-slow"))
    with FaultProxy(hub.dps.port) as proxy:
        proxy.set_latency(up_s=1.0, down_s=1.0)
        device.files["config.json"]["dps"]["port"] = proxy.port
        board = device.start(SEND_ONE)
        board.wait_for_line(PROVISIONED.format("dps-slow"), timeout=90)
        hub.wait_for_telemetry(1, device_id="dps-slow", timeout=30)
    (operation,) = hub.dps.operations("dps-slow")
    assert operation.early_polls == 0 and len(operation.polls) >= 1, operation
    assert "agent: error" not in board.output
